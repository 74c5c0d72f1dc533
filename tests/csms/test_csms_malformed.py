"""Malformed inbound frames get the proper CALLERROR (or none), are recorded, and never end
the session."""

from __future__ import annotations

import json
import queue
from collections.abc import Callable
from typing import Any

import pytest
from csms_helpers import CHARGER_OF_VERSION, VERSIONS, Bench, Client

FRAME_CODES: dict[str, dict[str, str]] = {
    "1.6": {"frame": "FormationViolation", "type": "FormationViolation",
            "call": "ProtocolError", "format": "FormationViolation",
            "occurrence": "OccurenceConstraintViolation"},
    "2.0.1": {"frame": "RpcFrameworkError", "type": "MessageTypeNotSupported",
              "call": "RpcFrameworkError", "format": "FormatViolation",
              "occurrence": "OccurenceConstraintViolation"},
    "2.1": {"frame": "RpcFrameworkError", "type": "MessageTypeNotSupported",
            "call": "RpcFrameworkError", "format": "FormatViolation",
            "occurrence": "OccurrenceConstraintViolation"},
}


def _session_alive(client: Client) -> None:
    reply = client.request("Heartbeat", {})
    assert reply[0] == 3 and "currentTime" in reply[2]


def _error_reply(client: Client, frame: str | bytes) -> list[Any]:
    client.send(frame)
    reply = client.recv()
    assert isinstance(reply, list) and reply[0] == 4, reply
    return reply


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("frame, kind, unique_id", [
    ("this is not json", "frame", "-1"),
    ('[2, "a1", "Heartbeat", {}', "frame", "-1"),  # truncated JSON
    ('{"messageTypeId": 2}', "frame", "-1"),  # not an array
    ("[]", "frame", "-1"),
    ("[2]", "frame", "-1"),  # no unique id
    ('[2, 17, "Heartbeat", {}]', "frame", "-1"),  # unique id not a string
    ('[9, "a2", "Heartbeat", {}]', "type", "a2"),  # unknown message type id
    ('["2", "a3", "Heartbeat", {}]', "type", "a3"),  # type id as a string
    ('[2, "a4", "Heartbeat"]', "call", "a4"),  # payload missing
    ('[2, "a5", "Heartbeat", {}, {}]', "call", "a5"),  # one element too many
    ('[2, "a6", "Heartbeat", []]', "format", "a6"),  # payload not an object
])
def test_malformed_frames_get_the_version_s_error_code(
        bench: Bench, version: str, frame: str, kind: str, unique_id: str) -> None:
    cid = CHARGER_OF_VERSION[version]
    client = bench.client(cid)
    reply = _error_reply(client, frame)
    assert reply[1] == unique_id
    assert reply[2] == FRAME_CODES[version][kind]
    assert isinstance(reply[3], str) and len(reply[3]) <= 255 and isinstance(reply[4], dict)
    recorded = [m for m in bench.csms.charger(cid).messages() if m.direction == "in"]
    assert recorded[-1].kind == "malformed" and recorded[-1].raw == frame
    assert recorded[-1].problem
    _session_alive(client)


@pytest.mark.parametrize("version", VERSIONS)
def test_binary_frames_are_refused_as_unreadable(bench: Bench, version: str) -> None:
    client = bench.client(CHARGER_OF_VERSION[version])
    reply = _error_reply(client, b'[2,"b1","Heartbeat",{}]')
    assert reply[1] == "-1" and reply[2] == FRAME_CODES[version]["frame"]
    _session_alive(client)


