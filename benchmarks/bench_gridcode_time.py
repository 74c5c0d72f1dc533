"""Benchmark: time compression of the grid-code suites on the simulated lab.

The same ``testbench run`` of the grid-code suites (``--suites``, default the LFSM and
protection suites; a subprocess, as a user runs it) on one station
of a generated simulated lab - a bidirectional OCPP 2.1 charger (``--chargers``: the
conformant one and optionally fault personalities), a bidirectional EV, a chroma-61800 grid
emulator and a yokogawa-wt analyser on the charger's grid side - at each time scale of
``--scales`` (default 1, 10, 20), in one benchmark run.

Figures per scale:

* ``wall_s``: wall seconds of the whole run (process start to exit: start-up, simulated
  lab, every test, teardown); ``tests_wall_s``: the sum of the tests' own durations;
* ``lab_s_spent``: lab seconds that went by (``scale x wall_s``);
* ``ratio``: lab seconds the suite needs / wall seconds, where the lab seconds needed are
  the wall seconds of the scale-1 run of the same benchmark (at scale 1 lab time is wall
  time): the end-to-end time compression (target >= 20 at one of the scales);
  ``tests_ratio`` the same over the tests' durations only;
* verdicts per test, which must be identical at every scale (target);
* ``reruns``: tests run again after a bench error (``rerun_bench_errors = 1`` in the lab,
  as in the default lab.toml); their time counts in ``wall_s``.

Run: ``python -m benchmarks.bench_gridcode_time`` (about 20 minutes with the defaults:
the scale-1 run is real time); ``--help`` for options. Results go to
``benchmarks/results/gridcode_time-<date>.json``; ``--write-baseline`` records them in
``benchmarks/baselines/gridcode_time.json``. Exit 0 when the targets are met, 1 when not,
2 when a run could not be made.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from testbench.lab.ports import unused_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS_DIR = HERE / "results"
BASELINE = HERE / "baselines" / "gridcode_time.json"
DEFAULT_SUITES = "suites/gridcode/test_lfsm.py,suites/gridcode/test_protection.py"
"""The frequency-response and protection suites (LFSM-O/U, trips, windows, reconnection)."""
TARGET_RATIO = 20.0
"""End-to-end time compression the grid-code suites must reach at one of the scales."""

CHARGER = {"vendor": "Gridline", "model": "BX7 V2G", "firmware": "0.9.3",
           "ocpp_version": "2.1", "max_current_a": 32.0, "max_power_w": 22000.0,
           "bidirectional": True, "iso15118": ["-2", "-20"]}
EV = {"make": "Arden", "model": "Volta V2G", "software": "3.1", "phases": 3,
      "min_current_a": 6.0, "max_current_a": 32.0, "battery_kwh": 80.0,
      "initial_soc_pct": 60.0, "iso15118": ["-20"], "bidirectional": True}


def _free_port() -> int:
    """A loopback port free now and not yet given to another instrument of this process."""
    return unused_port()


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


def write_lab(folder: Path, scale: float, chargers: dict[str, list[str]],
              grid_code: str) -> Path:
    """A simulated lab: one station, the chargers (id -> faults), one V2G EV, a grid
    emulator and a grid-side analyser per charger, free ports."""
    lines = ["[lab]", 'name = "gridcode-time-bench"', 'mode = "sim"',
             f"time_scale = {scale}", "rerun_bench_errors = 1", f"output_dir = {_toml(str(folder / 'reports'))}", "",
             "[csms]", 'host = "127.0.0.1"', "port = 0", ""]
    for cid, faults in chargers.items():
        lines += ["[[chargers]]", f"id = {_toml(cid)}"]
        lines += [f"{k} = {_toml(v)}" for k, v in CHARGER.items()]
        lines += [f"faults = {_toml(faults)}", ""]
    lines += ["[[evs]]", 'id = "ev-v2g"'] + [f"{k} = {_toml(v)}" for k, v in EV.items()]
    lines += ["faults = []", "", "[[stations]]", 'id = "bay"',
              f"chargers = {_toml(list(chargers))}", 'evs = ["ev-v2g"]',
              f"grid_code = {_toml(grid_code)}", ""]
    for cid in chargers:
        io_port = _free_port()
        tables: list[dict[str, Any]] = [{"name": f"{role}-{cid}", "role": role, "driver": "sim-ev-emulator",
                   "resource": f"TCPIP::127.0.0.1::{io_port}::SOCKET", "charger": cid}
                  for role in ("ev_emulator", "rfid", "charger_power")]
        tables += [{"name": f"grid-{cid}", "role": "grid_emulator", "driver": "chroma-61800",
                    "resource": f"TCPIP::127.0.0.1::{_free_port()}::SOCKET", "charger": cid},
                   {"name": f"analyser-{cid}", "role": "power_analyzer",
                    "driver": "yokogawa-wt",
                    "resource": f"TCPIP::127.0.0.1::{_free_port()}::SOCKET", "charger": cid,
                    "options": {"point": "input"}}]
        for table in tables:
            lines.append("  [[stations.instruments]]")
            lines += [f"  {k} = {_toml(v)}" for k, v in table.items()]
            lines.append("")
    path = folder / "lab.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def run_scale(folder: Path, scale: float, chargers: dict[str, list[str]], grid_code: str,
              suites: list[str], select: str | None, timeout_s: float) -> dict[str, Any]:
    """One ``testbench run`` at ``scale``: wall time, test durations, verdicts."""
    folder.mkdir(parents=True, exist_ok=True)
    lab = write_lab(folder, scale, chargers, grid_code)
    args = [sys.executable, "-m", "testbench.cli", "run", "--lab", str(lab), "--unattended"]
    if select:
        args += ["-k", select]
    args += [str(REPO / s) for s in suites]
    env = {**os.environ, "CI": "1", "COLUMNS": "160"}
    started = time.monotonic()
    proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=timeout_s,
                          env=env,
                          cwd=REPO)
    wall_s = time.monotonic() - started
    journals = sorted((folder / "reports" / "runs").glob("*/journal.jsonl"))
    if not journals:
        raise RuntimeError(f"scale {scale:g}: no journal written (exit {proc.returncode}):\n"
                           f"{(proc.stdout + proc.stderr)[-3000:]}")
    records = [json.loads(line) for line in journals[-1].read_text("utf-8").splitlines()]
    results = [r for r in records if r.get("type", "result") == "result"]
    verdicts = {r["test_id"]: r["verdict"] for r in results}
    tests_wall_s = sum(float(r.get("duration_s") or 0.0) for r in results)
    return {"scale": scale, "exit_code": proc.returncode, "wall_s": wall_s,
            "tests_wall_s": tests_wall_s, "lab_s_spent": wall_s * scale,
            "tests": len(results),
            "counts": {v: list(verdicts.values()).count(v) for v in sorted(set(verdicts.values()))},
            "verdicts": verdicts,
            "durations_s": {r["test_id"]: r.get("duration_s") for r in results},
            "reruns": sorted(r["test_id"] for r in results
                             if "earlier bench error" in (r.get("message") or "")),
            "messages": {r["test_id"]: r.get("message", "")[:300] for r in results
                         if r["verdict"] not in ("passed", "skipped")}}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Ratios against the scale-1 run and verdict equality."""
    base = next((r for r in runs if r["scale"] == 1.0), None)
    summary: dict[str, Any] = {"baseline_scale": 1.0 if base else None, "scales": {}}
    for run in runs:
        row: dict[str, Any] = {"wall_s": round(run["wall_s"], 2),
                               "tests_wall_s": round(run["tests_wall_s"], 2),
                               "lab_s_spent": round(run["lab_s_spent"], 1),
                               "reruns": len(run.get("reruns", []))}
        if base is not None:
            row["ratio"] = round(base["wall_s"] / run["wall_s"], 2)
            row["tests_ratio"] = round(base["tests_wall_s"] / run["tests_wall_s"], 2) \
                if run["tests_wall_s"] else None
            differ = {t: (v, run["verdicts"].get(t)) for t, v in base["verdicts"].items()
                      if run["verdicts"].get(t) != v}
            extra = sorted(set(run["verdicts"]) - set(base["verdicts"]))
            row["verdicts_identical"] = not differ and not extra
            row["verdict_differences"] = {t: {"scale_1": a, f"scale_{run['scale']:g}": b}
                                          for t, (a, b) in differ.items()}
        summary["scales"][f"{run['scale']:g}"] = row
    return summary


