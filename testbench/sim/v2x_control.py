"""OCPP 2.1 V2X control of a simulated bidirectional charger.

What a 2.1 charger does beyond the K-block limits of :mod:`testbench.sim.smart`, hooked
into it by a few calls:

- ``operationMode`` of the leading TxProfile / TxDefaultProfile period: ``ChargingOnly``
  (default: the limit, never a discharge unless the limit itself is negative, the 2.1
  backwards-compatible discharge limit), ``CentralSetpoint`` / ``ExternalSetpoint`` (follow
  ``setpoint``, negative = discharge, kept within ``limit`` and ``dischargeLimit``),
  ``Idle`` (no power flow; a profile whose Idle period carries a limit, dischargeLimit or
  setpoint is Rejected). Other modes behave as ``ChargingOnly``.
- ``evseSleep`` of an Idle period: a charger whose lab entry has ``evse_sleep`` (default)
  reports ``SmartChargingCtrlr.SupportsEvseSleep`` true and, while such a period leads, sends
  ``evseSleep: true`` in its TransactionEvents (2.1 TransactionEventRequest.evseSleep "True
  when EVSE electronics are in sleep mode for this transaction"); without support it reports
  SupportsEvseSleep false, Accepts the profile, goes Idle and reports ``evseSleep: false``
  (OCTT TC_Q_126_CS purpose; libocpp Rejects such a profile instead, K01.FR.126 (verify)).
- ``limitAtSoC`` of a schedule: above that EV state of charge the lower limit applies.
- ``randomizedDelay`` of a schedule: each change of the command it causes reaches the power
  stage after a random delay in [0, randomizedDelay] lab seconds (seeded per charger, so a
  run is reproducible).
- Dynamic profiles: ``UpdateDynamicSchedule`` (push) replaces limit / dischargeLimit /
  setpoint of the profile's periods; ``dynUpdateInterval`` makes the charger send
  ``PullDynamicScheduleUpdate`` every interval and apply an Accepted answer (pull).
- ``NotifyEVChargingNeeds`` with ``v2xChargingParameters`` when a transaction of a
  bidirectional, ISO 15118-20 pairing starts; after a non-Accepted answer the charger
  keeps that transaction charge-only (it never discharges).

Fault personalities (``testbench.lab.faults.V2X_FAULTS``): ``rejects-negative-limits``
(SetChargingProfile with a negative limit or dischargeLimit is Rejected),
``discharges-wrong-sign`` (the sign of setpoints and negative limits is flipped),
``ignores-idle`` (an Idle period keeps the previous power flowing),
``accepts-idle-with-limits`` (an Idle period with a limit, dischargeLimit or setpoint is
Accepted instead of Rejected, and then applied as Idle),
``ignores-evse-sleep`` (reports SupportsEvseSleep true, yet evseSleep false in Idle),
``claims-evse-sleep`` (reports no support, yet evseSleep true in Idle),
``ignores-randomized-delay`` (changes are applied at once), ``ignores-limit-at-soc``
(limitAtSoC has no effect), ``never-pulls-dynamic-schedule`` (dynUpdateInterval is ignored),
``charging-needs-without-v2x`` (NotifyEVChargingNeeds asks for AC_three_phase charging
without v2xChargingParameters), ``discharges-after-needs-rejected`` (discharges although its
NotifyEVChargingNeeds was answered Rejected), ``ignores-pulled-update`` (pulls, but never
applies the values of an Accepted PullDynamicScheduleUpdate answer).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

from ocpp.routing import on

log = logging.getLogger("testbench.sim")

VOLTAGE_V = 230.0
DEFAULT_PHASES = 3
SETPOINT_MODES = ("CentralSetpoint", "ExternalSetpoint")
UPDATE_FIELDS = ("limit", "discharge_limit", "setpoint")
"""ChargingScheduleUpdate fields the simulated charger applies (per-phase ones ignored)."""
IDLE_FORBIDDEN = ("limit", "limit_l2", "limit_l3", "discharge_limit", "discharge_limit_l2",
                  "discharge_limit_l3", "setpoint", "setpoint_l2", "setpoint_l3")
"""Period fields an Idle period must not carry (2.1 'limits and setpoints per operation mode')."""


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


@dataclass
class _Stage:
    """The command of one connector: what is applied and what waits for its delay."""

    applied_a: float | None = None
    target_a: float | None = None
    due_s: float = 0.0
    known: bool = False
    tx: Any = None


@dataclass
class V2xControl:
    """The 2.1 V2X state of one simulated charger."""

    sim: Any
    needs_status: dict[int, str] = field(default_factory=dict)  # connector number -> answer
    pulls: list[dict[str, Any]] = field(default_factory=list)  # PullDynamicScheduleUpdate log
    _stages: dict[int, _Stage] = field(default_factory=dict)
    _pull_tasks: dict[int, asyncio.Task[Any]] = field(default_factory=dict)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(zlib.crc32(str(self.sim.spec.id).encode()))

    @property
    def active(self) -> bool:
        return str(self.sim.ocpp_version) == "2.1"

    # ------------------------------------------------------------------ installing
    def rejects(self, data: dict[str, Any]) -> bool:
        """A 2.1 profile whose Idle period carries a limit, dischargeLimit or setpoint is
        refused (none is allowed in Idle; fault accepts-idle-with-limits takes it); fault
        rejects-negative-limits: a profile with a negative limit is refused."""
        if self.active and not self.sim.has("accepts-idle-with-limits") and any(
                period.get("operation_mode") == "Idle" and any(
                    period.get(key) is not None for key in IDLE_FORBIDDEN)
                for schedule in _schedules(data)
                for period in schedule.get("charging_schedule_period", [])):
            return True
        if not self.sim.has("rejects-negative-limits"):
            return False
        for schedule in _schedules(data):
            for period in schedule.get("charging_schedule_period", []):
                values = (period.get("limit"), period.get("discharge_limit"))
                if any(v is not None and float(v) < 0 for v in values):
                    return True
        return False

    def installed(self, profile: Any) -> None:
        """A profile was installed: start pulling updates if it asks for them."""
        interval = (profile.raw or {}).get("dyn_update_interval")
        if not self.active or profile.kind != "Dynamic" or not interval \
                or self.sim.has("never-pulls-dynamic-schedule"):
            return
        old = self._pull_tasks.pop(profile.id, None)
        if old is not None:
            old.cancel()
        self._pull_tasks[profile.id] = asyncio.ensure_future(
            self._pull_loop(profile, float(interval)))

    # ------------------------------------------------------------------ dynamic updates
    def update_dynamic(self, profile_id: int, update: dict[str, Any]) -> str:
        """UpdateDynamicSchedule / an Accepted pull: new values for a Dynamic profile."""
        profile = self._profile(profile_id)
        if profile is None or profile.kind != "Dynamic":
            return "Rejected"
        for schedule in _schedules(profile.raw):
            for period in schedule.get("charging_schedule_period", []):
                for key in UPDATE_FIELDS:
                    if update.get(key) is not None:
                        period[key] = update[key]
        periods = _schedules(profile.raw)[0].get("charging_schedule_period", [])
        profile.periods = sorted((float(p["start_period"]), period_limit(p),
                                  p.get("number_phases")) for p in periods)
        log.info("%s: dynamic profile %d updated: %s", self.sim.spec.id, profile_id, update)
        return "Accepted"

    async def _pull_loop(self, profile: Any, interval_s: float) -> None:
        smart = self._smart()
        while profile in smart.profiles:
            await self.sim.clock.asleep(interval_s)
            if profile not in smart.profiles:
                return
            entry: dict[str, Any] = {"lab_s": self.sim.clock.now(), "profile_id": profile.id}
            self.pulls.append(entry)

            def answered(result: Any, entry: dict[str, Any] = entry) -> None:
                entry["status"] = str(result.status)
                if str(result.status) == "Accepted" and result.schedule_update \
                        and not self.sim.has("ignores-pulled-update"):
                    self.update_dynamic(profile.id, dict(result.schedule_update))
                    smart.evaluate()

            def failed(error: Exception, entry: dict[str, Any] = entry) -> None:
                entry["error"] = str(error)

            self.sim.post(self.sim.call.PullDynamicScheduleUpdate(charging_profile_id=profile.id),
                          on_result=answered, on_error=failed)

    # ------------------------------------------------------------------ the command
    def command_a(self, conn: Any, limit_a: float | None, now: float) -> float | None:
        """The current (A per phase, negative: discharge) the stage gets, from the limit
        :mod:`smart` computed and the 2.1 fields of the leading session period."""
        if not self.active:
            return limit_a
        lead = self.session_period(conn, now)
        target = _finite(limit_a)
        delay_s = 0.0
        if lead is not None:
            profile, schedule, period = lead
            target = self._target(conn, profile, schedule, period, limit_a)
            delay_s = float(schedule.get("randomized_delay") or 0)
        if target is not None and target < 0 and self.needs_status.get(conn.number,
                                                                       "Accepted") != "Accepted" \
                and not self.sim.has("discharges-after-needs-rejected"):
            target = 0.0  # V2X not agreed for this transaction: charge only
        return self._delayed(conn, target, delay_s, now)

    def _target(self, conn: Any, profile: Any, schedule: dict[str, Any],
                period: dict[str, Any], limit_a: float | None) -> float | None:
        mode = period.get("operation_mode") or "ChargingOnly"
        phases = int(period.get("number_phases") or DEFAULT_PHASES)

        def amps(value: Any) -> float | None:
            if value is None:
                return None
            value = float(value)
            return value if profile.unit == "A" else value / (VOLTAGE_V * phases)

        cap = _finite(limit_a)
        if mode == "Idle":
            if self.sim.has("ignores-idle"):
                state = self._stages.get(conn.number)
                return state.applied_a if state is not None else cap
            return 0.0
        flip = self.sim.has("discharges-wrong-sign")
        setpoint = amps(period.get("setpoint"))
        if mode in SETPOINT_MODES and setpoint is not None:
            target: float = setpoint if cap is None or cap < 0 else min(setpoint, cap)
            floor = amps(period.get("discharge_limit"))
            if floor is not None:
                target = max(target, floor)
            return -target if flip else target
        limited = cap
        at_soc = schedule.get("limit_at_soc")
        battery = conn.stage.battery
        if at_soc and battery is not None and battery.soc_pct >= float(at_soc["soc"]) \
                and not self.sim.has("ignores-limit-at-soc"):
            capped = amps(at_soc["limit"])
            if capped is not None:
                limited = capped if limited is None else min(limited, capped)
        if flip and limited is not None and limited < 0:
            limited = -limited
        return limited

    def _delayed(self, conn: Any, target: float | None, delay_s: float, now: float
                 ) -> float | None:
        state = self._stages.get(conn.number)
        if state is None or state.tx is not conn.tx:  # a new transaction starts afresh
            state = self._stages[conn.number] = _Stage(tx=conn.tx)
        if not state.known:
            state.known, state.applied_a, state.target_a = True, target, target
            return target
        if target != state.target_a:
            wait = 0.0
            if delay_s > 0 and not self.sim.has("ignores-randomized-delay"):
                wait = self._rng.uniform(0.0, delay_s)
                log.info("%s connector %d: randomized delay %.1f s (bound %g s)",
                         self.sim.spec.id, conn.number, wait, delay_s)
            state.target_a, state.due_s = target, now + wait
        if state.applied_a != state.target_a and now >= state.due_s:
            state.applied_a = state.target_a
        return state.applied_a

    # ------------------------------------------------------------------ reporting
    def composite_fields(self, target: int, t: float, unit: str, rating_a: float = 0.0
                         ) -> dict[str, Any]:
        """2.1 fields of a composite period at ``t`` (snake_case): operation mode, setpoint,
        discharge limit of the leading session period, in ``unit``."""
        if not self.active or target == 0:
            return {}
        conns = [c for c in self.sim.connectors if c.evse_id == target]
        lead = self.session_period(conns[0], t) if conns else None
        if lead is None:
            return {}
        profile, _schedule, period = lead
        phases = int(period.get("number_phases") or DEFAULT_PHASES)
        out: dict[str, Any] = {}
        if period.get("operation_mode"):
            out["operation_mode"] = period["operation_mode"]
        for key in ("setpoint", "discharge_limit"):
            value = period.get(key)
            if value is None:
                continue
            value = float(value)
            if profile.unit != unit:
                factor = VOLTAGE_V * phases
                value = value * factor if unit == "W" else value / factor
            out[key] = round(value, 1)
        return out

    # ------------------------------------------------------------------ evseSleep
    @property
    def supports_evse_sleep(self) -> bool:
        """The 2.1 charger supports evseSleep (lab key ``evse_sleep``; fault
        claims-evse-sleep reports no support)."""
        return self.active and bool(getattr(self.sim.spec, "evse_sleep", True)) \
            and not self.sim.has("claims-evse-sleep")

    def variables(self) -> dict[tuple[str, str], tuple[str, bool]]:
        """2.1 device-model variable SmartChargingCtrlr.SupportsEvseSleep (variables.csv of
        2.1; libocpp reads SupportsFeature[EvseSleep] (verify))."""
        if not self.active:
            return {}
        flag = "true" if self.supports_evse_sleep else "false"
        return {("SmartChargingCtrlr", "SupportsEvseSleep"): (flag, True)}

    def evse_sleep_report(self, conn: Any) -> bool | None:
        """``evseSleep`` of a TransactionEvent of ``conn``'s transaction: None (absent)
        unless the leading session period is Idle and asks for evseSleep; then whether the
        electronics sleep (supported, and Idle honoured)."""
        if not self.active or conn.tx is None:
            return None
        lead = self.session_period(conn, self.sim.clock.now())
        if lead is None or lead[2].get("operation_mode") != "Idle" \
                or not lead[2].get("evse_sleep"):
            return None
        if self.sim.has("claims-evse-sleep"):
            return True
        return self.supports_evse_sleep and not self.sim.has("ignores-evse-sleep") \
            and not self.sim.has("ignores-idle")

    # ------------------------------------------------------------------ EV charging needs
    def transaction_started(self, conn: Any) -> None:
        """A bidirectional ISO 15118-20 pairing: send NotifyEVChargingNeeds (V2X)."""
        ev = conn.ev
        spec = self.sim.spec
        if not self.active or ev is None or not (spec.bidirectional and ev.bidirectional) \
                or "-20" not in set(spec.iso15118) & set(ev.iso15118):
            return
        self.needs_status.pop(conn.number, None)
        phases = min(int(ev.phases), int(spec.phases))
        watts = VOLTAGE_V * phases
        max_a = min(float(ev.max_current_a), float(spec.max_current_a))
        battery = conn.stage.battery
        soc = battery.soc_pct if battery is not None else float(ev.initial_soc_pct)
        capacity_wh = float(ev.battery_kwh) * 1000.0
        from testbench.sim.battery import DISCHARGE_FLOOR_PCT

        params = {
            "min_charge_power": round(float(ev.min_current_a) * watts, 1),
            "max_charge_power": round(min(max_a * watts, float(spec.max_power_w)), 1),
            "min_discharge_power": round(float(ev.min_current_a) * watts, 1),
            "max_discharge_power": round(min(max_a * watts, float(spec.max_power_w)), 1),
            "ev_target_energy_request": round((100.0 - soc) * capacity_wh / 100.0, 1),
            "ev_min_v2x_energy_request": round((DISCHARGE_FLOOR_PCT - soc) * capacity_wh / 100.0,
                                               1),
            "ev_max_v2x_energy_request": round((100.0 - soc) * capacity_wh / 100.0, 1),
            "target_soc": 100,
        }
        needs = {"requested_energy_transfer": "AC_BPT" if spec.current_type == "AC" else "DC_BPT",
                 "available_energy_transfer": ["AC_BPT" if spec.current_type == "AC" else "DC_BPT"],
                 "control_mode": "DynamicControl", "v2x_charging_parameters": params}
        if self.sim.has("charging-needs-without-v2x"):
            needs = {"requested_energy_transfer": "AC_three_phase",
                     "ac_charging_parameters": {"energy_amount": params["ev_target_energy_request"],
                                                "ev_min_current": float(ev.min_current_a),
                                                "ev_max_current": float(ev.max_current_a),
                                                "ev_max_voltage": 400.0}}

        def answered(result: Any) -> None:
            self.needs_status[conn.number] = str(result.status)
            self._smart().evaluate()

        self.sim.post(self.sim.call.NotifyEVChargingNeeds(
            evse_id=conn.evse_id, charging_needs=needs, timestamp=self.sim.clock.iso_now()),
            retain=True, on_result=answered)

    # ------------------------------------------------------------------ helpers
    def _smart(self) -> Any:
        from testbench.sim.smart import smart_of

        return smart_of(self.sim)

    def _profile(self, profile_id: int) -> Any:
        return next((p for p in self._smart().profiles if p.id == profile_id), None)

    def session_period(self, conn: Any, t: float
                       ) -> tuple[Any, dict[str, Any], dict[str, Any]] | None:
        """(profile, raw schedule, raw period) of the session profile leading at ``t``:
        the transaction's TxProfile, else TxDefaultProfile (the EVSE's own first)."""
        smart = self._smart()
        tx = conn.tx
        tx_start = tx.started_lab_s if tx is not None else None
        groups = [[p for p in smart.profiles if p.purpose == "tx" and tx is not None
                   and p.tx_key is tx and p.target == conn.evse_id],
                  [p for p in smart.profiles if p.purpose == "default"
                   and p.target == conn.evse_id],
                  [p for p in smart.profiles if p.purpose == "default" and p.target == 0]]
        for group in groups:
            best = None
            for p in group:
                if p.period_at(t, tx_start) is None:
                    continue
                if best is None or p.stack >= best.stack:
                    best = p
            if best is None:
                continue
            start = best.anchor(t, tx_start)
            schedule = _schedules(best.raw)[0]
            periods = sorted(schedule.get("charging_schedule_period", []),
                             key=lambda p: float(p["start_period"]))
            offset = t - (start if start is not None else t)
            found = periods[0]
            for p in periods:
                if float(p["start_period"]) <= offset:
                    found = p
            return best, schedule, found
        return None


def period_limit(period: dict[str, Any]) -> float:
    """A raw period's limit; a 2.1 period without one (setpoint / Idle modes) limits nothing."""
    value = period.get("limit")
    return math.inf if value is None else float(value)


def _schedules(data: dict[str, Any]) -> list[dict[str, Any]]:
    schedule = data.get("charging_schedule") or []
    return schedule if isinstance(schedule, list) else [schedule]


def v2x_of(sim: Any) -> V2xControl:
    """The V2X control of a simulated charger (created on first use)."""
    agent = getattr(sim, "_v2x_control", None)
    if agent is None:
        agent = V2xControl(sim)
        sim._v2x_control = agent
    return agent


class V2x21Handlers:
    """Mixin for the 2.1 client: UpdateDynamicSchedule (central setpoint push)."""

    sim: Any
    _call_result: Any

    @on("UpdateDynamicSchedule")
    def on_update_dynamic_schedule(self, charging_profile_id: int,
                                   schedule_update: dict[str, Any], **_: Any) -> Any:
        status = v2x_of(self.sim).update_dynamic(int(charging_profile_id), dict(schedule_update))
        if status == "Accepted":
            v2x_of(self.sim)._smart().evaluate()
        return self._call_result.UpdateDynamicSchedule(status=status)
