"""Builders for OCPP charging-profile payloads and charger answers used by the schedule tests."""

from __future__ import annotations

from typing import Any

from testbench.clock import iso_utc
from testbench.schedule import (
    CompositeSchedule,
    InstalledProfile,
    parse_set_charging_profile,
    parse_time,
)

# Monday 2024-01-01 00:00:00 UTC
T0 = parse_time("2024-01-01T00:00:00Z", "T0")
HOUR = 3600.0
DAY = 86_400.0


def iso(t_s: float) -> str:
    return iso_utc(t_s)


def period(start_s: int, limit: float | None, phases: int | None = None,
           **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"startPeriod": start_s}
    if limit is not None:
        out["limit"] = limit
    if phases is not None:
        out["numberPhases"] = phases
    out.update(extra)
    return out


def profile(version: str, pid: int, purpose: str, stack: int, periods: list[dict[str, Any]],
            *, kind: str = "Absolute", unit: str = "A", start: float | None = None,
            duration: int | None = None, valid_from: float | None = None,
            valid_to: float | None = None, recurrency: str | None = None,
            tx: str | int | None = None, **schedule_extra: Any) -> dict[str, Any]:
    """One profile object in the shape of ``version`` (csChargingProfiles / chargingProfile)."""
    sched: dict[str, Any] = {"chargingRateUnit": unit, "chargingSchedulePeriod": periods}
    if start is not None:
        sched["startSchedule"] = iso(start)
    if duration is not None:
        sched["duration"] = duration
    sched.update(schedule_extra)
    body: dict[str, Any] = {"stackLevel": stack, "chargingProfilePurpose": purpose,
                            "chargingProfileKind": kind}
    if recurrency is not None:
        body["recurrencyKind"] = recurrency
    if valid_from is not None:
        body["validFrom"] = iso(valid_from)
    if valid_to is not None:
        body["validTo"] = iso(valid_to)
    if tx is not None:
        body["transactionId"] = tx
    if version == "1.6":
        body["chargingProfileId"] = pid
        body["chargingSchedule"] = sched
    else:
        body["id"] = pid
        sched["id"] = pid
        body["chargingSchedule"] = [sched]
    return body


def request(version: str, evse_id: int, body: dict[str, Any]) -> dict[str, Any]:
    if version == "1.6":
        return {"connectorId": evse_id, "csChargingProfiles": body}
    return {"evseId": evse_id, "chargingProfile": body}


def install(version: str, evse_id: int, body: dict[str, Any],
            installed_at_s: float | None = None) -> InstalledProfile:
    return parse_set_charging_profile(request(version, evse_id, body), version, installed_at_s)


def steps(schedule: CompositeSchedule, digits: int = 3) -> list[tuple[float, float | None]]:
    """(offset, limit) pairs, rounded, for compact assertions."""
    return [(round(p.start_offset_s, 3), None if p.limit is None else round(p.limit, digits))
            for p in schedule.periods]


def answer(reference: CompositeSchedule, version: str, *, shift_s: float = 0.0,
           unit: str | None = None, periods: list[tuple[float, float]] | None = None,
           duration_s: float | None = None, phases: int | None = None) -> dict[str, Any]:
    """A charger's GetCompositeSchedule answer that repeats ``reference`` (or ``periods``)."""
    ref = reference if unit is None else reference.in_unit(unit)  # type: ignore[arg-type]
    items = periods if periods is not None else [
        (p.start_offset_s, p.limit if p.limit is not None else 32.0) for p in ref.periods]
    rows = []
    for start, limit in items:
        row: dict[str, Any] = {"startPeriod": round(start), "limit": round(limit, 1)}
        if phases is not None:
            row["numberPhases"] = phases
        rows.append(row)
    duration = round(reference.duration_s if duration_s is None else duration_s)
    start_text = iso(reference.start_s + shift_s)
    sched = {"duration": duration, "chargingRateUnit": ref.unit,
             "chargingSchedulePeriod": rows}
    if version == "1.6":
        return {"status": "Accepted", "connectorId": reference.evse_id,
                "scheduleStart": start_text, "chargingSchedule": sched}
    return {"status": "Accepted", "schedule": {"evseId": reference.evse_id,
                                               "scheduleStart": start_text, **sched}}
