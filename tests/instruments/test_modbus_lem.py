"""modbus-lem driver against the simulated charger's energy-management interface (over TCP).

The twin (testbench.sim.lem) serves the same register map as the driver reads; the power
stage behind it shows whether a written limit reaches the charger's power path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from instruments.contracts import LemReading, LocalEnergyManager
from instruments.drivers.modbus_lem import REGISTER_MAPS, Register, register_map
from instruments.registry import get_driver
from instruments.transports.modbus import ModbusTransport
from testbench.aio import BackgroundLoop
from testbench.errors import InstrumentError
from testbench.lab.model import ChargerSpec, EVSpec, InstrumentSpec, SafetyLimits
from testbench.sim.lem import LemTwin
from testbench.sim.plant import Plant, PowerStage

CHARGER = ChargerSpec(id="wb", vendor="Acme", model="WB22", firmware="1.0",
                      ocpp_version="1.6", max_current_a=32.0)
EV = EVSpec(id="ev", make="M", model="E", software="1", phases=3, max_current_a=32.0)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t


class FakeCharger:
    """What the twin asks of a simulated charger: faults, identity, the pilot state."""

    def __init__(self, faults: tuple[str, ...] = ()) -> None:
        self.spec = CHARGER
        self.faults = faults

    def has(self, fault: str) -> bool:
        return fault in self.faults

    def pilot_state(self, conn: Any) -> str:
        return "C2"


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop("lem-twins")
    yield background
    background.stop()


class Rig:
    def __init__(self, loop: BackgroundLoop, map_name: str, faults: tuple[str, ...] = (),
                 **options: object) -> None:
        self.clock = Clock()
        self.plant = Plant(self.clock)
        self.stage: PowerStage = self.plant.add_stage(CHARGER, 1, 1)
        self.stage.attach_ev(EV, fresh=True)
        options = {"register_map": map_name, **options}
        self.twin = LemTwin(register_map(map_name, options), self.plant, self.stage,
                            FakeCharger(faults), conn=object())
        self.loop = loop
        port = loop.run(self.twin.start("127.0.0.1", 0))
        self.spec = InstrumentSpec(name="lem", role="energy_manager", driver="modbus-lem",
                                   resource=f"127.0.0.1:{port}", timeout_s=2.0,
                                   options=options)
        self.lem: LocalEnergyManager = get_driver("modbus-lem")(self.spec, SafetyLimits())

    def close(self) -> None:
        self.lem.close()
        self.loop.run(self.twin.stop())


@pytest.fixture
def rig(loop: BackgroundLoop, request: pytest.FixtureRequest) -> Iterator[Rig]:
    params = getattr(request, "param", ("testbench", ()))
    r = Rig(loop, params[0], params[1])
    yield r
    r.close()


@pytest.mark.parametrize("rig", [("testbench", ()), ("heidelberg-energy-control", ()),
                                 ("alfen-eve", ())], indirect=True, ids=lambda p: p[0])
def test_written_limit_reaches_the_power_stage_and_reads_back(rig: Rig) -> None:
    assert rig.stage.offered_limit_a() == 32.0
    rig.lem.set_current_limit_a(10.5)
    assert rig.lem.read_current_limit_a() == pytest.approx(10.5, abs=0.05)
    assert rig.stage.offered_limit_a() == pytest.approx(10.5, abs=0.05)
    rig.lem.release()
    assert rig.stage.offered_limit_a() == 32.0
    limit = rig.lem.read_current_limit_a()
    assert limit is None or limit >= rig.lem.map.max_a - 0.05  # type: ignore[attr-defined]


def test_lowest_of_ocpp_and_lem_limit_applies(rig: Rig) -> None:
    rig.stage.set_limit_a(8.0)  # the OCPP profile's limit
    rig.lem.set_current_limit_a(12.0)
    assert rig.stage.offered_limit_a() == 8.0
    rig.lem.set_current_limit_a(6.0)
    assert rig.stage.offered_limit_a() == 6.0
    rig.stage.set_limit_a(-20.0)  # a discharge: the LEM caps its magnitude too
    assert rig.stage.offered_limit_a() == -6.0
    rig.lem.set_current_limit_a(0.0)
    assert rig.stage.offered_limit_a() == 0.0


@pytest.mark.parametrize("rig", [("testbench", ()), ("heidelberg-energy-control", ()),
                                 ("alfen-eve", ())], indirect=True, ids=lambda p: p[0])
def test_reading_reports_the_outlet(rig: Rig) -> None:
    rig.stage.command(16.0, 3, closed=True)
    rig.clock.t += 5.0
    reading = rig.lem.read()
    assert isinstance(reading, LemReading)
    assert reading.currents_a == pytest.approx((16.0, 16.0, 16.0), abs=0.1)
    assert reading.power_w == pytest.approx(3 * 230.0 * 16.0, rel=0.01)
    if rig.lem.map.state is not None:  # type: ignore[attr-defined]
        assert reading.state == "C"


def test_out_of_range_limits_are_refused_before_sending(rig: Rig) -> None:
    for bad in (3.0, -1.0, float("nan"), 81.0):
        with pytest.raises(InstrumentError, match="nothing sent"):
            rig.lem.set_current_limit_a(bad)
    assert rig.twin.requests == 0


def test_the_charger_refuses_a_raw_value_outside_its_range(rig: Rig) -> None:
    raw = ModbusTransport("raw", rig.spec.resource, timeout_s=2.0)
    try:
        with pytest.raises(InstrumentError, match="exception 3"):
            raw.write_register(1000, 30)  # 3.0 A: below the 6 A minimum
        with pytest.raises(InstrumentError, match="exception 2"):
            raw.write_register(1001, 5)  # not the limit register
    finally:
        raw.close()
    assert rig.stage.offered_limit_a() == 32.0


@pytest.mark.parametrize("rig", [("testbench", ("ignores-modbus-limit",))], indirect=True,
                         ids=["ignores-modbus-limit"])
def test_fault_accepts_the_register_but_never_applies_it(rig: Rig) -> None:
    rig.lem.set_current_limit_a(10.0)
    assert rig.lem.read_current_limit_a() == pytest.approx(10.0)
    assert rig.stage.offered_limit_a() == 32.0


def test_safe_state_releases_the_limit(rig: Rig) -> None:
    rig.lem.set_current_limit_a(7.0)
    rig.lem.safe_state()
    assert rig.lem.read_current_limit_a() is None
    assert rig.stage.offered_limit_a() == 32.0


def test_identify_names_the_charger(rig: Rig) -> None:
    identity = rig.lem.identify()
    assert identity.maker == "Acme" and "WB22" in identity.model


def test_register_map_options() -> None:
    custom = register_map("testbench", {"limit_register": 2000, "limit_format": "u32",
                                        "limit_scale": 0.001})
    assert custom.limit == Register(2000, "holding", "u32", 0.001)
    assert custom.limit.decode(custom.limit.encode(16.0)) == pytest.approx(16.0)
    assert register_map("alfen-eve") is REGISTER_MAPS["alfen-eve"]
    with pytest.raises(InstrumentError, match="unknown register map"):
        register_map("nope")
    with pytest.raises(InstrumentError, match="limit_format"):
        register_map("testbench", {"limit_format": "double"})
    words = Register(0, fmt="s32").encode(-5000.0, "little")
    assert Register(0, fmt="s32").decode(words, "little") == -5000.0


def test_simulated_lab_refuses_unusable_energy_manager_entries() -> None:
    from testbench.sim.lem import lem_problem

    assert lem_problem({}, "wb", ("wb", "other")) is None
    assert lem_problem({}, None, ("wb",)) is None
    problem = lem_problem({"register_map": "nope"}, "wb", ("wb",))
    assert problem is not None and "register_map" in problem and "testbench" in problem
    problem = lem_problem({}, None, ("wb", "other"))
    assert problem is not None and 'charger = "<id>"' in problem
