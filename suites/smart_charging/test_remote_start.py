"""Remote start carrying a charging profile, the other variants than TC_059 / TC_K_37
(in test_profiles.py), judged on the wire.
"""

from __future__ import annotations

from typing import Any

import pytest

from suites.smart_charging._support import attach_json
from suites.smart_charging.test_profiles import TOKEN, WITHIN_S
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
        ocpp.remote_stop(charger, started.transaction_id)
        ocpp.expect_transaction_ended(charger, WITHIN_S)
    if problems:
        raise DeviceFailure("; ".join(problems))
