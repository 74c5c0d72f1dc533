"""Every suite check catches the defect aimed at it, and a conformant charger passes.

One run of the real `testbench run` against a simulated lab where each fault personality
sits on its own charger: the journal must show exactly the expected tests failing for that
charger (as device failures, with a reason) and everything else passing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from labgen import ChargerEntry, write_lab

from testbench.lab import faults as catalogue
from testbench.lab.faults import CHARGER_FAULTS, EV_FAULTS

REPO = Path(__file__).resolve().parents[2]
OCPP_SUITES = str(REPO / "suites" / "ocpp")
# faults caught by other suites, proven by their own self-tests
MEASURED_FAULTS = {"meter-overreports-energy", "exceeds-max-current"}  # test_measured_suite.py
SELFTEST_OF_AREA = {  # every *_FAULTS group of testbench.lab.faults -> the self-test proving it
    "FIRMWARE_FAULTS": "selftest/test_firmware_faults.py",
    "GRIDCODE_FAULTS": "selftest/test_gridcode_faults.py",
    "GRIDCODE_VOLTAGE_FAULTS": "selftest/test_gridcode_voltage_faults.py",
    "SMART_CHARGING_FAULTS": "selftest/test_smart_charging_faults.py",
    "V2X_FAULTS": "selftest/test_v2x_faults.py",
    "IEC61851_FAULTS": "selftest/test_iec61851_faults.py",
    "IEC61851_EV_FAULTS": "selftest/test_iec61851_faults.py",
    "CHADEMO_FAULTS": "selftest/test_chademo_faults.py",
    "CHADEMO_EV_FAULTS": "selftest/test_chademo_vehicle_faults.py",
    "ISO15118_EV_FAULTS": "selftest/test_iso15118_ev_faults.py",
    "ENERGY_SERVICE_FAULTS": "selftest/test_energy_service_faults.py",
    "ISO15118_FAULTS": "selftest/test_iso15118_faults.py",
    "SUNSPEC_FAULTS": "selftest/test_sunspec_faults.py",
    "ROBUSTNESS_FAULTS": "faults/test_fault_table.py",
}
AREAS = {name: getattr(catalogue, name) for name in dir(catalogue)
         if name.endswith("_FAULTS") and isinstance(getattr(catalogue, name), tuple)}
OTHER_FAULTS = set().union(*AREAS.values()) - set(EV_FAULTS)

ALL_TESTS = {
    "test_boot_accepted", "test_boot_pending_then_accepted", "test_heartbeat_interval_honoured",
    "test_status_on_plug_in_and_out", "test_local_authorize_start_and_stop",
    "test_rejected_card_does_not_charge", "test_remote_start_and_stop",
    "test_meter_values_during_transaction", "test_reset_reboots", "test_change_availability",
}

# fault -> the checks that must catch it (and no others may fail)
CAUGHT_BY = {
    "boots-with-wrong-firmware": {"test_boot_accepted"},
    "ignores-boot-pending": {"test_boot_pending_then_accepted"},
    "wrong-heartbeat-interval": {"test_heartbeat_interval_honoured"},
    "skips-status-notification": {"test_status_on_plug_in_and_out"},
    "ignores-authorization": {"test_rejected_card_does_not_charge"},
    "ignores-remote-stop": {"test_remote_start_and_stop"},
    "meter-goes-backwards": {"test_meter_values_during_transaction"},
    "ignores-reset": {"test_reset_reboots"},
    "ignores-availability": {"test_change_availability"},
}
VERSIONS = ("1.6", "2.0.1", "2.1")
EV_CAUGHT_BY = {
    # (the meter-values check stays green: a register that does not move while no energy
    # flows is consistent; the energy checks are what must catch this EV)
    "never-requests-energy": {"test_local_authorize_start_and_stop", "test_remote_start_and_stop"},
}


def test_every_fault_has_a_catching_check():
    """No fault personality without a self-test proving some check catches it."""
    # grid code: test_gridcode_faults.py; smart charging: test_smart_charging_faults.py
    assert set(CAUGHT_BY) | MEASURED_FAULTS | OTHER_FAULTS == set(CHARGER_FAULTS)
    assert not (set(CAUGHT_BY) & (MEASURED_FAULTS | OTHER_FAULTS))
    assert all(tests <= ALL_TESTS for tests in CAUGHT_BY.values())
    ev_areas = set().union(*AREAS.values()) & set(EV_FAULTS)
    assert set(EV_FAULTS) == set(EV_CAUGHT_BY) | ev_areas


def test_every_fault_group_names_its_self_test():
    """Each *_FAULTS group has a self-test file that uses every fault of the group (by name or
    by importing the group), so a new fault cannot go unproven."""
    assert set(AREAS) == set(SELFTEST_OF_AREA), "add the new group to SELFTEST_OF_AREA"
    tests_dir = Path(__file__).resolve().parents[1]
    missing = []
    for area, faults in AREAS.items():
        text = (tests_dir / SELFTEST_OF_AREA[area]).read_text(encoding="utf-8")
        missing += [f"{area}: {fault}" for fault in faults
                    if f'"{fault}"' not in text and area not in text]
    assert not missing, missing


def _check_run(result, chargers: list[ChargerEntry], evs: list[str]) -> None:
    verdicts = result.verdicts()
    assert len(verdicts) == len(chargers) * len(evs) * len(ALL_TESTS), result.output[-3000:]
    problems = []
    for entry in chargers:
        expected_failures = set().union(*(CAUGHT_BY[f] for f in entry.faults)) if entry.faults else set()
        for ev in evs:
            for test in ALL_TESTS:
                record = verdicts[(entry.id, ev, test)]
                want = "failed" if test in expected_failures else "passed"
                if record["verdict"] != want:
                    problems.append(f"{entry.id} ({entry.ocpp_version}, faults {list(entry.faults)}) x {ev}: "
                                    f"{test} is {record['verdict']}, expected {want}: {record['message']}")
                if want == "failed" and not record["message"]:
                    problems.append(f"{entry.id} x {ev}: {test} failed without a reason")
    assert not problems, "\n".join(problems)
    assert result.exit_code == (1 if any(c.faults for c in chargers) else 0), result.output[-2000:]


def test_each_fault_caught_by_its_check_on_one_version_each(tmp_path: Path, testbench_cli):
    """Nine faults rotated over the three OCPP versions, plus one conformant charger per version."""
    chargers = [ChargerEntry(f"ok-{v.replace('.', '')}", v) for v in VERSIONS]
    for n, fault in enumerate(sorted(CAUGHT_BY)):
        version = VERSIONS[n % 3]
        chargers.append(ChargerEntry(f"{fault}-{version.replace('.', '')}", version, (fault,)))
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-saloon"])
    result = testbench_cli("run", OCPP_SUITES, "--lab", str(lab), "--unattended")
    _check_run(result, chargers, ["ev-saloon"])


@pytest.mark.slow
def test_each_fault_caught_on_every_version(tmp_path: Path, testbench_cli):
    """The full cross product: every fault on every OCPP version."""
    chargers = [ChargerEntry(f"{fault}-{v.replace('.', '')}", v, (fault,))
                for fault in sorted(CAUGHT_BY) for v in VERSIONS]
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-city"])
    result = testbench_cli("run", OCPP_SUITES, "--lab", str(lab), "--unattended", timeout_s=1500)
    _check_run(result, chargers, ["ev-city"])


def test_ev_fault_fails_exactly_that_evs_cells(tmp_path: Path, testbench_cli):
    """An EV that never asks for energy fails the energy checks with every charger, and only them."""
    chargers = [ChargerEntry(f"ok-{v.replace('.', '')}", v) for v in VERSIONS]
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-saloon", "ev-city"],
                    ev_faults={"ev-city": ["never-requests-energy"]})
    selection = "authorize or remote or meter or status or rejected"
    result = testbench_cli("run", OCPP_SUITES, "--lab", str(lab), "--unattended", "-k", selection)
    problems = []
    for (charger, ev, test), record in result.verdicts().items():
        want = "failed" if ev == "ev-city" and test in EV_CAUGHT_BY["never-requests-energy"] else "passed"
        if record["verdict"] != want:
            problems.append(f"{ev}@{charger} {test}: {record['verdict']} (expected {want}): {record['message']}")
    assert len(result.verdicts()) == 3 * 2 * 5, result.output[-3000:]
    assert not problems, "\n".join(problems)
