"""The shared simulated lab of tests/sim: its chargers, scenarios and constants.

Every test drives its own charger(s) of this lab, so tests do not disturb each other and
the process starts once. Chargers are named ``<scenario>-<version>`` (version 16, 201, 21)
or ``f-<fault>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim_harness import ChargerDef, SimProcess, TestCsms

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
