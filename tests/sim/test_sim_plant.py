"""The physical plant, in process, on a clock the test moves: dynamics, balances, EV, noise."""

from __future__ import annotations

import asyncio
import math
import statistics

import pytest

from instruments.twins.ports import PointSample
from testbench.clock import iso_utc
from testbench.lab.model import ChargerSpec, EVSpec
from testbench.sim.battery import EvBattery
from testbench.sim.measuring import NoisyPoint
from testbench.sim.plant import (
    EFFICIENCY_AC,
    EFFICIENCY_DC,
    RESPONSE_DELAY_S,
    STANDBY_W,
    TIME_CONSTANT_S,
    ChargerMeter,
    Plant,
)
from testbench.sim.v2x import Charger2x

T0 = 1_700_000_000.0


class StepClock:
    """Lab time the test sets."""

    scale = 1.0

    def __init__(self) -> None:
        self.t = T0

    def now(self) -> float:
        return self.t

    def at(self, offset_s: float) -> None:
        self.t = T0 + offset_s

    def wall_duration(self, lab_duration_s: float) -> float:
        return lab_duration_s

    def iso_now(self) -> str:
        return iso_utc(self.t)


def charger(current_type: str = "AC", max_a: float = 16.0, **kw: object) -> ChargerSpec:
    return ChargerSpec(id=kw.pop("id", "c1"), vendor="V", model="M", firmware="1",  # type: ignore[arg-type]
                       ocpp_version="2.0.1", current_type=current_type,  # type: ignore[arg-type]
                       max_current_a=max_a, **kw)  # type: ignore[arg-type]


