"""Benchmark: the bench's OCPP central system against a plain ``ocpp`` package server.

For each fleet size (default 1, 100 and 1,000 simulated chargers), in one run on one machine:
both servers are started in their own child processes (the bench's ``CentralSystem`` with
a generated inventory, tracing every frame to JSONL as it always does; and a plain ``ocpp``
2.1.0 ChargePoint server), the load generator (this process) connects N clients to each and
boots them, then alternates short measuring windows between the two servers:

- latency: paced Heartbeats, ``--latency-rate`` per second in total, round-trip p50/p99;
- throughput: back-to-back Heartbeats on every client (one outstanding CALL each, as OCPP-J
  requires), completed round trips per second, and p50/p99 under that saturation.

Each window starts with a warm-up that is not counted. Windows are repeated (server order
alternating) and the medians reported, with the ratio testbench/plain (paired per repeat).
Every disconnect is counted; all N clients must stay connected to the end.

Target (issue #2): >= 1,000 chargers stay connected, message rate ratio >= 0.8.

Run: ``python -m benchmarks.csms.bench_csms`` from the repository root (``--help``).
Results go to ``benchmarks/results/csms-<UTC date-time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.csms.loadgen import Fleet, Window
from benchmarks.csms.servers import (
    DEFAULT_KINDS,
    KINDS,
    VERSIONS,
    ServerProcess,
    charger_ids,
    raise_fd_limit,
)
from testbench.errors import BenchError

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent
RESULTS_DIR = BENCHMARKS / "results"
BASELINE = BENCHMARKS / "baselines" / "csms.json"

TARGET_RATIO = 0.8
TARGET_CONNECTED = 1000

Log = Callable[[str], None]


# --------------------------------------------------------------------------- one fleet size
async def _drive(servers: dict[str, ServerProcess], chargers: int, version: str,
                 seconds: float, warmup_s: float, repeats: int, latency_rate: float,
                 log: Log) -> dict[str, Any]:
    ids = charger_ids(chargers)
    fleets = {kind: Fleet(srv.url_prefix, version) for kind, srv in servers.items()}
    kinds = list(servers)
    windows: dict[str, dict[str, list[Window]]] = {k: {"latency": [], "throughput": []}
                                                   for k in kinds}
    boots: dict[str, dict[str, int]] = {}
    try:
        for kind in kinds:
            await fleets[kind].connect(ids)
            boots[kind] = await fleets[kind].boot()
            log(f"  {kind:9}: {chargers} connected in {fleets[kind].connect_s:.2f} s, "
                f"booted in {fleets[kind].boot_s:.2f} s {boots[kind]}")
        for rep in range(repeats):
            order = kinds if rep % 2 == 0 else kinds[::-1]
            for kind in order:
                srv = servers[kind]
                windows[kind]["latency"].append(await fleets[kind].latency_window(
                    latency_rate, warmup_s, seconds, srv.cpu_s))
            for kind in order:
                srv = servers[kind]
                windows[kind]["throughput"].append(await fleets[kind].throughput_window(
                    warmup_s, seconds, srv.cpu_s))
            parts = []
            for kind in kinds:
                lat, thr = windows[kind]["latency"][-1], windows[kind]["throughput"][-1]
                parts.append(f"{kind} {thr.rate_per_s:7.0f}/s p50 {lat.percentile_ms(50):6.2f}"
                             f" p99 {lat.percentile_ms(99):6.2f} ms")
            log(f"  repeat {rep + 1}/{repeats}: " + " | ".join(parts))
        per_server = {}
        for kind in kinds:
            fleet = fleets[kind]
            per_server[kind] = {
                "boot_statuses": boots[kind],
                "connect_s": round(fleet.connect_s, 3),
                "boot_s": round(fleet.boot_s, 3),
                "connected_at_end": fleet.connected,
                "disconnects": len(fleet.lost),
                "lost": [f"{c.charger_id} ({c.close_info})" for c in fleet.lost[:10]],
                "wrong_answers": fleet.error_count,
                "wrong_answer_examples": fleet.errors,
                "server_rss_mb": _round(servers[kind].rss_mb(), 1),
                "latency_windows": [w.summary() for w in windows[kind]["latency"]],
                "throughput_windows": [w.summary() for w in windows[kind]["throughput"]],
            }
        return per_server
    finally:
        await asyncio.gather(*(f.close() for f in fleets.values()))


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(present) if present else None


def _aggregate(server: dict[str, Any]) -> dict[str, Any]:
    lat, thr = server["latency_windows"], server["throughput_windows"]
    return {
        "msgs_per_s": _round(_median([w["msgs_per_s"] for w in thr]), 1),
        "latency_p50_ms": _round(_median([w["p50_ms"] for w in lat]), 3),
        "latency_p99_ms": _round(_median([w["p99_ms"] for w in lat]), 3),
        "saturated_p50_ms": _round(_median([w["p50_ms"] for w in thr]), 3),
        "saturated_p99_ms": _round(_median([w["p99_ms"] for w in thr]), 3),
        "server_cpu_util": _round(_median([w["server_cpu_util"] for w in thr]), 3),
        "loadgen_cpu_util": _round(_median([w["loadgen_cpu_util"] for w in thr]), 3),
        "server_cpu_us_per_round_trip": _round(
            _median([w["server_cpu_us_per_round_trip"] for w in thr]), 1),
    }


def _paired_ratio(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str) -> float | None:
    ratios = [x[key] / y[key] for x, y in zip(a, b, strict=True)
              if x[key] is not None and y[key] not in (None, 0)]
    return _round(_median(ratios), 3)


def _ratios(tb: dict[str, Any], ref: dict[str, Any]) -> dict[str, float | None]:
    """testbench / reference for every figure, paired per repeat, median over repeats."""
    lat = (tb["latency_windows"], ref["latency_windows"])
    thr = (tb["throughput_windows"], ref["throughput_windows"])
    return {
        "msgs_per_s": _paired_ratio(*thr, "msgs_per_s"),
        "latency_p50": _paired_ratio(*lat, "p50_ms"),
        "latency_p99": _paired_ratio(*lat, "p99_ms"),
        "saturated_p50": _paired_ratio(*thr, "p50_ms"),
        "saturated_p99": _paired_ratio(*thr, "p99_ms"),
        "server_cpu_per_round_trip": _paired_ratio(*thr, "server_cpu_us_per_round_trip"),
    }


def trace_stats(trace_dir: Path) -> dict[str, int]:
    """How many trace files the central system wrote, their lines and bytes."""
    files = sorted(trace_dir.glob("*.jsonl")) if trace_dir.is_dir() else []
    lines = size = 0
    for path in files:
        size += path.stat().st_size
        with open(path, "rb") as f:
            lines += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return {"files": len(files), "lines": lines, "bytes": size}


def run_level(chargers: int, version: str = "2.0.1", seconds: float = 5.0,
              warmup_s: float = 1.0, repeats: int = 3, latency_rate: float = 200.0,
              kinds: Sequence[str] = DEFAULT_KINDS, profile_dir: Path | None = None,
              log: Log = print) -> dict[str, Any]:
    """Measure both servers with ``chargers`` connected clients; returns the level's figures."""
    work = Path(tempfile.mkdtemp(prefix="csms-bench-"))
    servers: dict[str, ServerProcess] = {}
    clean: dict[str, bool] = {}
    try:
        for kind in kinds:
            profile = (profile_dir / f"csms-{kind}-{chargers}.prof"
                       if profile_dir is not None else None)
            servers[kind] = ServerProcess(kind, chargers, version, work / kind, profile)
        per_server = asyncio.run(_drive(servers, chargers, version, seconds, warmup_s,
                                        repeats, latency_rate, log))
    finally:
        for kind, srv in servers.items():
            clean[kind] = srv.stop()
        traces = trace_stats(work / "testbench")
        shutil.rmtree(work, ignore_errors=True)
    level: dict[str, Any] = {"chargers": chargers, "servers": {}}
    for kind, figures in per_server.items():
        level["servers"][kind] = {**_aggregate(figures), **figures,
                                  "stopped_cleanly": clean.get(kind, False),
                                  "gc_pauses": servers[kind].gc_pauses}
    if "testbench" in level["servers"]:
        level["servers"]["testbench"]["trace"] = traces
    for reference in [k for k in level["servers"] if k != "testbench"]:
        key = "ratio" if reference == "plain" else f"ratio_vs_{reference.replace('-', '_')}"
        level[key] = _ratios(level["servers"]["testbench"], level["servers"][reference])
    level["all_connected"] = all(
        s["connected_at_end"] == chargers and s["disconnects"] == 0
        and s["boot_statuses"] == {"Accepted": chargers} and s["wrong_answers"] == 0
        for s in level["servers"].values())
    ratio = level.get("ratio", {}).get("msgs_per_s")
    level["meets_target"] = bool(level["all_connected"] and ratio is not None
                                 and ratio >= TARGET_RATIO)
    return level


