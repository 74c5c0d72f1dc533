"""Fault injection, one table: for every case the verdict (device ``failed`` vs bench
``error``), the instruments' safe state afterwards, and the journal's integrity.

Most cases are real `testbench run`s (tests/safety's lab: grid emulator, DC source, relay
box, faulty instruments; suites written into the test's folder):

* one shared run (module fixture) holds the in-run faults: an analyser answering garbage,
  one going silent, one dropping its connection, a charger rebooted mid-test through its
  supply switch, and a last test proving the run goes on;
* Ctrl-C (SIGINT) mid-run, the central system's port busy, and a disk filling up mid-run
  (a small tmpfs; needs root) are runs of their own.

The charger-side OCPP faults are full runs of the real suites/ocpp cases (the flood: a suite
written into the test's folder) against a generated lab (tests/selftest/labgen.py) whose
charger has the matching fault personality (testbench.lab.faults.ROBUSTNESS_FAULTS); what
each case expects is written above its case function:

==============================  ==============================  ==========================
case                            charger fault                   observed test -> verdict
==============================  ==============================  ==========================
websocket-drop-offline-queue    drops-connection-mid-transaction  meter values -> passed
malformed-frames                sends-malformed-frames          status on plug-in -> failed
never-answering-charger         stops-answering                 remote start -> failed
wrong-unique-id                 sends-wrong-unique-id           remote start -> failed
oversized-frame                 sends-oversized-frame           status on plug-in -> passed
unknown-action                  sends-unknown-action            status on plug-in -> passed
heartbeat-flood                 floods-heartbeats               other charger served -> passed
==============================  ==============================  ==========================
"""

from __future__ import annotations

import json
import re
import signal
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from faultlab import journal_integrity
from robustlab import ChargerEntry, ChargerRun, run_with_fault
from safety_bench import Run, run, run_and_interrupt, write_lab, write_suite

from testbench.lab.ports import unused_port


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
    port = unused_port()  # not one the lab's other instruments were given
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


# --------------------------------------------------------------------------- charger faults
# Full runs of suites/ocpp against a generated lab whose charger has a robustness fault
# personality (testbench.sim.robustness). What a lab engineer expects of each:
#
# * drops-connection-mid-transaction: a conformant offline queue is no failure. The
#   transaction's verdicts pass; the trace shows the link closing, a new connection and
#   boot, then the queued TransactionEvents (offline=true) in order: seqNo without gap or
#   repeat, timestamps rising, each replayed one stamped before it arrived.
# * sends-malformed-frames: the central system answers each malformed frame with the
#   OCPP-J CALLERROR (2.0.1: RpcFrameworkError to unique id "-1" for invalid JSON,
#   MessageTypeNotSupported for type id 7, TypeConstraintViolation for the payload) and
#   keeps the session. The test whose event the charger reported only in a malformed frame
#   (the plug-in: test_status_on_plug_in_and_out) fails (device), its message showing the
#   rejected frame and why; the next test passes: the charger carried on.
# * stops-answering: every test that needs an answer fails (device, not bench error) with
#   the timeout naming the action, the charger and the lab-s limit; the run goes on with
#   the next test, and each later test fails the same way on its own action.
# * sends-wrong-unique-id: a CALLRESULT with another unique id answers nothing: the bench
#   keeps its CALL open, the stray result stays in the trace (never answered: a CALLRESULT
#   gets no CALLERROR), and the test fails (device) on the timeout naming the action, the
#   charger and the unique id it waited for; each later test fails the same way.
# * sends-oversized-frame: the central system refuses the frame over its 1 MiB limit the
#   websockets way (close 1009, the frame never read); the charger reconnects, boots and
#   reports its statuses again, so the plug-in test sees Occupied after the reconnection
#   and passes; the next test passes: the run goes on. (The bench records the closing as
#   1006, the code it did not receive: the verdict does not name the oversized frame yet.)
# * sends-unknown-action: the central system answers the 1.6 StartTransaction of a 2.0.1
#   charger with CALLERROR NotImplemented and keeps the session. The plug-in test passes: a
#   lab engineer judges the feature under test (the valid StatusNotification follows), and
#   the stray CALL with its NotImplemented answer is evidence in the test's OCPP trace, not a
#   verdict of its own (no suites/ocpp case asserts "only actions of my version").
# * floods-heartbeats: triggered once, 2,000 Heartbeats back to back (one CALL in flight at
#   a time, as fast as the answers come). The central system answers every one; another
#   charger of the lab (calm-201) still gets its TriggerMessage round trips within 2 s and its
#   own Heartbeats answered within 1 s while the flood runs; the run ends within
#   FLOOD_BUDGET_S and its journal is whole. The flood case's test is on flood-201's pairing
#   (calm-201's pairing skips it).
def _charger_outcome(result: ChargerRun, tests: list[str]) -> Outcome:
    started = {t.split("::")[-1] for t in tests}
    return Outcome(result.records(), result.energised(), result.run_dir / "journal.jsonl",
                   result.exit_code, result.output, started, result.end())


