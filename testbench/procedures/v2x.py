"""OCPP 2.1 V2X procedures and their checks: profiles with operation modes, setpoints and
negative limits, NotifyEVChargingNeeds, dynamic updates, and the measured power judged
against the schedule.

The meter check works on signed outlet power (W, + to the EV, - from the EV). Every moment
of the reference composite (``testbench.schedule``) gives a :class:`Band` of allowed power:

- ``Idle``: no power flow (0 +- the analyser's accuracy);
- ``CentralSetpoint`` / ``ExternalSetpoint`` with a setpoint: the setpoint +- ``SETPOINT_TOL_PCT``
  (kept inside limit and dischargeLimit, as the reference already does);
- a negative limit (2.1's backwards-compatible discharge limit): discharging, between the
  EV's minimum discharge power and the limit (right sign and magnitude);
- otherwise (``ChargingOnly``): 0 .. limit, never discharging.

A sample must lie inside the union of the bands in force during the ``response_s`` (plus
any ``randomizedDelay``) before it: so after every change the power must settle inside the
new band within the response time and stay there. Settle times are reported as figures.

Durations are lab seconds, times lab Unix seconds, power W.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from testbench.csms.failures import CallErrorReceived
from testbench.errors import DeviceFailure
from testbench.procedures.ocpp import Charger
from testbench.procedures.smart import RESPONSE_S
from testbench.schedule import CompositePeriod, CompositeSchedule

SETPOINT_MODES = ("CentralSetpoint", "ExternalSetpoint")
SETPOINT_TOL_PCT = 5.0
"""How closely the measured power must follow a setpoint (% of the setpoint), on top of the
analyser's accuracy (ISO 15118-20 leaves the EV's tolerance to the EV; 5 % is the bench's)."""

ACCURACY_W = 150.0
"""Analyser accuracy allowance, W (about 0.2 A on three phases at 230 V)."""

ACCURACY_PCT = 1.0
"""Analyser accuracy allowance, % of the largest power judged."""

NOT_INSTANT_S = 2.0
"""A randomizedDelay change applied within this many lab seconds counts as instant."""

MIN_EFFICIENCY = 0.85
"""Lowest share of outlet energy assumed to reach the EV battery (AC on-board charger) when
the bench estimates the state of charge for limitAtSoC (verify per EV)."""


# ----------------------------------------------------------------------------- requests
def period(start_s: int, *, limit: float | None = None, mode: str | None = None,
           setpoint: float | None = None, discharge_limit: float | None = None,
           evse_sleep: bool | None = None) -> dict[str, Any]:
    """One 2.1 chargingSchedulePeriod (camelCase)."""
    out: dict[str, Any] = {"startPeriod": int(start_s)}
    for key, value in (("limit", limit), ("operationMode", mode), ("setpoint", setpoint),
                       ("dischargeLimit", discharge_limit), ("evseSleep", evse_sleep)):
        if value is not None:
            out[key] = value
    return out


def profile_request(*, evse_id: int, profile_id: int, stack_level: int, purpose: str,
                    periods: Sequence[Mapping[str, Any]], unit: str = "W",
                    kind: str = "Relative", transaction_id: str | None = None,
                    randomized_delay_s: int | None = None,
                    limit_at_soc: tuple[float, float] | None = None,
                    dyn_update_interval_s: int | None = None) -> dict[str, Any]:
    """A 2.1 SetChargingProfile request with V2X fields."""
    schedule: dict[str, Any] = {"id": profile_id, "chargingRateUnit": unit,
                                "chargingSchedulePeriod": [dict(p) for p in periods]}
    if randomized_delay_s is not None:
        schedule["randomizedDelay"] = int(randomized_delay_s)
    if limit_at_soc is not None:
        schedule["limitAtSoC"] = {"soc": int(limit_at_soc[0]), "limit": float(limit_at_soc[1])}
    profile: dict[str, Any] = {"id": profile_id, "stackLevel": stack_level,
                               "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
                               "chargingSchedule": [schedule]}
    if transaction_id is not None:
        profile["transactionId"] = transaction_id
    if dyn_update_interval_s is not None:
        profile["dynUpdateInterval"] = int(dyn_update_interval_s)
    return {"evseId": evse_id, "chargingProfile": profile}


