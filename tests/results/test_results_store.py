"""The results store on SQLite and on a real PostgreSQL server: merge, diff, idempotence, damage."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from store_scenario import (
    EXPECTED_FIRMWARE_FIXES,
    EXPECTED_FIRMWARE_NEW,
    EXPECTED_FIRMWARE_REGRESSIONS,
    RUNS,
    T0,
    records_for,
    write_campaign,
    write_run,
)

from testbench.results.db import StoreError
from testbench.results.diff import Change, compare
from testbench.results.journal import Journal, ResultRecord
from testbench.results.matrix import build_matrix, latest_records
from testbench.results.query import ResultFilter
from testbench.results.store import (
    STORE_ENV,
    ResultStore,
    import_run,
    journals_under,
    open_store,
)
from testbench.results.verdict import Verdict


@pytest.fixture
def campaign(tmp_path: Path) -> list[Path]:
    return write_campaign(tmp_path / "reports")


@pytest.fixture
def store(store_location: str) -> ResultStore:
    with open_store(store_location) as opened:
        yield opened


def _import_all(store: ResultStore, journals: list[Path]) -> None:
    for journal in journals:
        report = store.import_journal(journal)
        assert report.ok and not report.problems, report.summary()


def _firmware_diff(store: ResultStore, charger: str, fw_a: str, fw_b: str):
    side = "r.charger = ? AND r.charger_firmware = ?"
    return compare(
        store.results(ResultFilter().with_condition(side, charger, fw_a)),
        store.results(ResultFilter().with_condition(side, charger, fw_b)),
        kind="firmware",
        before_label=fw_a,
        after_label=fw_b,
        charger=charger,
    )


def test_three_runs_and_a_firmware_change_merge_into_one_matrix(
    store: ResultStore, campaign: list[Path]
) -> None:
    _import_all(store, campaign)
    matrix = build_matrix(store.results())
    assert [r.id for r in matrix.evs] == ["ev-a", "ev-b", "ev-c"]
    assert [c.id for c in matrix.chargers] == ["cp-1", "cp-2"]
    # every pairing of the three first runs and the re-test is in one matrix
    worst = {(c.ev, c.charger): c.worst for c in matrix.ordered_cells()}
    assert worst == {
        ("ev-a", "cp-1"): Verdict.FAILED,  # regression on fw 1.1 (run 4)
        ("ev-a", "cp-2"): Verdict.PASSED,  # run 2
        ("ev-b", "cp-1"): Verdict.PASSED,  # bench error of run 1 re-tested in run 4
        ("ev-b", "cp-2"): Verdict.PASSED,  # run 3
        ("ev-c", "cp-1"): Verdict.FAILED,  # regression on fw 1.1 (run 4)
        ("ev-c", "cp-2"): Verdict.FAILED,  # device failure of run 2
    }
    # the same test at another station replaced its older verdict instead of counting twice
    assert all(cell.total == 6 for cell in matrix.ordered_cells())
    cp1 = matrix.chargers[0]
    assert cp1.firmware == "1.1" and cp1.firmware_seen == ["1.1"]
    assert matrix.cell("ev-a", "cp-1").count(Verdict.PASSED) == 5  # v2x newly applicable
    failure = matrix.cell("ev-c", "cp-2").failures[0]
    assert (failure.testcase_id, failure.run_id) == ("TC_K_60_CS", RUNS[1].run_id)

    by_fw = build_matrix(store.results(), by_firmware=True)
    assert [(c.id, c.device, c.firmware) for c in by_fw.chargers] == [
        ("cp-1 (1.0)", "cp-1", "1.0"),
        ("cp-1 (1.1)", "cp-1", "1.1"),
        ("cp-2 (2.3)", "cp-2", "2.3"),
    ]
    assert by_fw.cell("ev-b", "cp-1 (1.0)").worst is Verdict.ERROR
    assert by_fw.cell("ev-b", "cp-1 (1.1)").worst is Verdict.PASSED
    assert by_fw.cell("ev-a", "cp-1 (1.0)").worst is Verdict.PASSED


def test_firmware_diff_names_exactly_the_regressions(
    store: ResultStore, campaign: list[Path]
) -> None:
    _import_all(store, campaign)
    diff = _firmware_diff(store, "cp-1", "1.0", "1.1")
    named = lambda change: {(e.ev, e.name) for e in diff.of(change)}
    assert named(Change.REGRESSION) == EXPECTED_FIRMWARE_REGRESSIONS
    assert named(Change.FIX) == EXPECTED_FIRMWARE_FIXES
    assert named(Change.NEW) == EXPECTED_FIRMWARE_NEW
    assert named(Change.CHANGED) == set() and named(Change.DROPPED) == set()
    assert diff.counts[Change.UNCHANGED] == 3 * 6 - 4
    regression = next(e for e in diff.regressions if e.ev == "ev-a")
    assert regression.before is not None and regression.before.charger_firmware == "1.0"
    assert regression.after is not None and "15.9 A" in regression.after.message


def test_run_diff_keys_tests_across_stations(store: ResultStore, campaign: list[Path]) -> None:
    _import_all(store, campaign)
    before = store.results(ResultFilter(runs=[RUNS[0].run_id]))
    after = store.results(ResultFilter(runs=[RUNS[3].run_id]))
    diff = compare(before, after, kind="runs", before_label="1", after_label="4")
    # run 1 had ev-a and ev-b on cp-1; ev-c x cp-1 is new in run 4
    assert {(e.ev, e.charger, e.name) for e in diff.regressions} == {
        ("ev-a", "cp-1", "test_tx_profile")
    }
    assert {(e.ev, e.name) for e in diff.fixes} == {("ev-b", "test_meter_values")}
    assert {e.ev for e in diff.of(Change.NEW)} == {"ev-a", "ev-c"}


def test_importing_the_same_journal_twice_changes_nothing(
    store: ResultStore, campaign: list[Path]
) -> None:
    _import_all(store, campaign)
    first = store.dump()
    assert len(first["results"]) == sum(len(records_for(i, p)) for i, p in enumerate(RUNS))
    assert len(first["runs"]) == 4 and len(first["evidence"]) == 4
    for journal in campaign:
        report = store.import_journal(journal)
        assert (report.inserted, report.updated, report.changed) == (0, 0, False)
        assert report.unchanged == report.records > 0
    assert store.dump() == first


def test_a_run_imported_while_running_then_finished(store: ResultStore, tmp_path: Path) -> None:
    plan = RUNS[0]
    journal = Journal.open(tmp_path / "runs" / plan.run_id, {"lab": "L", "host": "h"})
    records = records_for(0, plan)
    for record in records[:5]:
        journal.record(record)
    partial = tmp_path / "partial-copy.jsonl"
    shutil.copy(journal.path, partial)
    early = store.import_journal(journal.path)
    assert (early.complete, early.inserted) == (False, 5)
    assert store.runs()[0].status == "incomplete"
    for record in records[5:]:
        journal.record(record)
    journal.close()
    done = store.import_journal(journal.path)
    assert (done.complete, done.inserted, done.unchanged) == (True, len(records) - 5, 5)
    assert done.run_changed
    assert store.runs()[0].status == "completed"
    # an older, incomplete copy of the journal does not undo the end of the run
    state = store.dump()
    store.import_journal(partial)
    assert store.runs()[0].status == "completed"
    assert state["results"] == store.dump()["results"]


def test_corrupted_and_truncated_lines_are_reported_and_skipped(
    store: ResultStore, tmp_path: Path
) -> None:
    path = write_run(tmp_path / "reports", 0, close=False)
    lines = path.read_bytes().split(b"\n")
    # line 1 is the header, lines 2..13 the twelve results: damage the 4th result
    lines[4] = b'{"type": "result", "test_id": "x", "name": "y", "verd\xff garbage'
    text = b"\n".join(lines)  # still ends with a newline
    text += b'{"type":"result","test_id":"t.py::cut","name":"cut","verdict":"pas'  # killed mid-line
    path.write_bytes(text)

    report = store.import_journal(path)
    assert report.ok
    assert len(report.problems) == 2
    assert ":5: not valid JSON" in report.problems[0]
    assert ":14: truncated last line" in report.problems[1]
    kept = {r.test_id for r in store.results()}
    expected = {r.test_id for r in records_for(0, RUNS[0])}
    assert len(kept) == 11 and kept < expected  # every other result kept
    run = store.runs()[0]
    assert run.status == "incomplete" and len(run.problems) == 2
    assert report.summary().endswith("2 journal line(s) skipped")


def test_results_survive_both_engines_unchanged(store: ResultStore, tmp_path: Path) -> None:
    odd = "NUL\x00 byte, «quotes» ✘, lone \ud800 surrogate, 100% 'q' ?"
    journal = Journal.open(tmp_path / "runs" / "r-odd", {"lab": "L?%"})
    journal.record(
        ResultRecord(
            test_id="t.py::test_odd[x?]",
            name="test_odd",
            verdict="failed",
            message=odd,
            duration_s=float("nan"),
            evidence=["a b/c%.json"],
            wall_s=5.5,
        )
    )
    journal.close()
    assert store.import_journal(journal.path).ok
    (got,) = store.results()
    assert got.message == "NUL\\x00 byte, «quotes» ✘, lone ? surrogate, 100% 'q' ?"
    assert got.duration_s != got.duration_s  # NaN (unknown) survives as NULL
    assert got.evidence == ["a b/c%.json"] and got.wall_s == 5.5
    assert store.runs()[0].lab == "L?%"
    assert store.import_journal(journal.path).changed is False


def test_filters(store: ResultStore, campaign: list[Path]) -> None:
    _import_all(store, campaign)

    def names(filt: ResultFilter) -> set[tuple[str | None, str | None, str | None]]:
        return {(r.ev, r.charger, r.charger_firmware) for r in store.results(filt)}

    assert {r.suite for r in store.results(ResultFilter(suites=["ocpp"]))} == {
        "ocpp/provisioning",
        "ocpp/smart_charging",
        "ocpp/remote",
        "ocpp/meter",
    }
    assert {r.suite for r in store.results(ResultFilter(suites=["ocpp/meter/"]))} == {"ocpp/meter"}
    assert store.results(ResultFilter(suites=["ocp"])) == []
    assert names(ResultFilter(evs=["ev-c"], chargers=["cp-1"])) == {
        ("ev-c", "cp-1", "1.0"),
        ("ev-c", "cp-1", "1.1"),
    }
    assert names(ResultFilter(firmware=["1.1"])) == {
        ("ev-a", "cp-1", "1.1"),
        ("ev-b", "cp-1", "1.1"),
        ("ev-c", "cp-1", "1.1"),
    }
    # CHARGER=FW narrows that charger only
    pinned = names(ResultFilter(firmware=["cp-1=1.0"]))
    assert ("ev-a", "cp-2", "2.3") in pinned and ("ev-a", "cp-1", "1.1") not in pinned
    day3 = ResultFilter(since_wall_s=T0 + 3 * 86400, until_wall_s=T0 + 3.9 * 86400)
    assert {r.run_id for r in store.results(day3)} == {RUNS[2].run_id}
    assert {r.station for r in store.results(ResultFilter(stations=["st-2"]))} == {"st-2"}
    assert store.results(ResultFilter(labs=["other-lab"])) == []
    assert len(store.results(ResultFilter(labs=["synthetic-lab"]))) == 54


def test_runs_and_devices_are_recorded(store: ResultStore, campaign: list[Path]) -> None:
    _import_all(store, campaign)
    runs = store.runs()
    assert [r.run_id for r in runs] == [p.run_id for p in RUNS]
    last = runs[-1]
    assert (last.lab, last.host, last.stations, last.status) == (
        "synthetic-lab",
        "runner-2",
        ["st-2"],
        "completed",
    )
    assert last.project_version == "0.1.0" and last.started_wall_s == T0 + 4 * 86400
    assert last.ended_wall_s is not None and last.ended_wall_s >= last.started_wall_s
    assert last.chargers == {"cp-1": "1.1", "cp-2": "2.3"}
    assert last.evs == {"ev-a": "R1.4", "ev-b": "3.2", "ev-c": "K9"}
    assert last.counts[Verdict.FAILED] == 2 and last.counts[Verdict.PASSED] == 14
    devices = {(d["kind"], d["device_id"], d["version"]): d for d in store.devices()}
    assert devices[("charger", "cp-1", "1.1")]["vendor"] == "Voltiq"
    assert devices[("charger", "cp-1", "1.0")]["ocpp_version"] == "2.0.1"
    assert devices[("ev", "ev-c", "K9")]["model"] == "EV6"
    assert store.firmware_versions("cp-1") == ["1.0", "1.1"]


def test_resolve_run(store: ResultStore, campaign: list[Path]) -> None:
    _import_all(store, campaign)
    assert store.resolve_run("20240427") == RUNS[2].run_id
    assert store.resolve_run("latest") == RUNS[3].run_id
    assert store.resolve_run("latest~3") == RUNS[0].run_id
    with pytest.raises(ValueError, match="ambiguous"):
        store.resolve_run("2024042")
    with pytest.raises(ValueError, match="no run 'nope'.*latest runs"):
        store.resolve_run("nope")
    with pytest.raises(ValueError, match="has 4 run"):
        store.resolve_run("latest~4")


def test_a_different_run_with_the_same_id_is_refused(store: ResultStore, tmp_path: Path) -> None:
    first = Journal.open(tmp_path / "a" / "runs" / "same-id", {"lab": "L", "host": "runner-1"})
    first.record(ResultRecord(test_id="t1", name="t1", verdict="passed", wall_s=1.0))
    first.close()
    other = Journal.open(tmp_path / "b" / "runs" / "same-id", {"lab": "L", "host": "runner-9"})
    other.record(ResultRecord(test_id="t1", name="t1", verdict="failed", wall_s=2.0))
    other.close()
    assert store.import_journal(first.path).ok
    before = store.dump()
    report = store.import_journal(other.path)
    assert not report.ok and "already in the store for a different run" in str(report.error)
    assert store.dump() == before


def test_concurrent_imports_into_one_sqlite_file(tmp_path: Path) -> None:
    journals = write_campaign(tmp_path / "reports")
    location = str(tmp_path / "shared.db")
    open_store(location).close()
    errors: list[BaseException] = []

    def worker(path: Path) -> None:
        try:
            with open_store(location) as mine:
                for _ in range(3):
                    assert mine.import_journal(path).ok
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(j,)) for j in journals]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with open_store(location) as check:
        assert len(check.results()) == 54


def test_import_run_uses_the_default_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORE_ENV, raising=False)
    output = tmp_path / "reports"
    journal = write_run(output, 0)
    report = import_run(output, journal)
    assert report.ok and report.inserted == 12
    assert (output / "results.db").is_file()
    assert import_run(output, journal).changed is False


def test_import_run_never_raises_when_the_store_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(STORE_ENV, f"postgresql://lab:secret@127.0.0.1:{port}/results")
    journal = write_run(tmp_path / "reports", 0)
    report = import_run(tmp_path / "reports", journal)
    assert not report.ok
    assert "cannot connect" in str(report.error) and "testbench import" in str(report.error)
    assert "secret" not in str(report.error) and "secret" not in report.store
    assert not (tmp_path / "reports" / "results.db").exists()


def test_store_locations(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/via-url.db") as store:
        assert store.dialect == "sqlite"
    assert (tmp_path / "via-url.db").is_file()
    with pytest.raises(StoreError, match="unsupported scheme 'mysql'"):
        open_store("mysql://u:pw@host/db")
    bad = tmp_path / "not-a-db.db"
    bad.write_text("this is not SQLite\n" * 100)
    with pytest.raises(StoreError, match="cannot open the SQLite results store"):
        open_store(bad)


def test_a_store_of_another_schema_version_is_refused(store_location: str) -> None:
    with open_store(store_location) as store:
        store.db.execute("UPDATE testbench_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99, this testbench uses 1"):
        open_store(store_location)


def test_journals_under(tmp_path: Path) -> None:
    journals = write_campaign(tmp_path / "reports")
    assert journals_under(tmp_path / "reports") == journals
    assert journals_under(journals[1].parent) == [journals[1]]
    assert journals_under(journals[2]) == [journals[2]]
    with pytest.raises(FileNotFoundError, match="no such journal"):
        journals_under(tmp_path / "missing")


def test_matrix_json_of_store_results_has_latest_per_test(
    store: ResultStore, campaign: list[Path]
) -> None:
    _import_all(store, campaign)
    kept = latest_records(store.results())
    assert len(kept) == 36
    data = json.loads(json.dumps(build_matrix(kept).to_json()))
    assert data["totals"]["failed"] == 3 and data["totals"]["error"] == 0
