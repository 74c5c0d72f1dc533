"""One charger's life at the bench, across reconnects: its messages, state, and policies.

A ``ChargerSession`` outlives connections: a charger that reboots and reconnects keeps
its message log, its mark and expectation cursors, its state and its policies. Everything
here may be read from the test thread; the event loop thread writes under ``cond``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from testbench.clock import LabClock
from testbench.csms.failures import NotConnected
from testbench.csms.messages import CallOutcome, Message
from testbench.csms.overrides import Answer, AnswerOverride, DynamicValues
from testbench.csms.policies import DEFAULT_RETRY_INTERVAL_S, AuthorizationPolicy, BootPolicy
from testbench.csms.state import ChargerState
from testbench.csms.trace import ChargerTrace
from testbench.lab.model import ChargerSpec, CsmsSettings

if TYPE_CHECKING:
    from testbench.csms.connection import OcppConnection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionRecord:
    """One websocket connection of a charger (``closed_lab_s`` None while open)."""

    number: int
    subprotocol: str
    remote: str
    opened_lab_s: float
    closed_lab_s: float | None = None
    close_code: int | None = None
    close_reason: str | None = None


class ChargerSession:
    """State, message log, policies and current connection of one charger id."""

    def __init__(self, spec: ChargerSpec, settings: CsmsSettings, clock: LabClock,
                 trace: ChargerTrace, transaction_ids: Iterator[int],
                 boot_retry_interval_s: int = DEFAULT_RETRY_INTERVAL_S,
                 max_messages: int = 200_000, max_bytes: int = 64 * 2**20) -> None:
        self.id = spec.id
        self.spec = spec
        self.settings = settings
        self.clock = clock
        self.trace = trace
        self.transaction_ids = transaction_ids
        self.cond = threading.Condition()  # guards everything below
        self.state = ChargerState(charger_id=spec.id)
        self.boot_policy = BootPolicy(spec.boot_policy, 1, boot_retry_interval_s)
        self.authorization = AuthorizationPolicy(spec.ocpp_version)
        self.answer_overrides: dict[str, AnswerOverride] = {}  # action -> override
        self.answer_errors: list[str] = []  # overrides that failed when used
        self.dynamic = DynamicValues()
        self.connection: OcppConnection | None = None
        self.history: list[ConnectionRecord] = []
        self._boot_retry_interval_s = boot_retry_interval_s
        self._max_messages = max(1000, max_messages)
        self._max_bytes = max(2**20, max_bytes)
        self._log: list[Message] = []
        self._sizes: list[int] = []  # frame bytes of each message in _log
        self._log_bytes = 0
        self._log_base = 0  # seq of self._log[0]
        self._next_seq = 0
        self.mark_seq = 0
        self.mark_wall_s = time.time()
        self.cursors: dict[str, int] = {}  # action -> seq of the last message expect() consumed
        self._closing: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ messages
    def record(self, **fields: Any) -> Message:
        """Append a message to the log (event loop thread) and wake waiting expectations.

        ``size_bytes`` (the frame's length) counts against the log's byte bound; the log
        keeps the newest messages within ``max_messages`` and ``max_bytes``.
        """
        size = int(fields.pop("size_bytes", 0) or 0)
        with self.cond:
            wall = fields.pop("wall_s", None) or time.time()
            msg = Message(wall_s=wall, lab_s=self.clock.to_lab(wall), charger=self.id,
                          seq=self._next_seq, **fields)
            self._next_seq += 1
            self._log.append(msg)
            self._sizes.append(size)
            self._log_bytes += size
            if len(self._log) > self._max_messages or self._log_bytes > self._max_bytes:
                self._trim()
            self.cond.notify_all()
        return msg

    def _trim(self) -> None:
        """Drop the oldest messages: down to half the count bound, 3/4 of the byte bound."""
        drop = max(0, len(self._log) - self._max_messages // 2)
        if len(self._log) <= self._max_messages:
            drop = 0
        freed = sum(self._sizes[:drop])
        target = self._max_bytes * 3 // 4
        while self._log_bytes - freed > target and drop < len(self._log) - 1:
            freed += self._sizes[drop]
            drop += 1
        if drop:
            del self._log[:drop]
            del self._sizes[:drop]
            self._log_bytes -= freed
            self._log_base += drop

    @property
    def log_size(self) -> tuple[int, int]:
        """(messages, frame bytes) held in the log now."""
        with self.cond:
            return len(self._log), self._log_bytes

    def messages_since(self, seq: int) -> list[Message]:
        """Messages with ``seq >= seq`` still in the log (caller may hold ``cond``)."""
        with self.cond:
            start = max(0, seq - self._log_base)
            return self._log[start:]

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def mark(self) -> None:
        """Start a new expectation window at the next message."""
        with self.cond:
            self.mark_seq = self._next_seq
            self.mark_wall_s = time.time()
            self.cursors.clear()

    # ------------------------------------------------------------------ policies
    def set_boot_policy(self, policy: str, pending_boots: int = 1,
                        retry_interval_s: int | None = None) -> None:
        interval = self._boot_retry_interval_s if retry_interval_s is None else retry_interval_s
        new = BootPolicy(policy, pending_boots, interval)
        with self.cond:
            self.boot_policy = new

    def set_authorization(self, default: str = "Accepted",
                          overrides: dict[str, str] | None = None) -> None:
        version = self.state.version or self.spec.ocpp_version
        new = AuthorizationPolicy(version, default, dict(overrides or {}))
        with self.cond:
            self.authorization = new

    def set_answer(self, action: str, answer: Answer | None) -> None:
        """Override the answer to ``action`` (see ``overrides``); None restores the default."""
        if answer is None:
            with self.cond:
                self.answer_overrides.pop(action, None)
            return
        version = self.state.version or self.spec.ocpp_version
        override = AnswerOverride.build(version, action, answer)
        with self.cond:
            self.answer_overrides[action] = override

    def clear_answers(self) -> None:
        """Back to the default answers for every action (and forget override failures)."""
        with self.cond:
            self.answer_overrides.clear()
            self.answer_errors.clear()

    def snapshot(self) -> ChargerState:
        with self.cond:
            return self.state.snapshot()

    # ---------------------------------------------------------------- connections
    async def attach(self, conn: OcppConnection) -> None:
        """Make ``conn`` the current connection; close the one it replaces."""
        remote = _format_remote(conn.ws.remote_address)
        now = time.time()
        with self.cond:
            old, self.connection = self.connection, conn
            st = self.state
            st.connected = True
            st.version = conn.version
            st.subprotocol = conn.subprotocol
            st.connection_count += 1
            conn.number = st.connection_count
            st.connected_since_lab_s = self.clock.to_lab(now)
            st.last_refusal = None
            self.history.append(ConnectionRecord(st.connection_count, conn.subprotocol, remote,
                                                 st.connected_since_lab_s))
            self.cond.notify_all()
        self.trace.event("connected", subprotocol=conn.subprotocol, remote=remote,
                         path=conn.ws.request.path if conn.ws.request else None,
                         number=conn.number)
        if old is not None:
            self.trace.event("superseded", detail="a new connection of the same charger "
                             "replaces the previous one, which the bench closes")
            task = asyncio.create_task(old.close(1000, "replaced by a new connection"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def detach(self, conn: OcppConnection, code: int | None, reason: str | None) -> None:
        """Forget ``conn`` (if still current) after it closed."""
        now = time.time()
        with self.cond:
            for i, rec in enumerate(self.history):
                if rec.closed_lab_s is None and rec.number == conn.number:
                    self.history[i] = ConnectionRecord(rec.number, rec.subprotocol, rec.remote,
                                                       rec.opened_lab_s, self.clock.to_lab(now),
                                                       code, reason)
            if self.connection is conn:
                self.connection = None
                self.state.connected = False
                self.state.last_close_code = code
                self.state.last_close_reason = reason
            self.cond.notify_all()
        self.trace.event("closed", code=code, reason=reason or "", number=conn.number,
                         subprotocol=conn.subprotocol)

    def refused(self, status: int, reason: str) -> None:
        """Note a refused websocket upgrade (wrong subprotocol, bad credentials, ...)."""
        with self.cond:
            self.state.last_refusal = f"HTTP {status}: {reason}"
            self.cond.notify_all()
        self.trace.event("refused", status=status, reason=reason)

    def require_connection(self) -> OcppConnection:
        conn = self.connection
        if conn is None or conn.closed:
            st = self.state
            why = (f"last closed with code {st.last_close_code}" if st.connection_count
                   else "it never connected")
            if st.last_refusal:
                why += f"; last upgrade refused: {st.last_refusal}"
            raise NotConnected(f"charger {self.id!r} is not connected to the bench ({why})")
        return conn

    async def call(self, action: str, payload: dict[str, Any], timeout_s: float,
                   validate: bool = True) -> CallOutcome:
        """Send a CALL on the current connection (see ``OcppConnection.call_action``)."""
        outcome = await self.require_connection().call_action(action, payload, timeout_s,
                                                               validate=validate)
        if outcome.violation is None:
            with self.cond:
                self.dynamic.note_call(action, payload, outcome.result)
        return outcome

    async def send_raw(self, text: str) -> None:
        await self.require_connection().send_raw(text)


def _format_remote(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def transaction_counter(start: int = 1) -> Iterator[int]:
    """Integer transaction ids for OCPP 1.6 StartTransaction, unique within a run."""
    return itertools.count(start)
