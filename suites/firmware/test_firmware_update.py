"""Firmware update over OCPP: the update is carried out and every failure is reported.

1.6 Firmware Management (UpdateFirmware, FirmwareStatusNotification) and 2.0.1/2.1 L01
secure firmware update (signingCertificate + signature, statuses with requestId). Judged
from the wire only: the status notifications, the BootNotification after the reboot, and
whether the charger stays usable after a failure. A test that installs firmware puts the
charger's previous firmware back afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.files import FirmwareImages, test_version
from testbench.errors import BenchError
from testbench.procedures import firmware as fw
from testbench.procedures import ocpp

UPDATE_WITHIN_S = 180.0
REBOOT_WITHIN_S = 120.0
STATUS_AFTER_BOOT_WITHIN_S = 30.0


def announced_firmware(charger: Any) -> str:
    """The firmware of the charger's last BootNotification (lab.toml's if none was seen)."""
    payload = charger.state.boot_payload
    announced = ocpp.boot_identity(charger, payload)[2] if payload else None
    return str(announced or charger.spec.firmware)


def _signed(charger: Any) -> bool:
    return not ocpp.is_v16(charger)


def _update(charger: Any, clock: Any, image: Any, *, retries: int = 0) -> fw.UpdateReport:
    """Request the update of ``image`` and follow it to its end."""
    request_id = fw.new_request_id()
    signed = _signed(charger)
    status = fw.request_update(
        charger, clock, image.url, request_id=request_id,
        certificate=image.certificate if signed else None,
        signature=image.signature if signed else None, retries=retries)
    assert status == "Accepted", f"charger answered UpdateFirmware with status {status}"
    return fw.follow_update(charger, clock, UPDATE_WITHIN_S, request_id=request_id,
                            reboot_within_s=REBOOT_WITHIN_S)


@pytest.fixture
def keeps_firmware(charger: Any, csms: Any, firmware_images: FirmwareImages) -> Iterator[str]:
    """The firmware announced before the test; put back afterwards if the test changed it."""
    before = announced_firmware(charger)
    yield before
    if announced_firmware(charger) == before or not fw.wait_reconnected(
            charger, csms.clock, REBOOT_WITHIN_S):
        return
    image = firmware_images.installable(charger.spec, before)
    report = _update(charger, csms.clock, image)
    if report.announced_version != before:
        raise BenchError(f"could not put firmware {before} back on charger {charger.id} after "
                         f"the test ({report.describe()}); later results of this charger "
                         "would be attributed to the wrong firmware")


def _requires_signing_material(charger: Any, firmware_images: FirmwareImages) -> None:
    if _signed(charger) and not firmware_images.is_sim:
        pytest.skip(f"not applicable: a signed update of real charger {charger.id} needs its "
                    "vendor's signing certificate and signature")


@pytest.mark.requires("ocpp16")  # 2.x: test_signed_firmware_update_installs_new_version
@pytest.mark.testcase(v16="TC_044_1_CS")
def test_firmware_update_installs_new_version(charger, csms, firmware_images, keeps_firmware):
    """UpdateFirmware: Downloading, Downloaded, Installing, reboot with the new version, Installed."""
    _installs_new_version(charger, csms, firmware_images, keeps_firmware)


@pytest.mark.requires("ocpp2")
@pytest.mark.testcase(v201="TC_L_01_CS", v21="TC_L_01_CS")  # (verify) 2.1 id
def test_signed_firmware_update_installs_new_version(charger, csms, firmware_images,
                                                     keeps_firmware):
    """Signed UpdateFirmware: Downloading, Downloaded, SignatureVerified, Installing, reboot
    with the new version, Installed; every status carries the requestId."""
    _installs_new_version(charger, csms, firmware_images, keeps_firmware)


def _installs_new_version(charger: Any, csms: Any, firmware_images: FirmwareImages,
                          before: str) -> None:
    version = test_version(before)
    image = firmware_images.installable(charger.spec, version)
    report = _update(charger, csms.clock, image)
    assert report.outcome == "Installed", (
        f"the update of firmware {version} did not end Installed: {report.describe()}")
    fw.check_sequence(report, fw.expected_success(charger, _signed(charger)))
    assert report.boot is not None, (
        f"charger reported Installed but never rebooted into the new firmware: "
        f"{report.describe()}")
    assert report.announced_version == version, (
        f"charger reported firmware {version} Installed but after the reboot announced "
        f"{report.announced_version!r} (before the update: {before!r})")
    ocpp.expect_connector_status(charger, "Available", STATUS_AFTER_BOOT_WITHIN_S)


@pytest.mark.testcase(v16="TC_044_2_CS", v201="TC_L_07_CS", v21="TC_L_07_CS")  # (verify) 2.1
def test_firmware_download_failure_reported(charger, csms, firmware_images, keeps_firmware):
    """A firmware that cannot be downloaded is reported DownloadFailed (Downloading before it
    is optional), nothing is installed, and the charger stays usable on its old firmware."""
    report = _update(charger, csms.clock, firmware_images.missing())
    assert report.outcome == "DownloadFailed", (
        f"a download from a URL that does not exist was not reported DownloadFailed: "
        f"{report.describe()}")
    leftovers = [s for s in fw.main_statuses(report.statuses) if s not in
                 ("Downloading", "DownloadFailed")]
    assert not leftovers, f"unexpected statuses around DownloadFailed: {report.describe()}"
    fw.assert_still_usable(charger, csms.clock, reconnect_within_s=REBOOT_WITHIN_S,
                           after="reporting DownloadFailed")
    assert announced_firmware(charger) == keeps_firmware, (
        f"after a failed download the charger announced firmware "
        f"{announced_firmware(charger)!r}, before it ran {keeps_firmware!r}")


@pytest.mark.testcase(v16="TC_044_3_CS")
def test_firmware_installation_failure_reported(charger, csms, firmware_images, keeps_firmware):
    """An image the charger cannot install is downloaded, then reported InstallationFailed
    (2.x: or InstallVerificationFailed); the charger stays usable on its old firmware."""
    _requires_signing_material(charger, firmware_images)
    image = firmware_images.corrupt(charger.spec)
    report = _update(charger, csms.clock, image)
    assert report.outcome in ("InstallationFailed", "InstallVerificationFailed"), (
        f"an image that cannot be installed was not reported InstallationFailed: "
        f"{report.describe()}")
    assert "Downloaded" in report.statuses, (
        f"the image was downloaded but Downloaded was not reported: {report.describe()}")
    fw.assert_still_usable(charger, csms.clock, reconnect_within_s=REBOOT_WITHIN_S,
                           after=f"reporting {report.outcome}")
    assert announced_firmware(charger) == keeps_firmware, (
        f"after a failed installation the charger announced firmware "
        f"{announced_firmware(charger)!r}, before it ran {keeps_firmware!r}")


@pytest.mark.requires("ocpp2")
@pytest.mark.testcase(v201="TC_L_06_CS", v21="TC_L_06_CS")  # (verify)
def test_firmware_invalid_signature_reported(charger, csms, firmware_images, keeps_firmware):
    """A firmware whose signature does not match its signing certificate is reported
    InvalidSignature after the download and never installed."""
    image = firmware_images.badly_signed(charger.spec, test_version(keeps_firmware))
    report = _update(charger, csms.clock, image)
    assert report.outcome == "InvalidSignature", (
        f"a firmware with a wrong signature was not reported InvalidSignature: "
        f"{report.describe()}")
    assert "Installing" not in report.statuses, (
        f"charger started installing a firmware with a wrong signature: {report.describe()}")
    fw.assert_still_usable(charger, csms.clock, watch_s=2.0,
                           reconnect_within_s=REBOOT_WITHIN_S, after="reporting InvalidSignature")
    assert announced_firmware(charger) == keeps_firmware
