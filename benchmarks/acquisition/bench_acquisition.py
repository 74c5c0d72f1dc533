"""Benchmark: the bench's acquisition loop against a SCPI power-analyser twin on loopback.

Measured in one run, against the same twin:

(a) samples per second of ``testbench.analysis.record(..., rate_hz=None)`` (as fast as
    possible) through a PowerAnalyzer driver on ``ScpiTransport``;
(b) samples per second of a bare pyvisa query loop (``session.query`` and nothing else);
    the figure of merit is the ratio a/b (target >= 0.9): the median of the per-round
    ratios over short interleaved rounds. For context, also against a bare loop that
    turns each reply into floats, and against pyvisa's ``query_ascii_values`` loop;
(c) jitter of sample timestamps at 20 Hz (acquisition timestamp minus its scheduled
    deadline), p99 target < 5 ms; with ``record()`` in the calling thread and with
    ``BackgroundAcquisition`` while the calling thread sleeps.

The twin is a tiny self-contained asyncio SCPI server (``*IDN?``, ``:NUM:NORM:VAL?``,
``SYST:ERR?``) run in a child process, so it does not share the benchmark's GIL.

Run: ``python -m benchmarks.acquisition.bench_acquisition`` (or the file path);
``--help`` for options. Results go to ``benchmarks/results/acquisition-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import numpy as np

from instruments.contracts import Identity, PhaseReading, PowerAnalyzer, PowerReading
from instruments.transports.scpi import ScpiTransport, resource_manager
from testbench.analysis import BackgroundAcquisition, record
from testbench.clock import LabClock
from testbench.errors import BenchError, InstrumentError

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent
RESULTS_DIR = BENCHMARKS / "results"
BASELINE = BENCHMARKS / "baselines" / "acquisition.json"

MEASURE_QUERY = ":NUM:NORM:VAL?"
PHASES = 3
PHASE_ITEMS = 6    # U, I, P, Q, S, lambda per element
TOTAL_ITEMS = 6    # sigma P, Q, S, lambda, f, WP
ITEM_COUNT = PHASES * PHASE_ITEMS + TOTAL_ITEMS

TARGET_RATIO = 0.9
TARGET_P99_JITTER_MS = 5.0
JITTER_RATE_HZ = 20.0


# --------------------------------------------------------------------------- the twin
class _TwinAnalyzer:
    """A three-phase 11 kW load with a little ripple; energy accumulates with wall time."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.errors: list[str] = []

    def values(self) -> str:
        t = time.time() - self.t0
        items: list[float] = []
        p_sum = q_sum = s_sum = 0.0
        for n in range(PHASES):
            u = 230.0 + 0.8 * math.sin(2 * math.pi * 0.5 * t + n)
            i = 16.0 + 0.3 * math.sin(2 * math.pi * 0.2 * t + n)
            pf = 0.99
            s = u * i
            p = s * pf
            q = math.sqrt(max(s * s - p * p, 0.0))
            items += [u, i, p, q, s, pf]
            p_sum, q_sum, s_sum = p_sum + p, q_sum + q, s_sum + s
        items += [p_sum, q_sum, s_sum, p_sum / s_sum, 50.0 + 0.01 * math.sin(t),
                  p_sum * t / 3600.0]
        return ",".join(f"{x:.5E}" for x in items)

    def answer(self, unit: str) -> str | None:
        header = unit.strip().upper()
        if header == "*IDN?":
            return "BENCHCO,PA-TWIN-3,000001,1.0"
        if header in (":NUM:NORM:VAL?", "NUM:NORM:VAL?", ":NUMERIC:NORMAL:VALUE?"):
            return self.values()
        if header in ("SYST:ERR?", ":SYST:ERR?", "SYSTEM:ERROR?"):
            return self.errors.pop(0) if self.errors else '0,"No error"'
        if header in ("*RST", "*CLS", ""):
            return None
        self.errors.append('-113,"Undefined header"')
        return None


async def _serve(port: int, ready: asyncio.Future[int] | None = None) -> None:
    twin = _TwinAnalyzer()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                replies = [r for u in line.decode("ascii", "replace").split(";")
                           if (r := twin.answer(u)) is not None]
                if replies:
                    writer.write((";".join(replies) + "\n").encode("ascii"))
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready.set_result(bound)
    else:
        print(f"PORT {bound}", flush=True)
    async with server:
        await server.serve_forever()


def serve_forever(port: int = 0) -> None:
    """Child-process entry: serve the twin until stdin closes (the parent went away)."""

    def watch_parent() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    asyncio.run(_serve(port))