def update_dynamic(charger: Charger, profile_id: int, **values: float) -> str:
    """UpdateDynamicSchedule (push) with ``limit`` / ``dischargeLimit`` / ``setpoint``."""
    update = {{"discharge_limit": "dischargeLimit"}.get(k, k): float(v)
              for k, v in values.items()}
    reply = charger.call("UpdateDynamicSchedule", {"chargingProfileId": profile_id,
                                                   "scheduleUpdate": update})
    return str(reply.get("status"))


# ----------------------------------------------------------------------------- evseSleep
SUPPORTS_EVSE_SLEEP = ("SmartChargingCtrlr", "SupportsEvseSleep")
"""2.1 device-model variable: "When reported as true the Charging Station supports the
evseSleep flag in a charging schedule period" (2.1 variables list; libocpp reads
SmartChargingCtrlr.SupportsFeature[EvseSleep] instead (verify))."""


@dataclass(frozen=True)
class EvseSleepSupport:
    """What a charger REPORTS about evseSleep: ``supported`` only when it reports true (the
    variable absent, unknown or a CALLERROR counts as unsupported)."""

    supported: bool
    reported: str | None

    def evidence(self) -> dict[str, Any]:
        return {"variable": ".".join(SUPPORTS_EVSE_SLEEP), "reported": self.reported,
                "supported": self.supported}


def reported_evse_sleep_support(charger: Charger) -> EvseSleepSupport:
    """GetVariables SmartChargingCtrlr.SupportsEvseSleep."""
    component, variable = SUPPORTS_EVSE_SLEEP
    try:
        answer = charger.call("GetVariables", {"getVariableData": [
            {"component": {"name": component}, "variable": {"name": variable}}]})
    except CallErrorReceived as error:
        return EvseSleepSupport(False, f"CALLERROR: {error}")
    for item in answer.get("getVariableResult") or []:
        if (item.get("variable") or {}).get("name") == variable:
            if item.get("attributeStatus") != "Accepted":
                return EvseSleepSupport(False, f"attributeStatus {item.get('attributeStatus')}")
            value = item.get("attributeValue")
            return EvseSleepSupport(str(value).strip().lower() == "true", value)
    return EvseSleepSupport(False, None)


def evse_sleep_of(payload: Mapping[str, Any]) -> bool:
    """TransactionEventRequest.evseSleep (2.1: "True when EVSE electronics are in sleep mode
    for this transaction"; absent means false)."""
    return payload.get("evseSleep") is True


# ----------------------------------------------------------------------------- EV charging needs
@dataclass(frozen=True)
class ChargingNeedsLimits:
    """What the lab says the pairing can do (W): the bounds a plausible
    ``v2xChargingParameters`` stays within."""

    max_charge_w: float
    max_discharge_w: float


