"""Labs and runs for the fault-injection tests: `testbench run` as a user runs it.

Reuses tests/safety's safety lab (grid emulator, DC source, relay box and faulty
instruments, suites written into the test's folder, journal and safe-state file read back)
and adds what the fault cases need: a real-mode lab whose "hardware" is a simulated lab
started on its own (it survives a killed runner, as real instruments do), instrument
watchdogs, and journal integrity checks.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SAFETY = Path(__file__).resolve().parents[1] / "safety"
if str(SAFETY) not in sys.path:
    sys.path.insert(0, str(SAFETY))

from safety_bench import free_port


def journal_integrity(journal: Path, started: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every line of ``journal`` parses as a whole JSON object, the header comes first, and
    each test in ``started`` has exactly one result line. Returns name -> record."""
    raw = journal.read_bytes()
    assert raw.endswith(b"\n"), f"{journal}: last line is partial: {raw[-200:]!r}"
    lines = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert lines and lines[0]["type"] == "run", f"{journal}: no run header first"
    results = [r for r in lines if r["type"] == "result"]
    ids = [r["test_id"] for r in results]
    assert len(ids) == len(set(ids)), f"{journal}: a test has two result lines: {ids}"
    by_name = {r["name"]: r for r in results}
    for name in started or set():
        assert name in by_name, f"{journal}: started test {name} has no result line"
    return by_name


def real_lab_with_grid(folder: Path, watchdog_s: float | None,
                       output_dir: Path | None = None, box_watchdog_s: float | None = None
                       ) -> tuple[Path, int, int]:
    """A real-mode lab (fixed central-system port) with a station I/O box and a Chroma grid
    emulator whose watchdog trips after ``watchdog_s`` wall s (None: no watchdog), the box's
    after ``box_watchdog_s``, output in ``output_dir`` (default ``folder/reports``).
    (lab, csms port, grid port); the box's port is :func:`box_port_of` the lab."""
    csms, box, grid = free_port(), free_port(), free_port()
    options = "" if watchdog_s is None else f"options = {{ watchdog_s = {watchdog_s} }}"
    box_options = ("" if box_watchdog_s is None
                   else f"options = {{ watchdog_s = {box_watchdog_s} }}")
    text = f"""
[lab]
name = "watchdog-lab"
mode = "real"
time_scale = 1.0
output_dir = "{output_dir or folder / 'reports'}"
operator_timeout_s = 5

[csms]
host = "127.0.0.1"
port = {csms}
connect_timeout_s = 30

[[chargers]]
id = "wd-201"
vendor = "Amperia"
model = "HC11"
firmware = "1.12.0"
ocpp_version = "2.0.1"
max_current_a = 16.0

[[evs]]
id = "ev-saloon"
make = "Arden"
model = "Saloon"
software = "1"
phases = 3
max_current_a = 16.0

[[stations]]
id = "bay"
chargers = ["wd-201"]
evs = ["ev-saloon"]

  [[stations.instruments]]
  name = "evio"
  role = "ev_emulator"
  driver = "sim-ev-emulator"
  resource = "TCPIP::127.0.0.1::{box}::SOCKET"
  charger = "wd-201"
  {box_options}

  [[stations.instruments]]
  name = "grid"
  role = "grid_emulator"
  driver = "chroma-61800"
  resource = "TCPIP::127.0.0.1::{grid}::SOCKET"
  charger = "wd-201"
  {options}
"""
    path = folder / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path, csms, grid


def box_port_of(lab: Path) -> int:
    """The station I/O box's port in a lab written by :func:`real_lab_with_grid`."""
    text = lab.read_text(encoding="utf-8")
    match = re.search(r'name = "evio"\n.*\n.*\n  resource = "TCPIP::127\.0\.0\.1::(\d+)::', text)
    assert match is not None, text
    return int(match.group(1))


class LabHardware:
    """A simulated lab started on its own, standing in for real hardware: it keeps running
    when the bench's runner dies (``--ignore-stdin``); its log is ``folder/hardware.log``."""

    def __init__(self, lab: Path, csms_port: int) -> None:
        self.log_path = lab.parent / "hardware.log"
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "testbench.sim", "--lab", str(lab), "--ignore-stdin",
             "--csms-url", f"ws://127.0.0.1:{csms_port}/ocpp"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("SIM READY"):
                    return
                if not line or line.startswith("SIM ERROR"):
                    break
        self.stop()
        raise AssertionError(f"lab hardware did not start:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def scpi_query(port: int, line: str, timeout_s: float = 5.0) -> str:
    """One SCPI query line over a fresh TCP connection (as a lab engineer's probe would)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(line.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.decode().strip()
