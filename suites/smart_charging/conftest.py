"""Smart-charging suites start and end without charging profiles (the case baseline)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from testbench.procedures import smart


@pytest.fixture(autouse=True)
def no_profiles(charger: Any) -> Iterator[None]:
    """Clear every charging profile before and after the test (a charger without smart
    charging answers with a CALLERROR, which the test itself then reports)."""
    with contextlib.suppress(Exception):
        charger.call("ClearChargingProfile", smart.clear_request(charger))
    yield
    with contextlib.suppress(Exception):
        charger.call("ClearChargingProfile", smart.clear_request(charger))


@pytest.fixture
def session(charger: Any, station: Any, clock: Any, bench: Any,
            request: pytest.FixtureRequest) -> Any:
    """A charging session with a profile book (``test_profiles.Session``) for the case files
    beside test_profiles.py (which defines the same fixture for itself)."""
    from suites.smart_charging.test_profiles import Session

    return Session(charger, station, clock, bench, request)
