"""The grid-code suites run on the default lab: its bidirectional charger gridline-bx7 is fed
by a simulated grid emulator that the bench energises before the first test and leaves off
at the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labgen import default_lab_text

REPO = Path(__file__).resolve().parents[2]
SUBSET = "test_lfsm_o and discharging-100pct or f-over-2"
PAIR = ("gridline-bx7", "ev-van")


def default_lab_copy(folder: Path) -> Path:
    """lab.toml with every instrument port replaced by a free one (same port, same new
    port) and its reports in ``folder``."""
    text = default_lab_text(folder / "reports")
    lab = folder / "lab.toml"
    lab.write_text(text, encoding="utf-8")
    return lab


def test_default_lab_has_a_grid_emulator_for_its_bidirectional_charger() -> None:
    text = (REPO / "lab.toml").read_text(encoding="utf-8")
    block = text[text.index('name = "grid-gridline"'):]
    assert 'role = "grid_emulator"' in block[:300] and 'charger = "gridline-bx7"' in block[:400]


@pytest.mark.slow
def test_gridcode_suites_run_on_the_default_lab(tmp_path: Path, testbench_cli) -> None:
    lab = default_lab_copy(tmp_path)
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", SUBSET,
                           str(REPO / "suites" / "gridcode"), timeout_s=600)
    verdicts = {(c, e, n): r["verdict"] for (c, e, n), r in result.verdicts().items()
                if (c, e) == PAIR}
    assert verdicts, result.output[-3000:]
    assert set(verdicts.values()) == {"passed"}, result.output[-3000:]
    assert len(verdicts) == 2
    # the emulator was energised during the run and is off at the end
    final = json.loads(next((tmp_path / "reports" / "runs").glob("*/sim-final-state.json"))
                       .read_text(encoding="utf-8"))
    grid = [t for t in final["twins"] if t["kind"] == "grid_emulator"]
    assert [t["instruments"] for t in grid] == [["grid-gridline"]]
    assert grid[0]["ever_energised"] is True and grid[0]["energised"] is False
