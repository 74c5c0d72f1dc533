"""The ISO 15118 checks catch the charger faults aimed at them and pass a conformant charger.

Real `testbench run suites/iso15118` runs against a simulated lab whose OCPP 2.1 chargers
host the `iso15118` package's SECC on a veth link each, the EV emulator driver
(`iso15118-evcc`) playing a bidirectional -2/-20 EV. Each fault personality must fail the
check meant for it; the conformant charger must pass every check. Real sessions take
5-25 s each, so the default run keeps one fault (NotifyEVChargingNeeds); the rest is slow.
The judging functions themselves are proven on synthetic data (fast).
"""

from __future__ import annotations

import os
from pathlib import Path

import labgen
import pytest
from labgen import ChargerEntry, write_lab

from testbench.iso15118 import SessionResult, V2GMessage, install_problem, netns_problem
from testbench.iso15118.consistency import (
    discharge_problems,
    needs_problems,
    operator_needs,
    schedule_problems,
)
from testbench.lab.faults import CHARGER_FAULTS, ISO15118_FAULTS

REPO = Path(__file__).resolve().parents[2]
SUITE = str(REPO / "suites" / "iso15118")
EV = "ev-v2g-hlc"
# an ISO 15118 -2/-20 EV for generated labs (labgen's EVs have no high-level communication;
# its own id: gridlab's "ev-v2g" speaks -20 only, and whichever module loads first would win)
labgen.EVS.setdefault(EV, {"make": "Hauler", "model": "eVan V2G", "software": "5.0.1", "phases": 3,
                               "min_current_a": 6.0, "max_current_a": 16.0, "battery_kwh": 90.0,
                               "initial_soc_pct": 40.0, "iso15118": ["-2", "-20"],
                               "bidirectional": True})

# fault -> (charger id, the test meant to catch it, words its failure message must contain)
EXPECTED = {
    "wrong-ev-charging-needs": ("fneeds", "test_ev_charging_needs_reach_the_operator",
                                "NotifyEVChargingNeeds differs"),
    "schedule-ignores-profiles": ("fsched", "test_operator_schedule_is_the_evs_schedule",
                                  "not the operator's"),
    "no-schedule-renegotiation": ("freneg", "test_new_profile_renegotiates_the_schedule",
                                  "never asked the EV to renegotiate"),
    "pnc-authorizes-locally": ("fpnc", "test_plug_and_charge_is_authorised_through_the_operator",
                               "without asking the operator"),
    "exceeds-discharge-limit": ("fbpt", "test_bidirectional_session_stays_within_discharge_limits",
                                "over the negotiated maximum discharge power"),
    "session-timeout-not-enforced": ("ftimeout", "test_charger_ends_a_session_whose_ev_stalls",
                                     "completed normally"),
    "no-soc-in-meter-values": ("fsoc", "test_ev_state_of_charge_reaches_the_meter_values",
                               "carry no SoC"),
}
CHECKS = tuple(test for _id, test, _words in EXPECTED.values())


def _skip_without_sessions() -> None:
    problem = netns_problem() or install_problem()
    if problem:
        pytest.skip(f"no ISO 15118 sessions on this machine: {problem}")


def _lab(tmp_path: Path, chargers: dict[str, tuple[str, ...]]) -> Path:
    """A lab with one bidirectional 2.1 charger per id (its faults), each with an EV
    emulator on its own veth link (unique names: several runs may share the machine)."""
    entries, instruments = [], []
    for n, (charger_id, faults) in enumerate(chargers.items()):
        entries.append(ChargerEntry(charger_id, "2.1", faults,
                                    extra={"iso15118": ["-2", "-20"], "bidirectional": True}))
        tag = f"tbst{os.getpid() % 100000}x{n}"
        instruments.append({"name": f"v2g-{charger_id}", "role": "v2g_ev",
                            "driver": "iso15118-evcc", "resource": f"netns:{tag}-evcc/v2g-ev",
                            "charger": charger_id, "options": {"timeout_scale": 4.0}})
    return write_lab(tmp_path / "lab.toml", entries, [EV], time_scale=10.0,
                     instruments=instruments)


def _judge(result, chargers: dict[str, str]) -> list[str]:
    """``chargers``: id -> fault ('' conformant); each runs the checks of its fault (all
    checks for a conformant one)."""
    verdicts = result.verdicts()
    problems = []
    for charger_id, fault in chargers.items():
        tests = CHECKS if not fault else (EXPECTED[fault][1],)
        for test in tests:
            records = [r for key, r in verdicts.items()
                       if key[0] == charger_id and key[2] == test]
            if not records:
                problems.append(f"{charger_id} {test}: no result")
                continue
            record = records[0]
            message = record.get("message") or ""
            if not fault and record["verdict"] != "passed":
                problems.append(f"{charger_id} (conformant) {test}: {record['verdict']}: "
                                f"{message[:400]}")
            if fault and (record["verdict"] != "failed" or EXPECTED[fault][2] not in message):
                problems.append(f"{charger_id} ({fault}) {test}: {record['verdict']} (expected "
                                f"failed with {EXPECTED[fault][2]!r}): {message[:400]}")
    return problems


# ----------------------------------------------------------------------------- fast
def test_iso15118_faults_are_in_the_catalogue() -> None:
    assert set(EXPECTED) == set(ISO15118_FAULTS) <= set(CHARGER_FAULTS)


