"""``[lab] rerun_bench_errors``: a test whose only problem was the bench's runs again and
keeps the last attempt's verdict (naming the earlier bench error); device failures are
never re-run; a bench error that persists stays an error."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import run_testbench
from labgen import ChargerEntry, write_lab

SUITE = '''
from pathlib import Path

from testbench.analysis.series import NoDataError
from testbench.errors import DeviceFailure

COUNTS = Path({counts!r})


def _attempt(name: str) -> int:
    path = COUNTS / name
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    return n


def test_gap_once(pairing):
    if _attempt("gap_once") == 1:
        raise NoDataError("a 0.6 s gap in the recording")


def test_device_fails(pairing):
    _attempt("device_fails")
    raise DeviceFailure("the charger answered Rejected")


def test_gap_always(pairing):
    _attempt("gap_always")
    raise NoDataError("the analyser never answered")


def test_bug(pairing):
    _attempt("bug")
    raise ZeroDivisionError("not a bench error")
'''


def _run(tmp_path: Path, reruns: int | None) -> tuple[dict[str, dict], dict[str, int]]:
    counts = tmp_path / "counts"
    counts.mkdir()
    lab = write_lab(tmp_path / "lab.toml", [ChargerEntry("cp-1", "2.0.1")], ["ev-city"])
    if reruns is not None:
        text = lab.read_text(encoding="utf-8")
        lab.write_text(text.replace("[lab]\n", f"[lab]\nrerun_bench_errors = {reruns}\n", 1),
                       encoding="utf-8")
    suite = tmp_path / "test_flaky_bench.py"
    suite.write_text(SUITE.format(counts=str(counts)), encoding="utf-8")
    result = run_testbench("run", "--lab", str(lab), "--unattended", str(suite), timeout_s=300)
    records = {r["name"]: r for r in result.records()}
    assert set(records) == {"test_gap_once", "test_device_fails", "test_gap_always", "test_bug"}, \
        result.output[-3000:]
    attempts = {p.name: int(p.read_text()) for p in counts.iterdir()}
    return records, attempts


def test_bench_errors_run_again_and_device_failures_do_not(tmp_path: Path) -> None:
    records, attempts = _run(tmp_path, reruns=1)
    assert attempts == {"gap_once": 2, "device_fails": 1, "gap_always": 2, "bug": 1}
    assert records["test_gap_once"]["verdict"] == "passed"
    assert re.search(r"run 2 times; earlier bench error\(s\): NoDataError: a 0\.6 s gap",
                     records["test_gap_once"]["message"])
    assert records["test_device_fails"]["verdict"] == "failed"
    assert "run 2 times" not in records["test_device_fails"]["message"]
    assert records["test_gap_always"]["verdict"] == "error"
    assert "the analyser never answered" in records["test_gap_always"]["message"]
    assert "run 2 times" in records["test_gap_always"]["message"]
    assert records["test_bug"]["verdict"] == "error"


def test_without_the_setting_nothing_runs_again(tmp_path: Path) -> None:
    records, attempts = _run(tmp_path, reruns=None)
    assert attempts == {"gap_once": 1, "device_fails": 1, "gap_always": 1, "bug": 1}
    assert records["test_gap_once"]["verdict"] == "error"
