"""Composite schedule: stacking, validity, schedule kinds and purpose combination, hand-worked.

Sources: the OCPP 1.6 text (§3.13.1-3.13.3, §3.13.7, §5.16.3) was read verbatim; the OCPP
2.0.1 Part 2 text was not available here, so its rules are taken as quoted by public
implementations ("leading" schedule = highest stack level valid at t with a period at t;
composite = lowest limit among the purposes; TxProfile overrules TxDefaultProfile).
Examples marked "constructed" are built from those rules, not copied from a document.
"""

from __future__ import annotations

import pytest
from schedule_helpers import DAY, HOUR, T0, install, period, profile, steps

from testbench.schedule import (
    ProfileSet,
    Rules,
    Supply,
    Transaction,
    composite_schedule,
    parse_remote_start_profile,
    parse_time,
)


def comp(items, evse=1, start=T0, duration=HOUR, unit="A", **kw):
    return composite_schedule(items, evse_id=evse, start_s=start, duration_s=duration,
                              unit=unit, **kw)


# --------------------------------------------------------------------------- spec examples

SPEC_3_13_7 = {
    "chargingProfileId": 100, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Recurring", "recurrencyKind": "Daily",
    "chargingSchedule": {
        "duration": 86400, "startSchedule": "2013-01-01T00:00Z", "chargingRateUnit": "W",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 11000, "numberPhases": 3},
            {"startPeriod": 28800, "limit": 6000, "numberPhases": 3},
            {"startPeriod": 72000, "limit": 11000, "numberPhases": 3}]}}


def test_spec_16_3_13_7_daily_default_profile_6kw_between_08_and_20():
    """OCPP 1.6 §3.13.7: "a daily default profile that limits the power to 6 kW between
    08:00h and 20:00h" (profile verbatim). Eleven years after its startSchedule it still
    recurs: 06:00-22:00 on 2024-03-05 is 11 kW, 6 kW from 08:00, 11 kW from 20:00."""
    item = install("1.6", 1, SPEC_3_13_7)
    start = parse_time("2024-03-05T06:00:00Z", "t")
    ref = comp([item], start=start, duration=16 * HOUR, unit="W")
    assert steps(ref) == [(0, 11000), (2 * HOUR, 6000), (14 * HOUR, 11000)]
    # In amperes at 230 V on the 3 phases the example names: I = P / (230 V x 3).
    amps = comp([item], start=start, duration=16 * HOUR, unit="A")
    assert steps(amps) == [(0, 15.942), (2 * HOUR, 8.696), (14 * HOUR, 15.942)]
    assert {p.number_phases for p in amps.periods} == {3}


def test_spec_16_3_13_7_profile_across_midnight_merges_the_recurrence():
    """Same §3.13.7 profile from 22:00 for 12 h: 11 kW through midnight (the new day's first
    period has the same limit, so the periods merge), 6 kW from 08:00."""
    item = install("1.6", 1, SPEC_3_13_7)
    ref = comp([item], start=parse_time("2024-03-05T22:00:00Z", "t"), duration=12 * HOUR,
               unit="W")
    assert steps(ref) == [(0, 11000), (10 * HOUR, 6000)]


def weekly_policy(version="1.6"):
    """1.6 §3.13.2 prose, constructed: "a charging profile of purpose TxDefaultProfile with a
    duration and recurrence of one week that allows full power or current charging on
    weekdays from 23:00h to 06:00h and from 00:00h to 24:00h in weekends and reduced power
    or current charging at other times" (full = 32 A, reduced = 10 A, week from Monday)."""
    periods = []
    for day in range(5):
        base = day * 86400
        periods += [period(base, 32), period(base + 6 * 3600, 10), period(base + 23 * 3600, 32)]
    body = profile(version, 1, "TxDefaultProfile", 0, periods, kind="Recurring",
                   recurrency="Weekly", start=T0, duration=7 * 86400)
    return install(version, 1, body)


