"""One websocket connection of a charger: OCPP-J framing, default answers, the bench's CALLs.

``OcppConnection`` is mixed into a subclass of the ``ocpp`` package's ``ChargePoint`` per
version (see ``handlers_v16`` / ``handlers_v2``). It replaces the package's receive loop,
routing and ``call()`` because of their traps (see REFERENCE.md): every frame is traced and
recorded, malformed frames get the proper CALLERROR and never end the session, every
request gets an answer (also in 2.1), and the bench's own CALLs have per-call timeouts
(lab seconds) with orphaned late replies recognised as such.

Handlers are methods decorated with ``@answers("Action")``. They take the request
payload exactly as received (camelCase dict, already schema-valid), run under the session
lock, update ``session.state`` and return the response payload (camelCase dict). A
handler may raise ``CallErrorReply`` to answer with a CALLERROR.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from testbench.csms import frames, schemas
from testbench.csms.errorcodes import DESCRIPTIONS, Problem, clip, error_code
from testbench.csms.failures import NotConnected
from testbench.csms.frames import CALL, CALLERROR, CALLRESULT, CALLRESULTERROR, SEND
from testbench.csms.messages import CallErrorInfo, CallOutcome
from testbench.csms.overrides import AnswerOverride
from testbench.csms.session import ChargerSession
from testbench.errors import BenchError
from testbench.redact import redact_text

log = logging.getLogger(__name__)

Handler = Callable[[Any, dict[str, Any]], dict[str, Any]]

_MAX_REMEMBERED_IDS = 256
_YIELD_EVERY_FRAMES = 8  # a flooding charger must not starve the others on the loop


def answers(action: str) -> Callable[[Handler], Handler]:
    """Mark a method as the default answer to inbound CALLs of ``action``."""

    def decorate(fn: Handler) -> Handler:
        fn._answers_action = action  # type: ignore[attr-defined]
        return fn

    return decorate


class CallErrorReply(Exception):
    """Raised by a handler to answer the request with a CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


@dataclass
class _Pending:
    action: str
    future: asyncio.Future[tuple[frames.Frame | None, str | None]]


