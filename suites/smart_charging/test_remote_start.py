"""Remote start carrying a charging profile, the other variants than TC_059 / TC_K_37
(in test_profiles.py), judged on the wire.
"""

from __future__ import annotations

from typing import Any

import pytest

from suites.smart_charging._support import TOKEN, WITHIN_S, attach_json
from testbench.csms.failures import CallErrorReceived, ExpectationFailed
from testbench.errors import DeviceFailure
from testbench.procedures import ocpp, smart

NO_START_S = 10.0
"""Lab seconds the charger is watched for a transaction start after a rejected remote start."""


@pytest.mark.requires("ocpp16")
@pytest.mark.testcase(v16="TC_060_CS", v201=None, v21=None)
def test_remote_start_with_non_tx_profile_rejected(charger: Any, station: Any) -> None:
    """A RemoteStartTransaction whose chargingProfile has purpose TxDefaultProfile (not
    TxProfile) is Rejected or answered with CALLERROR PropertyConstraintViolation, and no
    transaction starts (OCTT TC_060_CS "Remote Start Transaction with Charging Profile -
    Rejected")."""
    station.plug_in()
    station.request_energy()
    profile = smart.profile_request(charger, evse_id=1, profile_id=601, stack_level=0,
                                    purpose="TxDefaultProfile", kind="Relative",
                                    periods=[(0, 8.0)])
    request = smart.remote_start_request(charger, TOKEN, profile)
    try:
        answer = f"status {charger.call('RemoteStartTransaction', request).get('status')!r}"
    except CallErrorReceived as error:
        answer = f"CALLERROR {error.code}"
    attach_json("remote-start-non-tx-profile", {"request": request, "answer": answer})
    problems = []
    if answer not in ("status 'Rejected'", "CALLERROR PropertyConstraintViolation"):
        problems.append(f"RemoteStartTransaction with a TxDefaultProfile: the charger answered "
                        f"{answer}, expected status 'Rejected' or CALLERROR "
                        "PropertyConstraintViolation")
    try:
        started = ocpp.expect_transaction_started(charger, NO_START_S)
    except ExpectationFailed:  # nothing started: as it should be
        started = None
    if started is not None:
        problems.append(f"a transaction ({started.transaction_id}) started after the remote "
                        "start that should have been rejected")
        try:
            ocpp.stop_transaction(charger, started.transaction_id, WITHIN_S)
        except (DeviceFailure, ExpectationFailed, CallErrorReceived) as error:
            problems.append(f"and it could not be stopped: {error}")
    if problems:
        raise DeviceFailure("; ".join(problems))


IGNORED_LIMIT_A = 6.0
"""TC_K_38: the limit of the TxProfile a charger without smart charging must ignore."""

IGNORED_MARGIN_A = 2.0
"""The current must exceed the ignored limit by this much (when the pairing can draw
at least twice as much above it)."""


@pytest.mark.requires("ocpp2")
@pytest.mark.testcase(v16=None, v201="TC_K_38_CS", v21="TC_K_38_CS")  # (verify)
def test_remote_start_profile_ignored_without_smart_charging(
        charger: Any, station: Any, clock: Any,
        without_smart_charging: smart.SmartCapability) -> None:
    """A charger that reports no smart charging accepts a RequestStartTransaction carrying a
    TxProfile (6 A), starts the transaction (triggerReason RemoteStart, the remoteStartId)
    and ignores the profile (2.0.1 F01.FR.12 (verify)): ``smart.RESPONSE_S`` after Charging
    the current is above 6 A + 2 A. Current from the power analyser, else from a triggered
    MeterValues (Current.Import); not judged where neither tells it or where the EV and
    charger cannot draw 6 A + 4 A."""
    station.plug_in()
    station.request_energy()
    tx_profile = smart.profile_request(charger, evse_id=1, profile_id=381, stack_level=0,
                                       purpose="TxProfile", kind="Relative",
                                       periods=[(0, IGNORED_LIMIT_A)])
    request = smart.remote_start_request(charger, TOKEN, tx_profile, remote_start_id=38)
    status = str(charger.call("RequestStartTransaction", request).get("status"))
    smart.expect_status(status, "Accepted", "RequestStartTransaction with a TxProfile on a "
                        "charger without smart charging")
    started = ocpp.expect_transaction_started(charger, WITHIN_S)
    problems = []
    payload = started.message.payload
    remote_start_id = (payload.get("transactionInfo") or {}).get("remoteStartId")
    if payload.get("triggerReason") != "RemoteStart" or remote_start_id != 38:
        problems.append(f"TransactionEvent Started has triggerReason "
                        f"{payload.get('triggerReason')!r} and remoteStartId "
                        f"{remote_start_id!r}, expected 'RemoteStart' and 38")
    try:
        ocpp.expect_charging(charger, WITHIN_S)
        clock.sleep(smart.RESPONSE_S + 2.0)
        current_a, source = _measured_current_a(charger, station, clock)
    finally:
        ocpp.stop_transaction(charger, started.transaction_id, WITHIN_S)
    possible_a = min(station.ev.max_current_a, station.charger.max_current_a)
    judged = (current_a is not None
              and possible_a >= IGNORED_LIMIT_A + 2 * IGNORED_MARGIN_A)
    attach_json("remote-start-profile-ignored", {
        "request": request, "answer": status, "started": payload, "current_a": current_a,
        "current_from": source, "pairing_max_a": possible_a, "judged": judged})
    if judged and current_a is not None and current_a < IGNORED_LIMIT_A + IGNORED_MARGIN_A:
        problems.append(f"the current ({source}) is {current_a:.1f} A, held at the "
                        f"{IGNORED_LIMIT_A:g} A of the remote start's TxProfile: a charger "
                        "without smart charging must ignore it (the pairing can draw "
                        f"{possible_a:g} A)")
    if problems:
        raise DeviceFailure("; ".join(problems))


def _measured_current_a(charger: Any, station: Any, clock: Any) -> tuple[float | None, str]:
    """The charging current: the largest of three analyser readings 1 s apart, else the
    Current.Import of a triggered MeterValues; (None, why) when neither tells it."""
    if station.has("power_analyzer"):
        analyzer = station.instrument("power_analyzer")
        readings = []
        for _ in range(3):
            readings.append(analyzer.wait_fresh(timeout_s=10.0).current_a)
            clock.sleep(1.0)
        return max(readings), "power analyser"
    try:
        answer = charger.call("TriggerMessage", {"requestedMessage": "MeterValues",
                                                 "evse": {"id": 1}})
        if answer.get("status") != "Accepted":
            return None, f"no analyser; TriggerMessage MeterValues {answer.get('status')}"
        message = charger.expect("MeterValues", WITHIN_S)
    except (CallErrorReceived, ExpectationFailed) as error:
        return None, f"no analyser; TriggerMessage MeterValues failed: {error}"
    for meter in message.payload.get("meterValue", []):
        for sample in meter.get("sampledValue", []):
            if sample.get("measurand") == "Current.Import" and sample.get("phase") in (
                    None, "L1"):
                return float(sample["value"]), "MeterValues Current.Import"
    return None, "no analyser; the triggered MeterValues has no Current.Import"
