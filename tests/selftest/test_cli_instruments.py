"""`testbench instruments`: every instrument identified, an unreachable one shown as such."""

from __future__ import annotations

from pathlib import Path

from labgen import default_lab_text

from testbench.lab.loader import load_lab

REPO = Path(__file__).resolve().parents[2]


def _lab(tmp_path: Path, silent_analyzer: bool = False) -> Path:
    text = default_lab_text(tmp_path / "reports")
    if silent_analyzer:
        # the first power analyser stops answering (a simulated instrument fault)
        old = 'options = { point = "output" }'
        text = text.replace(old, 'options = { point = "output", sim_fault = "silent" }\n'
                            '  timeout_s = 1.0', 1)
    path = tmp_path / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _physical_instruments() -> int:
    """Instruments of the default lab counted once per (driver, resource)."""
    lab = load_lab(REPO / "lab.toml")
    return len({(i.driver, i.resource) for s in lab.stations.values() for i in s.instruments})


def test_every_instrument_identifies_itself(tmp_path: Path, testbench_cli):
    result = testbench_cli("instruments", "--lab", str(_lab(tmp_path)), timeout_s=120)
    assert result.exit_code == 0, result.output[-3000:]
    assert f"all {_physical_instruments()} instrument(s) answered" in result.output
    assert "SIM-EVIO" in result.output and "YOKOGAWA" in result.output.upper()


def test_unreachable_instrument_is_shown_as_such(tmp_path: Path, testbench_cli):
    lab = _lab(tmp_path, silent_analyzer=True)
    assert "timeout_s = 1.0" in lab.read_text()
    result = testbench_cli("instruments", "--lab", str(lab), timeout_s=120)
    assert result.exit_code == 1, result.output[-3000:]
    assert "unreachable" in result.output and f"1 of {_physical_instruments()}" in result.output
    assert "Traceback" not in result.output
