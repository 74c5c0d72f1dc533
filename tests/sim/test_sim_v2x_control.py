"""OCPP 2.1 V2X control of the simulated charger, in process on a clock the test moves:
operation modes, setpoints, negative limits, limitAtSoC, randomizedDelay, dynamic updates,
NotifyEVChargingNeeds, and the V2X fault personalities."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from testbench.clock import iso_utc
from testbench.lab.model import ChargerSpec, EVSpec
from testbench.sim.plant import Plant
from testbench.sim.smart import smart_of
from testbench.sim.v2x import Charger2x
from testbench.sim.v2x_control import v2x_of

T0 = 1_700_000_000.0
PHASE_W = 230.0 * 3


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

    async def asleep(self, lab_s: float) -> None:
        await asyncio.sleep(3600)


def _charger(faults: tuple[str, ...] = ()) -> ChargerSpec:
    return ChargerSpec(id="bx7", vendor="G", model="BX7", firmware="1", ocpp_version="2.1",
                       current_type="AC", phases=3, max_current_a=32.0, max_power_w=22000.0,
                       bidirectional=True, iso15118=("-2", "-20"),
                       faults=faults)  # type: ignore[arg-type]


def _ev() -> EVSpec:
    return EVSpec(id="van", make="H", model="V", software="1", phases=3, min_current_a=8.0,
                  max_current_a=32.0, battery_kwh=90.0, initial_soc_pct=40.0,
                  bidirectional=True, iso15118=("-2", "-20"))  # type: ignore[arg-type]


def period(start: int, **fields: Any) -> dict[str, Any]:
    return {"start_period": start, **fields}


def tx_profile(sim: Charger2x, periods: list[dict[str, Any]], *, pid: int = 1,
               unit: str = "A", **schedule: Any) -> dict[str, Any]:
    tx = sim.connectors[0].tx
    kind = schedule.pop("kind", "Relative")
    extra = schedule.pop("profile", {})
    return {"id": pid, "stack_level": 0, "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": kind, "transaction_id": tx.id if tx else None, **extra,
            "charging_schedule": [{"id": pid, "charging_rate_unit": unit,
                                   "charging_schedule_period": periods, **schedule}]}


def scenario(body: Callable[[Charger2x, StepClock], None], faults: tuple[str, ...] = ()
             ) -> None:
    async def run() -> None:
        clock = StepClock()
        spec, plant = _charger(faults), Plant(clock)  # type: ignore[arg-type]
        sim = Charger2x(spec, {"van": _ev()}, clock, plant)  # type: ignore[arg-type]
        conn = sim.connectors[0]
        sim.select_ev(conn, "van")
        sim.set_ev_state(conn, "C")
        sim.start_transaction(conn, "T", "ISO14443", trigger="Authorized")
        sim._contactor_closes(conn)
        try:
            body(sim, clock)
        finally:
            for task in list(sim._tasks):
                task.cancel()
            smart = smart_of(sim)
            if smart._task is not None:
                smart._task.cancel()
            for task in v2x_of(sim)._pull_tasks.values():
                task.cancel()

    asyncio.run(run())


def current(sim: Charger2x) -> float:
    conn = sim.connectors[0]
    sim._contactor_closes(conn)  # the contactor timer of a paused session, at once
    return conn.current_a


def install(sim: Charger2x, request: dict[str, Any]) -> str:
    return smart_of(sim).set_profile(request, 1)


def test_operation_modes_setpoint_idle_and_charging_only() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        status = install(sim, tx_profile(sim, [
            period(0, limit=10.0),
            period(60, operation_mode="CentralSetpoint", setpoint=-12.0, discharge_limit=-20.0),
            period(120, operation_mode="Idle"),
            period(180, operation_mode="ChargingOnly", limit=14.0)]))
        assert status == "Accepted"
        assert current(sim) == 10.0
        for offset, expected in ((70.0, -12.0), (130.0, 0.0), (190.0, 14.0)):
            clock.at(offset)
            smart_of(sim).evaluate()
            assert current(sim) == pytest.approx(expected), offset
    scenario(body)


def test_setpoint_in_watts_is_kept_inside_the_discharge_limit() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, operation_mode="CentralSetpoint",
                                             setpoint=-9000.0, discharge_limit=-6900.0)],
                                unit="W"))
        assert current(sim) == pytest.approx(-10.0)
    scenario(body)


def test_negative_limit_discharges_and_composite_reports_the_v2x_fields() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, limit=-10.0),
                                      period(30, operation_mode="CentralSetpoint", setpoint=-8.0)]))
        assert current(sim) == -10.0
        _start, periods, _unit = smart_of(sim).composite(1, 60, "A")
        assert periods[0]["limit"] == -10.0
        assert periods[1]["operation_mode"] == "CentralSetpoint"
        assert periods[1]["setpoint"] == -8.0 and periods[1]["limit"] == 32.0
    scenario(body)


def test_limit_at_soc_lowers_the_limit_above_that_state_of_charge() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, limit=20.0)],
                                limit_at_soc={"soc": 41, "limit": 9.0}))
        assert current(sim) == 20.0
        battery = sim.connectors[0].stage.battery
        assert battery is not None
        battery.soc_pct = 41.5
        smart_of(sim).evaluate()
        assert current(sim) == 9.0
    scenario(body)


def test_randomized_delay_applies_each_change_within_its_bound() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, limit=20.0), period(100, limit=10.0)],
                                randomized_delay=40))
        assert current(sim) == 20.0
        applied = None
        for step in range(100):
            clock.at(100.0 + step * 0.5)
            smart_of(sim).evaluate()
            if current(sim) == 10.0:
                applied = step * 0.5
                break
        assert applied is not None and 0.0 <= applied <= 40.0, applied
    scenario(body)


def test_dynamic_profile_update_push() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, operation_mode="CentralSetpoint", setpoint=6000.0)],
                                unit="W", kind="Dynamic"))
        assert current(sim) == pytest.approx(6000.0 / PHASE_W)
        assert v2x_of(sim).update_dynamic(1, {"setpoint": -6900.0}) == "Accepted"
        smart_of(sim).evaluate()
        assert current(sim) == pytest.approx(-10.0)
        assert v2x_of(sim).update_dynamic(99, {"setpoint": 1.0}) == "Rejected"
    scenario(body)


def test_notify_ev_charging_needs_is_queued_with_v2x_parameters() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        sent = [item.build() for item in list(sim.outbox._items)]  # type: ignore[attr-defined]
        needs = [m for m in sent if type(m).__name__ == "NotifyEVChargingNeeds"]
        assert len(needs) == 1
        params = needs[0].charging_needs["v2x_charging_parameters"]
        assert params["max_discharge_power"] == pytest.approx(22000.0)
        assert params["ev_min_v2x_energy_request"] < 0 < params["ev_max_v2x_energy_request"]
    scenario(body)


def test_a_rejected_charging_needs_keeps_the_transaction_charge_only() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        v2x_of(sim).needs_status[1] = "Rejected"
        install(sim, tx_profile(sim, [period(0, operation_mode="CentralSetpoint", setpoint=-8.0)]))
        assert current(sim) == 0.0
    scenario(body)


def test_fault_rejects_negative_limits() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        assert install(sim, tx_profile(sim, [period(0, limit=-10.0)])) == "Rejected"
        assert install(sim, tx_profile(sim, [period(0, limit=10.0)])) == "Accepted"
    scenario(body, ("rejects-negative-limits",))


def test_fault_discharges_wrong_sign() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, limit=-10.0)]))
        assert current(sim) == 10.0
    scenario(body, ("discharges-wrong-sign",))


def test_fault_ignores_idle() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, limit=12.0), period(30, operation_mode="Idle")]))
        clock.at(40.0)
        smart_of(sim).evaluate()
        assert current(sim) == 12.0
    scenario(body, ("ignores-idle",))


def test_fault_ignores_randomized_delay() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, limit=20.0), period(100, limit=10.0)],
                                randomized_delay=40))
        clock.at(100.0)
        smart_of(sim).evaluate()
        assert current(sim) == 10.0
    scenario(body, ("ignores-randomized-delay",))


def test_fault_ignores_limit_at_soc() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, limit=20.0)],
                                limit_at_soc={"soc": 41, "limit": 9.0}))
        battery = sim.connectors[0].stage.battery
        assert battery is not None
        battery.soc_pct = 45.0
        smart_of(sim).evaluate()
        assert current(sim) == 20.0
    scenario(body, ("ignores-limit-at-soc",))


@pytest.mark.parametrize("faults, pulls", [((), True),
                                           (("never-pulls-dynamic-schedule",), False)])
def test_dynamic_update_interval_starts_pulling(faults: tuple[str, ...], pulls: bool) -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        install(sim, tx_profile(sim, [period(0, operation_mode="CentralSetpoint", setpoint=8.0)],
                                kind="Dynamic", profile={"dyn_update_interval": 20}))
        assert bool(v2x_of(sim)._pull_tasks) is pulls
    scenario(body, faults)


def test_fault_charging_needs_without_v2x() -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        sent = [item.build() for item in list(sim.outbox._items)]  # type: ignore[attr-defined]
        needs = [m for m in sent if type(m).__name__ == "NotifyEVChargingNeeds"]
        assert needs[0].charging_needs["requested_energy_transfer"] == "AC_three_phase"
        assert "v2x_charging_parameters" not in needs[0].charging_needs
    scenario(body, ("charging-needs-without-v2x",))


def _sleep_events(sim: Charger2x) -> list[Any]:
    sent = [item.build() for item in list(sim.outbox._items)]  # type: ignore[attr-defined]
    return [m.evse_sleep for m in sent if type(m).__name__ == "TransactionEvent"
            and m.trigger_reason == "Trigger"]


def _supports_evse_sleep(sim: Charger2x) -> str:
    result = sim.get_variable({"component": {"name": "SmartChargingCtrlr"},
                               "variable": {"name": "SupportsEvseSleep"}})
    assert result["attribute_status"] == "Accepted", result
    return str(result["attribute_value"])


@pytest.mark.parametrize(("faults", "supported", "asleep"), [
    ((), "true", True), (("ignores-evse-sleep",), "true", False),
    (("claims-evse-sleep",), "false", True)])
def test_evse_sleep_in_idle_is_reported_in_transaction_events(
        faults: tuple[str, ...], supported: str, asleep: bool) -> None:
    def body(sim: Charger2x, clock: StepClock) -> None:
        assert _supports_evse_sleep(sim) == supported
        assert install(sim, tx_profile(sim, [period(0, limit=12.0),
                                             period(30, operation_mode="Idle", evse_sleep=True),
                                             period(60, limit=12.0)])) == "Accepted"
        sim.trigger("TransactionEvent", None)
        clock.at(40.0)
        smart_of(sim).evaluate()
        assert current(sim) == 0.0
        sim.trigger("TransactionEvent", None)
        clock.at(70.0)
        smart_of(sim).evaluate()
        assert current(sim) == 12.0
        sim.trigger("TransactionEvent", None)
        events = _sleep_events(sim)
        assert events[-3:] == [None, asleep, None], events  # absent outside the Idle period
    scenario(body, faults)


def test_without_evse_sleep_support_idle_is_accepted_and_reports_no_sleep() -> None:
    async def run() -> None:
        clock = StepClock()
        spec = ChargerSpec(**{**_charger().__dict__, "evse_sleep": False})
        sim = Charger2x(spec, {"van": _ev()}, clock, Plant(clock))  # type: ignore[arg-type]
        conn = sim.connectors[0]
        sim.select_ev(conn, "van")
        sim.set_ev_state(conn, "C")
        sim.start_transaction(conn, "T", "ISO14443", trigger="Authorized")
        try:
            assert _supports_evse_sleep(sim) == "false"
            assert install(sim, tx_profile(sim, [period(0, operation_mode="Idle",
                                                        evse_sleep=True)])) == "Accepted"
            sim.trigger("TransactionEvent", None)
            assert _sleep_events(sim)[-1] is False
        finally:
            for task in list(sim._tasks):
                task.cancel()
            pending = smart_of(sim)._task
            if pending is not None:
                pending.cancel()

    asyncio.run(run())
