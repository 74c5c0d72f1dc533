"""Smart charging of a simulated charger: charging profiles, composite schedule, the limit.

The charger's own implementation (deliberately independent of ``testbench.schedule``, which
the bench uses to judge it): profiles installed by SetChargingProfile (1.6 Smart Charging
profile; 2.0.1/2.1 K block basics), removed by ClearChargingProfile, reported by
GetCompositeSchedule, and the effective limit of each connector applied to its power stage
(:meth:`PowerStage.set_limit_a`) every ``POLL_S`` lab seconds.

Semantics: within a purpose the profile with the highest stack level that has a period at
``t`` leads (an EVSE's own one wins a tie); the session limit is the transaction's TxProfile,
else the EVSE's own TxDefaultProfile, else a station-wide one; station maximum profiles
(and 2.x external constraints) cap it by the minimum. TxProfiles end with their transaction.

Fault personalities: ``ignores-stack-level`` (the lowest stack level leads),
``applies-limit-late`` (a new limit reaches the power stage ``LATE_S`` late),
``overshoots-limit`` (the stage gets ``OVERSHOOT_FACTOR`` x the limit),
``wrong-composite-schedule`` (GetCompositeSchedule reports ``WRONG_COMPOSITE_A`` too much),
``clear-ignores-criteria``, ``get-profiles-ignores-filter``, ``remote-start-accepts-any-profile``,
``composite-for-unknown-evse``, ``applies-profile-without-smart-charging``,
``accepts-unsupported-rate-unit`` (see ``testbench.lab.faults``).

Capabilities (from the charger's lab entry): without ``smart_charging`` every smart-charging
request is answered with CALLERROR NotSupported (verify: the specifications do not say which
error a station without the feature gives) and a remote start's profile is ignored (2.0.1
F01.FR.12 (verify)); ``charging_rate_units`` are the units SetChargingProfile and
GetCompositeSchedule accept (K01 / K08.FR.07: others are Rejected (verify)).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import call_result as result16

from testbench.sim.v2x_control import period_limit, v2x_of

log = logging.getLogger("testbench.sim")

POLL_S = 0.5
"""Lab seconds between re-evaluations of every connector's limit."""

LATE_S = 20.0
"""Fault applies-limit-late: lab seconds before a new limit reaches the power stage."""

OVERSHOOT_FACTOR = 1.25
"""Fault overshoots-limit: the power stage gets this much of a positive limit."""

WRONG_COMPOSITE_A = 4.0
"""Fault wrong-composite-schedule: amperes added to every reported period (W: x 230 x 3)."""

AWAIT_TX_S = 180.0
"""Lab seconds a remote start's TxProfile waits for its transaction to start."""

VOLTAGE_V = 230.0
DEFAULT_PHASES = 3

_MAX = "max"
_DEFAULT = "default"
_TX = "tx"
_EXTERNAL = "external"
_PURPOSES = {
    "ChargePointMaxProfile": _MAX, "ChargingStationMaxProfile": _MAX,
    "TxDefaultProfile": _DEFAULT, "TxProfile": _TX,
    "ChargingStationExternalConstraints": _EXTERNAL,
}
_RECURRENCE_S = {"Daily": 86_400.0, "Weekly": 604_800.0}


