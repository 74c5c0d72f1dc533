"""The smart-charging checks catch the faults aimed at them and pass a conformant charger.

One run of the real `testbench run suites/smart_charging` (two cases) against
a simulated lab (time scale 20) with a power analyser on every charger: conformant chargers
on 1.6 and 2.0.1, and one charger per smart-charging fault personality. Each fault must be
caught by the check meant for it (wire: the composite schedule; meter: the measured current)
and by no other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from labgen import ChargerEntry, write_lab

from testbench.lab.faults import CHARGER_FAULTS, SMART_CHARGING_FAULTS
from testbench.procedures.smart import follow_problems

REPO = Path(__file__).resolve().parents[2]
WIRE, METER = "composite schedule", "meter:"
# fault -> {test: the checks that must catch it there (absent test: it must pass)}
EXPECTED = {
    "ignores-stack-level": {"test_stacking": {WIRE, METER}},
    "applies-limit-late": {"test_tx_default_profile": {METER}, "test_stacking": {METER}},
    "overshoots-limit": {"test_tx_default_profile": {METER}, "test_stacking": {METER}},
    "wrong-composite-schedule": {"test_tx_default_profile": {WIRE}, "test_stacking": {WIRE}},
}
TESTS = ("test_tx_default_profile", "test_stacking")


# The profile-management cases (test_clear / test_get_profiles / test_composite /
# test_remote_start): fault -> {test: text its failure message must hold}.
CASES_EXPECTED = {
    "clear-ignores-criteria": {
        "test_clear_unknown_stack_level_and_purpose": "ClearChargingProfile of an unused",
        "test_clear_without_profiles": "ClearChargingProfile with nothing installed",
        "test_clear_tx_default_during_transaction": "meter:",
        "test_clear_stack_level_and_purpose_of_several": "composite schedule",
    },
    "get-profiles-ignores-filter": {
        name: "that do not match the criteria" for name in (
            "test_get_profiles_of_the_station", "test_get_profiles_of_one_evse", "test_get_profiles_without_evse",
            "test_get_profiles_by_id", "test_get_profiles_by_stack_level",
            "test_get_profiles_by_source", "test_get_profiles_by_purpose",
            "test_get_profiles_by_purpose_and_stack_level")},
    "remote-start-accepts-any-profile": {
        "test_remote_start_with_non_tx_profile_rejected": "RemoteStartTransaction with a"},
    "composite-for-unknown-evse": {
        "test_composite_unknown_evse_rejected": "does not have"},
    "wrong-composite-schedule": {"test_composite_combining_purposes": WIRE},
    "ignores-stack-level": {"test_composite_stacking": WIRE,
                            "test_clear_stack_level_and_purpose_of_several": WIRE},
}
CASE_FILES = ("test_clear.py", "test_get_profiles.py", "test_composite.py",
              "test_remote_start.py")

# The capability cases (chargers without smart charging / with one rate unit), proven in
# test_capability_cases_follow_what_the_charger_reports: fault -> {test: failure text}.
CAPABILITY_EXPECTED = {
    "applies-profile-without-smart-charging": {
        "test_remote_start_profile_ignored_without_smart_charging": "held at the"},
    "accepts-unsupported-rate-unit": {
        "test_composite_unsupported_rate_unit_rejected": "expected 'Rejected'"},
}
NO_SC, SMART, NOT_2X = ("reports no smart charging", "reports smart charging",
                        "lacks capability 'ocpp2'")


def test_smart_charging_faults_are_in_the_catalogue() -> None:
    assert set(EXPECTED) | set(CASES_EXPECTED) | set(CAPABILITY_EXPECTED) == set(
        SMART_CHARGING_FAULTS)
    assert set(SMART_CHARGING_FAULTS) <= set(CHARGER_FAULTS)


def test_follow_check_judges_after_the_response_time() -> None:
    t = np.arange(0.0, 30.0, 0.5)
    allowed = [10.0 if x < 10 else 6.0 for x in t]
    lagging = np.array([10.0 if x < 15 else 6.0 for x in t])  # 5 s to follow: inside 10 s
    assert follow_problems(t, lagging, allowed, response_s=10.0)[0] == []
    late = np.array([10.0 if x < 25 else 6.0 for x in t])  # 15 s: too late
    problems, follow = follow_problems(t, late, allowed, response_s=10.0)
    assert problems and follow.over == 10 and follow.worst_excess_a == 4.0, problems


def test_each_smart_charging_check_catches_its_fault(tmp_path: Path, testbench_cli) -> None:
    chargers = [ChargerEntry("ok-16", "1.6"), ChargerEntry("ok-201", "2.0.1"),
                ChargerEntry("stack-201", "2.0.1", ("ignores-stack-level",)),
                ChargerEntry("late-16", "1.6", ("applies-limit-late",)),
                ChargerEntry("over-201", "2.0.1", ("overshoots-limit",)),
                ChargerEntry("wrongcs-16", "1.6", ("wrong-composite-schedule",))]
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-saloon"], time_scale=20.0,
                    analyzers={c.id: "yokogawa-wt" for c in chargers})
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(REPO / "suites" / "smart_charging"), "--",
                           "-k", "(tx_default and not during and not all_evses) or test_stacking",
                           timeout_s=300)
    verdicts = result.verdicts()
    assert len(verdicts) == len(chargers) * len(TESTS), sorted(verdicts)
    problems = []
    for entry in chargers:
        expected = EXPECTED[entry.faults[0]] if entry.faults else {}
        for test in TESTS:
            record = verdicts.get((entry.id, "ev-saloon", test))
            if record is None:
                problems.append(f"{entry.id} {test}: no result")
                continue
            message = record.get("message") or ""
            wanted = expected.get(test, set())
            caught = {check for check in (WIRE, METER) if check in message}
            verdict = "failed" if wanted else "passed"
            if record["verdict"] != verdict or caught != wanted:
                problems.append(f"{entry.id} {test}: {record['verdict']} (expected {verdict}, "
                                f"checks {sorted(wanted)}): {message}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    assert result.exit_code == 1, result.output[-2000:]
    evidence = list((tmp_path / "reports" / "runs").glob("*/evidence/*/smart-session.png"))
    assert len(evidence) == 2 * len(chargers), evidence


@pytest.mark.slow  # a full CLI run (20-30 s): CI runs it once with -m slow
def test_profile_management_cases_catch_their_faults(tmp_path: Path, testbench_cli) -> None:
    """One run of the profile-management case files: conformant 1.6 and 2.0.1 chargers pass
    every case (2.x-only ones skip on 1.6); each faulty charger fails exactly the cases meant
    for its fault, with that check's message. The cases that run a transaction (slow) run
    only where they prove something."""
    chargers = [ChargerEntry("ok-16", "1.6"), ChargerEntry("ok-201", "2.0.1"),
                ChargerEntry("clear-201", "2.0.1", ("clear-ignores-criteria",)),
                ChargerEntry("getp-201", "2.0.1", ("get-profiles-ignores-filter",)),
                ChargerEntry("rs-16", "1.6", ("remote-start-accepts-any-profile",)),
                ChargerEntry("unk-201", "2.0.1", ("composite-for-unknown-evse",)),
                ChargerEntry("wrongcs-201", "2.0.1", ("wrong-composite-schedule",)),
                ChargerEntry("stack-201", "2.0.1", ("ignores-stack-level",))]
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-saloon"], time_scale=20.0,
                    analyzers={c.id: "yokogawa-wt" for c in chargers})
    with_tx = "(during_transaction or combining or ignored_without)"
    select = (f"not ({with_tx} and (getp-201 or rs-16 or unk-201 or stack-201)) "
              "and not (wrongcs-201 and not combining)")
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           *(str(REPO / "suites" / "smart_charging" / f) for f in CASE_FILES),
                           "--", "-k", select, timeout_s=300)
    records = result.records()
    assert records, result.output[-2000:]
    problems = []
    failing: set[tuple[str, str]] = set()
    for entry in chargers:
        for test, text in (CASES_EXPECTED[entry.faults[0]] if entry.faults else {}).items():
            failing.add((entry.id, test))
            record = next((r for r in records if (r["charger"], r["name"]) == (entry.id, test)),
                          None)
            if record is None or record["verdict"] != "failed" \
                    or text not in (record.get("message") or ""):
                problems.append(f"{entry.id} {test}: expected a failure naming {text!r}, got "
                                f"{record and (record['verdict'], record.get('message'))}")
    for r in records:
        if (r["charger"], r["name"]) in failing:
            continue
        skipped_ok = r["verdict"] == "skipped" and any(
            why in (r.get("message") or "") for why in ("lacks capability 'ocpp",
                                                        "not applicable: charger reports"))
        if r["verdict"] != "passed" and not skipped_ok:
            problems.append(f"{r['charger']} {r['name']}: {r['verdict']} (expected passed): "
                            f"{r.get('message')}")
    passed_ok = {r["name"] for r in records
                 if r["charger"].startswith("ok-") and r["verdict"] == "passed"}
    every_case = {name for tests in CASES_EXPECTED.values() for name in tests}
    if every_case - passed_ok:
        problems.append(f"no conformant charger passed {sorted(every_case - passed_ok)}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    assert result.exit_code == 1, result.output[-2000:]


@pytest.mark.slow
def test_conformant_chargers_pass_the_whole_suite(tmp_path: Path, testbench_cli) -> None:
    """Every smart-charging case passes a conformant 1.6, 2.0.1 and 2.1 charger (the 2.0.1
    one without an analyser: the wire checks alone); skipped only where a case is for
    another OCPP version or for a charger without smart charging / with one rate unit."""
    chargers = [ChargerEntry("ok-16", "1.6"), ChargerEntry("ok-201", "2.0.1"),
                ChargerEntry("ok-21", "2.1")]
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-saloon"], time_scale=20.0,
                    analyzers={"ok-16": "yokogawa-wt", "ok-21": "zes-lmg600"})
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(REPO / "suites" / "smart_charging"), timeout_s=600)
    records = result.records()
    bad = [f"{r['charger']} {r['name']}: {r['verdict']}: {r.get('message')}" for r in records
           if r["verdict"] not in ("passed", "skipped")
           or (r["verdict"] == "skipped"
               and "lacks capability 'ocpp" not in (r.get("message") or "")
               and not r["name"].endswith(("_ignored_without_smart_charging",
                                           "_unsupported_rate_unit_rejected")))]
    assert records and not bad, "\n".join(bad) + "\n" + result.output[-2000:]
    assert result.exit_code == 0, result.output[-2000:]
    measured = list((tmp_path / "reports" / "runs").glob("*/evidence/*ok-201*/smart-session.csv"))
    assert not measured, "no analyser on ok-201, yet a recording was saved"


def test_capability_cases_follow_what_the_charger_reports(tmp_path: Path,
                                                          testbench_cli) -> None:
    """Chargers reporting no smart charging (2.0.1 GetVariables, 1.6 GetConfiguration) skip
    the smart-charging cases and run TC_K_38, which passes when the remote start's profile
    is ignored and fails when it is applied; TC_K_42 runs only on a charger reporting one
    rate unit, passes when the other unit is Rejected and fails when it is Accepted; a case
    asking for W skips on an A-only charger."""
    no_sc = {"smart_charging": False}
    a_only = {"charging_rate_units": ["A"]}
    chargers = [ChargerEntry("ok-201", "2.0.1"),
                ChargerEntry("nosc-201", "2.0.1", extra=no_sc),
                ChargerEntry("nosc-16", "1.6", extra=no_sc),
                ChargerEntry("applies-201", "2.0.1", ("applies-profile-without-smart-charging",),
                             extra=no_sc),
                ChargerEntry("aonly-201", "2.0.1", extra=a_only),
                ChargerEntry("accw-201", "2.0.1", ("accepts-unsupported-rate-unit",),
                             extra=a_only)]
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-saloon"], time_scale=20.0,
                    analyzers={c.id: "yokogawa-wt" for c in chargers})
    k38, k42 = ("test_remote_start_profile_ignored_without_smart_charging",
                "test_composite_unsupported_rate_unit_rejected")
    k39, watts = "test_composite_without_profiles", "test_composite_schedule_in_watts"
    # charger -> test -> (verdict, text its message must hold)
    expected: dict[str, dict[str, tuple[str, str]]] = {
        "ok-201": {k38: ("skipped", SMART), k42: ("skipped", "reports rate units A, W"),
                   k39: ("passed", ""), watts: ("passed", "")},
        "nosc-201": {k38: ("passed", ""), k42: ("skipped", NO_SC), k39: ("skipped", NO_SC),
                     watts: ("skipped", NO_SC)},
        "nosc-16": {k38: ("skipped", NOT_2X), k42: ("skipped", NOT_2X),
                    k39: ("skipped", NO_SC), watts: ("skipped", NO_SC)},
        "applies-201": {k38: ("failed", "held at the"), k42: ("skipped", NO_SC),
                        k39: ("skipped", NO_SC), watts: ("skipped", NO_SC)},
        "aonly-201": {k38: ("skipped", SMART), k42: ("passed", ""), k39: ("passed", ""),
                      watts: ("skipped", "(no W)")},
        "accw-201": {k38: ("skipped", SMART), k42: ("failed", "expected 'Rejected'"),
                     k39: ("passed", ""), watts: ("skipped", "(no W)")},
    }
    for entry in chargers:
        for fault in entry.faults:
            for test, text in CAPABILITY_EXPECTED[fault].items():
                assert expected[entry.id][test] == ("failed", text), (entry.id, test)
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(REPO / "suites" / "smart_charging"), "--",
                           "-k", f"{k38} or {k42} or {k39} or {watts}", timeout_s=300)
    verdicts = result.verdicts()
    problems = []
    for charger, tests in expected.items():
        for test, (verdict, text) in tests.items():
            record = verdicts.get((charger, "ev-saloon", test))
            got = record and (record["verdict"], record.get("message") or "")
            if got is None or got[0] != verdict or text not in got[1]:
                problems.append(f"{charger} {test}: expected {verdict} ({text!r}), got {got}")
    assert len(verdicts) == sum(len(t) for t in expected.values()), sorted(verdicts)
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    assert result.exit_code == 1, result.output[-2000:]
