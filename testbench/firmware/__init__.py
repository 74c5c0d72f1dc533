"""Firmware images the bench publishes: the simulated lab's image format and its signing."""

from testbench.firmware.image import (
    IMAGE_FORMAT,
    FirmwareImage,
    ImageError,
    Manifest,
    build_image,
    read_image,
    read_manifest,
)
from testbench.firmware.signing import SignatureError, SigningIdentity, verify_signature

__all__ = [
    "IMAGE_FORMAT",
    "FirmwareImage",
    "ImageError",
    "Manifest",
    "SignatureError",
    "SigningIdentity",
    "build_image",
    "read_image",
    "read_manifest",
    "verify_signature",
]
