"""Judging a charger's GetCompositeSchedule answer against the reference."""

from __future__ import annotations

import pytest
from schedule_helpers import T0, answer, install, iso, period, profile

from testbench.schedule import (
    Supply,
    Transaction,
    compare_composite,
    composite_schedule,
    format_differences,
    parse_composite_response,
)


@pytest.fixture
def reference():
    """16 A until +900 s, 10 A until +1800 s, then 20 A, over 2400 s (2.0.1 EVSE 1)."""
    item = install("2.0.1", 1, profile("2.0.1", 1, "TxProfile", 0,
                                       [period(0, 16), period(900, 10), period(1800, 20)],
                                       start=T0, tx="T1"))
    return composite_schedule([item], evse_id=1, start_s=T0, duration_s=2400, unit="A",
                              transactions=[Transaction(1, T0, "T1")])


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_identical_answer_has_no_differences(reference, version):
    assert compare_composite(reference, answer(reference, version), version) == []


def test_boundary_within_the_time_tolerance_passes(reference):
    late = answer(reference, "2.0.1", periods=[(0, 16), (901, 10), (1799, 20)])
    assert compare_composite(reference, late, "2.0.1", time_tol_s=2.0) == []
    shifted = answer(reference, "2.0.1", shift_s=1.5)
    assert compare_composite(reference, shifted, "2.0.1") == []


def test_boundary_outside_the_tolerance_is_reported(reference):
    late = answer(reference, "2.0.1", periods=[(0, 16), (905, 10), (1800, 20)])
    diffs = compare_composite(reference, late, "2.0.1", time_tol_s=2.0)
    assert [d.kind for d in diffs] == ["limit"]
    assert diffs[0].message == ("period starting at +900 s (until +905 s): charger says "
                                "16 A, reference 10 A")


def test_wrong_limit_reads_like_a_lab_note(reference):
    wrong = answer(reference, "2.0.1", periods=[(0, 16), (900, 16), (1800, 20)])
    diffs = compare_composite(reference, wrong, "2.0.1")
    assert [str(d) for d in diffs] == [
        "period starting at +900 s (until +1800 s): charger says 16 A, reference 10 A"]
    assert (diffs[0].start_offset_s, diffs[0].end_offset_s, diffs[0].reported,
            diffs[0].reference) == (900, 1800, 16, 10)
    assert "[limit]" in format_differences(diffs)
    assert format_differences([]) == "no differences"


def test_value_tolerance(reference):
    close = answer(reference, "2.0.1", periods=[(0, 16.1), (900, 9.9), (1800, 20)])
    assert compare_composite(reference, close, "2.0.1") == []
    assert compare_composite(reference, close, "2.0.1", value_tol=0.01) != []
    assert compare_composite(reference, close, "2.0.1", value_tol=0.0, rel_tol=0.02) == []


def test_answer_in_the_other_unit(reference):
    in_watts = answer(reference, "2.0.1", unit="W")
    diffs = compare_composite(reference, in_watts, "2.0.1")
    assert [d.kind for d in diffs] == ["unit"]
    assert compare_composite(reference, in_watts, "2.0.1", unit_requested=False) == []
    wrong_voltage = compare_composite(
        reference.__class__(**{**reference.__dict__, "supply": Supply(voltage_v=240)}),
        in_watts, "2.0.1", unit_requested=False)
    assert {d.kind for d in wrong_voltage} == {"limit"}


def test_header_differences(reference):
    payload = answer(reference, "2.0.1", shift_s=30, duration_s=1200)
    payload["schedule"]["evseId"] = 2
    kinds = [d.kind for d in compare_composite(reference, payload, "2.0.1")]
    assert kinds[:3] == ["evse", "start", "duration"]


