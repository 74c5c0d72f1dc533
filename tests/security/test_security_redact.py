"""Redaction of secrets: OCPP payloads, frames, PEM keys, headers, logs and the CSMS trace."""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from security_helpers import P1_PASSWORD, SecureBench, basic, plain_chargers
from websockets.sync.client import connect

from testbench.lab.model import CsmsSettings
from testbench.redact import (
    REDACTED,
    RedactingFilter,
    install_log_redaction,
    redact_frame,
    redact_payload,
    redact_text,
    register_secret,
)

AUTH_KEY = "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"
PEM_KEY = ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBxxSECRETxxKEYxxMATERIALxx\n"
           "oAoGCCqGSM49AwEHoUQDQgAE\n-----END EC PRIVATE KEY-----")
PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----"

PAYLOADS: list[tuple[str, dict[str, Any], list[str], list[str]]] = [
    # (case, payload, secrets that must vanish, values that must stay)
    ("1.6 ChangeConfiguration AuthorizationKey",
     {"key": "AuthorizationKey", "value": AUTH_KEY}, [AUTH_KEY], ["AuthorizationKey"]),
    ("1.6 ChangeConfiguration other key stays",
     {"key": "HeartbeatInterval", "value": "300"}, [], ["300"]),
    ("1.6 GetConfiguration result",
     {"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": AUTH_KEY},
                           {"key": "MeterValueSampleInterval", "readonly": False,
                            "value": "60"}]}, [AUTH_KEY], ["60", "MeterValueSampleInterval"]),
    ("2.x SetVariables BasicAuthPassword",
     {"setVariableData": [{"attributeValue": "SuperSecretPassword1",
                           "component": {"name": "SecurityCtrlr"},
                           "variable": {"name": "BasicAuthPassword"}},
                          {"attributeValue": "30", "component": {"name": "OCPPCommCtrlr"},
                           "variable": {"name": "HeartbeatInterval"}}]},
     ["SuperSecretPassword1"], ["BasicAuthPassword", "SecurityCtrlr", "30"]),
    ("2.x GetVariables result",
     {"getVariableResult": [{"attributeStatus": "Accepted",
                             "attributeValue": "LeakedPassword99",
                             "component": {"name": "SecurityCtrlr"},
                             "variable": {"name": "BasicAuthPassword"}}]},
     ["LeakedPassword99"], ["Accepted"]),
    ("2.x NotifyReport variableAttribute",
     {"requestId": 1, "generatedAt": "2025-01-01T00:00:00Z", "seqNo": 0,
      "reportData": [{"component": {"name": "SecurityCtrlr"},
                      "variable": {"name": "BasicAuthPassword"},
                      "variableAttribute": [{"type": "Actual", "value": "ReportedPw123",
                                             "mutability": "WriteOnly"}]}]},
     ["ReportedPw123"], ["WriteOnly", "Actual"]),
    ("2.x SetNetworkProfile",
     {"configurationSlot": 1, "connectionData": {
         "ocppVersion": "OCPP20", "ocppTransport": "JSON",
         "ocppCsmsUrl": "wss://cp1:UrlPassword77@csms.example.com/ocpp",
         "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0",
         "basicAuthPassword": "ProfilePassword42",
         "vpn": {"server": "vpn.example.com", "user": "u", "password": "VpnPassword88",
                 "key": "VpnSharedKey99", "type": "IPSec"},
         "apn": {"apn": "internet", "apnPassword": "ApnPassword66", "simPin": 1234,
                 "apnAuthentication": "AUTO"}}},
     ["UrlPassword77", "ProfilePassword42", "VpnPassword88", "VpnSharedKey99",
      "ApnPassword66", "1234"], ["vpn.example.com", "csms.example.com", "IPSec"]),
    ("PEM private key inside a DataTransfer",
     {"vendorId": "X", "data": f"cert:\n{PEM_CERT}\nkey:\n{PEM_KEY}\n"},
     ["SECRETxxKEY", "oAoGCCqGSM49"], ["MIIBszCCAVmgAwIBAgIU", "BEGIN EC PRIVATE KEY"]),
]


