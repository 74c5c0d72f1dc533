"""Smart charging judged on the wire and, with a power analyser, at the meter.

Wire: every SetChargingProfile / ClearChargingProfile answer is checked, and the charger's
GetCompositeSchedule answer is compared with the bench's reference composite schedule
(``testbench.schedule``, +-2 s on instants, 0.1 A on limits). Meter (when the station has a
``power_analyzer``): during the session the measured current must be inside the reference
limit within ``smart.RESPONSE_S`` of every change of that limit and stay there
(+ the analyser's accuracy). Evidence: the profiles sent, the composite answer and the
reference (JSON), the recording (CSV) and measured vs allowed current (PNG).

Limits stay below the EVs' own maximum (16 A for the smallest in the lab examples), so a
charger that does not apply them shows on the analyser.
"""

from __future__ import annotations

from typing import Any

import pytest

from suites.smart_charging._support import (
    COMPOSITE_S,
    TOKEN,
    WITHIN_S,
    Session,
    profile,
    require_rate_unit,
)
from testbench.procedures import ocpp, smart


# ----------------------------------------------------------------------------- cases
@pytest.mark.testcase(v16="TC_056_CS", v201="TC_K_01_CS", v21="TC_K_01_CS")  # (verify)
def test_tx_default_profile(session: Session, charger: Any, clock: Any) -> None:
    """A TxDefaultProfile set before the transaction limits it: 10 A, then 7 A after 30 s."""
    status = session.book.set(profile(charger, profile_id=11, stack_level=0,
                                      purpose="TxDefaultProfile", kind="Relative",
                                      periods=[(0, 10.0), (30, 7.0)]), clock.now())
    smart.expect_status(status, "Accepted", "SetChargingProfile TxDefaultProfile")
    try:
        session.start()
        clock.sleep(5.0)
        session.check_composite()
        clock.sleep(55.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16="TC_057_CS", v201="TC_K_60_CS", v21="TC_K_60_CS")  # (verify)
def test_tx_profile(session: Session, charger: Any, clock: Any) -> None:
    """A TxProfile set during the transaction limits it (8 A), over a TxDefaultProfile (12 A)."""
    try:
        session.book.set(profile(charger, profile_id=21, stack_level=0,
                                 purpose="TxDefaultProfile", kind="Relative",
                                 periods=[(0, 12.0)]), clock.now())
        started = session.start()
        clock.sleep(5.0)
        status = session.book.set(profile(charger, profile_id=22, stack_level=1,
                                          purpose="TxProfile", kind="Relative",
                                          periods=[(0, 8.0)],
                                          transaction_id=started.transaction_id), clock.now())
        smart.expect_status(status, "Accepted", "SetChargingProfile TxProfile")
        clock.sleep(3.0)
        session.check_composite()
        clock.sleep(30.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16="TC_058_1_CS", v201="TC_K_02_CS", v21="TC_K_02_CS")  # (verify)
def test_tx_profile_without_transaction_rejected(charger: Any, clock: Any) -> None:
    """A TxProfile while no transaction runs is Rejected."""
    request = profile(charger, profile_id=31, stack_level=0, purpose="TxProfile",
                      kind="Relative", periods=[(0, 8.0)],
                      transaction_id=None if ocpp.is_v16(charger) else "NO-SUCH-TX")
    status = str(charger.call("SetChargingProfile", request).get("status"))
    smart.expect_status(status, "Rejected", "SetChargingProfile TxProfile without a transaction")


@pytest.mark.testcase(v16="TC_058_2_CS", v201=None, v21=None)
def test_tx_profile_wrong_transaction_rejected(charger: Any, station: Any, clock: Any) -> None:
    """A TxProfile naming another transaction than the running one is Rejected."""
    station.plug_in()
    station.request_energy()
    assert ocpp.remote_start(charger, TOKEN) == "Accepted", "charger rejected the remote start"
    started = ocpp.expect_transaction_started(charger, WITHIN_S)
    wrong = str(int(started.transaction_id) + 1000) if ocpp.is_v16(charger) \
        else "WRONG-" + started.transaction_id[:20]
    request = profile(charger, profile_id=32, stack_level=0, purpose="TxProfile",
                      kind="Relative", periods=[(0, 8.0)], transaction_id=wrong)
    status = str(charger.call("SetChargingProfile", request).get("status"))
    ocpp.stop_transaction(charger, started.transaction_id, WITHIN_S)
    smart.expect_status(status, "Rejected",
                        f"SetChargingProfile TxProfile for transaction {wrong} while "
                        f"{started.transaction_id} runs")