def _frames(trace: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    return [e for e in trace if e.get("dir") == direction and "frame" in e]


def case_ws_drop_offline_queue(tmp_path: Path) -> Outcome:
    tests = ["test_meter_values.py::test_meter_values_during_transaction",
             "test_remote_control.py::test_remote_start_and_stop"]
    result = run_with_fault(tmp_path, "drop-201", "drops-connection-mid-transaction", tests)
    trace = result.trace("test_meter_values_during_transaction")
    events = [e["event"] for e in trace if e.get("dir") == "event"]
    assert "closed" in events and "connected" in events[events.index("closed"):], events
    reconnected = next(i for i, e in enumerate(trace) if e.get("event") == "connected")
    calls = [(i, e) for i, e in enumerate(trace) if e.get("dir") == "in"
             and e.get("parsed") and e["parsed"][0] == 2]
    tx = [(i, e["parsed"][3], e["lab_s"]) for i, e in calls
          if e["parsed"][2] == "TransactionEvent"]
    seq = [p["seqNo"] for _, p, _ in tx]
    assert seq == list(range(len(seq))), f"seqNo out of order, repeated or missing: {seq}"
    stamps = [p["timestamp"] for _, p, _ in tx]
    assert stamps == sorted(stamps), stamps
    replayed = [(i, p, lab_s) for i, p, lab_s in tx if p.get("offline") is True]
    assert len(replayed) >= 1, f"no TransactionEvent replayed offline: {seq}"
    assert all(i > reconnected for i, _, _ in replayed), "an offline event before reconnecting"
    after = [e["parsed"][2] for i, e in calls if i > reconnected]
    assert after[0] == "BootNotification", after
    assert after[1:1 + len(replayed)] == ["TransactionEvent"] * len(replayed), (
        f"the queue is not replayed first, in order, after the boot: {after}")
    back_lab_s = trace[reconnected]["lab_s"]
    for _, payload, _ in replayed:  # stamped while off line (0.5 s: clocks of two processes)
        stamped = datetime.fromisoformat(payload["timestamp"])
        assert stamped.timestamp() < back_lab_s + 0.5, (payload, back_lab_s)
    print(f"offline replay: seqNo {seq}, replayed {[p['seqNo'] for _, p, _ in replayed]}")
    return _charger_outcome(result, tests)


MALFORMED_REPLIES = ("RpcFrameworkError", "MessageTypeNotSupported", "TypeConstraintViolation")


def case_malformed_frames(tmp_path: Path) -> Outcome:
    tests = ["test_status.py::test_status_on_plug_in_and_out",
             "test_remote_control.py::test_remote_start_and_stop"]
    result = run_with_fault(tmp_path, "mal-201", "sends-malformed-frames", tests)
    trace = result.trace("test_status_on_plug_in_and_out")
    frames = [e for e in trace if "frame" in e]
    bad = [i for i, e in enumerate(frames) if e["dir"] == "in" and (
        e["parsed"] is None or e["parsed"][0] == 7
        or (e["parsed"][0] == 2 and e["parsed"][3].get("connectorStatus") == "Plugged"))]
    assert len(bad) == 3, [e["frame"] for e in frames]
    for index, code in zip(bad, MALFORMED_REPLIES):
        reply = frames[index + 1]
        assert reply["dir"] == "out" and reply["parsed"][0] == 4, (frames[index], reply)
        assert reply["parsed"][2] == code, (frames[index]["frame"], reply["frame"])
    assert frames[bad[0] + 1]["parsed"][1] == "-1"  # invalid JSON: no unique id to answer
    assert result.records()["test_remote_start_and_stop"]["verdict"] == "passed"
    return _charger_outcome(result, tests)


def case_never_answers(tmp_path: Path) -> Outcome:
    tests = ["test_remote_control.py::test_remote_start_and_stop",
             "test_reset_availability.py::test_change_availability"]
    result = run_with_fault(tmp_path, "mute-201", "stops-answering", tests, time_scale=20.0)
    later = result.records().get("test_change_availability")
    assert later is not None and later["verdict"] == "failed", later
    assert "did not answer ChangeAvailability" in later["message"], later
    return _charger_outcome(result, tests)


def _in_calls(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in _frames(trace, "in") if e["parsed"] and e["parsed"][0] == 2]


def case_wrong_unique_id(tmp_path: Path) -> Outcome:
    tests = ["test_remote_control.py::test_remote_start_and_stop",
             "test_reset_availability.py::test_change_availability"]
    result = run_with_fault(tmp_path, "wid-201", "sends-wrong-unique-id", tests,
                            time_scale=20.0)
    trace = result.trace("test_remote_start_and_stop")
    calls = {e["parsed"][1]: e["parsed"][2] for e in _frames(trace, "out")
             if e["parsed"] and e["parsed"][0] == 2}
    assert "RequestStartTransaction" in calls.values(), calls
    stray = [e for e in _frames(trace, "in") if e["parsed"] and e["parsed"][0] == 3
             and e["parsed"][1] not in calls]
    assert stray, "the charger's CALLRESULT with another unique id is not in the trace"
    # the bench's answer to it is nothing: no CALLERROR to an unsolicited CALLRESULT
    assert not any(e["parsed"] and e["parsed"][0] == 4 and e["parsed"][1] == stray[0]["parsed"][1]
                   for e in _frames(trace, "out")), "a CALLRESULT must never be answered"
    start_uid = next(u for u, a in calls.items() if a == "RequestStartTransaction")
    timeout = [e for e in trace if e.get("event") == "call_timeout"]
    assert timeout and timeout[0]["unique_id"] == start_uid, timeout  # the call stays open
    assert trace.index(stray[0]) < trace.index(timeout[0]), "the stray result came late"
    assert start_uid in result.records()["test_remote_start_and_stop"]["message"]
    later = result.records().get("test_change_availability")
    assert later is not None and later["verdict"] == "failed", later
    assert "did not answer ChangeAvailability" in later["message"], later
    return _charger_outcome(result, tests)


def case_oversized_frame(tmp_path: Path) -> Outcome:
    tests = ["test_status.py::test_status_on_plug_in_and_out",
             "test_remote_control.py::test_remote_start_and_stop"]
    result = run_with_fault(tmp_path, "big-201", "sends-oversized-frame", tests)
    sim_log = (result.run_dir / "sim.log").read_text(encoding="utf-8")
    closed_by = re.search(r"big-201: connection closed \(code (\d+) '([^']*)'\)", sim_log)
    assert closed_by is not None, sim_log[-3000:]
    print(f"oversized frame: the central system closed with {closed_by.groups()}")
    assert closed_by.group(1) == "1009", closed_by.group(0)  # what the charger received
    trace = result.trace("test_status_on_plug_in_and_out")
    assert not any(len(e.get("frame", "")) > 2**20 for e in trace), "a frame over 1 MiB read"
    closed = next(i for i, e in enumerate(trace) if e.get("event") == "closed")
    after = [e["parsed"][2] for e in _in_calls(trace[closed:])]
    assert any(e.get("event") == "connected" for e in trace[closed:]), "no reconnection"
    assert after[:2] == ["BootNotification", "StatusNotification"], after
    assert result.records()["test_remote_start_and_stop"]["verdict"] == "passed"
    return _charger_outcome(result, tests)


def case_unknown_action(tmp_path: Path) -> Outcome:
    tests = ["test_status.py::test_status_on_plug_in_and_out",
             "test_remote_control.py::test_remote_start_and_stop"]
    result = run_with_fault(tmp_path, "unk-201", "sends-unknown-action", tests)
    trace = result.trace("test_status_on_plug_in_and_out")
    frames = [e for e in trace if "frame" in e]
    unknown = [i for i, e in enumerate(frames) if e["dir"] == "in" and e["parsed"]
               and e["parsed"][0] == 2 and e["parsed"][2] == "StartTransaction"]
    assert len(unknown) == 1, [e["frame"][:120] for e in frames]
    uid = frames[unknown[0]]["parsed"][1]
    reply = next(e for e in frames[unknown[0]:] if e["dir"] == "out" and e["parsed"][1] == uid)
    assert reply["parsed"][0] == 4 and reply["parsed"][2] == "NotImplemented", reply["frame"]
    assert result.records()["test_remote_start_and_stop"]["verdict"] == "passed"
    return _charger_outcome(result, tests)


FLOOD_SUITE = """
    import json
    import time
    from pathlib import Path

    import pytest

    FLOOD = 2000 + 1  # the triggered Heartbeat, then the flood

    def _heartbeats_in(handle):
        return [m for m in handle.messages("Heartbeat") if m.direction == "in"
                and m.kind == "call"]

    def test_other_charger_during_flood(charger, csms):
        if charger.id != "flood-201":
            pytest.skip("the flood is driven from flood-201's pairing")
        csms.wait_connected(["flood-201", "calm-201"], within_s=120)
        flood, calm = charger, csms.charger("calm-201")
        flood.mark()
        calm.mark()
        assert flood.call("TriggerMessage", {"requestedMessage": "Heartbeat"})[
            "status"] == "Accepted"
        round_trips_s = []
        deadline = time.monotonic() + 45  # well inside FLOOD_BUDGET_S
        while len(_heartbeats_in(flood)) < FLOOD and time.monotonic() < deadline:
            started = time.monotonic()
            assert calm.call("TriggerMessage", {"requestedMessage": "Heartbeat"})[
                "status"] == "Accepted"
            round_trips_s.append(time.monotonic() - started)
            time.sleep(0.05)
        flooded = _heartbeats_in(flood)
        answered = [m for m in flood.messages("Heartbeat") if m.direction == "out"
                    and m.kind == "result"]
        time.sleep(1.0)  # the last triggered Heartbeat of calm-201 and its answer
        calm_in = {m.unique_id: m.wall_s for m in _heartbeats_in(calm)}
        calm_answer_s = [m.wall_s - calm_in[m.unique_id] for m in calm.messages("Heartbeat")
                         if m.direction == "out" and m.unique_id in calm_in]
        span_s = flooded[-1].wall_s - flooded[0].wall_s if len(flooded) > 1 else 0.0
        figures = {"flood_heartbeats": len(flooded), "flood_answered": len(answered),
                   "flood_span_s": span_s, "flood_rate_per_s": len(flooded) / max(span_s, 1e-9),
                   "other_round_trips": len(round_trips_s),
                   "other_round_trip_max_s": max(round_trips_s, default=None),
                   "other_heartbeats_answered": len(calm_answer_s),
                   "other_answer_max_s": max(calm_answer_s, default=None)}
        Path("flood-figures.json").write_text(json.dumps(figures))
        assert len(flooded) == FLOOD and len(answered) == FLOOD, figures
        assert round_trips_s and calm_answer_s, figures
        assert max(round_trips_s) < 2.0 and max(calm_answer_s) < 1.0, (
            f"calm-201 was not served within bounds during the flood: {figures}")
    """
FLOOD_BUDGET_S = 90.0


def case_flood(tmp_path: Path) -> Outcome:
    import textwrap
    import time

    suite = tmp_path / "test_flood_suite.py"
    suite.write_text(textwrap.dedent(FLOOD_SUITE), encoding="utf-8")
    started = time.monotonic()
    result = run_with_fault(tmp_path, "flood-201", "floods-heartbeats", [str(suite)],
                            extra=[ChargerEntry("calm-201", "2.0.1")],
                            timeout_s=FLOOD_BUDGET_S)
    wall_s = time.monotonic() - started
    figures_file = tmp_path / "flood-figures.json"
    assert figures_file.exists(), result.output[-3000:]
    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    print(f"flood: {figures}; run {wall_s:.1f} s wall")
    assert wall_s < FLOOD_BUDGET_S and result.end() is not None, wall_s
    outcome = _charger_outcome(result, ["test_other_charger_during_flood"])
    journal = result.run_dir / "journal.jsonl"
    lines = [json.loads(x) for x in journal.read_text(encoding="utf-8").splitlines()]
    pairs = {r["charger"]: r for r in lines if r["type"] == "result"}
    assert pairs["calm-201"]["verdict"] == "skipped", pairs  # the flood runs on one pairing
    outcome.records = {r["name"]: r for r in pairs.values() if r["charger"] == "flood-201"}
    return outcome


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
    "websocket-drop-offline-queue": ("ws-drop", "test_meter_values_during_transaction",
                                     "passed", ()),
    "malformed-frames": ("malformed", "test_status_on_plug_in_and_out", "failed",
                         ("mal-201", "rejected as schema-invalid", '"connectorStatus":"Plugged"',
                          "at evseId")),
    "never-answering-charger": ("never-answers", "test_remote_start_and_stop", "failed",
                                ("charger 'mute-201' did not answer RequestStartTransaction",
                                 "within 30 lab s")),
    "wrong-unique-id": ("wrong-id", "test_remote_start_and_stop", "failed",
                        ("charger 'wid-201' did not answer RequestStartTransaction",)),
    "oversized-frame": ("oversized", "test_status_on_plug_in_and_out", "passed", ()),
    "unknown-action": ("unknown-action", "test_status_on_plug_in_and_out", "passed", ()),
    "heartbeat-flood": ("flood", "test_other_charger_during_flood", "passed", ()),
    "busy-port": ("busy-port", "", "", ()),
    "sigint-mid-run": ("sigint", "test_a_done_before", "passed", ()),
    "disk-full": ("disk-full", "test_1_before_the_disk_fills[ev-saloon@wd-201]", "passed", ()),
}
SLOW = {"disk-full", "busy-port"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW
                                  else c for c in CASES])
def test_fault(case: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    source, test, verdict, texts = CASES[case]
    if source == "in-run":
        outcome = request.getfixturevalue("in_run")
    else:
        outcome = {"busy-port": case_busy_port, "sigint": case_sigint,
                   "disk-full": case_disk_full, "ws-drop": case_ws_drop_offline_queue,
                   "malformed": case_malformed_frames,
                   "never-answers": case_never_answers, "wrong-id": case_wrong_unique_id,
                   "oversized": case_oversized_frame, "unknown-action": case_unknown_action,
                   "flood": case_flood}[source](tmp_path)
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
