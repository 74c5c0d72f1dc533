"""Exceptions of the central system.

Device failures (the charger did wrong: the test fails) subclass
``testbench.errors.DeviceFailure``; bench problems subclass ``BenchError``.
"""

from __future__ import annotations

from typing import Any

from testbench.errors import BenchError, DeviceFailure


class CallErrorReceived(DeviceFailure):
    """The charger answered a CALL of the bench with a CALLERROR."""

    def __init__(self, charger: str, action: str, code: str, description: str,
                 details: dict[str, Any] | None = None) -> None:
        self.charger = charger
        self.action = action
        self.code = code
        self.description = description
        self.details = details or {}
        super().__init__(
            f"charger {charger!r} answered {action} with CALLERROR {code}: {description!r}"
            + (f" details={self.details}" if self.details else ""))


class CallTimeout(DeviceFailure):
    """The charger did not answer a CALL within its timeout."""

    def __init__(self, charger: str, action: str, timeout_s: float, unique_id: str) -> None:
        self.charger = charger
        self.action = action
        self.timeout_s = timeout_s
        self.unique_id = unique_id
        super().__init__(
            f"charger {charger!r} did not answer {action} (unique id {unique_id}) within "
            f"{timeout_s:g} lab s")


class ConnectionLost(DeviceFailure):
    """The charger's connection closed while a CALL of the bench was waiting for its answer."""

    def __init__(self, charger: str, action: str, unique_id: str) -> None:
        self.charger = charger
        self.action = action
        self.unique_id = unique_id
        super().__init__(
            f"charger {charger!r} closed its connection before answering {action} "
            f"(unique id {unique_id})")


class InvalidCallResult(DeviceFailure):
    """The charger's CALLRESULT does not conform to the version's response schema."""

    def __init__(self, charger: str, action: str, problem: str, result: dict[str, Any]) -> None:
        self.charger = charger
        self.action = action
        self.problem = problem
        self.result = result
        super().__init__(
            f"charger {charger!r} answered {action} with a CALLRESULT that breaks the OCPP "
            f"schema: {problem}")


class ExpectationFailed(DeviceFailure):
    """An expectation on the charger's messages was not met (see ``ChargerHandle.expect``)."""


class NotConnected(BenchError):
    """A call was attempted on a charger that has no open connection to the bench."""
