"""Firmware update and diagnostics / log upload procedures for 1.6J and 2.0.1/2.1.

Everything is judged from the wire: the OCPP messages the charger sends and the files that
reach the bench's file server. Durations are lab seconds.

1.6 Firmware Management: UpdateFirmware, FirmwareStatusNotification, GetDiagnostics,
DiagnosticsStatusNotification. 2.x: UpdateFirmware (L01, signed with signingCertificate
and signature), FirmwareStatusNotification with requestId, GetLog (N01) and
LogStatusNotification.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from testbench.clock import LabClock, iso_utc
from testbench.errors import DeviceFailure
from testbench.procedures.ocpp import Charger, boot_identity, is_v16

SUCCESS_16 = ("Downloading", "Downloaded", "Installing", "Installed")
SUCCESS_2X = ("Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed")
SUCCESS_2X_UNSIGNED = ("Downloading", "Downloaded", "Installing", "Installed")
OPTIONAL_2X = ("DownloadScheduled", "DownloadPaused", "InstallScheduled", "InstallRebooting")
"""2.x statuses a charger may add between the main ones."""
FAILURES = ("DownloadFailed", "InstallationFailed", "InvalidSignature",
            "InstallVerificationFailed")
TERMINAL = ("Installed", *FAILURES)

_request_ids = itertools.count(int(time.time()) % 100_000 * 10 + 1)


def new_request_id() -> int:
    """A requestId not used before in this process."""
    return next(_request_ids)


# ------------------------------------------------------------------------ firmware update
def request_update(charger: Charger, clock: LabClock, location: str, *, request_id: int | None = None,
                   certificate: str | None = None, signature: str | None = None,
                   retries: int = 0, retry_interval_s: int = 10,
                   retrieve_at_lab_s: float | None = None) -> str:
    """Send UpdateFirmware; the status answered (1.6 has none: "Accepted" when answered).

    2.x needs ``request_id``; ``certificate`` (PEM) and ``signature`` (base64) make it a
    signed (secure) update.
    """
    when = retrieve_at_lab_s if retrieve_at_lab_s is not None else clock.now()
    if is_v16(charger):
        charger.call("UpdateFirmware", {"location": location, "retrieveDate": iso_utc(when),
                                        "retries": retries, "retryInterval": retry_interval_s})
        return "Accepted"
    firmware: dict[str, Any] = {"location": location, "retrieveDateTime": iso_utc(when)}
    if certificate is not None:
        firmware["signingCertificate"] = certificate
    if signature is not None:
        firmware["signature"] = signature
    reply = charger.call("UpdateFirmware", {
        "requestId": request_id if request_id is not None else new_request_id(),
        "firmware": firmware, "retries": retries, "retryInterval": retry_interval_s})
    return str(reply.get("status"))


@dataclass
class UpdateReport:
    """What the charger reported for one firmware update, in arrival order."""

    statuses: list[str] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    boot: Any = None
    announced_version: str | None = None
    timed_out: bool = False
    waited_for: str = ""

    @property
    def outcome(self) -> str | None:
        """The terminal status reached (Installed or a failure), None if none arrived."""
        return next((s for s in reversed(self.statuses) if s in TERMINAL), None)

    def describe(self) -> str:
        shown = ", ".join(self.statuses) or "none"
        text = f"firmware statuses: {shown}"
        if self.boot is not None:
            text += f"; rebooted announcing firmware {self.announced_version!r}"
        if self.timed_out:
            text += f"; nothing more within the time allowed ({self.waited_for})"
        return text


def _request_matches(charger: Charger, request_id: int | None) -> Any:
    if is_v16(charger) or request_id is None:
        return None
    return lambda p: p.get("requestId") == request_id


def follow_update(charger: Charger, clock: LabClock, within_s: float, *, request_id: int | None = None,
                  reboot_within_s: float = 120.0) -> UpdateReport:
    """Collect FirmwareStatusNotifications until a terminal status (and, after Installing,
    the BootNotification of the reboot); never raises for a missing message, the report
    says what arrived (``timed_out``)."""
    report = UpdateReport()
    where = _request_matches(charger, request_id)
    now = clock.now
    deadline = now() + within_s
    while report.outcome is None:
        remaining = deadline - now()
        if remaining <= 0:
            report.timed_out, report.waited_for = True, f"{within_s:g} s for a final status"
            return report
        waiting = "Installing" in report.statuses
        try:
            msg = charger.expect("FirmwareStatusNotification",
                                 max(0.5, min(remaining, reboot_within_s if waiting else
                                              remaining)), where=where)
        except AssertionError:
            report.timed_out = True
            report.waited_for = (f"{reboot_within_s:g} s after Installing" if waiting
                                 else f"{within_s:g} s for a final status")
            break
        report.statuses.append(str(msg.payload.get("status")))
        report.notifications.append(msg)
    if "Installing" in report.statuses:
        # Installed: the reboot must come (wait for it); a failure: note a reboot if any.
        wait_s = reboot_within_s if report.outcome in ("Installed", None) else 0.0
        report.boot = _boot_after(charger, clock, report.notifications, wait_s)
        if report.boot is not None:
            report.announced_version = boot_identity(charger, report.boot.payload)[2]
        elif not report.timed_out and wait_s > 0:
            report.timed_out = True
            report.waited_for = f"{reboot_within_s:g} s for the reboot's BootNotification"
    return report


def _boot_after(charger: Charger, clock: LabClock, notifications: list[Any],
                within_s: float) -> Any:
    installing = next(m for m in notifications if m.payload.get("status") == "Installing")
    for msg in charger.messages("BootNotification"):
        if msg.seq > installing.seq:
            return msg
    if within_s <= 0:
        return None
    deadline = clock.now() + within_s
    while True:
        try:
            msg = charger.expect("BootNotification", max(0.5, deadline - clock.now()))
        except AssertionError:
            return None
        if msg.seq > installing.seq:
            return msg


def main_statuses(statuses: list[str], optional: tuple[str, ...] = OPTIONAL_2X) -> list[str]:
    """The statuses without the optional intermediate ones."""
    return [s for s in statuses if s not in optional]


def check_sequence(report: UpdateReport, expected: tuple[str, ...],
                   optional: tuple[str, ...] = OPTIONAL_2X) -> None:
    """DeviceFailure unless the statuses (optional ones left out) are exactly ``expected``."""
    got = main_statuses(report.statuses, optional)
    if tuple(got) != expected:
        raise DeviceFailure(f"firmware status sequence {', '.join(got) or 'none'}; expected "
                            f"{', '.join(expected)} ({report.describe()})")


def expected_success(charger: Charger, signed: bool) -> tuple[str, ...]:
    if is_v16(charger):
        return SUCCESS_16
    return SUCCESS_2X if signed else SUCCESS_2X_UNSIGNED


def wait_reconnected(charger: Charger, clock: LabClock, within_s: float) -> bool:
    """True once the charger is connected (at once if it is), False after ``within_s``."""
    deadline = clock.now() + within_s
    while not getattr(charger, "connected", True):
        if clock.now() > deadline:
            return False
        clock.sleep(0.5)
    return True


def assert_still_usable(charger: Charger, clock: LabClock, *, watch_s: float = 10.0,
                        reconnect_within_s: float = 60.0, after: str = "the failed update"
                        ) -> None:
    """DeviceFailure unless the charger, after ``after``, stays (or comes back) on line and
    answers: a triggered Heartbeat arrives. Watches ``watch_s`` first (a charger that
    drops off shortly after reporting a failure is caught)."""
    clock.sleep(watch_s)
    if not wait_reconnected(charger, clock, reconnect_within_s):
        raise DeviceFailure(f"after {after} the charger went off line and did not come back "
                            f"within {reconnect_within_s:g} s: it is not usable")
    reply = charger.call("TriggerMessage", {"requestedMessage": "Heartbeat"})
    if reply.get("status") != "Accepted":
        raise DeviceFailure(f"after {after} the charger answered {reply.get('status')} to a "
                            "TriggerMessage Heartbeat")
    charger.expect("Heartbeat", 30.0)


# ------------------------------------------------------------------ diagnostics and logs
@dataclass
class UploadReport:
    """What the charger answered and reported for one diagnostics / log upload."""

    filename: str | None
    request_status: str
    statuses: list[str] = field(default_factory=list)
    timed_out: bool = False

    def describe(self) -> str:
        return (f"file name {self.filename!r}, request {self.request_status}, statuses "
                f"{', '.join(self.statuses) or 'none'}"
                + ("; no final status in time" if self.timed_out else ""))


UPLOAD_TERMINAL = ("Uploaded", "UploadFailed", "UploadFailure", "BadMessage",
                   "NotSupportedOperation", "PermissionDenied", "Idle")


def request_upload(charger: Charger, location: str, *, request_id: int | None = None,
                   log_type: str = "DiagnosticsLog", retries: int = 0,
                   retry_interval_s: int = 10) -> tuple[str, str | None]:
    """GetDiagnostics (1.6) / GetLog (2.x): (status, file name the charger announced)."""
    if is_v16(charger):
        reply = charger.call("GetDiagnostics", {"location": location, "retries": retries,
                                                "retryInterval": retry_interval_s})
        return "Accepted", reply.get("fileName")
    reply = charger.call("GetLog", {
        "logType": log_type, "requestId": request_id if request_id is not None
        else new_request_id(), "log": {"remoteLocation": location},
        "retries": retries, "retryInterval": retry_interval_s})
    return str(reply.get("status")), reply.get("filename")


def follow_upload(charger: Charger, clock: LabClock, report: UploadReport, within_s: float,
                  request_id: int | None = None) -> UploadReport:
    """Collect Diagnostics/LogStatusNotifications until a final status (or ``within_s``)."""
    action = "DiagnosticsStatusNotification" if is_v16(charger) else "LogStatusNotification"
    where = _request_matches(charger, request_id)
    now = clock.now
    deadline = now() + within_s
    while not report.statuses or report.statuses[-1] not in UPLOAD_TERMINAL:
        remaining = deadline - now()
        try:
            msg = charger.expect(action, max(0.5, remaining), where=where)
        except AssertionError:
            report.timed_out = True
            break
        report.statuses.append(str(msg.payload.get("status")))
    return report
