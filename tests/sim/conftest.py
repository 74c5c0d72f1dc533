"""One simulated lab process shared by the tests of tests/sim (definitions in sim_fleet)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sim_fleet import (
    AUTH_PASSWORD,
    HEARTBEAT_S,
    PENDING_RETRY_S,
    TIME_SCALE,
    VERSIONS,
    SimLab,
    charger_defs,
)
from sim_harness import LabDef, SimProcess, TestCsms, write_lab

from testbench.clock import LabClock


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