def _time(text: Any) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(str(text)).timestamp()


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@dataclass
class Profile:
    """One installed charging profile (snake_case fields as the ocpp library delivers them)."""

    id: int
    stack: int
    purpose: str
    kind: str
    target: int  # 1.6 connector number / 2.x EVSE id; 0: whole station
    installed_s: float
    unit: str
    periods: list[tuple[float, float, int | None]]  # (start offset s, limit, phases)
    start_s: float | None = None
    duration_s: float | None = None
    recurrency: str | None = None
    valid_from_s: float | None = None
    valid_to_s: float | None = None
    transaction_id: str | None = None
    tx_key: Any = None  # the transaction object it was installed for (TxProfile)
    raw: dict[str, Any] = field(default_factory=dict)  # as received (reported back)

    @classmethod
    def parse(cls, data: dict[str, Any], target: int, now_s: float, version: str) -> Profile:
        schedule = data["charging_schedule"]
        if isinstance(schedule, list):  # 2.x: one or more schedules, the first one counts
            schedule = schedule[0]
        periods = sorted((float(p["start_period"]), period_limit(p), p.get("number_phases"))
                         for p in schedule["charging_schedule_period"])
        tx_id = data.get("transaction_id")
        if data["charging_profile_kind"] == "Recurring" and not data.get("recurrency_kind"):
            raise ValueError("a Recurring profile needs recurrencyKind")
        return cls(id=int(data["charging_profile_id" if version == "1.6" else "id"]),
                   stack=int(data["stack_level"]), purpose=_PURPOSES[data["charging_profile_purpose"]],
                   kind=str(data["charging_profile_kind"]), target=target, installed_s=now_s,
                   unit=str(schedule["charging_rate_unit"]), periods=periods,
                   start_s=_time(schedule.get("start_schedule")),
                   duration_s=schedule.get("duration"), recurrency=data.get("recurrency_kind"),
                   valid_from_s=_time(data.get("valid_from")), valid_to_s=_time(data.get("valid_to")),
                   transaction_id=None if tx_id is None else str(tx_id), raw=dict(data))

    def anchor(self, t: float, tx_start_s: float | None) -> float | None:
        if self.kind == "Recurring":
            every = _RECURRENCE_S.get(self.recurrency or "", 0.0)
            if self.start_s is None or every <= 0 or t < self.start_s:
                return None
            return self.start_s + math.floor((t - self.start_s) / every) * every
        if self.kind == "Absolute" and self.start_s is not None:
            return self.start_s
        if self.purpose in (_DEFAULT, _TX) and tx_start_s is not None:
            return tx_start_s
        return self.installed_s

    def period_at(self, t: float, tx_start_s: float | None) -> tuple[float, int | None] | None:
        """(limit in A, phases) in force at ``t``, or None."""
        valid_from = self.valid_from_s if self.valid_from_s is not None else self.installed_s
        if t < valid_from or (self.valid_to_s is not None and t >= self.valid_to_s):
            return None
        start = self.anchor(t, tx_start_s)
        if start is None or t < start:
            return None
        offset = t - start
        if self.duration_s is not None and offset >= self.duration_s:
            return None
        found = None
        for begin, limit, phases in self.periods:
            if begin <= offset:
                found = (limit, phases)
        if found is None:
            return None
        limit, phases = found[0], found[1]
        if self.unit == "W":
            limit = limit / (VOLTAGE_V * (phases or DEFAULT_PHASES))
        return limit, phases

    def instants(self, t0: float, t1: float, tx_start_s: float | None) -> set[float]:
        """Moments in [t0, t1) where this profile's value may change."""
        found = {x for x in (self.valid_from_s, self.valid_to_s, self.installed_s)
                 if x is not None}
        starts: list[float] = []
        if self.kind == "Recurring":
            every = _RECURRENCE_S.get(self.recurrency or "", 0.0)
            if self.start_s is not None and every > 0:
                first = self.anchor(t0, tx_start_s) or self.start_s
                k = first
                while k < t1:
                    starts.append(k)
                    k += every
        else:
            anchor = self.anchor(t0, tx_start_s)
            if anchor is not None:
                starts.append(anchor)
        for start in starts:
            found.update(start + p[0] for p in self.periods)
            if self.duration_s is not None:
                found.add(start + float(self.duration_s))
        return {x for x in found if t0 < x < t1}


