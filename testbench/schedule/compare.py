"""Judge a charger's GetCompositeSchedule answer against the reference composite.

Both schedules are step functions of time. A reported value at time t is accepted when it
equals (within the value tolerance) the reference value somewhere in [t - tol, t + tol],
with tol = ``time_tol_s`` (public test suites allow about 2 s) plus the largest 2.1
randomizedDelay of the profiles. So a boundary reported 1.5 s late passes; a wrong limit,
or a boundary 30 s off, gives a ``Difference`` such as

    period starting at +900 s (until +1800 s): charger says 16 A, reference 10 A

Where the reference has no limit (no profile, no rating given) any reported value passes.
numberPhases absent in the answer counts as the OCPP default (``Supply.default_phases``);
2.1 dischargeLimit and setpoint are compared only where both sides state them; 2.1
operationMode is compared everywhere (absent on either side means ChargingOnly, its default).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from testbench.schedule.composite import CompositePeriod, CompositeSchedule
from testbench.schedule.profiles import VERSIONS, ProfileError, RateUnit, parse_time

DEFAULT_VALUE_TOL: dict[str, float] = {"A": 0.1, "W": 10.0}
DEFAULT_OPERATION_MODE = "ChargingOnly"
_TINY_S = 1e-6


@dataclass(frozen=True)
class Difference:
    """One way the charger's answer differs from the reference.

    ``kind``: payload, status, evse, start, unit, duration, coverage, limit, phases,
    discharge_limit, setpoint or operation_mode. Offsets are seconds from the reference start.
    """

    kind: str
    message: str
    start_offset_s: float | None = None
    end_offset_s: float | None = None
    reported: float | None = None
    reference: float | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ReportedComposite:
    """A GetCompositeSchedule answer, version-neutral (period offsets from its own start)."""

    status: str
    evse_id: int | None
    start_s: float | None
    duration_s: float | None
    unit: RateUnit | None
    periods: tuple[CompositePeriod, ...]


def parse_composite_response(payload: Mapping[str, Any], version: str) -> ReportedComposite:
    """Parse a GetCompositeSchedule response (1.6 .conf or 2.x Response payload).

    Raises ``ProfileError`` when it is malformed.
    """
    if version not in VERSIONS:
        raise ProfileError("version", f"{version!r} is not an OCPP version", "use 1.6/2.0.1/2.1")
    root = "GetCompositeSchedule"
    if not isinstance(payload, Mapping):
        raise ProfileError(root, "is not a JSON object", "answer with an object")
    status = payload.get("status")
    if not isinstance(status, str):
        raise ProfileError(f"{root}.status", "is missing", "answer Accepted or Rejected")
    if status != "Accepted":
        return ReportedComposite(status, None, None, None, None, ())
    if version == "1.6":
        sched = payload.get("chargingSchedule")
        path = f"{root}.chargingSchedule"
        evse = payload.get("connectorId")
        start_text = payload.get("scheduleStart")
        start_path = f"{root}.scheduleStart"
        if start_text is None and isinstance(sched, Mapping):
            start_text, start_path = sched.get("startSchedule"), f"{path}.startSchedule"
    else:
        sched = payload.get("schedule")
        path = f"{root}.schedule"
        evse = sched.get("evseId") if isinstance(sched, Mapping) else None
        start_text = sched.get("scheduleStart") if isinstance(sched, Mapping) else None
        start_path = f"{path}.scheduleStart"
    if not isinstance(sched, Mapping):
        raise ProfileError(path, "is missing from an Accepted answer",
                           "include the composite schedule")
    if evse is not None and (isinstance(evse, bool) or not isinstance(evse, int)):
        raise ProfileError(f"{root}.evse", f"{evse!r} is not an integer", "send an integer id")
    start = None if start_text is None else parse_time(start_text, start_path)
    duration = sched.get("duration")
    if duration is not None and (isinstance(duration, bool)
                                 or not isinstance(duration, int | float) or duration < 0):
        raise ProfileError(f"{path}.duration", f"{duration!r} is not a duration in seconds",
                           "send a non-negative integer")
    if version != "1.6" and (duration is None or start is None):
        raise ProfileError(path, "lacks duration or scheduleStart (both required in 2.x)",
                           "include both")
    unit = sched.get("chargingRateUnit")
    if unit not in ("A", "W"):
        raise ProfileError(f"{path}.chargingRateUnit", f"{unit!r} is not A or W",
                           "send A or W")
    raw = sched.get("chargingSchedulePeriod")
    if not isinstance(raw, list) or not raw:
        raise ProfileError(f"{path}.chargingSchedulePeriod", "is not a non-empty list",
                           "send at least one period")
    periods: list[CompositePeriod] = []
    for i, item in enumerate(raw):
        ppath = f"{path}.chargingSchedulePeriod[{i}]"
        if not isinstance(item, Mapping):
            raise ProfileError(ppath, "is not an object", "send {startPeriod, limit, ...}")
        sp = item.get("startPeriod")
        if isinstance(sp, bool) or not isinstance(sp, int | float) or sp < 0:
            raise ProfileError(f"{ppath}.startPeriod", f"{sp!r} is not a non-negative integer",
                               "send seconds from scheduleStart")
        if periods and sp <= periods[-1].start_offset_s:
            raise ProfileError(f"{ppath}.startPeriod", f"{sp} is not after the previous "
                               f"{periods[-1].start_offset_s:g}", "send periods in time order")
        limit = _number(item, "limit", ppath)
        if limit is None and version != "2.1":
            raise ProfileError(f"{ppath}.limit", "is missing", "send the period's limit")
        phases = item.get("numberPhases")
        if phases is not None and (isinstance(phases, bool) or not isinstance(phases, int)):
            raise ProfileError(f"{ppath}.numberPhases", f"{phases!r} is not an integer",
                               "send 1, 2 or 3")
        periods.append(CompositePeriod(
            start_offset_s=float(sp), limit=limit, number_phases=phases,
            phase_to_use=item.get("phaseToUse"),
            discharge_limit=_number(item, "dischargeLimit", ppath),
            setpoint=_number(item, "setpoint", ppath),
            operation_mode=_mode(item, ppath)))
    return ReportedComposite(status=status, evse_id=evse, start_s=start,
                             duration_s=None if duration is None else float(duration),
                             unit=unit, periods=tuple(periods))


def compare_composite(reference: CompositeSchedule, reported_payload: Mapping[str, Any],
                      version: str, time_tol_s: float = 2.0, value_tol: float | None = None,
                      *, rel_tol: float = 0.0, unit_requested: bool = True,
                      check_phases: bool = True) -> list[Difference]:
    """Every difference between the charger's answer and the reference (empty: agrees).

    ``value_tol`` is absolute, in the reference unit (default 0.1 A or 10 W); a value also
    passes within ``rel_tol`` x |reference|. ``unit_requested`` False: a charger answering
    in the other unit is not a difference (its values are converted and compared).
    """
    try:
        rep = parse_composite_response(reported_payload, version)
    except ProfileError as exc:
        return [Difference("payload", f"GetCompositeSchedule answer is malformed: {exc}")]
    if rep.status != "Accepted":
        return [Difference("status", f"charger answered status {rep.status}, expected Accepted")]
    unit = reference.unit
    abs_tol = DEFAULT_VALUE_TOL[unit] if value_tol is None else value_tol
    tol_s = time_tol_s + reference.randomized_delay_s
    diffs: list[Difference] = []
    if rep.evse_id is not None and rep.evse_id != reference.evse_id:
        what = "connectorId" if version == "1.6" else "evseId"
        diffs.append(Difference("evse", f"charger answered for {what} {rep.evse_id}, "
                                f"the request was for {reference.evse_id}"))
    shift = 0.0
    if rep.start_s is None:
        diffs.append(Difference("start", "charger gave no scheduleStart; its periods are "
                                "taken as counting from the reference start"))
    else:
        shift = rep.start_s - reference.start_s
        if abs(shift) > tol_s:
            diffs.append(Difference("start", f"charger's scheduleStart is {shift:+.1f} s from "
                                    f"the reference start (tolerance {tol_s:g} s)"))
    assert rep.unit is not None
    periods = rep.periods
    if rep.unit != unit:
        if unit_requested:
            diffs.append(Difference("unit", f"charger answered in {rep.unit}, the reference "
                                    f"(and request) is in {unit}"))
        supply = reference.supply

        def conv(value: float | None, phases: int | None) -> float | None:
            return None if value is None else supply.convert(value, rep.unit or unit, unit,
                                                             phases)

        periods = tuple(CompositePeriod(p.start_offset_s, conv(p.limit, p.number_phases),
                                        p.number_phases, p.phase_to_use,
                                        conv(p.discharge_limit, p.number_phases),
                                        conv(p.setpoint, p.number_phases),
                                        p.operation_mode) for p in periods)
    ref_end = reference.duration_s
    rep_end = ref_end - shift if rep.duration_s is None else rep.duration_s
    if rep.duration_s is not None and abs(rep.duration_s - ref_end) > tol_s:
        diffs.append(Difference("duration", f"charger's schedule lasts {rep.duration_s:g} s, "
                                f"the reference {ref_end:g} s", reported=rep.duration_s,
                                reference=ref_end))
    first = shift + periods[0].start_offset_s
    if first > tol_s:
        diffs.append(Difference("coverage", f"charger's schedule has no period before "
                                f"+{_fmt_s(first)} s", 0.0, first))
    lo, hi = max(0.0, first), min(ref_end, shift + rep_end)
    if hi - lo <= _TINY_S:
        return diffs

    ref_segs = reference.segments()
    rep_ends = [p.start_offset_s for p in periods[1:]] + [rep_end]
    rep_segs = [(shift + p.start_offset_s, shift + end, p)
                for p, end in zip(periods, rep_ends, strict=True)]

    def close(ref: float, got: float) -> bool:
        return abs(got - ref) <= max(abs_tol, rel_tol * abs(ref)) + 1e-9

    default_phases = reference.supply.default_phases
    checks: list[tuple[str, Callable[[CompositePeriod], float | None], bool,
                       Callable[[float, float], bool]]] = [
        ("limit", lambda p: p.limit, False, close)]
    if check_phases:
        checks.append(("phases", lambda p: p.number_phases, True, lambda a, b: a == b))
    checks.append(("discharge_limit", lambda p: p.discharge_limit, False, close))
    checks.append(("setpoint", lambda p: p.setpoint, False, close))
    for kind, get, default_missing, equal in checks:
        ref_vals = [(s, e, _opt(get(p))) for s, e, p in ref_segs]
        rep_vals = [(s, e, _opt(get(p))) for s, e, p in rep_segs]
        if kind == "phases":
            rep_vals = [(s, e, float(default_phases) if v is None else v)
                        for s, e, v in rep_vals]
        strict_missing = kind == "limit"
        for a, b, r, v in _mismatches(ref_vals, rep_vals, lo, hi, tol_s, equal,
                                      strict_missing or default_missing):
            unit_text = "" if kind == "phases" else f" {unit}"
            label = {"limit": "", "phases": " numberPhases",
                     "discharge_limit": " dischargeLimit", "setpoint": " setpoint"}[kind]
            diffs.append(Difference(
                kind, f"period starting at +{_fmt_s(a)} s (until +{_fmt_s(b)} s): charger "
                f"says{label} {_fmt(v)}{unit_text}, reference {_fmt(r)}{unit_text}",
                a, b, v, r))
    if version == "2.1":
        diffs += _mode_differences(ref_segs, rep_segs, lo, hi, tol_s)
    return diffs


def _mode_differences(ref_segs: list[tuple[float, float, CompositePeriod]],
                      rep_segs: list[tuple[float, float, CompositePeriod]], lo: float,
                      hi: float, tol_s: float) -> list[Difference]:
    """2.1 operationMode stretches that differ (absent: ChargingOnly, the default)."""
    def mode(p: CompositePeriod) -> Any:
        return p.operation_mode or DEFAULT_OPERATION_MODE

    ref_vals = [(s, e, mode(p)) for s, e, p in ref_segs]
    rep_vals = [(s, e, mode(p)) for s, e, p in rep_segs]
    found = _mismatches(ref_vals, rep_vals, lo, hi, tol_s,  # type: ignore[arg-type]
                        lambda a, b: a == b, True)
    return [Difference("operation_mode", f"period starting at +{_fmt_s(a)} s (until "
                       f"+{_fmt_s(b)} s): charger says operationMode {v}, reference {r}",
                       a, b) for a, b, r, v in found]


def format_differences(diffs: list[Difference]) -> str:
    """One line per difference, for assertion messages and reports."""
    return "\n".join(f"- [{d.kind}] {d.message}" for d in diffs) or "no differences"


# ----------------------------------------------------------------------------- internals


def _opt(value: float | None) -> float | None:
    return None if value is None else float(value)


def _number(item: Mapping[str, Any], key: str, path: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{path}.{key}", f"{value!r} is not a number", "send a JSON number")
    return float(value)


def _mode(item: Mapping[str, Any], path: str) -> str | None:
    value = item.get("operationMode")
    if value is not None and not isinstance(value, str):
        raise ProfileError(f"{path}.operationMode", f"{value!r} is not a string",
                           "send an operation mode name, e.g. ChargingOnly")
    return value


def _value_at(segs: list[tuple[float, float, float | None]], t: float) -> tuple[bool, float | None]:
    for s, e, v in segs:
        if s <= t < e:
            return True, v
    return False, None


def _mismatches(ref: list[tuple[float, float, float | None]],
                rep: list[tuple[float, float, float | None]], lo: float, hi: float,
                tol_s: float, equal: Callable[[float, float], bool],
                missing_is_wrong: bool) -> list[tuple[float, float, float | None, float | None]]:
    """Stretches of [lo, hi) where the reported value differs from the reference and is not
    explained by a reference value within ``tol_s``. A reference None accepts anything; a reported None (value not stated) is
    wrong only when ``missing_is_wrong``."""
    cuts = sorted({lo, hi} | {x for s, e, _ in ref + rep for x in (s, e) if lo < x < hi})
    found: list[tuple[float, float, float | None, float | None]] = []
    for a, b in pairwise(cuts):
        if b - a <= _TINY_S:
            continue
        mid = (a + b) / 2.0
        _, r = _value_at(ref, mid)
        known, v = _value_at(rep, mid)
        if r is None or not known:
            continue
        if v is None:
            if missing_is_wrong:
                found.append((a, b, r, v))
            continue
        if equal(r, v):
            continue
        cover = sorted((max(s - tol_s, a), min(e + tol_s, b)) for s, e, val in ref
                       if (val is None or equal(val, v)) and s - tol_s < b and e + tol_s > a)
        # The tolerance excuses a shifted boundary, not a wrong period: if anything of the
        # stretch stays unexplained, the whole stretch where the values differ is reported.
        cursor, unexplained = a, False
        for x, y in cover:
            unexplained = unexplained or x > cursor + _TINY_S
            cursor = max(cursor, y)
        if unexplained or cursor < b - _TINY_S:
            found.append((a, b, r, v))
    merged: list[tuple[float, float, float | None, float | None]] = []
    for a, b, r, v in found:
        if merged and math.isclose(merged[-1][1], a, abs_tol=_TINY_S) \
                and merged[-1][2:] == (r, v):
            merged[-1] = (merged[-1][0], b, r, v)
        else:
            merged.append((a, b, r, v))
    return merged


def _fmt(value: float | None) -> str:
    if value is None:
        return "no limit"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _fmt_s(seconds: float) -> str:
    text = f"{seconds:.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
