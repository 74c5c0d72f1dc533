"""Firmware and diagnostics behaviour of a simulated charger (every OCPP version).

The charger downloads firmware over the real wire (urllib in a worker thread: HTTP, HTTPS,
FTP), checks the image (size, SHA-256; for signed updates the signature against the
signing certificate sent in the request), "installs" it by rebooting with the version the
image names (testbench.firmware.image) and announces that version in its next
BootNotification. Diagnostics and logs are uploaded to the URL given (HTTP PUT or FTP
STOR).

Persistence: a real charger keeps its firmware across power cuts. When the environment
variable ``TESTBENCH_SIM_FLASH_DIR`` names a folder (set by ``testbench certify``), each
charger stores what it installed in ``<folder>/<charger id>.json`` and starts from it;
otherwise an installed firmware lasts until the simulated lab stops and every start is the
firmware of lab.toml.

Fault personalities (testbench/lab/faults.py): firmware-wrong-status-sequence,
firmware-installed-but-old-version, firmware-accepts-invalid-signature,
firmware-bricks-after-failed-download, firmware-never-back-after-install,
upload-reported-without-file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ftplib
import json
import logging
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ocpp.routing import after, on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16

from testbench.clock import parse_iso_utc
from testbench.firmware.image import ImageError, read_image
from testbench.firmware.signing import (
    SignatureError,
    check_certificate,
    load_certificate,
    verify_signature,
)
from testbench.sim.outbox import Outgoing

log = logging.getLogger("testbench.sim")

FLASH_DIR_ENV = "TESTBENCH_SIM_FLASH_DIR"
DOWNLOAD_S = 2.0
"""Lab seconds a download takes (on top of the real transfer)."""
INSTALL_S = 3.0
"""Lab seconds an installation takes before the reboot."""
UPLOAD_S = 1.0
"""Lab seconds an upload takes (on top of the real transfer)."""
TRANSFER_TIMEOUT_WALL_S = 20.0
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

Notify = Callable[[str], None]


@dataclass
class UpdateJob:
    """One firmware update request, whatever the OCPP version."""

    location: str
    retrieve_at_lab_s: float
    retries: int
    retry_interval_s: float
    notify: Notify
    signed: bool = False
    certificate: str | None = None
    signature: str | None = None


@dataclass
class UploadJob:
    """One diagnostics / log upload request."""

    location: str
    filename: str
    retries: int
    retry_interval_s: float
    notify: Notify
    success: str
    failure: str


class FirmwareAgent:
    """The firmware side of one simulated charger (``charger.firmware_agent``)."""

    def __init__(self, charger: Any) -> None:
        self.charger = charger
        self.bricked = False
        self._update_task: asyncio.Task[None] | None = None
        self._upload_task: asyncio.Task[None] | None = None
        folder = os.environ.get(FLASH_DIR_ENV)
        self.flash_file = Path(folder) / f"{charger.spec.id}.json" if folder else None
        self._load_flash()

    # ------------------------------------------------------------------ persistence
    def _load_flash(self) -> None:
        if self.flash_file is None or not self.flash_file.is_file():
            return
        try:
            data = json.loads(self.flash_file.read_text(encoding="utf-8"))
            version, faults = str(data["version"]), data.get("faults")
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.error("%s: unreadable flash file %s (%s); starting with lab.toml's firmware",
                      self.charger.spec.id, self.flash_file, error)
            return
        self.charger.firmware_version = version
        if isinstance(faults, list):
            self.charger.faults = frozenset(str(f) for f in faults)
        log.info("%s: starting firmware %s from %s", self.charger.spec.id, version,
                 self.flash_file)

    def _save_flash(self) -> None:
        if self.flash_file is None:
            return
        data = {"version": self.charger.firmware_version, "faults": sorted(self.charger.faults),
                "installed_wall_s": time.time()}
        try:
            self.flash_file.parent.mkdir(parents=True, exist_ok=True)
            self.flash_file.write_text(json.dumps(data, indent=1), encoding="utf-8")
        except OSError as error:
            log.error("%s: cannot write flash file %s: %s", self.charger.spec.id,
                      self.flash_file, error)

    # ------------------------------------------------------------------ bricking
    async def wait_not_bricked(self) -> None:
        """Return at once, unless bricked: then never (the charger stays dark)."""
        if self.bricked:
            await asyncio.Event().wait()

    def _brick(self) -> None:
        log.warning("%s: bricked: off line for good (fault personality)", self.charger.spec.id)
        self.bricked = True
        self.charger.set_supply(False)

    # ------------------------------------------------------------------ requests
    def certificate_status(self, certificate: str | None) -> str:
        """The answer to a signed update request: Accepted or InvalidCertificate."""
        if certificate is None:
            return "Accepted"
        try:
            check_certificate(load_certificate(certificate), self._lab_now())
        except SignatureError as error:
            log.info("%s: signing certificate refused: %s", self.charger.spec.id, error)
            return "InvalidCertificate"
        return "Accepted"

    def start_update(self, job: UpdateJob) -> bool:
        """Start an update (cancelling one in progress); True when one was cancelled."""
        cancelled = self._update_task is not None and not self._update_task.done()
        if cancelled:
            assert self._update_task is not None
            self._update_task.cancel()
        self._update_task = self.charger.spawn(self._update(job))
        return cancelled

    def start_upload(self, job: UploadJob) -> None:
        if self._upload_task is not None and not self._upload_task.done():
            self._upload_task.cancel()
        self._upload_task = self.charger.spawn(self._upload(job))

    def log_name(self, kind: str) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.charger.clock.now()))
        return f"{self.charger.spec.id}-{kind}-{stamp}.log"

    # ------------------------------------------------------------------ update
    def _lab_now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.charger.clock.now(), dt.UTC)

    async def _update(self, job: UpdateJob) -> None:
        c = self.charger
        wait_s = job.retrieve_at_lab_s - c.clock.now()
        if wait_s > 0:
            await c.clock.asleep(wait_s)
        data: bytes | None = None
        for attempt in range(job.retries + 1):
            job.notify("Downloading")
            await c.clock.asleep(DOWNLOAD_S)
            try:
                data = await asyncio.to_thread(_download, job.location)
                break
            except (OSError, ValueError, urllib.error.URLError, ftplib.Error) as error:
                log.info("%s: download of %s failed (attempt %d): %s", c.spec.id,
                         _redacted(job.location), attempt + 1, error)
                if attempt < job.retries:
                    await c.clock.asleep(job.retry_interval_s)
        if data is None:
            job.notify("DownloadFailed")
            if c.has("firmware-bricks-after-failed-download"):
                c.spawn(self._brick_soon())
            return
        wrong_order = c.has("firmware-wrong-status-sequence")
        if not wrong_order:
            job.notify("Downloaded")
        if job.signed:
            problem = self._signature_problem(job, data)
            if problem is not None and not c.has("firmware-accepts-invalid-signature"):
                log.info("%s: %s", c.spec.id, problem)
                job.notify("InvalidSignature")
                return
            job.notify("SignatureVerified")
        job.notify("Installing")
        if wrong_order:
            job.notify("Downloaded")
        await c.clock.asleep(INSTALL_S)
        try:
            image = read_image(data)
            self._check_target(image.manifest.vendor, image.manifest.model)
        except ImageError as error:
            log.info("%s: installation failed: %s", c.spec.id, error)
            job.notify("InstallationFailed")
            return
        manifest = image.manifest
        if c.has("firmware-never-back-after-install"):
            log.warning("%s: reboots into firmware %s and never comes back (fault "
                        "personality)", c.spec.id, manifest.version)
            self._brick()
            return
        if c.has("firmware-installed-but-old-version"):
            log.info("%s: pretends to install %s (fault personality)", c.spec.id,
                     manifest.version)
        else:
            c.firmware_version = manifest.version
            if manifest.faults is not None:
                c.faults = frozenset(manifest.faults)
            self._save_flash()
        log.info("%s: firmware %s installed, rebooting", c.spec.id, c.firmware_version)
        self._reboot(job)

    async def _brick_soon(self) -> None:
        await self.charger.clock.asleep(1.0)  # the DownloadFailed goes out first
        self._brick()

    def _signature_problem(self, job: UpdateJob, data: bytes) -> str | None:
        if not job.certificate or not job.signature:
            return "signed update without certificate or signature"
        try:
            verify_signature(data, job.signature, job.certificate)
        except SignatureError as error:
            return f"firmware signature refused: {error}"
        return None

    def _check_target(self, vendor: str | None, model: str | None) -> None:
        spec = self.charger.spec
        if vendor is not None and vendor != spec.vendor:
            raise ImageError(f"image is for vendor {vendor!r}, this charger is {spec.vendor!r}")
        if model is not None and model != spec.model:
            raise ImageError(f"image is for model {model!r}, this charger is {spec.model!r}")

    def _reboot(self, job: UpdateJob) -> None:
        c = self.charger
        for conn, _tx in c.transactions():
            c.stop_transaction(conn, c.reset_stop_reason("Immediate"), trigger="ResetCommand")
        c.boot_reason = "FirmwareUpdate"
        if c.online:
            c.outbox.put(Outgoing(None, close_after=True))
        # Installed is reported after the reboot (retained: sent after the next boot).
        job.notify("Installed")

    # ------------------------------------------------------------------ uploads
    async def _upload(self, job: UploadJob) -> None:
        c = self.charger
        content = self._log_text(job.filename).encode("utf-8")
        for attempt in range(job.retries + 1):
            job.notify("Uploading")
            await c.clock.asleep(UPLOAD_S)
            if c.has("upload-reported-without-file"):
                log.info("%s: reports %s without uploading (fault personality)", c.spec.id,
                         job.filename)
                job.notify(job.success)
                return
            try:
                await asyncio.to_thread(_upload, job.location, job.filename, content)
            except (OSError, ValueError, urllib.error.URLError, ftplib.Error) as error:
                log.info("%s: upload to %s failed (attempt %d): %s", c.spec.id,
                         _redacted(job.location), attempt + 1, error)
                if attempt < job.retries:
                    await c.clock.asleep(job.retry_interval_s)
                continue
            job.notify(job.success)
            return
        job.notify(job.failure)

    def _log_text(self, filename: str) -> str:
        c = self.charger
        lines = [f"# {filename}", f"charger {c.spec.id} ({c.spec.vendor} {c.spec.model})",
                 f"firmware {c.firmware_version}", f"ocpp {c.spec.ocpp_version}",
                 f"lab time {c.clock.iso_now()}"]
        lines += [f"connector {conn.number}: {c.connector_status(conn)}"
                  for conn in c.connectors]
        return "\n".join(lines) + "\n"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _download(url: str) -> bytes:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "ftp"):
        raise ValueError(f"unsupported download scheme {scheme!r}")
    context = ssl.create_default_context() if scheme == "https" else None
    with urllib.request.urlopen(url, timeout=TRANSFER_TIMEOUT_WALL_S,
                                context=context) as response:
        data: bytes = response.read(MAX_DOWNLOAD_BYTES + 1)
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ValueError(f"firmware larger than {MAX_DOWNLOAD_BYTES} bytes")
    return data


def _upload(location: str, filename: str, content: bytes) -> None:
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        target = location if not location.endswith("/") else location + filename
        request = urllib.request.Request(target, data=content, method="PUT",
                                         headers={"Content-Type": "text/plain"})
        context = ssl.create_default_context() if scheme == "https" else None
        with urllib.request.urlopen(request, timeout=TRANSFER_TIMEOUT_WALL_S,
                                    context=context) as response:
            if response.status >= 300:
                raise OSError(f"HTTP {response.status}")
        return
    if scheme == "ftp":
        ftp = ftplib.FTP()
        ftp.connect(parts.hostname or "127.0.0.1", parts.port or 21,
                    timeout=TRANSFER_TIMEOUT_WALL_S)
        try:
            ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
            folder = unquote(parts.path or "/")
            if folder and folder != "/":
                ftp.cwd(folder)
            import io

            ftp.storbinary(f"STOR {filename}", io.BytesIO(content))
        finally:
            try:
                ftp.quit()
            except (OSError, ftplib.Error):
                ftp.close()
        return
    raise ValueError(f"unsupported upload scheme {scheme!r}")


def _retrieve_at(charger: Any, text: str | None) -> float:
    if not text:
        return charger.clock.now()
    try:
        return parse_iso_utc(text)
    except ValueError:
        return charger.clock.now()


def _lab_seconds(value: Any, default: float = 10.0) -> float:
    return float(value) if isinstance(value, int) and value >= 0 else default


# ---------------------------------------------------------------------- OCPP 1.6 handlers

class Firmware16Handlers:
    """Mixin for the 1.6 client: Firmware Management plus the security extension's
    SignedUpdateFirmware and GetLog."""

    sim: Any
    _decisions: dict[str, Any]

    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> Any:
        return result16.UpdateFirmware()

    @after("UpdateFirmware")
    def after_update_firmware(self, location: str, retrieve_date: str,
                              retries: int | None = None, retry_interval: int | None = None,
                              **_: Any) -> None:
        sim = self.sim
        sim.firmware_agent.start_update(UpdateJob(
            location=location, retrieve_at_lab_s=_retrieve_at(sim, retrieve_date),
            retries=retries or 0, retry_interval_s=_lab_seconds(retry_interval),
            notify=lambda s: sim.post(call16.FirmwareStatusNotification(status=s),
                                      retain=True)))

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location: str, call_unique_id: str, **_: Any) -> Any:
        name = self.sim.firmware_agent.log_name("diagnostics")
        self._decisions[call_unique_id] = name
        return result16.GetDiagnostics(file_name=name)

    @after("GetDiagnostics")
    def after_get_diagnostics(self, location: str, call_unique_id: str,
                              retries: int | None = None, retry_interval: int | None = None,
                              **_: Any) -> None:
        sim = self.sim
        name = self._decisions.pop(call_unique_id, None) or sim.firmware_agent.log_name("diagnostics")
        sim.firmware_agent.start_upload(UploadJob(
            location=location, filename=name, retries=retries or 0,
            retry_interval_s=_lab_seconds(retry_interval),
            notify=lambda s: sim.post(call16.DiagnosticsStatusNotification(status=s),
                                      retain=True),
            success="Uploaded", failure="UploadFailed"))

    @on("SignedUpdateFirmware")
    def on_signed_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                  call_unique_id: str, **_: Any) -> Any:
        status = self.sim.firmware_agent.certificate_status(firmware.get("signing_certificate"))
        self._decisions[call_unique_id] = status
        return result16.SignedUpdateFirmware(status=status)

    @after("SignedUpdateFirmware")
    def after_signed_update_firmware(self, request_id: int, firmware: dict[str, Any],
                                     call_unique_id: str, retries: int | None = None,
                                     retry_interval: int | None = None, **_: Any) -> None:
        sim = self.sim
        if self._decisions.pop(call_unique_id, None) != "Accepted":
            return
        sim.firmware_agent.start_update(UpdateJob(
            location=firmware["location"],
            retrieve_at_lab_s=_retrieve_at(sim, firmware.get("retrieve_date_time")),
            retries=retries or 0, retry_interval_s=_lab_seconds(retry_interval),
            signed=True, certificate=firmware.get("signing_certificate"),
            signature=firmware.get("signature"),
            notify=lambda s: sim.post(call16.SignedFirmwareStatusNotification(
                status=s, request_id=request_id), retain=True)))

    @on("GetLog")
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int,
                   call_unique_id: str, **_: Any) -> Any:
        name = self.sim.firmware_agent.log_name(log_type)
        self._decisions[call_unique_id] = name
        return result16.GetLog(status="Accepted", filename=name)

    @after("GetLog")
    def after_get_log(self, log: dict[str, Any], log_type: str, request_id: int,
                      call_unique_id: str, retries: int | None = None,
                      retry_interval: int | None = None, **_: Any) -> None:
        sim = self.sim
        name = self._decisions.pop(call_unique_id, None) or sim.firmware_agent.log_name(log_type)
        sim.firmware_agent.start_upload(UploadJob(
            location=log["remote_location"], filename=name, retries=retries or 0,
            retry_interval_s=_lab_seconds(retry_interval),
            notify=lambda s: sim.post(call16.LogStatusNotification(
                status=s, request_id=request_id), retain=True),
            success="Uploaded", failure="UploadFailure"))


# ---------------------------------------------------------------------- OCPP 2.x handlers

class Firmware2xHandlers:
    """Mixin for the 2.0.1 / 2.1 clients: L01 UpdateFirmware and N01 GetLog."""

    sim: Any
    _decisions: dict[str, Any]
    _call_result: Any

    @on("UpdateFirmware")
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any],
                           call_unique_id: str, **_: Any) -> Any:
        agent = self.sim.firmware_agent
        status = agent.certificate_status(firmware.get("signing_certificate"))
        busy = agent._update_task is not None and not agent._update_task.done()
        self._decisions[call_unique_id] = status
        if status == "Accepted" and busy:
            status = "AcceptedCanceled"
        return self._call_result.UpdateFirmware(status=status)

    @after("UpdateFirmware")
    def after_update_firmware(self, request_id: int, firmware: dict[str, Any],
                              call_unique_id: str, retries: int | None = None,
                              retry_interval: int | None = None, **_: Any) -> None:
        sim = self.sim
        if self._decisions.pop(call_unique_id, None) != "Accepted":
            return
        signed = bool(firmware.get("signing_certificate") or firmware.get("signature"))
        sim.firmware_agent.start_update(UpdateJob(
            location=firmware["location"],
            retrieve_at_lab_s=_retrieve_at(sim, firmware.get("retrieve_date_time")),
            retries=retries or 0, retry_interval_s=_lab_seconds(retry_interval),
            signed=signed, certificate=firmware.get("signing_certificate"),
            signature=firmware.get("signature"),
            notify=lambda s: sim.post(sim.call.FirmwareStatusNotification(
                status=s, request_id=request_id), retain=True)))

    @on("GetLog")
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int,
                   call_unique_id: str, **_: Any) -> Any:
        name = self.sim.firmware_agent.log_name(log_type)
        self._decisions[call_unique_id] = name
        return self._call_result.GetLog(status="Accepted", filename=name)

    @after("GetLog")
    def after_get_log(self, log: dict[str, Any], log_type: str, request_id: int,
                      call_unique_id: str, retries: int | None = None,
                      retry_interval: int | None = None, **_: Any) -> None:
        sim = self.sim
        name = self._decisions.pop(call_unique_id, None) or sim.firmware_agent.log_name(log_type)
        sim.firmware_agent.start_upload(UploadJob(
            location=log["remote_location"], filename=name, retries=retries or 0,
            retry_interval_s=_lab_seconds(retry_interval),
            notify=lambda s: sim.post(sim.call.LogStatusNotification(
                status=s, request_id=request_id), retain=True),
            success="Uploaded", failure="UploadFailure"))
