"""The EV x charger matrix: latest verdict wins, counts, worst verdict, JSON schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from testbench.results.journal import Journal, ResultRecord, run_dir_for
from testbench.results.matrix import (
    MATRIX_SCHEMA,
    NO_DEVICE,
    Matrix,
    build_matrix,
    matrix_from_journals,
    write_matrix_json,
)
from testbench.results.verdict import Verdict

MakeRecord = Callable[..., ResultRecord]


def test_latest_verdict_wins_per_ev_charger_test(make_record: MakeRecord) -> None:
    records = [
        make_record(test_id="t1", verdict="passed", wall_s=300.0),
        make_record(test_id="t1", verdict="failed", message="old failure", wall_s=100.0),
        make_record(test_id="t2", verdict="passed", wall_s=100.0),
        make_record(test_id="t2", verdict="failed", message="new failure", wall_s=200.0),
        # the same test on another charger is a different cell
        make_record(test_id="t1", charger="cp-2", verdict="error", wall_s=50.0),
    ]
    matrix = build_matrix(records)
    cell = matrix.cell("ev-a", "cp-1")
    assert cell.total == 2
    assert cell.count(Verdict.PASSED) == 1 and cell.count(Verdict.FAILED) == 1
    assert [(f.test_id, f.message) for f in cell.failures] == [("t2", "new failure")]
    assert matrix.cell("ev-a", "cp-2").worst is Verdict.ERROR


def test_not_run_never_replaces_a_real_verdict(make_record: MakeRecord) -> None:
    matrix = build_matrix(
        [
            make_record(test_id="t1", verdict="failed", wall_s=1.0),
            make_record(test_id="t1", verdict="not_run", wall_s=2.0),
            make_record(test_id="t2", verdict="not_run", wall_s=1.0),
        ]
    )
    cell = matrix.cell("ev-a", "cp-1")
    assert cell.count(Verdict.FAILED) == 1 and cell.count(Verdict.NOT_RUN) == 1


def test_counts_and_worst_verdict_per_cell(make_record: MakeRecord) -> None:
    plan = {
        ("ev-a", "cp-1"): ["passed", "passed", "skipped"],
        ("ev-a", "cp-2"): ["passed", "error", "skipped"],
        ("ev-b", "cp-1"): ["passed", "error", "failed", "failed"],
        ("ev-b", "cp-2"): ["skipped", "skipped"],
    }
    records = [
        make_record(test_id=f"t{i}", ev=ev, charger=ch, verdict=v, message=f"{v} {i}")
        for (ev, ch), verdicts in plan.items()
        for i, v in enumerate(verdicts)
    ]
    matrix = build_matrix(records)
    assert [r.id for r in matrix.evs] == ["ev-a", "ev-b"]
    assert [c.id for c in matrix.chargers] == ["cp-1", "cp-2"]
    worst = {key: matrix.cell(*key).worst for key in plan}
    assert worst == {
        ("ev-a", "cp-1"): Verdict.PASSED,
        ("ev-a", "cp-2"): Verdict.ERROR,
        ("ev-b", "cp-1"): Verdict.FAILED,
        ("ev-b", "cp-2"): Verdict.SKIPPED,
    }
    failing = matrix.cell("ev-b", "cp-1")
    assert failing.count(Verdict.FAILED) == 2 and failing.count(Verdict.ERROR) == 1
    assert [f.verdict for f in failing.failures] == [Verdict.FAILED, Verdict.FAILED, Verdict.ERROR]
    assert matrix.totals[Verdict.SKIPPED] == 4
    assert matrix.worst is Verdict.FAILED
    assert [(c.ev, c.charger) for c in matrix.problem_cells()] == [
        ("ev-a", "cp-2"),
        ("ev-b", "cp-1"),
    ]


def test_inventory_order_and_empty_cells(make_record: MakeRecord) -> None:
    matrix = build_matrix(
        [make_record(ev="ev-z", charger="cp-9"), make_record(ev=None, charger="cp-1")],
        evs=["ev-b", "ev-a"],
        chargers=["cp-1"],
    )
    assert [r.id for r in matrix.evs] == ["ev-b", "ev-a", NO_DEVICE, "ev-z"]
    assert [c.id for c in matrix.chargers] == ["cp-1", "cp-9"]
    assert matrix.cell("ev-b", "cp-1").total == 0
    assert matrix.cell("ev-b", "cp-1").worst is Verdict.NOT_RUN
    assert matrix.cell(NO_DEVICE, "cp-1").total == 1


def test_headers_show_latest_versions_and_flag_mixed_firmware(make_record: MakeRecord) -> None:
    matrix = build_matrix(
        [
            make_record(test_id="t1", charger_firmware="1.0", ev_software="a", wall_s=1.0),
            make_record(test_id="t2", charger_firmware="1.1", ev_software="a", wall_s=2.0),
        ]
    )
    (charger,) = matrix.chargers
    assert charger.firmware == "1.1"
    assert charger.firmware_seen == ["1.0", "1.1"]
    assert charger.ocpp_version == "2.0.1"
    assert matrix.evs[0].software == "a" and matrix.evs[0].software_seen == ["a"]


def test_json_schema_round_trip(tmp_path: Path, make_record: MakeRecord) -> None:
    records = [
        make_record(test_id="t1", verdict="failed", message="limit 10 A exceeded: 16.2 A"),
        make_record(test_id="t2", verdict="error", evidence=["evidence/t2.log"]),
        make_record(test_id="t3", ev="ev-b", verdict="skipped"),
    ]
    matrix = build_matrix(records)
    path = write_matrix_json(matrix, tmp_path / "reports" / "matrix.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema"] == MATRIX_SCHEMA
    assert data["verdict_order"] == ["failed", "error", "passed", "skipped", "not_run"]
    cell = next(c for c in data["cells"] if (c["ev"], c["charger"]) == ("ev-a", "cp-1"))
    assert cell["worst"] == "failed"
    assert cell["counts"] == {"failed": 1, "error": 1, "passed": 0, "skipped": 0, "not_run": 0}
    assert cell["failures"][0]["message"] == "limit 10 A exceeded: 16.2 A"
    assert cell["failures"][1]["evidence"] == ["evidence/t2.log"]
    assert data["chargers"][0]["firmware"] == "1.0.0"

    again = Matrix.from_json(data)
    assert again == matrix
    assert again.to_json() == data


def test_from_json_rejects_other_schema() -> None:
    try:
        Matrix.from_json({"schema": "something/9"})
    except ValueError as exc:
        assert "matrix_from_journals" in str(exc)
    else:
        raise AssertionError("a foreign schema must be refused")


def test_matrix_from_journals_merges_runs_and_keeps_crashed_ones(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    first = Journal.open(run_dir_for(tmp_path, "20250101-000000-0001"), {"lab": "lab"})
    first.record(make_record(test_id="t1", verdict="failed", message="old", wall_s=10.0))
    first.record(make_record(test_id="t2", verdict="passed", wall_s=11.0))
    first.close()
    second = Journal.open(run_dir_for(tmp_path, "20250102-000000-0002"), {"lab": "lab"})
    second.record(make_record(test_id="t1", verdict="passed", wall_s=20.0))
    second.record(make_record(test_id="t3", verdict="error", message="pa timeout", wall_s=21.0))
    # second run crashes: no end line, and a half-written line
    with second.path.open("ab") as fh:
        fh.write(b'{"type":"result","test_id":"t4"')

    matrix = matrix_from_journals([first.path, second.path])
    cell = matrix.cell("ev-a", "cp-1")
    assert cell.count(Verdict.PASSED) == 2 and cell.count(Verdict.ERROR) == 1
    assert cell.count(Verdict.FAILED) == 0
    assert [f.run_id for f in cell.failures] == ["20250102-000000-0002"]
    assert [(r["run_id"], r["complete"]) for r in matrix.runs] == [
        ("20250101-000000-0001", True),
        ("20250102-000000-0002", False),
    ]
    assert len(matrix.problems) == 1 and "truncated" in matrix.problems[0]


def test_missing_journal_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    matrix = matrix_from_journals([tmp_path / "nope" / "journal.jsonl"])
    assert matrix.evs == [] and len(matrix.problems) == 1
    assert "cannot read journal" in matrix.problems[0]