@dataclass
class SmartCharging:
    """The profiles of one simulated charger and the limits they impose."""

    sim: Any
    profiles: list[Profile] = field(default_factory=list)
    _applied: dict[int, float | None] = field(default_factory=dict)
    _late: dict[int, tuple[float, float | None]] = field(default_factory=dict)
    _awaiting: dict[int, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _task: asyncio.Task[Any] | None = None

    # -- capabilities (the charger's lab entry)
    @property
    def supported(self) -> bool:
        """Whether the charger has smart charging at all."""
        return bool(getattr(self.sim.spec, "smart_charging", True))

    @property
    def rate_units(self) -> tuple[str, ...]:
        """The charging-schedule rate units it supports."""
        return tuple(getattr(self.sim.spec, "charging_rate_units", ("A", "W")))

    def require_support(self, action: str) -> None:
        """Answer ``action`` with CALLERROR NotSupported when there is no smart charging."""
        if not self.supported:
            raise NotSupportedError(f"{action}: this charging station has no smart charging")

    def unit_supported(self, unit: str | None) -> bool:
        """A requested rate unit (None: the charger's choice) is one it supports; fault
        ``accepts-unsupported-rate-unit`` takes any."""
        return (unit is None or unit in self.rate_units
                or self.sim.has("accepts-unsupported-rate-unit"))

    def variables(self) -> dict[tuple[str, str], tuple[str, bool]]:
        """2.x device-model variables of SmartChargingCtrlr: (component, variable) ->
        (Actual value, read-only)."""
        flag = "true" if self.supported else "false"
        return {("SmartChargingCtrlr", "Available"): (flag, True),
                ("SmartChargingCtrlr", "Enabled"): (flag, True),
                ("SmartChargingCtrlr", "RateUnit"): (",".join(self.rate_units), True)}

    def config_items(self) -> dict[str, tuple[str, bool]]:
        """1.6 configuration keys: SupportedFeatureProfiles (SmartCharging only when
        supported) and ChargingScheduleAllowedChargingRateUnit (Current / Power)."""
        profiles = ["Core", "FirmwareManagement", "RemoteTrigger"]
        if self.supported:
            profiles.append("SmartCharging")
        names = {"A": "Current", "W": "Power"}
        items = {"SupportedFeatureProfiles": (",".join(profiles), True)}
        if self.supported:
            items["ChargingScheduleAllowedChargingRateUnit"] = (
                ",".join(names[u] for u in self.rate_units), True)
        return items

    # -- addressing
    @property
    def v16(self) -> bool:
        return str(self.sim.ocpp_version) == "1.6"

    def key(self, conn: Any) -> int:
        return int(conn.number if self.v16 else conn.evse_id)

    def connectors_of(self, target: int) -> list[Any]:
        return [c for c in self.sim.connectors if target in (0, self.key(c))]

    def known(self, target: int) -> bool:
        return target == 0 or bool(self.connectors_of(target))

    # -- installing
    def set_profile(self, data: dict[str, Any], target: int) -> str:
        """Install a profile (SetChargingProfile); returns the status to answer."""
        try:
            profile = Profile.parse(data, target, self.sim.clock.now(), self.sim.ocpp_version)
        except (KeyError, TypeError, ValueError) as error:
            log.info("%s: SetChargingProfile rejected: %s", self.sim.spec.id, error)
            return "Rejected"
        if profile.unit not in self.rate_units:
            return "Rejected"
        if not self.known(target) or (profile.purpose == _MAX and target != 0):
            return "Rejected"
        if v2x_of(self.sim).rejects(data):  # 2.1 V2X hook (fault personality)
            return "Rejected"
        if profile.purpose == _TX:
            if target == 0:
                return "Rejected"
            conn = self.connectors_of(target)[0]
            tx = conn.tx
            if tx is None or (profile.transaction_id is not None
                              and profile.transaction_id != str(tx.id)):
                return "Rejected"
            if not self.v16 and profile.transaction_id is None:
                return "Rejected"
            profile.tx_key = tx
        for old in list(self.profiles):
            same_slot = (old.target == target and old.stack == profile.stack
                         and old.purpose == profile.purpose)
            if old.id == profile.id or (self.v16 and same_slot):
                self.profiles.remove(old)
            elif same_slot and old.transaction_id == profile.transaction_id:
                return "Rejected"  # 2.x: same stack level and purpose already taken
        self.profiles.append(profile)
        v2x_of(self.sim).installed(profile)  # 2.1 V2X hook
        self.start()
        self.evaluate()
        return "Accepted"

    def clear(self, profile_id: int | None, target: int | None, purpose: str | None,
              stack: int | None) -> str:
        """ClearChargingProfile: Accepted when something was removed, else Unknown."""
        wanted = _PURPOSES.get(purpose or "")
        if self.sim.has("clear-ignores-criteria") and (target, purpose, stack) != (None,) * 3:
            self.profiles.clear()
            self.evaluate()
            return "Accepted"
        gone = [p for p in self.profiles
                if (profile_id is None or p.id == profile_id)
                and (target is None or p.target == target)
                and (purpose is None or p.purpose == wanted)
                and (stack is None or p.stack == stack)]
        for p in gone:
            self.profiles.remove(p)
        self.evaluate()
        return "Accepted" if gone else "Unknown"

    def matching(self, request: dict[str, Any], evse_id: int | None) -> list[Profile]:
        """Profiles a 2.x GetChargingProfiles request selects (criteria all given must hold)."""
        ids = request.get("charging_profile_id") or []
        purpose = _PURPOSES.get(request.get("charging_profile_purpose") or "")
        stack = request.get("stack_level")
        sources = request.get("charging_limit_source") or []
        if self.sim.has("get-profiles-ignores-filter"):
            return list(self.profiles)
        return [p for p in self.profiles
                if (evse_id is None or p.target == evse_id)
                and (not ids or p.id in ids)
                and (purpose is None or p.purpose == purpose)
                and (stack is None or p.stack == stack)
                and (not sources or "CSO" in sources)]

    def remote_start_allowed(self, data: dict[str, Any] | None) -> bool:
        """A remote start may carry no profile or a TxProfile (1.6 §5.11, OCTT TC_060);
        fault ``remote-start-accepts-any-profile`` allows any purpose. Without smart
        charging the profile is ignored, so any is allowed."""
        return (data is None or not self.supported or data.get("charging_profile_purpose") == "TxProfile"
                or self.sim.has("remote-start-accepts-any-profile"))

    def answers_composite(self, target: int) -> bool:
        """GetCompositeSchedule is answered (Accepted) for known EVSEs / connectors only;
        fault ``composite-for-unknown-evse`` answers for any."""
        return self.known(target) or self.sim.has("composite-for-unknown-evse")

    def remote_start_profile(self, conn: Any, data: dict[str, Any] | None) -> None:
        """A remote start carried a TxProfile: it applies to the transaction that starts
        (without smart charging it is ignored, unless the fault
        ``applies-profile-without-smart-charging``)."""
        if not self.supported and not self.sim.has("applies-profile-without-smart-charging"):
            if data:
                log.info("%s: no smart charging: the remote start's profile is ignored",
                         self.sim.spec.id)
            return
        if data and data.get("charging_profile_purpose") == "TxProfile":
            self._awaiting[conn.number] = (self.sim.clock.now(), data)
            self.start()
            self.evaluate()

    def _install_awaited(self, now: float) -> None:
        for conn in self.sim.connectors:
            waiting = self._awaiting.get(conn.number)
            if waiting is None:
                continue
            if conn.tx is None:
                if now - waiting[0] > AWAIT_TX_S:
                    del self._awaiting[conn.number]
                continue
            del self._awaiting[conn.number]
            try:
                profile = Profile.parse(waiting[1], self.key(conn), now, self.sim.ocpp_version)
            except (KeyError, TypeError, ValueError) as error:
                log.info("%s: remote-start profile ignored: %s", self.sim.spec.id, error)
                continue
            profile.tx_key = conn.tx
            profile.installed_s = min(now, conn.tx.started_lab_s)
            self.profiles = [p for p in self.profiles if p.id != profile.id]
            self.profiles.append(profile)

    # -- evaluating
    def _tx_start(self, target: int) -> tuple[Any, float | None]:
        for conn in self.connectors_of(target):
            if target != 0 and conn.tx is not None:
                return conn.tx, conn.tx.started_lab_s
        return None, None

    def _lead(self, items: list[Profile], t: float, tx_start: float | None
              ) -> tuple[float, int | None] | None:
        best: tuple[tuple[int, int, float], tuple[float, int | None]] | None = None
        for p in items:
            value = p.period_at(t, tx_start)
            if value is None:
                continue
            stack = -p.stack if self.sim.has("ignores-stack-level") else p.stack
            rank = (stack, 1 if p.target else 0, p.installed_s)
            if best is None or rank >= best[0]:
                best = (rank, value)
        return None if best is None else best[1]

    def limit_a(self, target: int, t: float) -> tuple[float | None, int | None]:
        """The effective limit (A per phase) of an EVSE / connector at ``t`` and its phases."""
        tx, tx_start = self._tx_start(target)
        def of(purpose: str, where: tuple[int, ...]) -> list[Profile]:
            return [p for p in self.profiles if p.purpose == purpose and p.target in where]

        session = None
        if tx is not None:
            session = self._lead([p for p in of(_TX, (target,)) if p.tx_key is tx], t, tx_start)
        if session is None:
            session = (self._lead(of(_DEFAULT, (target,)), t, tx_start)
                       or self._lead(of(_DEFAULT, (0,)), t, tx_start))
        leads = [session, self._lead(of(_MAX, (0,)), t, tx_start),
                 self._lead(of(_EXTERNAL, (0,)), t, tx_start),
                 self._lead(of(_EXTERNAL, (target,)), t, tx_start) if target else None]
        values = [v for v in leads if v is not None]
        if not values:
            return None, None
        phases = [v[1] for v in values if v[1]]
        return min(v[0] for v in values), (min(phases) if phases else None)

    def evaluate(self) -> None:
        """Drop TxProfiles of ended transactions; bring every stage to its limit."""
        self._install_awaited(self.sim.clock.now())
        for p in list(self.profiles):
            if p.purpose == _TX and all(c.tx is not p.tx_key for c in self.connectors_of(p.target)):
                self.profiles.remove(p)
        now = self.sim.clock.now()
        for conn in self.sim.connectors:
            limit, _phases = self.limit_a(self.key(conn), now)
            limit = v2x_of(self.sim).command_a(conn, limit, now)  # 2.1 V2X hook
            if limit is not None and limit > 0 and self.sim.has("overshoots-limit"):
                limit *= OVERSHOOT_FACTOR
            self._apply(conn, limit, now)

    def _apply(self, conn: Any, limit: float | None, now: float) -> None:
        if self.sim.has("applies-limit-late"):
            due = self._late.get(conn.number)
            if due is None or due[1] != limit:
                if self._applied.get(conn.number) == limit:
                    self._late.pop(conn.number, None)
                    return
                self._late[conn.number] = (now + LATE_S, limit)
                return
            if now < due[0]:
                return
            self._late.pop(conn.number, None)
        if conn.number in self._applied and self._applied[conn.number] == limit:
            return
        self._applied[conn.number] = limit
        log.info("%s connector %d: smart-charging limit %s A", self.sim.spec.id, conn.number,
                 "none" if limit is None else f"{limit:g}")
        conn.stage.set_limit_a(limit)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            await self.sim.clock.asleep(POLL_S)
            try:
                self.evaluate()
            except Exception:  # a bad profile must not stop the charger
                log.exception("%s: evaluating charging profiles failed", self.sim.spec.id)

    # -- composite schedule
    def composite(self, target: int, duration_s: int, unit: str | None
                  ) -> tuple[float, list[dict[str, Any]], str]:
        """(start, periods in snake_case, unit) of the composite schedule from now."""
        unit = unit or "A"
        start = self.sim.clock.now()
        end = start + duration_s
        _tx, tx_start = self._tx_start(target)
        points = {float(start)}
        for p in self.profiles:
            points |= p.instants(start, end, tx_start)
            for conn in self.connectors_of(p.target):
                if conn.tx is not None:
                    points |= p.instants(start, end, conn.tx.started_lab_s)
        periods: list[dict[str, Any]] = []
        for t in sorted(points):
            limit, phases = self._value(target, t)
            if self.sim.has("wrong-composite-schedule"):
                limit += WRONG_COMPOSITE_A
            value = limit if unit == "A" else limit * VOLTAGE_V * (phases or DEFAULT_PHASES)
            period: dict[str, Any] = {"start_period": round(t - start),
                                      "limit": round(value, 1)}
            if phases:
                period["number_phases"] = phases
            period.update(v2x_of(self.sim).composite_fields(target, t, unit,  # 2.1 V2X hook
                                                            float(self.sim.spec.max_current_a)))
            if periods and {k: v for k, v in periods[-1].items() if k != "start_period"} == \
                    {k: v for k, v in period.items() if k != "start_period"}:
                continue
            if periods and periods[-1]["start_period"] == period["start_period"]:
                periods[-1] = period
                continue
            periods.append(period)
        return start, periods, unit

    def _value(self, target: int, t: float) -> tuple[float, int | None]:
        rating = float(self.sim.spec.max_current_a)
        if target != 0:
            limit, phases = self.limit_a(target, t)
            return (rating if limit is None or math.isinf(limit) else limit), phases
        caps = [self._lead([p for p in self.profiles if p.purpose == purpose and p.target == 0],
                           t, None) for purpose in (_MAX, _EXTERNAL)]
        values = [v for v in caps if v is not None]
        keys = sorted({self.key(c) for c in self.sim.connectors})
        total = 0.0
        for key in keys:
            limit, _ = self.limit_a(key, t)
            total += rating if limit is None else limit
        stated = [v[1] for v in values if v[1]]
        return min([total] + [v[0] for v in values]), (min(stated) if stated else None)


def smart_of(sim: Any) -> SmartCharging:
    """The smart-charging state of a simulated charger (created on first use)."""
    agent = getattr(sim, "_smart_charging", None)
    if agent is None:
        agent = SmartCharging(sim)
        sim._smart_charging = agent
    return agent


class Smart16Handlers:
    """Mixin for the 1.6 client: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule."""

    sim: Any

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any],
                                **_: Any) -> Any:
        smart_of(self.sim).require_support("SetChargingProfile")
        status = smart_of(self.sim).set_profile(cs_charging_profiles, int(connector_id))
        return result16.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None,
                                  stack_level: int | None = None, **_: Any) -> Any:
        smart_of(self.sim).require_support("ClearChargingProfile")
        status = smart_of(self.sim).clear(id, connector_id, charging_profile_purpose, stack_level)
        return result16.ClearChargingProfile(status=status)

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, connector_id: int, duration: int,
                                  charging_rate_unit: str | None = None, **_: Any) -> Any:
        smart = smart_of(self.sim)
        smart.require_support("GetCompositeSchedule")
        if not smart.answers_composite(int(connector_id)) or \
                not smart.unit_supported(charging_rate_unit):
            return result16.GetCompositeSchedule(status="Rejected")
        start, periods, unit = smart.composite(int(connector_id), int(duration),
                                               charging_rate_unit)
        return result16.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=_iso(start),
            charging_schedule={"duration": int(duration), "start_schedule": _iso(start),
                               "charging_rate_unit": unit,
                               "charging_schedule_period": periods})


