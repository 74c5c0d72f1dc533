"""Parsing OCPP charging profiles (1.6, 2.0.1, 2.1) into typed data, with clear errors."""

from __future__ import annotations

import pytest
from schedule_helpers import T0, install, iso, period, profile, request

from testbench.schedule import (
    Kind,
    ProfileError,
    Purpose,
    Recurrency,
    parse_charging_profile,
    parse_remote_start_profile,
    parse_set_charging_profile,
    parse_time,
    wire_purpose,
)


def test_parses_the_16_example_of_section_3_13_7():
    """OCPP 1.6 §3.13.7 "Example data structure for smart charging": a daily default
    profile that limits the power to 6 kW between 08:00h and 20:00h (values verbatim)."""
    body = {
        "chargingProfileId": 100, "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "chargingSchedule": {
            "duration": 86400, "startSchedule": "2013-01-01T00:00Z", "chargingRateUnit": "W",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 11000, "numberPhases": 3},
                {"startPeriod": 28800, "limit": 6000, "numberPhases": 3},
                {"startPeriod": 72000, "limit": 11000, "numberPhases": 3}]}}
    prof = parse_charging_profile(body, "1.6")
    assert (prof.id, prof.stack_level, prof.purpose, prof.kind, prof.recurrency) == (
        100, 0, Purpose.TX_DEFAULT, Kind.RECURRING, Recurrency.DAILY)
    sched = prof.schedule
    assert sched.unit == "W" and sched.duration_s == 86400
    assert sched.start_schedule_s == parse_time("2013-01-01T00:00:00Z", "t")
    assert [(p.start_period_s, p.limit, p.number_phases) for p in sched.periods] == [
        (0, 11000.0, 3), (28800, 6000.0, 3), (72000, 11000.0, 3)]


def test_16_set_charging_profile_keeps_connector_and_maps_charge_point_max():
    body = profile("1.6", 7, "ChargePointMaxProfile", 2, [period(0, 32)], start=T0)
    item = parse_set_charging_profile(request("1.6", 0, body), "1.6", installed_at_s=T0 + 5)
    assert item.evse_id == 0 and item.installed_at_s == T0 + 5
    assert item.purpose is Purpose.STATION_MAX
    assert wire_purpose(item.purpose, "1.6") == "ChargePointMaxProfile"
    assert wire_purpose(item.purpose, "2.0.1") == "ChargingStationMaxProfile"


def test_201_profile_with_validity_transaction_and_phase_to_use():
    body = profile("2.0.1", 3, "TxProfile", 1, [period(0, 16, 1, phaseToUse=2),
                                                 period(600, 10)],
                   start=T0, duration=1200, valid_from=T0 - 60, valid_to=T0 + 3600,
                   tx="TX-9", minChargingRate=6.0)
    item = install("2.0.1", 1, body)
    prof = item.profile
    assert prof.transaction_id == "TX-9"
    assert (prof.valid_from_s, prof.valid_to_s) == (T0 - 60, T0 + 3600)
    first = prof.schedule.periods[0]
    assert (first.limit, first.number_phases, first.phase_to_use) == (16.0, 1, 2)
    assert prof.schedule.min_charging_rate == 6.0


def test_21_additions_are_parsed():
    body = profile("2.1", 4, "PriorityCharging", 0,
                   [period(0, None, operationMode="CentralSetpoint", setpoint=-3000.0,
                           dischargeLimit=-5000.0)],
                   kind="Dynamic", unit="W", randomizedDelay=30)
    item = install("2.1", 1, body)
    assert item.purpose is Purpose.PRIORITY and item.profile.kind is Kind.DYNAMIC
    p = item.profile.schedule.periods[0]
    assert (p.limit, p.setpoint, p.discharge_limit, p.operation_mode) == (
        None, -3000.0, -5000.0, "CentralSetpoint")
    assert item.profile.schedule.randomized_delay_s == 30
    gen = install("2.1", 0, profile("2.1", 5, "LocalGeneration", 0, [period(0, 4000)],
                                    unit="W", start=T0))
    assert gen.purpose is Purpose.LOCAL_GENERATION


def test_times_with_offsets_and_fractions():
    assert parse_time("2024-01-01T02:00:00+02:00", "t") == T0
    assert parse_time("2024-01-01T00:00:00.250Z", "t") == T0 + 0.25
    assert parse_time("2024-01-01T00:00:00", "t") == T0  # no offset: taken as UTC


