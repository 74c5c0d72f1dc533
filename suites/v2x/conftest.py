"""V2X suites start and end without charging profiles (the case baseline)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from testbench.procedures import smart


@pytest.fixture(autouse=True)
def no_profiles(charger: Any) -> Iterator[None]:
    """Clear every charging profile before and after the test."""
    with contextlib.suppress(Exception):
        charger.call("ClearChargingProfile", smart.clear_request(charger))
    yield
    with contextlib.suppress(Exception):
        charger.call("ClearChargingProfile", smart.clear_request(charger))
