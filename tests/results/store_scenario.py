"""A synthetic campaign written with the Journal API: four runs, three pairings each time.

Runs 1-3 cover different EV x charger pairings (two stations, two runner hosts) with cp-1 on
firmware 1.0 and cp-2 on 2.3. Run 4 re-tests every cp-1 pairing on firmware 1.1 at another
station (test ids then carry the station, ``[st-2:ev-a@cp-1]``) and introduces exactly two
regressions, one fix and one newly applicable test:

* regression: ev-a x cp-1 ``test_tx_profile`` passed -> failed
* regression: ev-c x cp-1 ``test_heartbeat`` passed -> failed
* fix:        ev-b x cp-1 ``test_meter_values`` error -> passed
* new:        ev-a x cp-1 ``test_v2x_discharge`` skipped -> passed

Shared by tests/results and tests/reporting (imported by path from the latter).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from testbench.results.journal import Journal, ResultRecord, run_dir_for

T0 = 1_714_000_000.0  # 2024-04-24 23:06:40 UTC
DAY_S = 86_400.0

#: (test name, suite, test-case id)
TESTS: tuple[tuple[str, str, str | None], ...] = (
    ("test_boot", "ocpp/provisioning", "TC_B_01_CS"),
    ("test_heartbeat", "ocpp/provisioning", "TC_B_04_CS"),
    ("test_tx_profile", "ocpp/smart_charging", "TC_K_60_CS"),
    ("test_remote_start", "ocpp/remote", "TC_F_01_CS"),
    ("test_meter_values", "ocpp/meter", "TC_J_01_CS"),
    ("test_v2x_discharge", "v2x", None),
)
CHARGERS = {
    "cp-1": {"vendor": "Voltiq", "model": "W22", "ocpp_version": "2.0.1"},
    "cp-2": {"vendor": "Ampero", "model": "DC50", "ocpp_version": "1.6"},
}
EVS = {
    "ev-a": {"make": "Renault", "model": "Zoe", "software": "R1.4"},
    "ev-b": {"make": "VW", "model": "ID.3", "software": "3.2"},
    "ev-c": {"make": "Kia", "model": "EV6", "software": "K9"},
}
SKIP_REASON = "needs a bidirectional charger"
INSTRUMENT_FAULT = "InstrumentError: instrument 'pa': command 'MEAS?': no reply: timed out"


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    station: str
    host: str
    firmware: dict[str, str]
    pairings: tuple[tuple[str, str], ...]
    day: int
    station_in_id: bool = False


RUNS: tuple[RunPlan, ...] = (
    RunPlan(
        "20240425-080000-aa01",
        "st-1",
        "runner-1",
        {"cp-1": "1.0", "cp-2": "2.3"},
        (("ev-a", "cp-1"), ("ev-b", "cp-1")),
        day=1,
    ),
    RunPlan(
        "20240426-080000-bb02",
        "st-2",
        "runner-2",
        {"cp-1": "1.0", "cp-2": "2.3"},
        (("ev-a", "cp-2"), ("ev-c", "cp-2")),
        day=2,
    ),
    RunPlan(
        "20240427-080000-cc03",
        "st-1",
        "runner-1",
        {"cp-1": "1.0", "cp-2": "2.3"},
        (("ev-c", "cp-1"), ("ev-b", "cp-2")),
        day=3,
    ),
    RunPlan(
        "20240428-080000-dd04",
        "st-2",
        "runner-2",
        {"cp-1": "1.1", "cp-2": "2.3"},
        (("ev-a", "cp-1"), ("ev-b", "cp-1"), ("ev-c", "cp-1")),
        day=4,
        station_in_id=True,
    ),
)

#: (run index, ev, charger, test name) -> (verdict, message) where not simply passed/skipped.
SPECIAL: dict[tuple[int, str, str, str], tuple[str, str]] = {
    (0, "ev-b", "cp-1", "test_meter_values"): ("error", INSTRUMENT_FAULT),
    (1, "ev-c", "cp-2", "test_tx_profile"): (
        "failed",
        "current 16.4 A above the 10 A TxProfile limit after 10 s",
    ),
    (3, "ev-a", "cp-1", "test_tx_profile"): (
        "failed",
        "current 15.9 A above the 10 A TxProfile limit after 10 s",
    ),
    (3, "ev-c", "cp-1", "test_heartbeat"): ("failed", "Heartbeat every 120 s, expected 60 s"),
    (3, "ev-a", "cp-1", "test_v2x_discharge"): ("passed", ""),
}

EXPECTED_FIRMWARE_REGRESSIONS = {("ev-a", "test_tx_profile"), ("ev-c", "test_heartbeat")}
EXPECTED_FIRMWARE_FIXES = {("ev-b", "test_meter_values")}
EXPECTED_FIRMWARE_NEW = {("ev-a", "test_v2x_discharge")}


def node_id(name: str, suite: str, station: str, ev: str, charger: str, with_station: bool) -> str:
    pairing = f"{station}:{ev}@{charger}" if with_station else f"{ev}@{charger}"
    return f"suites/{suite}/test_{suite.split('/')[-1]}.py::{name}[{pairing}]"


def records_for(index: int, plan: RunPlan) -> list[ResultRecord]:
    """The result records of run ``index`` in the order they would be journaled."""
    out = []
    n = 0
    for ev, charger in plan.pairings:
        for name, suite, testcase in TESTS:
            verdict, message = "passed", ""
            if name == "test_v2x_discharge":
                verdict, message = "skipped", SKIP_REASON
            verdict, message = SPECIAL.get((index, ev, charger, name), (verdict, message))
            n += 1
            evidence = (
                [f"traces/{ev}@{charger}/{name}.jsonl"] if verdict in ("failed", "error") else []
            )
            out.append(
                ResultRecord(
                    test_id=node_id(name, suite, plan.station, ev, charger, plan.station_in_id),
                    name=name,
                    verdict=verdict,
                    testcase_id=testcase,
                    suite=suite,
                    station=plan.station,
                    ev=ev,
                    charger=charger,
                    charger_firmware=plan.firmware[charger],
                    ev_software=EVS[ev]["software"],
                    ocpp_version=CHARGERS[charger]["ocpp_version"],
                    duration_s=1.0 + n / 10,
                    message=message,
                    evidence=evidence,
                    wall_s=T0 + plan.day * DAY_S + n * 30.0,
                    run_id=plan.run_id,
                )
            )
    return out


def header_for(plan: RunPlan) -> dict[str, object]:
    return {
        "run_id": plan.run_id,
        "lab": "synthetic-lab",
        "mode": "sim",
        "host": plan.host,
        "project_version": "0.1.0",
        "started_wall_s": T0 + plan.day * DAY_S,
        "chargers": {
            cid: {**spec, "firmware": plan.firmware[cid]} for cid, spec in CHARGERS.items()
        },
        "evs": EVS,
    }


def write_run(output_dir: Path, index: int, *, close: bool = True) -> Path:
    """Write run ``index`` of :data:`RUNS` as a journal under ``output_dir``; its path."""
    plan = RUNS[index]
    run_dir = run_dir_for(output_dir, plan.run_id)
    journal = Journal.open(run_dir, header_for(plan))
    for record in records_for(index, plan):
        journal.record(record)
        for path in record.evidence:
            file = run_dir / path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text('{"frame": "evidence"}\n', encoding="utf-8")
    if close:
        journal.close({"exitstatus": 1})
    return journal.path


def write_campaign(output_dir: Path) -> list[Path]:
    """Every run of :data:`RUNS` as journals under ``output_dir``; their paths in run order."""
    return [write_run(output_dir, i) for i in range(len(RUNS))]