def test_spec_16_3_13_2_weekly_calendar_with_holiday_exception():
    """1.6 §3.13.2, constructed: "On top of that, one can define other TxDefaultProfiles
    that define exception to this rule, for example for holidays." Wednesday 2024-01-03 is
    a holiday: a stack level 1 profile valid that day only allows full current all day."""
    week = weekly_policy()
    holiday = install("1.6", 1, profile(
        "1.6", 2, "TxDefaultProfile", 1, [period(0, 32)], start=T0 + 2 * DAY,
        valid_from=T0 + 2 * DAY, valid_to=T0 + 3 * DAY))
    # Tuesday: reduced 06:00-23:00.
    assert steps(comp([week, holiday], start=T0 + DAY, duration=DAY)) == [
        (0, 32), (6 * HOUR, 10), (23 * HOUR, 32)]
    # Wednesday: the exception leads all day.
    assert steps(comp([week, holiday], start=T0 + 2 * DAY, duration=DAY)) == [(0, 32)]
    # Thursday: the exception's validTo has passed; the weekly calendar leads again.
    assert steps(comp([week, holiday], start=T0 + 3 * DAY, duration=DAY)) == [
        (0, 32), (6 * HOUR, 10), (23 * HOUR, 32)]
    # Weekend and the next week's Monday (recurrence): full until Monday 06:00, again at 23:00.
    assert steps(comp([week, holiday], start=T0 + 5 * DAY, duration=3 * DAY)) == [
        (0, 32), (2 * DAY + 6 * HOUR, 10), (2 * DAY + 23 * HOUR, 32)]


def test_spec_16_3_13_2_no_duration_on_the_highest_level_never_falls_back():
    """1.6 §3.13.2: "If you use Stacking without a duration, on the highest stack level, the
    Charge Point will never fall back to a lower stack level profile." With a duration, it
    does fall back when the duration ends."""
    base = install("1.6", 1, profile("1.6", 1, "TxDefaultProfile", 0,
                                     [period(0, 16), period(1800, 20)], start=T0))
    forever = install("1.6", 1, profile("1.6", 2, "TxDefaultProfile", 1, [period(0, 6)],
                                        start=T0))
    assert steps(comp([base, forever])) == [(0, 6)]
    bounded = install("1.6", 1, profile("1.6", 2, "TxDefaultProfile", 1, [period(0, 6)],
                                        start=T0, duration=600))
    assert steps(comp([base, bounded])) == [(0, 6), (600, 16), (1800, 20)]


def test_spec_16_3_13_2_replacement_with_future_valid_from_reverts_to_default():
    """1.6 §3.13.2: "In the case an updated charging profile (with the same stackLevel and
    purpose) is sent with a validFrom dateTime in the future, the Charge Point SHALL replace
    the installed profile and SHALL revert to default behavior until validFrom is reached."
    Default behaviour = no profile: the EVSE's rating (32 A here)."""
    store = ProfileSet("1.6")
    store.install(install("1.6", 1, profile("1.6", 1, "TxDefaultProfile", 0, [period(0, 16)],
                                            start=T0)))
    replaced = store.install(install("1.6", 1, profile(
        "1.6", 2, "TxDefaultProfile", 0, [period(0, 10)], start=T0, valid_from=T0 + 600)))
    assert [r.profile.id for r in replaced] == [1]
    ref = comp(store, duration=1200, supply=Supply(evse_max_a=32))
    assert steps(ref) == [(0, 32), (600, 10)]


def test_octt_tc_072_stacking_two_tx_default_profiles():
    """OCPP 1.6 OCTT TC_072_CS "Stacking Charging Profiles" (public test-case summary):
    profile 1 TxDefaultProfile stack level 0, periods 0 s 6 A, 100 s 8 A, 200 s 10 A,
    duration 400 s; profile 2 stack level 1, duration 150 s. Profile 2's periods were not in
    the text available here: constructed as 0 s 10 A, 100 s 6 A. Expected: profile 2 until
    150 s, then profile 1's remaining periods."""
    valid_to = T0 + 401
    p1 = install("1.6", 1, profile("1.6", 1, "TxDefaultProfile", 0,
                                   [period(0, 6), period(100, 8), period(200, 10)],
                                   start=T0, duration=400, valid_from=T0, valid_to=valid_to))
    p2 = install("1.6", 1, profile("1.6", 2, "TxDefaultProfile", 1,
                                   [period(0, 10), period(100, 6)],
                                   start=T0, duration=150, valid_from=T0, valid_to=valid_to))
    assert steps(comp([p1, p2], duration=400)) == [(0, 10), (100, 6), (150, 8), (200, 10)]


