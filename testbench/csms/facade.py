"""The synchronous face of the central system, for plain pytest suites.

The central system runs on a ``BackgroundLoop``; these methods block the test thread.
Every duration is in LAB seconds and converted with ``clock.wall_duration()``; every wait
has a timeout and wakes at least every 0.25 s wall, so Ctrl-C interrupts it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import time
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.csms.expectations import Matcher, Where, summarize
from testbench.csms.failures import (
    CallErrorReceived,
    CallTimeout,
    ConnectionLost,
    ExpectationFailed,
    InvalidCallResult,
)
from testbench.csms.messages import CallOutcome, Message
from testbench.csms.overrides import Answer
from testbench.csms.server import CentralSystem
from testbench.csms.session import ChargerSession
from testbench.csms.state import ChargerState
from testbench.errors import BenchError
from testbench.lab.model import ChargerSpec

T = TypeVar("T")

_WAKE_WALL_S = 0.25
_LOOP_MARGIN_WALL_S = 10.0


class Csms:
    """The central system as suites see it."""

    def __init__(self, central: CentralSystem, loop: BackgroundLoop, clock: LabClock) -> None:
        self.central = central
        self.clock = clock
        self._loop = loop
        self._handles: dict[str, ChargerHandle] = {}

    @property
    def charger_ids(self) -> list[str]:
        return sorted(self.central.sessions)

    def charger(self, charger_id: str) -> ChargerHandle:
        """The handle of a lab charger; BenchError naming the known ids if unknown."""
        handle = self._handles.get(charger_id)
        if handle is None:
            session = self.central.session(charger_id)
            handle = self._handles[charger_id] = ChargerHandle(session, self._loop, self.clock)
        return handle

    def url_for(self, charger_id: str) -> str:
        return self.central.url_for(charger_id)

    def set_boot_policy(self, charger_id: str, policy: str, pending_boots: int = 1,
                        retry_interval_s: int | None = None) -> None:
        """Answer the next BootNotifications of a charger with Accepted / Pending / Rejected.

        ``Pending`` answers Pending to the next ``pending_boots`` boots, then Accepted.
        ``retry_interval_s`` (lab s) is the interval sent with Pending / Rejected.
        """
        self.central.set_boot_policy(charger_id, policy, pending_boots, retry_interval_s)

    def wait_connected(self, charger_ids: Iterable[str], within_s: float) -> None:
        """Wait until every listed charger has an open connection (``within_s`` lab s)."""
        ids = list(charger_ids)
        sessions = [self.central.session(cid) for cid in ids]
        _refuse_loop_thread(self._loop)
        deadline = time.monotonic() + self.clock.wall_duration(within_s)
        while True:
            missing = [s for s in sessions if not s.state.connected]
            if not missing:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(0.05, remaining))
        lines = [f"  {s.id}: {_why_not_connected(s)}" for s in missing]
        unknown = sorted(set(self.central.unknown_attempts))
        hint = (f"\nconnection attempts with unknown identities: {', '.join(unknown)}"
                if unknown else "")
        tls = list(self.central.tls_failures)[-3:]
        if tls:
            hint += "\nrecent failed TLS handshakes: " + "; ".join(tls)
        raise BenchError(
            f"{len(missing)} of {len(ids)} charger(s) did not connect to the central system "
            f"within {within_s:g} lab s:\n" + "\n".join(lines) + hint +
            f"\nEach charger must connect to {self.central.url_for('<charger id>')}")


def _why_not_connected(session: ChargerSession) -> str:
    st = session.state
    if st.last_refusal:
        return f"upgrade refused: {st.last_refusal}"
    if st.connection_count == 0:
        return "never connected"
    return (f"disconnected (close code {st.last_close_code}"
            f"{', ' + st.last_close_reason if st.last_close_reason else ''})")


def _refuse_loop_thread(loop: BackgroundLoop) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if running is loop.loop:
        raise BenchError("a blocking Csms method was called on the central system's own event "
                         "loop (deadlock); call it from the test thread")


class ChargerHandle:
    """One charger, as a test drives and observes it."""

    def __init__(self, session: ChargerSession, loop: BackgroundLoop, clock: LabClock) -> None:
        self._session = session
        self._loop = loop
        self._clock = clock
        self.id: str = session.id
        self.spec: ChargerSpec = session.spec

    # ------------------------------------------------------------------ identity
    @property
    def version(self) -> str:
        """The negotiated OCPP version ("1.6", "2.0.1", "2.1"); the configured one before."""
        return self._session.state.version or self.spec.ocpp_version

    @property
    def state(self) -> ChargerState:
        """A copy of what the bench knows about the charger right now."""
        return self._session.snapshot()

    @property
    def connected(self) -> bool:
        return self._session.state.connected

    def sleep(self, lab_s: float) -> None:
        """Wait ``lab_s`` lab seconds (the bench's clock, compressed or not)."""
        self._clock.sleep(lab_s)

    # ------------------------------------------------------------------ calls
    def call(self, action: str, payload: dict[str, Any],
             timeout_s: float | None = None) -> dict[str, Any]:
        """Send a CALL (camelCase payload, schema-checked) and return the CALLRESULT payload.

        Raises ``CallErrorReceived`` on a CALLERROR, ``CallTimeout`` if no answer within
        ``timeout_s`` lab s (default ``[csms] call_timeout_s``), ``ConnectionLost`` if the
        connection closed first, ``InvalidCallResult`` if the answer breaks the schema, and
        ``BenchError`` if the charger is not connected or the payload is invalid.
        """
        outcome = self.try_call(action, payload, timeout_s)
        if outcome.error is not None:
            raise CallErrorReceived(self.id, action, outcome.error.code,
                                    outcome.error.description, outcome.error.details)
        if outcome.timed_out:
            raise CallTimeout(self.id, action, outcome.timeout_s, outcome.unique_id)
        if outcome.disconnected:
            raise ConnectionLost(self.id, action, outcome.unique_id)
        if outcome.violation is not None:
            raise InvalidCallResult(self.id, action, outcome.violation, outcome.result or {})
        assert outcome.result is not None
        return outcome.result

    def try_call(self, action: str, payload: dict[str, Any], timeout_s: float | None = None,
                 *, validate: bool = True) -> CallOutcome:
        """Like ``call`` but returns the ``CallOutcome`` instead of raising device failures.

        ``validate=False`` sends a payload that breaks the schema on purpose.
        """
        timeout = self._session.settings.call_timeout_s if timeout_s is None else timeout_s
        body = copy.deepcopy(payload)
        wall = self._clock.wall_duration(timeout) + _LOOP_MARGIN_WALL_S
        return self._run(self._session.call(action, body, timeout, validate=validate), wall)

    def send_raw(self, text: str) -> None:
        """Send ``text`` as one websocket text frame, as is (malformed-frame tests)."""
        self._run(self._session.send_raw(text), _LOOP_MARGIN_WALL_S)

    def _run(self, coro: Coroutine[Any, Any, T], wall_timeout_s: float) -> T:
        _refuse_loop_thread(self._loop)
        try:
            return self._loop.run(coro, timeout_s=wall_timeout_s)
        except concurrent.futures.TimeoutError:
            raise BenchError(f"the central system did not complete an operation on charger "
                             f"{self.id!r} within {wall_timeout_s:g} wall s") from None

    # ------------------------------------------------------------------ policies
    def set_authorization(self, default: str = "Accepted",
                          overrides: dict[str, str] | None = None) -> None:
        """Status answered for id tokens: ``overrides[token]`` if present, else ``default``."""
        self._session.set_authorization(default, overrides)

    def set_answer(self, action: str, answer: Answer | None) -> None:
        """Answer the charger's ``action`` requests with ``answer`` instead of the default.

        ``answer`` is the response payload (camelCase dict, checked against the version's
        response schema now: BenchError naming the action and the field), or a callable
        ``answer(request) -> response`` run on the central system's loop for each request
        (checked on each use; ``None`` gives the default answer; raising
        ``CallErrorReply`` answers with a CALLERROR; it must not call back into this
        handle's blocking methods). A failing callable is recorded in ``answer_errors()``
        and the charger gets an InternalError. ``None`` restores the default answer. The
        default handler still runs, so ``state`` stays current. The per-test baseline
        restores every default (``clear_answers``).
        """
        self._session.set_answer(action, answer)

    def clear_answers(self) -> None:
        """Restore the default answer to every action."""
        self._session.clear_answers()

    def answer_errors(self) -> list[str]:
        """Why callable answer overrides failed since they were last cleared."""
        with self._session.cond:
            return list(self._session.answer_errors)

    def dynamic_values(self, profile_id: int) -> dict[str, Any] | None:
        """The dynamic values the bench set for a 2.1 Dynamic profile (what the default
        answer to PullDynamicScheduleUpdate serves); None when it set none."""
        with self._session.cond:
            return self._session.dynamic.of(profile_id)

    # ------------------------------------------------------------------ observing
    def mark(self) -> None:
        """Start a new window: expectations and ``messages()`` only see what follows."""
        self._session.mark()

    def messages(self, action: str | None = None, since_mark: bool = True) -> list[Message]:
        """Messages exchanged (both directions), optionally of one action."""
        s = self._session
        start = s.mark_seq if since_mark else 0
        msgs = s.messages_since(start)
        return [m for m in msgs if action is None or m.action == action]

    def call_errors(self) -> list[Message]:
        """CALLERRORs (and 2.1 CALLRESULTERRORs) exchanged since the mark, both directions."""
        return [m for m in self.messages() if m.kind in ("error", "result_error")]

    def trace_since(self, wall_s: float) -> list[dict[str, Any]]:
        """Raw trace entries (frames and connection events) since a wall-clock time."""
        return self._session.trace.since(wall_s)

    def expect(self, action: str, within_s: float, where: Where | None = None,
               **fields: Any) -> Message:
        """Wait for the charger to send a request of ``action`` matching the conditions.

        ``fields`` are matched against top-level payload keys (snake_case names are turned
        into camelCase: ``event_type`` -> ``eventType``; a callable value is a predicate);
        ``where(payload)`` must be true. Messages since the mark are searched first. The
        match is consumed: the next ``expect`` of this action looks after it. Raises
        ``ExpectationFailed`` after ``within_s`` lab s.
        """
        s = self._session
        matcher = Matcher.build(action, where, fields)
        _refuse_loop_thread(self._loop)
        deadline = time.monotonic() + self._clock.wall_duration(within_s)
        with s.cond:
            pos = max(s.mark_seq, s.cursors.get(action, s.mark_seq - 1) + 1)
            while True:
                for msg in s.messages_since(pos):
                    pos = msg.seq + 1
                    if matcher.matches(msg):
                        s.cursors[action] = msg.seq
                        return msg
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                s.cond.wait(min(remaining, _WAKE_WALL_S))
            seen = [m for m in s.messages_since(s.mark_seq) if matcher.candidate(m)]
            consumed = s.cursors.get(action)
        raise ExpectationFailed(self._explain_miss(matcher, within_s, seen, consumed))

    def expect_not(self, actions: list[str] | str, during_s: float, where: Where | None = None,
                   **fields: Any) -> None:
        """Watch for ``during_s`` lab s that the charger sends no matching request.

        Covers requests since the mark that no ``expect`` consumed, and the whole window;
        raises ``ExpectationFailed`` naming the first offending message.
        """
        s = self._session
        matcher = Matcher.build(actions, where, fields)
        _refuse_loop_thread(self._loop)
        deadline = time.monotonic() + self._clock.wall_duration(during_s)
        with s.cond:
            pos = s.mark_seq
            while True:
                for msg in s.messages_since(pos):
                    pos = msg.seq + 1
                    if msg.seq <= s.cursors.get(msg.action, -1):
                        continue
                    if matcher.matches(msg):
                        raise ExpectationFailed(self._explain_offence(matcher, during_s, msg))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                s.cond.wait(min(remaining, _WAKE_WALL_S))

    # ------------------------------------------------------------------ explanations
    def _mark_lab_s(self) -> float:
        return self._clock.to_lab(self._session.mark_wall_s)

    def _explain_miss(self, matcher: Matcher, within_s: float, seen: list[Message],
                      consumed_seq: int | None) -> str:
        st = self._session.state
        what = matcher.describe()
        text = (f"charger {self.id!r} did not send {what} within {within_s:g} lab s "
                f"(OCPP {self.version}).")
        valid = [m for m in seen if m.problem is None]
        invalid = [m for m in seen if m.problem is not None]
        names = " / ".join(matcher.actions)
        text += f"\n{names} received since the mark: {summarize(valid, self._mark_lab_s())}"
        if invalid:
            text += (f"\n{names} rejected as schema-invalid: "
                     f"{summarize(invalid, self._mark_lab_s())}")
        if consumed_seq is not None:
            last = next((m for m in seen if m.seq == consumed_seq), None)
            when = f" at {last.lab_s - self._mark_lab_s():+.2f} lab s" if last else ""
            text += (f"\nAn earlier expect() matched a {names}{when}: only messages after "
                     "it were considered.")
        if matcher.where_errors:
            text += f"\nwhere() raised on some payloads: {'; '.join(matcher.where_errors)}"
        if not st.connected:
            text += f"\nThe charger is not connected ({_why_not_connected(self._session)})."
        return text

    def _explain_offence(self, matcher: Matcher, during_s: float, msg: Message) -> str:
        rel = msg.lab_s - self._mark_lab_s()
        return (f"charger {self.id!r} sent {msg.action} at {rel:+.2f} lab s after the mark, "
                f"while no {matcher.describe()} was allowed (window {during_s:g} lab s): "
                f"{msg.describe()}")
