"""Local authorization: a card starts and stops a session; a rejected card never charges."""

from __future__ import annotations

import pytest

from testbench.procedures import ocpp

VALID_TOKEN = "LAB-0001"
REJECTED_TOKEN = "LAB-0666"
WITHIN_S = 10.0
NO_CHARGING_WINDOW_S = 10.0


@pytest.mark.testcase(v16="TC_004_1_CS", v201="TC_C_02_CS", v21="TC_C_02_CS")  # (verify)
def test_local_authorize_start_and_stop(charger, station):
    """EV plugged, card presented: Authorize, transaction, energy; same card again stops it."""
    station.plug_in()
    station.request_energy()
    station.present_card(VALID_TOKEN)
    charger.expect("Authorize", WITHIN_S, where=lambda p: _token(p) == VALID_TOKEN)
    ocpp.expect_transaction_started(charger, WITHIN_S)
    ocpp.expect_charging(charger, WITHIN_S)
    station.present_card(VALID_TOKEN)
    ocpp.expect_transaction_ended(charger, WITHIN_S)


@pytest.mark.testcase(v16="TC_023_1_CS", v201="TC_C_03_CS", v21="TC_C_03_CS")  # (verify)
def test_rejected_card_does_not_charge(charger, station, csms):
    """A card the central system rejects must not start a transaction or deliver energy."""
    charger.set_authorization(default="Accepted", overrides={REJECTED_TOKEN: "Invalid"})
    station.plug_in()
    station.request_energy()
    station.present_card(REJECTED_TOKEN)
    charger.expect("Authorize", WITHIN_S, where=lambda p: _token(p) == REJECTED_TOKEN)
    if ocpp.is_v16(charger):
        charger.expect_not(["StartTransaction"], NO_CHARGING_WINDOW_S,
                           where=lambda p: p.get("idTag") == REJECTED_TOKEN)
    else:
        charger.expect_not(["TransactionEvent"], NO_CHARGING_WINDOW_S,
                           where=lambda p: p.get("transactionInfo", {}).get("chargingState")
                           == "Charging")
    charging = ocpp.charging_reports(charger)
    assert not charging, (
        f"charger reported energy flowing ({charging[0].action}) after the central system "
        f"answered Invalid for card {REJECTED_TOKEN}")


def _token(payload: dict) -> str | None:
    if "idTag" in payload:
        return payload["idTag"]
    return payload.get("idToken", {}).get("idToken")
