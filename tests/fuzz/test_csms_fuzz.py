"""Fuzzing the central system's inbound frame handling over a real websocket.

Hypothesis generates batches of frames (valid requests with random payloads, near-valid
and broken frames, unsolicited replies, binary and oversized frames, floods) for chargers
of every OCPP version; each batch goes to a running ``CentralSystem`` back to back, then a
sentinel Heartbeat. Checked per batch: every frame that must be answered is answered
exactly once with its unique id (nothing else is), within a timeout (no hang); every reply
is well-formed OCPP-J with an error code of the version; schema-valid requests get a
schema-valid CALLRESULT; the connection stays open, except after an oversized frame
(closed with 1009, and the charger can reconnect). At the end: the server still accepts
connections and answers, the bench's own CALLs work, every buffer is within its bound and
the process memory stopped growing.

2,000 frames by default; the full 10,000 under ``-m slow``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fuzz_client import Closed, FuzzClient
from fuzz_frames import ERROR_CODES, VERSIONS, Fuzzed, batch, expected_reply, valid_call
from hypothesis import HealthCheck, given, settings

from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.csms import CentralSystem, Csms, schemas
from testbench.lab.model import ChargerSpec, CsmsSettings
from testbench.secrets import Secrets

LIMIT_BYTES = 64 * 1024
MAX_MESSAGES = 1000
MAX_LOG_BYTES = 2 * 2**20
RECENT_FRAMES = 500
RECENT_TRACE_BYTES = 2 * 2**20
BATCH_SIZE = 20
REPLY_TIMEOUT_S = 15.0
CHARGER = {"1.6": "fz16", "2.0.1": "fz201", "2.1": "fz21"}


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class FuzzRun:
    central: CentralSystem
    csms: Csms
    loop: BackgroundLoop
    clients: dict[str, FuzzClient] = field(default_factory=dict)
    frames: int = 0
    batches: int = 0
    oversized: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    send_wall_s: float = 0.0
    rss_warm: int | None = None

    def client(self, version: str) -> FuzzClient:
        current = self.clients.get(version)
        if current is None or current.closed.is_set():
            if current is not None:
                current.close()
            session = self.central.session(CHARGER[version])
            count = session.state.connection_count
            current = FuzzClient(self.central.url_for(CHARGER[version]), version)
            self.clients[version] = current
            deadline = time.monotonic() + REPLY_TIMEOUT_S
            while not (session.state.connected and session.state.connection_count > count):
                assert time.monotonic() < deadline, "the central system did not attach"
                time.sleep(0.005)
        return current


@pytest.fixture
def fuzz_run(tmp_path: Path) -> Iterator[FuzzRun]:
    chargers = {cid: ChargerSpec(id=cid, vendor="V", model="M", firmware="1",
                                 ocpp_version=version)  # type: ignore[arg-type]
                for version, cid in CHARGER.items()}
    clock = LabClock()
    loop = BackgroundLoop(name="fuzz-csms")
    central = CentralSystem(CsmsSettings(), chargers, clock, tmp_path / "traces",
                            max_frame_bytes=LIMIT_BYTES, secrets=Secrets(),
                            max_messages_per_charger=MAX_MESSAGES,
                            max_message_bytes_per_charger=MAX_LOG_BYTES,
                            recent_frames_per_charger=RECENT_FRAMES,
                            recent_trace_bytes_per_charger=RECENT_TRACE_BYTES)
    loop.run(central.start(), timeout_s=10)
    run = FuzzRun(central, Csms(central, loop, clock), loop)
    try:
        yield run
    finally:
        for client in run.clients.values():
            client.close()
        with contextlib.suppress(Exception):
            loop.run(central.stop(), timeout_s=15)
        loop.stop()


# ------------------------------------------------------------------------ one batch
def _size(item: Fuzzed) -> int:
    data = item.data
    return len(data) if isinstance(data, bytes) else len(data.encode("utf-8"))


def _check_reply(reply: Any, version: str) -> None:
    assert isinstance(reply, list), f"reply is not a JSON array: {reply!r:.200}"
    assert reply and reply[0] in (3, 4), f"reply is not CALLRESULT/CALLERROR: {reply!r:.200}"
    assert isinstance(reply[1], str)
    if reply[0] == 3:
        assert len(reply) == 3 and isinstance(reply[2], dict), f"{reply!r:.200}"
    else:
        assert len(reply) == 5, f"{reply!r:.200}"
        assert reply[2] in ERROR_CODES[version], f"error code {reply[2]!r} not in OCPP {version}"
        assert isinstance(reply[3], str) and len(reply[3]) <= 255
        assert isinstance(reply[4], dict)


def _collect(client: FuzzClient, sentinel: str | None) -> tuple[list[Any], Closed | None]:
    """Replies until the sentinel's (excluded) or until the connection closes."""
    replies: list[Any] = []
    deadline = time.monotonic() + REPLY_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, (f"the central system hung: no answer to the sentinel within "
                               f"{REPLY_TIMEOUT_S} s ({len(replies)} replies so far)")
        try:
            msg = client.inbox.get(timeout=remaining)
        except queue.Empty:
            continue  # the loop re-checks the deadline
        if isinstance(msg, Closed):
            return replies, msg
        if sentinel is not None and isinstance(msg, list) and len(msg) > 1 and (
                msg[1] == sentinel):
            return replies, None
        replies.append(msg)


