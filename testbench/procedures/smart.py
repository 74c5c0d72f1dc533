"""Smart-charging procedures that read the same for 1.6J and 2.0.1/2.1, and their checks.

Build and send charging profiles in the charger's dialect, keep the bench's own record of
what a conformant charger holds (:class:`ProfileBook`, on ``testbench.schedule``), and judge

- the wire: the charger's GetCompositeSchedule answer against the reference composite
  (:func:`composite_problems`, ``COMPOSITE_TIME_TOL_S`` as public test suites allow);
- the meter: measured current against the reference limit over time
  (:func:`follow_problems`): after every change of the allowed limit the current must be
  inside it within the response-time tolerance, and stay there.

Durations are lab seconds; times are lab Unix seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from testbench.csms.failures import CallErrorReceived
from testbench.errors import DeviceFailure
from testbench.procedures.ocpp import Charger, TransactionStart, is_v16
from testbench.schedule import (
    ChargingProfile,
    CompositeSchedule,
    InstalledProfile,
    ProfileError,
    ProfileSet,
    Supply,
    Transaction,
    compare_composite,
    composite_schedule,
    format_differences,
    parse_charging_profile,
    parse_remote_start_profile,
    parse_time,
)

COMPOSITE_TIME_TOL_S = 2.0
"""Tolerance on the instants of a composite schedule (public test suites allow about 2 s)."""

RESPONSE_S = 10.0
"""Lab seconds a charger x EV pair may take to bring its current inside a new limit
(IEC 61851-1 gives the EV 5 s to follow a PWM change; the rest is the charger's own)."""

_PURPOSES_16 = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}


def wire_purpose(charger: Charger, purpose: str) -> str:
    """The purpose's name in the charger's dialect (give the 2.x names; 1.6 is translated)."""
    return _PURPOSES_16.get(purpose, purpose) if is_v16(charger) else purpose


def profile_request(charger: Charger, *, evse_id: int, profile_id: int, stack_level: int,
                    purpose: str, periods: Sequence[tuple[float, float]], unit: str = "A",
                    kind: str = "Absolute", start_s: float | None = None,
                    duration_s: float | None = None, transaction_id: str | None = None,
                    recurrency: str | None = None) -> dict[str, Any]:
    """A SetChargingProfile request: ``periods`` are (start offset s, limit) pairs."""
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": int(s), "limit": float(v)} for s, v in periods],
    }
    if start_s is not None:
        schedule["startSchedule"] = _iso(start_s)
    if duration_s is not None:
        schedule["duration"] = int(duration_s)
    profile: dict[str, Any] = {
        "stackLevel": stack_level, "chargingProfilePurpose": wire_purpose(charger, purpose),
        "chargingProfileKind": kind,
    }
    if recurrency is not None:
        profile["recurrencyKind"] = recurrency
    if transaction_id is not None:
        profile["transactionId"] = int(transaction_id) if is_v16(charger) else transaction_id
    if is_v16(charger):
        profile["chargingProfileId"] = profile_id
        profile["chargingSchedule"] = schedule
        return {"connectorId": evse_id, "csChargingProfiles": profile}
    profile["id"] = profile_id
    profile["chargingSchedule"] = [dict(schedule, id=profile_id)]
    return {"evseId": evse_id, "chargingProfile": profile}


def clear_request(charger: Charger, *, profile_id: int | None = None, evse_id: int | None = None,
                  purpose: str | None = None, stack_level: int | None = None) -> dict[str, Any]:
    """A ClearChargingProfile request (no argument: every profile)."""
    if is_v16(charger):
        req: dict[str, Any] = {"id": profile_id, "connectorId": evse_id,
                               "chargingProfilePurpose": purpose and wire_purpose(charger, purpose),
                               "stackLevel": stack_level}
        return {k: v for k, v in req.items() if v is not None}
    criteria = {k: v for k, v in {"evseId": evse_id, "chargingProfilePurpose": purpose,
                                  "stackLevel": stack_level}.items() if v is not None}
    req = {"chargingProfileId": profile_id} if profile_id is not None else {}
    if criteria:
        req["chargingProfileCriteria"] = criteria
    return req


def remote_start_request(charger: Charger, id_token: str, profile_request: dict[str, Any],
                         evse_id: int = 1, remote_start_id: int = 1) -> dict[str, Any]:
    """A RemoteStartTransaction / RequestStartTransaction carrying the profile of a
    :func:`profile_request` (purpose TxProfile, no transactionId)."""
    if is_v16(charger):
        return {"idTag": id_token, "connectorId": evse_id,
                "chargingProfile": profile_request["csChargingProfiles"]}
    return {"idToken": {"idToken": id_token, "type": "ISO14443"}, "evseId": evse_id,
            "remoteStartId": remote_start_id, "chargingProfile": profile_request["chargingProfile"]}


