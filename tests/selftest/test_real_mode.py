"""Real mode: only the central system starts; missing chargers are named; operator steps skip.

Any OCPP charger must work, so the "real" charger here is the simulated lab's charger
program started on its own (as a vendor's charger would connect), not by the bench.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labgen import BASE_CHARGERS, EVS, free_port


def _real_lab(tmp_path: Path, port: int, connect_timeout_s: float = 30.0) -> Path:
    charger = BASE_CHARGERS["2.0.1"]
    ev = EVS["ev-saloon"]
    lines = ["[lab]", 'name = "real-lab"', 'mode = "real"', "time_scale = 1.0",
             f'output_dir = "{tmp_path / "reports"}"', "operator_timeout_s = 5", "",
             "[csms]", 'host = "127.0.0.1"', f"port = {port}", f"connect_timeout_s = {connect_timeout_s}",
             "heartbeat_interval_s = 60", "",
             "[[chargers]]", 'id = "bench-charger-1"', 'ocpp_version = "2.0.1"']
    lines += [f'{k} = {v!r}'.replace("'", '"') for k, v in charger.items()]
    lines += ["", "[[evs]]", 'id = "ev-saloon"']
    lines += [f'{k} = {v!r}'.replace("'", '"') for k, v in ev.items()]
    lines += ["", "[[stations]]", 'id = "bay-real"', 'chargers = ["bench-charger-1"]', 'evs = ["ev-saloon"]', ""]
    path = tmp_path / "lab.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_missing_charger_is_named(tmp_path: Path, testbench_cli):
    lab = _real_lab(tmp_path, free_port(), connect_timeout_s=2.0)
    result = testbench_cli("run", "--lab", str(lab), "--unattended", timeout_s=120)
    assert result.exit_code == 2, result.output[-2000:]
    assert "bench-charger-1" in result.output and "Traceback" not in result.output


def test_real_lab_runs_the_same_suites_and_skips_operator_steps(tmp_path: Path, testbench_cli):
    port = free_port()
    lab = _real_lab(tmp_path, port)
    # "A vendor's charger": the simulated charger program, started independently of the bench.
    charger = subprocess.Popen([sys.executable, "-m", "testbench.sim", "--lab", str(lab),
                                "--csms-url", f"ws://127.0.0.1:{port}/ocpp"],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        result = testbench_cli("run", "--lab", str(lab), "--unattended",
                               "-k", "heartbeat or reset or availability or status", timeout_s=300)
    finally:
        charger.terminate()
        charger.wait(10)
    verdicts = {r["name"]: r for r in result.records()}
    assert verdicts["test_heartbeat_interval_honoured"]["verdict"] == "passed", result.output[-3000:]
    assert verdicts["test_change_availability"]["verdict"] == "passed"
    assert verdicts["test_reset_reboots"]["verdict"] == "passed"
    skipped = verdicts["test_status_on_plug_in_and_out"]
    assert skipped["verdict"] == "skipped"
    assert "operator" in skipped["message"] and "plug" in skipped["message"]
    assert result.exit_code == 0, result.output[-2000:]
