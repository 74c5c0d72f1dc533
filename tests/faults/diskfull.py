"""A run whose output file system fills up mid-run (a small tmpfs; needs root to mount).

The lab is real-mode with its "hardware" (a simulated lab started on its own) outliving the
run, so the grid emulator's state can be read over the wire afterwards: the bench, not the
emulator's watchdog (none is set), must have switched it off.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from faultlab import LabHardware, real_lab_with_grid, scpi_query

TMPFS_SIZE = "4m"
RUN_INI = Path(__file__).resolve().parents[2] / "testbench" / "plugin" / "pytest-run.ini"


@contextlib.contextmanager
def small_filesystem(path: Path) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (skips the test when it cannot be mounted)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs",
                              str(path)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (root needed): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


SUITE = '''
    import os
    import time
    from pathlib import Path

    def energise(station):
        grid = station.instrument("grid_emulator")
        grid.set_voltage_v(230.0)
        grid.set_frequency_hz(50.0)
        grid.output(True)
        assert grid.measure().voltage_v[0] > 200.0

    def test_1_before_the_disk_fills(station):
        energise(station)

    def test_2_fills_the_disk(station):
        energise(station)
        with open(Path({reports!r}) / "filler.bin", "wb") as filler:
            try:
                while True:
                    filler.write(b"\\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        # the small writes left (e.g. a few bytes) go too
        with open(Path({reports!r}) / "filler2.bin", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\\0")
            except OSError:
                pass

    import pytest

    @pytest.mark.parametrize("n", range(3, 3 + {after}))
    def test_3_after_the_disk_filled(station, n):
        energise(station)
    '''
AFTER = 16  # tests after the filler: the journal's last page holds a few more lines


@dataclass
class DiskFullRun:
    exit_code: int
    output: str
    journal_bytes: bytes
    grid_after: str


def run_until_disk_full(tmp_path: Path) -> DiskFullRun:
    """`testbench run` of SUITE with the lab's output on a small tmpfs."""
    reports = tmp_path / "reports"
    with small_filesystem(reports):
        lab, csms_port, grid_port = real_lab_with_grid(tmp_path, None, output_dir=reports)
        suite = tmp_path / "test_disk_full_suite.py"
        suite.write_text(textwrap.dedent(SUITE.format(reports=str(reports), after=AFTER)), encoding="utf-8")
        hardware = LabHardware(lab, csms_port)
        try:
            proc = subprocess.run(
                # pytest with the bench plugin, as `testbench run` runs it, minus Allure:
                # allure-pytest itself crashes the session on ENOSPC (see README)
                [sys.executable, "-m", "pytest", str(suite), "--lab", str(lab), "--unattended",
                 "-c", str(RUN_INI), "--rootdir", str(tmp_path), "-q"],
                capture_output=True, text=True, timeout=240,
                env={**os.environ, "CI": "1", "COLUMNS": "160"}, cwd=tmp_path, check=False)
            grid_after = scpi_query(grid_port, "OUTPut:STATe?;:FETCh:VOLTage:ACDC?")
        finally:
            hardware.stop()
        journals = sorted((reports / "runs").glob("*/journal.jsonl"))
        data = journals[0].read_bytes() if journals else b""
    return DiskFullRun(proc.returncode, proc.stdout + proc.stderr, data, grid_after)
