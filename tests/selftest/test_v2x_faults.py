"""The OCPP 2.1 V2X checks catch the faults aimed at them and pass a conformant charger.

Runs of the real `testbench run suites/v2x` against generated simulated labs (time scale 20)
with a bidirectional 2.1 charger per V2X fault personality, a conformant one, a
bidirectional ISO 15118-20 EV and a power analyser on every charger. Each fault must fail the
case meant for it, by the check meant for it (status on the wire, meter, randomizedDelay,
PullDynamicScheduleUpdate, NotifyEVChargingNeeds), and pass the others it runs. The default
run covers rejects-negative-limits, discharges-wrong-sign, ignores-idle,
discharges-after-needs-rejected, ignores-pulled-update, accepts-idle-with-limits,
ignores-evse-sleep and claims-evse-sleep (with the SupportsEvseSleep gate); the rest is slow.
Unit tests of the judging functions (``testbench.procedures.v2x``) come first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import labgen
import numpy as np
import pytest
from labgen import ChargerEntry, write_lab

from testbench.lab.faults import CHARGER_FAULTS, V2X_FAULTS
from testbench.procedures import v2x
from testbench.schedule import CompositePeriod

REPO = Path(__file__).resolve().parents[2]
SUITE = str(REPO / "suites" / "v2x")
EV = "ev-van"
STATUS, METER, WIRE = "expected 'Accepted'", "meter:", "composite schedule"
DELAY, PULL, NEEDS = "randomizedDelay:", "PullDynamicScheduleUpdate", "NotifyEVChargingNeeds"
REJECT, SLEEP = "expected 'Rejected'", "evseSleep:"
CHECKS = (STATUS, METER, WIRE, DELAY, PULL, NEEDS, REJECT, SLEEP)
# fault -> {test: checks that must catch it there}; a selected test not listed must pass
EXPECTED: dict[str, dict[str, set[str]]] = {
    "rejects-negative-limits": {"test_negative_limit_discharges": {STATUS}},
    "discharges-wrong-sign": {"test_negative_limit_discharges": {METER},
                              "test_operation_mode_change": {METER},
                              "test_central_setpoint_push": {METER}},
    "ignores-idle": {"test_idle_operation_mode": {METER, SLEEP},
                     "test_idle_from_transaction_start": {METER}},
    "ignores-randomized-delay": {"test_randomized_delay_tx_profile": {DELAY}},
    "ignores-limit-at-soc": {"test_limit_at_soc": {METER}},
    "never-pulls-dynamic-schedule": {"test_central_setpoint_pull": {PULL}},
    "charging-needs-without-v2x": {"test_charging_needs_accepted": {NEEDS}},
    "discharges-after-needs-rejected": {"test_charging_needs_rejected": {METER}},
    "ignores-pulled-update": {"test_central_setpoint_pull": {METER, WIRE}},
    "accepts-idle-with-limits": {"test_idle_profile_validations": {REJECT}},
    "ignores-evse-sleep": {"test_idle_operation_mode": {SLEEP}},
    "claims-evse-sleep": {"test_idle_with_evse_sleep_unsupported": {SLEEP}},
}
BIDI = {"bidirectional": True, "iso15118": ["-2", "-20"]}
SUITE_CASES = 13  # test functions in suites/v2x
SLEEP_GATED = "test_idle_with_evse_sleep_unsupported"  # skipped where evseSleep is supported
NEEDS_AND_PULL = ("discharges-after-needs-rejected", "ignores-pulled-update")
NEEDS_AND_PULL_TESTS = ("test_charging_needs_rejected", "test_central_setpoint_pull")
labgen.EVS.setdefault(EV, {"make": "Hauler", "model": "eVan V2G", "software": "5.0.1", "phases": 3,
                               "min_current_a": 8.0, "max_current_a": 32.0, "battery_kwh": 90.0,
                               "initial_soc_pct": 40.0, "iso15118": ["-2", "-20"],
                               "bidirectional": True})


def test_v2x_faults_are_in_the_catalogue() -> None:
    assert set(EXPECTED) == set(V2X_FAULTS) <= set(CHARGER_FAULTS)


# ----------------------------------------------------------------------------- judging
def _bands(t: np.ndarray, change_s: float, before: v2x.Band, after: v2x.Band) -> list:
    return [before if x < change_s else after for x in t]


def test_band_of_each_operation_mode() -> None:
    kw = {"ev_min_discharge_w": 5520.0, "accuracy_w": 100.0}
    idle = v2x.band_of(CompositePeriod(0, 22080.0, operation_mode="Idle"), **kw)
    assert (idle.low_w, idle.high_w) == (-100.0, 100.0)
    setpoint = v2x.band_of(CompositePeriod(0, 22080.0, setpoint=-6900.0,
                                           operation_mode="CentralSetpoint"), **kw)
    assert setpoint.contains(-6900.0) and not setpoint.contains(6900.0)
    assert setpoint.low_w == pytest.approx(-6900 - 100 - 345)
    negative = v2x.band_of(CompositePeriod(0, -8280.0), **kw)
    assert (negative.low_w, negative.high_w) == (-8380.0, -5420.0)
    charging = v2x.band_of(CompositePeriod(0, 6900.0), **kw)
    assert charging.contains(0.0) and not charging.contains(-1000.0)
    capped = v2x.band_of(CompositePeriod(0, 22080.0), soc_limit_w=6900.0, **kw)
    assert capped.high_w == 7000.0


def test_follow_power_allows_the_response_time_then_judges() -> None:
    t = np.arange(0.0, 60.0, 0.5)
    before = v2x.Band(-100.0, 7000.0, "charge")
    after = v2x.Band(-7100.0, -6500.0, "setpoint")
    bands = _bands(t, 20.0, before, after)
    follows = np.where(t < 25.0, 6900.0, -6900.0)  # 5 s to follow: inside 10 s
    problems, follow = v2x.follow_power(t, follows, bands, response_s=10.0, judge_from_s=0.0)
    assert problems == [] and follow.judged > 0
    assert follow.settles[1].settle_s == pytest.approx(5.0)
    wrong_sign = np.where(t < 20.0, 6900.0, 6900.0)
    problems, follow = v2x.follow_power(t, wrong_sign, bands, response_s=10.0,
                                        judge_from_s=0.0)
    assert problems and "meter:" in problems[0] and follow.worst_w == pytest.approx(13400.0)
    late = np.where(t < 35.0, 6900.0, -6900.0)  # 15 s: too late without a delay ...
    assert v2x.follow_power(t, late, bands, response_s=10.0, judge_from_s=0.0)[0]
    # ... in time with a randomizedDelay of 10 s
    assert v2x.follow_power(t, late, bands, response_s=10.0, delay_s=10.0,
                            judge_from_s=0.0)[0] == []


def test_randomized_delay_judgement() -> None:
    t = np.arange(0.0, 100.0, 0.5)
    p = np.where(t < 12.0, 20000.0, np.where(t < 50.0, 6900.0, np.where(t < 71.0, 13800.0,
                                                                         6900.0)))
    seen = v2x.reach_delays(t, p, [(10.0, 6900.0), (40.0, 13800.0), (70.0, 6900.0)], 500.0)
    assert seen == [2.0, 10.0, 1.0]
    assert v2x.randomized_delay_problems(seen, 30.0) == []
    assert "all 3 changes" in v2x.randomized_delay_problems([0.5, 1.0, 0.7], 30.0)[0]
    assert "later than the bound" in v2x.randomized_delay_problems([5.0, 45.0], 30.0)[0]


def test_charging_needs_check() -> None:
    limits = v2x.ChargingNeedsLimits(22000.0, 22000.0)
    good: dict[str, Any] = {"evseId": 1, "chargingNeeds": {
        "requestedEnergyTransfer": "AC_BPT",
        "v2xChargingParameters": {"maxChargePower": 22000.0, "maxDischargePower": 11000.0,
                                  "minChargePower": 5520.0, "minDischargePower": 5520.0,
                                  "evMinV2XEnergyRequest": -18000.0,
                                  "evMaxV2XEnergyRequest": 54000.0}}}
    assert v2x.charging_needs_problems(good, limits) == []
    bad = {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}}
    problems = v2x.charging_needs_problems(bad, limits)
    assert any("BPT" in p for p in problems) and any("no v2xChargingParameters" in p
                                                     for p in problems)
    params = dict(good["chargingNeeds"]["v2xChargingParameters"], maxDischargePower=50000.0)
    too_much = {"evseId": 1,
                "chargingNeeds": dict(good["chargingNeeds"], v2xChargingParameters=params)}
    assert "maxDischargePower" in v2x.charging_needs_problems(too_much, limits)[0]


def test_soc_crossing_from_measured_power() -> None:
    t = np.arange(0.0, 400.0, 1.0)
    p = np.full_like(t, 9000.0)  # 9 kW into 90 kWh: 1 % (900 Wh) in 360 s at efficiency 1
    at = v2x.soc_crossing_s(t, p, initial_soc_pct=40.0, battery_kwh=90.0, soc_pct=41.0,
                            efficiency=1.0)
    assert at == pytest.approx(360.0, abs=1.0)
    assert v2x.soc_crossing_s(t, p, initial_soc_pct=40.0, battery_kwh=90.0, soc_pct=41.0,
                              efficiency=0.85) is None


# ----------------------------------------------------------------------------- the suite
def _lab(tmp_path: Path, faults: list[str], more: tuple[ChargerEntry, ...] = ()
         ) -> tuple[Path, list[ChargerEntry]]:
    chargers = [ChargerEntry("ok-21", "2.1", extra=BIDI), *more]
    chargers += [ChargerEntry(f"{fault[:14]}-21", "2.1", (fault,), extra=BIDI)
                 for fault in faults]
    lab = write_lab(tmp_path / "lab.toml", chargers, [EV], time_scale=20.0,
                    analyzers={c.id: "yokogawa-wt" for c in chargers})
    return lab, chargers


def _judge(records: dict, entry: ChargerEntry, tests: tuple[str, ...]) -> list[str]:
    expected = EXPECTED[entry.faults[0]] if entry.faults else {}
    problems = []
    for test in tests:
        record = records.get((entry.id, EV, test))
        if record is None:
            problems.append(f"{entry.id} {test}: no result")
            continue
        message = record.get("message") or ""
        wanted = expected.get(test, set())
        caught = {check for check in CHECKS if check in message}
        verdict = "failed" if wanted else "passed"
        if record["verdict"] != verdict or caught != wanted:
            problems.append(f"{entry.id} {test}: {record['verdict']} (expected {verdict}, "
                            f"checks {sorted(wanted)}, saw {sorted(caught)}): {message}")
    return problems


def test_each_v2x_check_catches_its_fault(tmp_path: Path, testbench_cli) -> None:
    """Negative limits and Idle: rejects-negative-limits, discharges-wrong-sign and
    ignores-idle are caught by their checks, the conformant charger passes both."""
    tests = ("test_negative_limit_discharges", "test_idle_operation_mode")
    lab, chargers = _lab(tmp_path, ["rejects-negative-limits", "discharges-wrong-sign",
                                    "ignores-idle"])
    result = testbench_cli("run", "--lab", str(lab), "--unattended", SUITE, "--",
                           "-k", "negative_limit or idle_operation", timeout_s=300)
    records = result.verdicts()
    assert len(records) == len(chargers) * len(tests), sorted(records)
    problems = [p for entry in chargers for p in _judge(records, entry, tests)]
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    assert result.exit_code == 1, result.output[-2000:]
    evidence = list((tmp_path / "reports" / "runs").glob("*/evidence/*/v2x-session.png"))
    assert len(evidence) == 2 * len(chargers), evidence


@pytest.mark.slow  # a full CLI run (20-30 s): CI runs it once with -m slow
def test_needs_rejected_and_pulled_update_faults(tmp_path: Path, testbench_cli) -> None:
    """The bench's answers matter: after a Rejected NotifyEVChargingNeeds
    (discharges-after-needs-rejected) and with a new setpoint in the answer to a pull
    (ignores-pulled-update) each fault fails its case by its check; the conformant charger
    passes both (each fault on the other case: the slow test)."""
    lab, chargers = _lab(tmp_path, ["discharges-after-needs-rejected", "ignores-pulled-update"])
    result = testbench_cli("run", "--lab", str(lab), "--unattended", SUITE, "--", "-k",
                           "(charging_needs_rejected and not ignores-pulled) or "
                           "(central_setpoint_pull and not discharges-aft)", timeout_s=300)
    records = result.verdicts()
    runs = {"ok-21": ("test_charging_needs_rejected", "test_central_setpoint_pull"),
            "discharges-aft-21": ("test_charging_needs_rejected",),
            "ignores-pulled-21": ("test_central_setpoint_pull",)}
    assert len(records) == 4, sorted(records)
    problems = [p for entry in chargers for p in _judge(records, entry, runs[entry.id])]
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    assert result.exit_code == 1, result.output[-2000:]


def test_idle_profile_validation_fault(tmp_path: Path, testbench_cli) -> None:
    """TC_Q_127_CS: accepts-idle-with-limits Accepts Idle periods with a limit,
    dischargeLimit or setpoint and fails the case on the wire; the conformant charger
    Rejects all three and passes (composite and meter stay at 16 A)."""
    test = "test_idle_profile_validations"
    lab, chargers = _lab(tmp_path, ["accepts-idle-with-limits"])
    result = testbench_cli("run", "--lab", str(lab), "--unattended", SUITE, "--",
                           "-k", "idle_profile_validations", timeout_s=300)
    records = result.verdicts()
    assert len(records) == len(chargers), sorted(records)
    problems = [p for entry in chargers for p in _judge(records, entry, (test,))]
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    assert "Idle with a setpoint" in records[("accepts-idle-w-21", EV, test)]["message"]
    assert result.exit_code == 1, result.output[-2000:]


@pytest.mark.slow  # a full CLI run (20-30 s): CI runs it once with -m slow
def test_evse_sleep_faults_and_the_gate(tmp_path: Path, testbench_cli) -> None:
    """TC_Q_125_CS / TC_Q_126_CS run by what the charger reports (SupportsEvseSleep):
    ignores-evse-sleep (reports support, never evseSleep true) fails Q_125 and
    claims-evse-sleep (reports none, yet evseSleep true) fails Q_126, each by the evseSleep
    check; the conformant charger with and without evseSleep passes its case; every charger
    skips the other case as not applicable."""
    tests = ("test_idle_operation_mode", SLEEP_GATED)
    nosleep = ChargerEntry("nosleep-21", "2.1", extra={**BIDI, "evse_sleep": False})
    lab, chargers = _lab(tmp_path, ["ignores-evse-sleep", "claims-evse-sleep"], (nosleep,))
    result = testbench_cli("run", "--lab", str(lab), "--unattended", SUITE, "--",
                           "-k", "idle_operation_mode or evse_sleep_unsupported", timeout_s=300)
    records = result.verdicts()
    assert len(records) == len(chargers) * len(tests), sorted(records)
    runs = {"ok-21": tests[0], "nosleep-21": tests[1], "ignores-evse-s-21": tests[0],
            "claims-evse-sl-21": tests[1]}
    problems = [p for entry in chargers for p in _judge(records, entry, (runs[entry.id],))]
    for entry in chargers:
        other = tests[1] if runs[entry.id] == tests[0] else tests[0]
        record = records[(entry.id, EV, other)]
        if record["verdict"] != "skipped" or "not applicable" not in (record.get("message")
                                                                       or ""):
            problems.append(f"{entry.id} {other}: {record['verdict']} (expected skipped as "
                            f"not applicable): {record.get('message')}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    assert result.exit_code == 1, result.output[-2000:]


@pytest.mark.slow
def test_remaining_v2x_faults_and_the_conformant_charger(tmp_path: Path, testbench_cli) -> None:
    """Every other V2X fault fails its case by its check; the conformant charger passes
    the whole suite."""
    faults = ["discharges-wrong-sign", "ignores-randomized-delay", "ignores-limit-at-soc",
              "never-pulls-dynamic-schedule", "charging-needs-without-v2x",
              "discharges-after-needs-rejected", "ignores-pulled-update"]
    lab, chargers = _lab(tmp_path, faults)
    problems: list[str] = []
    for entry in chargers:
        tests = tuple(EXPECTED[entry.faults[0]]) if entry.faults else ()
        if entry.faults == ("discharges-wrong-sign",):
            tests = ("test_operation_mode_change", "test_central_setpoint_push")
        if entry.faults and entry.faults[0] in NEEDS_AND_PULL:
            tests = NEEDS_AND_PULL_TESTS  # each fails its own case and passes the other
        args = ["run", "--lab", str(lab), "--unattended", "--charger", entry.id, SUITE]
        if tests:
            args += ["--", "-k", " or ".join(tests)]
        result = testbench_cli(*args, timeout_s=600)
        records = {k: v for k, v in result.verdicts().items() if k[0] == entry.id}
        if not tests:
            bad = [f"{k[2]}: {r['verdict']}: {r.get('message')}" for k, r in records.items()
                   if r["verdict"] != "passed" and not (
                       k[2] == SLEEP_GATED and r["verdict"] == "skipped"
                       and "reports evseSleep support" in (r.get("message") or ""))]
            problems += [f"{entry.id} {b}" for b in bad]
            if len(records) < SUITE_CASES or result.exit_code != 0:
                problems.append(f"{entry.id}: {len(records)} results, exit "
                                f"{result.exit_code}\n{result.output[-1500:]}")
        else:
            problems += _judge(records, entry, tests)
    assert not problems, "\n".join(problems)


def test_timeline_switches_reference_at_a_dynamic_update() -> None:
    from testbench.schedule import CompositeSchedule

    def ref(setpoint: float) -> CompositeSchedule:
        return CompositeSchedule(evse_id=1, start_s=0.0, duration_s=100.0, unit="W",
                                 periods=(CompositePeriod(0.0, 22080.0, setpoint=setpoint,
                                                          operation_mode="CentralSetpoint"),))

    line = v2x.Timeline()
    line.add(float("-inf"), ref(8280.0))
    line.add(40.0, ref(-8280.0))
    before, after = line.period_at(39.0), line.period_at(41.0)
    assert before is not None and after is not None
    assert (before.setpoint, after.setpoint) == (8280.0, -8280.0)
    assert line.period_at(150.0) is None


def test_soc_bands_widen_between_the_earliest_and_latest_crossing() -> None:
    plain, capped = v2x.Band(0.0, 22000.0, "plain"), v2x.Band(0.0, 7000.0, "capped")
    t = np.array([0.0, 10.0, 20.0, 30.0])
    bands = v2x.soc_bands(t, lambda x, cap: plain if cap is None else capped, 10.0, 30.0,
                          6900.0)
    assert [b.high_w for b in bands if b is not None] == [22000.0, 22000.0, 22000.0, 7000.0]