@pytest.mark.parametrize("case, payload, gone, kept", PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_redact_payload_removes_secrets_and_keeps_the_rest(
        case: str, payload: dict[str, Any], gone: list[str], kept: list[str]) -> None:
    original = copy.deepcopy(payload)
    redacted = redact_payload(payload)
    assert payload == original, "the input was modified"
    text = json.dumps(redacted)
    for secret in gone:
        assert secret not in text, (case, secret)
    for value in kept:
        assert value in text, (case, value)
    if gone:
        assert REDACTED in text
    assert redact_payload(redacted) == redacted  # idempotent


@pytest.mark.parametrize("case, payload, gone, kept", PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_redact_frame_keeps_frames_without_secrets_exact(
        case: str, payload: dict[str, Any], gone: list[str], kept: list[str]) -> None:
    frame = json.dumps([2, "abc", "Action", payload], separators=(", ", ": "))
    text, changed = redact_frame(frame)
    assert changed == bool(gone), case
    if not gone:
        assert text == frame
    else:
        parsed = json.loads(text)  # still a JSON frame
        assert parsed[:3] == [2, "abc", "Action"]
        assert all(secret not in text for secret in gone)


@pytest.mark.parametrize("text, secret, kept", [
    ("> Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "Basic"),
    ("{'Authorization': 'Bearer eyJhbGciOi.x.y'}", "eyJhbGciOi", "Bearer"),
    ('"Proxy-Authorization": "Digest abc123def"', "abc123def", "Digest"),
    ("connect to wss://cp1:hunter2hunter@csms:443/ocpp", "hunter2hunter", "cp1"),
    ("password=opensesame123 user=cp1", "opensesame123", "user=cp1"),
    ('{"apnPassword": "xyzzy-apn"} and more', "xyzzy-apn", "more"),
    (f"key file:\n{PEM_KEY}\nend", "SECRETxxKEY", "end"),
    ('"data":"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----"',
     "MIIEvQIBADANBg", '"data"'),
    ("truncated -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA", "MIIEpAIBAAKCAQEA",
     "truncated"),
])
def test_redact_text_covers_headers_urls_pairs_and_pem_keys(text: str, secret: str,
                                                            kept: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert kept in redacted
    assert redact_text(redacted) == redacted


def test_text_without_secrets_is_returned_unchanged() -> None:
    for text in ["", "Heartbeat answered in 3 ms", '[2,"a","Authorize",{"idTag":"AB12"}]',
                 "wrong Basic auth password for charger 'cp1'",
                 f"certificate:\n{PEM_CERT}"]:
        assert redact_text(text) == text


def test_registered_secrets_vanish_everywhere_including_basic_tokens() -> None:
    secret = "Registered-" + uuid.uuid4().hex
    register_secret(secret, user="cp-reg")
    import base64

    token = base64.b64encode(f"cp-reg:{secret}".encode()).decode()
    text = f"oops {secret} and token {token} and json {json.dumps({'x': secret})}"
    redacted = redact_text(text)
    assert secret not in redacted and token not in redacted
    payload = redact_payload({"vendorId": "X", "data": f"pw is {secret}"})
    assert secret not in json.dumps(payload)


def test_short_registered_values_are_not_searched_in_free_text() -> None:
    register_secret("abc")
    assert redact_text("abc is a word") == "abc is a word"


def test_redacting_filter_redacts_formatted_log_records(
        caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tb.test.redact")
    install_log_redaction(logger)
    install_log_redaction(logger)  # idempotent
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="tb.test.redact"):
        logger.info("sending %s", {"key": "AuthorizationKey", "value": AUTH_KEY})
        logger.info("header Authorization: Basic %s", "Y3AxOnNlY3JldA==")
    assert AUTH_KEY not in caplog.text and "Y3AxOnNlY3JldA==" not in caplog.text
    assert caplog.text.count(REDACTED) == 2


def test_redaction_never_raises_on_odd_input() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    assert redact_payload(deep) in (REDACTED, deep)
    assert redact_text("[" * 100000) == "[" * 100000
    assert redact_payload({1: "a", None: [b"bytes"]}) == {1: "a", None: [b"bytes"]}


# ------------------------------------------------------------------------ the trace
def _charger_answering(url: str, version: str, stop: threading.Event) -> threading.Thread:
    """A charger that boots and answers every CALL of the bench with Accepted."""

    def run() -> None:
        with connect(url, subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                     additional_headers=basic("p1", P1_PASSWORD), open_timeout=10) as ws:
            ws.send(json.dumps([2, "boot", "BootNotification", {
                "reason": "PowerUp",
                "chargingStation": {"vendorName": "V", "model": "M"}}]))
            while not stop.is_set():
                try:
                    msg = json.loads(ws.recv(timeout=0.1))
                except TimeoutError:
                    continue
                if msg[0] == 2 and msg[2] == "SetVariables":
                    results = [{"attributeStatus": "Accepted", "component": d["component"],
                                "variable": d["variable"]} for d in msg[3]["setVariableData"]]
                    ws.send(json.dumps([3, msg[1], {"setVariableResult": results}]))
                elif msg[0] == 2 and msg[2] == "GetVariables":
                    results = [{"attributeStatus": "Accepted", "component": d["component"],
                                "variable": d["variable"],
                                "attributeValue": "CsLeakedPw-777"}
                               for d in msg[3]["getVariableData"]]
                    ws.send(json.dumps([3, msg[1], {"getVariableResult": results}]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_trace_file_and_reports_redact_a_password_the_bench_sends(
        make_secure_bench: Callable[..., SecureBench]) -> None:
    bench = make_secure_bench(CsmsSettings(), plain_chargers())
    stop = threading.Event()
    thread = _charger_answering(bench.url("p1"), "2.0.1", stop)
    try:
        bench.csms.wait_connected(["p1"], within_s=10)
        cp = bench.csms.charger("p1")
        cp.expect("BootNotification", within_s=10)
        new_password = "NewBasicAuthPassword-" + uuid.uuid4().hex[:8]
        cp.call("SetVariables", {"setVariableData": [{
            "attributeValue": new_password, "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"}}]}, timeout_s=10)
        cp.call("GetVariables", {"getVariableData": [{
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"}}]}, timeout_s=10)
    finally:
        stop.set()
        thread.join(10)
    # The message log keeps what crossed the wire (tests may check it) ...
    sent = next(m for m in cp.messages("SetVariables") if m.direction == "out")
    assert sent.payload["setVariableData"][0]["attributeValue"] == new_password
    # ... but its human summary (verdicts, reports) does not show it.
    assert new_password not in sent.describe(max_chars=10_000)
    got = next(m for m in cp.messages("GetVariables") if m.direction == "in")
    assert "CsLeakedPw-777" not in got.describe(max_chars=10_000)
    # Neither the in-memory trace nor the trace file holds either value.
    entries = cp.trace_since(0)
    redacted = [e for e in entries if e.get("redacted")]
    assert len(redacted) == 2 and {e["dir"] for e in redacted} == {"in", "out"}
    bench.loop.run(bench.central.stop(), timeout_s=10)
    text = (bench.trace_dir / "p1.jsonl").read_text(encoding="utf-8")
    for secret in (new_password, "CsLeakedPw-777", P1_PASSWORD):
        assert secret not in text
    assert "BasicAuthPassword" in text and REDACTED in text
    for line in text.splitlines():
        entry = json.loads(line)
        if entry["dir"] in ("in", "out"):
            json.loads(entry["frame"])  # frames stay JSON