def charging_needs_problems(payload: Mapping[str, Any], limits: ChargingNeedsLimits,
                            evse_id: int = 1) -> list[str]:
    """Check a NotifyEVChargingNeeds request of a V2X session."""
    problems: list[str] = []
    if payload.get("evseId") != evse_id:
        problems.append(f"NotifyEVChargingNeeds names evseId {payload.get('evseId')}, the "
                        f"session runs on {evse_id}")
    needs = payload.get("chargingNeeds") or {}
    transfer = needs.get("requestedEnergyTransfer")
    if transfer not in ("AC_BPT", "DC_BPT", "AC_BPT_DER", "DC_ACDP_BPT"):
        problems.append(f"NotifyEVChargingNeeds requestedEnergyTransfer is {transfer!r}, not a "
                        "bidirectional (BPT) mode")
    params = needs.get("v2xChargingParameters")
    if not isinstance(params, Mapping):
        return problems + ["NotifyEVChargingNeeds has no v2xChargingParameters"]
    tol = 0.01
    for key, bound in (("maxChargePower", limits.max_charge_w),
                       ("maxDischargePower", limits.max_discharge_w)):
        value = params.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"v2xChargingParameters.{key} is missing")
        elif not 0 < value <= bound * (1 + tol):
            problems.append(f"v2xChargingParameters.{key} is {value:g} W, outside (0, "
                            f"{bound:g}] W (min of EV and charger in the lab file)")
    for low, high in (("minChargePower", "maxChargePower"),
                      ("minDischargePower", "maxDischargePower"),
                      ("evMinV2XEnergyRequest", "evMaxV2XEnergyRequest")):
        a, b = params.get(low), params.get(high)
        if isinstance(a, int | float) and isinstance(b, int | float) and a > b:
            problems.append(f"v2xChargingParameters.{low} ({a:g}) exceeds {high} ({b:g})")
    for key in ("evMinV2XEnergyRequest", "evMaxV2XEnergyRequest"):
        if key not in params:
            problems.append(f"v2xChargingParameters.{key} is missing (needed to plan V2X)")
    return problems


# ----------------------------------------------------------------------------- bands
@dataclass(frozen=True)
class Band:
    """Allowed signed outlet power (W) and why."""

    low_w: float
    high_w: float
    what: str

    def contains(self, value_w: float) -> bool:
        return self.low_w <= value_w <= self.high_w

    def union(self, other: Band) -> Band:
        what = self.what if self.what == other.what else f"{self.what} | {other.what}"
        return Band(min(self.low_w, other.low_w), max(self.high_w, other.high_w), what)


def band_of(p: CompositePeriod, *, ev_min_discharge_w: float, accuracy_w: float,
            soc_limit_w: float | None = None) -> Band:
    """The allowed measured power during one composite period (the period in W)."""
    mode = p.operation_mode or "ChargingOnly"
    limit = p.limit
    if soc_limit_w is not None and (limit is None or limit > soc_limit_w):
        limit = soc_limit_w
    if mode == "Idle":
        return Band(-accuracy_w, accuracy_w, "Idle: no power flow")
    if mode in SETPOINT_MODES and p.setpoint is not None:
        tol = accuracy_w + abs(p.setpoint) * SETPOINT_TOL_PCT / 100.0
        return Band(p.setpoint - tol, p.setpoint + tol, f"setpoint {p.setpoint:g} W")
    if limit is not None and limit < 0:
        weakest = -min(ev_min_discharge_w, abs(limit))
        return Band(limit - accuracy_w, weakest + accuracy_w,
                    f"discharge limit {limit:g} W")
    high = math.inf if limit is None else limit + accuracy_w
    return Band(-accuracy_w, high, "charging only" + ("" if limit is None else f" <= {limit:g} W"))


@dataclass
class Timeline:
    """Reference composites in W over time: each from the lab time it became true (a
    dynamic update replaces the reference from its moment on)."""

    pieces: list[tuple[float, CompositeSchedule]] = field(default_factory=list)

    def add(self, from_s: float, reference: CompositeSchedule) -> None:
        if reference.unit != "W":
            reference = reference.in_unit("W")
        self.pieces.append((from_s, reference))
        self.pieces.sort(key=lambda x: x[0])

    def period_at(self, t_s: float) -> CompositePeriod | None:
        current = None
        for from_s, ref in self.pieces:
            if from_s <= t_s and ref.start_s <= t_s <= ref.end_s:
                current = ref
        return None if current is None else current.period_at(t_s)


# ----------------------------------------------------------------------------- the judge
@dataclass(frozen=True)
class Settle:
    """How long the power took to enter the band of one change and stay in it."""

    at_s: float  # lab time of the change
    band: Band
    settle_s: float | None  # None: never settled before the next change / the end


