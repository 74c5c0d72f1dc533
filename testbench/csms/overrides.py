"""Per-charger overrides of the central system's answers, and the dynamic values it serves.

A test may replace the bench's default answer to one action of one charger
(``ChargerHandle.set_answer``): a fixed response payload (schema-checked when set) or a
callable ``answer(request) -> response`` (schema-checked on every use; returning ``None``
gives the default answer, raising ``CallErrorReply`` answers with a CALLERROR). The default
handler still runs first, so the bench's view of the charger (transactions, boot status)
stays current; only the reply changes. The per-test baseline clears every override.

``DynamicValues`` remembers, per charging profile id, the dynamic values the bench set for a
2.1 Dynamic profile (its SetChargingProfile, then every Accepted UpdateDynamicSchedule and
every Accepted PullDynamicScheduleUpdate answer): the default answer to
PullDynamicScheduleUpdate serves them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from testbench.csms import schemas
from testbench.errors import BenchError

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any] | None]

UPDATE_FIELDS = ("limit", "limit_L2", "limit_L3", "dischargeLimit", "dischargeLimit_L2",
                 "dischargeLimit_L3", "setpoint", "setpoint_L2", "setpoint_L3",
                 "setpointReactive", "setpointReactive_L2", "setpointReactive_L3")
"""The 2.1 ChargingScheduleUpdateType fields (those a Dynamic profile's period may carry)."""


def handled_actions(version: str) -> frozenset[str]:
    """Actions the central system answers for a charger of ``version``."""
    from testbench.csms.server import CONNECTION_CLASSES  # late: server imports the handlers

    for cls in CONNECTION_CLASSES.values():
        if cls.version == version:
            return frozenset(cls._handlers)
    raise BenchError(f"no central-system connection class for OCPP {version!r}")


def check_answer(version: str, action: str, answer: Any) -> None:
    """BenchError naming the action and the field unless ``answer`` is a valid response."""
    if not isinstance(answer, Mapping):
        raise BenchError(f"the answer override for {action} (OCPP {version}) must be a dict "
                         f"(the response payload), got {type(answer).__name__}")
    problem = schemas.check(version, action, "response", dict(answer))
    if problem is not None:
        raise BenchError(f"the answer override for {action} breaks the OCPP {version} "
                         f"response schema: {problem.description}")


@dataclass(frozen=True)
class AnswerOverride:
    """A validated override of one action's answer."""

    action: str
    version: str
    answer: Answer

    @classmethod
    def build(cls, version: str, action: str, answer: Answer) -> AnswerOverride:
        """Check the action is one the bench answers in ``version`` and a fixed answer
        against the response schema (BenchError saying what to fix)."""
        handled = handled_actions(version)
        if action not in handled:
            raise BenchError(f"cannot override the answer to {action!r}: the central system "
                             f"does not answer that action for an OCPP {version} charger "
                             f"(answered: {', '.join(sorted(handled))})")
        if not callable(answer):
            check_answer(version, action, answer)
            answer = copy.deepcopy(dict(answer))
        return cls(action, version, answer)

    def reply(self, request: dict[str, Any], default: dict[str, Any] | None
              ) -> dict[str, Any] | None:
        """The response to send: the fixed answer, or the callable's (checked; ``None``
        falls back to ``default``). BenchError if the callable's answer is invalid."""
        if not callable(self.answer):
            return copy.deepcopy(self.answer)
        produced = self.answer(copy.deepcopy(request))
        if produced is None:
            return default
        check_answer(self.version, self.action, produced)
        return dict(produced)


class DynamicValues:
    """Dynamic values (ChargingScheduleUpdateType, camelCase) the bench set, per profile id.

    Fed with the bench's own CALLs and their answers, and its answers to pulls: an Accepted
    SetChargingProfile of a ``Dynamic`` profile sets the values of its first period (the
    values of a later period are not tracked); an Accepted UpdateDynamicSchedule, and an
    Accepted answer to PullDynamicScheduleUpdate, merge their ``scheduleUpdate``; an Accepted
    ClearChargingProfile forgets the profile it names, or every profile when it names none.
    Caller holds the session lock.
    """

    def __init__(self) -> None:
        self._values: dict[int, dict[str, Any]] = {}

    def of(self, profile_id: int) -> dict[str, Any] | None:
        """A copy of the values of ``profile_id``; None when the bench set none."""
        values = self._values.get(int(profile_id))
        return None if values is None else dict(values)

    def note_answer(self, action: str, request: Mapping[str, Any],
                    reply: Mapping[str, Any]) -> None:
        """Learn from the bench's answer to a charger's request: values it served in an
        Accepted PullDynamicScheduleUpdate answer (an override's too) are now the profile's."""
        if action != "PullDynamicScheduleUpdate" or reply.get("status") != "Accepted":
            return
        update = reply.get("scheduleUpdate") or {}
        self._values.setdefault(int(request["chargingProfileId"]), {}).update(
            {k: v for k, v in update.items() if k in UPDATE_FIELDS})

    def note_call(self, action: str, request: Mapping[str, Any],
                  result: Mapping[str, Any] | None) -> None:
        """Learn from one of the bench's CALLs and its CALLRESULT (None: no result)."""
        if result is None or result.get("status") != "Accepted":
            return
        if action == "SetChargingProfile":
            profile = request.get("chargingProfile") or {}
            if profile.get("chargingProfileKind") != "Dynamic" or "id" not in profile:
                self._values.pop(int(profile.get("id", -1)), None)
                return
            schedules = profile.get("chargingSchedule") or [{}]
            periods = (schedules[0] or {}).get("chargingSchedulePeriod") or [{}]
            first = periods[0] or {}
            self._values[int(profile["id"])] = {k: first[k] for k in UPDATE_FIELDS
                                                if k in first}
        elif action == "UpdateDynamicSchedule":
            profile_id = int(request.get("chargingProfileId", -1))
            update = request.get("scheduleUpdate") or {}
            self._values.setdefault(profile_id, {}).update(
                {k: v for k, v in update.items() if k in UPDATE_FIELDS})
        elif action == "ClearChargingProfile":
            if request.get("chargingProfileId") is None:
                self._values.clear()
            else:
                self._values.pop(int(request["chargingProfileId"]), None)
