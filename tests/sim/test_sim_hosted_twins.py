"""Instrument twins hosted by the simulated lab, reached over the wire through the real drivers.

One simulated lab process for the module: power analysers on a charger's outlet, supply and
station, a grid emulator feeding a station, DC sources, relay boxes, and instruments with
fault personalities. Short-lived processes check the safe-state file and the SIM ERROR lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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
    sampled,
    wait_charging,
    wait_ended,
    wait_for_status,
    wait_started,
)

from instruments.registry import get_driver
from testbench.clock import LabClock
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

SCALE = 20.0
EV = {"id": "ev-3ph", "phases": 3, "min_current_a": 6.0, "max_current_a": 16.0}
MODBUS = ("cinergia-geel", "ea-psb-modbus", "modbus-relay")


# --------------------------------------------------------------------------- lab file
def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def write_lab(path: Path, stations: dict[str, dict[str, Any]]) -> Path:
    """``stations``: id -> {"charger": (id, version), "instruments": [dict, ...]}."""
    lines = ["[lab]", 'name = "hosted-twins"', 'mode = "sim"', f"time_scale = {SCALE}", ""]
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
        instruments = [{"name": f"evio-{cid}", "role": "ev_emulator",
                        "driver": "sim-ev-emulator",
                        "resource": "TCPIP::127.0.0.1::0::SOCKET"}] + station["instruments"]
        for inst in instruments:
            lines.append("  [[stations.instruments]]")
            lines += [f"  {k} = {_value(v)}" for k, v in inst.items()]
            lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def scpi(name: str, role: str, driver: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "role": role, "driver": driver,
            "resource": "TCPIP::127.0.0.1::0::SOCKET", **extra}


def modbus(name: str, role: str, driver: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "role": role, "driver": driver, "resource": "127.0.0.1:0", **extra}


STATIONS: dict[str, dict[str, Any]] = {
    "bay": {"charger": ("m-201", "2.0.1"), "instruments": [
        scpi("wt", "power_analyzer", "yokogawa-wt"),
        scpi("lmg", "supply_analyzer", "zes-lmg600", options={"point": "input"}),
        modbus("relays", "relay_box", "modbus-relay", options={"channels": 4}),
        scpi("psb", "dc_source", "ea-psb-scpi"),
        scpi("rp", "dc_source_2", "keysight-rp7900"),
        modbus("psbm", "dc_source_3", "ea-psb-modbus"),
        scpi("wt-garbage", "faulty_1", "yokogawa-wt", options={"sim_fault": "garbage"}),
        scpi("wt-silent", "faulty_2", "yokogawa-wt", timeout_s=0.5,
             options={"sim_fault": "silent"}),
        scpi("psb-errq", "faulty_3", "ea-psb-scpi", options={"sim_fault": "error-queue"}),
        scpi("wt-drop", "faulty_4", "yokogawa-wt", timeout_s=0.5,
             options={"sim_fault": "disconnect"}),
        modbus("relays-exc", "faulty_5", "modbus-relay", options={"sim_fault": "error-queue"}),
    ]},
    "grid-bay": {"charger": ("g-16", "1.6"), "instruments": [
        scpi("chroma", "grid_emulator", "chroma-61800"),
        scpi("wt-site", "site_analyzer", "yokogawa-wt", options={"point": "site"}),
    ]},
    "ametek-bay": {"charger": ("a-21", "2.1"), "instruments": [
        scpi("ametek", "grid_emulator", "ametek-rsmx", charger="a-21"),
    ]},
    "cinergia-bay": {"charger": ("x-201", "2.0.1"), "instruments": [
        modbus("cinergia", "grid_emulator", "cinergia-geel"),
    ]},
}


@dataclass
class Lab:
    csms: TestCsms
    sim: SimProcess
    clock: LabClock
    ready: dict[str, Any]
    drivers: dict[str, Any]

    def driver(self, name: str) -> Any:
        """The real driver of instrument ``name``, on the port its twin got."""
        if name not in self.drivers:
            spec = next(InstrumentSpec(**inst) for st in STATIONS.values()
                        for inst in st["instruments"] if inst["name"] == name)
            port = self.ready["instruments"][name]
            resource = (f"127.0.0.1:{port}" if spec.driver in MODBUS
                        else f"TCPIP::127.0.0.1::{port}::SOCKET")
            spec = InstrumentSpec(**{**spec.__dict__, "resource": resource})
            self.drivers[name] = get_driver(spec.driver)(spec, SafetyLimits())
        return self.drivers[name]

    def box(self, charger: str) -> Scpi:
        return Scpi(self.ready["instruments"][f"evio-{charger}"])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("hosted")
    path = write_lab(folder / "lab.toml", STATIONS)
    clock = LabClock(scale=SCALE, epoch=time.time())
    csms = TestCsms(clock)
    sim = SimProcess(path, csms.url, clock.epoch, folder / "sim.log")
    running = None
    try:
        running = Lab(csms, sim, clock, sim.ready(), {})
        yield running
    finally:
        for driver in (running.drivers.values() if running else ()):
            with contextlib.suppress(Exception):
                driver.close()
        code = sim.stop()
        csms.close()
    log = (folder / "sim.log").read_text(encoding="utf-8")
    assert code == 0, f"simulated lab exited with {code}; log:\n{log[-4000:]}"
    assert "Traceback" not in log, log[-4000:]


# --------------------------------------------------------------------------- tests
def test_every_instrument_has_a_twin_its_driver_identifies(lab: Lab) -> None:
    names = [i["name"] for st in STATIONS.values() for i in st["instruments"]]
    assert set(names) <= set(lab.ready["instruments"])
    makers = {"wt": "YOKOGAWA", "lmg": "ZES ZIMMER", "psb": "EA Elektro-Automatik",
              "rp": "Keysight Technologies", "psbm": "Elektro-Automatik",
              "relays": "testbench", "chroma": "Chroma ATE",
              "ametek": "AMETEK Programmable Power", "cinergia": "Cinergia"}
    for name, maker in makers.items():
        assert lab.driver(name).identify().maker.startswith(maker), name


def test_analysers_measure_what_the_charger_reports(lab: Lab) -> None:
    charger = "m-201"
    wait_for_status(lab.csms, charger, "Available", timeout_s=20)
    wt, lmg = lab.driver("wt"), lab.driver("lmg")
    wt.set_update_interval_s(0.1)
    lmg.set_update_interval_s(0.1)
    idle = wt.wait_fresh(5.0)  # the outlet is dead while the contactor is open
    assert idle.voltage_v < 1.0 and idle.current_a < 0.05
    box = lab.box(charger)
    try:
        mark = lab.csms.mark()
        box.write(f"EV:PROF {EV['id']}")
        box.write("CP:STAT C")
        wt.start_integration()
        assert remote_start(lab.csms, charger, "HOSTED-1") == "Accepted"
        _tx, started = wait_started(lab.csms, charger, since=mark)
        wait_charging(lab.csms, charger, since=mark)
        time.sleep(3.0 / SCALE)  # 3 lab s: past the response
        out, inp = wt.wait_fresh(5.0), lmg.wait_fresh(5.0)
        assert [p.current_a for p in out.phases] == pytest.approx([16.0] * 3, abs=0.1)
        assert out.power_w == pytest.approx(3 * 230 * 16, rel=0.01)
        assert out.frequency_hz == pytest.approx(50.0, abs=0.01)
        assert inp.power_w == pytest.approx(out.power_w / 0.98 + 5.0, rel=0.01)
        assert inp.power_w > out.power_w  # losses: the supply gives more than the outlet
        time.sleep(20.0 / SCALE)
        box.write("CP:STAT A")
        ended = wait_ended(lab.csms, charger, since=mark)
        time.sleep(1.0 / SCALE)
        wt.stop_integration()
        measured_wh = wt.read().energy_wh
    finally:
        box.write("*RST")
        box.close()
    reported_wh = sampled(ended.payload, "Energy.Active.Import.Register") - sampled(
        started.payload, "Energy.Active.Import.Register")
    assert reported_wh > 60.0
    assert measured_wh == pytest.approx(reported_wh, rel=0.02, abs=1.0)


def test_a_grid_emulator_feeds_its_station(lab: Lab) -> None:
    charger = "g-16"
    wait_for_status(lab.csms, charger, "Available", timeout_s=20)
    chroma, site = lab.driver("chroma"), lab.driver("wt-site")
    site.set_update_interval_s(0.1)
    box = lab.box(charger)
    try:
        mark = lab.csms.mark()
        box.write(f"EV:PROF {EV['id']}")
        box.write("CP:STAT C")
        assert remote_start(lab.csms, charger, "GRID-1") == "Accepted"
        wait_charging(lab.csms, charger, since=mark)  # the charger's electronics run on
        time.sleep(2.0 / SCALE)
        dead = site.wait_fresh(5.0)
        assert dead.voltage_v < 1.0 and dead.power_w == pytest.approx(0.0, abs=2.0)

        chroma.set_voltage_v(230.0)
        chroma.set_frequency_hz(50.0)
        chroma.output(True)
        time.sleep(3.0 / SCALE)
        fed = site.wait_fresh(5.0)
        assert fed.voltage_v == pytest.approx(230.0, abs=0.5)
        assert fed.power_w == pytest.approx(3 * 230 * 16 / 0.98 + 5.0, rel=0.01)
        assert chroma.measure().current_a[0] == pytest.approx(fed.phases[0].current_a, rel=0.01)

        chroma.set_voltage_v(207.0)
        chroma.set_frequency_hz(49.8)
        time.sleep(3.0 / SCALE)
        low = site.wait_fresh(5.0)
        assert low.voltage_v == pytest.approx(207.0, abs=0.5)
        assert low.frequency_hz == pytest.approx(49.8, abs=0.01)
        assert low.power_w == pytest.approx(3 * 207 * 16 / 0.98 + 5.0, rel=0.01)

        chroma.safe_state()
        time.sleep(1.0 / SCALE)
        off = site.wait_fresh(5.0)
        assert off.voltage_v < 1.0 and off.power_w == pytest.approx(0.0, abs=2.0)
    finally:
        box.write("*RST")
        box.close()


def test_other_grid_emulators_drive_their_nodes(lab: Lab) -> None:
    for name in ("ametek", "cinergia"):
        emulator = lab.driver(name)
        emulator.set_voltage_v(220.0)
        emulator.output(True)
        reading = emulator.measure()
        assert reading.voltage_v[0] == pytest.approx(220.0, abs=0.5), name
        emulator.safe_state()
        assert emulator.measure().voltage_v[0] == pytest.approx(0.0, abs=0.5), name


def test_dc_sources_and_relays_switch_their_ports(lab: Lab) -> None:
    relays = lab.driver("relays")
    assert relays.channels() == 4
    relays.set_relay(2, True)
    assert relays.relay(2) and not relays.relay(1)
    relays.safe_state()
    assert not relays.relay(2)
    for name in ("psb", "rp", "psbm"):
        source = lab.driver(name)
        source.set_current_limits_a(10.0, 10.0)
        source.set_voltage_v(48.0)
        source.output(True)
        reading = source.measure()
        assert reading.voltage_v == pytest.approx(48.0, abs=0.5), name
        assert reading.current_a == pytest.approx(0.0, abs=0.01), name  # nothing bound
        source.safe_state()
        assert source.measure().voltage_v == pytest.approx(0.0, abs=0.5), name


@pytest.mark.parametrize(("name", "call", "expect"), [
    ("wt-garbage", "read", "garbage"),
    ("wt-silent", "read", "no reply"),
    ("psb-errq", "output_on", "-200"),
    ("wt-drop", "read", "no reply"),
    ("relays-exc", "close_1", "exception"),
])
def test_instrument_fault_personalities_are_instrument_errors(lab: Lab, name: str, call: str,
                                                              expect: str) -> None:
    driver = lab.driver(name)
    actions = {"read": driver.read if hasattr(driver, "read") else None,
               "output_on": lambda: driver.output(True),
               "close_1": lambda: driver.set_relay(1, True)}
    with pytest.raises(InstrumentError) as caught:
        actions[call]()  # type: ignore[misc]
    error = caught.value
    assert error.instrument == name
    assert error.command  # names the command it sent
    assert expect in str(error), str(error)


# --------------------------------------------------------------------------- short-lived labs
def test_state_file_lists_what_is_still_energised(tmp_path: Path) -> None:
    stations = {"bay": {"charger": ("s-201", "2.0.1"), "instruments": [
        scpi("grid", "grid_emulator", "chroma-61800"),
        modbus("relays", "relay_box", "modbus-relay"),
        scpi("dc", "dc_source", "ea-psb-scpi"),
    ]}}
    path = write_lab(tmp_path / "lab.toml", stations)
    state_file = tmp_path / "state.json"
    clock = LabClock(scale=SCALE, epoch=time.time())
    sim = _start_with_state_file(path, clock, tmp_path, state_file)
    ports = sim.ready()["instruments"]
    drivers = []
    try:
        grid = get_driver("chroma-61800")(
            InstrumentSpec("grid", "grid_emulator", "chroma-61800",
                           f"TCPIP::127.0.0.1::{ports['grid']}::SOCKET"), SafetyLimits())
        relays = get_driver("modbus-relay")(
            InstrumentSpec("relays", "relay_box", "modbus-relay",
                           f"127.0.0.1:{ports['relays']}"), SafetyLimits())
        dc = get_driver("ea-psb-scpi")(
            InstrumentSpec("dc", "dc_source", "ea-psb-scpi",
                           f"TCPIP::127.0.0.1::{ports['dc']}::SOCKET"), SafetyLimits())
        drivers = [grid, relays, dc]
        grid.set_voltage_v(230.0)
        grid.output(True)
        relays.set_relay(3, True)
        dc.set_voltage_v(24.0)
        dc.output(True)
        grid.safe_state()  # made safe; the relay and the DC source are left on
        box = Scpi(ports["evio-s-201"])
        box.write(f"EV:PROF {EV['id']}")
        box.write("CP:STAT B")
        assert box.query("CP:STAT?") == "B1"
        box.close()
    finally:
        for driver in drivers:
            driver.close()
    sim.terminate()
    assert sim.proc.wait(10) == 0
    sim.stop()
    state = json.loads(state_file.read_text(encoding="utf-8"))
    assert state["reason"] == "SIGTERM"
    twins = {twin["instruments"][0]: twin for twin in state["twins"]}
    assert set(twins) == {"evio-s-201", "grid", "relays", "dc"}
    assert sorted(state["energised"]) == ["dc", "evio-s-201", "relays"]
    assert twins["grid"]["ever_energised"] and not twins["grid"]["energised"]
    assert any("OUTP" in line.upper() for line in twins["grid"]["received"])
    assert twins["relays"]["state"] == {"closed": [3]}
    assert twins["dc"]["energised"] and twins["evio-s-201"]["state"]["ev_state"] == "B"


def _start_with_state_file(path: Path, clock: LabClock, folder: Path,
                           state_file: Path) -> SimProcess:
    """The harness's SimProcess, started with ``--state-file``."""
    sim = SimProcess.__new__(SimProcess)
    sim.log_path = folder / "sim-state.log"
    sim._log = open(sim.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by stop()
    sim.proc = subprocess.Popen(
        [sys.executable, "-m", "testbench.sim", "--lab", str(path), "--csms-url",
         "ws://127.0.0.1:9/ocpp", "--epoch", repr(clock.epoch), "--state-file",
         str(state_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sim._log, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"})
    sim.first_line = ""
    return sim


def test_sim_error_names_instrument_problem_and_fix(tmp_path: Path) -> None:
    """Each broken lab (started side by side) ends with one SIM ERROR line and status 2."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]
    cases: list[tuple[list[dict[str, Any]], list[str]]] = [
        ([scpi("cp", "cp_box", "cp-serial")], ["'cp'", "'cp-serial'", "fix:"]),
        ([scpi("wt", "power_analyzer", "yokogawa-wt", options={"sim_fault": "smoke"})],
         ["'wt'", "sim_fault", "garbage", "fix:"]),
        ([scpi("wt", "power_analyzer", "yokogawa-wt", options={"point": "dc-link"})],
         ["'wt'", "options.point", "fix:"]),
        ([modbus("r1", "relay_box", "modbus-relay", resource="127.0.0.1:47999"),
          scpi("wt", "power_analyzer", "yokogawa-wt",
               resource="TCPIP::127.0.0.1::47999::SOCKET")],
         ["'wt'", "47999", "'r1'", "fix:"]),
        ([scpi("wt-busy", "power_analyzer", "yokogawa-wt",
               resource=f"TCPIP::127.0.0.1::{busy}::SOCKET")],
         ["'wt-busy'", str(busy), "fix:"]),
    ]
    sims = []
    try:
        for n, (instruments, _expect) in enumerate(cases):
            folder = tmp_path / f"case{n}"
            folder.mkdir()
            path = write_lab(folder / "lab.toml", {"bay": {"charger": ("e-201", "2.0.1"),
                                                          "instruments": instruments}})
            sims.append(SimProcess(path, "ws://127.0.0.1:9/ocpp", time.time(),
                                   folder / "sim.log"))
        for sim, (_instruments, expect) in zip(sims, cases, strict=True):
            line = sim.read_line()
            assert sim.proc.wait(10) == 2, line
            assert line.startswith("SIM ERROR "), line
            for text in expect:
                assert text in line, (text, line)
    finally:
        for sim in sims:
            sim.stop()
        blocker.close()