def targets_met(summary: dict[str, Any]) -> bool:
    """Identical verdicts at every scale, and a ratio of at least TARGET_RATIO at one."""
    rows = summary["scales"]
    if summary["baseline_scale"] is None:
        return False
    return all(r.get("verdicts_identical") for r in rows.values()) and \
        any(r["ratio"] >= TARGET_RATIO for r in rows.values())


def print_table(summary: dict[str, Any], counts: dict[str, dict[str, int]],
                baseline: dict[str, Any] | None) -> None:
    print(f"{'scale':>6} {'wall s':>9} {'tests s':>9} {'lab s spent':>12} {'ratio':>7} "
          f"{'tests ratio':>12} {'same verdicts':>14} {'reruns':>7} {'baseline ratio':>15}  "
          "verdicts")
    for scale, row in summary["scales"].items():
        old = (baseline or {}).get("summary", {}).get("scales", {}).get(scale, {})
        print(f"{scale:>6} {row['wall_s']:>9.1f} {row['tests_wall_s']:>9.1f} "
              f"{row['lab_s_spent']:>12.1f} {row.get('ratio', float('nan')):>7.2f} "
              f"{row.get('tests_ratio') or float('nan'):>12.2f} "
              f"{row.get('verdicts_identical', '-')!s:>14} {row.get('reruns', 0):>7} "
              f"{old.get('ratio', float('nan')):>15.2f}  {counts[scale]}")
    print(f"target: ratio >= {TARGET_RATIO:g} at one scale, identical verdicts at every scale "
          "(ratio = wall s at scale 1 / wall s at the scale, same run)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1,20,30",
                        help="time scales, comma-separated; 1 is the baseline (default 1,20,30)")
    parser.add_argument("--chargers", default="ok",
                        help="chargers: 'ok' (conformant) and/or fault personality names, "
                             "e.g. ok,too-slow (default ok)")
    parser.add_argument("--grid-code", default="en50549-default",
                        help="the station's parameter set (default en50549-default)")
    parser.add_argument("--suites", default=DEFAULT_SUITES,
                        help=f"suite paths, comma-separated (default {DEFAULT_SUITES}; "
                             "suites/gridcode for every grid-code suite)")
    parser.add_argument("-k", dest="select", default=None, help="pytest -k selection")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="wall seconds per run (default 3600)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the labs and reports in this folder")
    parser.add_argument("--write-baseline", action="store_true")
    args = parser.parse_args(argv)
    scales = sorted({float(s) for s in args.scales.split(",") if s.strip()})
    chargers = {("v2g-ok" if name == "ok" else f"v2g-{name}"): ([] if name == "ok" else [name])
                for name in args.chargers.split(",") if name.strip()}
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    load_before = os.getloadavg()[0]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="gridcode-time-"))
    runs = []
    try:
        for scale in sorted(scales, reverse=True):  # fast runs first: early figures
            print(f"scale {scale:g}: running ...", flush=True)
            run = run_scale(folder / f"scale-{scale:g}", scale, chargers, args.grid_code,
                            suites, args.select, args.timeout)
            print(f"scale {scale:g}: {run['wall_s']:.1f} s wall, {run['counts']}", flush=True)
            runs.append(run)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        print(f"benchmark could not run: {error}", file=sys.stderr)
        return 2
    runs.sort(key=lambda r: r["scale"])
    summary = summarise(runs)
    baseline = json.loads(BASELINE.read_text("utf-8")) if BASELINE.exists() else None
    print_table(summary, {f"{r['scale']:g}": r["counts"] for r in runs}, baseline)
    result = {"benchmark": "gridcode_time", "when_utc": datetime.now(UTC).isoformat(
        timespec="seconds"), "machine": {"platform": platform.platform(),
                                         "python": platform.python_version(),
                                         "cpus": os.cpu_count(),
                                         "load_average_1min_before": load_before},
              "settings": {"scales": scales, "chargers": chargers, "grid_code": args.grid_code,
                           "suites": suites, "select": args.select},
              "summary": summary, "runs": runs}
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"gridcode_time-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"figures: {out}")
    if args.write_baseline:
        BASELINE.write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(f"baseline written: {BASELINE}")
    return 0 if targets_met(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
