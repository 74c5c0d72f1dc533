"""OCPP fault injection against the central system alone (issue #8): a charger that never
answers, floods of inbound CALLs, a websocket that drops mid-transaction and reconnects
with its offline queue, and a port already in use."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from csms_helpers import SILENT, Bench, Client

from testbench.csms import CallTimeout, NotConnected
from testbench.errors import BenchError, DeviceFailure
from testbench.lab.model import CsmsSettings


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _drop(client: Client) -> None:
    """The charger's link dies: no closing handshake (the bench sees code 1006)."""
    client.ws.socket.shutdown(socket.SHUT_RDWR)
    client.closed.wait(5)


def _wait(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# ------------------------------------------------------------------------ silence
def test_a_charger_that_never_answers_times_out_each_call_and_stays_usable(
        make_bench: Callable[..., Bench]) -> None:
    b = make_bench(scale=10.0)
    client = b.client("cp201", responder={"Reset": SILENT, "ClearCache": SILENT})
    client.boot()
    cp = b.csms.charger("cp201")
    for action, payload in (("Reset", {"type": "Immediate"}), ("ClearCache", {})):
        started = time.monotonic()
        with pytest.raises(CallTimeout) as info:
            cp.call(action, payload, timeout_s=5)  # 0.5 wall s at scale 10
        assert time.monotonic() - started < 3
        assert isinstance(info.value, DeviceFailure)  # the device is blamed, not the bench
        assert action in str(info.value) and "5 lab s" in str(info.value)
    # While the bench waited, the charger's own requests were still answered.
    assert client.request("Heartbeat", {})[0] == 3
    # The charger recovers: the next call works, and the late answers are orphans.
    client.responder["Reset"] = {"status": "Accepted"}
    assert cp.call("Reset", {"type": "Immediate"}, timeout_s=5) == {"status": "Accepted"}
    timeouts = [e for e in cp.trace_since(0) if e.get("event") == "call_timeout"]
    assert [e["action"] for e in timeouts] == ["Reset", "ClearCache"]


def test_a_silent_charger_does_not_delay_calls_to_another(make_bench: Callable[..., Bench]
                                                          ) -> None:
    b = make_bench()
    b.client("cp201", responder={"Reset": SILENT}).boot()
    b.client("cp16").boot()
    waiting = threading.Thread(target=lambda: b.csms.charger("cp201").try_call(
        "Reset", {"type": "Immediate"}, timeout_s=1.5))
    waiting.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert b.csms.charger("cp16").call("ClearCache", {}, timeout_s=5) == {"status": "Accepted"}
    assert time.monotonic() - started < 1.5
    waiting.join(10)


def test_many_timeouts_keep_the_orphan_bookkeeping_bounded(make_bench: Callable[..., Bench]
                                                           ) -> None:
    b = make_bench(scale=1000.0)
    client = b.client("cp16", responder={"ClearCache": SILENT})
    client.boot()
    cp = b.csms.charger("cp16")
    for _ in range(300):
        assert cp.try_call("ClearCache", {}, timeout_s=2).timed_out  # 2 ms wall each
    conn = b.central.session("cp16").connection
    assert conn is not None and len(conn._orphans) <= 256 and not conn._pending


def test_a_call_while_the_charger_is_offline_fails_at_once(bench: Bench) -> None:
    client = bench.client("cp16")
    client.boot()
    _drop(client)
    cp = bench.csms.charger("cp16")
    _wait(lambda: not cp.connected)
    started = time.monotonic()
    with pytest.raises(NotConnected, match="not connected"):
        cp.call("ClearCache", {}, timeout_s=30)
    assert time.monotonic() - started < 1


# ------------------------------------------------------------------------ floods
FLOOD = 3000


def test_a_flooding_charger_does_not_starve_the_others(make_bench: Callable[..., Bench]
                                                       ) -> None:
    b = make_bench()
    flooder = b.client("cp201")
    flooder.boot()
    other = b.client("cp16")
    other.boot()
    frames = [json.dumps([2, f"f{i}", "Heartbeat", {}]) for i in range(FLOOD)]
    started = time.monotonic()
    sender = threading.Thread(target=lambda: [flooder.send(f) for f in frames])
    sender.start()
    latencies: list[float] = []
    bench_call: list[dict[str, Any]] = []
    answered: list[str] = []
    while len(answered) < FLOOD:
        if len(latencies) < 20:
            t0 = time.monotonic()
            assert other.request("Heartbeat", {}, timeout=10)[0] == 3
            latencies.append(time.monotonic() - t0)
        if not bench_call and len(answered) > FLOOD // 4:
            bench_call.append(b.csms.charger("cp201").call("ClearCache", {}, timeout_s=10))
        try:
            msg = flooder.recv(timeout=10)
        except queue.Empty:
            pytest.fail(f"flood: only {len(answered)} of {FLOOD} answered")
        if isinstance(msg, list) and msg[0] == 3 and str(msg[1]).startswith("f"):
            answered.append(msg[1])
    elapsed = time.monotonic() - started
    sender.join(10)
    assert answered == [f"f{i}" for i in range(FLOOD)]  # every one, in order
    assert max(latencies) < 2.0, f"another charger waited {max(latencies):.2f} s"
    assert bench_call == [{"status": "Accepted"}]
    assert b.csms.charger("cp201").connected and b.csms.charger("cp16").connected
    print(f"\nflood: {FLOOD} CALLs answered in {elapsed:.2f} s ({FLOOD / elapsed:.0f}/s); "
          f"other charger's heartbeat: max {max(latencies) * 1000:.0f} ms")


# ------------------------------------------------------------------------ drop + replay
def test_v16_drop_mid_transaction_then_offline_queue_replay(bench: Bench) -> None:
    client = bench.client("cp16")
    client.boot()
    cp = bench.csms.charger("cp16")
    now = datetime.now(UTC)
    start = client.request("StartTransaction", {"connectorId": 1, "idTag": "LAB-0001",
                                                "meterStart": 1000, "timestamp": _iso(now)})
    tx_id = start[2]["transactionId"]
    _drop(client)
    _wait(lambda: not cp.connected)
    assert cp.state.last_close_code == 1006
    assert tx_id in cp.state.open_transactions  # the bench keeps it across the outage
    cp.mark()
    again = bench.client("cp16")
    queued = [("MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": [
                  {"timestamp": _iso(now + timedelta(seconds=10 * k)),
                   "sampledValue": [{"value": str(1000 + 100 * k)}]}]}) for k in (1, 2, 3)]
    queued.append(("StopTransaction", {"transactionId": tx_id, "meterStop": 1400,
                                       "timestamp": _iso(now + timedelta(seconds=40)),
                                       "reason": "EVDisconnected"}))
    for action, payload in queued:
        assert again.request(action, payload)[0] == 3
    replayed = [m for m in cp.messages() if m.direction == "in"]
    assert [m.action for m in replayed] == ["MeterValues"] * 3 + ["StopTransaction"]
    stamps = [m.payload["meterValue"][0]["timestamp"] if m.action == "MeterValues"
              else m.payload["timestamp"] for m in replayed]
    assert stamps == sorted(stamps) and stamps[0] == queued[0][1]["meterValue"][0]["timestamp"]
    assert all(m.problem is None for m in replayed)
    assert [m.seq for m in replayed] == sorted(m.seq for m in replayed)
    assert tx_id not in cp.state.open_transactions
    cp.expect("StopTransaction", within_s=1, transaction_id=tx_id, meter_stop=1400)
    history = bench.central.session("cp16").history
    assert [h.close_code for h in history] == [1006, None]


