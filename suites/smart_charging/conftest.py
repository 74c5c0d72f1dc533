"""Smart-charging suites: a case runs only where it applies to what the charger REPORTS about
its smart charging (2.x GetVariables SmartChargingCtrlr, 1.6 GetConfiguration), and starts
and ends without charging profiles (the case baseline).

Gate: a charger that reports no smart charging skips every case ("not applicable: charger
reports no smart charging") except those asking for the ``without_smart_charging`` fixture,
which run only there. A case asking for ``single_rate_unit`` runs only where the charger
reports one rate unit; every other case needs rate unit A (W where a case asks for it with
``_support.require_rate_unit``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from suites.smart_charging._support import Session, attach_json
from testbench.procedures import smart


@pytest.fixture(autouse=True)
def smart_capability(charger: Any, request: pytest.FixtureRequest) -> smart.SmartCapability:
    """What the charger reports about its smart charging; skips the case where it does not
    apply (see the module docstring)."""
    capability = smart.reported_capability(charger)
    attach_json("smart-charging-capability", capability.evidence())
    wanted = request.fixturenames
    if "without_smart_charging" in wanted:
        if capability.smart_charging:
            pytest.skip("not applicable: charger reports smart charging (the case is for a "
                        "charger without it)")
        return capability
    if not capability.smart_charging:
        pytest.skip("not applicable: charger reports no smart charging")
    if "single_rate_unit" in wanted:
        if len(capability.rate_units) != 1:
            pytest.skip(f"not applicable: charger reports rate units "
                        f"{', '.join(capability.rate_units)} (the case is for a charger "
                        "supporting one)")
    elif "A" not in capability.rate_units:
        pytest.skip("not applicable: charger reports no rate unit A (the case's profiles "
                    "are in A)")
    return capability


@pytest.fixture
def without_smart_charging(smart_capability: smart.SmartCapability) -> smart.SmartCapability:
    """Marks a case for chargers that report no smart charging (the gate skips it elsewhere)."""
    return smart_capability


@pytest.fixture
def single_rate_unit(smart_capability: smart.SmartCapability) -> str:
    """The only rate unit the charger reports (the gate skips the case elsewhere)."""
    return smart_capability.rate_units[0]


@pytest.fixture(autouse=True)
def no_profiles(charger: Any, smart_capability: smart.SmartCapability) -> Iterator[None]:
    """Clear every charging profile before and after the test (where smart charging is
    reported; a failing clear is left for the test itself to report)."""
    if not smart_capability.smart_charging:
        yield
        return
    with contextlib.suppress(Exception):
        charger.call("ClearChargingProfile", smart.clear_request(charger))
    yield
    with contextlib.suppress(Exception):
        charger.call("ClearChargingProfile", smart.clear_request(charger))


@pytest.fixture
def session(charger: Any, station: Any, clock: Any, bench: Any,
            request: pytest.FixtureRequest) -> Session:
    """A charging session with a profile book (``_support.Session``)."""
    return Session(charger, station, clock, bench, request)