def get_composite(charger: Charger, evse_id: int, duration_s: int, unit: str = "A"
                  ) -> dict[str, Any]:
    """GetCompositeSchedule; returns the answer payload."""
    key = "connectorId" if is_v16(charger) else "evseId"
    return charger.call("GetCompositeSchedule",
                        {key: evse_id, "duration": int(duration_s), "chargingRateUnit": unit})


@dataclass
class ProfileBook:
    """What the bench knows a conformant charger holds: the profiles it accepted, the
    transactions running. Answers the reference composite and limit."""

    charger: Charger
    max_current_a: float | None = None
    profiles: ProfileSet = field(init=False)
    transactions: list[Transaction] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.profiles = ProfileSet(self.charger.version)

    def set(self, request: dict[str, Any], at_s: float) -> str:
        """Send SetChargingProfile; an Accepted profile goes into the book. Returns status."""
        status = str(self.charger.call("SetChargingProfile", request).get("status"))
        self.sent.append({"request": request, "status": status, "lab_s": at_s})
        if status == "Accepted":
            self.profiles.set_charging_profile(request, installed_at_s=at_s)
        return status

    def clear(self, request: dict[str, Any]) -> str:
        """Send ClearChargingProfile and apply it to the book. Returns status."""
        status = str(self.charger.call("ClearChargingProfile", request).get("status"))
        self.sent.append({"clear": request, "status": status})
        self.profiles.clear_request(request)
        return status

    def remote_started(self, request: dict[str, Any], at_s: float) -> None:
        """The charger accepted a remote start carrying a TxProfile: book that profile."""
        self.sent.append({"remote_start": request, "lab_s": at_s})
        self.profiles.install(parse_remote_start_profile(request, self.charger.version,
                                                         installed_at_s=at_s))

    def started(self, evse_id: int, start: TransactionStart) -> Transaction:
        """Record a transaction start (its time is the charger's timestamp)."""
        payload = start.message.payload
        tx = Transaction(evse_id=evse_id, start_s=parse_time(payload["timestamp"], "timestamp"),
                         transaction_id=start.transaction_id)
        self.transactions.append(tx)
        return tx

    def reference(self, evse_id: int, start_s: float, duration_s: float,
                  unit: str = "A") -> CompositeSchedule:
        return composite_schedule(self.profiles, evse_id=evse_id, start_s=start_s,
                                  duration_s=duration_s, unit=unit,  # type: ignore[arg-type]
                                  transactions=self.transactions,
                                  supply=Supply(evse_max_a=self.max_current_a))

    def evidence(self) -> str:
        """The profiles sent and their answers, as JSON (evidence)."""
        return json.dumps(self.sent, indent=2, default=str)


def composite_problems(book: ProfileBook, evse_id: int, duration_s: int, at_s: float,
                       unit: str = "A") -> tuple[list[str], CompositeSchedule, dict[str, Any]]:
    """Ask for the composite schedule and compare it with the reference starting ``at_s``."""
    answer = get_composite(book.charger, evse_id, duration_s, unit)
    ref = book.reference(evse_id, at_s, duration_s, unit)
    diffs = compare_composite(ref, answer, book.charger.version,
                              time_tol_s=COMPOSITE_TIME_TOL_S)
    if not diffs:
        return [], ref, answer
    return [f"composite schedule of {evse_id}: {format_differences(diffs)}"], ref, answer


# ----------------------------------------------------------------------------- capability
_UNITS_16 = {"Current": "A", "Power": "W"}


@dataclass(frozen=True)
class SmartCapability:
    """What a charger REPORTS over OCPP about its smart charging (never what lab.toml says).

    ``smart_charging`` is False only when the charger says so (2.x SmartChargingCtrlr
    Available or Enabled false; 1.6 SupportedFeatureProfiles without SmartCharging); a
    charger that does not report it is taken to have it, so the cases judge it.
    ``rate_units`` are the reported charging-schedule units (2.x SmartChargingCtrlr.RateUnit,
    1.6 ChargingScheduleAllowedChargingRateUnit), both when not reported.
    """

    smart_charging: bool
    rate_units: tuple[str, ...]
    reported: dict[str, str | None] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        return {"smart_charging": self.smart_charging, "rate_units": list(self.rate_units),
                "reported": self.reported}


def reported_capability(charger: Charger) -> SmartCapability:
    """Ask the charger (GetVariables / GetConfiguration) what smart charging it has; a
    CALLERROR to the question counts as nothing reported."""
    try:
        return _ask_capability(charger)
    except CallErrorReceived as error:
        return SmartCapability(True, ("A", "W"), {"callerror": str(error)})


