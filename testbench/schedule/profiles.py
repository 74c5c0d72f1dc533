"""Charging profiles as OCPP sends them (1.6, 2.0.1, 2.1), parsed into typed, checked data.

The payloads are the camelCase JSON of the wire: ``csChargingProfiles`` (1.6) or
``chargingProfile`` (2.x) for one profile, a whole ``SetChargingProfile`` request for an
installed one (it carries the connector / EVSE). Times become Unix seconds (floats).

Checks follow the specifications (OCPP 1.6 §3.13 and §7; OCPP 2.0.1 K01 requirements,
cited where they apply); each error names the field path, what is wrong and how to fix it.

What the reference uses, per version:

- 1.6: ChargePointMaxProfile (mapped to ``Purpose.STATION_MAX``), TxDefaultProfile,
  TxProfile; Absolute, Recurring (Daily, Weekly), Relative; A and W; numberPhases.
- 2.0.1 adds ChargingStationExternalConstraints and phaseToUse. Of the 1..3
  chargingSchedules only the first is used (more are only offered to ISO 15118 EVs).
- 2.1 adds PriorityCharging and LocalGeneration (both used, see ``composite``), the Dynamic
  kind (anchored at startSchedule, else when installed), ``limit`` made optional (absent:
  this period limits nothing), dischargeLimit and setpoint (used), operationMode (carried).
  limitAtSoC is parsed (``ChargingSchedule.limit_at_soc``) but not part of the composite:
  it depends on the EV's state of charge, which a judge applies with
  ``ChargingSchedule.limit_above_soc``. Parsed but not applied: limit_L2/limit_L3,
  setpointReactive, v2x curves. randomizedDelay is carried so a comparison can widen its
  time tolerance. useLocalTime = true is refused (the reference works in UTC only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from testbench.errors import TestbenchError

OcppVersion = Literal["1.6", "2.0.1", "2.1"]
RateUnit = Literal["A", "W"]
VERSIONS: tuple[str, ...] = ("1.6", "2.0.1", "2.1")


class ProfileError(TestbenchError, ValueError):
    """A charging profile (or request carrying one) is malformed or breaks an OCPP rule."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        self.path = path
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: {problem}. Fix: {fix}")


class ProfileConflictError(ProfileError):
    """A profile conflicts with one already installed; a conformant charger rejects it."""


class Purpose(StrEnum):
    """chargingProfilePurpose, with 2.x names (1.6 ChargePointMaxProfile is STATION_MAX)."""

    STATION_MAX = "ChargingStationMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"
    EXTERNAL = "ChargingStationExternalConstraints"
    PRIORITY = "PriorityCharging"
    LOCAL_GENERATION = "LocalGeneration"


class Kind(StrEnum):
    """chargingProfileKind."""

    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"
    DYNAMIC = "Dynamic"


class Recurrency(StrEnum):
    """recurrencyKind: the schedule restarts every day or every 7 days from startSchedule."""

    DAILY = "Daily"
    WEEKLY = "Weekly"

    @property
    def period_s(self) -> int:
        return 86_400 if self is Recurrency.DAILY else 7 * 86_400


_PURPOSES: dict[str, dict[str, Purpose]] = {
    "1.6": {
        "ChargePointMaxProfile": Purpose.STATION_MAX,
        "TxDefaultProfile": Purpose.TX_DEFAULT,
        "TxProfile": Purpose.TX,
    },
    "2.0.1": {
        "ChargingStationMaxProfile": Purpose.STATION_MAX,
        "TxDefaultProfile": Purpose.TX_DEFAULT,
        "TxProfile": Purpose.TX,
        "ChargingStationExternalConstraints": Purpose.EXTERNAL,
    },
}
_PURPOSES["2.1"] = {
    **_PURPOSES["2.0.1"],
    "PriorityCharging": Purpose.PRIORITY,
    "LocalGeneration": Purpose.LOCAL_GENERATION,
}
_KINDS: dict[str, tuple[Kind, ...]] = {
    "1.6": (Kind.ABSOLUTE, Kind.RECURRING, Kind.RELATIVE),
    "2.0.1": (Kind.ABSOLUTE, Kind.RECURRING, Kind.RELATIVE),
    "2.1": (Kind.ABSOLUTE, Kind.RECURRING, Kind.RELATIVE, Kind.DYNAMIC),
}
_OPERATION_MODES = (
    "Idle", "ChargingOnly", "CentralSetpoint", "ExternalSetpoint", "ExternalLimits",
    "CentralFrequency", "LocalFrequency", "LocalLoadBalancing",
)
# 2.1: limit may be absent only where the operation mode does not need it.
_LIMIT_OPTIONAL_MODES = (
    "CentralSetpoint", "ExternalSetpoint", "ExternalLimits", "LocalFrequency",
    "LocalLoadBalancing", "Idle", "CentralFrequency",
)


