"""Hypothesis strategies for inbound OCPP-J frames, and an oracle of what the bench must do.

Frames come in kinds: ``valid`` (a schema-valid request of an action the bench answers:
it must answer CALLRESULT with a schema-valid payload), ``mutated`` (a valid request with
one thing broken), ``reply`` (CALLRESULT / CALLERROR / CALLRESULTERROR nobody asked for),
``odd`` (odd type ids, unique ids, payloads, numbers, nesting, unicode), ``text`` (not JSON
at all), ``binary``, ``oversized`` and ``flood`` (one valid request repeated).

The oracle (``expected_reply``) is independent of the bench's parser: per OCPP-J, a frame
that is not a JSON array, or whose type id the version does not define, or a CALL, is
answered with a CALLERROR or CALLRESULT carrying the frame's unique id when it is a
string, else "-1"; replies, 2.1 SENDs and 2.1 CALLRESULTERRORs are never answered.
Binary frames are answered like unreadable text (the bench's policy); oversized frames
close the connection with 1009.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

VERSIONS = ("1.6", "2.0.1", "2.1")
TYPES = {"1.6": {2, 3, 4}, "2.0.1": {2, 3, 4}, "2.1": {2, 3, 4, 5, 6}}
UNREADABLE = "-1"
ERROR_CODES = {
    "1.6": {"NotImplemented", "NotSupported", "InternalError", "ProtocolError",
            "SecurityError", "FormationViolation", "PropertyConstraintViolation",
            "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError"},
    "2.0.1": {"FormatViolation", "GenericError", "InternalError", "MessageTypeNotSupported",
              "NotImplemented", "NotSupported", "OccurenceConstraintViolation",
              "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError",
              "SecurityError", "TypeConstraintViolation"},
}
ERROR_CODES["2.1"] = ERROR_CODES["2.0.1"] | {"OccurrenceConstraintViolation"}


@dataclass(frozen=True)
class Fuzzed:
    """One generated frame."""

    kind: str
    data: str | bytes
    action: str = ""  # for kind "valid": the action whose response schema applies

    def __repr__(self) -> str:  # frames can be 64 KiB: keep failure reports readable
        shown = self.data if len(self.data) <= 300 else (
            self.data[:200] + (b"..." if isinstance(self.data, bytes) else "...")
            + self.data[-60:])
        return f"Fuzzed({self.kind!r}, {shown!r}, len={len(self.data)}, action={self.action!r})"


# ------------------------------------------------------------------------ leaf values
_word = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=20)
_timestamp = st.datetimes().map(lambda d: d.isoformat(timespec="seconds") + "Z")
_uid = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=36)
_small_int = st.integers(min_value=0, max_value=1000)


def _json_leaf() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.sampled_from([10**300, -(10**300), 2**63, -(2**63) - 1, 0, -0]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([1e308, -1e308, 5e-324, 1e-320]),
        st.text(max_size=30),
        st.sampled_from(["", "\u0000", "\ud7ff\ue000", "\U0001f50c\u26a1", "\u202e" * 3,
                         "a" * 300, "\\", '"', "\r\n"]),
    )


_any_json = st.recursive(
    _json_leaf(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


# ------------------------------------------------------------------------ valid requests
def _meter_value_16() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "timestamp": _timestamp,
        "sampledValue": st.lists(st.fixed_dictionaries(
            {"value": st.integers(0, 10**6).map(str)},
            optional={"measurand": st.sampled_from(["Energy.Active.Import.Register",
                                                    "Power.Active.Import", "Current.Import"]),
                      "unit": st.sampled_from(["Wh", "W", "A"])}), min_size=1, max_size=3)})


def _meter_value_2x() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "timestamp": _timestamp,
        "sampledValue": st.lists(st.fixed_dictionaries(
            {"value": st.floats(-1e6, 1e6, allow_nan=False)},
            optional={"measurand": st.sampled_from(["Energy.Active.Import.Register",
                                                    "Power.Active.Import"])}),
            min_size=1, max_size=3)})


def _requests_16() -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    return {
        "BootNotification": st.fixed_dictionaries(
            {"chargePointVendor": _word, "chargePointModel": _word},
            optional={"firmwareVersion": _word}),
        "Heartbeat": st.just({}),
        "StatusNotification": st.fixed_dictionaries(
            {"connectorId": st.integers(0, 4), "errorCode": st.sampled_from(
                ["NoError", "GroundFailure", "OtherError"]),
             "status": st.sampled_from(["Available", "Preparing", "Charging", "Faulted"])},
            optional={"timestamp": _timestamp, "info": _word}),
        "Authorize": st.fixed_dictionaries({"idTag": _word}),
        "StartTransaction": st.fixed_dictionaries(
            {"connectorId": st.integers(1, 4), "idTag": _word, "meterStart": _small_int,
             "timestamp": _timestamp}),
        "StopTransaction": st.fixed_dictionaries(
            {"transactionId": st.integers(-5, 10**6), "meterStop": _small_int,
             "timestamp": _timestamp},
            optional={"idTag": _word, "reason": st.sampled_from(["Local", "EVDisconnected"]),
                      "transactionData": st.lists(_meter_value_16(), max_size=2)}),
        "MeterValues": st.fixed_dictionaries(
            {"connectorId": st.integers(0, 4),
             "meterValue": st.lists(_meter_value_16(), min_size=1, max_size=2)},
            optional={"transactionId": st.integers(0, 10**6)}),
        "DataTransfer": st.fixed_dictionaries({"vendorId": _word},
                                              optional={"messageId": _word,
                                                        "data": st.text(max_size=50)}),
        "DiagnosticsStatusNotification": st.fixed_dictionaries(
            {"status": st.sampled_from(["Idle", "Uploaded", "UploadFailed", "Uploading"])}),
        "FirmwareStatusNotification": st.fixed_dictionaries(
            {"status": st.sampled_from(["Downloaded", "Idle", "Installed"])}),
        "SecurityEventNotification": st.fixed_dictionaries(
            {"type": _word, "timestamp": _timestamp}, optional={"techInfo": _word}),
    }


def _requests_2x() -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    token = st.fixed_dictionaries({"idToken": _word,
                                   "type": st.sampled_from(["ISO14443", "Central", "Local"])})
    return {
        "BootNotification": st.fixed_dictionaries(
            {"reason": st.sampled_from(["PowerUp", "Watchdog", "Unknown"]),
             "chargingStation": st.fixed_dictionaries({"vendorName": _word, "model": _word})}),
        "Heartbeat": st.just({}),
        "StatusNotification": st.fixed_dictionaries(
            {"timestamp": _timestamp,
             "connectorStatus": st.sampled_from(["Available", "Occupied", "Faulted"]),
             "evseId": st.integers(0, 4), "connectorId": st.integers(0, 2)}),
        "Authorize": st.fixed_dictionaries({"idToken": token}),
        "TransactionEvent": st.fixed_dictionaries(
            {"eventType": st.sampled_from(["Started", "Updated", "Ended"]),
             "timestamp": _timestamp,
             "triggerReason": st.sampled_from(["Authorized", "CablePluggedIn",
                                               "MeterValuePeriodic", "StopAuthorized"]),
             "seqNo": _small_int,
             "transactionInfo": st.fixed_dictionaries(
                 {"transactionId": _uid},
                 optional={"chargingState": st.sampled_from(["Charging", "Idle"])})},
            optional={"idToken": token, "offline": st.booleans(),
                      "evse": st.fixed_dictionaries({"id": st.integers(1, 4)}),
                      "meterValue": st.lists(_meter_value_2x(), min_size=1, max_size=2)}),
        "MeterValues": st.fixed_dictionaries(
            {"evseId": st.integers(0, 4),
             "meterValue": st.lists(_meter_value_2x(), min_size=1, max_size=2)}),
        "DataTransfer": st.fixed_dictionaries({"vendorId": _word},
                                              optional={"messageId": _word,
                                                        "data": _any_json}),
        "SecurityEventNotification": st.fixed_dictionaries(
            {"type": _word, "timestamp": _timestamp}),
        "LogStatusNotification": st.fixed_dictionaries(
            {"status": st.sampled_from(["Idle", "Uploaded", "Uploading"])}),
        "FirmwareStatusNotification": st.fixed_dictionaries(
            {"status": st.sampled_from(["Downloaded", "Idle", "Installed"])}),
    }


REQUESTS = {"1.6": _requests_16(), "2.0.1": _requests_2x(), "2.1": _requests_2x()}


def _valid_request(version: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.sampled_from(sorted(REQUESTS[version])).flatmap(
        lambda action: REQUESTS[version][action].map(lambda p: (action, p)))


_dump_styles = st.sampled_from([
    {"separators": (",", ":")}, {"separators": (", ", ": ")}, {"indent": 1},
    {"ensure_ascii": False}, {"sort_keys": True}])


def _dumps(obj: Any, style: dict[str, Any]) -> str:
    text = json.dumps(obj, **style)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot go in a text frame: escape them
        text = json.dumps(obj, **{**style, "ensure_ascii": True})
    return text


@st.composite
def valid_call(draw: st.DrawFn, version: str) -> Fuzzed:
    action, payload = draw(_valid_request(version))
    uid = draw(_uid)
    return Fuzzed("valid", _dumps([2, uid, action, payload], draw(_dump_styles)), action)


@st.composite
def mutated_call(draw: st.DrawFn, version: str) -> Fuzzed:
    action, payload = draw(_valid_request(version))
    payload = dict(payload)
    how = draw(st.sampled_from(["drop", "retype", "extra", "replace", "action", "nest"]))
    if how == "drop" and payload:
        payload.pop(draw(st.sampled_from(sorted(payload))))
    elif how == "retype" and payload:
        payload[draw(st.sampled_from(sorted(payload)))] = draw(_json_leaf())
    elif how == "extra":
        payload[draw(st.text(min_size=1, max_size=10))] = draw(_any_json)
    elif how == "replace":
        payload = draw(st.dictionaries(st.text(max_size=10), _any_json, max_size=5))
    elif how == "action":
        action = draw(st.one_of(st.text(max_size=40), st.sampled_from(
            ["", "../../v16/schemas/BootNotification", "Boot\u0000Notification",
             "GetVariables", "NotifyPeriodicEventStream", "X" * 500, "bootnotification",
             "\U0001f50cAction", "Heartbeat "])))
    else:
        depth = draw(st.integers(2, 300))
        payload["customData"] = json.loads("[" * depth + "1" + "]" * depth)
    uid = draw(_odd_uid() | _uid)
    return Fuzzed("mutated", _dumps([2, uid, action, payload], draw(_dump_styles)))


def _odd_uid() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
        st.just(""), st.text(max_size=10), st.text(min_size=37, max_size=200),
        st.just("u" * 5000), st.sampled_from(["\u0000", "-1", "\ud83d\udd0c", " ", "null"]),
        st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                              st.integers(), max_size=2))


@st.composite
def unsolicited_reply(draw: st.DrawFn, version: str) -> Fuzzed:
    uid = draw(_odd_uid() | _uid)
    shape = draw(st.sampled_from(["result", "error", "result_error", "short", "send"]))
    if shape == "result":
        frame: list[Any] = [3, uid, draw(_any_json)]
    elif shape == "error":
        frame = [4, uid, draw(st.text(max_size=30)), draw(st.text(max_size=300)),
                 draw(_any_json)]
    elif shape == "result_error":
        frame = [5, uid, "GenericError", draw(st.text(max_size=20)), {}]
    elif shape == "send":
        frame = [6, uid, draw(st.sampled_from(["NotifyPeriodicEventStream", "Heartbeat"])),
                 draw(_any_json)]
    else:
        frame = [draw(st.sampled_from([3, 4])), uid]
    return Fuzzed("reply", _dumps(frame, draw(_dump_styles)))


@st.composite
def odd_frame(draw: st.DrawFn, version: str) -> Fuzzed:
    type_id = draw(st.one_of(
        st.sampled_from([0, 1, 2, 7, 99, -1, 2.0, "2", True, None, [], {}, 2**64]),
        st.integers()))
    elements = draw(st.lists(_any_json, max_size=5))
    uid = draw(_odd_uid() | _uid)
    frame = [type_id, uid, *elements] if draw(st.booleans()) else [type_id, *elements]
    top = draw(st.sampled_from(["array", "array", "array", "object", "scalar", "deep",
                                "huge-number"]))
    if top == "object":
        obj: Any = {"messageTypeId": type_id, "uniqueId": uid}
    elif top == "scalar":
        obj = draw(_json_leaf())
    elif top == "deep":
        depth = draw(st.integers(60, 400))
        return Fuzzed("odd", "[2," + json.dumps(draw(_uid)) + ',"DataTransfer",'
                      + '{"vendorId":"X","data":' + "[" * depth + "]" * depth + "}]")
    elif top == "huge-number":
        digits = draw(st.sampled_from([400, 4000, 5000, 20000]))
        return Fuzzed("odd", f'[2,"{draw(_uid)}","MeterValues",{{"connectorId":'
                      f'{"9" * digits},"meterValue":[]}}]')
    else:
        obj = frame
    return Fuzzed("odd", _dumps(obj, draw(_dump_styles)))


@st.composite
def not_json(draw: st.DrawFn, version: str) -> Fuzzed:
    text = draw(st.one_of(
        st.text(max_size=100),
        st.sampled_from([
            "", " ", "[", "]", "[2,", '[2,"a","Heartbeat",{}', "[2,'a','Heartbeat',{}]",
            '[2,"a","Heartbeat",{},]', "[2,\"a\",\"Heartbeat\",{\"x\":NaN}]",
            "[2,\"a\",\"Heartbeat\",{\"x\":Infinity}]", "\ufeff[2,\"a\",\"Heartbeat\",{}]",
            "[" * 100_000, "{" * 50_000, "[2,\"a\",\"Heartbeat\",{\"x\":\"\\ud800\"}]x",
            "null null", "[2,\"a\",\"Heartbeat\",{}]\u0000"]),
    ))
    return Fuzzed("text", text)


@st.composite
def binary_frame(draw: st.DrawFn, version: str) -> Fuzzed:
    data = draw(st.one_of(st.binary(max_size=200), st.just(b'[2,"b","Heartbeat",{}]'),
                          st.just(b"\xff\xfe\x00"), st.just(b"\xc3\x28")))
    return Fuzzed("binary", data)


@st.composite
def oversized_frame(draw: st.DrawFn, version: str, limit_bytes: int) -> Fuzzed:
    extra = draw(st.integers(1, 4096))
    filler = "x" * (limit_bytes + extra)
    return Fuzzed("oversized", f'[2,"{draw(_uid)}","DataTransfer",'
                               f'{{"vendorId":"X","data":"{filler}"}}]')


@st.composite
def big_valid_frame(draw: st.DrawFn, version: str, limit_bytes: int) -> Fuzzed:
    """A valid DataTransfer just under the size limit (fills the bounded buffers)."""
    uid = draw(_uid)
    head = f'[2,"{uid}","DataTransfer",{{"vendorId":"X","data":"'
    room = limit_bytes - len(head) - 8
    size = draw(st.integers(room // 2, room))
    return Fuzzed("valid", head + "y" * size + '"}]', "DataTransfer")


def frame(version: str, limit_bytes: int) -> st.SearchStrategy[Fuzzed]:
    """One frame of any kind for a charger speaking ``version``."""
    return st.one_of(
        valid_call(version), valid_call(version), mutated_call(version),
        mutated_call(version), unsolicited_reply(version), odd_frame(version),
        odd_frame(version), not_json(version), binary_frame(version),
        big_valid_frame(version, limit_bytes))


@st.composite
def flood(draw: st.DrawFn, version: str) -> list[Fuzzed]:
    count = draw(st.integers(50, 200))
    action, payload = draw(_valid_request(version))
    text = json.dumps(payload)
    return [Fuzzed("valid", f'[2,"flood-{i}",{json.dumps(action)},{text}]', action)
            for i in range(count)]


@st.composite
def batch(draw: st.DrawFn, limit_bytes: int, size: int) -> tuple[str, list[Fuzzed]]:
    """(version, frames): ``size`` mixed frames, or a flood; maybe one oversized at the end."""
    version = draw(st.sampled_from(VERSIONS))
    if draw(st.integers(0, 19)) == 0:
        frames = draw(flood(version))
    else:
        frames = draw(st.lists(frame(version, limit_bytes), min_size=size, max_size=size))
    if draw(st.integers(0, 29)) == 0:
        frames.append(draw(oversized_frame(version, limit_bytes)))
    return version, frames


# ------------------------------------------------------------------------ the oracle
def _reject(name: str) -> Any:
    raise ValueError(name)


def expected_reply(item: Fuzzed, version: str) -> str | None:
    """The unique id the bench must answer with, or None when it must not answer."""
    if isinstance(item.data, bytes):
        return UNREADABLE
    try:
        msg = json.loads(item.data, parse_constant=_reject)
    except (ValueError, RecursionError):
        return UNREADABLE
    if not isinstance(msg, list) or not msg:
        return UNREADABLE
    type_id = msg[0]
    uid = msg[1] if len(msg) > 1 and isinstance(msg[1], str) else UNREADABLE
    known = (isinstance(type_id, int) and not isinstance(type_id, bool)
             and type_id in TYPES[version])
    if not known or type_id == 2:
        return uid
    return None
