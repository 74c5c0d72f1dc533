"""The simulated lab's firmware image format: what it says is what gets checked."""

from __future__ import annotations

import io
import tarfile

import pytest

from testbench.firmware.image import ImageError, build_image, read_image, read_manifest


def test_round_trip_keeps_version_target_and_faults():
    data = build_image("3.5.0", payload=b"x" * 100, vendor="Voltiq", model="W22",
                       faults=["wrong-heartbeat-interval"])
    image = read_image(data)
    assert image.payload == b"x" * 100
    m = image.manifest
    assert (m.version, m.vendor, m.model, m.faults, m.payload_size) == (
        "3.5.0", "Voltiq", "W22", ("wrong-heartbeat-interval",), 100)


def test_faults_absent_differs_from_faults_empty():
    assert read_manifest(build_image("1.0")).faults is None
    assert read_manifest(build_image("1.0", faults=[])).faults == ()


def _retar(data: bytes, payload: bytes) -> bytes:
    """The image with its payload replaced (manifest untouched)."""
    src = tarfile.open(fileobj=io.BytesIO(data))  # noqa: SIM115 - closed with the test
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for member in src.getmembers():
            body = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "payload.bin":
                body = payload
            member.size = len(body)
            tar.addfile(member, io.BytesIO(body))
    return out.getvalue()


def test_corrupt_payload_is_refused_by_checksum():
    data = build_image("1.0", payload=b"a" * 64)
    with pytest.raises(ImageError, match="SHA-256"):
        read_image(_retar(data, b"b" * 64))


def test_truncated_payload_is_refused_by_size():
    data = build_image("1.0", payload=b"a" * 64)
    with pytest.raises(ImageError, match="64"):
        read_image(_retar(data, b"a" * 10))


@pytest.mark.parametrize("data", [b"", b"garbage" * 100, build_image("1.0")[:300]])
def test_bytes_that_are_no_image_are_refused(data):
    with pytest.raises(ImageError):
        read_image(data)


def test_version_must_fit_a_boot_notification():
    with pytest.raises(ImageError, match="50"):
        build_image("v" * 51)