def wire_purpose(purpose: Purpose, version: str) -> str:
    """The purpose's name on the wire for ``version`` (1.6 says ChargePointMaxProfile)."""
    if version == "1.6" and purpose is Purpose.STATION_MAX:
        return "ChargePointMaxProfile"
    return purpose.value


@dataclass(frozen=True)
class SchedulePeriod:
    """One chargingSchedulePeriod; ``limit`` None only in 2.1 (operation mode without limit)."""

    start_period_s: int
    limit: float | None
    number_phases: int | None = None
    phase_to_use: int | None = None
    discharge_limit: float | None = None
    setpoint: float | None = None
    operation_mode: str | None = None


@dataclass(frozen=True)
class ChargingSchedule:
    """One chargingSchedule: periods in increasing ``start_period_s``, the first at 0."""

    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    start_schedule_s: float | None = None
    duration_s: int | None = None
    min_charging_rate: float | None = None
    id: int | None = None
    randomized_delay_s: int = 0
    limit_at_soc: tuple[float, float] | None = None  # 2.1 limitAtSoC: (soc %, limit)

    def limit_above_soc(self, limit: float | None, soc_pct: float) -> float | None:
        """``limit`` with 2.1 limitAtSoC applied at the EV's state of charge ``soc_pct``
        (at or above its ``soc`` the lower of both holds; None: no limit)."""
        if self.limit_at_soc is None or soc_pct < self.limit_at_soc[0]:
            return limit
        cap = self.limit_at_soc[1]
        return cap if limit is None else min(limit, cap)


@dataclass(frozen=True)
class ChargingProfile:
    """One chargingProfile (2.x) / csChargingProfiles (1.6), version-neutral."""

    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedules: tuple[ChargingSchedule, ...]
    recurrency: Recurrency | None = None
    valid_from_s: float | None = None
    valid_to_s: float | None = None
    transaction_id: str | None = None
    version: str = "2.0.1"

    @property
    def schedule(self) -> ChargingSchedule:
        """The schedule the composite uses (the first; see the module note)."""
        return self.schedules[0]


@dataclass(frozen=True)
class InstalledProfile:
    """A profile as installed on a charger: on ``evse_id`` (0 = whole station), at a time.

    ``installed_at_s`` is when the charger accepted it (None: unknown). It stands in for an
    absent validFrom ("valid as soon as received") and anchors Relative / Dynamic profiles
    that have no transaction to start from.
    """

    profile: ChargingProfile
    evse_id: int
    installed_at_s: float | None = None

    @property
    def purpose(self) -> Purpose:
        return self.profile.purpose

    @property
    def stack_level(self) -> int:
        return self.profile.stack_level


# ----------------------------------------------------------------------------- parsing


