"""One simulated lab process shared by the tests of tests/sim.

Every test drives its own charger(s) of this lab, so tests do not disturb each other and
the process starts once. Chargers are named ``<scenario>-<version>`` (version 16, 201, 21)
or ``f-<fault>``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sim_harness import ChargerDef, LabDef, SimProcess, TestCsms, write_lab

from testbench.clock import LabClock

TIME_SCALE = 40.0
VERSIONS = {"16": "1.6", "201": "2.0.1", "21": "2.1"}
SCENARIOS = ("hb", "plug", "rfid", "remote", "meter", "reset", "avail", "trig", "conf",
             "unknown", "pend", "power", "twin")
FAULTS = {
    "boots-with-wrong-firmware": "2.0.1",
    "ignores-boot-pending": "1.6",
    "wrong-heartbeat-interval": "2.1",
    "skips-status-notification": "1.6",
    "ignores-authorization": "2.0.1",
    "ignores-remote-stop": "1.6",
    "meter-goes-backwards": "2.0.1",
    "ignores-reset": "2.1",
    "ignores-availability": "1.6",
}
HEARTBEAT_S = 20
PENDING_RETRY_S = 10
AUTH_PASSWORD = "s3cret-pass"


def charger_defs() -> list[ChargerDef]:
    defs = [ChargerDef(f"{scenario}-{tag}", version)
            for scenario in SCENARIOS for tag, version in VERSIONS.items()]
    defs += [ChargerDef(f"f-{fault}", version, faults=(fault,)) for fault, version in FAULTS.items()]
    defs.append(ChargerDef("auth-16", "1.6", security_profile=1, password_env="SIMTEST_AUTH_PW"))
    defs += [ChargerDef(f"multi-{tag}", version, evse_count=2) for tag, version in
             VERSIONS.items()]
    return defs


@dataclass
class SimLab:
    csms: TestCsms
    sim: SimProcess
    clock: LabClock
    ready: dict
    ports: dict[str, int]  # charger id -> I/O box port

    def lab_s(self, wall_s: float) -> float:
        return self.clock.to_lab(wall_s)

    def wall(self, lab_s: float) -> float:
        """Wall seconds a lab duration takes."""
        return lab_s / TIME_SCALE


@pytest.fixture(scope="session")
def simlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimLab]:
    folder: Path = tmp_path_factory.mktemp("simlab")
    lab_path = write_lab(folder / "lab.toml", LabDef(charger_defs(), time_scale=TIME_SCALE))
    clock = LabClock(scale=TIME_SCALE, epoch=time.time())
    csms = TestCsms(clock)
    for tag in VERSIONS:
        csms.set_boot(f"hb-{tag}", ("Accepted", HEARTBEAT_S))
        csms.set_boot(f"pend-{tag}", ("Pending", PENDING_RETRY_S), ("Accepted", 3600))
    csms.set_boot("f-wrong-heartbeat-interval", ("Accepted", HEARTBEAT_S))
    csms.set_boot("f-ignores-boot-pending", ("Pending", PENDING_RETRY_S), ("Accepted", 3600))
    sim = SimProcess(lab_path, csms.url, clock.epoch, folder / "sim.log",
                     env={"SIMTEST_AUTH_PW": AUTH_PASSWORD})
    try:
        ready = sim.ready()
        ports = {name.removeprefix("evio-"): port for name, port in ready["instruments"].items()}
        yield SimLab(csms, sim, clock, ready, ports)
    finally:
        code = sim.stop()
        csms.close()
    log = (folder / "sim.log").read_text(encoding="utf-8")
    assert code == 0, f"simulated lab exited with {code}; log:\n{log[-4000:]}"
    assert "Traceback" not in log, f"the simulated lab logged an exception:\n{log}"
