"""`testbench run` as a user meets it: bad input, busy ports, Ctrl-C, a fault in a lab copy."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from labgen import default_lab_text

REPO = Path(__file__).resolve().parents[2]


def _lab_copy(tmp_path: Path, fault_on: str | None = None, fault: str | None = None,
              csms_port: int | None = None) -> Path:
    """The default lab.toml, on free ports, writing into tmp_path/reports, with an optional fault."""
    text = default_lab_text(tmp_path / "reports")
    if csms_port is not None:
        text = re.sub(r"(?m)^port = 0", f"port = {csms_port}", text)
    if fault_on:
        block = f'id = "{fault_on}"'
        start = text.index(block)
        end = text.index("faults = []", start)
        text = text[:end] + f'faults = ["{fault}"]' + text[end + len("faults = []"):]
    path = tmp_path / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_one_fault_in_a_copy_of_the_lab_fails_exactly_its_cells(tmp_path: Path, testbench_cli):
    lab = _lab_copy(tmp_path, fault_on="voltiq-w22", fault="ignores-remote-stop")
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", "remote or status")
    assert result.exit_code == 1, result.output[-3000:]
    matrix = result.matrix()
    worst = {(c["ev"], c["charger"]): c["worst"] for c in matrix["cells"]}
    assert len(worst) == 9
    for (ev, charger), verdict in worst.items():
        assert verdict == ("failed" if charger == "voltiq-w22" else "passed"), (ev, charger, verdict)
    failing = [r for r in result.records() if r["verdict"] == "failed"]
    assert {r["name"] for r in failing} == {"test_remote_start_and_stop"}
    assert all("transaction" in r["message"].lower() for r in failing), failing[0]["message"]
    assert "voltiq-w22" in result.output and "failed" in result.output.lower()


def test_malformed_lab_is_a_usage_error_naming_file_table_and_key(tmp_path: Path, testbench_cli):
    lab = _lab_copy(tmp_path)
    lab.write_text(lab.read_text(encoding="utf-8").replace("time_scale = 10.0", 'time_scale = "fast"'),
                   encoding="utf-8")
    result = testbench_cli("run", "--lab", str(lab))
    assert result.exit_code == 2
    assert str(lab) in result.output and "time_scale" in result.output and "[lab]" in result.output
    assert "Traceback" not in result.output


def test_toml_syntax_error_names_the_line(tmp_path: Path, testbench_cli):
    lab = tmp_path / "lab.toml"
    lab.write_text('[lab]\nname = "x\n', encoding="utf-8")
    result = testbench_cli("run", "--lab", str(lab))
    assert result.exit_code == 2 and "line 2" in result.output and "Traceback" not in result.output


def test_unknown_charger_is_a_usage_error(tmp_path: Path, testbench_cli):
    lab = _lab_copy(tmp_path)
    result = testbench_cli("run", "--lab", str(lab), "--charger", "no-such-charger")
    assert result.exit_code == 2
    assert "no-such-charger" in result.output and "voltiq-w22" in result.output
    assert "Traceback" not in result.output


def test_busy_csms_port_is_a_clear_usage_error(tmp_path: Path, testbench_cli):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        lab = _lab_copy(tmp_path, csms_port=port)
        result = testbench_cli("run", "--lab", str(lab), "--unattended", timeout_s=120)
    assert result.exit_code == 2, result.output[-2000:]
    assert str(port) in result.output and "in use" in result.output
    assert "Traceback" not in result.output


def test_busy_instrument_port_is_a_clear_usage_error(tmp_path: Path, testbench_cli):
    lab = _lab_copy(tmp_path)
    port = int(re.findall(r"TCPIP::127\.0\.0\.1::(\d+)::SOCKET", lab.read_text())[0])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = testbench_cli("run", "--lab", str(lab), "--unattended", timeout_s=120)
    assert result.exit_code == 2, result.output[-2000:]
    assert str(port) in result.output and "Traceback" not in result.output


def _run_and_interrupt(tmp_path: Path, sig: int) -> tuple[int, str, Path, Path]:
    lab = _lab_copy(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "testbench.cli", "run", "--lab", str(lab),
                             "--unattended"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "CI": "1"})
    deadline = time.monotonic() + 120
    journal = None
    while time.monotonic() < deadline:
        journals = list((tmp_path / "reports" / "runs").glob("*/journal.jsonl"))
        if journals and len(journals[0].read_text().splitlines()) >= 4:  # run line + 3 verdicts
            journal = journals[0]
            break
        time.sleep(0.2)
    assert journal is not None, "no verdicts within 120 s"
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    return proc.returncode, output, journal, lab


def _twin_ports(lab: Path) -> set[int]:
    return {int(p) for p in re.findall(r"TCPIP::127\.0\.0\.1::(\d+)::SOCKET", lab.read_text())}


def _assert_interrupted_cleanly(code: int, output: str, journal: Path, lab: Path) -> None:
    assert code == 130, output[-2000:]
    assert "interrupted" in output.lower() and "Traceback" not in output
    lines = journal.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # every line complete JSON
    verdicts = [r for r in records if r.get("type", "result") == "result"]
    assert len(verdicts) >= 3
    assert records[-1].get("type") == "end"
    # the simulated lab is gone: its twin ports are free again (instruments safe, nothing left running)
    for port in _twin_ports(lab):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"twin port {port} still served"


def test_ctrl_c_keeps_every_verdict_and_stops_the_simulated_lab(tmp_path: Path):
    _assert_interrupted_cleanly(*_run_and_interrupt(tmp_path, signal.SIGINT))


def test_sigterm_keeps_every_verdict_and_stops_the_simulated_lab(tmp_path: Path):
    _assert_interrupted_cleanly(*_run_and_interrupt(tmp_path, signal.SIGTERM))


def test_resume_runs_only_what_has_no_verdict(tmp_path: Path, testbench_cli):
    lab = _lab_copy(tmp_path)
    selection = ["-k", "heartbeat or change_availability"]
    proc = subprocess.Popen([sys.executable, "-m", "testbench.cli", "run", "--lab", str(lab),
                             "--unattended", *selection], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "CI": "1"})
    deadline = time.monotonic() + 120
    first = None
    while time.monotonic() < deadline and first is None:
        journals = list((tmp_path / "reports" / "runs").glob("*/journal.jsonl"))
        if journals and len(journals[0].read_text().splitlines()) >= 4:
            first = journals[0]
        time.sleep(0.1)
    assert first is not None
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    run_id = first.parent.name
    done_before = {json.loads(line)["test_id"] for line in first.read_text().splitlines()
                   if json.loads(line).get("type") == "result"}
    assert 3 <= len(done_before) < 18

    result = testbench_cli("run", "--lab", str(lab), "--unattended", "--resume", run_id, *selection)
    assert result.exit_code == 0, result.output[-3000:]
    second = [j for j in (tmp_path / "reports" / "runs").glob("*/journal.jsonl") if j != first][0]
    lines = [json.loads(line) for line in second.read_text().splitlines()]
    assert lines[0]["resumed_from"] == run_id
    done_after = {r["test_id"] for r in lines if r.get("type") == "result"}
    assert not done_before & done_after, "resume re-ran tests that already had a verdict"
    assert len(done_before | done_after) == 18
    assert sum(c["total"] for c in result.matrix()["cells"]) == 18


def test_resume_of_an_unknown_run_is_a_usage_error(tmp_path: Path, testbench_cli):
    lab = _lab_copy(tmp_path)
    result = testbench_cli("run", "--lab", str(lab), "--resume", "20990101-000000-dead")
    assert result.exit_code == 2 and "20990101-000000-dead" in result.output