@pytest.mark.parametrize(("version", "mutate", "path", "words"), [
    ("1.6", lambda b: b.pop("stackLevel"), "csChargingProfiles.stackLevel", "missing"),
    ("2.0.1", lambda b: b.update(chargingProfilePurpose="ChargePointMaxProfile"),
     "chargingProfilePurpose", "ChargingStationMaxProfile"),
    ("1.6", lambda b: b.update(chargingProfilePurpose="ChargingStationExternalConstraints"),
     "chargingProfilePurpose", "not an OCPP 1.6 purpose"),
    ("2.0.1", lambda b: b.update(chargingProfilePurpose="PriorityCharging"),
     "chargingProfilePurpose", "not an OCPP 2.0.1 purpose"),
    ("2.0.1", lambda b: b.update(chargingProfileKind="Dynamic"), "chargingProfileKind",
     "not an OCPP 2.0.1 profile kind"),
    ("2.0.1", lambda b: b.update(chargingProfileKind="Recurring"), "recurrencyKind",
     "missing for a Recurring"),
    ("2.0.1", lambda b: b["chargingSchedule"][0].pop("startSchedule"),
     "chargingSchedule[0].startSchedule", "K01.FR.40"),
    ("2.0.1", lambda b: b.update(chargingProfileKind="Relative"),
     "chargingSchedule[0].startSchedule", "K01.FR.41"),
    ("2.0.1", lambda b: b["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(
        startPeriod=5), "chargingSchedulePeriod[0].startPeriod", "not 0"),
    ("2.0.1", lambda b: b["chargingSchedule"][0]["chargingSchedulePeriod"][1].update(
        startPeriod=0), "chargingSchedulePeriod[1].startPeriod", "not after"),
    ("2.0.1", lambda b: b["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(
        numberPhases=4), "numberPhases", "not 1, 2 or 3"),
    ("2.0.1", lambda b: b["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(
        phaseToUse=1), "phaseToUse", "numberPhases = 1"),
    ("2.0.1", lambda b: b["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(
        limit=-6), "chargingSchedulePeriod[0].limit", "negative"),
    ("2.0.1", lambda b: b["chargingSchedule"][0]["chargingSchedulePeriod"][0].pop("limit"),
     "chargingSchedulePeriod[0].limit", "missing"),
    ("2.0.1", lambda b: b["chargingSchedule"][0].update(chargingRateUnit="kW"),
     "chargingRateUnit", "not a rate unit"),
    ("2.0.1", lambda b: b.update(validFrom=iso(T0 + 10), validTo=iso(T0)), "validTo",
     "never valid"),
    ("2.0.1", lambda b: b["chargingSchedule"][0].update(startSchedule="yesterday"),
     "startSchedule", "RFC 3339"),
    ("2.0.1", lambda b: b.update(transactionId="T1"), "transactionId", "only a TxProfile"),
    ("2.0.1", lambda b: b.update(chargingSchedule=[]), "chargingSchedule", "1 to 3"),
    ("2.0.1", lambda b: b["chargingSchedule"][0].update(duration=-1), "duration", "negative"),
    ("2.1", lambda b: b["chargingSchedule"][0].update(useLocalTime=True), "useLocalTime",
     "UTC only"),
    ("1.6", lambda b: b.update(stackLevel="1"), "stackLevel", "not an integer"),
])
def test_invalid_profiles_name_the_field_and_the_fix(version, mutate, path, words):
    body = profile(version, 1, "TxDefaultProfile", 0, [period(0, 16), period(60, 10)], start=T0)
    mutate(body)
    with pytest.raises(ProfileError) as err:
        parse_charging_profile(body, version)
    text = str(err.value)
    assert path in text and words in text and "Fix:" in text


@pytest.mark.parametrize(("version", "purpose", "evse", "words"), [
    ("1.6", "ChargePointMaxProfile", 1, "only exists for the whole station"),
    ("2.0.1", "ChargingStationMaxProfile", 2, "install it on EVSE 0"),
    ("1.6", "TxProfile", 0, "TxProfile installed on connector 0"),
    ("2.0.1", "TxProfile", 1, "transactionId"),
])
def test_placement_rules(version, purpose, evse, words):
    body = profile(version, 1, purpose, 0, [period(0, 16)], start=T0)
    with pytest.raises(ProfileError, match=words):
        parse_set_charging_profile(request(version, evse, body), version)


def test_201_station_max_cannot_be_relative():
    body = profile("2.0.1", 1, "ChargingStationMaxProfile", 0, [period(0, 16)], kind="Relative")
    with pytest.raises(ProfileError, match="K01.FR.38"):
        parse_charging_profile(body, "2.0.1")


def test_negative_limit_is_legal_only_in_21():
    body = profile("2.1", 1, "TxDefaultProfile", 0, [period(0, -10)], start=T0)
    assert parse_charging_profile(body, "2.1").schedule.periods[0].limit == -10.0


def test_unknown_version_is_refused():
    with pytest.raises(ProfileError, match="not an OCPP version"):
        parse_charging_profile({}, "2.0")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_remote_start_profile_applies_to_the_started_transaction(version):
    """1.6 TC_059/060, 2.0.1 K_37/38: the start request carries a TxProfile without a
    transactionId; it binds to the transaction it starts."""
    key = "connectorId" if version == "1.6" else "evseId"
    body = profile(version, 9, "TxProfile", 0, [period(0, 6), period(60, 12)],
                   kind="Relative")
    item = parse_remote_start_profile({key: 2, "chargingProfile": body}, version)
    assert item.evse_id == 2 and item.profile.transaction_id is None
    assert parse_remote_start_profile({"chargingProfile": body}, version, evse_id=1).evse_id == 1
    with pytest.raises(ProfileError, match="names no EVSE"):
        parse_remote_start_profile({"chargingProfile": body}, version)
    default = profile(version, 9, "TxDefaultProfile", 0, [period(0, 6)], kind="Relative")
    with pytest.raises(ProfileError, match="carries a TxProfile"):
        parse_remote_start_profile({key: 1, "chargingProfile": default}, version)
