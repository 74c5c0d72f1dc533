"""`testbench import / matrix / runs / report` on a synthetic campaign."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from store_scenario import RUNS, write_campaign, write_run

from testbench.cli_matrix import register
from testbench.results.store import STORE_ENV, open_store


def run_cli(*argv: str) -> tuple[int, str]:
    """Run one command through a parser built like `testbench`'s; (exit status, output)."""
    parser = argparse.ArgumentParser(prog="testbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False, color_system=None)
    return int(args.func(args, console)), out.getvalue()


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORE_ENV, raising=False)


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    write_campaign(tmp_path / "reports")
    return tmp_path / "reports"


@pytest.fixture
def lab_file(tmp_path: Path, reports: Path) -> Path:
    """A lab.toml whose output_dir is the campaign's reports folder."""
    lab = tmp_path / "lab.toml"
    lab.write_text(
        (Path(__file__).resolve().parents[2] / "lab.toml")
        .read_text(encoding="utf-8")
        .replace('output_dir = "reports"', f'output_dir = "{reports}"'),
        encoding="utf-8",
    )
    return lab


def test_import_then_matrix_through_the_lab_file(lab_file: Path, reports: Path) -> None:
    code, out = run_cli("import", "--lab", str(lab_file))
    assert code == 0, out
    assert "4 journal(s)" in out and "54 new, 0 changed, 0 unchanged" in out
    code, out = run_cli("import", "--lab", str(lab_file))
    assert code == 0 and "0 new, 0 changed, 54 unchanged" in out
    assert (reports / "results.db").is_file()

    code, out = run_cli("matrix", "--lab", str(lab_file))
    assert code == 0, out
    assert "ev-a × cp-1" in out and "TC_K_60_CS test_tx_profile" in out
    assert "36 test verdict(s) from 3 run(s)" in out
    assert "not in the store" not in out


def test_matrix_hints_at_journals_not_imported(lab_file: Path, reports: Path) -> None:
    run_cli("import", str(reports / "runs" / RUNS[0].run_id), "--lab", str(lab_file))
    code, out = run_cli("matrix", "--lab", str(lab_file))
    assert code == 0 and "3 run journal(s) under" in out and "testbench import" in out