class TwinProcess:
    """The twin in a child process; ``resource`` is its pyvisa resource string."""

    def __init__(self, startup_timeout_s: float = 20.0) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        port: list[int] = []

        def read_port() -> None:
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline()
            if line.startswith("PORT "):
                port.append(int(line.split()[1]))

        reader = threading.Thread(target=read_port, daemon=True)
        reader.start()
        reader.join(startup_timeout_s)
        if not port:
            self.close()
            raise BenchError(f"the benchmark twin did not start within {startup_timeout_s:g} s "
                             f"(exit code {self._proc.poll()}); run it alone with "
                             f"`python {Path(__file__).name} --serve` to see why")
        self.port = port[0]
        self.resource = f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- the driver
class TwinPowerAnalyzer(PowerAnalyzer):
    """A minimal PowerAnalyzer driver for the twin, on the bench's ScpiTransport."""

    def __init__(self, resource: str, name: str = "bench-twin", timeout_s: float = 5.0) -> None:
        self.name = name
        self.transport = ScpiTransport(name, resource, timeout_s)
        self.update_interval_s = 0.05

    def identify(self) -> Identity:
        reply = self.transport.query("*IDN?")
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) != 4:
            raise InstrumentError(self.name, "*IDN?", reply, "expected maker,model,serial,fw")
        return Identity(*parts)

    def read(self) -> PowerReading:
        return self.decode(self.read_raw())

    def read_raw(self) -> tuple[float, str]:
        reply = self.transport.query(MEASURE_QUERY)
        return time.time(), reply  # stamped on arrival, before any parsing

    def decode(self, raw: tuple[float, str]) -> PowerReading:
        wall, reply = raw
        try:
            v = list(map(float, reply.split(",")))
        except ValueError:
            raise InstrumentError(self.name, MEASURE_QUERY, reply[:80],
                                  "expected comma-separated numbers") from None
        if len(v) != ITEM_COUNT:
            raise InstrumentError(self.name, MEASURE_QUERY, reply[:80],
                                  f"expected {ITEM_COUNT} values, got {len(v)}")
        # Items: U, I, P, Q, S, lambda for elements 1..3, then sigma P, Q, S, lambda, f, WP.
        p, q, s, pf, f, e = v[18:24]
        return PowerReading((PhaseReading(*v[0:6]), PhaseReading(*v[6:12]),
                             PhaseReading(*v[12:18])), p, q, s, pf, f, e, wall)

    def wait_fresh(self, timeout_s: float) -> PowerReading:
        # The twin updates on every query: any reading is fresh.
        return self.read()

    def set_update_interval_s(self, interval_s: float) -> None:
        self.update_interval_s = interval_s

    def close(self) -> None:
        self.transport.close()


# --------------------------------------------------------------------------- measurements
def open_bare_session(resource: str) -> Any:
    """A plain pyvisa session to the twin, configured like the bench's transport."""
    return resource_manager().open_resource(resource, read_termination="\n",
                                            write_termination="\n", timeout=5000)


def bare_loop_rate(session: Any, seconds: float, mode: str = "query") -> float:
    """Replies per second of a bare pyvisa loop. ``mode``: ``query`` (``session.query`` and
    nothing else), ``parse`` (query, then ``float()`` each value: the least any acquisition
    does) or ``ascii_values`` (pyvisa's own ``query_ascii_values``)."""
    if mode == "query":
        def once() -> object:
            return query(MEASURE_QUERY)
    elif mode == "parse":
        def once() -> object:
            return list(map(float, query(MEASURE_QUERY).split(",")))
    elif mode == "ascii_values":
        def once() -> object:
            return ascii_values(MEASURE_QUERY)
    else:
        raise ValueError(f"unknown bare loop mode {mode!r}")
    query, ascii_values = session.query, session.query_ascii_values
    once()  # warm up
    count = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        once()
        count += 1
    return count / (time.perf_counter() - start)


def bench_loop_rate(analyzer: PowerAnalyzer, seconds: float, end_to_end: bool = False) -> float:
    """Samples per second of the bench's acquisition loop (as fast as possible): transport,
    driver query and the loop, from the loop's own start/stop stamps. ``end_to_end`` also
    counts decoding the replies and building the recording after the loop."""
    clock = LabClock(scale=1.0)
    analyzer.read()  # warm up
    start = time.perf_counter()
    recording = record(analyzer, seconds, None, clock)
    elapsed = time.perf_counter() - start
    if not len(recording):
        raise BenchError("the acquisition loop took no sample")
    if end_to_end:
        return len(recording) / elapsed
    loop_s = recording.meta["stop_lab_s"] - recording.meta["start_lab_s"]
    return len(recording) / loop_s


