"""Grid emulators as charger supplies: energised at nominal before the first test, again after
a test left one safe, never for other roles or twice per physical instrument."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from testbench.errors import BenchError
from testbench.gridcode.supply import GridSupplies
from testbench.lab.model import InstrumentSpec, StationSpec


class Driver:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail = fail

    def set_voltage_v(self, voltage_v: float, phase: int | None = None) -> None:
        if self.fail:
            raise OSError("connection refused")
        self.calls.append(("voltage_v", voltage_v))

    def set_frequency_hz(self, frequency_hz: float) -> None:
        self.calls.append(("frequency_hz", frequency_hz))

    def output(self, on: bool) -> None:
        self.calls.append(("output", on))


GRID = InstrumentSpec("grid-a", "grid_emulator", "chroma-61800", "TCPIP::127.0.0.1::1::SOCKET",
                      charger="c1")
GRID_AGAIN = InstrumentSpec("grid-a2", "grid_emulator", "chroma-61800", GRID.resource,
                            charger="c2")  # the same physical instrument, second role entry
ANALYSER = InstrumentSpec("pa", "power_analyzer", "yokogawa-wt", "TCPIP::127.0.0.1::2::SOCKET")
OTHER_GRID = InstrumentSpec("grid-b", "grid_emulator", "ametek-rsmx",
                            "TCPIP::127.0.0.1::3::SOCKET")


def _supplies(fail: bool = False) -> tuple[GridSupplies, dict[tuple[str, str], Driver]]:
    lab = SimpleNamespace(stations={
        "s1": StationSpec("s1", ("c1", "c2"), ("ev",), (GRID, GRID_AGAIN, ANALYSER),
                          grid_code="vde-4105"),
        "s2": StationSpec("s2", ("c3",), ("ev",), (OTHER_GRID,)),
    })
    drivers: dict[tuple[str, str], Driver] = {}

    def open_driver(_station: StationSpec, spec: InstrumentSpec) -> Driver:
        key = (spec.driver, spec.resource)
        return drivers.setdefault(key, Driver(fail))

    return GridSupplies(lab, open_driver), drivers  # type: ignore[arg-type]


def test_energise_all_sets_nominal_then_output_on_once_per_instrument() -> None:
    supplies, drivers = _supplies()
    assert supplies.energise_all() == ["grid-a", "grid-b"]
    assert set(drivers) == {(GRID.driver, GRID.resource),
                            (OTHER_GRID.driver, OTHER_GRID.resource)}
    calls = drivers[(GRID.driver, GRID.resource)].calls
    assert calls == [("voltage_v", 230.0), ("frequency_hz", 50.0), ("output", True)]


def test_restore_energises_only_what_a_test_left_safe() -> None:
    supplies, drivers = _supplies()
    supplies.energise_all()
    assert supplies.restore("s1") == []  # still energised: nothing sent
    supplies.made_safe({(GRID.driver, GRID.resource), (ANALYSER.driver, ANALYSER.resource)})
    assert supplies.restore("s2") == []  # another station's emulator was not made safe
    assert supplies.restore("s1") == ["grid-a"]
    assert drivers[(GRID.driver, GRID.resource)].calls[-1] == ("output", True)


def test_a_reopened_driver_is_energised_again() -> None:
    supplies, drivers = _supplies()
    supplies.energise_all()
    drivers.pop((GRID.driver, GRID.resource))  # closed (e.g. the station was left) and reopened
    assert supplies.restore("s1") == ["grid-a"]


def test_a_failing_emulator_names_itself_and_the_fix() -> None:
    supplies, _drivers = _supplies(fail=True)
    with pytest.raises(BenchError, match=r"grid-a.*chroma-61800.*230 V / 50 Hz.*vde-4105"):
        supplies.energise_all()
