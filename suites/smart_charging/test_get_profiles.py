"""GetChargingProfiles filters (2.0.1 K09, OCTT TC_K_29..36), judged on the wire.

Five profiles are installed on the station (evse 0) and on evse 1; each case asks with one
filter and the answer (Accepted / NoProfiles) and the ReportChargingProfiles frames must list
exactly the profiles the bench's own book selects, each in a frame of its EVSE, with source
CSO and the content the bench sent (``smart.report_problems``). Evidence: request, answer
and frames (JSON).
"""

from __future__ import annotations

from typing import Any

import pytest

from suites.smart_charging._support import attach_json, install, raise_problems
from testbench.procedures import smart

pytestmark = pytest.mark.requires("ocpp2")


def _layout(charger: Any, station: Any, clock: Any) -> smart.ProfileBook:
    """301 station max (evse 0), 302 station-wide TxDefault (evse 0), 303/304/305 TxDefault
    on evse 1 at stack levels 0, 2 and 1."""
    book = smart.ProfileBook(charger, float(station.charger.max_current_a))
    now = clock.now()
    common: dict[str, Any] = {"kind": "Absolute", "start_s": now - 1}
    install(book, now, evse_id=0, profile_id=301, stack_level=0,
            purpose="ChargingStationMaxProfile", periods=[(0, 14.0)], **common)
    install(book, now, evse_id=0, profile_id=302, stack_level=0, purpose="TxDefaultProfile",
            periods=[(0, 13.0)], **common)
    install(book, now, evse_id=1, profile_id=303, stack_level=0, purpose="TxDefaultProfile",
            periods=[(0, 10.0), (300, 9.0)], **common)
    install(book, now, evse_id=1, profile_id=304, stack_level=2, purpose="TxDefaultProfile",
            periods=[(0, 8.0)], duration_s=600, **common)
    install(book, now, evse_id=1, profile_id=305, stack_level=1, purpose="TxDefaultProfile",
            kind="Relative", periods=[(0, 9.0), (120, 7.0)])
    return book


def _judge(charger: Any, book: smart.ProfileBook, requests: list[dict[str, Any]],
           expected_ids: list[set[int]]) -> None:
    """Ask each request; its selection must be the expected ids (a guard on the layout);
    judge the report against the book."""
    problems: list[str] = []
    evidence = []
    for request, ids in zip(requests, expected_ids, strict=True):
        wanted = smart.selected_profiles(book, request)
        assert set(wanted) == ids, f"bench layout: {request} selects {sorted(wanted)}, not {ids}"
        report = smart.get_charging_profiles(charger, request)
        evidence.append(report.evidence())
        problems += smart.report_problems(report, wanted, charger.version)
    attach_json("get-charging-profiles", evidence)
    raise_problems(problems)


@pytest.mark.testcase(v16=None, v201="TC_K_29_CS", v21="TC_K_29_CS")  # (verify)
def test_get_profiles_of_the_station(charger: Any, station: Any, clock: Any) -> None:
    """evseId 0, no other criterion: the station-wide profiles only (301, 302), not those
    installed on evse 1."""
    book = _layout(charger, station, clock)
    _judge(charger, book, [smart.get_profiles_request(29, evse_id=0)], [{301, 302}])


@pytest.mark.testcase(v16=None, v201="TC_K_30_CS", v21="TC_K_30_CS")  # (verify)
def test_get_profiles_of_one_evse(charger: Any, station: Any, clock: Any) -> None:
    """evseId 1, no other criterion: the profiles installed on evse 1, not the station's."""
    book = _layout(charger, station, clock)
    _judge(charger, book, [smart.get_profiles_request(30, evse_id=1)], [{303, 304, 305}])


@pytest.mark.testcase(v16=None, v201="TC_K_31_CS", v21="TC_K_31_CS")  # (verify)
def test_get_profiles_without_evse(charger: Any, station: Any, clock: Any) -> None:
    """No evseId, purpose TxDefaultProfile: those of every EVSE and of the station, each
    reported in a frame of its own EVSE."""
    book = _layout(charger, station, clock)
    _judge(charger, book, [smart.get_profiles_request(31, purpose="TxDefaultProfile")],
           [{302, 303, 304, 305}])


@pytest.mark.testcase(v16=None, v201="TC_K_32_CS", v21="TC_K_32_CS")  # (verify)
def test_get_profiles_by_id(charger: Any, station: Any, clock: Any) -> None:
    """chargingProfileId [304, 301] (no evseId): exactly those two, wherever installed."""
    book = _layout(charger, station, clock)
    _judge(charger, book, [smart.get_profiles_request(32, profile_ids=[304, 301])],
           [{301, 304}])


@pytest.mark.testcase(v16=None, v201="TC_K_33_CS", v21="TC_K_33_CS")  # (verify)
def test_get_profiles_by_stack_level(charger: Any, station: Any, clock: Any) -> None:
    """evseId 1 + stackLevel 2: only profile 304; stackLevel 7: NoProfiles."""
    book = _layout(charger, station, clock)
    _judge(charger, book, [smart.get_profiles_request(33, evse_id=1, stack_level=2),
                           smart.get_profiles_request(34, evse_id=1, stack_level=7)],
           [{304}, set()])


@pytest.mark.testcase(v16=None, v201="TC_K_34_CS", v21="TC_K_34_CS")  # (verify)
def test_get_profiles_by_source(charger: Any, station: Any, clock: Any) -> None:
    """evseId 1 + chargingLimitSource CSO: the evse's profiles (the CSMS set them);
    source EMS: NoProfiles."""
    book = _layout(charger, station, clock)
    _judge(charger, book, [smart.get_profiles_request(35, evse_id=1, sources=["CSO"]),
                           smart.get_profiles_request(36, evse_id=1, sources=["EMS"])],
           [{303, 304, 305}, set()])


@pytest.mark.testcase(v16=None, v201="TC_K_35_CS", v21="TC_K_35_CS")  # (verify)
def test_get_profiles_by_purpose(charger: Any, station: Any, clock: Any) -> None:
    """evseId 1 + purpose TxDefaultProfile: 303-305; purpose TxProfile: NoProfiles."""
    book = _layout(charger, station, clock)
    _judge(charger, book, [smart.get_profiles_request(37, evse_id=1, purpose="TxDefaultProfile"),
                           smart.get_profiles_request(38, evse_id=1, purpose="TxProfile")],
           [{303, 304, 305}, set()])


@pytest.mark.testcase(v16=None, v201="TC_K_36_CS", v21="TC_K_36_CS")  # (verify)
def test_get_profiles_by_purpose_and_stack_level(charger: Any, station: Any,
                                                 clock: Any) -> None:
    """evseId 1 + purpose TxDefaultProfile + stackLevel 1: only profile 305."""
    book = _layout(charger, station, clock)
    _judge(charger, book, [smart.get_profiles_request(39, evse_id=1, purpose="TxDefaultProfile",
                                                      stack_level=1)], [{305}])
