"""The profiles a conformant charger holds, kept by the same rules it must follow.

Install (SetChargingProfile) replaces a profile with the same id; 1.6 also replaces one
with the same stackLevel and purpose on the same connector (1.6 §5.16.3, §3.13.2). In 2.x
a second profile with the same stackLevel and purpose on the same EVSE (same transaction
for a TxProfile) whose validity overlaps is a conflict the charger must reject (2.0.1
K01.FR.06 / K01.FR.39 (verify)): ``install`` raises ``ProfileConflictError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from testbench.schedule.profiles import (
    VERSIONS,
    InstalledProfile,
    Kind,
    ProfileConflictError,
    ProfileError,
    Purpose,
    parse_set_charging_profile,
    wire_purpose,
)


class ProfileSet:
    """Installed profiles of one charger speaking ``version``; iterable for the composite."""

    def __init__(self, version: str, profiles: Iterable[InstalledProfile] = ()) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}, got {version!r}")
        self.version = version
        self._items: list[InstalledProfile] = []
        for item in profiles:
            self.install(item)

    def __iter__(self) -> Iterator[InstalledProfile]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def install(self, item: InstalledProfile) -> list[InstalledProfile]:
        """Install ``item``; return the profiles it replaced."""
        new = item.profile
        replaced = [old for old in self._items if self._replaces(item, old)]
        if self.version != "1.6":
            for old in self._items:
                if old in replaced or old.profile.id == new.id:
                    continue
                if (old.evse_id == item.evse_id and old.purpose is new.purpose
                        and old.stack_level == new.stack_level
                        and old.profile.transaction_id == new.transaction_id
                        and _overlap(old, item)):
                    raise ProfileConflictError(
                        f"chargingProfile {new.id}",
                        f"{new.purpose.value} at stackLevel {new.stack_level} on EVSE "
                        f"{item.evse_id} overlaps profile {old.profile.id} in time (2.0.1 "
                        "K01.FR.06)", "use another stackLevel, the same id, or clear the old one")
        self._items = [old for old in self._items if old not in replaced] + [item]
        return replaced

    def _replaces(self, item: InstalledProfile, old: InstalledProfile) -> bool:
        if old.profile.id == item.profile.id:
            return True
        return (self.version == "1.6" and old.evse_id == item.evse_id
                and old.purpose is item.purpose and old.stack_level == item.stack_level)

    def set_charging_profile(self, payload: Mapping[str, Any],
                             installed_at_s: float | None = None) -> InstalledProfile:
        """Parse a SetChargingProfile request and install its profile."""
        item = parse_set_charging_profile(payload, self.version, installed_at_s)
        self.install(item)
        return item

    def clear(self, *, profile_id: int | None = None, evse_id: int | None = None,
              purpose: Purpose | str | None = None,
              stack_level: int | None = None) -> list[InstalledProfile]:
        """ClearChargingProfile: by id, else by every criterion given (none: all). Returns
        the removed profiles (empty: the charger answers Unknown)."""
        wanted = _purpose(purpose, self.version) if purpose is not None else None
        if profile_id is not None:
            removed = [i for i in self._items if i.profile.id == profile_id]
        else:
            removed = [i for i in self._items
                       if (evse_id is None or i.evse_id == evse_id)
                       and (wanted is None or i.purpose is wanted)
                       and (stack_level is None or i.stack_level == stack_level)]
        self._items = [i for i in self._items if i not in removed]
        return removed

    def clear_request(self, payload: Mapping[str, Any]) -> list[InstalledProfile]:
        """Apply a ClearChargingProfile request payload (1.6 or 2.x shape)."""
        if self.version == "1.6":
            return self.clear(profile_id=payload.get("id"), evse_id=payload.get("connectorId"),
                              purpose=payload.get("chargingProfilePurpose"),
                              stack_level=payload.get("stackLevel"))
        criteria = payload.get("chargingProfileCriteria") or {}
        return self.clear(profile_id=payload.get("chargingProfileId"),
                          evse_id=criteria.get("evseId"),
                          purpose=criteria.get("chargingProfilePurpose"),
                          stack_level=criteria.get("stackLevel"))

    def update_dynamic(self, profile_id: int, update: Mapping[str, Any]) -> InstalledProfile:
        """Apply a 2.1 ``scheduleUpdate`` (UpdateDynamicSchedule push or an Accepted
        PullDynamicScheduleUpdate answer; camelCase limit, dischargeLimit, setpoint) to every
        period of the Dynamic profile ``profile_id``; returns the updated profile.

        The set then holds the new values for all times: a judge of a time series keeps the
        moment of the update itself. Raises ``ProfileError`` for an unknown id, a profile
        that is not Dynamic, or a positive dischargeLimit."""
        item = next((i for i in self._items if i.profile.id == profile_id), None)
        if item is None:
            raise ProfileError("scheduleUpdate.chargingProfileId", f"no profile {profile_id} "
                               "is installed", "update an installed Dynamic profile")
        if item.profile.kind is not Kind.DYNAMIC:
            raise ProfileError("scheduleUpdate.chargingProfileId", f"profile {profile_id} is "
                               f"{item.profile.kind.value}, not Dynamic",
                               "only Dynamic profiles take schedule updates")
        fields = {"limit": "limit", "dischargeLimit": "discharge_limit", "setpoint": "setpoint"}
        changes = {name: float(update[key]) for key, name in fields.items()
                   if update.get(key) is not None}
        if changes.get("discharge_limit", 0.0) > 0:
            raise ProfileError("scheduleUpdate.dischargeLimit", "is positive",
                               "discharge limits are 0 or negative")
        schedules = tuple(replace(s, periods=tuple(replace(p, **changes)  # type: ignore[arg-type]
                                                   for p in s.periods))
                          for s in item.profile.schedules)
        new = replace(item, profile=replace(item.profile, schedules=schedules))
        self._items = [new if i is item else i for i in self._items]
        return new

    def end_transaction(self, evse_id: int,
                        transaction_id: str | int | None = None) -> list[InstalledProfile]:
        """Drop the TxProfiles of a finished transaction (1.6 §3.13.1: "SHOULD be deleted")."""
        removed = [i for i in self._items if i.purpose is Purpose.TX and i.evse_id == evse_id
                   and (transaction_id is None or i.profile.transaction_id is None
                        or i.profile.transaction_id == str(transaction_id))]
        self._items = [i for i in self._items if i not in removed]
        return removed


def _purpose(value: Purpose | str, version: str) -> Purpose:
    if isinstance(value, Purpose):
        return value
    for purpose in Purpose:
        if value in (purpose.value, wire_purpose(purpose, version)):
            return purpose
    raise ProfileError("chargingProfilePurpose", f"{value!r} is not a purpose",
                       "use one of " + ", ".join(wire_purpose(p, version) for p in Purpose))


def _overlap(a: InstalledProfile, b: InstalledProfile) -> bool:
    def window(item: InstalledProfile) -> tuple[float, float]:
        start, end = item.profile.valid_from_s, item.profile.valid_to_s
        return (-math.inf if start is None else start, math.inf if end is None else end)

    (a0, a1), (b0, b1) = window(a), window(b)
    return a0 < b1 and b0 < a1
