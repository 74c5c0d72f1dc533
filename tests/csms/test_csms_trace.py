"""The raw frame trace: exact frames, direction tags, timestamps, connection events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from csms_helpers import Bench


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _wait_for_file(path: Path, predicate: Callable[[list[dict[str, Any]]], bool],
                   timeout_s: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            entries = _read(path)
            if predicate(entries):
                return entries
        time.sleep(0.05)
    raise AssertionError(f"{path} never satisfied the predicate; content: "
                         f"{path.read_text() if path.exists() else '(missing)'}")


def test_trace_file_holds_exact_frames_with_directions_and_events(
        make_bench: Callable[..., Bench]) -> None:
    b = make_bench(scale=5.0)
    client = b.client("cp201")
    raw_in = '[2, "t-1",  "Heartbeat", {}]'  # odd spacing must survive verbatim
    client.send(raw_in)
    reply = client.recv()
    client.send("not json")
    client.recv()
    client.close()
    path = b.trace_dir / "cp201.jsonl"
    # Written by the periodic flusher, without stopping the central system.
    entries = _wait_for_file(path, lambda es: any(e.get("event") == "closed" for e in es))
    assert [e["dir"] for e in entries] == ["event", "in", "out", "in", "out", "event"]
    connected, hb_in, hb_out, bad_in, err_out, closed = entries
    assert connected["event"] == "connected" and connected["subprotocol"] == "ocpp2.0.1"
    assert hb_in["frame"] == raw_in
    assert json.loads(hb_out["frame"]) == reply
    assert bad_in["frame"] == "not json"
    assert json.loads(err_out["frame"])[:2] == [4, "-1"]
    assert closed["event"] == "closed" and closed["code"] == 1000
    for e in entries:
        assert e["charger"] == "cp201"
        assert e["lab_s"] == b.clock.to_lab(e["wall_s"])
    walls = [e["wall_s"] for e in entries]
    assert walls == sorted(walls)


def test_refusals_are_traced(bench: Bench) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(bench.url("cp16"), subprotocols=["ocpp2.1"],  # type: ignore[list-item]
                     open_timeout=5):
            pass
    except InvalidStatus:
        pass
    refused = [e for e in bench.csms.charger("cp16").trace_since(0)
               if e.get("event") == "refused"]
    assert refused and refused[0]["status"] == 400 and "ocpp2.1" in refused[0]["reason"]


def test_trace_since_returns_recent_entries_only(bench: Bench) -> None:
    client = bench.client("cp16")
    client.boot()
    cut = time.time()
    client.request("Heartbeat", {})
    entries = bench.csms.charger("cp16").trace_since(cut)
    assert [e["dir"] for e in entries] == ["in", "out"]
    assert "Heartbeat" in entries[0]["frame"]


def test_stop_flushes_every_trace(make_bench: Callable[..., Bench]) -> None:
    b = make_bench()
    for cid in ("cp16", "cp21"):
        b.client(cid).boot()
    b.loop.run(b.central.stop(), timeout_s=15)
    for cid in ("cp16", "cp21"):
        entries = _read(b.trace_dir / f"{cid}.jsonl")
        assert any(e["dir"] == "in" and "BootNotification" in e["frame"] for e in entries)
        assert entries[-1].get("event") == "closed"


def test_traces_survive_many_chargers_with_few_open_files(tmp_path: Path) -> None:
    from testbench.clock import LabClock
    from testbench.csms.trace import TraceStore

    store = TraceStore(tmp_path, LabClock(), max_open_files=3)
    for round_ in range(3):
        for i in range(10):
            store.for_charger(f"c{i}").frame("in", f"frame {round_}")
        store.flush()
    store.close()
    for i in range(10):
        frames = [e["frame"] for e in _read(tmp_path / f"c{i}.jsonl")]
        assert frames == ["frame 0", "frame 1", "frame 2"]