def test_rejected_and_malformed_answers(reference):
    assert [d.kind for d in compare_composite(reference, {"status": "Rejected"}, "2.0.1")] == [
        "status"]
    broken = answer(reference, "2.0.1")
    del broken["schedule"]["chargingRateUnit"]
    diffs = compare_composite(reference, broken, "2.0.1")
    assert [d.kind for d in diffs] == ["payload"]
    assert "chargingRateUnit" in diffs[0].message
    unordered = answer(reference, "1.6", periods=[(0, 16), (900, 10), (800, 20)])
    assert compare_composite(reference, unordered, "1.6")[0].kind == "payload"


def test_16_answer_without_schedule_start_falls_back_to_start_schedule(reference):
    payload = answer(reference, "1.6")
    payload["chargingSchedule"]["startSchedule"] = payload.pop("scheduleStart")
    assert compare_composite(reference, payload, "1.6") == []
    del payload["chargingSchedule"]["startSchedule"]
    assert [d.kind for d in compare_composite(reference, payload, "1.6")] == ["start"]


def test_schedule_starting_late_is_a_coverage_difference(reference):
    payload = answer(reference, "2.0.1", periods=[(60, 16), (900, 10), (1800, 20)])
    assert [d.kind for d in compare_composite(reference, payload, "2.0.1")] == ["coverage"]


def test_phases_are_compared_where_the_reference_states_them():
    item = install("2.0.1", 1, profile("2.0.1", 1, "TxDefaultProfile", 0, [period(0, 16, 1)],
                                       start=T0))
    ref = composite_schedule([item], evse_id=1, start_s=T0, duration_s=600)
    assert compare_composite(ref, answer(ref, "2.0.1", phases=1), "2.0.1") == []
    diffs = compare_composite(ref, answer(ref, "2.0.1"), "2.0.1")  # absent: 3 assumed
    assert [d.kind for d in diffs] == ["phases"]
    assert "numberPhases 3" in diffs[0].message
    assert compare_composite(ref, answer(ref, "2.0.1"), "2.0.1", check_phases=False) == []


def test_unlimited_reference_accepts_any_value():
    ref = composite_schedule([], evse_id=1, start_s=T0, duration_s=600)
    assert compare_composite(ref, answer(ref, "2.0.1", periods=[(0, 32)]), "2.0.1") == []


def test_randomized_delay_widens_the_time_tolerance():
    item = install("2.1", 1, profile("2.1", 1, "TxDefaultProfile", 0,
                                     [period(0, 16), period(300, 10)], start=T0,
                                     randomizedDelay=60))
    ref = composite_schedule([item], evse_id=1, start_s=T0, duration_s=600)
    late = answer(ref, "2.1", periods=[(0, 16), (350, 10)])
    assert compare_composite(ref, late, "2.1") == []
    later = answer(ref, "2.1", periods=[(0, 16), (370, 10)])
    assert [d.kind for d in compare_composite(ref, later, "2.1")] == ["limit"]


def test_21_discharge_limit_compared_when_both_state_it():
    item = install("2.1", 1, profile("2.1", 1, "TxDefaultProfile", 0,
                                     [period(0, 16, dischargeLimit=-10.0)], start=T0))
    ref = composite_schedule([item], evse_id=1, start_s=T0, duration_s=600)
    payload = answer(ref, "2.1")
    assert compare_composite(ref, payload, "2.1") == []
    payload["schedule"]["chargingSchedulePeriod"][0]["dischargeLimit"] = -16.0
    diffs = compare_composite(ref, payload, "2.1")
    assert [d.kind for d in diffs] == ["discharge_limit"]
    assert "dischargeLimit -16 A, reference -10 A" in diffs[0].message


def test_parse_composite_response_shapes():
    rep = parse_composite_response({
        "status": "Accepted", "connectorId": 1, "scheduleStart": iso(T0),
        "chargingSchedule": {"duration": 300, "chargingRateUnit": "W",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6900,
                                                         "numberPhases": 3}]}}, "1.6")
    assert (rep.evse_id, rep.start_s, rep.duration_s, rep.unit) == (1, T0, 300, "W")
    assert rep.periods[0].limit == 6900 and rep.periods[0].number_phases == 3
