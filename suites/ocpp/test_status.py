"""Status notifications follow the EV plugging in and out."""

from __future__ import annotations

import pytest

from testbench.procedures import ocpp

WITHIN_S = 10.0


@pytest.mark.testcase(v16="TC_003_CS", v201="TC_G_01_CS", v21="TC_G_01_CS")  # (verify)
def test_status_on_plug_in_and_out(charger, station):
    """Plug-in makes the connector occupied; unplugging makes it Available again."""
    station.plug_in()
    ocpp.expect_connector_occupied(charger, WITHIN_S)
    station.unplug()
    ocpp.expect_connector_status(charger, "Available", WITHIN_S)