class _IssueStamps(PowerAnalyzer):
    """Wraps an analyser and notes the wall time each read is issued (jitter breakdown)."""

    def __init__(self, inner: PowerAnalyzer) -> None:
        self.inner = inner
        self.name = inner.name
        self.issued_wall_s: list[float] = []

    def read(self) -> PowerReading:
        self.issued_wall_s.append(time.time())
        return self.inner.read()

    def identify(self) -> Identity:
        return self.inner.identify()

    def wait_fresh(self, timeout_s: float) -> PowerReading:
        return self.inner.wait_fresh(timeout_s)

    def set_update_interval_s(self, interval_s: float) -> None:
        self.inner.set_update_interval_s(interval_s)


@dataclass(frozen=True)
class Jitter:
    """Timestamp minus deadline (wall ms); split into wake-up lateness (read issued minus
    deadline: scheduling) and query time (reading arrived minus read issued: the twin)."""

    samples: int
    missed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    wake_p99_ms: float
    query_p99_ms: float

    @classmethod
    def of(cls, recording: Any, issued_wall_s: list[float], clock: LabClock) -> Jitter:
        if not len(recording):
            raise BenchError("the 20 Hz acquisition took no sample")
        ms = recording.jitter_s / clock.scale * 1000.0
        issued = np.asarray(issued_wall_s[:len(recording)])
        deadline_wall = clock.to_wall(recording.scheduled_lab_s)
        arrival_wall = clock.to_wall(recording.t_lab_s)
        wake = (issued - deadline_wall) * 1000.0
        query = (arrival_wall - issued) * 1000.0
        return cls(int(ms.size), int(recording.meta["missed_deadlines"]),
                   float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
                   float(ms.max()), float(np.percentile(wake, 99)),
                   float(np.percentile(query, 99)))


def jitter_record(analyzer: PowerAnalyzer, seconds: float, scale: float) -> Jitter:
    """Timestamp jitter of record() at 20 Hz (lab), in wall milliseconds."""
    clock = LabClock(scale=scale)
    stamped = _IssueStamps(analyzer)
    rec = record(stamped, seconds, JITTER_RATE_HZ, clock)
    return Jitter.of(rec, stamped.issued_wall_s, clock)


def jitter_background(analyzer: PowerAnalyzer, seconds: float, scale: float) -> Jitter:
    """Timestamp jitter of BackgroundAcquisition at 20 Hz while the caller sleeps."""
    clock = LabClock(scale=scale)
    stamped = _IssueStamps(analyzer)
    with BackgroundAcquisition(stamped, clock, JITTER_RATE_HZ, max_seconds=seconds) as acq:
        clock.sleep(seconds + 1.0 / JITTER_RATE_HZ)
    return Jitter.of(acq.recording, stamped.issued_wall_s, clock)


