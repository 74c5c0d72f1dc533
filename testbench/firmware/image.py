"""The firmware image format of the simulated lab: a tar file with a manifest and a payload.

::

    manifest.json   {"format": "testbench-firmware/1", "version": "3.5.0",
                     "payload_size": 4096, "payload_sha256": "<hex>",
                     "vendor": "Voltiq", "model": "W22",          (optional: whom it is for)
                     "faults": ["wrong-heartbeat-interval"]}      (optional, simulated lab only)
    payload.bin     the "firmware" (any bytes)

A simulated charger that installs an image announces ``version`` in its next
BootNotification. ``faults``, when present, replaces the charger's fault personalities
(testbench/lab/faults.py) from the reboot on: ``[]`` is a firmware that fixes every fault,
``["wrong-heartbeat-interval"]`` one that introduces that defect; without the key the
charger keeps its faults. That is how a certification campaign injects a regression or a
fix into the simulated lab. Real chargers get their vendor's images; the bench never reads
those.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_FORMAT = "testbench-firmware/1"
MANIFEST_NAME = "manifest.json"
PAYLOAD_NAME = "payload.bin"
MAX_IMAGE_BYTES = 64 * 1024 * 1024


class ImageError(ValueError):
    """The bytes are not a valid simulated-lab firmware image (says what is wrong)."""


@dataclass(frozen=True)
class Manifest:
    """What an image says about itself."""

    version: str
    payload_size: int
    payload_sha256: str
    vendor: str | None = None
    model: str | None = None
    faults: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": IMAGE_FORMAT, "version": self.version,
                                "payload_size": self.payload_size,
                                "payload_sha256": self.payload_sha256}
        if self.vendor is not None:
            data["vendor"] = self.vendor
        if self.model is not None:
            data["model"] = self.model
        if self.faults is not None:
            data["faults"] = list(self.faults)
        return data


@dataclass(frozen=True)
class FirmwareImage:
    """A checked image: its manifest and payload."""

    manifest: Manifest
    payload: bytes


def build_image(version: str, *, payload: bytes | None = None, vendor: str | None = None,
                model: str | None = None, faults: list[str] | tuple[str, ...] | None = None
                ) -> bytes:
    """The bytes of an image installing ``version`` (payload: 4 KiB of random bytes)."""
    if not version or len(version) > 50:
        raise ImageError(f"firmware version {version!r} must be 1..50 characters "
                         "(the BootNotification firmwareVersion limit)")
    body = os.urandom(4096) if payload is None else payload
    manifest = Manifest(version=version, payload_size=len(body),
                        payload_sha256=hashlib.sha256(body).hexdigest(), vendor=vendor,
                        model=model, faults=None if faults is None else tuple(faults))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in ((MANIFEST_NAME, json.dumps(manifest.to_json(), indent=1).encode()),
                           (PAYLOAD_NAME, body)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def write_image(path: Path, version: str, **options: Any) -> Path:
    """Write :func:`build_image` to ``path`` (folders created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build_image(version, **options))
    return path


def _members(data: bytes) -> dict[str, bytes]:
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"image of {len(data)} bytes exceeds {MAX_IMAGE_BYTES} bytes")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            found: dict[str, bytes] = {}
            for member in tar.getmembers():
                if member.name in (MANIFEST_NAME, PAYLOAD_NAME) and member.isfile():
                    extracted = tar.extractfile(member)
                    found[member.name] = extracted.read() if extracted is not None else b""
            return found
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ImageError(f"not a testbench firmware image (not a tar file: {error})") from None


def _manifest(raw: bytes | None) -> Manifest:
    if raw is None:
        raise ImageError(f"not a testbench firmware image: no {MANIFEST_NAME}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ImageError(f"{MANIFEST_NAME} is not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != IMAGE_FORMAT:
        raise ImageError(f"{MANIFEST_NAME}: format must be {IMAGE_FORMAT!r}, got "
                         f"{data.get('format') if isinstance(data, dict) else data!r}")
    version, size, digest = data.get("version"), data.get("payload_size"), \
        data.get("payload_sha256")
    if not isinstance(version, str) or not version:
        raise ImageError(f"{MANIFEST_NAME}: version must be a non-empty string")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImageError(f"{MANIFEST_NAME}: payload_size must be a whole number of bytes")
    if not isinstance(digest, str) or len(digest) != 64:
        raise ImageError(f"{MANIFEST_NAME}: payload_sha256 must be 64 hex digits")
    faults = data.get("faults")
    if faults is not None and (not isinstance(faults, list)
                               or not all(isinstance(f, str) for f in faults)):
        raise ImageError(f"{MANIFEST_NAME}: faults must be a list of fault names")
    return Manifest(version=version, payload_size=size, payload_sha256=digest.lower(),
                    vendor=data.get("vendor"), model=data.get("model"),
                    faults=None if faults is None else tuple(faults))


def read_manifest(data: bytes) -> Manifest:
    """The manifest of an image, without checking the payload."""
    return _manifest(_members(data).get(MANIFEST_NAME))


def read_image(data: bytes) -> FirmwareImage:
    """Parse and check an image: manifest present, payload size and SHA-256 as announced."""
    members = _members(data)
    manifest = _manifest(members.get(MANIFEST_NAME))
    payload = members.get(PAYLOAD_NAME)
    if payload is None:
        raise ImageError(f"image of version {manifest.version} has no {PAYLOAD_NAME}")
    if len(payload) != manifest.payload_size:
        raise ImageError(f"payload is {len(payload)} bytes, manifest says "
                         f"{manifest.payload_size}")
    digest = hashlib.sha256(payload).hexdigest()
    if digest != manifest.payload_sha256:
        raise ImageError(f"payload SHA-256 {digest[:16]}... differs from the manifest's "
                         f"{manifest.payload_sha256[:16]}... (corrupt image)")
    return FirmwareImage(manifest, payload)