def parse_charging_profile(data: Mapping[str, Any], version: str,
                           path: str | None = None) -> ChargingProfile:
    """Parse one profile object: 1.6 ``csChargingProfiles`` or 2.x ``chargingProfile``.

    Raises ``ProfileError`` naming the offending field. Rules that need the connector / EVSE
    are checked by ``parse_set_charging_profile``.
    """
    _check_version(version)
    v16 = version == "1.6"
    path = path or ("csChargingProfiles" if v16 else "chargingProfile")
    obj = _mapping(data, path)
    pid = _int(obj, "chargingProfileId" if v16 else "id", path)
    stack = _int(obj, "stackLevel", path)
    if stack < 0:
        raise ProfileError(f"{path}.stackLevel", f"{stack} is negative",
                           "use 0 (lowest priority) or higher")
    purpose_text = _str(obj, "chargingProfilePurpose", path)
    purposes = _PURPOSES[version]
    if purpose_text not in purposes:
        hint = ""
        if purpose_text == "ChargePointMaxProfile":
            hint = " (2.x calls it ChargingStationMaxProfile)"
        elif purpose_text == "ChargingStationMaxProfile":
            hint = " (1.6 calls it ChargePointMaxProfile)"
        raise ProfileError(f"{path}.chargingProfilePurpose",
                           f"{purpose_text!r} is not an OCPP {version} purpose{hint}",
                           "use one of " + ", ".join(purposes))
    purpose = purposes[purpose_text]
    kind_text = _str(obj, "chargingProfileKind", path)
    kinds = {k.value: k for k in _KINDS[version]}
    if kind_text not in kinds:
        raise ProfileError(f"{path}.chargingProfileKind",
                           f"{kind_text!r} is not an OCPP {version} profile kind",
                           "use one of " + ", ".join(kinds))
    kind = kinds[kind_text]
    recurrency: Recurrency | None = None
    rec_text = _opt_str(obj, "recurrencyKind", path)
    if rec_text is not None:
        try:
            recurrency = Recurrency(rec_text)
        except ValueError:
            raise ProfileError(f"{path}.recurrencyKind", f"{rec_text!r} is not a recurrency kind",
                               "use Daily or Weekly") from None
    if kind is Kind.RECURRING and recurrency is None:
        raise ProfileError(f"{path}.recurrencyKind",
                           "missing for a Recurring profile: it says how often it restarts",
                           "add recurrencyKind Daily or Weekly")
    valid_from = _opt_time(obj, "validFrom", path)
    valid_to = _opt_time(obj, "validTo", path)
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise ProfileError(f"{path}.validTo", "is not after validFrom: the profile is never valid",
                           "set validTo later than validFrom")
    tx_raw = obj.get("transactionId")
    transaction_id: str | None = None
    if tx_raw is not None:
        if v16 and not (isinstance(tx_raw, int) and not isinstance(tx_raw, bool)):
            raise ProfileError(f"{path}.transactionId", f"{tx_raw!r} is not an integer",
                               "1.6 transaction ids are integers")
        if not v16 and not isinstance(tx_raw, str):
            raise ProfileError(f"{path}.transactionId", f"{tx_raw!r} is not a string",
                               "2.x transaction ids are strings")
        if purpose is not Purpose.TX and not (version == "2.1" and purpose is Purpose.PRIORITY):
            raise ProfileError(f"{path}.transactionId",
                               f"given for a {purpose_text}; only a TxProfile names a transaction",
                               "drop transactionId or use purpose TxProfile")
        transaction_id = str(tx_raw)

    if v16:
        raw_schedules: list[Any] = [obj.get("chargingSchedule")]
        if raw_schedules[0] is None:
            raise _missing(path, "chargingSchedule")
        spaths = [f"{path}.chargingSchedule"]
    else:
        raw = obj.get("chargingSchedule")
        if raw is None:
            raise _missing(path, "chargingSchedule")
        if not isinstance(raw, list) or not 1 <= len(raw) <= 3:
            raise ProfileError(f"{path}.chargingSchedule", "is not a list of 1 to 3 schedules",
                               "send chargingSchedule as a JSON array with 1..3 entries")
        raw_schedules = raw
        spaths = [f"{path}.chargingSchedule[{i}]" for i in range(len(raw))]
    schedules = tuple(_parse_schedule(s, p, version, kind, purpose)
                      for s, p in zip(raw_schedules, spaths, strict=True))
    return ChargingProfile(id=pid, stack_level=stack, purpose=purpose, kind=kind,
                           schedules=schedules, recurrency=recurrency, valid_from_s=valid_from,
                           valid_to_s=valid_to, transaction_id=transaction_id, version=version)


