"""Fixtures for the Modbus driver tests: a background loop running the twins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbench.aio import BackgroundLoop


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop("modbus-twins")
    yield background
    background.stop()
