"""expect / expect_not / mark / messages: buffered-first, consumption, matching, timing."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from csms_helpers import Bench, Client

from testbench.csms import ChargerHandle, ExpectationFailed
from testbench.errors import DeviceFailure


def _status16(connector: int, status: str) -> dict[str, Any]:
    return {"connectorId": connector, "errorCode": "NoError", "status": status}


def _started_cp(bench: Bench, cid: str = "cp16") -> tuple[Client, ChargerHandle]:
    client = bench.client(cid)
    client.boot()
    cp = bench.csms.charger(cid)
    cp.mark()
    return client, cp


def test_expect_reads_buffered_messages_first(bench: Bench) -> None:
    client, cp = _started_cp(bench)
    client.request("StatusNotification", _status16(1, "Preparing"))
    started = time.monotonic()
    msg = cp.expect("StatusNotification", within_s=5, status="Preparing")
    assert time.monotonic() - started < 0.5
    assert msg.payload["status"] == "Preparing" and msg.direction == "in"
    assert msg.kind == "call" and msg.reply == {}


def test_each_match_is_consumed_and_the_next_expect_looks_after_it(bench: Bench) -> None:
    client, cp = _started_cp(bench)
    for status in ("Available", "Preparing", "Charging"):
        client.request("StatusNotification", _status16(1, status))
    first = cp.expect("StatusNotification", 2)
    second = cp.expect("StatusNotification", 2)
    assert (first.payload["status"], second.payload["status"]) == ("Available", "Preparing")
    assert cp.expect("StatusNotification", 2, status="Charging").seq > second.seq
    with pytest.raises(ExpectationFailed):
        cp.expect("StatusNotification", 0.3)


def test_an_older_message_cannot_satisfy_a_later_expectation(bench: Bench) -> None:
    client, cp = _started_cp(bench)
    client.request("StatusNotification", _status16(1, "Available"))
    client.request("StatusNotification", _status16(1, "Charging"))
    cp.expect("StatusNotification", 2, status="Charging")
    with pytest.raises(ExpectationFailed):
        cp.expect("StatusNotification", 0.3, status="Available")


def test_expect_waits_for_a_message_that_arrives_later(bench: Bench) -> None:
    client, cp = _started_cp(bench)
    timer = threading.Timer(0.3, client.request, ("StatusNotification",
                                                  _status16(2, "Faulted")))
    timer.start()
    msg = cp.expect("StatusNotification", 5, connector_id=2)
    timer.join()
    assert msg.payload["status"] == "Faulted"


def test_snake_case_fields_callables_and_where(bench: Bench) -> None:
    client, cp = _started_cp(bench, "cp201")
    base = {"timestamp": "2025-01-01T00:00:00Z", "triggerReason": "Authorized", "seqNo": 0,
            "transactionInfo": {"transactionId": "t1", "chargingState": "Charging"}}
    client.request("TransactionEvent", {**base, "eventType": "Started"})
    client.request("TransactionEvent", {**base, "eventType": "Updated", "seqNo": 1})
    assert cp.expect("TransactionEvent", 2, eventType="Started").payload["seqNo"] == 0
    msg = cp.expect("TransactionEvent", 2, event_type="Updated",
                    seq_no=lambda n: n >= 1,
                    where=lambda p: p["transactionInfo"]["chargingState"] == "Charging")
    assert msg.payload["seqNo"] == 1
    with pytest.raises(ExpectationFailed, match="only messages after"):
        cp.expect("TransactionEvent", 0.2, event_type="Started")


def test_messages_before_the_mark_are_not_seen(bench: Bench) -> None:
    client = bench.client("cp16")
    client.boot()
    client.request("StatusNotification", _status16(1, "Available"))
    cp = bench.csms.charger("cp16")
    cp.mark()
    assert cp.messages() == []
    assert len(cp.messages("StatusNotification", since_mark=False)) == 2  # call + result
    with pytest.raises(ExpectationFailed):
        cp.expect("StatusNotification", 0.2)


def test_timeout_message_says_what_when_and_what_was_seen(bench: Bench) -> None:
    client, cp = _started_cp(bench)
    client.request("StatusNotification", _status16(1, "Available"))
    client.request("StatusNotification", _status16(1, "Occupied"))  # not a 1.6 status
    with pytest.raises(ExpectationFailed) as info:
        cp.expect("StatusNotification", 0.5, status="Charging", connector_id=1)
    text = str(info.value)
    assert isinstance(info.value, DeviceFailure)
    assert "cp16" in text and "StatusNotification" in text
    assert "status='Charging'" in text and "connectorId=1" in text
    assert "within 0.5 lab s" in text
    assert '"status":"Available"' in text  # the last messages actually seen
    assert "schema-invalid" in text and "Occupied" in text


def test_where_errors_are_reported_not_raised(bench: Bench) -> None:
    client, cp = _started_cp(bench)
    client.request("StatusNotification", _status16(1, "Available"))
    with pytest.raises(ExpectationFailed, match="KeyError"):
        cp.expect("StatusNotification", 0.3, where=lambda p: p["nope"] == 1)


def test_expect_not_passes_on_silence_and_waits_the_whole_window(bench: Bench) -> None:
    client, cp = _started_cp(bench)
    client.request("StatusNotification", _status16(1, "Available"))
    started = time.monotonic()
    cp.expect_not(["StopTransaction", "StatusNotification"], 0.5, status="Faulted")
    assert time.monotonic() - started >= 0.45


def test_expect_not_names_the_offending_message(bench: Bench) -> None:
    client, cp = _started_cp(bench)
    timer = threading.Timer(0.2, client.request, ("StatusNotification",
                                                  _status16(1, "Faulted")))
    timer.start()
    started = time.monotonic()
    with pytest.raises(ExpectationFailed) as info:
        cp.expect_not("StatusNotification", 5, status="Faulted")
    timer.join()
    assert time.monotonic() - started < 3  # raised when it happened, not at the window's end
    assert "Faulted" in str(info.value) and "StatusNotification" in str(info.value)


def test_expect_not_covers_unconsumed_messages_since_the_mark(bench: Bench) -> None:
    client, cp = _started_cp(bench)
    client.request("StatusNotification", _status16(1, "Faulted"))
    with pytest.raises(ExpectationFailed):
        cp.expect_not("StatusNotification", 0.2)
    cp.expect("StatusNotification", 1, status="Faulted")  # consumed: no longer an offence
    cp.expect_not("StatusNotification", 0.2)


def test_waits_are_in_lab_seconds(make_bench: Callable[..., Bench]) -> None:
    b = make_bench(scale=10.0)
    client = b.client("cp16")
    client.boot()
    cp = b.csms.charger("cp16")
    cp.mark()
    started = time.monotonic()
    with pytest.raises(ExpectationFailed, match="within 5 lab s"):
        cp.expect("StatusNotification", within_s=5)  # 0.5 wall s
    assert time.monotonic() - started < 2.5
    started = time.monotonic()
    cp.expect_not("StatusNotification", during_s=5)
    assert 0.4 < time.monotonic() - started < 2.5
    msg = b.csms.charger("cp16").messages("BootNotification", since_mark=False)[0]
    assert msg.lab_s == pytest.approx(b.clock.to_lab(msg.wall_s))


def test_ctrl_c_interrupts_a_wait(bench: Bench) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach only the main thread")
    _, cp = _started_cp(bench)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        cp.expect("StatusNotification", within_s=60)
    timer.join()
    assert time.monotonic() - started < 5
