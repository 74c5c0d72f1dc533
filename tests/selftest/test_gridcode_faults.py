"""The grid-code suites catch each grid-code fault personality and pass a conformant pair.

One run of the real ``testbench run suites/gridcode`` on a generated lab (bidirectional 2.1
chargers + a bidirectional EV, a chroma-61800 grid emulator and a power analyser on the grid
side of each charger), on a subset chosen with ``-k``: LFSM-O while discharging at rated
power, and the fast over-frequency trip (81>>). Then the time-compression proof: the same
subset at time scale 1 and at scale 20 gives the same verdicts, for the conformant pair and
for a faulty one (slow).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gridlab import V2G_EV, write_grid_lab

from testbench.lab.faults import CHARGER_FAULTS, GRIDCODE_FAULTS, GRIDCODE_VOLTAGE_FAULTS

REPO = Path(__file__).resolve().parents[2]
SUBSET = "test_lfsm_o and discharging-100pct or f-over-2"
LFSM, TRIP = "test_lfsm_o", "test_interface_protection_trip"
# charger -> (faults, test -> the check its failure must name, or None: passes)
CASES: dict[str, tuple[tuple[str, ...], dict[str, str | None]]] = {
    "v2g-ok": ((), {LFSM: None, TRIP: None}),
    "v2g-droop": (("wrong-droop",), {LFSM: "judge_steady_state", TRIP: None}),
    "v2g-slow": (("too-slow",), {LFSM: "judge_open_loop", TRIP: None}),
    "v2g-late": (("protection-trips-late",), {LFSM: None, TRIP: "trip_time"}),
}


RECONNECT = "test_reconnection_after_trip"
RECONNECTION_CASES: dict[str, tuple[tuple[str, ...], dict[str, str | None]]] = {
    "v2g-ok": ((), {RECONNECT: None}),
    "v2g-early": (("reconnects-early",), {RECONNECT: "observation_time"}),
    "v2g-fast": (("ramps-too-fast",), {RECONNECT: "reconnection_ramp"}),
}


def test_gridcode_faults_are_in_the_catalogue() -> None:
    assert set(GRIDCODE_FAULTS) <= set(CHARGER_FAULTS)
    cases = {**CASES, **RECONNECTION_CASES}
    # the voltage faults are caught in test_gridcode_voltage_faults.py
    assert {f for faults, _ in cases.values() for f in faults} == (
        set(GRIDCODE_FAULTS) - set(GRIDCODE_VOLTAGE_FAULTS))


def _check(result, cases: dict[str, tuple[tuple[str, ...], dict[str, str | None]]]) -> None:
    verdicts = result.verdicts()
    problems = []
    for charger, (faults, expected) in cases.items():
        for test, check in expected.items():
            record = verdicts.get((charger, V2G_EV, test))
            if record is None:
                problems.append(f"{charger} ({faults}): {test} has no verdict")
                continue
            want = "passed" if check is None else "failed"
            if record["verdict"] != want:
                problems.append(f"{charger} ({faults}): {test} is {record['verdict']}, expected "
                                f"{want}: {record['message']}")
            elif check is not None and check not in record["message"]:
                problems.append(f"{charger}: {test} failed for another reason than {check}: "
                                f"{record['message']}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-3000:]


def test_each_gridcode_check_catches_its_fault_and_passes_a_conformant_pair(
        tmp_path: Path, testbench_cli) -> None:
    lab = write_grid_lab(tmp_path / "lab.toml", {cid: f for cid, (f, _) in CASES.items()})
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", SUBSET,
                           str(REPO / "suites" / "gridcode"), timeout_s=400)
    _check(result, CASES)


SCALE_SUBSET = "test_lfsm_o and discharging-100pct or f-over-2"
"""The most time-sensitive checks: a first-order response (LFSM-O at rated discharge) and a
0.1 s trip time (81>>, sampled at the coarsest rate any scale gets)."""
SCALE_CASES = {"v2g-ok": (), "v2g-late": ("protection-trips-late",)}


def _verdicts(tmp: Path, scale: float, testbench_cli) -> tuple[dict, float]:
    lab = write_grid_lab(tmp / "lab.toml", dict(SCALE_CASES), time_scale=scale)
    started = time.monotonic()
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", SCALE_SUBSET,
                           str(REPO / "suites" / "gridcode"), timeout_s=900)
    wall = time.monotonic() - started
    return {key: r["verdict"] for key, r in result.verdicts().items()}, wall


@pytest.mark.slow
def test_verdicts_do_not_depend_on_the_time_scale(tmp_path: Path, testbench_cli) -> None:
    """Scale 1 (real time) and scale 20: the same verdicts, for the conformant pair (all
    pass) and for a pair whose protection trips late (its trip check fails at both)."""
    (tmp_path / "scale1").mkdir()
    (tmp_path / "scale20").mkdir()
    real, wall_1 = _verdicts(tmp_path / "scale1", 1.0, testbench_cli)
    fast, wall_20 = _verdicts(tmp_path / "scale20", 20.0, testbench_cli)
    assert real == fast, (real, fast)
    assert real[("v2g-late", V2G_EV, TRIP)] == "failed"
    assert {v for (c, _e, _t), v in real.items() if c == "v2g-ok"} == {"passed"}
    assert len(real) == 4
    print(f"time compression: scale 1 took {wall_1:.1f} s wall, scale 20 {wall_20:.1f} s "
          f"(ratio {wall_1 / wall_20:.1f})")


@pytest.mark.slow
def test_reconnection_checks_catch_early_and_fast_reconnection(tmp_path: Path,
                                                               testbench_cli) -> None:
    lab = write_grid_lab(tmp_path / "lab.toml",
                         {cid: f for cid, (f, _) in RECONNECTION_CASES.items()})
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", "reconnection",
                           str(REPO / "suites" / "gridcode"), timeout_s=400)
    _check(result, RECONNECTION_CASES)