class OcppConnection:
    """Version-independent part of a charger connection (mix in before ocpp's ChargePoint)."""

    version: ClassVar[str]
    known_actions: ClassVar[frozenset[str]] = frozenset()
    _handlers: ClassVar[dict[str, Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Handler] = {}
        for name in dir(cls):
            fn = getattr(cls, name, None)
            action = getattr(fn, "_answers_action", None)
            if isinstance(action, str):
                found[action] = fn  # type: ignore[assignment]
        cls._handlers = found

    def __init__(self, session: ChargerSession, ws: ServerConnection, subprotocol: str) -> None:
        # ocpp's ChargePoint.__init__ (next in the MRO) sets id, route map, call lock.
        super().__init__(  # type: ignore[call-arg]
            session.id, ws, response_timeout=session.settings.call_timeout_s)
        self.session = session
        self.ws = ws
        self.subprotocol = subprotocol
        self.number = 0
        self.closed = False
        self._call_lock: asyncio.Lock = asyncio.Lock()
        self._pending: dict[str, _Pending] = {}
        self._orphans: OrderedDict[str, str] = OrderedDict()  # timed-out call id -> action
        self._raw_calls: OrderedDict[str, str] = OrderedDict()  # send_raw CALL id -> action
        self._answered: OrderedDict[str, str] = OrderedDict()  # inbound call id -> action
        self._frame_bytes = 0  # size of the inbound frame being handled

    # ------------------------------------------------------------ receive loop
    async def start(self) -> None:
        """Serve the connection until it closes (replaces ocpp's receive loop)."""
        handled = 0
        try:
            async for data in self.ws:
                await self.route_message(data)
                handled += 1
                if handled % _YIELD_EVERY_FRAMES == 0:
                    await asyncio.sleep(0)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            for pending in self._pending.values():
                if not pending.future.done():
                    pending.future.set_result((None, None))
            self._pending.clear()

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Handle one inbound frame; never raises (a bad frame must not end the session)."""
        wall = time.time()
        self._frame_bytes = len(raw_msg)
        self.session.trace.frame("in", raw_msg, wall)
        try:
            parsed = frames.parse(raw_msg, self.version)
            if isinstance(parsed, frames.FrameProblem):
                await self._on_problem(parsed, raw_msg, wall)
            elif parsed.type_id == CALL:
                await self._on_call(parsed, wall)
            elif parsed.type_id in (CALLRESULT, CALLERROR):
                self._on_reply(parsed, wall)
            elif parsed.type_id == SEND:
                self._on_send(parsed, wall)
            elif parsed.type_id == CALLRESULTERROR:
                self._on_result_error(parsed, wall)
        except ConnectionClosed:
            pass
        except Exception:  # a bench bug must not kill the charger's session
            shown = raw_msg[:2000] if isinstance(raw_msg, str) else repr(raw_msg[:2000])
            log.exception("%s: failed to handle frame %s", self.session.id, redact_text(shown))
            self.session.trace.event("bench_error", detail="exception while handling a frame; "
                                     "see the bench log")

    async def _on_problem(self, problem: frames.FrameProblem, raw: str | bytes,
                          wall: float) -> None:
        is_reply = problem.type_id in (CALLRESULT, CALLERROR)
        pending = self._pending.pop(problem.unique_id, None) if is_reply else None
        action = pending.action if pending else ""
        text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
        self._record_in(action=action, payload={}, unique_id=problem.unique_id,
                            direction="in", kind="malformed", wall_s=wall,
                            problem=problem.description, raw=text)
        if pending is not None and not pending.future.done():
            pending.future.set_result((None, f"malformed reply: {problem.description}"))
        if problem.reply_code is not None:
            await self._send_error(problem.unique_id, problem.reply_code, problem.description,
                                   action="")

    async def _on_call(self, frame: frames.Frame, wall: float) -> None:
        action, payload, uid = frame.action, frame.payload, frame.unique_id
        handler = self._handlers.get(action)
        if handler is None:
            kind: Problem = ("not_supported" if action in self.known_actions
                             else "not_implemented")
            code = error_code(self.version, kind)
            self._record_in(action=action, payload=payload, unique_id=uid, direction="in",
                                kind="call", wall_s=wall)
            await self._send_error(uid, code, f"{DESCRIPTIONS[code]}: {action}", action)
            return
        try:
            problem = schemas.check(self.version, action, "request", payload)
        except Exception:  # answer InternalError rather than nothing
            log.exception("%s: schema check of %s failed", self.session.id, action)
            self._record_in(action=action, payload=payload, unique_id=uid, direction="in",
                                kind="call", wall_s=wall,
                                problem="the bench could not check this payload")
            code = error_code(self.version, "internal")
            await self._send_error(uid, code, DESCRIPTIONS[code], action)
            return
        if problem is not None:
            self._record_in(action=action, payload=payload, unique_id=uid, direction="in",
                                kind="call", wall_s=wall, problem=problem.description)
            await self._send_error(uid, error_code(self.version, problem.problem),
                                   problem.description, action)
            return
        override = self.session.answer_overrides.get(action)
        try:
            with self.session.cond:
                if override is None:
                    reply = handler(self, payload)
                else:
                    reply = self._overridden(override, handler, payload)
                self.session.dynamic.note_answer(action, payload, reply)
        except CallErrorReply as exc:
            self._record_in(action=action, payload=payload, unique_id=uid, direction="in",
                                kind="call", wall_s=wall)
            await self._send_error(uid, exc.code, exc.description, action, exc.details)
            return
        except Exception:
            log.exception("%s: default answer to %s failed", self.session.id, action)
            self._record_in(action=action, payload=payload, unique_id=uid, direction="in",
                                kind="call", wall_s=wall)
            code = error_code(self.version, "internal")
            await self._send_error(uid, code, DESCRIPTIONS[code], action)
            return
        self._record_in(action=action, payload=payload, unique_id=uid, direction="in",
                            kind="call", wall_s=wall, reply=reply)
        self._remember(self._answered, uid, action)
        await self._send_text(frames.encode_result(uid, reply), action=action, payload=reply,
                              unique_id=uid, kind="result")

    def _overridden(self, override: AnswerOverride, handler: Handler,
                    payload: dict[str, Any]) -> dict[str, Any]:
        """The override's answer; the default handler still runs for its state updates.

        A callable override that fails or answers off-schema is a bench error: it is
        recorded in ``session.answer_errors`` and the charger gets an InternalError.
        """
        refused: CallErrorReply | None = None
        default: dict[str, Any] | None = None
        try:
            default = handler(self, payload)
        except CallErrorReply as exc:
            refused = exc
        try:
            reply = override.reply(payload, default)
        except CallErrorReply:
            raise
        except Exception as exc:  # noqa: BLE001 - the test's callable: report, do not crash
            text = (str(exc) if isinstance(exc, BenchError) else
                    f"the answer override for {override.action} raised "
                    f"{type(exc).__name__}: {exc}")
            self.session.answer_errors.append(text)
            log.error("%s: %s", self.session.id, text)
            self.session.trace.event("bench_error", detail=text)
            raise CallErrorReply(error_code(self.version, "internal"), clip(text)) from None
        if reply is None:
            assert refused is not None
            raise refused
        if override.action == "BootNotification":
            self.session.state.boot_status = reply.get("status")
        return reply

    def _on_reply(self, frame: frames.Frame, wall: float) -> None:
        uid = frame.unique_id
        pending = self._pending.pop(uid, None)
        problem: str | None = None
        if pending is not None:
            action = pending.action
        elif uid in self._raw_calls:
            action = self._raw_calls.pop(uid)
        elif uid in self._orphans:
            action = self._orphans.pop(uid)
            problem = "late reply: arrived after the bench's call had timed out"
        else:
            action = ""
            problem = "no CALL with this unique id is outstanding"
        if frame.type_id == CALLRESULT:
            if problem is None and action:
                found = schemas.check(self.version, action, "response", frame.payload)
                problem = found.description if found else None
            self._record_in(action=action, payload=frame.payload, unique_id=uid,
                                direction="in", kind="result", wall_s=wall, problem=problem)
        else:
            self._record_in(action=action, payload={}, unique_id=uid, direction="in",
                                kind="error", wall_s=wall, error_code=frame.error_code,
                                error_description=frame.error_description,
                                error_details=frame.error_details, problem=problem)
        if pending is not None and not pending.future.done():
            pending.future.set_result((frame, problem))

    def _on_send(self, frame: frames.Frame, wall: float) -> None:
        problem = schemas.check(self.version, frame.action, "send", frame.payload)
        self._record_in(action=frame.action, payload=frame.payload,
                            unique_id=frame.unique_id, direction="in", kind="send", wall_s=wall,
                            problem=problem.description if problem else None)

    def _on_result_error(self, frame: frames.Frame, wall: float) -> None:
        action = self._answered.get(frame.unique_id, "")
        self._record_in(action=action, payload={}, unique_id=frame.unique_id,
                            direction="in", kind="result_error", wall_s=wall,
                            error_code=frame.error_code,
                            error_description=frame.error_description,
                            error_details=frame.error_details,
                            problem=None if action else "no CALLRESULT with this unique id")

    def _record_in(self, **fields: Any) -> None:
        """Record an inbound message (its size is the frame being handled)."""
        self.session.record(size_bytes=self._frame_bytes, **fields)

    # ------------------------------------------------------------------ sending
    async def _send_text(self, text: str, **message: Any) -> None:
        wall = time.time()
        self.session.record(direction="out", wall_s=wall, size_bytes=len(text), **message)
        self.session.trace.frame("out", text, wall)
        await self.ws.send(text)

    async def _send_error(self, uid: str, code: str, description: str, action: str,
                          details: dict[str, Any] | None = None) -> None:
        text = frames.encode_error(uid, code, description, details)
        await self._send_text(text, action=action, payload={}, unique_id=uid, kind="error",
                              error_code=code, error_description=description,
                              error_details=details or {})

    async def send_raw(self, text: str) -> None:
        """Send ``text`` as one websocket text frame, exactly as given."""
        if self.closed:
            raise NotConnected(f"charger {self.session.id!r}: connection closed")
        parsed = frames.parse(text, self.version)
        wall = time.time()
        if isinstance(parsed, frames.FrameProblem):
            self.session.record(action="", payload={}, unique_id=parsed.unique_id,
                                direction="out", kind="malformed", wall_s=wall,
                                problem=parsed.description, raw=text, size_bytes=len(text))
        else:
            kind = {CALL: "call", CALLRESULT: "result", CALLERROR: "error", SEND: "send",
                    CALLRESULTERROR: "result_error"}[parsed.type_id]
            if parsed.type_id == CALL:
                self._remember(self._raw_calls, parsed.unique_id, parsed.action)
            self.session.record(action=parsed.action, payload=parsed.payload or {},
                                unique_id=parsed.unique_id, direction="out", kind=kind,
                                wall_s=wall, error_code=parsed.error_code or None,
                                error_description=parsed.error_description or None,
                                error_details=parsed.error_details, raw=text,
                                size_bytes=len(text))
        self.session.trace.frame("out", text, wall)
        try:
            await self.ws.send(text)
        except ConnectionClosed as exc:
            raise NotConnected(f"charger {self.session.id!r}: connection closed") from exc

    async def close(self, code: int = 1000, reason: str = "") -> None:
        try:
            await self.ws.close(code, reason)
        except Exception as exc:  # noqa: BLE001 - closing an already broken connection
            log.debug("%s: close failed: %s", self.session.id, exc)

    # --------------------------------------------------------------- the bench's CALLs
    async def call_action(self, action: str, payload: dict[str, Any], timeout_s: float,
                          validate: bool = True) -> CallOutcome:
        """Send a CALL and wait (``timeout_s`` lab seconds) for its CALLRESULT / CALLERROR.

        One CALL at a time per connection, as OCPP-J requires; the wait for a previous CALL
        counts against the timeout. Raises ``BenchError`` for a payload that breaks the
        version's schema (unless ``validate`` is False) and ``NotConnected`` if closed.
        """
        if validate:
            invalid = schemas.check(self.version, action, "request", payload)
            if invalid is not None:
                if invalid.problem == "not_implemented":
                    raise BenchError(f"OCPP {self.version} has no request {action!r} "
                                     f"(charger {self.session.id!r})")
                raise BenchError(f"refusing to send {action} to {self.session.id!r}: the "
                                 f"payload breaks the OCPP {self.version} schema: "
                                 f"{invalid.description}")
        clock = self.session.clock
        wall_timeout = clock.wall_duration(timeout_s)
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            await asyncio.wait_for(self._call_lock.acquire(), wall_timeout)
        except TimeoutError:
            raise BenchError(f"charger {self.session.id!r}: another CALL is still waiting for "
                             f"its answer; {action} could not be sent within {timeout_s:g} "
                             "lab s") from None
        try:
            if self.closed:
                raise NotConnected(f"charger {self.session.id!r}: connection closed")
            uid = str(uuid.uuid4())
            future: asyncio.Future[tuple[frames.Frame | None, str | None]] = (
                loop.create_future())
            self._pending[uid] = _Pending(action, future)
            outcome = CallOutcome(action=action, request=payload, unique_id=uid,
                                  timeout_s=timeout_s)
            try:
                await self._send_text(frames.encode_call(uid, action, payload), action=action,
                                      payload=payload, unique_id=uid, kind="call")
            except ConnectionClosed:
                self._pending.pop(uid, None)
                return _with(outcome, disconnected=True, elapsed_s=0.0)
            remaining = wall_timeout - (loop.time() - start)
            try:
                frame, problem = await asyncio.wait_for(future, max(0.0, remaining))
            except TimeoutError:
                self.session.trace.event("call_timeout", action=action, unique_id=uid,
                                         timeout_s=timeout_s)
                return _with(outcome, timed_out=True, elapsed_s=timeout_s)
            finally:
                # Timed out or cancelled (Ctrl-C): a reply that still comes is an orphan.
                if self._pending.pop(uid, None) is not None:
                    self._remember(self._orphans, uid, action)
            elapsed = clock.lab_duration(loop.time() - start)
            if frame is None:
                if problem is not None:  # a reply arrived but was not valid OCPP-J
                    return _with(outcome, result={}, violation=problem, elapsed_s=elapsed)
                return _with(outcome, disconnected=True, elapsed_s=elapsed)
            if frame.type_id == CALLERROR:
                info = CallErrorInfo(frame.error_code, frame.error_description,
                                     dict(frame.error_details or {}))
                return _with(outcome, error=info, elapsed_s=elapsed)
            return _with(outcome, result=frame.payload, violation=problem, elapsed_s=elapsed)
        finally:
            self._call_lock.release()

    async def call(self, payload: Any, suppress: bool = False, unique_id: Any = None,
                   skip_schema_validation: bool = False) -> CallOutcome:
        """ocpp-style entry point: ``payload`` is an ``ocpp.vXX.call`` dataclass.

        Returns the ``CallOutcome`` (never suppresses a CALLERROR).
        """
        from ocpp.charge_point import (  # type: ignore[import-untyped]
            remove_nones,
            serialize_as_dict,
            snake_to_camel_case,
        )

        body = remove_nones(snake_to_camel_case(serialize_as_dict(payload)))
        return await self.call_action(type(payload).__name__, body,
                                      self.session.settings.call_timeout_s,
                                      validate=not skip_schema_validation)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _remember(store: OrderedDict[str, str], uid: str, action: str) -> None:
        store[uid] = action
        while len(store) > _MAX_REMEMBERED_IDS:
            store.popitem(last=False)

    def lab_now(self) -> float:
        return self.session.clock.now()


def _with(outcome: CallOutcome, **changes: Any) -> CallOutcome:
    from dataclasses import replace

    return replace(outcome, **changes)
