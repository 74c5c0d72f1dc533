"""A runner killed with SIGKILL cannot make its instruments safe: their watchdogs do.

The lab's "hardware" (a simulated lab started on its own, which outlives the runner as real
instruments do) has a Chroma grid emulator and a station I/O box, either with
``options.watchdog_s``. A `testbench run` energises one of them (grid output on / EV plugged
in and asking for energy), stays quiet for longer than the watchdog (only the bench's
keep-alive talks to the instrument, and it must still be energised), then the runner is
killed with SIGKILL: the instrument must be safe within the watchdog time (plus polling
slack), proven over the wire (grid output off / EV unplugged, state A, no EV profile).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest
from faultlab import LabHardware, box_port_of, real_lab_with_grid, scpi_query

WATCHDOG_S = 2.0
SLACK_S = 1.5  # the twin checks every 0.2 s; a loaded 2-core machine adds scheduling delay

# instrument -> (suite body: energise it, then prove it still is after the quiet time)
ENERGISE = {
    "grid": """
        grid = station.instrument("grid_emulator")
        grid.set_voltage_v(230.0)
        grid.set_frequency_hz(50.0)
        grid.output(True)
        time.sleep({quiet_s})  # quiet: only the keep-alive talks to the emulator
        assert grid.measure().voltage_v[0] > 200.0, "the watchdog tripped during the run"
    """,
    "evio": """
        box = station.instrument("ev_emulator")
        box.select_ev("ev-saloon")
        box.set_cp_state("C")
        time.sleep({quiet_s})  # quiet: only the keep-alive talks to the box
        assert box.cp_state().startswith("C"), "the watchdog tripped during the run"
    """,
}


def _safe_over_the_wire(instrument: str, lab: Path, grid_port: int) -> tuple[bool, str]:
    if instrument == "grid":
        state, volts = scpi_query(grid_port, "OUTPut:STATe?;:FETCh:VOLTage:ACDC?").split(";")
        return state == "OFF" and float(volts) < 1.0, f"{state};{volts}"
    reply = scpi_query(box_port_of(lab), "CP:STAT?;:EV:PROF?")
    pilot, profile = reply.split(";")
    return pilot.startswith("A") and profile == "NONE", reply


@pytest.mark.parametrize("instrument", ["grid", "evio"])
def test_killed_runner_leaves_instrument_safe_within_watchdog(tmp_path: Path,
                                                              instrument: str) -> None:
    lab, csms_port, grid_port = real_lab_with_grid(
        tmp_path, WATCHDOG_S if instrument == "grid" else None,
        box_watchdog_s=WATCHDOG_S if instrument == "evio" else None)
    marker = tmp_path / "energised.marker"
    suite = tmp_path / "test_watchdog_suite.py"
    body = textwrap.dedent(ENERGISE[instrument]).format(quiet_s=WATCHDOG_S * 2.5)
    suite.write_text(textwrap.dedent("""
        import time
        from pathlib import Path

        def test_energise_then_hang(station):
        """) + textwrap.indent(body, "    ") + textwrap.indent(textwrap.dedent(f"""
        Path({str(marker)!r}).write_text("energised")
        time.sleep(300)
        """), "    "), encoding="utf-8")
    hardware = LabHardware(lab, csms_port)
    runner = subprocess.Popen(
        [sys.executable, "-m", "testbench.cli", "run", "--lab", str(lab), "--unattended",
         str(suite)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "CI": "1"}, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if runner.poll() is not None or time.monotonic() > deadline:
                runner.kill()
                output = runner.communicate(timeout=30)[0]
                raise AssertionError(f"the suite never energised (exit {runner.returncode}):\n"
                                     f"{output[-3000:]}\nhardware log:\n{hardware.log()[-2000:]}")
            time.sleep(0.05)
        os.kill(runner.pid, signal.SIGKILL)
        killed_wall = time.time()
        runner.wait(10)
        # Do not poll meanwhile: any command feeds the watchdog, as on a real instrument.
        time.sleep(WATCHDOG_S + SLACK_S)
        safe, seen = _safe_over_the_wire(instrument, lab, grid_port)
        assert safe, (instrument, seen, hardware.log()[-2000:])
        trip = re.search(rf"^(\S+ \S+) WARNING testbench\.sim\.watchdog: watchdog of "
                         rf"{instrument}: no command for ([\d.]+) s", hardware.log(), re.MULTILINE)
        assert trip is not None, hardware.log()[-2000:]
        tripped_wall = datetime.strptime(trip.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        after_kill_s = tripped_wall - killed_wall
        print(f"{instrument} safe {after_kill_s:.2f} s after SIGKILL "
              f"(silence {trip.group(2)} s, watchdog {WATCHDOG_S} s)")
        assert after_kill_s <= WATCHDOG_S + SLACK_S
        assert hardware.proc.poll() is None, "the lab hardware must outlive the runner"
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)
        if runner.stdout is not None:
            runner.stdout.close()
        hardware.stop()
