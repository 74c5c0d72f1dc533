"""Reading the emulators' records: every protocol family normalised, growing files, evidence."""

from __future__ import annotations

import json

import pytest

from testbench.errors import BenchError
from testbench.iso15118.messages import (
    RecordTail,
    V2GEvent,
    V2GMessage,
    iter_evidence,
    merge,
    parse_record,
    split_document,
    write_evidence,
)


def _msg(role, direction, name, doc, t, **extra):
    return {"kind": "message", "role": role, "direction": direction, "name": name,
            "namespace": "urn:iso:15118:2:2013:MsgDef", "doc": doc, "exi": "8098", "t_wall_s": 1e9 + t,
            "t_mono_s": t, **extra}


def test_iso2_documents_unwrap_the_body_and_keep_the_header():
    doc = {"Header": {"SessionID": "AB"}, "Body": {"SessionSetupRes": {"ResponseCode": "OK_NewSessionEstablished"}}}
    assert split_document("SessionSetupRes", doc) == (
        {"ResponseCode": "OK_NewSessionEstablished"}, {"SessionID": "AB"})


def test_iso20_documents_are_flat_with_a_header():
    doc = {"Header": {"SessionID": "AB", "TimeStamp": 1}, "ResponseCode": "OK", "EVSEID": "X"}
    assert split_document("SessionSetupRes", doc) == (
        {"ResponseCode": "OK", "EVSEID": "X"}, {"SessionID": "AB", "TimeStamp": 1})


def test_app_protocol_handshake_has_no_header():
    doc = {"AppProtocol": [{"ProtocolNamespace": "urn:iso:15118:2:2013:MsgDef", "SchemaID": 1}]}
    fields, header = split_document("supportedAppProtocolReq", doc)
    assert fields == doc and header == {}


def test_a_message_record_becomes_a_message_with_its_sender():
    item = parse_record(_msg("secc", "rx", "AuthorizationReq",
                             {"Header": {}, "Body": {"AuthorizationReq": {}}}, 5.0, codec_ms=12.5))
    assert isinstance(item, V2GMessage)
    assert (item.sender, item.is_request, item.codec_ms, item.exi_bytes) == ("evcc", True, 12.5, 2)


def test_nested_fields_are_reachable_by_element_names():
    item = parse_record(_msg("secc", "tx", "ChargeParameterDiscoveryRes", {"Body": {
        "ChargeParameterDiscoveryRes": {"ResponseCode": "OK",
                                        "AC_EVSEChargeParameter": {"EVSEMaxCurrent": {"Value": 16}}}}}, 1))
    assert isinstance(item, V2GMessage)
    assert item.get("AC_EVSEChargeParameter", "EVSEMaxCurrent", "Value") == 16
    assert item.get("AC_EVSEChargeParameter", "Missing", default="none") == "none"
    assert item.response_code == "OK"


def test_undecodable_messages_keep_their_error():
    item = parse_record({"kind": "message", "role": "evcc", "direction": "rx", "name": None,
                         "namespace": "x", "doc": None, "exi": "FF", "error": "EXIDecodingError: bad",
                         "t_wall_s": 1.0, "t_mono_s": 1.0})
    assert isinstance(item, V2GMessage)
    assert item.name == "<undecodable>" and item.error == "EXIDecodingError: bad"


def test_malformed_records_are_reported_not_guessed():
    with pytest.raises(BenchError, match="malformed V2G record"):
        parse_record({"kind": "message", "role": "evcc"})


def test_tail_reads_only_complete_lines_of_a_growing_file(tmp_path):
    path = tmp_path / "evcc.records.jsonl"
    tail = RecordTail(path)
    assert tail.poll() == []  # file not there yet
    first = json.dumps({"kind": "event", "role": "evcc", "event": "codec_ready",
                        "data": {"jvm_start_s": 1.2}, "t_wall_s": 1.0, "t_mono_s": 1.0})
    second = json.dumps(_msg("evcc", "tx", "SessionSetupReq",
                             {"Body": {"SessionSetupReq": {"EVCCID": "02"}}}, 2.0))
    path.write_text(first + "\n" + second[:20])
    new = tail.poll()
    assert [type(i) for i in new] == [V2GEvent]
    with path.open("a") as f:
        f.write(second[20:] + "\n")
    new = tail.poll()
    assert [i.name for i in new] == ["SessionSetupReq"]
    assert tail.event("codec_ready").data == {"jvm_start_s": 1.2}
    assert len(tail.messages()) == 1


def test_a_line_that_is_not_json_names_the_file(tmp_path):
    path = tmp_path / "secc.records.jsonl"
    path.write_text("{not json\n")
    with pytest.raises(BenchError, match="secc.records.jsonl"):
        RecordTail(path).poll()


def test_merge_orders_both_sides_by_the_shared_monotonic_clock_and_evidence_round_trips(tmp_path):
    evcc = [parse_record(_msg("evcc", "tx", "SessionStopReq", {"Body": {"SessionStopReq": {}}}, 3.0)),
            parse_record(_msg("evcc", "rx", "SessionStopRes", {"Body": {"SessionStopRes": {}}}, 3.2))]
    secc = [parse_record(_msg("secc", "rx", "SessionStopReq", {"Body": {"SessionStopReq": {}}}, 3.05)),
            parse_record(_msg("secc", "tx", "SessionStopRes", {"Body": {"SessionStopRes": {}}}, 3.1))]
    merged = merge(evcc, secc)
    assert [(m.role, m.name) for m in merged] == [
        ("evcc", "SessionStopReq"), ("secc", "SessionStopReq"),
        ("secc", "SessionStopRes"), ("evcc", "SessionStopRes")]
    path = write_evidence(merged, tmp_path / "v2g.jsonl")
    lines = list(iter_evidence(path))
    assert [line["name"] for line in lines] == [m.name for m in merged]
    assert lines[0]["time_utc"].endswith("Z") and lines[0]["sender"] == "evcc"
    assert lines[1]["recorded_by"] == "secc" and lines[1]["direction"] == "rx"
