"""Judging a firmware update's statuses, and the --charger-firmware override."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbench.errors import DeviceFailure
from testbench.lab.loader import load_lab
from testbench.plugin.plugin import with_firmware
from testbench.procedures.firmware import SUCCESS_2X, UpdateReport, check_sequence

REPO = Path(__file__).resolve().parents[2]


def test_optional_statuses_are_allowed_between_the_main_ones():
    report = UpdateReport(statuses=["DownloadScheduled", "Downloading", "Downloaded",
                                    "SignatureVerified", "InstallScheduled", "Installing",
                                    "InstallRebooting", "Installed"])
    check_sequence(report, SUCCESS_2X)
    assert report.outcome == "Installed"


@pytest.mark.parametrize("statuses", [
    ["Downloading", "SignatureVerified", "Installing", "Downloaded", "Installed"],
    ["Downloading", "Installing", "Installed"],
    ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed", "Installed"],
])
def test_wrong_sequences_are_device_failures(statuses):
    with pytest.raises(DeviceFailure, match="expected Downloading, Downloaded"):
        check_sequence(UpdateReport(statuses=statuses), SUCCESS_2X)


def test_outcome_is_the_last_terminal_status():
    assert UpdateReport(statuses=["Downloading"]).outcome is None
    assert UpdateReport(statuses=["Downloading", "DownloadFailed"]).outcome == "DownloadFailed"


def test_charger_firmware_override():
    lab = load_lab(REPO / "lab.toml")
    changed = with_firmware(lab, ["voltiq-w22=3.5.0"])
    assert changed.chargers["voltiq-w22"].firmware == "3.5.0"
    assert changed.chargers["amperia-hc11"] == lab.chargers["amperia-hc11"]
    assert with_firmware(lab, []) is lab
    for bad in ("voltiq-w22", "nobody=1.0", "voltiq-w22= "):
        with pytest.raises(pytest.UsageError):
            with_firmware(lab, [bad])