# --------------------------------------------------------------------------- whole run
def run_benchmark(chargers: Sequence[int] = (1, 100, 1000), version: str = "2.0.1",
                  seconds: float = 5.0, warmup_s: float = 1.0, repeats: int = 3,
                  latency_rate: float = 200.0, profile_dir: Path | None = None,
                  kinds: Sequence[str] = DEFAULT_KINDS, log: Log = print) -> dict[str, Any]:
    """Run every fleet size and return the results as a JSON-able dict."""
    if not {"testbench", "plain"} <= set(kinds) or not set(kinds) <= set(KINDS):
        raise BenchError(f"servers must include testbench and plain, from {', '.join(KINDS)}; "
                         f"got {', '.join(kinds)}")
    if version not in VERSIONS:
        raise BenchError(f"unknown OCPP version {version!r}; use one of {', '.join(VERSIONS)}")
    fd_limit = raise_fd_limit()
    needed = len(kinds) * max(chargers) + 100
    if 0 < fd_limit < needed:
        raise BenchError(f"the open-file limit is {fd_limit}, but {max(chargers)} chargers on "
                         f"{len(kinds)} servers need about {needed}; raise it (ulimit -n {needed})")
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    levels = []
    for n in chargers:
        log(f"{n} charger(s), OCPP {version}:")
        levels.append(run_level(n, version, seconds, warmup_s, repeats, latency_rate,
                                kinds=kinds, profile_dir=profile_dir, log=log))
    at_target = [lv for lv in levels if lv["chargers"] >= TARGET_CONNECTED]
    return {
        "benchmark": "csms",
        "when_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"chargers": list(chargers), "ocpp_version": version,
                     "servers": list(kinds),
                     "window_seconds": seconds, "warmup_seconds": warmup_s,
                     "repeats": repeats, "latency_rate_per_s": latency_rate,
                     "client_compression": None, "profiled": profile_dir is not None},
        "levels": levels,
        "targets": {"ratio_msgs_per_s_min": TARGET_RATIO,
                    "chargers_connected_min": TARGET_CONNECTED},
        "meets_targets": bool(levels) and all(lv["meets_target"] for lv in levels),
        "target_size_measured": bool(at_target),
        "machine": {**machine_info(), "loadavg_1m_before": load_before,
                    "open_file_limit": fd_limit},
    }


