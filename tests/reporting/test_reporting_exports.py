"""Markdown, CSV, diff and drill-down renderings; evidence links."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rich.console import Console
from store_scenario import RUNS, records_for

from testbench.reporting.cell_report import render_cell_detail, render_cell_markdown
from testbench.reporting.diff_report import (
    render_diff,
    render_diff_csv,
    render_diff_html,
    render_diff_markdown,
)
from testbench.reporting.exports import render_matrix_csv, render_matrix_markdown
from testbench.reporting.links import evidence_href
from testbench.reporting.matrix_html import render_matrix_html
from testbench.results.diff import compare
from testbench.results.drilldown import cell_detail
from testbench.results.journal import ResultRecord
from testbench.results.matrix import build_matrix, latest_records

EVIL = "<script>alert('x')</script> | & \"quoted\""


def _text(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=220, color_system=None).print(renderable)
    return out.getvalue()


def _campaign() -> list[ResultRecord]:
    return [r for i, plan in enumerate(RUNS) for r in records_for(i, plan)]


def _firmware_diff():
    records = _campaign()
    pick = lambda fw: [r for r in records if r.charger == "cp-1" and r.charger_firmware == fw]
    return compare(
        pick("1.0"),
        pick("1.1"),
        kind="firmware",
        before_label="1.0",
        after_label="1.1",
        charger="cp-1",
    )


def test_matrix_markdown_escapes_and_lists_failures() -> None:
    records = _campaign()
    records.append(
        ResultRecord(
            test_id="t|x",
            name="test_pipe",
            verdict="failed",
            ev="ev-a",
            charger="cp-2",
            message=EVIL,
            wall_s=2e9,
            testcase_id="TC|1",
        )
    )
    matrix = build_matrix(records)
    text = render_matrix_markdown(matrix, title="Lab | A")
    assert text.startswith("# Lab \\| A\n")
    assert "| EV \\ charger | cp-1<br>fw 1.1<br>OCPP 2.0.1 | cp-2<br>fw 2.3<br>OCPP 1.6 |" in text
    assert "| ev-a<br>sw R1.4 | ✘ 1/6 | ✘ 1/7 |" in text
    assert "&lt;script>alert('x')&lt;/script> \\| &" in text and "<script>" not in text
    assert "**ERROR (bench)**" not in text  # no bench error is retained in the merged matrix
    assert text.count("**FAILED**") == 4


def test_matrix_csv_is_one_row_per_retained_test() -> None:
    kept = latest_records(_campaign())
    matrix = build_matrix(kept)
    rows = list(csv.DictReader(io.StringIO(render_matrix_csv(matrix, kept))))
    assert len(rows) == 36
    assert {r["test"] for r in rows if r["name"] == "test_boot"} == {
        "suites/ocpp/provisioning/test_provisioning.py::test_boot"
    }
    failing = [r for r in rows if r["verdict"] == "failed"]
    assert {(r["ev"], r["charger"], r["cell_worst"]) for r in failing} == {
        ("ev-a", "cp-1", "failed"),
        ("ev-c", "cp-1", "failed"),
        ("ev-c", "cp-2", "failed"),
    }
    assert all(r["time_utc"].endswith("Z") for r in rows)


def test_diff_renderings_agree() -> None:
    diff = _firmware_diff()
    console = _text(render_diff(diff))
    assert "Firmware diff of cp-1: 1.0 -> 1.1" in console
    assert "regression: 2, fix: 1, changed: 0, new: 1, dropped: 0, unchanged: 14" in console
    assert "Unchanged" not in console  # counted, not listed, unless asked
    assert "Unchanged" in _text(render_diff(diff, show_unchanged=True))
    markdown = render_diff_markdown(diff)
    assert markdown.count("| ev-") == 4  # 2 regressions, 1 fix, 1 new
    rows = list(csv.DictReader(io.StringIO(render_diff_csv(diff))))
    assert len(rows) == 18 and sorted({r["change"] for r in rows}) == [
        "fix",
        "new",
        "regression",
        "unchanged",
    ]
    html = render_diff_html(diff)
    assert html.count("<tr data-ev=") == 4 and "<script" not in html


def test_a_regression_to_error_is_marked_as_a_bench_error() -> None:
    before = [ResultRecord(test_id="t", name="t", verdict="passed", ev="e", charger="c")]
    after = [
        ResultRecord(
            test_id="t",
            name="t",
            verdict="error",
            ev="e",
            charger="c",
            message="InstrumentError: no reply",
        )
    ]
    diff = compare(before, after, kind="runs", before_label="a", after_label="b")
    assert len(diff.regressions) == 1
    assert "bench error: device not judged, re-run" in _text(render_diff(diff))
    assert "bench error: device not judged" in render_diff_markdown(diff)


def test_cell_detail_shows_history_reasons_and_evidence(tmp_path: Path) -> None:
    evidence = tmp_path / "runs" / "r4" / "trace.jsonl"
    evidence.parent.mkdir(parents=True)
    evidence.write_text("{}\n")
    records = _campaign()
    records = [
        r
        if r.verdict.value != "failed"
        else ResultRecord(**{**r.__dict__, "evidence": [str(evidence)]})
        for r in records
    ]
    detail = cell_detail(records, "ev-a", "cp-1")
    assert [t.record.verdict.value for t in detail.tests][:2] == ["failed", "passed"]
    first = detail.tests[0]
    assert first.record.name == "test_tx_profile"
    assert [h.verdict.value for h in first.history] == ["passed"]
    text = _text(render_cell_detail(detail))
    assert "15.9 A above the 10 A" in text and str(evidence) in text and "✔→✘" in text
    assert "(not on this machine)" not in text
    markdown = render_cell_markdown(detail)
    assert "| failed | TC_K_60_CS | test_tx_profile | 1.1 |" in markdown
    assert f"evidence: `{evidence}`" in markdown

    by_fw = cell_detail(records, "ev-a", "cp-1", by_firmware=True)
    assert len(by_fw.tests) == 12  # six tests on each firmware
    assert "No results" in _text(render_cell_detail(cell_detail(records, "ev-z", "cp-1")))


def test_evidence_links(tmp_path: Path) -> None:
    html_dir = tmp_path / "reports"
    assert (
        evidence_href(str(tmp_path / "reports/runs/r1/a b.json"), html_dir) == "runs/r1/a%20b.json"
    )
    assert evidence_href(str(tmp_path / "elsewhere/x.json"), html_dir) == "../elsewhere/x.json"
    assert evidence_href("/x.json", Path("/work/reports")) == "file:///x.json"
    assert evidence_href("traces/t.json", html_dir) == "traces/t.json"


def test_html_matrix_by_firmware_shows_device_and_firmware() -> None:
    common = {"test_id": "t", "name": "t", "ev": "ev-a", "charger": "cp-1"}
    matrix = build_matrix(
        [
            ResultRecord(**common, verdict="passed", charger_firmware="1.0", wall_s=1.0),
            ResultRecord(**common, verdict="failed", charger_firmware="1.1", wall_s=2.0),
        ],
        by_firmware=True,
    )
    matrix.meta = {"by_firmware": True, "filters": {"evs": ["ev-a"]}}
    html = render_matrix_html(matrix)
    assert html.count('<th scope="col" data-charger="cp-1 (1.') == 2
    assert "one column per charger firmware" in html and "evs: ev-a" in html