def _ask_capability(charger: Charger) -> SmartCapability:
    if is_v16(charger):
        keys = ["SupportedFeatureProfiles", "ChargingScheduleAllowedChargingRateUnit"]
        answer = charger.call("GetConfiguration", {"key": keys})
        values: dict[str, str | None] = {k: None for k in keys}
        for item in answer.get("configurationKey") or []:
            if item.get("key") in values:
                values[item["key"]] = item.get("value")
        profiles = values["SupportedFeatureProfiles"]
        smart_ok = profiles is None or "SmartCharging" in _csl(profiles)
        units_text = values["ChargingScheduleAllowedChargingRateUnit"]
        units = tuple(_UNITS_16[u] for u in _csl(units_text or "") if u in _UNITS_16)
        return SmartCapability(smart_ok, units or ("A", "W"), values)
    names = ("Available", "Enabled", "RateUnit")
    answer = charger.call("GetVariables", {"getVariableData": [
        {"component": {"name": "SmartChargingCtrlr"}, "variable": {"name": n}} for n in names]})
    values = {n: None for n in names}
    for item in answer.get("getVariableResult") or []:
        name = (item.get("variable") or {}).get("name")
        if name in values and item.get("attributeStatus") == "Accepted":
            values[name] = item.get("attributeValue")
    smart_ok = all(str(values[n]).lower() != "false" for n in ("Available", "Enabled"))
    units = tuple(u for u in _csl(values["RateUnit"] or "") if u in ("A", "W"))
    return SmartCapability(smart_ok, units or ("A", "W"),
                           {f"SmartChargingCtrlr.{k}": v for k, v in values.items()})


