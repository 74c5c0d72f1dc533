"""Helpers for self-tests that run `testbench run` as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class RunResult:
    exit_code: int
    output: str
    reports: Path

    def records(self) -> list[dict]:
        journals = sorted((self.reports / "runs").glob("*/journal.jsonl"))
        assert journals, f"no journal written; output:\n{self.output[-3000:]}"
        lines = journals[-1].read_text(encoding="utf-8").splitlines()
        return [r for r in map(json.loads, lines) if r.get("type", "result") == "result"]

    def verdicts(self) -> dict[tuple[str, str, str], dict]:
        """(charger, ev, test name) -> record."""
        return {(r["charger"], r["ev"], r["name"]): r for r in self.records()}

    def matrix(self) -> dict:
        return json.loads((self.reports / "matrix.json").read_text(encoding="utf-8"))


def run_testbench(*args: str, timeout_s: float = 600, cwd: Path | None = None) -> RunResult:
    """Run the `testbench` command in a subprocess (as a user would) and collect its results."""
    lab = Path(args[args.index("--lab") + 1]) if "--lab" in args else Path("lab.toml")
    env = {**os.environ, "CI": "1", "COLUMNS": "160"}
    proc = subprocess.run([sys.executable, "-m", "testbench.cli", *args], capture_output=True,
                          text=True, timeout=timeout_s, env=env, cwd=cwd)
    return RunResult(proc.returncode, proc.stdout + proc.stderr, lab.parent / "reports")


@pytest.fixture
def testbench_cli():
    return run_testbench
