"""What crossed the wire, as the bench records it: one ``Message`` per OCPP-J frame.

Every frame exchanged with a charger becomes a ``Message`` (or, for frames that are not
valid OCPP-J, a ``Message`` of kind ``"malformed"``). Payloads keep the specification's
camelCase keys exactly as sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from testbench.redact import redact_payload, redact_text

Direction = Literal["in", "out"]
Kind = Literal["call", "result", "error", "send", "result_error", "malformed"]


@dataclass(frozen=True)
class Message:
    """One OCPP-J message exchanged with a charger.

    ``direction`` is seen from the bench: ``"in"`` = sent by the charger. ``kind`` is
    ``"call"`` (CALL), ``"result"`` (CALLRESULT), ``"error"`` (CALLERROR), and for OCPP 2.1
    ``"send"`` (SEND, unconfirmed) and ``"result_error"`` (CALLRESULTERROR); ``"malformed"``
    marks an inbound frame that is not valid OCPP-J (``raw`` holds its text). Results and
    errors carry the ``action`` of the CALL they answer ("" when unknown). ``reply`` is,
    for an inbound CALL, the payload the bench answered with (``None`` if it answered with a
    CALLERROR). ``problem`` says why the bench judged the frame invalid (schema violation,
    unknown unique id, ...), else ``None``.
    """

    action: str
    payload: dict[str, Any]
    unique_id: str
    direction: Direction
    kind: Kind
    wall_s: float
    lab_s: float
    charger: str = ""
    seq: int = 0
    error_code: str | None = None
    error_description: str | None = None
    error_details: dict[str, Any] | None = None
    reply: dict[str, Any] | None = None
    problem: str | None = None
    raw: str | None = None

    @property
    def is_call(self) -> bool:
        """True for a request (CALL, or 2.1 SEND)."""
        return self.kind in ("call", "send")

    def describe(self, max_chars: int = 300) -> str:
        """A one-line human summary: kind, action, payload or error (truncated, secrets
        redacted: it ends up in verdicts and reports)."""
        arrow = "<-" if self.direction == "in" else "->"
        if self.kind in ("error", "result_error"):
            body = redact_text(f"{self.error_code}: {self.error_description}")
        elif self.kind == "malformed":
            body = f"{self.problem}: {redact_text(self.raw or '')!r}"
        else:
            body = json.dumps(redact_payload(self.payload), separators=(",", ":"), default=str)
        text = f"{arrow} {self.kind.upper()} {self.action or '?'} {body}"
        if self.problem and self.kind != "malformed":
            text += f" [invalid: {self.problem}]"
        return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


@dataclass(frozen=True)
class CallErrorInfo:
    """The content of a CALLERROR."""

    code: str
    description: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallOutcome:
    """Everything that came of one CALL the bench sent (see ``ChargerHandle.try_call``).

    Exactly one of these holds: ``result`` is set (a CALLRESULT arrived; ``violation`` says
    if it broke the response schema), ``error`` is set (a CALLERROR arrived), ``timed_out``
    (no answer within the timeout), ``disconnected`` (the connection closed first).
    """

    action: str
    request: dict[str, Any]
    unique_id: str
    timeout_s: float
    result: dict[str, Any] | None = None
    error: CallErrorInfo | None = None
    timed_out: bool = False
    disconnected: bool = False
    violation: str | None = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when a schema-valid CALLRESULT arrived in time."""
        return self.result is not None and self.violation is None