class Smart2xHandlers:
    """Mixin for the 2.0.1 / 2.1 clients: the K-block basics."""

    sim: Any
    _call: Any
    _call_result: Any

    @on("SetChargingProfile")
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any],
                                **_: Any) -> Any:
        smart_of(self.sim).require_support("SetChargingProfile")
        status = smart_of(self.sim).set_profile(charging_profile, int(evse_id))
        return self._call_result.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  charging_profile_criteria: dict[str, Any] | None = None,
                                  **_: Any) -> Any:
        smart_of(self.sim).require_support("ClearChargingProfile")
        criteria = charging_profile_criteria or {}
        status = smart_of(self.sim).clear(charging_profile_id, criteria.get("evse_id"),
                                          criteria.get("charging_profile_purpose"),
                                          criteria.get("stack_level"))
        return self._call_result.ClearChargingProfile(status=status)

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(self, evse_id: int, duration: int,
                                  charging_rate_unit: str | None = None, **_: Any) -> Any:
        smart = smart_of(self.sim)
        smart.require_support("GetCompositeSchedule")
        if not smart.answers_composite(int(evse_id)) or \
                not smart.unit_supported(charging_rate_unit):
            return self._call_result.GetCompositeSchedule(status="Rejected")
        start, periods, unit = smart.composite(int(evse_id), int(duration), charging_rate_unit)
        return self._call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={"evse_id": evse_id, "duration": int(duration), "schedule_start": _iso(start),
                      "charging_rate_unit": unit, "charging_schedule_period": periods})

    @on("GetChargingProfiles")
    def on_get_charging_profiles(self, request_id: int, charging_profile: dict[str, Any],
                                 evse_id: int | None = None, **_: Any) -> Any:
        smart_of(self.sim).require_support("GetChargingProfiles")
        found = smart_of(self.sim).matching(charging_profile, evse_id)
        return self._call_result.GetChargingProfiles(
            status="Accepted" if found else "NoProfiles")

    @after("GetChargingProfiles")
    def after_get_charging_profiles(self, request_id: int, charging_profile: dict[str, Any],
                                    evse_id: int | None = None, **_: Any) -> None:
        """One ReportChargingProfiles per EVSE (tbc on all but the last)."""
        found = smart_of(self.sim).matching(charging_profile, evse_id)
        targets = sorted({p.target for p in found})
        call = self._call
        for i, target in enumerate(targets):
            self.sim.post(call.ReportChargingProfiles(
                request_id=request_id, charging_limit_source="CSO", evse_id=target,
                charging_profile=[p.raw for p in found if p.target == target],
                tbc=i < len(targets) - 1))
