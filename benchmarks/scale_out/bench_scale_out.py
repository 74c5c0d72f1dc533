"""Scale-out: wall time of a 4-station simulated lab run serially vs with ``-n 2`` workers.

    .venv/bin/python -m benchmarks.scale_out.bench_scale_out [--lab labs/four-stations-sim.toml]
        [--workers 2] [--time-scale 5] [-k EXPR] [--repeats 1] [--write-baseline]

Each run is a real ``testbench run --unattended`` of the default suites in a subprocess, on a
copy of the lab (output in a temporary folder, time scale overridden when given). The
verdicts of both runs must be identical (test id -> verdict, from the journals); the figure
is ``ratio = serial wall s / parallel wall s``. Target: ratio >= 1.3 on a 2-core machine
with identical verdicts (a HIL run waits on lab time: the workers' waits overlap).
Exit 0 when the target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
BASELINE = ROOT / "benchmarks" / "baselines" / "scale_out.json"
TARGET_RATIO = 1.3


def lab_copy(lab: Path, folder: Path, time_scale: float | None) -> Path:
    """``lab`` with its output in ``folder/reports`` (and another time scale when given)."""
    text = lab.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^output_dir\s*=.*$", f'output_dir = "{folder / "reports"}"', text)
    if time_scale is not None:
        text = re.sub(r"(?m)^time_scale\s*=.*$", f"time_scale = {time_scale}", text)
    path = folder / lab.name
    path.write_text(text, encoding="utf-8")
    return path


def run_once(lab: Path, workers: int, k: str | None) -> tuple[float, dict[str, str], int]:
    """(wall s, test id -> verdict, exit code) of one `testbench run`."""
    cmd = [sys.executable, "-m", "testbench.cli", "run", "--lab", str(lab), "--unattended"]
    if k:
        cmd += ["-k", k]
    if workers > 1:
        cmd += ["--", "-n", str(workers)]
    runs = lab.parent / "reports" / "runs"
    before = set(runs.glob("*")) if runs.exists() else set()
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT,
                          env={**os.environ, "CI": "1", "COLUMNS": "160"}, timeout=1800)
    wall_s = time.monotonic() - started
    new = sorted(set(runs.glob("*")) - before)
    if len(new) != 1:
        raise SystemExit(f"expected one new run folder, got {new}; output:\n{proc.stdout[-3000:]}"
                         f"{proc.stderr[-3000:]}")
    verdicts: dict[str, str] = {}
    for line in (new[0] / "journal.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("type") == "result":
            verdicts[record["test_id"]] = record["verdict"]
    return wall_s, verdicts, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", type=Path, default=ROOT / "labs" / "four-stations-sim.toml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-scale", type=float, default=5.0,
                        help="lab seconds per wall second (default 5; 0 keeps the lab's)")
    parser.add_argument("-k", default=None, help="pytest -k expression (default: all)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--write-baseline", action="store_true")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as tmp:
        lab = lab_copy(args.lab.resolve(), Path(tmp), args.time_scale or None)
        for repeat in range(args.repeats):
            serial_s, serial, serial_code = run_once(lab, 1, args.k)
            parallel_s, parallel, parallel_code = run_once(lab, args.workers, args.k)
            differ = sorted(t for t in set(serial) | set(parallel)
                            if serial.get(t) != parallel.get(t))
            rows.append({"repeat": repeat, "serial_s": round(serial_s, 2),
                         "parallel_s": round(parallel_s, 2),
                         "ratio": round(serial_s / parallel_s, 2), "tests": len(serial),
                         "identical_verdicts": not differ, "differ": differ[:20],
                         "exit_codes": [serial_code, parallel_code]})
    best = max(rows, key=lambda r: float(r["ratio"]))  # type: ignore[arg-type]
    result = {"benchmark": "scale_out", "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "lab": str(args.lab), "workers": args.workers, "time_scale": args.time_scale,
              "k": args.k, "cpus": os.cpu_count(), "load_1min_before": load, "runs": rows,
              "ratio": best["ratio"], "target_ratio": TARGET_RATIO}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"scale_out-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else None
    print(f"{'repeat':>6} {'tests':>5} {'serial s':>9} {'-n ' + str(args.workers) + ' s':>8} "
          f"{'ratio':>6}  verdicts")
    for row in rows:
        print(f"{row['repeat']:>6} {row['tests']:>5} {row['serial_s']:>9} {row['parallel_s']:>8} "
              f"{row['ratio']:>6}  {'identical' if row['identical_verdicts'] else 'DIFFER'}")
    if baseline:
        print(f"baseline: ratio {baseline['ratio']} ({baseline.get('when')}, "
              f"{baseline.get('cpus')} CPUs)")
    print(f"target: ratio >= {TARGET_RATIO} with identical verdicts; load before {load:.2f}; "
          f"figures in {out}")
    if args.write_baseline:
        BASELINE.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    ok = all(r["identical_verdicts"] for r in rows) and float(best["ratio"]) >= TARGET_RATIO  # type: ignore[arg-type]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