def test_octt_tc_k_41_three_purposes_with_a_transaction():
    """OCPP 2.0.1 OCTT TC_K_41_CS, constructed from the profile values public
    implementations replay for it (station max 10 A for 86404 s; TxDefault 6/10/8/15/8 A at
    0/60/120/180/260 s for 304 s; TxProfile 8/11/16/6/12 A at 0/50/140/200/240 s for 264 s,
    all starting at S), composite asked 4 s after S for 400 s. Hand-worked: TxProfile capped
    at 10 A until its duration ends at S+264, TxDefault (8 A) until S+304, then only the
    station maximum."""
    s = T0
    station = install("2.0.1", 0, profile("2.0.1", 1, "ChargingStationMaxProfile", 0,
                                          [period(0, 10, 3)], start=s, duration=86404))
    default = install("2.0.1", 1, profile(
        "2.0.1", 2, "TxDefaultProfile", 0,
        [period(0, 6, 3), period(60, 10, 3), period(120, 8, 3), period(180, 15, 3),
         period(260, 8, 3)], start=s, duration=304, valid_from=s, valid_to=s + 409))
    tx = install("2.0.1", 1, profile(
        "2.0.1", 3, "TxProfile", 0,
        [period(0, 8, 3), period(50, 11, 3), period(140, 16, 3), period(200, 6, 3),
         period(240, 12, 3)], start=s, duration=264, tx="f1522902"))
    ref = comp([station, default, tx], start=s + 4, duration=400,
               transactions=[Transaction(1, s - 30, "f1522902")])
    assert steps(ref) == [(0, 8), (46, 10), (196, 6), (236, 10), (260, 8), (300, 10)]


# --------------------------------------------------------------------------- stacking rules


def test_higher_stack_level_wins_within_a_purpose():
    low = install("2.0.1", 1, profile("2.0.1", 1, "TxDefaultProfile", 0, [period(0, 32)],
                                      start=T0))
    high = install("2.0.1", 1, profile("2.0.1", 2, "TxDefaultProfile", 3, [period(0, 12)],
                                       start=T0))
    assert steps(comp([low, high])) == [(0, 12)]
    assert steps(comp([high, low])) == [(0, 12)]  # order of installation is irrelevant


def test_higher_stack_level_falls_through_outside_validity_and_before_its_start():
    low = install("2.0.1", 1, profile("2.0.1", 1, "TxDefaultProfile", 0, [period(0, 32)],
                                      start=T0))
    late = install("2.0.1", 1, profile("2.0.1", 2, "TxDefaultProfile", 5, [period(0, 8)],
                                       start=T0 + 1200, valid_from=T0 + 600,
                                       valid_to=T0 + 2400))
    # 0-1200: profile 2 valid from 600 but its schedule starts at 1200; 2400: validTo.
    assert steps(comp([low, late])) == [(0, 32), (1200, 8), (2400, 32)]


def test_valid_from_absent_counts_from_installation():
    item = install("2.0.1", 1, profile("2.0.1", 1, "TxDefaultProfile", 0, [period(0, 16)],
                                       start=T0), installed_at_s=T0 + 300)
    assert steps(comp([item], supply=Supply(evse_max_a=32))) == [(0, 32), (300, 16)]


def test_nothing_applies_gives_rating_or_no_limit():
    assert steps(comp([])) == [(0, None)]
    assert steps(comp([], supply=Supply(evse_max_a=16))) == [(0, 16)]
    assert steps(comp([], unit="W", supply=Supply(evse_max_a=16))) == [(0, 11040)]


def test_rating_caps_profiles_only_when_asked():
    item = install("2.0.1", 1, profile("2.0.1", 1, "TxDefaultProfile", 0, [period(0, 40)],
                                       start=T0))
    assert steps(comp([item], supply=Supply(evse_max_a=32))) == [(0, 40)]
    assert steps(comp([item], supply=Supply(evse_max_a=32),
                      rules=Rules(rating_caps_profiles=True))) == [(0, 32)]


# --------------------------------------------------------------------------- schedule kinds


