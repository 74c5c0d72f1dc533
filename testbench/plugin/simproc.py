"""Start and stop the simulated lab as a separate process, reached only over the wire."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from testbench.errors import BenchError

READY_PREFIX = "SIM READY"
ERROR_PREFIX = "SIM ERROR"
STATE_FILE_NAME = "sim-final-state.json"


class SimProcess:
    """The ``testbench sim`` child process of a run (stdin kept open: EOF tells it we died)."""

    def __init__(self, proc: subprocess.Popen[str], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @classmethod
    def start(cls, lab_path: Path, csms_url: str, epoch: float, log_path: Path,
              ready_within_s: float = 30.0, state_file: Path | None = None,
              stations: Sequence[str] = ()) -> SimProcess:
        """Spawn the simulated lab (only ``stations``' part when given) and wait for its
        ``SIM READY`` line.

        When it stops, the simulated lab writes every twin's energised state to
        ``state_file`` (default: ``sim-final-state.json`` beside the log), the run's evidence
        that its instruments ended safe.
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - owned by the child
        if state_file is None:
            state_file = log_path.with_name(STATE_FILE_NAME)
        cmd = [sys.executable, "-m", "testbench.sim", "--lab", str(lab_path),
               "--csms-url", csms_url, "--epoch", repr(epoch), "--state-file", str(state_file)]
        for station in stations:
            cmd += ["--station", station]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        log.close()
        sim = cls(proc, log_path)
        sim._wait_ready(ready_within_s)
        return sim

    def _wait_ready(self, within_s: float) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rest = self.proc.stdout.read() or ""
                raise BenchError(self._failure(rest, f"exited with code {self.proc.returncode}"))
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if not ready:
                continue
            line = self.proc.stdout.readline().strip()
            if line.startswith(READY_PREFIX):
                return
            if line.startswith(ERROR_PREFIX):
                self.stop()
                raise BenchError(f"simulated lab could not start: {line[len(ERROR_PREFIX):].strip()}")
        self.stop()
        raise BenchError(self._failure("", f"not ready within {within_s:g} s"))

    def _failure(self, output: str, what: str) -> str:
        for line in output.splitlines():
            if line.startswith(ERROR_PREFIX):
                return f"simulated lab could not start: {line[len(ERROR_PREFIX):].strip()}"
        tail = ""
        try:
            tail = "".join(self.log_path.read_text(encoding="utf-8").splitlines(True)[-15:])
        except OSError:
            pass
        return f"simulated lab {what}; last lines of {self.log_path}:\n{tail}"

    def stop(self, within_s: float = 10.0) -> None:
        """Terminate the simulated lab (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is not None:
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(within_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