def machine_info() -> dict[str, Any]:
    """Python, OS, CPU and library versions of this machine."""
    import ocpp  # type: ignore[import-untyped]
    import websockets

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    info: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpu": cpu, "cpus": os.cpu_count(),
        "ocpp": getattr(ocpp, "__version__", _dist_version("ocpp")),
        "websockets": getattr(websockets, "__version__", "?"),
    }
    if hasattr(os, "getloadavg"):
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return info


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------- reporting
def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def _level_of(results: dict[str, Any] | None, chargers: int) -> dict[str, Any] | None:
    for level in (results or {}).get("levels", []):
        if level["chargers"] == chargers:
            return level
    return None


def table(results: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    """A plain-text table: per fleet size, both servers' figures, the ratios, the baseline."""
    head = (f"{'chargers':>8} {'server':10} {'msgs/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'sat p50':>8} {'sat p99':>8} {'cpu us/rt':>9} {'cpu %':>5} {'disc':>5} "
            f"{'rss MB':>7}")
    lines = [head, "-" * len(head)]
    for level in results["levels"]:
        n = level["chargers"]
        for kind, s in level["servers"].items():
            lines.append(
                f"{n:>8} {kind:10} {_fmt(s['msgs_per_s']):>8} "
                f"{_fmt(s['latency_p50_ms'], '.2f'):>7} {_fmt(s['latency_p99_ms'], '.2f'):>7} "
                f"{_fmt(s['saturated_p50_ms'], '.1f'):>8} "
                f"{_fmt(s['saturated_p99_ms'], '.1f'):>8} "
                f"{_fmt(s['server_cpu_us_per_round_trip'], '.0f'):>9} "
                f"{_fmt(_percent(s['server_cpu_util']), '.0f'):>5} "
                f"{s['disconnects']:>5} {_fmt(s['server_rss_mb'], '.0f'):>7}")
        for key in [k for k in level if k.startswith("ratio")]:
            ratio = level[key]
            label = "ratio" if key == "ratio" else "ratio " + key.removeprefix(
                "ratio_vs_").removeprefix("plain_")
            line = (f"{'':>8} {label[:10]:10} {_fmt(ratio['msgs_per_s'], '.3f'):>8} "
                    f"{_fmt(ratio['latency_p50'], '.2f'):>7} "
                    f"{_fmt(ratio['latency_p99'], '.2f'):>7} "
                    f"{_fmt(ratio['saturated_p50'], '.2f'):>8} "
                    f"{_fmt(ratio['saturated_p99'], '.2f'):>8} "
                    f"{_fmt(ratio['server_cpu_per_round_trip'], '.2f'):>9}")
            if key == "ratio":
                base = (_level_of(baseline, n) or {}).get("ratio", {})
                line += (f"   target >= {TARGET_RATIO}: "
                         f"{'met' if level['meets_target'] else 'NOT met'}; "
                         f"baseline {_fmt(base.get('msgs_per_s'), '.3f')}")
            lines.append(line)
    lines += [
        "",
        ("msgs/s: Heartbeat round trips per second, all clients back to back (median of "
         "repeats)."),
        "p50/p99: round trip at a paced load; sat p50/p99: round trip at saturation.",
        ("cpu us/rt: server CPU time per round trip; cpu %: server CPU use while saturated "
         "(well below 100: the machine was busy); disc: disconnects; rss: server memory."),
        ("ratio: testbench / plain (ratio sync: / plain-sync), paired per repeat; msgs/s >= "
         f"{TARGET_RATIO} is the target, latency and cpu ratios < 1 mean testbench is faster."),
    ]
    machine = results.get("machine", {})
    before = _fmt(machine.get("loadavg_1m_before"), ".2f")
    after = _fmt(machine.get("loadavg_1m"), ".2f")
    lines.append(f"load average (1 min) before the run {before}, after {after}, on "
                 f"{machine.get('cpus')} CPUs.")
    return "\n".join(lines)


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else fraction * 100.0


def profile_summary(path: Path, top: int = 25) -> str:
    """The functions with the most own time in a cProfile dump, as text."""
    import io

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def write_results(results: dict[str, Any], folder: Path = RESULTS_DIR) -> Path:
    """Write ``<folder>/csms-<UTC date and time>.json``; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = folder / f"csms-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path


def load_baseline(path: Path = BASELINE) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--chargers takes comma-separated counts such as 1,100,1000, not {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--chargers counts must be >= 1, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chargers", type=_sizes, default=[1, 100, 1000],
                        help="fleet sizes, comma-separated (default 1,100,1000)")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="measuring window per server, mode and repeat (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="uncounted warm-up before each window (default 1)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats per fleet size, server order alternating (default 3)")
    parser.add_argument("--latency-rate", type=float, default=200.0,
                        help="Heartbeats per second, all clients together, in the latency "
                             "window (default 200)")
    parser.add_argument("--version", choices=VERSIONS, default="2.0.1",
                        help="OCPP version of every charger (default 2.0.1)")
    parser.add_argument("--servers", default=",".join(DEFAULT_KINDS),
                        help=f"servers to compare, from {', '.join(KINDS)} (default "
                             f"{','.join(DEFAULT_KINDS)}; plain-sync: the ocpp package with "
                             "inline schema validation)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="run the servers under cProfile, write DIR/csms-<server>-<N>.prof "
                             "and print where the bench's central system spends its time "
                             "(figures are then not comparable)")
    parser.add_argument("--write-baseline", action="store_true",
                        help=f"also store the figures as the baseline ({BASELINE})")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0 or args.repeats < 1 or args.latency_rate <= 0:
        parser.error("--seconds and --latency-rate must be > 0, --warmup >= 0, --repeats >= 1")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        results = run_benchmark(args.chargers, args.version, args.seconds, args.warmup,
                                args.repeats, args.latency_rate, args.profile,
                                kinds=[k.strip() for k in args.servers.split(",") if k.strip()])
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(table(results, load_baseline()))
    path = write_results(results, args.results_dir)
    print(f"\nresults: {path}")
    if args.profile is not None:
        for n in args.chargers:
            prof = args.profile / f"csms-testbench-{n}.prof"
            if prof.exists():
                print(f"\nwhere the bench's central system spends its time, {n} charger(s) "
                      f"({prof}):\n{profile_summary(prof)}")
    if args.write_baseline:
        BASELINE.parent.mkdir(parents=True, exist_ok=True)
        BASELINE.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"baseline: {BASELINE}")
    ok = results["meets_targets"]
    print("targets: " + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
