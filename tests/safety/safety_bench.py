"""A simulated lab with energisable instruments, and `testbench run` on it as a user runs it.

The lab has one charger and one EV at a station with a grid emulator (Chroma, SCPI), a DC
source (EA PSB, SCPI) and a relay box (Modbus TCP), plus instruments with fault
personalities. Suites are written into the test's folder; the run's journal and the
simulated lab's safe-state file (``sim-final-state.json``) are read back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbench.lab.ports import unused_port

ENERGISABLE = ("grid", "dc", "relays")
LIMIT_VOLTAGE_V = 480.0


def free_port() -> int:
    """A loopback port free now and not yet given to another instrument of this process."""
    return unused_port()


def write_lab(folder: Path, time_scale: float = 10.0) -> Path:
    """The safety lab in ``folder`` (reports under ``folder/reports``)."""
    box = free_port()
    lines = [
        "[lab]", 'name = "safety-lab"', 'mode = "sim"', f"time_scale = {time_scale}",
        f'output_dir = "{folder / "reports"}"', "",
        "[csms]", 'host = "127.0.0.1"', "port = 0", "",
        "[[chargers]]", 'id = "safe-201"', 'vendor = "Amperia"', 'model = "HC11"',
        'firmware = "1.12.0"', 'ocpp_version = "2.0.1"', "max_current_a = 16.0", "",
        "[[evs]]", 'id = "ev-saloon"', 'make = "Arden"', 'model = "Saloon"', 'software = "1"',
        "phases = 3", "max_current_a = 16.0", "",
        "[[stations]]", 'id = "bay"', 'chargers = ["safe-201"]', 'evs = ["ev-saloon"]', "",
        "  [stations.limits]", f"  max_voltage_v = {LIMIT_VOLTAGE_V}", "  max_current_a = 80.0",
        "  max_power_w = 50000.0", "",
    ]
    instruments: list[tuple[str, str, str, str, str]] = [
        # name, role, driver, resource, options
        ("evio", "ev_emulator", "sim-ev-emulator", f"TCPIP::127.0.0.1::{box}::SOCKET", ""),
        ("grid", "grid_emulator", "chroma-61800", _scpi(), ""),
        ("dc", "dc_source", "ea-psb-scpi", _scpi(), ""),
        ("relays", "relay_box", "modbus-relay", f"127.0.0.1:{free_port()}",
         "options = { channels = 4 }"),
        ("analyzer-garbage", "analyzer_garbage", "yokogawa-wt", _scpi(),
         'options = { sim_fault = "garbage" }'),
        ("analyzer-silent", "analyzer_silent", "yokogawa-wt", _scpi(),
         'timeout_s = 1.0\n  options = { sim_fault = "silent" }'),
        ("dc-errq", "dc_errq", "ea-psb-scpi", _scpi(), 'options = { sim_fault = "error-queue" }'),
        ("relays-exc", "relays_exc", "modbus-relay", f"127.0.0.1:{free_port()}",
         'options = { sim_fault = "error-queue" }'),
    ]
    for name, role, driver, resource, extra in instruments:
        lines += ["  [[stations.instruments]]", f'  name = "{name}"', f'  role = "{role}"',
                  f'  driver = "{driver}"', f'  resource = "{resource}"',
                  '  charger = "safe-201"']
        if extra:
            lines.append(f"  {extra}")
        lines.append("")
    path = folder / "lab.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _scpi() -> str:
    return f"TCPIP::127.0.0.1::{free_port()}::SOCKET"


def write_suite(folder: Path, body: str, name: str = "test_safety_suite.py") -> Path:
    """A suite file in ``folder`` (``body`` is dedented; it may use the ``energise`` helper)."""
    path = folder / name
    path.write_text(SUITE_HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


SUITE_HEADER = '''"""Written by tests/safety: energises the station's instruments through the bench."""

import time
from pathlib import Path


def energise(station):
    """Switch everything on through the bench's drivers and prove it by measuring."""
    grid = station.instrument("grid_emulator")
    dc = station.instrument("dc_source")
    relays = station.instrument("relay_box")
    grid.set_voltage_v(230.0)
    grid.set_frequency_hz(50.0)
    grid.output(True)
    dc.set_current_limits_a(10.0, 10.0)
    dc.set_voltage_v(48.0)
    dc.output(True)
    relays.set_relay(0, True)
    relays.set_relay(2, True)
    assert grid.measure().voltage_v[0] > 200.0, "grid emulator did not energise"
    assert dc.measure().voltage_v > 40.0, "DC source did not energise"
    assert relays.relay(0) and relays.relay(2), "relays did not close"

'''


@dataclass
class Run:
    """What a finished `testbench run` left behind."""

    exit_code: int
    output: str
    reports: Path

    @property
    def run_dir(self) -> Path:
        runs = sorted(p for p in (self.reports / "runs").glob("*") if p.is_dir())
        assert len(runs) == 1, f"expected one run folder, got {runs}; output:\n{self.output[-3000:]}"
        return runs[0]

    def records(self) -> dict[str, dict[str, Any]]:
        """Test name -> journal record."""
        journal = self.run_dir / "journal.jsonl"
        assert journal.exists(), f"no run journal; output:\n{self.output[-3000:]}"
        lines = journal.read_text(encoding="utf-8").splitlines()
        found = [json.loads(line) for line in lines]
        return {r["name"]: r for r in found if r.get("type", "result") == "result"}

    def final_state(self) -> dict[str, Any]:
        path = self.run_dir / "sim-final-state.json"
        assert path.exists(), f"the simulated lab wrote no {path.name}; output:\n{self.output[-3000:]}"
        return json.loads(path.read_text(encoding="utf-8"))

    def twins(self) -> dict[str, dict[str, Any]]:
        """Instrument name -> its twin's entry in the final state."""
        return {name: twin for twin in self.final_state()["twins"]
                for name in twin["instruments"]}


def _command(lab: Path, suite: Path) -> list[str]:
    return [sys.executable, "-m", "testbench.cli", "run", "--lab", str(lab), "--unattended",
            str(suite)]


def _env() -> dict[str, str]:
    return {**os.environ, "CI": "1", "COLUMNS": "160"}


def run(lab: Path, suite: Path, timeout_s: float = 180) -> Run:
    """`testbench run` of one suite file, to the end."""
    proc = subprocess.run(_command(lab, suite), capture_output=True, text=True, check=False,
                          timeout=timeout_s, env=_env(), cwd=suite.parent)
    return Run(proc.returncode, proc.stdout + proc.stderr, lab.parent / "reports")


def run_and_interrupt(lab: Path, suite: Path, marker: Path, sig: int,
                      within_s: float = 120) -> Run:
    """Start `testbench run`, wait until the suite wrote ``marker``, then send ``sig``."""
    proc = subprocess.Popen(_command(lab, suite), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(), cwd=suite.parent)
    deadline = time.monotonic() + within_s
    try:
        while not marker.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.communicate(timeout=30)[0]
                raise AssertionError(f"the suite never reached its marker (exit {proc.returncode})"
                                     f"; output:\n{output[-3000:]}")
            time.sleep(0.05)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return Run(proc.returncode, output, lab.parent / "reports")


SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
