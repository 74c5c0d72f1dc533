"""The simulated charger's DER read-back report and FreqDroop mapping, in process."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ocpp.v21 import call_result  # type: ignore[import-untyped]

from testbench.gridcode.params import load_parameter_set
from testbench.sim.der_frequency import (
    FrequencyControlHandlers,
    forget_freq_droop,
    lfsm_values,
    set_freq_droop,
)
from testbench.sim.der_report import camel, report_entries, selected
from testbench.sim.gridcode import GridBehaviour
from testbench.sim.reactive import Control

DROOP = {"priority": 0, "over_freq": 50.3, "under_freq": 49.8, "over_droop": 0.03,
         "under_droop": 0.05, "response_time": 2.0}


def _grid(*faults: str) -> GridBehaviour:
    return GridBehaviour(load_parameter_set("en50549-default"), 22000.0, faults)


def test_freq_droop_moves_the_lfsm_characteristic_and_clear_restores_it() -> None:
    grid = _grid()
    before, _ = grid.target_delta_w(50.9)
    assert set_freq_droop(grid, "fd-1", {"freq_droop": DROOP, "is_default": False}) == "Accepted"
    after, mode = grid.target_delta_w(50.9)
    assert mode == "lfsm_o"
    assert after == pytest.approx(22000.0 * 0.6 / (50.0 * 0.03))
    assert after != pytest.approx(before)
    assert grid.reactive is not None
    grid.reactive.clear(control_type="FreqDroop")
    forget_freq_droop(grid)
    assert grid.target_delta_w(50.9)[0] == pytest.approx(before)


def test_wrong_droop_applies_to_the_droop_that_was_set() -> None:
    grid = _grid("wrong-droop")
    set_freq_droop(grid, "fd-1", {"freq_droop": DROOP})
    assert grid.droop_pct("lfsm_o") == pytest.approx(3.0 * 1.6)


@pytest.mark.parametrize("change", [{"over_freq": 49.9}, {"over_droop": 0.0},
                                    {"under_freq": None}, {"response_time": -1.0}])
def test_meaningless_freq_droop_is_rejected(change: dict[str, object]) -> None:
    body = {**DROOP, **change}
    assert lfsm_values(body, 50.0) is None
    assert set_freq_droop(_grid(), "fd-x", {"freq_droop": body}) == "Rejected"


def test_report_lists_controls_as_set_and_the_fault_changes_the_numbers() -> None:
    curve = {"priority": 0, "y_unit": "PctMaxVar", "response_time": 4.6,
             "curve_data": [{"x": 92.0, "y": 43.6}, {"x": 108.0, "y": -43.6}]}
    controls = {"VoltVar": Control("vv", "VoltVar", {"curve": curve, "is_default": False}),
                "FixedPFAbsorb": Control("pf", "FixedPFAbsorb", {"fixed_pf_absorb": {
                    "priority": 0, "displacement": 0.9, "excitation": False}})}
    fields = report_entries(selected(controls, "vv", None, None))
    assert fields == {"curve": [{"id": "vv", "isDefault": False, "isSuperseded": False,
                                 "curveType": "VoltVar", "curve": camel(curve)}]}
    assert fields["curve"][0]["curve"]["curveData"][0] == {"x": 92.0, "y": 43.6}
    pf = report_entries(selected(controls, None, "FixedPFAbsorb", None))
    assert pf["fixedPFAbsorb"][0]["fixedPF"] == {"priority": 0, "displacement": 0.9,
                                                 "excitation": False}
    wrong = report_entries(list(controls.values()), differs=True)
    assert wrong["curve"][0]["curve"]["curveData"][0]["y"] == pytest.approx(43.6 * 1.2)
    assert wrong["fixedPFAbsorb"][0]["fixedPF"]["displacement"] == pytest.approx(0.9 / 1.2)
    assert selected(controls, None, None, True) == []


class _Fake(FrequencyControlHandlers):
    """The 2.1 client's DER mixins on a charger with one grid behaviour."""

    _call_result = call_result

    def __init__(self, grid: GridBehaviour) -> None:
        stage = SimpleNamespace(grid=grid)
        self.sim = SimpleNamespace(connectors=[SimpleNamespace(stage=stage)])


def test_clearing_other_controls_keeps_lfsm_values_written_elsewhere() -> None:
    grid = _grid()
    grid.lfsm_settings = {"lfsm_o": {"droop_pct": 7.0}}  # as SunSpec 711 writes it
    fake = _Fake(grid)
    assert fake.on_set_der_control(False, "fd-1", "FreqDroop", freq_droop=DROOP).status == \
        "Accepted"
    assert grid.droop_pct("lfsm_o") == pytest.approx(3.0)
    assert fake.on_clear_der_control(False, control_type="FreqDroop").status == "Accepted"
    assert grid.droop_pct("lfsm_o") == pytest.approx(5.0)  # the set's again
    grid.lfsm_settings = {"lfsm_o": {"droop_pct": 7.0}}
    fake.on_clear_der_control(False)  # nothing of FreqDroop to clear: 711 stays
    assert grid.droop_pct("lfsm_o") == pytest.approx(7.0)
    assert fake.on_set_der_control(False, "fw", "FreqWatt", curve=FREQ_WATT).status == \
        "Accepted"
    assert grid.droop_pct("lfsm_o") == pytest.approx(7.0)  # FreqWatt is a cap, not a droop


FREQ_WATT = {"priority": 0, "y_unit": "PctMaxW", "response_time": 2.0,
             "curve_data": [{"x": 45.0, "y": 100.0}, {"x": 50.2, "y": 100.0},
                            {"x": 51.7, "y": 0.0}, {"x": 55.1, "y": 0.0}]}


@pytest.mark.parametrize(("f_hz", "cap_share"), [(50.0, 1.0), (50.2, 1.0), (50.95, 0.5),
                                                 (51.7, 0.0), (52.5, 0.0)])
def test_freq_watt_caps_the_export_along_its_curve(f_hz: float, cap_share: float) -> None:
    grid = _grid()
    assert grid.reactive is not None
    assert grid.reactive.set_control("fw", "FreqWatt", {"curve": FREQ_WATT}) == "Accepted"
    assert grid.reactive.target_export_cap_w(1.0, f_hz) == pytest.approx(cap_share * 22000.0)


def test_the_lower_of_volt_watt_and_freq_watt_caps_and_the_fault_ignores_freq_watt() -> None:
    volt_watt = {"curve_data": [{"x": 100.0, "y": 80.0}, {"x": 110.0, "y": 80.0}]}
    grid = _grid()
    assert grid.reactive is not None
    grid.reactive.set_control("vw", "VoltWatt", {"curve": volt_watt})
    grid.reactive.set_control("fw", "FreqWatt", {"curve": FREQ_WATT})
    assert grid.reactive.target_export_cap_w(1.0, 50.0) == pytest.approx(0.8 * 22000.0)
    assert grid.reactive.target_export_cap_w(1.0, 50.95) == pytest.approx(0.5 * 22000.0)
    faulty = _grid("ignores-freq-watt")
    assert faulty.reactive is not None
    assert faulty.reactive.set_control("fw", "FreqWatt", {"curve": FREQ_WATT}) == "Accepted"
    assert faulty.reactive.target_export_cap_w(1.0, 51.7) == float("inf")
    assert grid.reactive.clear(control_type="FreqWatt") == "Accepted"
    assert grid.reactive.target_export_cap_w(1.0, 51.7) == pytest.approx(0.8 * 22000.0)
