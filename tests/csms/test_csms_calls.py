"""The bench's own CALLs: results, CALLERRORs, per-call timeouts and orphaned late replies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from csms_helpers import SILENT, Bench, Reject

from testbench.csms import (
    CallErrorReceived,
    CallTimeout,
    ConnectionLost,
    InvalidCallResult,
    NotConnected,
)
from testbench.errors import BenchError, DeviceFailure


def test_call_returns_the_result_and_records_both_directions(bench: Bench) -> None:
    client = bench.client("cp201", responder={"GetVariables": lambda p: {
        "getVariableResult": [{"attributeStatus": "Accepted", "attributeValue": "42",
                               "component": p["getVariableData"][0]["component"],
                               "variable": p["getVariableData"][0]["variable"]}]}})
    client.boot()
    cp = bench.csms.charger("cp201")
    cp.mark()
    request = {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                    "variable": {"name": "HeartbeatInterval"}}]}
    result = cp.call("GetVariables", request, timeout_s=5)
    assert result["getVariableResult"][0]["attributeValue"] == "42"
    sent, got = cp.messages("GetVariables")
    assert (sent.direction, sent.kind, sent.payload) == ("out", "call", request)
    assert (got.direction, got.kind, got.unique_id) == ("in", "result", sent.unique_id)
    assert got.problem is None


def test_callerror_raises_a_device_failure_and_is_captured(bench: Bench) -> None:
    client = bench.client("cp16", responder={"Reset": Reject("NotSupported", "no resets here")})
    client.boot()
    cp = bench.csms.charger("cp16")
    cp.mark()
    with pytest.raises(CallErrorReceived) as info:
        cp.call("Reset", {"type": "Hard"}, timeout_s=5)
    assert isinstance(info.value, DeviceFailure)
    assert (info.value.code, info.value.description, info.value.action) == (
        "NotSupported", "no resets here", "Reset")
    errors = cp.call_errors()
    assert len(errors) == 1 and errors[0].direction == "in"
    assert errors[0].action == "Reset" and errors[0].error_code == "NotSupported"
    outcome = cp.try_call("Reset", {"type": "Hard"}, timeout_s=5)
    assert outcome.error is not None and outcome.error.code == "NotSupported"
    assert outcome.result is None and not outcome.ok


def test_timeout_then_late_reply_does_not_confuse_the_next_call(bench: Bench) -> None:
    client = bench.client("cp201", responder={"Reset": SILENT})
    client.boot()
    cp = bench.csms.charger("cp201")
    cp.mark()
    started = time.monotonic()
    with pytest.raises(CallTimeout) as info:
        cp.call("Reset", {"type": "Immediate"}, timeout_s=0.5)
    assert 0.4 < time.monotonic() - started < 3
    late_id = info.value.unique_id
    assert "Reset" in str(info.value) and "0.5 lab s" in str(info.value)
    # The charger answers late, right before the next call's own answer.
    def late_then_normal(payload: dict[str, Any]) -> dict[str, Any]:
        client.ws.send(json.dumps([3, late_id, {"status": "Rejected"}]))
        return {"status": "Accepted"}

    client.responder["Reset"] = late_then_normal
    assert cp.call("Reset", {"type": "Immediate"}, timeout_s=5) == {"status": "Accepted"}
    late = [m for m in cp.messages("Reset") if m.unique_id == late_id and m.kind == "result"]
    assert len(late) == 1 and "late reply" in (late[0].problem or "")
    timeouts = [e for e in cp.trace_since(0) if e.get("event") == "call_timeout"]
    assert timeouts and timeouts[0]["unique_id"] == late_id


def test_try_call_reports_a_timeout_instead_of_raising(make_bench: Callable[..., Bench]) -> None:
    b = make_bench(scale=10.0)
    b.client("cp16", responder={"ClearCache": SILENT}).boot()
    started = time.monotonic()
    outcome = b.csms.charger("cp16").try_call("ClearCache", {}, timeout_s=5)  # 0.5 wall s
    assert outcome.timed_out and outcome.result is None and outcome.error is None
    assert time.monotonic() - started < 3


def test_invalid_payload_is_refused_before_sending(bench: Bench) -> None:
    client = bench.client("cp16")
    client.boot()
    cp = bench.csms.charger("cp16")
    cp.mark()
    with pytest.raises(BenchError, match="breaks the OCPP 1.6 schema"):
        cp.call("Reset", {"type": "Sideways"})
    with pytest.raises(BenchError, match="has no request 'RequestStartTransaction'"):
        cp.call("RequestStartTransaction", {})
    assert cp.messages() == []


def test_validate_false_sends_an_invalid_payload_on_purpose(bench: Bench) -> None:
    client = bench.client("cp16", responder={"Reset": Reject("PropertyConstraintViolation")})
    client.boot()
    outcome = bench.csms.charger("cp16").try_call("Reset", {"type": "Sideways"}, timeout_s=5,
                                                  validate=False)
    assert outcome.error is not None and outcome.error.code == "PropertyConstraintViolation"


def test_schema_invalid_result_is_a_device_failure(bench: Bench) -> None:
    client = bench.client("cp201", responder={"Reset": {"status": "Maybe"}})
    client.boot()
    with pytest.raises(InvalidCallResult, match="status"):
        bench.csms.charger("cp201").call("Reset", {"type": "Immediate"}, timeout_s=5)


def test_call_on_a_charger_that_never_connected_is_a_bench_error(bench: Bench) -> None:
    with pytest.raises(NotConnected, match="never connected"):
        bench.csms.charger("cp21").call("Heartbeat", {})


def test_connection_closing_during_a_call_is_reported(bench: Bench) -> None:
    client = bench.client("cp201", responder={"Reset": SILENT})
    client.boot()
    cp = bench.csms.charger("cp201")
    closer = threading.Timer(0.3, client.close)
    closer.start()
    with pytest.raises(ConnectionLost):
        cp.call("Reset", {"type": "Immediate"}, timeout_s=20)
    closer.join()


def test_calls_are_serialised_one_outstanding_at_a_time(bench: Bench) -> None:
    """Two threads call at once: the charger never sees a second CALL before answering."""
    seen: list[str] = []
    outstanding = threading.Semaphore(1)
    violations: list[str] = []

    def slow_answer(payload: dict[str, Any]) -> dict[str, Any]:
        if not outstanding.acquire(blocking=False):
            violations.append("second CALL while one was outstanding")
        seen.append(payload["type"])
        time.sleep(0.2)
        outstanding.release()
        return {"status": "Accepted"}

    client = bench.client("cp201", responder={"Reset": slow_answer})
    client.boot()
    cp = bench.csms.charger("cp201")
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(
        cp.call("Reset", {"type": "Immediate"}, timeout_s=10))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert results == [{"status": "Accepted"}] * 3
    assert not violations and len(seen) == 3


def test_send_raw_injects_a_frame_as_is_and_captures_the_charger_s_error(bench: Bench
                                                                         ) -> None:
    client = bench.client("cp16", responder={"Reset": Reject("FormationViolation", "bad")})
    client.boot()
    cp = bench.csms.charger("cp16")
    cp.mark()
    cp.send_raw('[2,"raw-1","Reset",{"type":"Hard"}]')
    deadline = time.monotonic() + 5
    while not cp.call_errors() and time.monotonic() < deadline:
        time.sleep(0.02)
    (error,) = cp.call_errors()
    assert error.unique_id == "raw-1" and error.action == "Reset" and error.problem is None
    cp.send_raw("{not json")
    received = [client.recv(), client.recv()]
    assert received == [[2, "raw-1", "Reset", {"type": "Hard"}], "{not json"]
    out = [m for m in cp.messages() if m.direction == "out"]
    assert [m.kind for m in out] == ["call", "malformed"]
