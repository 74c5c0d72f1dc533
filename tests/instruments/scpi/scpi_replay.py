"""Command/response replay for SCPI drivers, without any server (pymeasure-style).

A :class:`Replay` stands in for the pyvisa resource manager used by ``ScpiTransport``: the
driver's session is a :class:`ReplaySession` that checks each command the driver sends
against the expected dialogue and answers queries with the recorded replies.

    replay.expect(q("*IDN?", "ACME,X1,1,1.0"), *checked("OUTP ON"))
    driver = Driver(spec, limits)          # opens the replay session
    driver.output(True)
    # the fixture asserts at teardown that the dialogue was followed and used up

A reply may be a string, :data:`TIMEOUT` (the instrument stays silent) or bytes (sent as
they are; bytes that are not ASCII fail to decode, as in pyvisa).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyvisa


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


TIMEOUT = _Marker("TIMEOUT")
NO_ERROR = '0,"No error"'


@dataclass(frozen=True)
class Step:
    """One exchange: a command and, for a query, its reply."""

    command: str
    query: bool
    reply: str | bytes | _Marker | None = None


def w(command: str) -> Step:
    """A command without reply."""
    return Step(command, False)


def q(command: str, reply: str | bytes | _Marker) -> Step:
    """A query and the reply the instrument gives."""
    return Step(command, True, reply)


def checked(command: str, error_query: str = "SYST:ERR?",
            error_reply: str = NO_ERROR) -> list[Step]:
    """A setting followed by the error-queue reads the driver does after it.

    The driver drains the queue, so an error entry is followed by a read returning
    "no error".
    """
    steps = [w(command), q(error_query, error_reply)]
    if error_query == "SYST:ERR?" and not error_reply.lstrip("+").startswith("0,"):
        steps.append(q(error_query, NO_ERROR))
    return steps


class ReplaySession:
    """The fake pyvisa session: follows the dialogue, records every mismatch."""

    def __init__(self, replay: Replay, resource: str, kwargs: dict[str, Any]) -> None:
        self.replay = replay
        self.resource = resource
        self.kwargs = kwargs
        self.timeout = kwargs.get("timeout", 2000)
        self.closed = False

    def _next(self, command: str, query: bool) -> Step:
        replay = self.replay
        kind = "query" if query else "write"
        if replay.position >= len(replay.steps):
            message = f"unexpected {kind} {command!r} after the end of the dialogue"
            replay.failures.append(message)
            raise AssertionError(message)
        step = replay.steps[replay.position]
        replay.position += 1
        replay.sent.append(command)
        if step.command != command or step.query != query:
            want = "query" if step.query else "write"
            message = (f"step {replay.position - 1}: expected {want} {step.command!r}, "
                       f"got {kind} {command!r}")
            replay.failures.append(message)
            raise AssertionError(message)
        return step

    def write(self, command: str) -> int:
        self._next(command, query=False)
        return len(command) + 1

    def query(self, command: str) -> str:
        step = self._next(command, query=True)
        if step.reply is TIMEOUT:
            raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout)
        if isinstance(step.reply, bytes):
            return step.reply.decode("ascii")  # UnicodeDecodeError on non-ASCII, as pyvisa
        assert isinstance(step.reply, str)
        return step.reply

    def clear(self) -> None:
        self.replay.cleared += 1

    def close(self) -> None:
        self.closed = True


class Replay:
    """A fake resource manager with an expected dialogue (see the module docstring)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.position = 0
        self.sent: list[str] = []
        self.failures: list[str] = []
        self.sessions: list[ReplaySession] = []
        self.cleared = 0

    def expect(self, *steps: Step | Iterable[Step]) -> Replay:
        """Append steps (or lists of steps) to the expected dialogue."""
        for item in steps:
            if isinstance(item, Step):
                self.steps.append(item)
            else:
                self.steps.extend(item)
        return self

    def open_resource(self, resource: str, **kwargs: Any) -> ReplaySession:
        if kwargs.get("read_termination") != "\n":
            self.failures.append(f"session opened without read_termination='\\n': {kwargs}")
        session = ReplaySession(self, resource, kwargs)
        self.sessions.append(session)
        return session

    def assert_followed(self) -> None:
        """The dialogue was followed exactly and used up."""
        assert not self.failures, "replay mismatch:\n" + "\n".join(self.failures)
        left = self.steps[self.position:]
        assert not left, f"dialogue not used up; next expected: {left[:3]}"

    @property
    def remaining(self) -> int:
        return len(self.steps) - self.position
