"""ClearChargingProfile variants (2.0.1 K10, OCTT TC_K_07/08/09/24), judged on the wire and,
during a transaction, at the meter.

Each case checks the ClearChargingProfile status (Accepted when a profile matched, else
Unknown), then what is left: the composite schedule against the bench's reference (which
applies the same clear), and on 2.x the installed profiles through GetChargingProfiles.
The ids run on 1.6 too (composite only), unlabelled there.
"""

from __future__ import annotations

from typing import Any

import pytest

from suites.smart_charging._support import Session, attach_json, install
from testbench.procedures import ocpp, smart


def _clear(session: Session, what: str, wanted: str, **criteria: Any) -> None:
    """Send a ClearChargingProfile by criteria; a status other than ``wanted`` is a problem."""
    status = session.book.clear(smart.clear_request(session.charger, **criteria))
    if status != wanted:
        session.problems.append(f"ClearChargingProfile {what} {criteria}: the charger answered "
                                f"{status!r}, expected {wanted!r}")


def _check_installed(session: Session, request_id: int) -> None:
    """2.x: every installed profile, as the bench's book has them (GetChargingProfiles)."""
    if ocpp.is_v16(session.charger):
        return
    request = smart.get_profiles_request(request_id)
    report = smart.get_charging_profiles(session.charger, request)
    attach_json(f"installed-after-clear-{request_id}", report.evidence())
    session.problems += smart.report_problems(report, smart.selected_profiles(session.book,
                                                                              request),
                                              session.charger.version)


@pytest.mark.testcase(v16=None, v201="TC_K_07_CS", v21="TC_K_07_CS")  # (verify)
def test_clear_unknown_stack_level_and_purpose(session: Session, charger: Any,
                                               clock: Any) -> None:
    """Criteria that match no installed profile (stack level 3; purpose station maximum)
    are answered Unknown and leave the TxDefaultProfile (9 A) in place."""
    now = clock.now()
    install(session.book, now, evse_id=1, profile_id=701, stack_level=0,
            purpose="TxDefaultProfile", kind="Absolute", start_s=now - 1, periods=[(0, 9.0)])
    _clear(session, "of an unused stack level", "Unknown", evse_id=1,
           purpose="TxDefaultProfile", stack_level=3)
    _clear(session, "of a purpose not installed", "Unknown",
           purpose="ChargingStationMaxProfile")
    session.check_composite()
    _check_installed(session, 71)
    session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_08_CS", v21="TC_K_08_CS")  # (verify)
def test_clear_without_profiles(session: Session, charger: Any, clock: Any) -> None:
    """With no profile installed, a clear by evse, purpose and stack level is Unknown."""
    _clear(session, "with nothing installed", "Unknown", evse_id=1, purpose="TxDefaultProfile",
           stack_level=0)
    session.check_composite()
    _check_installed(session, 81)
    session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_09_CS", v21="TC_K_09_CS")  # (verify)
def test_clear_tx_default_during_transaction(session: Session, charger: Any,
                                             clock: Any) -> None:
    """A TxDefaultProfile (8 A) limits a running transaction; clearing it by purpose lifts
    the limit to the station maximum (12 A), which must stay (composite and meter)."""
    now = clock.now()
    try:
        install(session.book, now, evse_id=0, profile_id=901, stack_level=0,
                purpose="ChargingStationMaxProfile", kind="Absolute", start_s=now - 1,
                periods=[(0, 12.0)])
        install(session.book, now, evse_id=1, profile_id=902, stack_level=0,
                purpose="TxDefaultProfile", kind="Relative", periods=[(0, 8.0)])
        session.start()
        clock.sleep(12.0)
        session.check_composite()
        _clear(session, "of the running transaction's TxDefaultProfile", "Accepted", evse_id=1,
               purpose="TxDefaultProfile")
        clock.sleep(2.0)
        session.check_composite()
        _check_installed(session, 91)
        clock.sleep(20.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_24_CS", v21="TC_K_24_CS")  # (verify)
def test_clear_stack_level_and_purpose_of_several(session: Session, charger: Any,
                                                  clock: Any) -> None:
    """Purpose TxDefaultProfile + stack level 1 (no evse) clears the two such profiles (evse
    1 and station-wide) and nothing else: the stack-0 TxDefault (10 A) and the station
    maximum (14 A) remain."""
    now = clock.now()
    common: dict[str, Any] = {"kind": "Absolute", "start_s": now - 1}
    install(session.book, now, evse_id=1, profile_id=241, stack_level=0,
            purpose="TxDefaultProfile", periods=[(0, 10.0)], **common)
    install(session.book, now, evse_id=1, profile_id=242, stack_level=1,
            purpose="TxDefaultProfile", periods=[(0, 7.0)], **common)
    install(session.book, now, evse_id=0, profile_id=243, stack_level=1,
            purpose="TxDefaultProfile", periods=[(0, 6.0)], **common)
    install(session.book, now, evse_id=0, profile_id=244, stack_level=1,
            purpose="ChargingStationMaxProfile", periods=[(0, 14.0), (60, 9.0)], **common)
    session.check_composite()
    _clear(session, "of stack level 1 TxDefaultProfiles", "Accepted",
           purpose="TxDefaultProfile", stack_level=1)
    session.check_composite()
    _check_installed(session, 241)
    session.finish()
