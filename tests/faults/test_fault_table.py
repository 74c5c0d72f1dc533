"""Fault injection, one table: for every case the verdict (device ``failed`` vs bench
``error``), the instruments' safe state afterwards, and the journal's integrity.

Most cases are real `testbench run`s (tests/safety's lab: grid emulator, DC source, relay
box, faulty instruments; suites written into the test's folder):

* one shared run (module fixture) holds the in-run faults: an analyser answering garbage,
  one going silent, one dropping its connection, a charger rebooted mid-test through its
  supply switch, and a last test proving the run goes on;
* Ctrl-C (SIGINT) mid-run, the central system's port busy, and a disk filling up mid-run
  (a small tmpfs; needs root) are runs of their own.

The charger-side OCPP faults the simulated chargers have no personality for (a websocket
drop mid-transaction with the offline queue replayed, malformed frames, a charger that
never answers a CALL) run against the central system itself with tests/csms' raw OCPP-J
clients; their verdict is what the plugin's verdict rules make of what the bench raised,
written to and read back from a real journal; no instrument is involved (safe state "n/a").
"""

from __future__ import annotations

import json
import re
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faultlab import journal_integrity
from safety_bench import Run, run, run_and_interrupt, write_lab, write_suite

CSMS_TESTS = Path(__file__).resolve().parents[1] / "csms"
if str(CSMS_TESTS) not in sys.path:
    sys.path.insert(0, str(CSMS_TESTS))

from csms_helpers import PASSWORD, PASSWORD_ENV, SILENT, Bench, default_chargers

from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.csms import CentralSystem, Csms
from testbench.lab.model import CsmsSettings
from testbench.plugin.verdicts import PhaseOutcome, combine, describe
from testbench.results.journal import Journal, ResultRecord, read_journal


@dataclass
class Outcome:
    """What a case left: test name -> journal record, the twins' final state (None: no
    instrument involved), the journal, the run's exit code and output."""

    records: dict[str, dict[str, Any]]
    twins_energised: list[str] | None
    journal: Path | None
    exit_code: int = 0
    output: str = ""
    started: set[str] = field(default_factory=set)
    end: dict[str, Any] | None = None


# --------------------------------------------------------------------------- shared run
IN_RUN_SUITE = '''
    import pytest

    def test_instrument_garbage(station):
        energise(station)
        station.instrument("analyzer_garbage").read()

    def test_instrument_silent(station):
        energise(station)
        station.instrument("analyzer_silent").read()

    def test_instrument_disconnect(station):
        energise(station)
        station.instrument("analyzer_disconnect").read()

    def test_charger_reboot_mid_test(station, charger):
        energise(station)
        charger.mark()
        station.power_cycle_charger(off_s=5)
        charger.expect("BootNotification", within_s=120)

    def test_the_run_goes_on(station):
        energise(station)
    '''


def _add_instruments(lab: Path) -> None:
    text = lab.read_text(encoding="utf-8")
    box = re.search(r'resource = "(TCPIP::127\.0\.0\.1::\d+::SOCKET)"', text)
    assert box is not None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text += f'''
  [[stations.instruments]]
  name = "analyzer-disconnect"
  role = "analyzer_disconnect"
  driver = "yokogawa-wt"
  resource = "TCPIP::127.0.0.1::{port}::SOCKET"
  charger = "safe-201"
  timeout_s = 1.0
  options = {{ sim_fault = "disconnect" }}

  [[stations.instruments]]
  name = "supply"
  role = "charger_power"
  driver = "sim-ev-emulator"
  resource = "{box.group(1)}"
  charger = "safe-201"
'''
    lab.write_text(text, encoding="utf-8")


def _outcome(result: Run, started: set[str]) -> Outcome:
    journal = result.run_dir / "journal.jsonl"
    lines = [json.loads(x) for x in journal.read_text(encoding="utf-8").splitlines()]
    return Outcome(result.records(), list(result.final_state()["energised"]), journal,
                   result.exit_code, result.output, started,
                   lines[-1] if lines[-1]["type"] == "end" else None)