def parse_set_charging_profile(payload: Mapping[str, Any], version: str,
                               installed_at_s: float | None = None) -> InstalledProfile:
    """Parse a SetChargingProfile request (1.6 ``connectorId`` + ``csChargingProfiles``,
    2.x ``evseId`` + ``chargingProfile``) and check the connector / EVSE rules."""
    _check_version(version)
    obj = _mapping(payload, "SetChargingProfile")
    v16 = version == "1.6"
    evse_key = "connectorId" if v16 else "evseId"
    evse_id = _int(obj, evse_key, "SetChargingProfile")
    if evse_id < 0:
        raise ProfileError(f"SetChargingProfile.{evse_key}", f"{evse_id} is negative",
                           "use 0 for the whole station or an existing connector / EVSE id")
    key = "csChargingProfiles" if v16 else "chargingProfile"
    if key not in obj:
        raise _missing("SetChargingProfile", key)
    profile = parse_charging_profile(obj[key], version, path=f"SetChargingProfile.{key}")
    check_placement(profile, evse_id, path=f"SetChargingProfile.{evse_key}")
    return InstalledProfile(profile=profile, evse_id=evse_id, installed_at_s=installed_at_s)


def parse_remote_start_profile(payload: Mapping[str, Any], version: str,
                               evse_id: int | None = None,
                               installed_at_s: float | None = None) -> InstalledProfile:
    """The TxProfile of a 1.6 RemoteStartTransaction / 2.x RequestStartTransaction request.

    It has no transactionId yet and applies to the transaction it starts, on the request's
    connectorId / evseId (or ``evse_id`` when the charger chose one).
    """
    _check_version(version)
    root = "RemoteStartTransaction" if version == "1.6" else "RequestStartTransaction"
    obj = _mapping(payload, root)
    if "chargingProfile" not in obj:
        raise _missing(root, "chargingProfile")
    profile = parse_charging_profile(obj["chargingProfile"], version,
                                     path=f"{root}.chargingProfile")
    if profile.purpose is not Purpose.TX:
        raise ProfileError(f"{root}.chargingProfile.chargingProfilePurpose",
                           f"is {wire_purpose(profile.purpose, version)}; a remote start "
                           "carries a TxProfile", "send purpose TxProfile")
    key = "connectorId" if version == "1.6" else "evseId"
    chosen = _opt_int(obj, key, root) if evse_id is None else evse_id
    if chosen is None or chosen <= 0:
        raise ProfileError(f"{root}.{key}", "names no EVSE the transaction runs on",
                           "pass evse_id= with the EVSE the charger started it on")
    return InstalledProfile(profile=profile, evse_id=chosen, installed_at_s=installed_at_s)


def check_placement(profile: ChargingProfile, evse_id: int, path: str = "evseId") -> None:
    """Check where a profile may be installed (1.6 §3.13.1; 2.0.1 K01.FR.03/16/38 (verify))."""
    name = wire_purpose(profile.purpose, profile.version)
    where = "connector" if profile.version == "1.6" else "EVSE"
    if profile.purpose is Purpose.STATION_MAX and evse_id != 0:
        raise ProfileError(path, f"{name} installed on {where} {evse_id}; it only exists for "
                           f"the whole station", f"install it on {where} 0")
    if profile.purpose is Purpose.TX and evse_id == 0:
        raise ProfileError(path, f"TxProfile installed on {where} 0; it belongs to one "
                           "transaction on one " + where, f"install it on the transaction's {where}")
    if profile.version != "1.6" and profile.purpose is Purpose.TX and profile.transaction_id is None:
        raise ProfileError(path.rsplit(".", 1)[0] + ".chargingProfile.transactionId",
                           "missing for a TxProfile (2.x)",
                           "name the transaction the profile is for")