def test_recurring_daily_begins_at_start_schedule_and_repeats():
    item = install("2.0.1", 1, profile(
        "2.0.1", 1, "TxDefaultProfile", 0, [period(0, 6), period(2 * 3600, 20)],
        kind="Recurring", recurrency="Daily", start=T0 + 8 * HOUR, duration=4 * 3600))
    ref = comp([item], start=T0, duration=2 * DAY)
    # Nothing before the first occurrence (08:00 day 1); 08-10 6 A, 10-12 20 A, gap to next day.
    assert steps(ref) == [(0, None), (8 * HOUR, 6), (10 * HOUR, 20), (12 * HOUR, None),
                          (DAY + 8 * HOUR, 6), (DAY + 10 * HOUR, 20), (DAY + 12 * HOUR, None)]


def test_recurring_weekly_repeats_every_seven_days_from_start_schedule():
    item = install("2.0.1", 1, profile(
        "2.0.1", 1, "TxDefaultProfile", 0, [period(0, 6), period(DAY, 16)],
        kind="Recurring", recurrency="Weekly", start=T0 + 2 * DAY))  # Wednesday
    ref = comp([item], start=T0 + 8 * DAY, duration=3 * DAY)  # Tuesday of week 2
    assert steps(ref) == [(0, 16), (DAY, 6), (2 * DAY, 16)]


def test_recurring_gap_falls_through_to_lower_stack_level():
    base = install("2.0.1", 1, profile("2.0.1", 1, "TxDefaultProfile", 0, [period(0, 25)],
                                       start=T0 - DAY))
    night = install("2.0.1", 1, profile(
        "2.0.1", 2, "TxDefaultProfile", 1, [period(0, 32)], kind="Recurring",
        recurrency="Daily", start=T0 - DAY + 22 * HOUR, duration=8 * 3600))
    assert steps(comp([base, night], duration=DAY)) == [(0, 32), (6 * HOUR, 25),
                                                         (22 * HOUR, 32)]


def test_relative_profile_counts_from_transaction_start():
    item = install("2.0.1", 1, profile("2.0.1", 1, "TxDefaultProfile", 0,
                                       [period(0, 10), period(600, 20)], kind="Relative",
                                       duration=1800))
    ref = comp([item], transactions=[Transaction(1, T0 - 300, "T1")],
               supply=Supply(evse_max_a=32))
    assert steps(ref) == [(0, 10), (300, 20), (1500, 32)]


def test_relative_without_transaction_counts_from_installation_else_window_start():
    body = profile("2.0.1", 1, "TxDefaultProfile", 0, [period(0, 10), period(600, 20)],
                   kind="Relative")
    installed = install("2.0.1", 1, body, installed_at_s=T0 - 100)
    assert steps(comp([installed])) == [(0, 10), (500, 20)]
    unknown = install("2.0.1", 1, body)
    assert steps(comp([unknown], start=T0 + 50)) == [(0, 10), (600, 20)]


def test_16_absolute_without_start_schedule_is_relative_to_start_of_charging():
    """1.6 §7.13 startSchedule: "If absent the schedule will be relative to start of
    charging"."""
    item = install("1.6", 1, profile("1.6", 1, "TxDefaultProfile", 0,
                                     [period(0, 10), period(600, 20)]))
    ref = comp([item], transactions=[Transaction(1, T0 - 60, 5)])
    assert steps(ref) == [(0, 10), (540, 20)]


# --------------------------------------------------------------------------- purposes


def test_tx_profile_overrides_tx_default_even_when_higher():
    """1.6 §3.13.1: a TxProfile "SHALL overrule the default charging profile with purpose
    TxDefaultProfile for the duration of the current transaction only"."""
    default = install("2.0.1", 1, profile("2.0.1", 1, "TxDefaultProfile", 9, [period(0, 10)],
                                          start=T0))
    tx = install("2.0.1", 1, profile("2.0.1", 2, "TxProfile", 0, [period(0, 16)],
                                     start=T0, duration=900, tx="T1"))
    ref = comp([default, tx], transactions=[Transaction(1, T0 - 10, "T1")])
    assert steps(ref) == [(0, 16), (900, 10)]


