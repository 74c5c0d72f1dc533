"""`testbench instruments`: every instrument identified, an unreachable one shown as such."""

from __future__ import annotations

import re
from pathlib import Path

from labgen import free_port

REPO = Path(__file__).resolve().parents[2]


def _lab(tmp_path: Path, silent_analyzer: bool = False) -> Path:
    text = (REPO / "lab.toml").read_text(encoding="utf-8")
    for old in set(re.findall(r"TCPIP::127\.0\.0\.1::(\d+)::SOCKET", text)):
        text = text.replace(f"::{old}::", f"::{free_port()}::")
    text = text.replace('output_dir = "reports"', f'output_dir = "{tmp_path / "reports"}"')
    if silent_analyzer:
        # the first power analyser stops answering (a simulated instrument fault)
        old = 'options = { point = "output" }'
        text = text.replace(old, 'options = { point = "output", sim_fault = "silent" }\n'
                            '  timeout_s = 1.0', 1)
    path = tmp_path / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_instrument_identifies_itself(tmp_path: Path, testbench_cli):
    result = testbench_cli("instruments", "--lab", str(_lab(tmp_path)), timeout_s=120)
    assert result.exit_code == 0, result.output[-3000:]
    assert "all 6 instrument(s) answered" in result.output
    assert "SIM-EVIO" in result.output and "YOKOGAWA" in result.output.upper()


def test_unreachable_instrument_is_shown_as_such(tmp_path: Path, testbench_cli):
    lab = _lab(tmp_path, silent_analyzer=True)
    assert "timeout_s = 1.0" in lab.read_text()
    result = testbench_cli("instruments", "--lab", str(lab), timeout_s=120)
    assert result.exit_code == 1, result.output[-3000:]
    assert "unreachable" in result.output and "1 of 6" in result.output
    assert "Traceback" not in result.output