def _parse_schedule(data: Any, path: str, version: str, kind: Kind,
                    purpose: Purpose) -> ChargingSchedule:
    obj = _mapping(data, path)
    unit = _str(obj, "chargingRateUnit", path)
    if unit not in ("A", "W"):
        raise ProfileError(f"{path}.chargingRateUnit", f"{unit!r} is not a rate unit",
                           "use A (current per phase) or W (power, all phases)")
    start = _opt_time(obj, "startSchedule", path)
    v2 = version != "1.6"
    if v2 and kind in (Kind.ABSOLUTE, Kind.RECURRING) and start is None:
        raise ProfileError(f"{path}.startSchedule", f"missing for a {kind.value} profile "
                           "(2.0.1 K01.FR.40)", "give the instant the schedule starts")
    if v2 and kind is Kind.RELATIVE and start is not None:
        raise ProfileError(f"{path}.startSchedule", "given for a Relative profile (2.0.1 "
                           "K01.FR.41): it starts with the transaction", "drop startSchedule")
    if kind is Kind.RECURRING and start is None:
        raise ProfileError(f"{path}.startSchedule", "missing for a Recurring profile: the "
                           "recurrence counts from it", "give the first occurrence's start")
    if v2 and kind is Kind.RELATIVE and purpose is Purpose.STATION_MAX:
        raise ProfileError(f"{path}", "a ChargingStationMaxProfile cannot be Relative "
                           "(2.0.1 K01.FR.38)", "use Absolute or Recurring")
    duration = _opt_int(obj, "duration", path)
    if duration is not None and duration < 0:
        raise ProfileError(f"{path}.duration", f"{duration} is negative",
                           "give the schedule's length in seconds, or omit it")
    if obj.get("useLocalTime") is True:
        raise ProfileError(f"{path}.useLocalTime", "is true; the reference schedule works in "
                           "UTC only", "send UTC times with useLocalTime false or absent")
    delay = _opt_int(obj, "randomizedDelay", path) or 0
    if delay < 0:
        raise ProfileError(f"{path}.randomizedDelay", f"{delay} is negative", "use 0 or more")
    min_rate = _opt_number(obj, "minChargingRate", path)
    at_soc = _limit_at_soc(obj, path) if version == "2.1" else None
    sid = _opt_int(obj, "id", path)
    if v2 and sid is None:
        raise _missing(path, "id")
    raw_periods = obj.get("chargingSchedulePeriod")
    if raw_periods is None:
        raise _missing(path, "chargingSchedulePeriod")
    if not isinstance(raw_periods, list) or not raw_periods:
        raise ProfileError(f"{path}.chargingSchedulePeriod", "is not a non-empty list",
                           "give at least one period, the first with startPeriod 0")
    periods: list[SchedulePeriod] = []
    for i, raw in enumerate(raw_periods):
        ppath = f"{path}.chargingSchedulePeriod[{i}]"
        period = _parse_period(raw, ppath, version)
        if i == 0 and period.start_period_s != 0:
            raise ProfileError(f"{ppath}.startPeriod", f"the first period starts at "
                               f"{period.start_period_s}, not 0 (2.0.1 K01.FR.31)",
                               "start the first period at 0")
        if periods and period.start_period_s <= periods[-1].start_period_s:
            raise ProfileError(f"{ppath}.startPeriod", f"{period.start_period_s} is not after the "
                               f"previous period's {periods[-1].start_period_s} (2.0.1 "
                               "K01.FR.35)", "list periods in increasing startPeriod order")
        periods.append(period)
    return ChargingSchedule(unit=unit, periods=tuple(periods),  # type: ignore[arg-type]
                            start_schedule_s=start, duration_s=duration,
                            min_charging_rate=min_rate, id=sid, randomized_delay_s=delay,
                            limit_at_soc=at_soc)


def _limit_at_soc(obj: Mapping[str, Any], path: str) -> tuple[float, float] | None:
    raw = obj.get("limitAtSoC")
    if raw is None:
        return None
    item = _mapping(raw, f"{path}.limitAtSoC")
    soc = _opt_number(item, "soc", f"{path}.limitAtSoC")
    limit = _opt_number(item, "limit", f"{path}.limitAtSoC")
    if soc is None or limit is None:
        raise ProfileError(f"{path}.limitAtSoC", "needs both soc and limit",
                           "send {\"soc\": <0..100>, \"limit\": <rate>}")
    if not 0 <= soc <= 100:
        raise ProfileError(f"{path}.limitAtSoC.soc", f"{soc:g} is not a percentage",
                           "use 0..100")
    return soc, limit


