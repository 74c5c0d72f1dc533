"""EVSE scoping, whole-station composite, A/W units and phases, 2.1 additions (hand-worked)."""

from __future__ import annotations

import pytest
from schedule_helpers import HOUR, T0, install, period, profile, steps

from testbench.schedule import (
    Rules,
    Supply,
    Transaction,
    composite_schedule,
    convert_limit,
)


def comp(items, evse=1, start=T0, duration=HOUR, unit="A", **kw):
    return composite_schedule(items, evse_id=evse, start_s=start, duration_s=duration,
                              unit=unit, **kw)


def tx_default(evse, pid, stack, periods, version="2.0.1", **kw):
    return install(version, evse, profile(version, pid, "TxDefaultProfile", stack, periods,
                                          start=kw.pop("start", T0), **kw))


def station_max(pid, periods, version="2.0.1", unit="A"):
    name = "ChargePointMaxProfile" if version == "1.6" else "ChargingStationMaxProfile"
    return install(version, 0, profile(version, pid, name, 0, periods, start=T0, unit=unit))


# --------------------------------------------------------------------------- EVSE scoping


def test_station_wide_tx_default_applies_to_every_evse():
    """2.0.1 SetChargingProfileRequest.evseId: "For TxDefaultProfile an evseId=0 applies the
    profile to each individual evse" (schema text)."""
    items = [tx_default(0, 1, 0, [period(0, 16)])]
    assert steps(comp(items, evse=1)) == [(0, 16)]
    assert steps(comp(items, evse=2)) == [(0, 16)]


def test_evse_specific_tx_default_leads_whatever_the_stack_levels_then_falls_through():
    """1.6 §3.13.1: "In the event a TxDefaultProfile for connector 0 is installed, and the
    Central System sends a new profile with ConnectorId >0, the TxDefaultProfile SHALL be
    replaced only for that specific connector." Where the connector's own profile has no
    period (after its duration), the station-wide one applies again."""
    station = tx_default(0, 1, 5, [period(0, 20)], version="1.6")
    own = tx_default(1, 2, 0, [period(0, 10)], version="1.6", duration=600)
    assert steps(comp([station, own])) == [(0, 10), (600, 20)]
    assert steps(comp([station, own], evse=2)) == [(0, 20)]


def test_stack_level_reading_of_evse_scoping_is_available_as_a_rule():
    station = tx_default(0, 1, 5, [period(0, 20)])
    own = tx_default(1, 2, 0, [period(0, 10)], duration=600)
    rules = Rules(evse_tx_default_first=False)
    assert steps(comp([station, own], rules=rules)) == [(0, 20)]
    same_level = tx_default(0, 3, 0, [period(0, 20)])
    assert steps(comp([same_level, own], rules=rules)) == [(0, 10), (600, 20)]


def test_whole_station_composite_sums_evses_under_the_station_maximum():
    """Whole-station composite = sum of the EVSEs' limits capped by ChargePointMaxProfile
    (1.6 §3.13.3: "the limit value of ChargePointMaxProfile is the limit for all connectors
    combined"; 1.6 GetCompositeSchedule: connectorId 0 reports "the total expected energy
    flow"). Worked example as described for libocpp PR 1062: 32 A station maximum, 10 A
    TxDefaultProfile on connector 0, two EVSEs -> 20 A."""
    items = [station_max(1, [period(0, 32)], version="1.6"),
             tx_default(0, 2, 0, [period(0, 10)], version="1.6")]
    assert steps(comp(items, evse=0, evse_ids=(1, 2))) == [(0, 20)]
    assert steps(comp(items, evse=0, evse_ids=(1, 2, 3, 4))) == [(0, 32)]


def test_whole_station_with_an_unlimited_evse():
    items = [station_max(1, [period(0, 32)]), tx_default(1, 2, 0, [period(0, 10)])]
    # EVSE 2 has no profile and no rating: unlimited, so only the station maximum binds.
    assert steps(comp(items, evse=0, evse_ids=(1, 2))) == [(0, 32)]
    assert steps(comp(items, evse=0, evse_ids=(1, 2), supply=Supply(evse_max_a=16))) == [
        (0, 26)]


def test_tx_default_without_transaction_rule():
    items = [tx_default(0, 1, 0, [period(0, 10)])]
    txs = [Transaction(1, T0 - 5, "T1")]
    supply = Supply(evse_max_a=16)
    assert steps(comp(items, evse=0, evse_ids=(1, 2), transactions=txs, supply=supply)) == [
        (0, 20)]
    only_tx = Rules(tx_default_without_transaction=False)
    assert steps(comp(items, evse=0, evse_ids=(1, 2), transactions=txs, supply=supply,
                      rules=only_tx)) == [(0, 26)]
    assert steps(comp(items, evse=2, rules=only_tx, supply=supply)) == [(0, 16)]


def test_whole_station_in_watts():
    items = [station_max(1, [period(0, 11000, 3)], unit="W"),
             tx_default(0, 2, 0, [period(0, 10, 3)])]
    # two EVSEs at 10 A x 230 V x 3 = 6900 W each = 13800 W, capped at 11000 W
    assert steps(comp(items, evse=0, evse_ids=(1, 2), unit="W")) == [(0, 11000)]
    assert steps(comp(items, evse=1, unit="W")) == [(0, 6900)]


# --------------------------------------------------------------------------- units, phases