# 2.x: the same content is TC_K_41_CS (test_composite.py); TC_K_39_CS is "no profile installed"
@pytest.mark.testcase(v16="TC_066_CS", v201=None, v21=None)  # (verify)
def test_composite_schedule_three_purposes(session: Session, charger: Any,
                                           clock: Any) -> None:
    """Station maximum, TxDefault and TxProfile combine into the composite the charger reports."""
    now = clock.now()
    try:
        session.book.set(profile(charger, evse_id=0, profile_id=41, stack_level=0,
                                 purpose="ChargingStationMaxProfile", kind="Absolute",
                                 start_s=now - 1, periods=[(0, 14.0), (60, 9.0)]), now)
        session.book.set(profile(charger, profile_id=42, stack_level=0,
                                 purpose="TxDefaultProfile", kind="Relative",
                                 periods=[(0, 12.0)]), clock.now())
        started = session.start()
        status = session.book.set(profile(charger, profile_id=43, stack_level=0,
                                          purpose="TxProfile", kind="Relative",
                                          periods=[(0, 11.0), (40, 6.0)],
                                          transaction_id=started.transaction_id), clock.now())
        smart.expect_status(status, "Accepted", "SetChargingProfile TxProfile")
        clock.sleep(2.0)
        session.check_composite()
        clock.sleep(50.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16="TC_067_CS", v201="TC_K_05_CS", v21="TC_K_05_CS")  # (verify)
def test_clear_charging_profile(session: Session, charger: Any, clock: Any) -> None:
    """Clearing a profile by id removes it from the composite; clearing it again is Unknown."""
    session.book.set(profile(charger, profile_id=51, stack_level=0, purpose="TxDefaultProfile",
                             kind="Absolute", start_s=clock.now() - 1, periods=[(0, 9.0)]),
                     clock.now())
    session.check_composite()
    status = session.book.clear(smart.clear_request(charger, profile_id=51))
    smart.expect_status(status, "Accepted", "ClearChargingProfile of installed profile 51")
    session.check_composite()
    again = str(charger.call("ClearChargingProfile",
                             smart.clear_request(charger, profile_id=51)).get("status"))
    session.finish()
    smart.expect_status(again, "Unknown", "ClearChargingProfile of profile 51 already cleared")


@pytest.mark.requires("ocpp2")
@pytest.mark.testcase(v16=None, v201="TC_K_03_CS", v21="TC_K_03_CS")  # (verify)
def test_station_max_profile(session: Session, charger: Any, clock: Any) -> None:
    """A ChargingStationMaxProfile caps the EVSE's composite; on an EVSE it is Rejected."""
    now = clock.now()
    wrong = str(charger.call("SetChargingProfile", profile(
        charger, evse_id=1, profile_id=61, stack_level=0, purpose="ChargingStationMaxProfile",
        kind="Absolute", start_s=now - 1, periods=[(0, 10.0)])).get("status"))
    status = session.book.set(profile(charger, evse_id=0, profile_id=62, stack_level=0,
                                      purpose="ChargingStationMaxProfile", kind="Absolute",
                                      start_s=now - 1, periods=[(0, 10.0), (30, 8.0)]), now)
    smart.expect_status(status, "Accepted", "SetChargingProfile ChargingStationMaxProfile on evse 0")
    session.check_composite(evse_id=1)
    session.check_composite(evse_id=0)
    session.finish()
    smart.expect_status(wrong, "Rejected", "SetChargingProfile ChargingStationMaxProfile on evse 1")


@pytest.mark.requires("ocpp2")
@pytest.mark.testcase(v16=None, v201="TC_K_04_CS", v21="TC_K_04_CS")  # (verify)
def test_replace_profile(session: Session, charger: Any, clock: Any) -> None:
    """A profile sent again with the same id replaces the installed one."""
    for limit in (10.0, 6.0):
        status = session.book.set(profile(charger, profile_id=71, stack_level=0,
                                          purpose="TxDefaultProfile", kind="Absolute",
                                          start_s=clock.now() - 1, periods=[(0, limit)]),
                                  clock.now())
        smart.expect_status(status, "Accepted", f"SetChargingProfile id 71 with {limit:g} A")
    session.check_composite()
    session.finish()


@pytest.mark.testcase(v16="TC_072_CS", v201="TC_K_70_CS", v21="TC_K_70_CS")  # (verify)
def test_stacking(session: Session, charger: Any, clock: Any) -> None:
    """Stack level 1 (6 A for 30 s) leads over stack level 0 (11 A), then falls through."""
    try:
        session.book.set(profile(charger, profile_id=81, stack_level=0,
                                 purpose="TxDefaultProfile", kind="Relative",
                                 periods=[(0, 11.0)]), clock.now())
        session.book.set(profile(charger, profile_id=82, stack_level=1,
                                 purpose="TxDefaultProfile", kind="Relative",
                                 periods=[(0, 6.0)], duration_s=30), clock.now())
        session.start()
        clock.sleep(3.0)
        session.check_composite()
        clock.sleep(50.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16="TC_082_CS", v201=None, v21=None)  # (verify)
