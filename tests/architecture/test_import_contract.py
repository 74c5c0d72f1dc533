"""The simulated lab is reached only over the wire: nothing else imports its internals."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import instruments
import testbench

REPO = Path(__file__).resolve().parents[2]
SIM_SIDE = {"testbench.sim", "instruments.twins"}


def _contract() -> dict:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"][0]


def test_contract_covers_every_module_outside_the_sim():
    sources = set(_contract()["source_modules"])
    for package in (testbench, instruments):
        for module in pkgutil.iter_modules(package.__path__, prefix=package.__name__ + "."):
            if module.name in SIM_SIDE:
                continue
            assert module.name in sources, (
                f"{module.name} is not in the import contract's source_modules (pyproject.toml)")
    assert set(_contract()["forbidden_modules"]) == SIM_SIDE


def test_import_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
