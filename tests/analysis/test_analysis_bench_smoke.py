"""Smoke test of the acquisition benchmark: a ~1 s run produces numbers (no timing asserts)."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # benchmarks/ is not an installed package
    return importlib.import_module("benchmarks.acquisition.bench_acquisition")


def test_a_short_benchmark_run_produces_figures(bench: ModuleType, tmp_path: Path) -> None:
    results = bench.run_benchmark(rounds=2, round_seconds=0.15, jitter_seconds=0.5,
                                  log=lambda *_: None)
    throughput = results["throughput"]
    for key in ("bare_median_per_s", "bare_parse_median_per_s",
                "bare_ascii_values_median_per_s", "bench_median_per_s", "ratio",
                "ratio_to_bare_parse", "ratio_to_bare_ascii_values"):
        assert math.isfinite(throughput[key]) and throughput[key] > 0, key
    for mode in ("record", "background"):
        jitter = results["jitter_20hz"][mode]
        assert jitter["samples"] + jitter["missed"] == 10  # 0.5 lab s at 20 Hz
        assert math.isfinite(jitter["p99_ms"])
    assert results["twin"].startswith("BENCHCO PA-TWIN-3")
    assert all(v > 0 for v in results["cpu_per_sample"].values())

    path = bench.write_results(results, tmp_path)
    assert path.name.startswith("acquisition-") and json.loads(path.read_text()) == results
    text = bench.table(results, bench.load_baseline())
    assert "ratio bench/bare" in text and "jitter p99 record()" in text


def test_the_twin_driver_reports_garbage_as_an_instrument_error(bench: ModuleType) -> None:
    from testbench.errors import InstrumentError

    driver = bench.TwinPowerAnalyzer.__new__(bench.TwinPowerAnalyzer)
    driver.name = "canned"
    driver.transport = bench._CannedTransport("1.0,2.0,oops")
    with pytest.raises(InstrumentError, match="expected comma-separated numbers"):
        driver.read()
    driver.transport = bench._CannedTransport("1.0,2.0")
    with pytest.raises(InstrumentError, match="expected 24 values, got 2"):
        driver.read()
