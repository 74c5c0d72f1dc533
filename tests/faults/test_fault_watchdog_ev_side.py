"""Watchdogs of the EV-side twins hosted by the simulated lab (cp-serial, ccs-can).

A simulated lab started on its own (it outlives the bench, as hardware does) hosts a serial
CP simulator and a CCS CAN controller (over socketcand) with ``options.watchdog_s``. The
bench's real drivers plug the EV in (state C, charging enabled on CAN) and stay quiet for
longer than the watchdog: the port held open (serial) and the driver's cyclic control frame
(CAN) keep the twins from tripping. Then the drivers go away as a killed runner's would
(port closed, cyclic frames stop): within the watchdog time each twin is back in state A
with charging disabled, proven over the wire and by the hardware log.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from faultlab import LabHardware
from robustlab import EV, ChargerEntry, free_port, write_lab

from instruments.registry import get_driver
from testbench.lab.model import InstrumentSpec, SafetyLimits

WATCHDOG_S = 1.0
SLACK_S = 1.5


def _driver(name: str, driver: str, resource: str) -> Any:
    options: dict[str, object] = {"interface": "socketcand"} if driver == "ccs-can" else {}
    spec = InstrumentSpec(name=name, role=name, driver=driver, resource=resource,
                          timeout_s=5.0, options=options)
    return get_driver(driver)(spec, SafetyLimits())


def _trip_wall_s(log: str, name: str) -> float | None:
    match = re.search(rf"^(\S+ \S+) WARNING testbench\.sim\.watchdog: watchdog of {name}: no "
                      r"command for", log, re.MULTILINE)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


@pytest.mark.slow  # ~10 s: the twins' watchdog rule itself is in test_fault_watchdog_unit
def test_ev_side_twins_return_to_state_a_when_the_bench_goes_quiet(tmp_path: Path) -> None:
    serial_port, can_port = free_port(), free_port()
    options = {"watchdog_s": WATCHDOG_S}
    lab = write_lab(tmp_path / "lab.toml", [ChargerEntry("s-201", "2.0.1"),
                                            ChargerEntry("c-16", "1.6")], [EV],
                    time_scale=10.0, instruments=[
        {"name": "cp", "role": "cp_box", "driver": "cp-serial",
         "resource": f"socket://127.0.0.1:{serial_port}", "charger": "s-201",
         "options": options},
        {"name": "ccs", "role": "ccs_controller", "driver": "ccs-can",
         "resource": f"vcan0@127.0.0.1:{can_port}", "charger": "c-16",
         "options": {**options, "interface": "socketcand"}}])
    hardware = LabHardware(lab, free_port())  # no central system: the pilots still work
    serial = ccs = None
    try:
        serial = _driver("cp", "cp-serial", f"socket://127.0.0.1:{serial_port}")
        ccs = _driver("ccs", "ccs-can", f"vcan0@127.0.0.1:{can_port}")
        serial.set_cp_state("C")
        ccs.set_cp_state("C")
        time.sleep(WATCHDOG_S * 2.5)  # quiet: an open port, cyclic control frames
        assert serial.status()["ev"] == "C", "the serial twin tripped while the port was open"
        info = ccs.charge_info()
        assert info.ev_state == "C", f"the CAN twin tripped under cyclic control: {info}"
        assert _trip_wall_s(hardware.log(), "cp") is None
        serial.close()  # the runner dies: the port closes, the cyclic frames stop
        ccs.close()
        gone_wall = time.time()
        serial = ccs = None
        time.sleep(WATCHDOG_S + SLACK_S)
        log = hardware.log()
        for name in ("cp", "ccs"):
            tripped = _trip_wall_s(log, name)
            assert tripped is not None, (name, log[-2000:])
            assert tripped - gone_wall <= WATCHDOG_S + SLACK_S, (name, tripped, gone_wall)
        probe = _driver("cp", "cp-serial", f"socket://127.0.0.1:{serial_port}")
        try:
            assert probe.status()["ev"] == "A"
        finally:
            probe.close()
    finally:
        for driver in (serial, ccs):
            if driver is not None:
                driver.close()
        hardware.stop()