def test_convert_limit_formula():
    assert convert_limit(16, "A", "W", 3) == 16 * 230 * 3
    assert convert_limit(7360, "W", "A", 1) == 32
    assert convert_limit(10, "A", "W", 1, voltage_v=120) == 1200
    assert convert_limit(5, "A", "A", 3) == 5


def test_mixed_units_are_converted_before_taking_the_minimum():
    tx = install("2.0.1", 1, profile("2.0.1", 2, "TxProfile", 0, [period(0, 11040)],
                                     start=T0, unit="W", tx="T1"))  # 16 A on 3 phases
    cap = station_max(1, [period(0, 20), period(600, 10)])
    txs = [Transaction(1, T0, "T1")]
    assert steps(comp([tx, cap], transactions=txs)) == [(0, 16), (600, 10)]
    assert steps(comp([tx, cap], transactions=txs, unit="W")) == [(0, 11040), (600, 6900)]
    assert steps(comp([tx, cap], transactions=txs, unit="W",
                      supply=Supply(voltage_v=240))) == [(0, 11040), (600, 7200)]


def test_single_phase_period_converts_with_one_phase_and_sets_the_phases():
    tx = install("2.0.1", 1, profile("2.0.1", 2, "TxProfile", 0,
                                     [period(0, 7360, 1, phaseToUse=2)], start=T0, unit="W",
                                     tx="T1"))
    txs = [Transaction(1, T0, "T1")]
    ref = comp([tx], transactions=txs)
    assert steps(ref) == [(0, 32)]
    assert (ref.periods[0].number_phases, ref.periods[0].phase_to_use) == (1, 2)
    capped = comp([tx, station_max(1, [period(0, 16, 3)])], transactions=txs)
    assert steps(capped) == [(0, 16)] and capped.periods[0].number_phases == 1


def test_absent_number_phases_stays_absent_and_converts_with_the_default():
    item = tx_default(1, 1, 0, [period(0, 10)])
    ref = comp([item], unit="W")
    assert steps(ref) == [(0, 6900)] and ref.periods[0].number_phases is None
    dc = comp([item], unit="W", supply=Supply(voltage_v=400, default_phases=1))
    assert steps(dc) == [(0, 4000)]


def test_schedule_in_another_unit():
    ref = comp([tx_default(1, 1, 0, [period(0, 10), period(60, 16, 1)])])
    assert steps(ref.in_unit("W")) == [(0, 6900), (60, 3680)]


# --------------------------------------------------------------------------- 2.1


def tx21(pid, purpose, periods, evse=1, **kw):
    return install("2.1", evse, profile("2.1", pid, purpose, 0, periods,
                                        start=kw.pop("start", T0), **kw))


def test_21_priority_charging_replaces_the_tx_profile_only_when_requested():
    items = [tx21(1, "TxProfile", [period(0, 10)], tx="T1"),
             tx21(2, "PriorityCharging", [period(0, 32)]),
             tx21(3, "ChargingStationMaxProfile", [period(0, 25)], evse=0)]
    assert steps(comp(items, transactions=[Transaction(1, T0, "T1")])) == [(0, 10)]
    assert steps(comp(items, transactions=[Transaction(1, T0, "T1",
                                                       priority_charging=True)])) == [(0, 25)]


def test_21_local_generation_is_added_on_top():
    items = [tx21(1, "TxDefaultProfile", [period(0, 10)]),
             tx21(2, "LocalGeneration", [period(0, 6)])]
    assert steps(comp(items)) == [(0, 16)]
    assert steps(comp(items, rules=Rules(local_generation_adds=False))) == [(0, 10)]
    station = [tx21(3, "ChargingStationMaxProfile", [period(0, 20)], evse=0),
               tx21(4, "LocalGeneration", [period(0, 5)], evse=0),
               tx21(5, "TxDefaultProfile", [period(0, 32)], evse=0)]
    assert steps(comp(station, evse=0, evse_ids=(1, 2))) == [(0, 25)]


def test_21_discharge_limits_and_setpoint():
    items = [tx21(1, "TxProfile", [period(0, 16, dischargeLimit=-20.0, setpoint=-15.0)],
                  tx="T1"),
             tx21(2, "ChargingStationExternalConstraints",
                  [period(0, 32, dischargeLimit=-10.0)], evse=0)]
    ref = comp(items, transactions=[Transaction(1, T0, "T1")])
    first = ref.periods[0]
    # discharge allowed by both: the smaller magnitude; the setpoint is held inside it.
    assert (first.limit, first.discharge_limit, first.setpoint) == (16, -10, -10)


def test_21_dynamic_profile_is_anchored_when_installed():
    body = profile("2.1", 1, "TxDefaultProfile", 0, [period(0, 12)], kind="Dynamic",
                   duration=300)
    item = install("2.1", 1, body, installed_at_s=T0 + 100)
    assert steps(comp([item], duration=600)) == [(0, None), (100, 12), (400, None)]


def test_21_negative_limit_is_kept():
    assert steps(comp([tx21(1, "TxDefaultProfile", [period(0, -5)])])) == [(0, -5)]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="duration_s"):
        comp([], duration=0)
    with pytest.raises(ValueError, match="two transactions"):
        comp([], transactions=[Transaction(1, T0), Transaction(1, T0 + 1)])
    with pytest.raises(ValueError, match="voltage_v"):
        Supply(voltage_v=0)