def _csl(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


# ----------------------------------------------------------------------------- GetChargingProfiles
REPORT_WITHIN_S = 10.0
"""Lab seconds each ReportChargingProfiles frame may take to arrive."""


def get_profiles_request(request_id: int, *, evse_id: int | None = None,
                         profile_ids: Sequence[int] = (), purpose: str | None = None,
                         stack_level: int | None = None, sources: Sequence[str] = ()
                         ) -> dict[str, Any]:
    """A 2.x GetChargingProfiles request (no criterion: every profile)."""
    criteria: dict[str, Any] = {}
    if profile_ids:
        criteria["chargingProfileId"] = list(profile_ids)
    if purpose is not None:
        criteria["chargingProfilePurpose"] = purpose
    if stack_level is not None:
        criteria["stackLevel"] = stack_level
    if sources:
        criteria["chargingLimitSource"] = list(sources)
    request: dict[str, Any] = {"requestId": request_id, "chargingProfile": criteria}
    if evse_id is not None:
        request["evseId"] = evse_id
    return request


@dataclass(frozen=True)
class ProfileReport:
    """A GetChargingProfiles answer and the ReportChargingProfiles frames that followed."""

    request: dict[str, Any]
    status: str
    frames: tuple[dict[str, Any], ...]

    def reported(self) -> list[tuple[int, str, dict[str, Any]]]:
        """(evseId, chargingLimitSource, profile) for every profile in every frame."""
        return [(int(f.get("evseId", -1)), str(f.get("chargingLimitSource")), p)
                for f in self.frames for p in f.get("chargingProfile", [])]

    def evidence(self) -> dict[str, Any]:
        return {"request": self.request, "status": self.status, "frames": list(self.frames)}


def get_charging_profiles(charger: Charger, request: dict[str, Any],
                          within_s: float = REPORT_WITHIN_S) -> ProfileReport:
    """Send GetChargingProfiles; when Accepted, collect its ReportChargingProfiles frames
    (until one without ``tbc``). A missing frame raises ``ExpectationFailed``."""
    status = str(charger.call("GetChargingProfiles", request).get("status"))
    frames: list[dict[str, Any]] = []
    if status == "Accepted":
        while True:
            msg = charger.expect("ReportChargingProfiles", within_s,
                                 request_id=request["requestId"])
            frames.append(dict(msg.payload))
            if not msg.payload.get("tbc"):
                break
    return ProfileReport(request, status, tuple(frames))


def selected_profiles(book: ProfileBook, request: dict[str, Any]) -> dict[int, InstalledProfile]:
    """The profiles of the book a GetChargingProfiles ``request`` selects (2.0.1 K09: every
    criterion given must hold; evseId 0 = station-wide profiles; the bench's profiles are
    all installed by the CSO)."""
    criteria = request.get("chargingProfile") or {}
    ids = criteria.get("chargingProfileId") or []
    sources = criteria.get("chargingLimitSource") or []
    evse = request.get("evseId")
    found: dict[int, InstalledProfile] = {}
    for item in book.profiles:
        if ((evse is None or item.evse_id == evse)
                and (not ids or item.profile.id in ids)
                and criteria.get("chargingProfilePurpose") in (None, item.purpose.value)
                and criteria.get("stackLevel") in (None, item.stack_level)
                and (not sources or "CSO" in sources)):
            found[item.profile.id] = item
    return found


def report_problems(report: ProfileReport, wanted: dict[int, InstalledProfile],
                    version: str) -> list[str]:
    """Judge a GetChargingProfiles exchange against the profiles it should select: status
    (Accepted / NoProfiles), exactly those ids, each in a frame of its EVSE with source CSO
    and the content the bench sent (stack level, purpose, kind, unit, periods, start,
    duration)."""
    what = f"GetChargingProfiles {json.dumps(report.request, sort_keys=True)}"
    status = "Accepted" if wanted else "NoProfiles"
    if report.status != status:
        return [(f"{what}: the charger answered {report.status!r}, expected {status!r} "
                f"(profiles {sorted(wanted)} match)")]
    problems: list[str] = []
    seen: list[Any] = []
    for evse_id, source, data in report.reported():
        pid = data.get("id")
        seen.append(pid)
        item = wanted.get(pid) if isinstance(pid, int) else None
        if item is None:
            continue
        if evse_id != item.evse_id:
            problems.append(f"{what}: profile {pid} reported for evseId {evse_id}, it was set "
                            f"on {item.evse_id}")
        if source != "CSO":
            problems.append(f"{what}: profile {pid} reported with chargingLimitSource "
                            f"{source!r}, expected 'CSO' (set by the CSMS)")
        try:
            got = _content(parse_charging_profile(data, version))
        except ProfileError as error:
            problems.append(f"{what}: profile {pid} is malformed: {error}")
            continue
        sent = _content(item.profile)
        if got != sent:
            problems.append(f"{what}: profile {pid} reported as {got}, the bench set {sent}")
    extra = sorted(set(seen) - set(wanted), key=str)
    missing = sorted(set(wanted) - set(seen))
    if extra:
        problems.append(f"{what}: reported profiles {extra} that do not match the criteria "
                        f"(expected exactly {sorted(wanted)})")
    if missing:
        problems.append(f"{what}: did not report profiles {missing} (expected {sorted(wanted)})")
    if len(seen) != len(set(seen)):
        problems.append(f"{what}: reported a profile more than once: {sorted(seen, key=str)}")
    return problems


def _content(profile: ChargingProfile) -> dict[str, Any]:
    schedule = profile.schedule
    return {"stackLevel": profile.stack_level, "purpose": profile.purpose.value,
            "kind": profile.kind.value, "unit": schedule.unit,
            "periods": [(p.start_period_s, p.limit) for p in schedule.periods],
            "startSchedule": None if schedule.start_schedule_s is None
            else round(schedule.start_schedule_s),
            "duration": schedule.duration_s}


def expect_status(status: str, wanted: str, what: str) -> None:
    """Fail with a readable message unless the charger answered ``wanted``."""
    if status != wanted:
        raise DeviceFailure(f"{what}: the charger answered {status!r}, expected {wanted!r}")


@dataclass(frozen=True)
class Follow:
    """How the measured current kept to the allowed one."""

    samples: int
    judged: int
    over: int
    worst_excess_a: float
    first_over_s: float | None


def follow_problems(t_lab_s: np.ndarray, current_a: np.ndarray,
                    allowed_a: Sequence[float | None], *, response_s: float = RESPONSE_S,
                    accuracy_a: float = 0.2, start_s: float | None = None
                    ) -> tuple[list[str], Follow]:
    """Judge measured current against the allowed limit at each sample.

    A sample is judged once ``response_s`` has passed since the allowed limit last changed
    (or since ``start_s``): then it must not exceed the limit + ``accuracy_a``.
    """
    allowed = np.array([np.nan if a is None else a for a in allowed_a], dtype=float)
    since = float(t_lab_s[0]) if start_s is None else start_s
    over = judged = 0
    worst, first = 0.0, None
    previous = allowed[0] if len(allowed) else np.nan
    for t, value, limit in zip(t_lab_s, current_a, allowed, strict=True):
        if not (limit == previous or (np.isnan(limit) and np.isnan(previous))):
            since, previous = float(t), limit
        if t - since < response_s or np.isnan(limit) or np.isnan(value):
            continue
        judged += 1
        excess = float(value) - float(limit)
        if excess > accuracy_a:
            over += 1
            if first is None:
                first = float(t - t_lab_s[0])
            worst = max(worst, excess)
    follow = Follow(len(t_lab_s), judged, over, round(worst, 3), first)
    if not judged:
        return [("meter: no sample could be judged (recording shorter than the response "
                 f"time {response_s:g} s after the last limit change)")], follow
    if not over:
        return [], follow
    return [(f"meter: the measured current exceeded the schedule's limit by up to {worst:.2f} A "
             f"(+{accuracy_a:g} A accuracy allowed) in {over} of {judged} judged samples, "
             f"first {first:.1f} s into the recording, more than {response_s:g} s after the "
             "limit changed")], follow


def _iso(unix_s: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