def test_tx_profile_applies_only_to_its_transaction():
    tx = install("2.0.1", 1, profile("2.0.1", 2, "TxProfile", 0, [period(0, 16)], start=T0,
                                     tx="T1"))
    assert steps(comp([tx], transactions=[Transaction(1, T0, "T2")])) == [(0, None)]
    assert steps(comp([tx])) == [(0, None)]
    assert steps(comp([tx], transactions=[Transaction(1, T0, "T1")])) == [(0, 16)]


def test_16_tx_profile_without_transaction_id_applies_to_the_connectors_transaction():
    tx = install("1.6", 1, profile("1.6", 2, "TxProfile", 0, [period(0, 16)], start=T0))
    assert steps(comp([tx], transactions=[Transaction(1, T0, 42)])) == [(0, 16)]
    assert steps(comp([tx], evse=2, transactions=[Transaction(2, T0, 43)])) == [(0, None)]


def test_station_max_caps_the_session_limit():
    """1.6 §3.13.3: the composite "SHALL be less than or equal to lowest value of available
    power or current in any of the merged schedules"."""
    cap = install("1.6", 0, profile("1.6", 1, "ChargePointMaxProfile", 0,
                                    [period(0, 20), period(1800, 12)], start=T0))
    tx = install("1.6", 1, profile("1.6", 2, "TxProfile", 0,
                                   [period(0, 16), period(900, 32)], start=T0))
    ref = comp([cap, tx], transactions=[Transaction(1, T0, 1)])
    assert steps(ref) == [(0, 16), (900, 20), (1800, 12)]


def test_external_constraints_cap_like_the_station_max():
    ext0 = install("2.0.1", 0, profile("2.0.1", 1, "ChargingStationExternalConstraints", 0,
                                       [period(0, 25)], start=T0))
    ext2 = install("2.0.1", 2, profile("2.0.1", 2, "ChargingStationExternalConstraints", 0,
                                       [period(0, 8)], start=T0, duration=600))
    default = install("2.0.1", 0, profile("2.0.1", 3, "TxDefaultProfile", 0, [period(0, 32)],
                                          start=T0))
    items = [ext0, ext2, default]
    assert steps(comp(items, evse=1)) == [(0, 25)]
    assert steps(comp(items, evse=2)) == [(0, 8), (600, 25)]


def test_equal_adjacent_periods_merge():
    cap = install("2.0.1", 0, profile("2.0.1", 1, "ChargingStationMaxProfile", 0,
                                      [period(0, 10)], start=T0))
    tx = install("2.0.1", 1, profile("2.0.1", 2, "TxDefaultProfile", 0,
                                     [period(0, 16), period(300, 20), period(600, 8)],
                                     start=T0))
    ref = comp([cap, tx])
    assert steps(ref) == [(0, 10), (600, 8)]


def test_limit_at_and_window_edges():
    tx = install("2.0.1", 1, profile("2.0.1", 1, "TxDefaultProfile", 0,
                                     [period(0, 16), period(600, 10)], start=T0))
    ref = comp([tx], start=T0, duration=1200)
    assert ref.limit_at(T0) == 16 and ref.limit_at(T0 + 599.9) == 16
    assert ref.limit_at(T0 + 600) == 10 and ref.limit_at(T0 + 1200) == 10
    assert ref.max_limit_between(T0 + 500, T0 + 700) == 16
    assert ref.max_limit_between(T0 + 600, T0 + 700) == 10
    with pytest.raises(ValueError, match="outside the schedule window"):
        ref.limit_at(T0 + 1201)
    with pytest.raises(ValueError, match="outside the schedule window"):
        ref.limit_at(T0 - 1)


def test_remote_start_relative_tx_profile_follows_the_transaction():
    """1.6 TC_059 shape: RemoteStartTransaction with a Relative TxProfile; the composite
    counts from the transaction start and the profile binds to that transaction."""
    body = profile("1.6", 9, "TxProfile", 0, [period(0, 6), period(60, 12)], kind="Relative")
    item = parse_remote_start_profile({"connectorId": 1, "chargingProfile": body}, "1.6")
    ref = comp([item], transactions=[Transaction(1, T0 - 20, 77)], duration=120)
    assert steps(ref) == [(0, 6), (40, 12)]