def ev(**kw: object) -> EVSpec:
    values: dict[str, object] = {"id": "ev", "make": "m", "model": "x", "software": "1",
                                 "phases": 3, "min_current_a": 6.0, "max_current_a": 16.0,
                                 "battery_kwh": 60.0, "initial_soc_pct": 40.0}
    values.update(kw)
    return EVSpec(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


def test_current_follows_after_the_delay_with_a_first_order_response(clock: StepClock) -> None:
    plant = Plant(clock)
    stage = plant.add_stage(charger(), 1, 1)
    stage.attach_ev(ev(), fresh=True)
    stage.command(16.0, 3, closed=True)
    clock.at(RESPONSE_DELAY_S * 0.9)
    plant.advance()
    assert stage.current_a == 0.0  # still within the response delay
    clock.at(RESPONSE_DELAY_S + TIME_CONSTANT_S)
    plant.advance()
    assert stage.current_a == pytest.approx(16.0 * (1 - math.exp(-1)), rel=1e-6)
    clock.at(5.0)
    plant.advance()
    assert stage.current_a == 16.0
    # energy: the exact integral of the delayed first-order response
    expected_wh = 3 * 230.0 * 16.0 * (5.0 - RESPONSE_DELAY_S - TIME_CONSTANT_S) / 3600.0
    assert stage.out_import_wh == pytest.approx(expected_wh, rel=1e-6)


def test_opening_the_contactor_stops_the_current_at_once(clock: StepClock) -> None:
    plant = Plant(clock)
    stage = plant.add_stage(charger(), 1, 1)
    stage.command(16.0, 3, closed=True)
    clock.at(3.0)
    plant.advance()
    assert stage.current_a == 16.0
    stage.command(0.0, 0, closed=False)
    energy = stage.out_import_wh
    clock.at(10.0)
    plant.advance()
    assert stage.current_a == 0.0 and stage.out_import_wh == energy


def test_input_is_output_over_efficiency_plus_standby_and_the_node_carries_it(
        clock: StepClock) -> None:
    plant = Plant(clock)
    stage = plant.add_stage(charger(), 1, 1)
    plant.set_site_load("grid", household_w=900.0, pv_w=300.0)
    stage.command(10.0, 1, closed=True)  # a single-phase EV on L1
    clock.at(5.0)
    out = plant.point_sample(stage, "output")
    assert [p.current_a for p in out.phases] == [10.0, 0.0, 0.0]
    assert out.power_w == pytest.approx(2300.0)
    inp = plant.point_sample(stage, "input")
    assert inp.phases[0].power_w == pytest.approx(2300.0 / EFFICIENCY_AC + STANDBY_W)
    assert inp.phases[1].power_w == 0.0
    node = plant.nodes["grid"].sample()
    assert node.power_w == pytest.approx(inp.power_w + 600.0)
    assert node.phases[0].current_a == pytest.approx(node.phases[0].power_w / 230.0)
    assert inp.energy_import_wh > out.energy_import_wh > 0
    assert node.energy_import_wh == pytest.approx(inp.energy_import_wh + 600.0 * 5.0 / 3600.0)


def test_the_charger_meter_reads_the_plant_energy_and_faults_distort_it(clock: StepClock) -> None:
    plant = Plant(clock)
    stage = plant.add_stage(charger(), 1, 1)
    honest, overreporting = ChargerMeter(stage, 10_000.0), ChargerMeter(stage, 10_000.0, 1.10)
    stage.command(16.0, 3, closed=True)
    clock.at(60.0)
    plant.advance()
    delivered = stage.out_import_wh
    assert honest.read_wh() - 10_000.0 == pytest.approx(delivered)
    assert overreporting.read_wh() - 10_000.0 == pytest.approx(1.10 * delivered)
    assert honest.power_w == pytest.approx(11_040.0) and honest.current_a == 16.0
    honest.adjust(-500.0)
    assert honest.read_wh() == pytest.approx(10_000.0 + delivered - 500.0)


def test_a_driven_grid_node_feeds_nothing_until_its_output_is_on_and_slews(
        clock: StepClock) -> None:
    plant = Plant(clock)
    node = plant.add_node("bay", driven=True)
    plant.feed("c1", "bay")
    stage = plant.add_stage(charger(), 1, 1)
    stage.command(16.0, 3, closed=True)
    clock.at(5.0)
    assert node.sample().phases[0].voltage_v == 0.0
    assert stage.current_a == 0.0 and stage.out_import_wh == 0.0
    node.set_voltage_v(230.0)
    node.set_output(True)
    clock.at(10.0)
    plant.advance()
    assert stage.current_a == 16.0
    assert node.sample().power_w == pytest.approx(3 * 230.0 * 16.0 / EFFICIENCY_AC + STANDBY_W)
    node.set_slew(10.0, None)  # 10 V per lab second
    node.set_voltage_v(200.0)
    clock.at(11.5)
    assert node.sample().phases[0].voltage_v == pytest.approx(215.0)
    clock.at(20.0)
    assert node.sample().phases[1].voltage_v == 200.0
    node.set_voltage_v(100.0)  # below half the nominal voltage: the EV stops drawing
    clock.at(30.0)
    plant.advance()
    assert stage.current_a == 0.0
    node.set_output(False)
    assert not node.output_on() and node.ever_on


def test_dc_charger_charges_a_bound_battery_emulator_at_its_voltage(clock: StepClock) -> None:
    plant = Plant(clock)
    stage = plant.add_stage(charger("DC", max_a=100.0, max_power_w=20_000.0), 1, 1)
    bus = plant.add_dc_bus("psb", "c1")
    stage.attach_ev(ev(), fresh=True)
    stage.command(100.0, 1, closed=True)
    clock.at(5.0)
    plant.advance()
    assert stage.current_a == 0.0  # no battery emulator output: nothing to charge into
    bus.set_voltage_v(400.0)
    bus.set_current_limits_a(200.0, 200.0)
    bus.set_output(True)
    clock.at(10.0)
    voltage, current, power = bus.measure()
    assert voltage == 400.0
    assert current == pytest.approx(-50.0)  # 20 kW / 400 V, sinking
    assert power == pytest.approx(-20_000.0)
    out = plant.point_sample(stage, "output")
    assert out.frequency_hz == 0.0 and len(out.phases) == 1
    inp = plant.point_sample(stage, "input")
    assert inp.power_w == pytest.approx(20_000.0 / EFFICIENCY_DC + STANDBY_W)


def test_ev_battery_tapers_above_80_percent_and_the_charger_is_told(clock: StepClock) -> None:
    battery = EvBattery.fresh(ev(initial_soc_pct=90.0))
    assert battery.charge_limit_a() == pytest.approx(8.0)  # half way from 80 to 100 %
    battery.store_wh(6_000.0)  # 10 % of 60 kWh
    assert battery.soc_pct == 100.0 and battery.charge_limit_a() == 0.0

    plant = Plant(clock)
    stage = plant.add_stage(charger(), 1, 1)
    stage.attach_ev(ev(battery_kwh=0.5, initial_soc_pct=79.0), fresh=True)
    notices: list[float] = []
    stage.on_ev_change = lambda: notices.append(stage.battery.soc_pct)  # type: ignore[union-attr]
    plant.tick()  # first look: nothing to tell yet
    stage.command(16.0, 3, closed=True)
    for second in range(1, 40):
        clock.at(second)
        plant.tick()
    assert stage.battery is not None and stage.battery.soc_pct > 85.0
    assert notices and notices[0] > 79.0  # the taper was noticed


def test_limit_seam_and_bidirectional_discharge(clock: StepClock) -> None:
    plant = Plant(clock)
    stage = plant.add_stage(charger(max_a=32.0, bidirectional=True), 1, 1)
    told: list[bool] = []
    stage.on_ev_change = lambda: told.append(True)
    assert stage.offered_limit_a() == 32.0
    stage.set_limit_a(10.0)
    assert stage.offered_limit_a() == 10.0 and told
    stage.set_limit_a(50.0)
    assert stage.offered_limit_a() == 32.0  # never above the charger's maximum
    stage.set_limit_a(-40.0)
    assert stage.offered_limit_a() == -32.0
    stage.attach_ev(ev(bidirectional=True, initial_soc_pct=50.0), fresh=True)
    stage.command(-16.0, 3, closed=True)
    clock.at(10.0)
    out = plant.point_sample(stage, "output")
    assert out.power_w == pytest.approx(-3 * 230.0 * 16.0)
    assert out.energy_export_wh > 0 and out.energy_import_wh == 0.0
    assert plant.point_sample(stage, "input").power_w < 0  # fed back into the grid
    assert stage.battery is not None and stage.battery.soc_pct < 50.0


def test_noise_is_small_seeded_and_never_negative(clock: StepClock) -> None:
    true = PointSample(T0, (), 50.0, 0.0)

    def source() -> PointSample:
        from instruments.twins.ports import PhaseSample
        return PointSample(T0, (PhaseSample(230.0, 16.0, 3680.0), PhaseSample(230.0, 0.0, 0.0)),
                           true.frequency_hz, 12.0)

    a, b = NoisyPoint(source, seed=7), NoisyPoint(source, seed=7)
    samples = [a.sample() for _ in range(400)]
    assert [s.phases[0].current_a for s in samples[:5]] == [
        b.sample().phases[0].current_a for _ in range(5)]
    currents = [s.phases[0].current_a for s in samples]
    assert statistics.mean(currents) == pytest.approx(16.0, abs=0.01)
    assert 0.005 < statistics.stdev(currents) < 0.03
    assert all(s.phases[1].current_a >= 0 for s in samples)
    powers = [s.phases[0].power_w for s in samples]
    assert statistics.mean(powers) == pytest.approx(3680.0, rel=1e-3)
    assert all(s.energy_import_wh == 12.0 for s in samples)


def test_charger_logic_on_the_plant_faults_taper_and_limit() -> None:
    """The simulated charger commands its stage; its faults change what it offers."""

    async def scenario() -> None:
        clock = StepClock()
        evs = {"ev": ev(max_current_a=32.0, phases=1)}
        plant = Plant(clock)
        good = Charger2x(charger(id="good"), evs, clock, plant)  # type: ignore[arg-type]
        bad = Charger2x(charger(id="bad", faults=("exceeds-max-current",)), evs,
                        clock, plant)  # type: ignore[arg-type]
        for sim in (good, bad):
            conn = sim.connectors[0]
            sim.select_ev(conn, "ev")
            sim.set_ev_state(conn, "C")
            sim.start_transaction(conn, "T", "ISO14443", trigger="Authorized")
            sim._contactor_closes(conn)  # as the contactor timer would, 1 lab s later
        good_conn, bad_conn = good.connectors[0], bad.connectors[0]
        assert good_conn.current_a == 16.0 and good.duty_cycle_pct(good_conn) == 26.7
        assert bad_conn.current_a == pytest.approx(18.4)
        clock.at(5.0)
        assert plant.point_sample(bad_conn.stage, "output").phases[0].current_a == \
            pytest.approx(18.4)
        good_conn.stage.set_limit_a(8.0)  # the seam smart charging will use
        assert good_conn.current_a == 8.0 and good.duty_cycle_pct(good_conn) == 13.3
        good_conn.stage.set_limit_a(4.0)  # below the EV's minimum: it pauses
        assert good_conn.current_a == 0.0 and not good_conn.contactor_closed
        for sim in (good, bad):
            for task in list(sim._tasks):
                task.cancel()

    asyncio.run(scenario())