@pytest.fixture(scope="module")
def in_run(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    folder = tmp_path_factory.mktemp("in-run")
    lab = write_lab(folder)
    _add_instruments(lab)
    result = run(lab, write_suite(folder, IN_RUN_SUITE), timeout_s=300)
    started = {m for m in re.findall(r"def (test_\w+)", IN_RUN_SUITE)}
    return _outcome(result, started)


# --------------------------------------------------------------------------- own runs
def case_sigint(tmp_path: Path) -> Outcome:
    lab = write_lab(tmp_path)
    marker = tmp_path / "energised.marker"
    suite = write_suite(tmp_path, f'''
        def test_a_done_before(station):
            energise(station)

        def test_b_interrupted(station):
            energise(station)
            Path({str(marker)!r}).write_text("energised")
            time.sleep(120)
        ''')
    result = run_and_interrupt(lab, suite, marker, signal.SIGINT)
    assert result.exit_code == 130, result.output[-2000:]
    return _outcome(result, {"test_a_done_before", "test_b_interrupted"})


def case_busy_port(tmp_path: Path) -> Outcome:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        lab = write_lab(tmp_path)
        lab.write_text(lab.read_text(encoding="utf-8").replace("port = 0", f"port = {port}", 1),
                       encoding="utf-8")
        result = run(lab, write_suite(tmp_path, '''
            def test_needs_the_bench(station):
                energise(station)
            '''))
    finally:
        holder.close()
    assert result.exit_code == 2 and f"{port}" in result.output, result.output[-2000:]
    assert "in use" in result.output, result.output[-2000:]
    runs = sorted((result.reports / "runs").glob("*/journal.jsonl"))
    records: dict[str, dict[str, Any]] = {}
    for journal in runs:
        records.update(journal_integrity(journal))
    state = sorted((result.reports / "runs").glob("*/sim-final-state.json"))
    energised = json.loads(state[0].read_text())["energised"] if state else []
    return Outcome(records, energised, runs[0] if runs else None, result.exit_code,
                   result.output)


def case_disk_full(tmp_path: Path) -> Outcome:
    from diskfull import run_until_disk_full

    result = run_until_disk_full(tmp_path)
    journal = tmp_path / "journal-copy.jsonl"
    journal.write_bytes(result.journal_bytes)
    lines = [json.loads(x) for x in result.journal_bytes.decode().splitlines()]
    records = {r["test_id"].split("::")[-1]: r for r in lines if r["type"] == "result"}
    message = re.search(r"testbench: cannot write the run journal .*", result.output)
    assert message is not None, result.output[-3000:]
    text = message.group(0)
    assert "No space left on device" in text and "the disk is full" in text, text
    assert "--resume" in text and "are kept" in text and "made safe" in text, text
    lost = re.search(r"the verdict of \S+::(\S+) \((\w+)\) is lost", text)
    assert lost is not None and lost.group(1) not in records, text
    state, volts = result.grid_after.split(";")
    energised = [] if state == "OFF" and float(volts) < 1.0 else ["grid"]
    return Outcome(records, energised, journal, result.exit_code, result.output,
                   end=lines[-1] if lines[-1]["type"] == "end" else None)


# --------------------------------------------------------------------------- central system
def _judge(name: str, body: Callable[[], None], journal_dir: Path) -> Outcome:
    """Run ``body`` as a test would run, name its verdict by the plugin's rules, journal it."""
    phases: list[PhaseOutcome] = []
    try:
        body()
        phases.append(PhaseOutcome("call", "passed", False, ""))
    except Exception as exc:  # noqa: BLE001 - judged like the plugin does
        device, message = describe(exc)
        phases.append(PhaseOutcome("call", "failed", device, message))
    verdict, message = combine(phases)
    with Journal.open(journal_dir, {"lab": "csms-faults"}) as journal:
        journal.record(ResultRecord(test_id=name, name=name, verdict=verdict, message=message))
    content = read_journal(journal_dir / "journal.jsonl")
    assert content.problems == [] and content.complete
    records = {r.name: r.to_json() for r in content.records}
    return Outcome(records, None, journal_dir / "journal.jsonl", started={name})


def _csms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scale: float) -> Bench:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    clock = LabClock(scale=scale)
    loop = BackgroundLoop(name="fault-table-csms")
    central = CentralSystem(CsmsSettings(heartbeat_interval_s=60), default_chargers(), clock,
                            tmp_path / "traces")
    loop.run(central.start(), timeout_s=10)
    return Bench(central, Csms(central, loop, clock), loop, clock, tmp_path / "traces")


def _stop(bench: Bench) -> None:
    try:
        bench.loop.run(bench.central.stop(), timeout_s=15)
    finally:
        bench.loop.stop()


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def case_ws_drop_offline_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    bench = _csms(tmp_path, monkeypatch, 1.0)
    try:
        client = bench.client("cp201")
        client.boot()
        cp = bench.csms.charger("cp201")
        now = datetime.now(UTC)

        def event(kind: str, seq: int, **extra: Any) -> dict[str, Any]:
            return {"eventType": kind, "timestamp": _iso(now), "seqNo": seq,
                    "triggerReason": "Authorized",
                    "transactionInfo": {"transactionId": "tx-9", "chargingState": "Charging"},
                    "evse": {"id": 1, "connectorId": 1}, **extra}

        def body() -> None:
            client.request("TransactionEvent", event(
                "Started", 0, idToken={"idToken": "LAB-0001", "type": "ISO14443"}))
            client.ws.socket.shutdown(socket.SHUT_RDWR)  # the link dies, no close handshake
            client.closed.wait(5)
            cp.mark()
            again = bench.client("cp201")
            for seq in (1, 2):
                again.request("TransactionEvent", event("Updated", seq, offline=True))
            again.request("TransactionEvent", event("Ended", 3, offline=True))
            cp.expect("TransactionEvent", within_s=5, event_type="Ended",
                      where=lambda p: p.get("offline") is True)
            assert [m.payload["seqNo"] for m in cp.messages("TransactionEvent")
                    if m.direction == "in"] == [1, 2, 3]
            again.close()

        return _judge("test_ws_drop_offline_queue", body, tmp_path / "journal")
    finally:
        _stop(bench)