class _CannedTransport:
    """Stands in for ScpiTransport with a fixed reply (CPU cost without any I/O)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def query(self, command: str) -> str:
        return self.reply


class _ConstantAnalyzer(_IssueStamps):
    def __init__(self, reading: PowerReading) -> None:
        self.name = "constant"
        self.reading = reading

    def read(self) -> PowerReading:
        return self.reading


def cpu_breakdown(seconds: float = 0.3) -> dict[str, float]:
    """Per-sample CPU cost in microseconds, without I/O: the driver's parsing of a reply,
    and the acquisition loop plus building the recording (with a free instrument)."""
    driver = TwinPowerAnalyzer.__new__(TwinPowerAnalyzer)
    driver.name = "canned"
    driver.transport = _CannedTransport(_TwinAnalyzer().values())  # type: ignore[assignment]
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            driver.read()
        count += 100
    parse_us = (time.perf_counter() - start) / count * 1e6
    free = _ConstantAnalyzer(driver.read())
    start = time.perf_counter()
    rec = record(free, seconds, None, LabClock())
    loop_us = (time.perf_counter() - start) / len(rec) * 1e6
    return {"driver_parse_us": parse_us, "acquisition_loop_and_build_us": loop_us}


def run_benchmark(rounds: int = 15, round_seconds: float = 0.4, jitter_seconds: float = 10.0,
                  scale: float = 1.0, log: Any = print) -> dict[str, Any]:
    """Run every measurement against a fresh twin and return the results as a dict."""
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with TwinProcess() as twin:
        analyzer = TwinPowerAnalyzer(twin.resource)
        try:
            identity = analyzer.identify()
            session = open_bare_session(twin.resource)
            loops = {
                "bare": lambda: bare_loop_rate(session, round_seconds),
                "bare_parse": lambda: bare_loop_rate(session, round_seconds, "parse"),
                "bare_ascii": lambda: bare_loop_rate(session, round_seconds, "ascii_values"),
                "bench": lambda: bench_loop_rate(analyzer, round_seconds),
                "bench_e2e": lambda: bench_loop_rate(analyzer, round_seconds, end_to_end=True),
            }
            rates: dict[str, list[float]] = {name: [] for name in loops}
            try:
                # Short interleaved rounds, rotating which loop goes first, so that a noisy
                # machine's drifts hit every loop alike; ratios are medians of the
                # per-round ratios.
                order = list(loops)
                bare_loop_rate(session, 0.1)  # warm-up, not counted: first-call costs
                bench_loop_rate(analyzer, 0.1)
                for n in range(rounds):
                    first = n % len(order)
                    for name in order[first:] + order[:first]:
                        rates[name].append(loops[name]())
                    log(f"round {n + 1:2}/{rounds}: bare {rates['bare'][-1]:7.0f}/s  "
                        f"+parse {rates['bare_parse'][-1]:7.0f}/s  "
                        f"ascii_values {rates['bare_ascii'][-1]:7.0f}/s  "
                        f"bench {rates['bench'][-1]:7.0f}/s (e2e {rates['bench_e2e'][-1]:7.0f}/s)  "
                        f"ratio {rates['bench'][-1] / rates['bare'][-1]:.3f}")
            finally:
                session.close()
            fg = jitter_record(analyzer, jitter_seconds, scale)
            log(f"jitter record():   p99 {fg.p99_ms:.3f} ms over {fg.samples} samples")
            bg = jitter_background(analyzer, jitter_seconds, scale)
            log(f"jitter background: p99 {bg.p99_ms:.3f} ms over {bg.samples} samples")
        finally:
            analyzer.close()
    breakdown = cpu_breakdown(min(0.3, round_seconds))

    def ratio(num: str, den: str) -> float:
        return statistics.median(b / a for a, b in zip(rates[den], rates[num], strict=True))

    r_bare = ratio("bench", "bare")
    return {
        "benchmark": "acquisition",
        "when_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "twin": str(identity),
        "settings": {"rounds": rounds, "round_seconds": round_seconds,
                     "jitter_seconds": jitter_seconds, "jitter_rate_hz": JITTER_RATE_HZ,
                     "clock_scale": scale, "query": MEASURE_QUERY, "items": ITEM_COUNT},
        "throughput": {
            "bare_pyvisa_per_s": rates["bare"],
            "bare_pyvisa_parse_per_s": rates["bare_parse"],
            "bare_pyvisa_ascii_values_per_s": rates["bare_ascii"],
            "bench_record_per_s": rates["bench"],
            "bare_median_per_s": statistics.median(rates["bare"]),
            "bare_parse_median_per_s": statistics.median(rates["bare_parse"]),
            "bare_ascii_values_median_per_s": statistics.median(rates["bare_ascii"]),
            "bench_median_per_s": statistics.median(rates["bench"]),
            "ratio": r_bare,
            "ratio_end_to_end": ratio("bench_e2e", "bare"),
            "bench_end_to_end_median_per_s": statistics.median(rates["bench_e2e"]),
            "ratio_to_bare_parse": ratio("bench", "bare_parse"),
            "ratio_to_bare_ascii_values": ratio("bench", "bare_ascii"),
            "target_ratio": TARGET_RATIO,
            "meets_target": r_bare >= TARGET_RATIO,
        },
        "cpu_per_sample": breakdown,
        "jitter_20hz": {
            "record": fg.__dict__, "background": bg.__dict__,
            "target_p99_ms": TARGET_P99_JITTER_MS,
            "meets_target": max(fg.p99_ms, bg.p99_ms) < TARGET_P99_JITTER_MS,
        },
        "machine": {**machine_info(), "loadavg_1m_before": load_before},
    }


def machine_info() -> dict[str, Any]:
    import pyvisa
    import pyvisa_py  # type: ignore[import-untyped]

    info: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(),
        "cpus": os.cpu_count(), "pyvisa": pyvisa.__version__,
        "pyvisa_py": getattr(pyvisa_py, "__version__", "?"), "numpy": np.__version__,
    }
    if hasattr(os, "getloadavg"):
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    return info


# --------------------------------------------------------------------------- reporting
def table(results: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    """A small plain-text table of the figures (with the baseline's, when given)."""
    def fig(res: dict[str, Any] | None, *path: str) -> str:
        node: Any = res
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return "-"
            node = node[key]
        return f"{node:,.3f}" if isinstance(node, float) else str(node)

    rows = [
        ("bare pyvisa loop [samples/s]", ("throughput", "bare_median_per_s"), ""),
        ("bare loop + float() [/s]", ("throughput", "bare_parse_median_per_s"), ""),
        ("bare query_ascii_values [/s]", ("throughput", "bare_ascii_values_median_per_s"), ""),
        ("bench record() [samples/s]", ("throughput", "bench_median_per_s"), ""),
        ("ratio bench/bare (median)", ("throughput", "ratio"), f">= {TARGET_RATIO}"),
        ("ratio incl. decode after the loop", ("throughput", "ratio_end_to_end"), ""),
        ("ratio bench/(bare + float())", ("throughput", "ratio_to_bare_parse"), ""),
        ("ratio bench/query_ascii_values", ("throughput", "ratio_to_bare_ascii_values"), ""),
        ("driver parse [us/sample]", ("cpu_per_sample", "driver_parse_us"), ""),
        ("loop + build [us/sample]", ("cpu_per_sample", "acquisition_loop_and_build_us"), ""),
        ("jitter p50 record() [ms]", ("jitter_20hz", "record", "p50_ms"), ""),
        ("jitter p99 record() [ms]", ("jitter_20hz", "record", "p99_ms"),
         f"< {TARGET_P99_JITTER_MS:g}"),
        ("  of which wake-up p99 [ms]", ("jitter_20hz", "record", "wake_p99_ms"), ""),
        ("  of which query p99 [ms]", ("jitter_20hz", "record", "query_p99_ms"), ""),
        ("jitter max record() [ms]", ("jitter_20hz", "record", "max_ms"), ""),
        ("jitter p99 background [ms]", ("jitter_20hz", "background", "p99_ms"),
         f"< {TARGET_P99_JITTER_MS:g}"),
        ("jitter max background [ms]", ("jitter_20hz", "background", "max_ms"), ""),
        ("missed deadlines (rec/bg)", None, ""),
        ("load average 1 min (before)", ("machine", "loadavg_1m_before"), ""),
    ]
    head = f"{'figure':34} {'this run':>12} {'baseline':>12} {'target':>8}"
    lines = [head, "-" * len(head)]
    for label, path, target in rows:
        if path is None:
            now = (f"{fig(results, 'jitter_20hz', 'record', 'missed')}/"
                   f"{fig(results, 'jitter_20hz', 'background', 'missed')}")
            base = (f"{fig(baseline, 'jitter_20hz', 'record', 'missed')}/"
                    f"{fig(baseline, 'jitter_20hz', 'background', 'missed')}")
        else:
            now, base = fig(results, *path), fig(baseline, *path)
        lines.append(f"{label:34} {now:>12} {base:>12} {target:>8}")
    return "\n".join(lines)


def write_results(results: dict[str, Any], folder: Path = RESULTS_DIR) -> Path:
    """Write ``<folder>/acquisition-<UTC date and time>.json``; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = folder / f"acquisition-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path


def load_baseline(path: Path = BASELINE) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15,
                        help="interleaved throughput rounds")
    parser.add_argument("--round-seconds", type=float, default=0.4,
                        help="wall seconds per loop per round")
    parser.add_argument("--jitter-seconds", type=float, default=10.0,
                        help="lab seconds of each 20 Hz jitter acquisition")
    parser.add_argument("--scale", type=float, default=1.0, help="lab clock time scale")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--write-baseline", action="store_true",
                        help=f"also store the figures as the baseline ({BASELINE})")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_forever()
        return 0
    results = run_benchmark(args.rounds, args.round_seconds, args.jitter_seconds, args.scale)
    baseline = load_baseline()
    print()
    print(table(results, baseline))
    path = write_results(results, args.results_dir)
    print(f"\nresults: {path}")
    if args.write_baseline:
        BASELINE.parent.mkdir(parents=True, exist_ok=True)
        BASELINE.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"baseline: {BASELINE}")
    ok = results["throughput"]["meets_target"] and results["jitter_20hz"]["meets_target"]
    print("targets: " + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