def test_matrix_exports_and_filters(reports: Path, tmp_path: Path) -> None:
    store = str(reports / "results.db")
    assert run_cli("import", str(reports), "--store", store)[0] == 0
    out_dir = tmp_path / "out"
    code, out = run_cli(
        "matrix",
        "--store",
        store,
        "--suite",
        "ocpp",
        "--charger",
        "cp-1",
        "--html",
        str(out_dir / "m.html"),
        "--json",
        str(out_dir / "m.json"),
        "--csv",
        str(out_dir / "m.csv"),
        "--markdown",
        str(out_dir / "m.md"),
        "-q",
    )
    assert code == 0, out
    data = json.loads((out_dir / "m.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in data["chargers"]] == ["cp-1"]
    assert data["meta"]["filters"] == {"suites": ["ocpp"], "chargers": ["cp-1"]}
    assert data["totals"]["failed"] == 2 and data["totals"]["skipped"] == 0
    failure = next(c for c in data["cells"] if c["ev"] == "ev-a")["failures"][0]
    evidence = Path(failure["evidence"][0])
    assert evidence.is_absolute() and evidence.is_file()  # resolved against the run folder

    rows = list(csv.DictReader(io.StringIO((out_dir / "m.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 3 * 5
    failed = [(r["ev"], r["name"], r["charger_firmware"]) for r in rows if r["verdict"] == "failed"]
    assert sorted(failed) == [("ev-a", "test_tx_profile", "1.1"), ("ev-c", "test_heartbeat", "1.1")]
    assert {r["cell_worst"] for r in rows if r["ev"] == "ev-b"} == {"passed"}

    markdown = (out_dir / "m.md").read_text(encoding="utf-8")
    assert "| ev-a<br>sw R1.4 | ✘ 1/5 |" in markdown
    assert "**FAILED** `TC_B_04_CS` test_heartbeat — Heartbeat every 120 s" in markdown
    html = (out_dir / "m.html").read_text(encoding="utf-8")
    assert 'data-worst="failed"' in html and "suites: ocpp" in html

    code, out = run_cli(
        "matrix", "--store", store, "--by-firmware", "--json", str(out_dir / "f.json")
    )
    columns = [c["id"] for c in json.loads((out_dir / "f.json").read_text())["chargers"]]
    assert code == 0 and columns == ["cp-1 (1.0)", "cp-1 (1.1)", "cp-2 (2.3)"]

    code, out = run_cli("matrix", "--store", store, "--firmware", "9.9")
    assert code == 0 and "no results in" in out


def test_cell_drill_down(reports: Path, tmp_path: Path) -> None:
    store = str(reports / "results.db")
    run_cli("import", str(reports), "--store", store)
    code, out = run_cli(
        "matrix", "--store", store, "--cell", "ev-c", "cp-1", "--json", str(tmp_path / "cell.json")
    )
    assert code == 0, out
    assert "ev-c × cp-1" in out and "Heartbeat every 120 s, expected 60 s" in out
    assert "evidence:" in out and "test_heartbeat.jsonl" in out
    assert "✔→✘" in out  # history: passed with fw 1.0, failed with 1.1
    detail = json.loads((tmp_path / "cell.json").read_text(encoding="utf-8"))
    first = detail["tests"][0]
    assert (first["name"], first["verdict"], first["charger_firmware"]) == (
        "test_heartbeat",
        "failed",
        "1.1",
    )
    assert [h["verdict"] for h in first["history"]] == ["passed"]

    code, out = run_cli("matrix", "--store", store, "--cell", "ev-z", "cp-1")
    assert code == 2 and "no results for ev-z x cp-1" in out and "ev-a, ev-b, ev-c" in out


def test_diffs_exit_non_zero_on_regressions(reports: Path, tmp_path: Path) -> None:
    store = str(reports / "results.db")
    run_cli("import", str(reports), "--store", store)
    code, out = run_cli(
        "matrix",
        "--store",
        store,
        "--diff-firmware",
        "cp-1",
        "1.0",
        "1.1",
        "--json",
        str(tmp_path / "d.json"),
        "--markdown",
        str(tmp_path / "d.md"),
        "--csv",
        str(tmp_path / "d.csv"),
        "--html",
        str(tmp_path / "d.html"),
    )
    assert code == 1, out
    assert "regression: 2" in out and "fix: 1" in out
    data = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    assert sorted((e["ev"], e["name"]) for e in data["entries"] if e["change"] == "regression") == [
        ("ev-a", "test_tx_profile"),
        ("ev-c", "test_heartbeat"),
    ]
    assert "## Regressions" in (tmp_path / "d.md").read_text(encoding="utf-8")
    assert (tmp_path / "d.csv").read_text(encoding="utf-8").count("\nregression,") == 2
    assert 'data-change="regression"' in (tmp_path / "d.html").read_text(encoding="utf-8")

    # cp-2 never changed firmware; runs 2 -> 3 share no pairing: no regressions, exit 0
    code, out = run_cli("matrix", "--store", store, "--diff", RUNS[1].run_id[:12], "latest~1")
    assert code == 0 and "No regressions" in out
    code, out = run_cli("matrix", "--store", store, "--diff", "latest~3", "latest", "--ev", "ev-b")
    assert code == 0 and "fix: 1" in out

    code, out = run_cli("matrix", "--store", store, "--diff-firmware", "cp-1", "1.0", "7.7")
    assert code == 2 and "no results with firmware '7.7'" in out and "1.0, 1.1" in out
    code, out = run_cli("matrix", "--store", store, "--diff", "nope", "latest")
    assert code == 2 and "no run 'nope'" in out


def test_runs_listing(reports: Path, tmp_path: Path) -> None:
    store = str(reports / "results.db")
    run_cli("import", str(reports), "--store", store)
    code, out = run_cli("runs", "--store", store, "--json", str(tmp_path / "runs.json"))
    assert code == 0
    for plan in RUNS:
        assert plan.run_id in out
    listed = json.loads((tmp_path / "runs.json").read_text(encoding="utf-8"))
    assert [r["host"] for r in listed] == ["runner-1", "runner-2", "runner-1", "runner-2"]


def test_import_reports_damaged_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    journal = write_run(tmp_path / "reports", 1, close=False)
    with open(journal, "ab") as handle:
        handle.write(b'{"type":"result","test_id":"cut-off","name":"x","ver')
    store = str(tmp_path / "r.db")
    code, out = run_cli("import", str(journal), "--store", store)
    assert code == 0
    assert "run incomplete" in out and "1 journal line(s) skipped" in out
    assert "skipped:" in out and "truncated last line" in out
    with open_store(store) as opened:
        assert len(opened.results()) == 12


def test_usage_errors(tmp_path: Path) -> None:
    code, out = run_cli("matrix", "--lab", str(tmp_path / "missing.toml"))
    assert code == 2 and "no lab file" in out
    code, out = run_cli("import", str(tmp_path / "nothing-here"), "--store", str(tmp_path / "s.db"))
    assert code == 2 and "no such journal file or folder" in out
    code, out = run_cli("matrix", "--store", "mysql://x/y")
    assert code == 2 and "unsupported scheme" in out
    code, out = run_cli("matrix", "--store", str(tmp_path / "s.db"), "--since", "soon")
    assert code == 2 and "cannot read the date 'soon'" in out


def test_store_from_the_environment(
    reports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "shared.db"))
    code, out = run_cli("import", str(reports))
    assert code == 0 and str(tmp_path / "shared.db") in out


def test_commands_on_postgresql(reports: Path, pg_url: str, tmp_path: Path) -> None:
    assert run_cli("import", str(reports), "--store", pg_url)[0] == 0
    code, out = run_cli("matrix", "--store", pg_url, "--json", str(tmp_path / "m.json"))
    assert code == 0 and "testbench:***@" in out  # the password is never printed
    assert json.loads((tmp_path / "m.json").read_text())["totals"]["failed"] == 3
    code, out = run_cli("matrix", "--store", pg_url, "--diff-firmware", "cp-1", "1.0", "1.1")
    assert code == 1 and "regression: 2" in out


def test_report_without_allure_says_how_to_install(
    lab_file: Path, reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    results = reports / "allure-results"
    results.mkdir()
    (results / "0-result.json").write_text('{"name": "t", "status": "passed"}')
    run_cli("import", "--lab", str(lab_file))
    code, out = run_cli("report", "--lab", str(lab_file))
    assert code == 0, out
    assert "npm install -g allure-commandline" in out and "npm install -g allure" in out
    assert (reports / "interop-matrix.html").is_file()
    assert json.loads((results / "categories.json").read_text())[0]["name"] == "Timeout"
    env = (results / "environment.properties").read_text()
    assert "Stations=st-2" in env and "Charger\\ cp-1=Voltiq W22, fw 1.1, OCPP 2.0.1" in env
