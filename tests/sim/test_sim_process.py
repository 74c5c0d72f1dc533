"""The simulated lab as a process: READY/ERROR lines, reconnection, clean exit."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sim_harness import ChargerDef, LabDef, SimProcess, TestCsms, write_lab

from testbench.clock import LabClock
from testbench.lab.ports import unused_port
from testbench.sim import main

SCALE = 40.0


def free_port() -> int:
    """A loopback port free now and not yet given to another instrument of this process."""
    return unused_port()


def start(tmp_path: Path, url: str, chargers: list[ChargerDef], epoch: float) -> SimProcess:
    lab = write_lab(tmp_path / "lab.toml", LabDef(chargers, time_scale=SCALE))
    return SimProcess(lab, url, epoch, tmp_path / "sim.log")


def test_busy_port_is_reported_with_instrument_and_fix(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        sim = start(tmp_path, "ws://127.0.0.1:9/ocpp", [ChargerDef("cp-busy", "1.6", port=port)],
                    time.time())
        try:
            line = sim.read_line()
            assert sim.proc.wait(10) == 2
        finally:
            sim.stop()
    assert line.startswith("SIM ERROR ")
    assert "'evio-cp-busy'" in line and str(port) in line and "fix:" in line


def test_bad_lab_is_a_sim_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lab", str(tmp_path / "missing.toml"), "--csms-url", "ws://x/ocpp"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("SIM ERROR ") and "missing.toml" in out and out.count("\n") == 1


def test_reconnects_when_refused_or_dropped_and_exits_on_stdin_eof(tmp_path: Path) -> None:
    port = free_port()
    clock = LabClock(scale=SCALE, epoch=time.time())
    sim = start(tmp_path, f"ws://127.0.0.1:{port}/ocpp", [ChargerDef("cp-1", "2.0.1")],
                clock.epoch)
    csms = None
    try:
        assert sim.ready()["instruments"].keys() == {"evio-cp-1"}
        time.sleep(0.6)  # connection refused meanwhile: the charger keeps retrying
        csms = TestCsms(clock, port=port)
        first = csms.wait("cp-1", "BootNotification", timeout_s=15)
        assert first.payload["reason"] == "PowerUp"
        csms.wait("cp-1", "StatusNotification")
        mark = csms.mark()
        csms.drop("cp-1")
        again = csms.wait("cp-1", "BootNotification", since=mark, timeout_s=15)
        assert again.payload["reason"] != "PowerUp"
        csms.wait_connected("cp-1", after_wall_s=first.wall_s)

        sim.close_stdin()
        assert sim.proc.wait(10) == 0
        deadline = time.monotonic() + 5
        while not csms.links["cp-1"].closed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert csms.links["cp-1"].closed
        assert "Traceback" not in sim.log()
    finally:
        sim.stop()
        if csms is not None:
            csms.close()


def test_sigterm_exits_cleanly(tmp_path: Path) -> None:
    sim = start(tmp_path, "ws://127.0.0.1:9/ocpp", [ChargerDef("cp-t", "2.1")], time.time())
    try:
        sim.ready()
        sim.terminate()
        assert sim.proc.wait(10) == 0
    finally:
        sim.stop()
    assert "Traceback" not in sim.log()
