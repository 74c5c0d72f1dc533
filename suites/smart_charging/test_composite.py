"""GetCompositeSchedule cases (2.0.1 K08, OCTT TC_K_39..42 / TC_K_47), judged on the wire
against the bench's reference composite (``testbench.schedule``) and, during a transaction,
at the meter (``_support.Session``).
"""

from __future__ import annotations

from typing import Any

import pytest

from suites.smart_charging._support import COMPOSITE_S, Session, attach_json, install
from testbench.errors import DeviceFailure
from testbench.procedures import ocpp, smart


@pytest.mark.testcase(v16=None, v201="TC_K_39_CS", v21="TC_K_39_CS")  # (verify)
def test_composite_without_profiles(session: Session, charger: Any) -> None:
    """No charging profile installed: the composite of evse 1 is Accepted and holds the
    EVSE's own maximum all along (the reference: no profile, the charger's rating (verify));
    the whole station's (evse 0) is Accepted with a schedule."""
    session.check_composite(evse_id=1)
    station_wide = smart.get_composite(charger, 0, COMPOSITE_S)
    session.answers.append({"evse_id": 0, "answer": station_wide})
    schedule = station_wide.get("chargingSchedule" if ocpp.is_v16(charger) else "schedule")
    if station_wide.get("status") != "Accepted" or not schedule:
        session.problems.append(f"GetCompositeSchedule of evse (connector) 0 without profiles: "
                                f"the charger answered status {station_wide.get('status')!r} "
                                f"{'with' if schedule else 'without'} a schedule, expected "
                                "Accepted with one (verify)")
    session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_40_CS", v21="TC_K_40_CS")  # (verify)
def test_composite_stacking(session: Session, charger: Any, clock: Any) -> None:
    """Stacked TxDefaultProfiles on evse 1, no transaction: stack level 2 (6 A for 60 s)
    leads over stack level 1 (8 A, 11 A after 90 s) over stack level 0 (10 A); the composite
    follows the highest stack level in force at each instant."""
    now = clock.now()
    common: dict[str, Any] = {"evse_id": 1, "purpose": "TxDefaultProfile", "kind": "Absolute",
                              "start_s": now - 1}
    install(session.book, now, profile_id=401, stack_level=0, periods=[(0, 10.0)], **common)
    install(session.book, now, profile_id=402, stack_level=1, periods=[(0, 8.0), (90, 11.0)],
            **common)
    install(session.book, now, profile_id=403, stack_level=2, periods=[(0, 6.0)],
            duration_s=60, **common)
    session.check_composite(evse_id=1)
    session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_41_CS", v21="TC_K_41_CS")  # (verify)
def test_composite_combining_purposes(session: Session, charger: Any, clock: Any,
                                      smart_capability: smart.SmartCapability) -> None:
    """During a transaction: station maximum (13 A, 7 A after 40 s), a station-wide
    TxDefaultProfile (10 A) and the transaction's TxProfile (11 A, 9 A after 60 s) combine
    into min(station maximum, TxProfile). Asked for evse 1 in A and (where the charger
    reports W) in W, for the whole station (evse 0), and for 30 s and 900 s; the current
    follows at the meter."""
    now = clock.now()
    try:
        install(session.book, now, evse_id=0, profile_id=411, stack_level=0,
                purpose="ChargingStationMaxProfile", kind="Absolute", start_s=now - 1,
                periods=[(0, 13.0), (40, 7.0)])
        install(session.book, now, evse_id=0, profile_id=412, stack_level=0,
                purpose="TxDefaultProfile", kind="Relative", periods=[(0, 10.0)])
        started = session.start()
        install(session.book, clock.now(), evse_id=1, profile_id=413, stack_level=0,
                purpose="TxProfile", kind="Relative", periods=[(0, 11.0), (60, 9.0)],
                transaction_id=started.transaction_id)
        clock.sleep(2.0)
        session.check_composite(evse_id=1)
        if "W" in smart_capability.rate_units:
            at_s = clock.now()
            problems, _ref, answer = smart.composite_problems(session.book, 1, COMPOSITE_S,
                                                              at_s, unit="W")
            session.answers.append({"at_lab_s": at_s, "unit": "W", "answer": answer})
            session.problems += problems
        session.check_composite(evse_id=0)
        for duration_s in (30, 900):  # shorter than the first change, longer than all
            session.check_composite(evse_id=1, duration_s=duration_s)
        clock.sleep(50.0)
    finally:
        session.finish()


@pytest.mark.requires("ocpp2")
@pytest.mark.testcase(v16=None, v201="TC_K_42_CS", v21="TC_K_42_CS")  # (verify)
def test_composite_unsupported_rate_unit_rejected(charger: Any, single_rate_unit: str) -> None:
    """A charger reporting one rate unit (SmartChargingCtrlr.RateUnit) answers a
    GetCompositeSchedule asked in the other unit Rejected, without a schedule
    (2.0.1 K08.FR.07 (verify))."""
    other = "W" if single_rate_unit == "A" else "A"
    answer = smart.get_composite(charger, 1, COMPOSITE_S, unit=other)
    attach_json("composite-unsupported-unit", {"supported": single_rate_unit,
                                               "asked_in": other, "answer": answer})
    problems = []
    if answer.get("status") != "Rejected":
        problems.append(f"GetCompositeSchedule in {other} (the charger reports only "
                        f"{single_rate_unit}): the charger answered "
                        f"{answer.get('status')!r}, expected 'Rejected'")
    elif answer.get("schedule"):
        problems.append(f"GetCompositeSchedule in {other}: the Rejected answer carries a "
                        "schedule, expected none")
    if problems:
        raise DeviceFailure("; ".join(problems))


@pytest.mark.testcase(v16=None, v201="TC_K_47_CS", v21="TC_K_47_CS")  # (verify)
def test_composite_unknown_evse_rejected(charger: Any, station: Any) -> None:
    """GetCompositeSchedule for an EVSE (1.6: connector) the charger does not have is
    Rejected (2.0.1 K08.FR.05 (verify)); 1.6 answers Rejected as well (verify)."""
    spec = station.charger
    unknown = (spec.evse_count * spec.connectors_per_evse if ocpp.is_v16(charger)
               else spec.evse_count) + 1
    answer = smart.get_composite(charger, unknown, COMPOSITE_S)
    attach_json("composite-unknown-evse", {"evse_id": unknown, "answer": answer})
    smart.expect_status(str(answer.get("status")), "Rejected",
                        f"GetCompositeSchedule for evse (connector) {unknown}, which the "
                        f"charger does not have (it has {spec.evse_count} EVSE(s))")
