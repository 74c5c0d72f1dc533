"""GetCompositeSchedule cases (2.0.1 K08, OCTT TC_K_41 / TC_K_47), judged on the wire against
the bench's reference composite (``testbench.schedule``) and, during a transaction, at the
meter (``test_profiles.Session``).
"""

from __future__ import annotations

from typing import Any

import pytest

from suites.smart_charging._support import attach_json, install
from suites.smart_charging.test_profiles import COMPOSITE_S, Session
from testbench.procedures import ocpp, smart


@pytest.mark.testcase(v16=None, v201="TC_K_41_CS", v21="TC_K_41_CS")  # (verify)
def test_composite_combining_purposes(session: Session, charger: Any, clock: Any) -> None:
    """During a transaction: station maximum (13 A, 7 A after 40 s), a station-wide
    TxDefaultProfile (10 A) and the transaction's TxProfile (11 A, 9 A after 60 s) combine
    into min(station maximum, TxProfile). Asked for evse 1 in A and in W, for the whole
    station (evse 0), and for 30 s and 900 s; the current follows at the meter."""
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
        at_s = clock.now()
        problems, _ref, answer = smart.composite_problems(session.book, 1, COMPOSITE_S, at_s,
                                                          unit="W")
        session.answers.append({"at_lab_s": at_s, "unit": "W", "answer": answer})
        session.problems += problems
        session.check_composite(evse_id=0)
        for duration_s in (30, 900):  # shorter than the first change, longer than all
            session.check_composite(evse_id=1, duration_s=duration_s)
        clock.sleep(50.0)
    finally:
        session.finish()


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
