"""Matching a charger's messages against what a test expects, and explaining misses.

``expect`` keeps one cursor per action: a matched message is consumed, and the next
``expect`` of the same action only looks at messages after it (so "wait for Charging,
then wait for Available" cannot be satisfied by an Available sent before Charging).
Messages the bench judged invalid (schema violations) never satisfy an expectation; the
failure message lists them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from testbench.csms.messages import Message
from testbench.redact import redact_payload

Where = Callable[[dict[str, Any]], bool]

_SNAKE_PART = re.compile(r"_([a-z0-9])")


def camel_key(name: str) -> str:
    """``event_type`` -> ``eventType``; ``connector_id`` -> ``connectorId``; camelCase stays."""
    return _SNAKE_PART.sub(lambda m: m.group(1).upper(), name)


@dataclass
class Matcher:
    """Which inbound requests satisfy an expectation."""

    actions: tuple[str, ...]
    fields: dict[str, Any]
    where: Where | None = None
    where_errors: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, actions: str | Iterable[str], where: Where | None,
              fields: dict[str, Any]) -> Matcher:
        names = (actions,) if isinstance(actions, str) else tuple(actions)
        return cls(names, {camel_key(k): v for k, v in fields.items()}, where)

    def candidate(self, msg: Message) -> bool:
        """An inbound request of one of the actions (valid or not)."""
        return msg.direction == "in" and msg.is_call and msg.action in self.actions

    def matches(self, msg: Message) -> bool:
        if not self.candidate(msg) or msg.problem is not None:
            return False
        payload = msg.payload
        for key, expected in self.fields.items():
            if key not in payload:
                return False
            value = payload[key]
            if callable(expected):
                if not expected(value):
                    return False
            elif value != expected:
                return False
        if self.where is not None:
            try:
                return bool(self.where(payload))
            except Exception as exc:  # noqa: BLE001 - a where() on an odd payload = no match
                if len(self.where_errors) < 3:
                    self.where_errors.append(f"{type(exc).__name__}: {exc}")
                return False
        return True

    def describe(self) -> str:
        what = " or ".join(self.actions)
        conditions = [f"{k}={v!r}" for k, v in self.fields.items()]
        if self.where is not None:
            conditions.append(f"where={_callable_name(self.where)}")
        return what + (f" with {' and '.join(conditions)}" if conditions else "")


def _callable_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{name}()"


def summarize(messages: list[Message], mark_lab_s: float, limit: int = 3,
              max_chars: int = 240) -> str:
    """The last ``limit`` messages, each with its lab time relative to the mark."""
    if not messages:
        return "none"
    shown = messages[-limit:]
    lines = []
    for msg in shown:
        rel = msg.lab_s - mark_lab_s
        body = json.dumps(redact_payload(msg.payload), separators=(",", ":"), default=str)
        if len(body) > max_chars:
            body = body[: max_chars - 3] + "..."
        line = f"  [{rel:+.2f} lab s] {body}"
        if msg.problem:
            line += f"  (rejected as invalid: {msg.problem})"
        lines.append(line)
    more = f" (last {limit} of {len(messages)})" if len(messages) > limit else ""
    return more + "\n" + "\n".join(lines)