def test_tx_default_profile_during_transaction(session: Session, charger: Any,
                                               clock: Any) -> None:
    """A TxDefaultProfile set while a transaction runs limits that transaction at once (8 A)."""
    try:
        session.start()
        clock.sleep(5.0)
        status = session.book.set(profile(charger, profile_id=101, stack_level=0,
                                          purpose="TxDefaultProfile", kind="Relative",
                                          periods=[(0, 8.0)]), clock.now())
        smart.expect_status(status, "Accepted", "SetChargingProfile TxDefaultProfile")
        clock.sleep(2.0)
        session.check_composite()
        clock.sleep(25.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_10_CS", v21="TC_K_10_CS")  # (verify)
def test_tx_default_profile_all_evses(session: Session, charger: Any, clock: Any) -> None:
    """A TxDefaultProfile on evse (1.6: connector) 0 applies to every EVSE."""
    status = session.book.set(profile(charger, evse_id=0, profile_id=111, stack_level=0,
                                      purpose="TxDefaultProfile", kind="Absolute",
                                      start_s=clock.now() - 1, periods=[(0, 9.0), (40, 7.0)]),
                              clock.now())
    smart.expect_status(status, "Accepted", "SetChargingProfile TxDefaultProfile on evse 0")
    session.check_composite(evse_id=1)
    session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_19_CS", v21="TC_K_19_CS")  # (verify)
def test_recurring_profile(session: Session, charger: Any, clock: Any) -> None:
    """A daily recurring profile that began an hour ago: its period change 30 s from now."""
    now = clock.now()
    status = session.book.set(profile(charger, profile_id=121, stack_level=0,
                                      purpose="TxDefaultProfile", kind="Recurring",
                                      recurrency="Daily", start_s=now - 3600, periods=[(0, 10.0), (3630, 7.0),
                                                                    (3700, 12.0)]), now)
    smart.expect_status(status, "Accepted", "SetChargingProfile Recurring TxDefaultProfile")
    session.check_composite()
    session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_06_CS", v21="TC_K_06_CS")  # (verify)
def test_clear_by_criteria(session: Session, charger: Any, clock: Any) -> None:
    """Clearing by purpose and stack level removes only the profile they select."""
    now = clock.now()
    for profile_id, stack, limit in ((131, 0, 12.0), (132, 1, 7.0)):
        session.book.set(profile(charger, profile_id=profile_id, stack_level=stack,
                                 purpose="TxDefaultProfile", kind="Absolute", start_s=now - 1,
                                 periods=[(0, limit)]), now)
    session.check_composite()
    criteria: dict[str, Any] = {"evse_id": 1, "purpose": "TxDefaultProfile", "stack_level": 1}
    status = session.book.clear(smart.clear_request(charger, **criteria))
    smart.expect_status(status, "Accepted", "ClearChargingProfile TxDefaultProfile stack level 1")
    session.check_composite()
    again = str(charger.call("ClearChargingProfile",
                             smart.clear_request(charger, **criteria)).get("status"))
    session.finish()
    smart.expect_status(again, "Unknown", "ClearChargingProfile of a stack level already cleared")


@pytest.mark.testcase(v16="TC_059_CS", v201="TC_K_37_CS", v21="TC_K_37_CS")  # (verify)
def test_remote_start_with_tx_profile(session: Session, charger: Any, clock: Any) -> None:
    """A remote start carrying a TxProfile (9 A, 6 A after 30 s) limits the transaction."""
    tx_profile = profile(charger, profile_id=151, stack_level=0, purpose="TxProfile",
                         kind="Relative", periods=[(0, 9.0), (30, 6.0)])
    try:
        session.start(tx_profile)
        clock.sleep(3.0)
        session.check_composite()
        clock.sleep(45.0)
    finally:
        session.finish()


# No catalogue id found for this content (TC_K_40_CS is "Stacking": test_composite.py).
@pytest.mark.testcase(v16=None, v201=None, v21=None)
def test_composite_schedule_in_watts(session: Session, charger: Any, clock: Any,
                                     smart_capability: smart.SmartCapability) -> None:
    """Profiles in A and in W combine; the composite asked for in W converts at 230 V."""
    require_rate_unit(smart_capability, "W")
    now = clock.now()
    session.book.set(profile(charger, evse_id=0, profile_id=161, stack_level=0,
                             purpose="ChargingStationMaxProfile", kind="Absolute", unit="W",
                             start_s=now - 1, periods=[(0, 8280.0), (45, 5520.0)]), now)
    session.book.set(profile(charger, profile_id=162, stack_level=0, purpose="TxDefaultProfile",
                             kind="Absolute", start_s=now - 1, periods=[(0, 10.0)]), now)
    at_s = clock.now()
    problems, _ref, answer = smart.composite_problems(session.book, 1, COMPOSITE_S, at_s,
                                                      unit="W")
    session.answers.append({"at_lab_s": at_s, "unit": "W", "answer": answer})
    session.problems += problems
    session.check_composite()
    session.finish()
