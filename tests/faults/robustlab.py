"""Full `testbench run`s of suites/ocpp against a generated lab whose one charger has a
robustness fault personality (testbench.lab.faults.ROBUSTNESS_FAULTS), and readers of what
such a run leaves: the journal, the simulated lab's safe-state file and the OCPP traces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SELFTEST = REPO / "tests" / "selftest"
if str(SELFTEST) not in sys.path:
    sys.path.insert(0, str(SELFTEST))

from labgen import ChargerEntry, free_port, write_lab

__all__ = ["EV", "ChargerEntry", "ChargerRun", "free_port", "run_with_fault", "write_lab"]

OCPP_SUITE = REPO / "suites" / "ocpp"
EV = "ev-saloon"


@dataclass
class ChargerRun:
    """What a finished run left: exit code, output and its run folder."""

    exit_code: int
    output: str
    run_dir: Path

    def records(self) -> dict[str, dict[str, Any]]:
        """Test name -> journal record."""
        lines = (self.run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
        return {r["name"]: r for r in map(json.loads, lines) if r["type"] == "result"}

    def end(self) -> dict[str, Any] | None:
        lines = (self.run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
        last = json.loads(lines[-1])
        return last if last["type"] == "end" else None

    def energised(self) -> list[str]:
        state = json.loads((self.run_dir / "sim-final-state.json").read_text(encoding="utf-8"))
        return list(state["energised"])

    def trace(self, test: str) -> list[dict[str, Any]]:
        """The OCPP trace of ``test`` (evidence folder), frames parsed where they are JSON
        (``parsed``; None for a frame that is not)."""
        found = sorted(self.run_dir.glob(f"evidence/*_{test}_*/ocpp-trace.jsonl"))
        assert found, f"no OCPP trace of {test} in {self.run_dir / 'evidence'}"
        entries = [json.loads(line) for line in found[0].read_text(encoding="utf-8").splitlines()]
        for entry in entries:
            if "frame" in entry:
                try:
                    entry["parsed"] = json.loads(entry["frame"])
                except ValueError:
                    entry["parsed"] = None
        return entries


def run_with_fault(folder: Path, charger_id: str, fault: str, tests: list[str],
                   ocpp_version: str = "2.0.1", time_scale: float = 10.0,
                   timeout_s: float = 240,
                   extra: list[ChargerEntry] | None = None) -> ChargerRun:
    """`testbench run` of ``tests`` (node ids relative to suites/ocpp, or absolute paths;
    run in that order) on a lab with one charger ``charger_id`` having ``fault`` (and the
    ``extra`` chargers) and one EV."""
    chargers = [ChargerEntry(charger_id, ocpp_version, (fault,)), *(extra or [])]
    lab = write_lab(folder / "lab.toml", chargers, [EV], time_scale=time_scale,
                    name=f"robustness-{fault}")
    proc = subprocess.run(
        [sys.executable, "-m", "testbench.cli", "run", "--lab", str(lab), "--unattended",
         *[str(OCPP_SUITE / t) for t in tests]],
        capture_output=True, text=True, check=False, timeout=timeout_s, cwd=folder,
        env={**os.environ, "CI": "1", "COLUMNS": "160"})
    output = proc.stdout + proc.stderr
    runs = sorted(p for p in (folder / "reports" / "runs").glob("*") if p.is_dir())
    assert len(runs) == 1, f"expected one run folder, got {runs}; output:\n{output[-3000:]}"
    return ChargerRun(proc.returncode, output, runs[0])
