"""Smoke run of the time-compression benchmark: it produces figures and compares verdicts
(never judges timings here)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # benchmarks/ is not an installed package
    return importlib.import_module("benchmarks.bench_gridcode_time")


def test_summary_compares_each_scale_with_the_scale_1_run(bench: ModuleType) -> None:
    runs = [{"scale": 1.0, "wall_s": 100.0, "tests_wall_s": 90.0, "lab_s_spent": 100.0,
             "verdicts": {"a": "passed", "b": "failed"}},
            {"scale": 20.0, "wall_s": 5.0, "tests_wall_s": 4.5, "lab_s_spent": 100.0,
             "verdicts": {"a": "passed", "b": "passed"}}]
    summary = bench.summarise(runs)
    row = summary["scales"]["20"]
    assert row["ratio"] == 20.0 and row["tests_ratio"] == 20.0
    assert row["verdicts_identical"] is False
    assert row["verdict_differences"] == {"b": {"scale_1": "failed", "scale_20": "passed"}}
    assert not bench.targets_met(summary)
    runs[1]["verdicts"]["b"] = "failed"
    assert bench.targets_met(bench.summarise(runs))
    runs[1]["wall_s"] = 100.0 / 19.0  # identical verdicts but only 19x: not met
    assert bench.summarise(runs)["scales"]["20"]["reruns"] == 0
    assert not bench.targets_met(bench.summarise(runs))


@pytest.mark.slow
def test_benchmark_produces_figures(bench: ModuleType, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = bench.main(["--scales", "1,20", "-k", "test_lfsm_o and discharging-100pct",
                       "--keep", str(tmp_path)])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    figures = Path(out.split("figures: ", 1)[1].split()[0])
    result = json.loads(figures.read_text("utf-8"))
    figures.unlink()
    row = result["summary"]["scales"]["20"]
    assert row["verdicts_identical"], result["summary"]
    assert row["ratio"] > 0 and row["wall_s"] > 0
    assert [r["counts"] for r in result["runs"]] == [{"passed": 1}, {"passed": 1}]