def test_needs_check_fails_on_a_different_value_and_passes_rounding() -> None:
    ev = {"max_current_a": 16.0, "energy_wh": 20000.0, "departure_s": 7200.0}
    payload = {"chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase",
                                 "departureTime": "2026-01-01T02:00:03Z",
                                 "acChargingParameters": {"energyAmount": 20000,
                                                          "evMinCurrent": 6,
                                                          "evMaxCurrent": 16,
                                                          "evMaxVoltage": 400}}}
    start = 1767225600.0  # 2026-01-01T00:00:00Z
    told = operator_needs(payload, start)
    assert told["departure_s"] == 7203.0
    assert needs_problems(ev, told, integers=True, departure_tol_s=5.0) == []
    payload["chargingNeeds"]["acChargingParameters"]["evMaxCurrent"] = 24
    problems = needs_problems(ev, operator_needs(payload, start), integers=True)
    assert len(problems) == 1 and problems[0].startswith("max_current_a"), problems
    assert needs_problems({"max_power_w": 1.0}, {}, required=("max_power_w",))


def test_schedule_check_fails_on_a_wrong_step_or_value() -> None:
    ref = [(0.0, 11040.0), (1797.0, 6900.0)]
    assert schedule_problems([(0.0, 11040.0), (1800.0, 6900.0)], ref, time_tol_s=5.0) == []
    assert schedule_problems([(0.0, 11040.0), (1830.0, 6900.0)], ref, time_tol_s=5.0)
    assert schedule_problems([(0.0, 22080.0)], ref, time_tol_s=5.0)
    assert schedule_problems([], ref, time_tol_s=5.0) == ["the EV was offered no schedule"]


def _msg(role: str, direction: str, name: str, fields: dict, t: float) -> V2GMessage:
    return V2GMessage(role=role, direction=direction, name=name, namespace="", t_wall_s=t,
                      t_mono_s=t, fields=fields)


def test_discharge_check_fails_over_the_negotiated_limit() -> None:
    def pv(w: float) -> dict:
        return {"Value": int(w), "Exponent": 0}

    def session(discharge_w: float) -> SessionResult:
        entries = {"PowerScheduleEntry": [{"Duration": 3600, "Power": pv(-discharge_w)}]}
        tuple_ = {"DischargingSchedule": {"PowerSchedule": {"PowerScheduleEntries": entries}}}
        return SessionResult([
            _msg("evcc", "tx", "AC_ChargeParameterDiscoveryReq",
                 {"BPT_AC_CPDReqEnergyTransferMode": {"EVMaximumDischargePower": pv(7000)}}, 1),
            _msg("evcc", "rx", "AC_ChargeParameterDiscoveryRes",
                 {"BPT_AC_CPDResEnergyTransferMode": {"EVSEMaximumDischargePower": pv(9000)}},
                 2),
            _msg("evcc", "rx", "ScheduleExchangeRes",
                 {"Scheduled_SEResControlMode": {"ScheduleTuple": [tuple_]}}, 3)])

    assert discharge_problems(session(7000)) == []
    problems = discharge_problems(session(8000))
    assert problems and "7000 W" in problems[0], problems


# ----------------------------------------------------------------------------- sessions
@pytest.mark.timeout(400)
def test_wrong_ev_charging_needs_is_caught_and_a_conformant_charger_passes(
        tmp_path: Path, testbench_cli) -> None:
    """Default run: the NotifyEVChargingNeeds check, one conformant and one faulty charger
    (about 60 s: two real sessions)."""
    _skip_without_sessions()
    chargers = {"okv21": (), "fneeds": ("wrong-ev-charging-needs",)}
    lab = _lab(tmp_path, chargers)
    result = testbench_cli("run", "--lab", str(lab), "--unattended", SUITE, "--",
                           "-p", "no:xdist", "-k", "charging_needs", timeout_s=300)
    chargers_faults = {"okv21": "", "fneeds": "wrong-ev-charging-needs"}
    problems = []
    for charger_id, fault in chargers_faults.items():
        record = result.verdicts().get((charger_id, EV, EXPECTED["wrong-ev-charging-needs"][1]))
        wanted = "failed" if fault else "passed"
        if record is None or record["verdict"] != wanted:
            problems.append(f"{charger_id}: {record and record['verdict']} (expected {wanted}): "
                            f"{record and record.get('message')}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    message = result.verdicts()[("fneeds", EV, EXPECTED["wrong-ev-charging-needs"][1])]["message"]
    assert EXPECTED["wrong-ev-charging-needs"][2] in message, message
    evidence = list((tmp_path / "reports" / "runs").glob("*/evidence/*/v2g/session-1/v2g.txt"))
    assert len(evidence) == 2, evidence


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_each_iso15118_check_catches_its_fault_and_a_conformant_charger_passes_all(
        tmp_path: Path, testbench_cli) -> None:
    """Every ISO 15118 check against the conformant charger, each fault against its check."""
    _skip_without_sessions()
    chargers = {"okv21": ""} | {charger_id: fault for fault, (charger_id, _t, _w)
                                 in EXPECTED.items()}
    lab = _lab(tmp_path, {c: ((f,) if f else ()) for c, f in chargers.items()})
    selection = " or ".join([f"(okv21 and {t})" for t in CHECKS] + [
        f"({charger_id} and {test})" for charger_id, test, _w in EXPECTED.values()])
    result = testbench_cli("run", "--lab", str(lab), "--unattended", SUITE, "--",
                           "-p", "no:xdist", "-k", selection, timeout_s=1500)
    problems = _judge(result, chargers)
    assert not problems, "\n".join(problems) + "\n" + result.output[-3000:]
    assert result.exit_code == 1, result.output[-2000:]
