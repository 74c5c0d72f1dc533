"""Reset and availability changes."""

from __future__ import annotations

import pytest

from testbench.procedures import ocpp

REBOOT_WITHIN_S = 60.0
WITHIN_S = 10.0


@pytest.mark.testcase(v16="TC_014_CS", v201="TC_B_20_CS", v21="TC_B_20_CS")  # (verify)
def test_reset_reboots(charger):
    """An accepted Reset is carried out: the charger reboots and comes back Available."""
    assert ocpp.reset(charger, hard=False) == "Accepted", "charger rejected a Reset while idle"
    charger.expect("BootNotification", REBOOT_WITHIN_S)
    ocpp.expect_connector_status(charger, "Available", WITHIN_S * 3)


@pytest.mark.testcase(v16="TC_018_1_CS", v201="TC_G_03_CS", v21="TC_G_03_CS")  # (verify)
def test_change_availability(charger):
    """Inoperative makes the connector Unavailable; Operative makes it Available again."""
    assert ocpp.change_availability(charger, operative=False) == "Accepted"
    ocpp.expect_connector_status(charger, "Unavailable", WITHIN_S)
    assert ocpp.change_availability(charger, operative=True) == "Accepted"
    ocpp.expect_connector_status(charger, "Available", WITHIN_S)
