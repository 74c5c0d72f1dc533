"""EV-side twins hosted by the simulated lab (cp-serial, ccs-can) and the station site load.

One simulated lab process (with ``--state-file``) for the module, reached only over the wire:
the serial CP simulator plugs into a 2.0.1 charger, the CCS CAN controller (over socketcand)
into a 1.6 charger, each driven through its real driver; the station I/O box and the OCPP
trace confirm what the charger's connector saw. A site analyser measures the station's
``[stations.site]`` household load minus PV.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sim_harness import (
    REPO,
    Scpi,
    SimProcess,
    TestCsms,
    remote_start,
    wait_charging,
    wait_ended,
    wait_for_status,
)
from test_sim_hosted_twins import _value

from instruments.registry import get_driver
from testbench.clock import LabClock
from testbench.lab.loader import load_lab
from testbench.lab.model import InstrumentSpec, SafetyLimits
from testbench.sim.hosting import SimSetupError, plan_hosted

SCALE = 20.0
EV = {"id": "ev-3ph", "phases": 3, "min_current_a": 6.0, "max_current_a": 16.0}
HOUSEHOLD_W, PV_W = 3000.0, 1200.0
WAIT_S = 15.0

STATIONS: dict[str, dict[str, Any]] = {
    "serial-bay": {"charger": ("s-201", "2.0.1"),
                   "site": {"household_load_w": HOUSEHOLD_W, "pv_peak_w": PV_W},
                   "instruments": [
                       {"name": "cp", "role": "cp_box", "driver": "cp-serial",
                        "resource": "socket://127.0.0.1:0"},
                       {"name": "wt-site", "role": "site_analyzer", "driver": "yokogawa-wt",
                        "resource": "TCPIP::127.0.0.1::0::SOCKET",
                        "options": {"point": "site"}},
                   ]},
    "can-bay": {"charger": ("c-16", "1.6"), "instruments": [
        {"name": "ccs", "role": "ccs_controller", "driver": "ccs-can",
         "resource": "vcan0@127.0.0.1:0", "options": {"interface": "socketcand"}},
    ]},
}


def write_lab(path: Path, stations: dict[str, dict[str, Any]] | None = None) -> Path:
    stations = STATIONS if stations is None else stations
    lines = ["[lab]", 'name = "hosted-ev-side"', 'mode = "sim"', f"time_scale = {SCALE}", ""]
    for station in stations.values():
        cid, version = station["charger"]
        lines += ["[[chargers]]", f"id = {_value(cid)}", 'vendor = "Testco"', 'model = "M"',
                  'firmware = "1.0"', f"ocpp_version = {_value(version)}", "phases = 3",
                  "max_current_a = 16.0", ""]
    lines += ["[[evs]]", f"id = {_value(EV['id'])}", 'make = "m"', 'model = "x"',
              'software = "1"', f"phases = {EV['phases']}",
              f"min_current_a = {EV['min_current_a']}", f"max_current_a = {EV['max_current_a']}",
              ""]
    for sid, station in stations.items():
        cid = station["charger"][0]
        lines += ["[[stations]]", f"id = {_value(sid)}", f"chargers = [{_value(cid)}]",
                  f"evs = [{_value(EV['id'])}]", ""]
        if "site" in station:
            lines.append("  [stations.site]")
            lines += [f"  {k} = {_value(v)}" for k, v in station["site"].items()]
            lines.append("")
        instruments = [{"name": f"evio-{cid}", "role": "ev_emulator",
                        "driver": "sim-ev-emulator",
                        "resource": "TCPIP::127.0.0.1::0::SOCKET"}] + station["instruments"]
        for inst in instruments:
            lines.append("  [[stations.instruments]]")
            lines += [f"  {k} = {_value(v)}" for k, v in inst.items()]
            lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclass
class Lab:
    csms: TestCsms
    sim: SimProcess
    ready: dict[str, Any]
    state_file: Path
    drivers: dict[str, Any]

    def driver(self, name: str) -> Any:
        """The real driver of instrument ``name``, on the port its twin got."""
        if name not in self.drivers:
            inst = next(i for st in STATIONS.values() for i in st["instruments"]
                        if i["name"] == name)
            port = self.ready["instruments"][name]
            resource = {"cp-serial": f"socket://127.0.0.1:{port}",
                        "ccs-can": f"vcan0@127.0.0.1:{port}"}.get(
                inst["driver"], f"TCPIP::127.0.0.1::{port}::SOCKET")
            spec = InstrumentSpec(**{**inst, "resource": resource, "timeout_s": 5.0})
            self.drivers[name] = get_driver(spec.driver)(spec, SafetyLimits())
        return self.drivers[name]

    def box(self, charger: str) -> Scpi:
        return Scpi(self.ready["instruments"][f"evio-{charger}"])


def _start(path: Path, url: str, clock: LabClock, folder: Path, state_file: Path) -> SimProcess:
    """The harness's SimProcess, started with ``--state-file``."""
    sim = SimProcess.__new__(SimProcess)
    sim.log_path = folder / "sim.log"
    sim._log = open(sim.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by stop()
    sim.proc = subprocess.Popen(
        [sys.executable, "-m", "testbench.sim", "--lab", str(path), "--csms-url", url,
         "--epoch", repr(clock.epoch), "--state-file", str(state_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sim._log, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"})
    sim.first_line = ""
    return sim


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("ev-side")
    path = write_lab(folder / "lab.toml")
    clock = LabClock(scale=SCALE, epoch=time.time())
    csms = TestCsms(clock)
    state_file = folder / "state.json"
    sim = _start(path, csms.url, clock, folder, state_file)
    running = None
    try:
        running = Lab(csms, sim, sim.ready(), state_file, {})
        yield running
    finally:
        for driver in (running.drivers.values() if running else ()):
            with contextlib.suppress(Exception):
                driver.close()
        sim.stop()
        csms.close()


def eventually(check: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def test_ready_line_names_the_ev_side_twins(lab: Lab) -> None:
    ports = lab.ready["instruments"]
    assert {"cp", "ccs", "wt-site"} <= set(ports)
    assert f"socket://127.0.0.1:{ports['cp']}" in lab.ready["twins"]
    assert f"vcan0@127.0.0.1:{ports['ccs']}" in lab.ready["twins"]
    assert lab.driver("cp").identify().model == "SIM-CP-SERIAL"


def test_site_analyser_measures_household_load_minus_pv(lab: Lab) -> None:
    site = lab.driver("wt-site")
    site.set_update_interval_s(0.1)
    reading = site.wait_fresh(5.0)
    assert reading.power_w == pytest.approx(HOUSEHOLD_W - PV_W, rel=0.05)
    assert reading.voltage_v > 200.0  # a stiff supply: the station's node is live


def test_serial_cp_twin_drives_the_chargers_connector(lab: Lab) -> None:
    charger = "s-201"
    wait_for_status(lab.csms, charger, "Available", timeout_s=20)
    cp, box = lab.driver("cp"), lab.box(charger)
    try:
        mark = lab.csms.mark()
        cp.set_cp_state("B")
        assert cp.cp_state() == "B1" and cp.duty_cycle_pct() == 100.0
        assert box.query("CP:STAT?") == "B1"
        wait_for_status(lab.csms, charger, "Occupied", since=mark)
        assert remote_start(lab.csms, charger, "SERIAL-1") == "Accepted"
        eventually(lambda: cp.cp_state() == "B2", "PWM on after the remote start")
        assert cp.duty_cycle_pct() == pytest.approx(16.0 / 0.6, abs=0.2)  # 16 A offered
        assert box.query("CP:STAT?") == "B2"
        cp.set_cp_state("C")
        wait_charging(lab.csms, charger, since=mark)
        assert box.query("CP:STAT?") == "C2"
        time.sleep(3.0 / SCALE * 2)
        site = lab.driver("wt-site")
        site.set_update_interval_s(0.1)
        eventually(lambda: site.wait_fresh(5.0).power_w > HOUSEHOLD_W - PV_W + 5000.0,
                   "the site analyser sees the charging EV on top of the household load")
        cp.set_cp_state("A")
        wait_ended(lab.csms, charger, since=mark)
        eventually(lambda: box.query("CP:STAT?") == "A1", "the connector unplugged")
        assert cp.cp_state() == "A1"
    finally:
        box.close()


def test_ccs_can_twin_drives_the_chargers_connector(lab: Lab) -> None:
    charger = "c-16"
    wait_for_status(lab.csms, charger, "Available", timeout_s=20)
    ccs, box = lab.driver("ccs"), lab.box(charger)
    try:
        mark = lab.csms.mark()
        ccs.set_cp_state("B")
        assert ccs.cp_state() == "B1" and ccs.plug_status().plugged
        assert box.query("CP:STAT?") == "B1"
        wait_for_status(lab.csms, charger, "Preparing", since=mark)
        assert remote_start(lab.csms, charger, "CAN-1") == "Accepted"
        eventually(lambda: ccs.cp_state() == "B2", "PWM on after the remote start")
        assert ccs.duty_cycle_pct() == pytest.approx(16.0 / 0.6, abs=0.2)
        ccs.set_cp_state("C")
        wait_charging(lab.csms, charger, since=mark)
        assert box.query("CP:STAT?") == "C2"
        ccs.safe_state()
        wait_ended(lab.csms, charger, since=mark)
        eventually(lambda: box.query("CP:STAT?") == "A1", "the connector unplugged")
        assert ccs.cp_state() == "A1"
        wait_for_status(lab.csms, charger, "Available", since=mark)
    finally:
        box.close()


def test_safe_state_file_lists_the_ev_side_twins_unplugged(lab: Lab) -> None:
    cp, ccs = lab.driver("cp"), lab.driver("ccs")
    mark = lab.csms.mark()
    cp.set_cp_state("B")  # left plugged, then made safe through the driver
    wait_for_status(lab.csms, "s-201", "Occupied", since=mark)
    cp.safe_state()
    ccs.safe_state()
    wait_for_status(lab.csms, "s-201", "Available", since=mark)
    # Let the charger's OCPP exchange settle: a link cancelled mid-exchange can hold the
    # process in the websocket closing handshake (see the report).
    time.sleep(0.5)
    lab.sim.terminate()
    try:
        code = lab.sim.proc.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the simulated lab did not stop; log:\n{lab.sim.log()}") from None
    assert code == 0, lab.sim.log()
    state = json.loads(lab.state_file.read_text(encoding="utf-8"))
    twins = {twin["instruments"][0]: twin for twin in state["twins"]}
    assert {"cp", "ccs", "wt-site", "evio-s-201", "evio-c-16"} <= set(twins)
    assert state["energised"] == []
    for name, driver in (("cp", "cp-serial"), ("ccs", "ccs-can")):
        twin = twins[name]
        assert twin["driver"] == driver
        assert not twin["energised"] and twin["ever_energised"], twin
        assert twin["state"]["ev_state"] == "A" and twin["state"]["pilot"].startswith("A")
        assert twin["received"], twin
    assert twins["cp"]["state"]["charger"] == "s-201"
    assert twins["ccs"]["state"]["charger"] == "c-16"
    assert "B" in twins["cp"]["received"] and twins["cp"]["received"][-1] == "A"


@pytest.mark.parametrize(("inst", "words"), [
    ({"driver": "ccs-can", "resource": "vcan0@127.0.0.1:0"}, ["'ccs'", "socketcand", "fix:"]),
    ({"driver": "ccs-can", "resource": "can0", "options": {"interface": "socketcand"}},
     ["'ccs'", "'can0'", "vcan0@127.0.0.1:<port>"]),
    ({"driver": "cp-serial", "resource": "/dev/ttyUSB0"},
     ["'ccs'", "socket://127.0.0.1:<port>"]),
    ({"driver": "cp-serial", "resource": "socket://127.0.0.1:0",
      "options": {"sim_fault": "error-queue"}}, ["'ccs'", "sim_fault", "disconnect"]),
    ({"driver": "cp-serial", "resource": "socket://127.0.0.1:0", "options": {"ev": "ev-x"}},
     ["'ccs'", "options.ev", "ev-3ph"]),
])
def test_unservable_ev_side_instruments_are_refused_with_a_fix(
        tmp_path: Path, inst: dict[str, Any], words: list[str]) -> None:
    stations = {"bay": {"charger": ("b-201", "2.0.1"), "instruments": [
        {"name": "ccs", "role": "ev_side", **inst}]}}
    lab = load_lab(write_lab(tmp_path / "lab.toml", stations))
    with pytest.raises(SimSetupError) as caught:
        plan_hosted(lab)
    for text in words:
        assert text in str(caught.value), (text, str(caught.value))
