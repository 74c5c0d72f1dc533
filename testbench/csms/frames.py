"""OCPP-J framing: strict parsing of inbound frames and encoding of outbound ones.

``[2, id, action, payload]`` CALL, ``[3, id, payload]`` CALLRESULT,
``[4, id, code, description, details]`` CALLERROR; OCPP 2.1 adds
``[5, id, code, description, details]`` CALLRESULTERROR and ``[6, id, action, payload]``
SEND (verify against OCPP 2.1 part 4). A frame that is not valid OCPP-J yields a
``FrameProblem`` saying which error code to answer (if any) and with which unique id
(``"-1"`` when the id cannot be read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from testbench.csms.errorcodes import Problem, clip, error_code

CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND = 2, 3, 4, 5, 6
UNREADABLE_ID = "-1"
MAX_NESTING = 64
"""Deepest JSON nesting accepted (OCPP payloads need about 10 levels; deeper frames would
make recursive consumers such as ``copy.deepcopy`` fail)."""

_TYPES_BY_VERSION = {
    "1.6": {CALL, CALLRESULT, CALLERROR},
    "2.0.1": {CALL, CALLRESULT, CALLERROR},
    "2.1": {CALL, CALLRESULT, CALLERROR, CALLRESULTERROR, SEND},
}


@dataclass(frozen=True, slots=True)
class Frame:
    """A structurally valid inbound frame."""

    type_id: int
    unique_id: str
    action: str = ""
    payload: Any = None
    error_code: str = ""
    error_description: str = ""
    error_details: Any = None


@dataclass(frozen=True, slots=True)
class FrameProblem:
    """An inbound frame that is not valid OCPP-J.

    ``reply_code`` is the CALLERROR to answer with (``None``: answering is not allowed,
    e.g. a broken CALLRESULT). ``type_id`` is the readable message type id, if any.
    """

    problem: Problem
    description: str
    unique_id: str
    reply_code: str | None
    type_id: int | None = None


def parse(data: str | bytes, version: str) -> Frame | FrameProblem:
    """Parse one inbound websocket message of a charger speaking ``version``."""
    if isinstance(data, bytes):
        return _problem(version, "not_json", "binary websocket frame: OCPP-J uses text frames",
                        UNREADABLE_ID)
    try:
        msg = json.loads(data, parse_constant=_reject_constant)
    except ValueError as exc:
        return _problem(version, "not_json", f"frame is not valid JSON: {exc}", UNREADABLE_ID)
    except RecursionError:
        return _problem(version, "not_json", "frame is nested too deeply to parse",
                        UNREADABLE_ID)
    if not isinstance(msg, list) or not msg:
        return _problem(version, "not_array",
                        f"frame is a JSON {type(msg).__name__}, not a non-empty array",
                        UNREADABLE_ID)
    type_id = msg[0]
    unique_id = msg[1] if len(msg) > 1 and isinstance(msg[1], str) else None
    if (isinstance(type_id, bool) or not isinstance(type_id, int)
            or type_id not in _TYPES_BY_VERSION[version]):
        return _problem(version, "bad_type_id",
                        f"message type id {type_id!r} is not defined in OCPP {version}",
                        unique_id if unique_id is not None else UNREADABLE_ID)
    is_request = type_id in (CALL, SEND)
    if _too_deep(data, msg):
        return _problem(version, "format", f"frame is nested deeper than {MAX_NESTING} levels",
                        unique_id if unique_id is not None else UNREADABLE_ID,
                        reply=type_id == CALL, type_id=type_id)
    if unique_id is None:
        got = repr(msg[1]) if len(msg) > 1 else "nothing"
        return _problem(version, "bad_unique_id",
                        f"unique id must be a string, got {got}", UNREADABLE_ID,
                        reply=type_id == CALL, type_id=type_id)
    if is_request:
        return _parse_request(msg, type_id, unique_id, version)
    if type_id == CALLRESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            return _problem(version, "bad_call",
                            "CALLRESULT must be [3, uniqueId, {payload}]", unique_id,
                            reply=False, type_id=type_id)
        return Frame(type_id, unique_id, payload=msg[2])
    # CALLERROR / CALLRESULTERROR
    if (len(msg) != 5 or not isinstance(msg[2], str) or not isinstance(msg[3], str)
            or not isinstance(msg[4], dict)):
        return _problem(version, "bad_call",
                        f"[{type_id}, uniqueId, errorCode, errorDescription, {{errorDetails}}] "
                        "expected", unique_id, reply=False, type_id=type_id)
    return Frame(type_id, unique_id, error_code=msg[2], error_description=msg[3],
                 error_details=msg[4])


def _too_deep(text: str, msg: Any) -> bool:
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return False  # cheap: not enough brackets to nest that deep
    stack: list[tuple[Any, int]] = [(msg, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_request(msg: list[Any], type_id: int, unique_id: str,
                   version: str) -> Frame | FrameProblem:
    # A SEND must never be answered, not even with an error.
    reply = type_id == CALL
    if len(msg) != 4 or not isinstance(msg[2], str) or not msg[2]:
        return _problem(version, "bad_call",
                        f"[{type_id}, uniqueId, action, {{payload}}] expected "
                        f"({len(msg)} elements given)", unique_id, reply=reply, type_id=type_id)
    if not isinstance(msg[3], dict):
        return _problem(version, "payload_not_object",
                        f"payload of {msg[2]} is a JSON {type(msg[3]).__name__}, not an object",
                        unique_id, reply=reply, type_id=type_id)
    return Frame(type_id, unique_id, action=msg[2], payload=msg[3])


def _problem(version: str, problem: Problem, description: str, unique_id: str,
             reply: bool = True, type_id: int | None = None) -> FrameProblem:
    code = error_code(version, problem) if reply else None
    return FrameProblem(problem, description, unique_id, code, type_id)


def _dumps(obj: Any) -> str:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (a charger sent "\ud800"): escape it
            text = json.dumps(obj, separators=(",", ":"), ensure_ascii=True, default=str)
    return text


def encode_call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return _dumps([CALL, unique_id, action, payload])


def encode_result(unique_id: str, payload: dict[str, Any]) -> str:
    return _dumps([CALLRESULT, unique_id, payload])


def encode_error(unique_id: str, code: str, description: str,
                 details: dict[str, Any] | None = None) -> str:
    return _dumps([CALLERROR, unique_id, code, clip(description), details or {}])