def case_malformed_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    bench = _csms(tmp_path, monkeypatch, 1.0)
    try:
        client = bench.client("cp16")
        client.boot()

        def body() -> None:
            for frame in ("this is not json", '[9, "a2", "Heartbeat", {}]',
                          '[2, "a3", "NoSuchAction", {}]', '[2, "a4", "Heartbeat", []]',
                          '[2, "a5", "BootNotification", {"chargePointVendor": 7}]'):
                client.send(frame)
                reply = client.recv()
                assert isinstance(reply, list) and reply[0] == 4, (frame, reply)
            assert client.request("Heartbeat", {})[0] == 3  # the session survives

        return _judge("test_malformed_frames", body, tmp_path / "journal")
    finally:
        client.close()
        _stop(bench)


def case_never_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    bench = _csms(tmp_path, monkeypatch, 10.0)
    try:
        client = bench.client("cp201", responder={"Reset": SILENT})
        client.boot()
        cp = bench.csms.charger("cp201")

        def body() -> None:
            cp.call("Reset", {"type": "Immediate"}, timeout_s=5)  # 0.5 wall s

        return _judge("test_never_answers", body, tmp_path / "journal")
    finally:
        client.close()
        _stop(bench)


# --------------------------------------------------------------------------- the table
# case -> (where the outcome comes from, test name, expected verdict, texts in its message)
CASES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "instrument-garbage": ("in-run", "test_instrument_garbage", "error",
                           ("analyzer-garbage", "not text")),
    "instrument-silent": ("in-run", "test_instrument_silent", "error",
                          ("analyzer-silent", "no reply")),
    "instrument-disconnect": ("in-run", "test_instrument_disconnect", "error",
                              ("analyzer-disconnect",)),
    "charger-reboot-mid-test": ("in-run", "test_charger_reboot_mid_test", "passed", ()),
    "run-goes-on-after-faults": ("in-run", "test_the_run_goes_on", "passed", ()),
    "websocket-drop-offline-queue": ("ws-drop", "test_ws_drop_offline_queue", "passed", ()),
    "malformed-frames": ("malformed", "test_malformed_frames", "passed", ()),
    "never-answering-charger": ("never-answers", "test_never_answers", "failed",
                                ("Reset", "5 lab s")),
    "busy-port": ("busy-port", "", "", ()),
    "sigint-mid-run": ("sigint", "test_a_done_before", "passed", ()),
    "disk-full": ("disk-full", "test_1_before_the_disk_fills[ev-saloon@wd-201]", "passed", ()),
}
SLOW = {"disk-full", "busy-port"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW
                                  else c for c in CASES])
def test_fault(case: str, request: pytest.FixtureRequest, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> None:
    source, test, verdict, texts = CASES[case]
    if source == "in-run":
        outcome = request.getfixturevalue("in_run")
    else:
        make = {"ws-drop": case_ws_drop_offline_queue, "malformed": case_malformed_frames,
                "never-answers": case_never_answers}.get(source)
        if make is not None:
            outcome = make(tmp_path, monkeypatch)
        else:
            outcome = {"busy-port": case_busy_port, "sigint": case_sigint,
                       "disk-full": case_disk_full}[source](tmp_path)
    # verdict, named right
    if test:
        record = outcome.records.get(test)
        assert record is not None, (test, sorted(outcome.records), outcome.output[-2000:])
        assert record["verdict"] == verdict, (case, record)
        for text in texts:
            assert text in record["message"], (case, text, record["message"])
    else:
        assert outcome.records == {}, "no test may get a verdict when the bench cannot start"
    # safe state: nothing energised afterwards (None: no instrument involved)
    if outcome.twins_energised is not None:
        assert outcome.twins_energised == [], (case, outcome.twins_energised)
    # journal integrity: whole lines, each started test has a line (or is named interrupted)
    if outcome.journal is not None:
        records = journal_integrity(outcome.journal)
        for name in outcome.started:
            interrupted = str((outcome.end or {}).get("interrupted_test", ""))
            assert name in records or re.search(rf"::{name}(\[|$)", interrupted), (
                case, name, sorted(records), interrupted)
    if case == "sigint-mid-run":
        assert outcome.end is not None and outcome.end["interrupted"] is True
        assert "test_b_interrupted" in outcome.end["interrupted_test"]
    if case == "disk-full":
        assert outcome.end is not None and outcome.end["status"] == "aborted"