def run_batch(run: FuzzRun, version: str, frames: list[Fuzzed]) -> None:
    client = run.client(version)
    session = run.central.session(CHARGER[version])
    connections_before = session.state.connection_count
    oversized = [f for f in frames if f.kind == "oversized" or _size(f) > LIMIT_BYTES]
    normal = [f for f in frames if f not in oversized]
    expected: Counter[str] = Counter()
    valid: dict[str, str] = {}  # unique id -> action of a schema-valid request
    for item in normal:
        uid = expected_reply(item, version)
        if uid is not None:
            expected[uid] += 1
        if item.kind == "valid" and uid is not None:
            valid[uid] = item.action
    started = time.monotonic()
    for item in normal:
        assert client.send(item.data), "the central system closed the connection early"
        run.kinds[item.kind] += 1
    sentinel = f"sentinel-{run.batches}"
    client.send(json.dumps([2, sentinel, "Heartbeat", {}]))
    replies, closed = _collect(client, sentinel)
    run.send_wall_s += time.monotonic() - started
    run.frames += len(frames)
    run.batches += 1
    for reply in replies:
        _check_reply(reply, version)
    got = Counter(r[1] for r in replies if isinstance(r, list) and len(r) > 1)
    assert got == expected, (
        f"OCPP {version}: replies differ from what the frames require; missing "
        f"{dict(expected - got)!r:.300}, unexpected {dict(got - expected)!r:.300}")
    by_uid = {r[1]: r for r in replies if isinstance(r, list) and len(r) > 1}
    for uid, action in valid.items():
        if expected[uid] > 1:
            continue  # the id was reused in this batch: replies cannot be told apart
        reply = by_uid[uid]
        assert reply[0] == 3, f"valid {action} answered with {reply!r:.300}"
        problem = schemas.check(version, action, "response", reply[2])
        assert problem is None, f"the bench's answer to {action} breaks the schema: {problem}"
    assert closed is None, f"the central system closed the connection ({closed.code})"
    assert session.state.connected
    assert session.state.connection_count == connections_before
    for item in oversized:  # policy: closed with 1009 (message too big); it may reconnect
        run.kinds[item.kind] += 1
        run.oversized += 1
        client = run.client(version)
        assert client.send(item.data)
        late, closed = _collect(client, None)
        assert closed is not None and closed.code == 1009, (
            f"oversized frame: expected close 1009, got {closed and closed.code}")
        assert late == [], f"replies after an oversized frame: {late!r:.300}"


# ------------------------------------------------------------------------ the campaign
def _fuzz(run: FuzzRun, target_frames: int) -> None:
    @settings(max_examples=25, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(batch(LIMIT_BYTES, BATCH_SIZE))
    def one_batch(example: tuple[str, list[Fuzzed]]) -> None:
        if run.frames >= target_frames:
            return
        version, frames = example
        run_batch(run, version, frames)
        if run.rss_warm is None and run.frames >= target_frames * 0.3:
            run.rss_warm = _rss_bytes()

    started = time.monotonic()
    while run.frames < target_frames:
        assert time.monotonic() - started < 600, "fuzz campaign takes too long"
        one_batch()


def _after_the_campaign(run: FuzzRun, target_frames: int) -> dict[str, Any]:
    central = run.central
    assert central._server is not None and central._server.is_serving()
    for version, cid in CHARGER.items():
        client = run.client(version)
        client.send(json.dumps([2, "post-fuzz", "Heartbeat", {}]))
        msg = client.inbox.get(timeout=REPLY_TIMEOUT_S)
        assert isinstance(msg, list) and msg[:2] == [3, "post-fuzz"], msg
        assert "currentTime" in msg[2]
        handle = run.csms.charger(cid)
        payload = {"type": "Soft"} if version == "1.6" else {"type": "Immediate"}
        assert handle.call("Reset", payload, timeout_s=10) == {"status": "Accepted"}
        session = central.session(cid)
        count, size = session.log_size
        assert count <= MAX_MESSAGES and size <= MAX_LOG_BYTES, (cid, count, size)
        entries, trace_bytes = session.trace.recent_size
        assert entries <= RECENT_FRAMES and trace_bytes <= RECENT_TRACE_BYTES
        conn = session.connection
        assert conn is not None
        for store in (conn._orphans, conn._raw_calls, conn._answered):
            assert len(store) <= 256
        assert not conn._pending
    assert len(central.unknown_attempts) <= 50
    rss_end = _rss_bytes()
    warm = run.rss_warm or rss_end
    growth_mb = (rss_end - warm) / 2**20
    frames_per_s = run.frames / run.send_wall_s if run.send_wall_s else 0.0
    figures = {"frames": run.frames, "batches": run.batches, "oversized": run.oversized,
               "kinds": dict(run.kinds), "frames_per_s": round(frames_per_s),
               "rss_growth_after_warmup_mb": round(growth_mb, 1),
               "rss_end_mb": round(rss_end / 2**20, 1)}
    print(f"\nfuzz figures: {json.dumps(figures)}")
    assert run.frames >= target_frames
    assert growth_mb < 64, f"memory kept growing after the warm-up: {figures}"
    return figures


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
def test_central_system_survives_2000_fuzzed_frames(fuzz_run: FuzzRun) -> None:
    _fuzz(fuzz_run, 2000)
    _after_the_campaign(fuzz_run, 2000)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
def test_central_system_survives_10000_fuzzed_frames(fuzz_run: FuzzRun) -> None:
    _fuzz(fuzz_run, 10_000)
    _after_the_campaign(fuzz_run, 10_000)


@pytest.mark.parametrize("version", VERSIONS)
def test_generated_valid_requests_are_schema_valid(version: str) -> None:
    """The generator's "valid" frames really are valid (else the fuzz asserts nonsense)."""

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(valid_call(version))
    def check(item: Fuzzed) -> None:
        msg = json.loads(item.data)
        assert msg[0] == 2 and msg[2] == item.action
        assert schemas.check(version, item.action, "request", msg[3]) is None, msg

    check()