@dataclass(frozen=True)
class PowerFollow:
    """How the measured power kept to the schedule."""

    samples: int
    judged: int
    outside: int
    worst_w: float
    first_outside_s: float | None
    settles: tuple[Settle, ...]
    t0_s: float = 0.0  # lab time of the first sample (figures count from it)
    envelope_low_w: tuple[float, ...] = ()  # per sample: what the judge allowed (NaN: not
    envelope_high_w: tuple[float, ...] = ()  # judged), for plots

    def figures(self) -> dict[str, Any]:
        return {"samples": self.samples, "judged": self.judged, "outside": self.outside,
                "worst_outside_w": round(self.worst_w, 1), "first_outside_s": self.first_outside_s,
                "settle_s": [None if s.settle_s is None else round(s.settle_s, 2)
                             for s in self.settles],
                "bands": [{"at_s": round(s.at_s - self.t0_s, 2), "low_w": round(s.band.low_w, 1),
                           "high_w": round(s.band.high_w, 1), "what": s.band.what}
                          for s in self.settles]}


def follow_power(t_lab_s: np.ndarray, power_w: np.ndarray, bands: Sequence[Band | None], *,
                 response_s: float = RESPONSE_S, delay_s: float = 0.0,
                 judge_from_s: float | None = None) -> tuple[list[str], PowerFollow]:
    """Judge measured power against the band in force at each sample (None: not judged).

    A sample at t passes when inside the union of the bands of the samples in
    [t - response_s - delay_s, t]; samples before ``judge_from_s`` + ``response_s`` are not
    judged (the session was still starting).
    """
    t = np.asarray(t_lab_s, dtype=float)
    p = np.asarray(power_w, dtype=float)
    if len(t) != len(bands) or len(t) != len(p):
        raise ValueError("t_lab_s, power_w and bands must have the same length")
    window = response_s + delay_s
    start = (float(t[0]) if len(t) else 0.0) if judge_from_s is None else judge_from_s
    judged = outside = 0
    worst, first = 0.0, None
    lo_index = 0
    env_low = [math.nan] * len(t)
    env_high = [math.nan] * len(t)
    for i in range(len(t)):
        if bands[i] is None or t[i] < start + response_s or math.isnan(p[i]):
            continue
        while t[lo_index] < t[i] - window:
            lo_index += 1
        allowed: Band | None = None
        for j in range(max(0, lo_index - 1), i + 1):
            b = bands[j]
            if b is not None:
                allowed = b if allowed is None else allowed.union(b)
        assert allowed is not None
        env_low[i], env_high[i] = allowed.low_w, allowed.high_w
        judged += 1
        if not allowed.contains(float(p[i])):
            outside += 1
            miss = max(allowed.low_w - p[i], p[i] - allowed.high_w)
            worst = max(worst, float(miss))
            if first is None:
                first = float(t[i] - t[0])
    follow = PowerFollow(len(t), judged, outside, worst, first, tuple(_settles(t, p, bands)),
                         float(t[0]) if len(t) else 0.0, tuple(env_low), tuple(env_high))
    if not judged:
        return [("meter: no sample could be judged (recording shorter than the response time "
                f"{window:g} s)")], follow
    if not outside:
        return [], follow
    where = next((b for b, x in zip(bands, p, strict=True) if b is not None
                  and not b.contains(float(x))), None)
    return [(f"meter: the measured power left the schedule's band by up to {worst:.0f} W in "
             f"{outside} of {judged} judged samples, first {first:.1f} s into the recording, "
             f"more than {window:g} s after the schedule changed"
             + (f" (e.g. band: {where.what})" if where is not None else ""))], follow


def _settles(t: np.ndarray, p: np.ndarray, bands: Sequence[Band | None]) -> list[Settle]:
    out: list[Settle] = []
    changes = [i for i in range(len(bands)) if bands[i] is not None
               and (i == 0 or bands[i - 1] != bands[i])]
    for n, i in enumerate(changes):
        end = changes[n + 1] if n + 1 < len(changes) else len(bands)
        band = bands[i]
        assert band is not None
        settled = None
        for k in range(i, end):
            if all(band.contains(float(x)) for x in p[k:end] if not math.isnan(x)):
                settled = float(t[k] - t[i])
                break
        out.append(Settle(float(t[i]), band, settled))
    return out


