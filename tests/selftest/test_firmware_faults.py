"""Every firmware and upload fault personality is caught by its check; a conformant charger
passes the whole firmware suite (suites/firmware) on every OCPP version.

One run of the real `testbench run`; each fault sits on its own charger.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from labgen import ChargerEntry, write_lab

from testbench.lab.faults import CHARGER_FAULTS, FIRMWARE_FAULTS

REPO = Path(__file__).resolve().parents[2]
SUITE = str(REPO / "suites" / "firmware")
UPDATE = {"1.6": "test_firmware_update_installs_new_version",
          "2.0.1": "test_signed_firmware_update_installs_new_version",
          "2.1": "test_signed_firmware_update_installs_new_version"}
ALL_TESTS = ("test_diagnostics_upload", "test_firmware_update_installs_new_version",
             "test_signed_firmware_update_installs_new_version",
             "test_firmware_download_failure_reported",
             "test_firmware_installation_failure_reported",
             "test_firmware_invalid_signature_reported")
VERSIONS = ("1.6", "2.0.1", "2.1")
SHORT = {"firmware-wrong-status-sequence": "seq", "firmware-installed-but-old-version": "old",
         "firmware-accepts-invalid-signature": "sig",
         "firmware-bricks-after-failed-download": "brick",
         "upload-reported-without-file": "nofile",
         "firmware-never-back-after-install": "gone"}


def charger_id(fault: str, version: str) -> str:
    return f"{SHORT[fault]}-{version.replace('.', '')}"
# Tests that run after the download failure in suites/firmware/test_firmware_update.py: a
# bricked charger never reaches their baseline (a bench error, not a device verdict).
AFTER_DOWNLOAD_FAILURE = ("test_firmware_installation_failure_reported",
                          "test_firmware_invalid_signature_reported")
AFTER_UPDATE = ("test_firmware_download_failure_reported", *AFTER_DOWNLOAD_FAILURE)


def applicable(test: str, version: str) -> bool:
    if test == "test_firmware_update_installs_new_version":
        return version == "1.6"
    if test in ("test_signed_firmware_update_installs_new_version",
                "test_firmware_invalid_signature_reported"):
        return version != "1.6"
    return True


def caught_by(fault: str, version: str) -> set[str]:
    """The checks that must fail for ``fault`` on a charger of ``version``."""
    return {
        "firmware-wrong-status-sequence": {UPDATE[version]},
        "firmware-installed-but-old-version": {UPDATE[version]},
        "firmware-accepts-invalid-signature": {"test_firmware_invalid_signature_reported"},
        "firmware-bricks-after-failed-download": {"test_firmware_download_failure_reported"},
        "upload-reported-without-file": {"test_diagnostics_upload"},
        "firmware-never-back-after-install": {UPDATE[version]},
    }[fault]


def expected(entry: ChargerEntry, test: str) -> set[str]:
    if not applicable(test, entry.ocpp_version):
        return {"skipped"}
    fault = entry.faults[0] if entry.faults else None
    if fault is None:
        return {"passed"}
    if test in caught_by(fault, entry.ocpp_version):
        return {"failed"}
    if fault == "firmware-bricks-after-failed-download" and test in AFTER_DOWNLOAD_FAILURE:
        return {"error"}
    if fault == "firmware-never-back-after-install" and test in AFTER_UPDATE:
        return {"error"}
    return {"passed"}


def test_firmware_faults_are_catalogued():
    assert set(FIRMWARE_FAULTS) <= set(CHARGER_FAULTS)
    assert set(SHORT) == set(FIRMWARE_FAULTS)
    for fault in FIRMWARE_FAULTS:
        assert caught_by(fault, "2.0.1") <= set(ALL_TESTS)


def _check(result, chargers: list[ChargerEntry]) -> None:
    records = result.records()
    problems = []
    seen: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        seen.setdefault((record["charger"], record["name"]), []).append(record)
    for entry in chargers:
        for test in ALL_TESTS:
            found = seen.get((entry.id, test), [])
            if not found:
                problems.append(f"{entry.id}: no verdict for {test}")
            for record in found:
                want = expected(entry, test)
                if record["verdict"] not in want:
                    problems.append(f"{entry.id} ({entry.ocpp_version}, {list(entry.faults)}): "
                                    f"{record['test_id']} is {record['verdict']}, expected "
                                    f"{'/'.join(want)}: {record['message'][:300]}")
                if record["verdict"] == "failed" and not record["message"]:
                    problems.append(f"{entry.id}: {test} failed without a reason")
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]


def _run(tmp_path: Path, testbench_cli, chargers: list[ChargerEntry]):
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-saloon"], time_scale=20.0)
    return testbench_cli("run", "--lab", str(lab), "--unattended", SUITE, timeout_s=900)


def test_each_firmware_fault_caught_and_conformant_chargers_pass(tmp_path: Path, testbench_cli):
    """One charger per fault (versions rotated) and one conformant charger per version."""
    chargers = [ChargerEntry(f"ok-{v.replace('.', '')}", v) for v in VERSIONS]
    rotation = {"firmware-wrong-status-sequence": "1.6",
                "firmware-installed-but-old-version": "2.0.1",
                "firmware-accepts-invalid-signature": "2.1",
                "firmware-bricks-after-failed-download": "1.6",
                "upload-reported-without-file": "2.0.1",
                "firmware-never-back-after-install": "2.1"}
    assert set(rotation) == set(FIRMWARE_FAULTS)
    for fault, version in rotation.items():
        chargers.append(ChargerEntry(charger_id(fault, version), version, (fault,)))
    result = _run(tmp_path, testbench_cli, chargers)
    _check(result, chargers)
    assert result.exit_code == 1, result.output[-2000:]


@pytest.mark.slow
def test_each_firmware_fault_caught_on_every_version(tmp_path: Path, testbench_cli):
    """Every firmware fault on every OCPP version it applies to."""
    chargers = [ChargerEntry(charger_id(fault, v), v, (fault,))
                for fault in FIRMWARE_FAULTS for v in VERSIONS
                if not (fault == "firmware-accepts-invalid-signature" and v == "1.6")]
    result = _run(tmp_path, testbench_cli, chargers)
    _check(result, chargers)