@pytest.mark.parametrize("version", VERSIONS)
def test_schema_violations_get_format_occurrence_type_errors(bench: Bench,
                                                            version: str) -> None:
    cid = CHARGER_OF_VERSION[version]
    client = bench.client(cid)
    heartbeat_extra = _error_reply(client, json.dumps([2, "s1", "Heartbeat", {"bogus": 1}]))
    assert heartbeat_extra[1:3] == ["s1", FRAME_CODES[version]["format"]]
    missing = _error_reply(client, json.dumps([2, "s2", "BootNotification", {}]))
    assert missing[1:3] == ["s2", FRAME_CODES[version]["occurrence"]]
    status = ({"connectorId": "one", "errorCode": "NoError", "status": "Available"}
              if version == "1.6" else
              {"timestamp": "2025-01-01T00:00:00Z", "connectorStatus": "Available",
               "evseId": "one", "connectorId": 1})
    wrong_type = _error_reply(client, json.dumps([2, "s3", "StatusNotification", status]))
    assert wrong_type[1:3] == ["s3", "TypeConstraintViolation"]
    bad_enum = dict(status, **({"connectorId": 1, "status": "Sleeping"} if version == "1.6"
                               else {"evseId": 1, "connectorStatus": "Sleeping"}))
    out_of_enum = _error_reply(client, json.dumps([2, "s4", "StatusNotification", bad_enum]))
    assert out_of_enum[1:3] == ["s4", "PropertyConstraintViolation"]
    handle = bench.csms.charger(cid)
    invalid = [m for m in handle.messages("StatusNotification") if m.direction == "in"]
    assert len(invalid) == 2 and all(m.problem for m in invalid)
    assert handle.state.connector_status == {}  # invalid messages do not change state
    _session_alive(client)


@pytest.mark.parametrize("version", VERSIONS)
def test_replies_with_unknown_unique_id_are_recorded_not_answered(bench: Bench,
                                                                  version: str) -> None:
    cid = CHARGER_OF_VERSION[version]
    client = bench.client(cid)
    client.send(json.dumps([3, "nobody-asked", {"status": "Accepted"}]))
    client.send(json.dumps([4, "nobody-asked-2", "GenericError", "x", {}]))
    client.send('[3, "broken-result"]')  # malformed reply: never answered either
    _session_alive(client)
    with pytest.raises(queue.Empty):
        client.recv(timeout=0.3)
    msgs = [m for m in bench.csms.charger(cid).messages() if m.direction == "in"]
    by_id = {m.unique_id: m for m in msgs}
    assert by_id["nobody-asked"].kind == "result"
    assert "no CALL with this unique id" in (by_id["nobody-asked"].problem or "")
    assert by_id["nobody-asked-2"].kind == "error"
    assert by_id["broken-result"].kind == "malformed"


def test_v21_send_is_recorded_and_never_answered(bench: Bench) -> None:
    client = bench.client("cp21")
    stream = {"id": 1, "pending": 0, "basetime": "2025-01-01T00:00:00Z",
              "data": [{"t": 0, "v": "1.0"}]}
    client.send(json.dumps([6, "send-1", "NotifyPeriodicEventStream", stream]))
    client.send(json.dumps([6, "send-2", "NotifyPeriodicEventStream", {"id": "x"}]))
    _session_alive(client)
    with pytest.raises(queue.Empty):
        client.recv(timeout=0.3)
    sends = [m for m in bench.csms.charger("cp21").messages("NotifyPeriodicEventStream")]
    assert [m.kind for m in sends] == ["send", "send"]
    assert sends[0].problem is None and sends[1].problem is not None
    # A SEND is an inbound request: expect() sees it.
    bench.csms.charger("cp21").expect("NotifyPeriodicEventStream", 1, id=1)


def test_v201_does_not_know_send(bench: Bench) -> None:
    client = bench.client("cp201")
    reply = _error_reply(client, json.dumps([6, "s", "NotifyPeriodicEventStream", {}]))
    assert reply[1:3] == ["s", "MessageTypeNotSupported"]


def test_oversized_frame_closes_with_1009_and_the_charger_can_reconnect(
        make_bench: Callable[..., Bench]) -> None:
    b = make_bench(max_frame_bytes=2000)
    client = b.client("cp201")
    client.boot()
    client.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "X", "data": "x" * 5000}]))
    assert client.closed.wait(5)
    assert client.ws.close_code == 1009
    again = b.client("cp201")
    assert again.boot()[2]["status"] == "Accepted"
    events = [e.get("event") for e in b.csms.charger("cp201").trace_since(0)
              if e["dir"] == "event"]
    assert events.count("connected") == 2 and "closed" in events