def _parse_period(data: Any, path: str, version: str) -> SchedulePeriod:
    obj = _mapping(data, path)
    start = _int(obj, "startPeriod", path)
    if start < 0:
        raise ProfileError(f"{path}.startPeriod", f"{start} is negative",
                           "give seconds from the start of the schedule, 0 or more")
    mode = _opt_str(obj, "operationMode", path) if version == "2.1" else None
    if mode is not None and mode not in _OPERATION_MODES:
        raise ProfileError(f"{path}.operationMode", f"{mode!r} is not an operation mode",
                           "use one of " + ", ".join(_OPERATION_MODES))
    limit = _opt_number(obj, "limit", path)
    if limit is None and not (version == "2.1" and mode in _LIMIT_OPTIONAL_MODES):
        raise _missing(path, "limit")
    if limit is not None and limit < 0 and version != "2.1":
        raise ProfileError(f"{path}.limit", f"{limit:g} is negative",
                           f"OCPP {version} limits are 0 or more")
    phases = _opt_int(obj, "numberPhases", path)
    if phases is not None and not 1 <= phases <= 3:
        raise ProfileError(f"{path}.numberPhases", f"{phases} is not 1, 2 or 3",
                           "use 1..3, or omit it (3 is assumed)")
    phase_to_use = _opt_int(obj, "phaseToUse", path) if version != "1.6" else None
    if phase_to_use is not None:
        if not 1 <= phase_to_use <= 3:
            raise ProfileError(f"{path}.phaseToUse", f"{phase_to_use} is not 1, 2 or 3",
                               "name phase 1, 2 or 3")
        if phases != 1:
            raise ProfileError(f"{path}.phaseToUse", "given without numberPhases = 1 "
                               "(2.0.1 K01.FR.19)", "set numberPhases to 1 or drop phaseToUse")
    discharge = _opt_number(obj, "dischargeLimit", path) if version == "2.1" else None
    if discharge is not None and discharge > 0:
        raise ProfileError(f"{path}.dischargeLimit", f"{discharge:g} is positive",
                           "discharge limits are 0 or negative")
    setpoint = _opt_number(obj, "setpoint", path) if version == "2.1" else None
    return SchedulePeriod(start_period_s=start, limit=limit, number_phases=phases,
                          phase_to_use=phase_to_use, discharge_limit=discharge,
                          setpoint=setpoint, operation_mode=mode)


# ----------------------------------------------------------------------------- field helpers


def parse_time(text: Any, path: str) -> float:
    """An OCPP date-time (RFC 3339; 'Z' or an offset; no offset taken as UTC) -> Unix s."""
    if not isinstance(text, str):
        raise ProfileError(path, f"{text!r} is not a date-time string",
                           "use RFC 3339, e.g. 2024-01-01T08:00:00Z")
    try:
        moment = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        raise ProfileError(path, f"{text!r} is not an RFC 3339 date-time",
                           "use e.g. 2024-01-01T08:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _check_version(version: str) -> None:
    if version not in VERSIONS:
        raise ProfileError("version", f"{version!r} is not an OCPP version",
                           "use " + ", ".join(VERSIONS))


def _missing(path: str, key: str) -> ProfileError:
    return ProfileError(f"{path}.{key}", "is missing", f"add the required field {key}")


def _mapping(data: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ProfileError(path, f"is a {type(data).__name__}, not a JSON object",
                           "send an object with camelCase fields")
    return data


def _int(obj: Mapping[str, Any], key: str, path: str) -> int:
    if key not in obj:
        raise _missing(path, key)
    value = _opt_int(obj, key, path)
    assert value is not None
    return value


def _opt_int(obj: Mapping[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{path}.{key}", f"{value!r} is not an integer", "send a JSON integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ProfileError(f"{path}.{key}", f"{value!r} is not an integer",
                               "send a whole number")
        value = int(value)
    return value


def _opt_number(obj: Mapping[str, Any], key: str, path: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{path}.{key}", f"{value!r} is not a number", "send a JSON number")
    return float(value)


def _str(obj: Mapping[str, Any], key: str, path: str) -> str:
    if key not in obj:
        raise _missing(path, key)
    value = _opt_str(obj, key, path)
    assert value is not None
    return value


def _opt_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProfileError(f"{path}.{key}", f"{value!r} is not a string", "send a JSON string")
    return value


def _opt_time(obj: Mapping[str, Any], key: str, path: str) -> float | None:
    value = obj.get(key)
    return None if value is None else parse_time(value, f"{path}.{key}")