@pytest.mark.parametrize("cid", ["cp201", "cp21"])
def test_v2_drop_mid_transaction_then_offline_events_replayed_in_order(
        bench: Bench, cid: str) -> None:
    client = bench.client(cid)
    client.boot()
    cp = bench.csms.charger(cid)
    now = datetime.now(UTC)

    def event(kind: str, seq: int, at: datetime, **extra: Any) -> dict[str, Any]:
        return {"eventType": kind, "timestamp": _iso(at), "seqNo": seq,
                "triggerReason": "MeterValuePeriodic" if kind == "Updated" else "Authorized",
                "transactionInfo": {"transactionId": "tx-77", "chargingState": "Charging"},
                "evse": {"id": 1, "connectorId": 1}, **extra}

    assert client.request("TransactionEvent", event(
        "Started", 0, now, idToken={"idToken": "LAB-0001", "type": "ISO14443"}))[0] == 3
    _drop(client)
    _wait(lambda: not cp.connected)
    assert "tx-77" in cp.state.open_transactions
    cp.mark()
    again = bench.client(cid)
    for seq in (1, 2, 3):
        assert again.request("TransactionEvent", event(
            "Updated", seq, now + timedelta(seconds=10 * seq), offline=True))[0] == 3
    assert again.request("TransactionEvent", event(
        "Ended", 4, now + timedelta(seconds=45), offline=True))[0] == 3
    events = [m for m in cp.messages("TransactionEvent") if m.direction == "in"]
    assert [m.payload["seqNo"] for m in events] == [1, 2, 3, 4]
    assert all(m.payload["offline"] for m in events) and all(m.problem is None for m in events)
    stamps = [m.payload["timestamp"] for m in events]
    assert stamps == sorted(stamps)
    assert all(m.lab_s >= cp.state.connected_since_lab_s - 1e-6 for m in events)
    assert "tx-77" not in cp.state.open_transactions
    cp.expect("TransactionEvent", within_s=1, event_type="Ended",
              where=lambda p: p.get("offline") is True)


# ------------------------------------------------------------------------ the port
def test_port_held_by_another_program_is_a_bench_error(make_bench: Callable[..., Bench]
                                                       ) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        with pytest.raises(BenchError) as info:
            make_bench(settings=CsmsSettings(port=port))
        assert f"127.0.0.1:{port}" in str(info.value) and "already in use" in str(info.value)
    finally:
        holder.close()


# ------------------------------------------------------------------------ bounded memory
def test_message_log_and_trace_stay_within_their_byte_bounds(make_bench: Callable[..., Bench]
                                                             ) -> None:
    b = make_bench(max_message_bytes_per_charger=2**20, recent_trace_bytes_per_charger=2**20,
                   max_frame_bytes=2**20)
    client = b.client("cp201")
    client.boot()
    blob = "z" * 200_000
    for i in range(30):  # 6 MB of DataTransfer requests, 3 times the bound
        assert client.request("DataTransfer", {"vendorId": "V", "messageId": str(i),
                                               "data": blob})[0] == 3
    session = b.central.session("cp201")
    count, size = session.log_size
    assert size <= 2**20 and 0 < count < 60
    entries, trace_bytes = session.trace.recent_size
    assert trace_bytes <= 2**20 and entries < 60
    cp = b.csms.charger("cp201")
    last = cp.expect("DataTransfer", within_s=1, message_id="29")  # the newest are kept
    assert last.payload["data"] == blob
    b.loop.run(b.central.stop(), timeout_s=10)
    assert (b.trace_dir / "cp201.jsonl").stat().st_size > 6_000_000  # the file has them all