def reach_delays(t_lab_s: np.ndarray, power_w: np.ndarray, changes: Sequence[tuple[float, float]],
                 tolerance_w: float) -> list[float | None]:
    """For each (lab time, new level W) of a schedule change: lab seconds until the measured
    power first came within ``tolerance_w`` of the new level (None: it never did before the
    next change)."""
    t = np.asarray(t_lab_s, dtype=float)
    p = np.asarray(power_w, dtype=float)
    out: list[float | None] = []
    for n, (at_s, level) in enumerate(changes):
        until = changes[n + 1][0] if n + 1 < len(changes) else math.inf
        hit = np.nonzero((t >= at_s) & (t < until) & (np.abs(p - level) <= tolerance_w))[0]
        out.append(None if not len(hit) else float(t[hit[0]] - at_s))
    return out


def randomized_delay_problems(delays: Sequence[float | None], bound_s: float,
                              response_s: float = RESPONSE_S) -> list[str]:
    """Judge the observed delays of changes under a randomizedDelay of ``bound_s``: each
    within the bound (+ response), and not all of them instant (a charger ignoring the
    delay; with n changes the chance a conformant one draws all below ``NOT_INSTANT_S`` is
    (NOT_INSTANT_S / bound_s) ** n)."""
    problems = []
    late = [d for d in delays if d is None or d > bound_s + response_s]
    if late:
        shown = ", ".join("never" if d is None else f"{d:.1f} s" for d in delays)
        problems.append(f"randomizedDelay: a change was applied later than the bound "
                        f"{bound_s:g} s + {response_s:g} s response (delays: {shown})")
    seen = [d for d in delays if d is not None]
    if len(seen) >= 2 and all(d < NOT_INSTANT_S for d in seen):
        problems.append(f"randomizedDelay: all {len(seen)} changes were applied within "
                        f"{NOT_INSTANT_S:g} s ({', '.join(f'{d:.1f}' for d in seen)} s) although "
                        f"the schedule asked for a random delay up to {bound_s:g} s")
    return problems


# ----------------------------------------------------------------------------- state of charge
def soc_crossing_s(t_lab_s: np.ndarray, power_w: np.ndarray, *, initial_soc_pct: float,
                   battery_kwh: float, soc_pct: float, efficiency: float) -> float | None:
    """Lab time at which the EV's state of charge reaches ``soc_pct``, estimated from the
    measured outlet power (trapezoid) and an assumed charging ``efficiency``."""
    t = np.asarray(t_lab_s, dtype=float)
    p = np.nan_to_num(np.asarray(power_w, dtype=float))
    if len(t) < 2:
        return None
    energy_wh = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(t)) / 3600.0])
    soc = initial_soc_pct + 100.0 * efficiency * energy_wh / (battery_kwh * 1000.0)
    hit = np.nonzero(soc >= soc_pct)[0]
    return None if not len(hit) else float(t[hit[0]])


def soc_bands(t_lab_s: np.ndarray, base: Callable[[float, float | None], Band | None],
              early_s: float | None, late_s: float | None, soc_limit_w: float
              ) -> list[Band | None]:
    """Bands with a limitAtSoC: the plain band before the SoC can have been reached
    (``early_s``), the lowered one after it surely was (``late_s``), both in between."""
    out: list[Band | None] = []
    for x in np.asarray(t_lab_s, dtype=float):
        plain = base(float(x), None)
        capped = base(float(x), soc_limit_w)
        if plain is None or capped is None:
            out.append(None)
        elif early_s is None or x < early_s:
            out.append(plain)
        elif late_s is not None and x >= late_s:
            out.append(capped)
        else:
            out.append(plain.union(capped))
    return out


def expect_status(status: str, wanted: str, what: str) -> None:
    """Fail with a readable message unless the charger answered ``wanted``."""
    if status != wanted:
        raise DeviceFailure(f"{what}: the charger answered {status!r}, expected {wanted!r}")
