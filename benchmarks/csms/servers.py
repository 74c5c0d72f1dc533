"""The servers under test, each in its own child process: the bench's central system
(``testbench``), the plain ``ocpp`` package server as it comes (``plain``) or with inline
schema validation (``plain-sync``).

The child is ``python -m benchmarks.csms.servers KIND --chargers N --version V ...``. It
prints ``READY <url prefix>`` once listening (a charger connects to ``<prefix><id>``), serves
until its standard input closes (the parent went away or asked it to stop), shuts down
cleanly (the bench's central system flushes its traces), prints ``STOPPED`` and exits.
Before that it prints ``GC <json>``: the garbage collector's pauses while it served.
With ``--profile PATH`` it runs under cProfile and writes the statistics to PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Self

from benchmarks.csms.plain_server import start_plain_server
from testbench.clock import LabClock
from testbench.csms import CentralSystem
from testbench.errors import BenchError
from testbench.lab.model import OCPP_SUBPROTOCOL, ChargerSpec, CsmsSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
KINDS = ("testbench", "plain", "plain-sync")
DEFAULT_KINDS = ("testbench", "plain")
VERSIONS = tuple(OCPP_SUBPROTOCOL)
PATH_PREFIX = "/ocpp/"


def charger_ids(count: int) -> list[str]:
    """The identities of ``count`` simulated chargers: ``bench-0000``, ``bench-0001``, ..."""
    return [f"bench-{i:04d}" for i in range(count)]


def inventory(count: int, version: str) -> dict[str, ChargerSpec]:
    """A generated inventory of ``count`` chargers of one OCPP version (boot Accepted)."""
    return {cid: ChargerSpec(id=cid, vendor="BenchVendor", model="LoadModel", firmware="1.0",
                             ocpp_version=version)  # type: ignore[arg-type]
            for cid in charger_ids(count)}


def raise_fd_limit() -> int:
    """Raise the soft open-file limit to the hard limit (1,000 sockets need it); returns it."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


# --------------------------------------------------------------------------- child process
class GcPauses:
    """Counts the garbage collector's pauses per generation (their total and longest)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.total_s = [0.0, 0.0, 0.0]
        self.max_s = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        gen = info.get("generation", 0)
        pause = time.perf_counter() - self._started
        self.count[gen] += 1
        self.total_s[gen] += pause
        self.max_s[gen] = max(self.max_s[gen], pause)

    def summary(self) -> dict[str, list[float]]:
        return {"collections": list(self.count),
                "total_ms": [round(t * 1000, 1) for t in self.total_s],
                "max_ms": [round(t * 1000, 2) for t in self.max_s]}


async def _serve(kind: str, count: int, version: str, trace_dir: Path) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def watch_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    if kind == "testbench":
        settings = CsmsSettings(host="127.0.0.1", port=0, path_prefix=PATH_PREFIX)
        central = CentralSystem(settings, inventory(count, version), LabClock(), trace_dir)
        await central.start()
        print(f"READY {central.url_for('')}", flush=True)
        await stop.wait()
        await central.stop()
    else:
        server = await start_plain_server(OCPP_SUBPROTOCOL[version],
                                          sync_validation=kind == "plain-sync")
        port = server.sockets[0].getsockname()[1] if server.sockets else 0
        print(f"READY ws://127.0.0.1:{port}{PATH_PREFIX}", flush=True)
        await stop.wait()
        server.close(close_connections=True)
        await server.wait_closed()
    gc.callbacks.remove(pauses)
    print(f"GC {json.dumps(pauses.summary())}", flush=True)
    print("STOPPED", flush=True)


def serve(kind: str, count: int, version: str, trace_dir: Path,
          profile_path: Path | None = None) -> None:
    """Child-process entry: serve until standard input closes."""
    raise_fd_limit()
    if profile_path is None:
        asyncio.run(_serve(kind, count, version, trace_dir))
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(_serve(kind, count, version, trace_dir))
    finally:
        profiler.disable()
        profiler.dump_stats(str(profile_path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A server under test (child process).")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--chargers", type=int, required=True)
    parser.add_argument("--version", choices=VERSIONS, default="2.0.1")
    parser.add_argument("--trace-dir", type=Path, required=True)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args(argv)
    serve(args.kind, args.chargers, args.version, args.trace_dir, args.profile)
    return 0


# --------------------------------------------------------------------------- parent side
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class ServerProcess:
    """A server under test in a child process; ``url_prefix + id`` is a charger's URL."""

    def __init__(self, kind: str, chargers: int, version: str, trace_dir: Path,
                 profile_path: Path | None = None, startup_timeout_s: float = 60.0) -> None:
        if kind not in KINDS:
            raise BenchError(f"unknown server kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind = kind
        self.trace_dir = trace_dir
        command = [sys.executable, "-m", "benchmarks.csms.servers", kind,
                   "--chargers", str(chargers), "--version", version,
                   "--trace-dir", str(trace_dir)]
        if profile_path is not None:
            command += ["--profile", str(profile_path)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        self._proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
        self.pid = self._proc.pid
        line = self._read_line(startup_timeout_s)
        if not line.startswith("READY "):
            code = self._proc.poll()
            self.stop()
            raise BenchError(
                f"the {kind} server did not start within {startup_timeout_s:g} s (exit code "
                f"{code}, said {line!r}); run it alone to see why: "
                f"`python -m benchmarks.csms.servers {kind} --chargers {chargers} "
                f"--trace-dir /tmp/x` from {REPO_ROOT}")
        self.url_prefix = line.split(maxsplit=1)[1].strip()
        self.gc_pauses: dict[str, list[float]] | None = None

    def _read_line(self, timeout_s: float) -> str:
        got: list[str] = []

        def read() -> None:
            assert self._proc.stdout is not None
            got.append(self._proc.stdout.readline())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s)
        return got[0] if got else ""

    def cpu_s(self) -> float | None:
        """CPU seconds (user + system) the child has used so far; None if unknown."""
        try:
            with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_S

    def rss_mb(self) -> float | None:
        """Resident memory of the child in MiB; None if unknown."""
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Ask the child to stop (close its stdin); kill it if it does not. True if clean."""
        if self._proc.poll() is not None:
            return self._proc.returncode == 0
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        except OSError:
            pass
        deadline = time.monotonic() + timeout_s
        line = ""
        while time.monotonic() < deadline and not line.startswith("STOPPED"):
            line = self._read_line(max(0.1, deadline - time.monotonic()))
            if not line:
                break
            if line.startswith("GC "):
                try:
                    self.gc_pauses = json.loads(line[3:])
                except json.JSONDecodeError:
                    pass
        try:
            self._proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
            return False
        return self._proc.returncode == 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    raise SystemExit(main())
