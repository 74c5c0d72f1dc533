"""Remote start and stop from the central system."""

from __future__ import annotations

import pytest

from testbench.procedures import ocpp

TOKEN = "LAB-REMOTE-1"
WITHIN_S = 10.0


@pytest.mark.testcase(v16="TC_010_CS", v201="TC_F_01_CS", v21="TC_F_01_CS")
def test_remote_start_and_stop(charger, station):
    """Remote start with the EV plugged in starts charging; remote stop ends the transaction."""
    station.plug_in()
    station.request_energy()
    assert ocpp.remote_start(charger, TOKEN) == "Accepted", "charger rejected the remote start"
    started = ocpp.expect_transaction_started(charger, WITHIN_S)
    ocpp.expect_charging(charger, WITHIN_S)

    assert ocpp.remote_stop(charger, started.transaction_id) == "Accepted", (
        f"charger rejected the remote stop of its own transaction {started.transaction_id}")
    ocpp.expect_transaction_ended(charger, WITHIN_S, reason="Remote")
