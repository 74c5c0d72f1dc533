"""ProfileSet: replacement, conflicts and clearing as a conformant charger does them."""

from __future__ import annotations

import pytest
from schedule_helpers import T0, install, period, profile, request

from testbench.schedule import ProfileConflictError, ProfileSet, Purpose


def tx_default(version, pid, stack, evse=1, limit=16, **kw):
    return install(version, evse, profile(version, pid, "TxDefaultProfile", stack,
                                          [period(0, limit)], start=T0, **kw))


def ids(store):
    return sorted(item.profile.id for item in store)


def test_16_same_id_or_same_stack_level_and_purpose_replaces():
    """1.6 §5.16.3: "If a charging profile with the same chargingProfileId, or the same
    combination of stackLevel / ChargingProfilePurpose, exists on the Charge Point, the new
    charging profile SHALL replace the existing charging profile, otherwise it SHALL be
    added." Kept per connector (§3.13.1: replaced "only for that specific connector")."""
    store = ProfileSet("1.6", [tx_default("1.6", 1, 0), tx_default("1.6", 2, 1)])
    assert [r.profile.id for r in store.install(tx_default("1.6", 3, 0))] == [1]
    assert ids(store) == [2, 3]
    store.install(tx_default("1.6", 2, 4, limit=8))
    assert ids(store) == [2, 3] and len(store) == 2
    store.install(tx_default("1.6", 4, 0, evse=2))
    assert ids(store) == [2, 3, 4]


def test_2x_same_id_replaces_and_overlapping_same_level_is_a_conflict():
    store = ProfileSet("2.0.1", [tx_default("2.0.1", 1, 0, valid_to=T0 + 3600)])
    store.install(tx_default("2.0.1", 1, 0, limit=10))
    assert ids(store) == [1]
    with pytest.raises(ProfileConflictError, match="K01.FR.06"):
        store.install(tx_default("2.0.1", 2, 0))
    store.install(tx_default("2.0.1", 3, 0, evse=2))
    later = ProfileSet("2.0.1", [tx_default("2.0.1", 1, 0, valid_to=T0 + 3600)])
    later.install(tx_default("2.0.1", 2, 0, valid_from=T0 + 3600))
    assert ids(later) == [1, 2]


def test_clear_by_id_criteria_or_everything():
    store = ProfileSet("2.0.1", [tx_default("2.0.1", 1, 0), tx_default("2.0.1", 2, 1),
                                 tx_default("2.0.1", 3, 0, evse=2)])
    assert [r.profile.id for r in store.clear(profile_id=2)] == [2]
    assert store.clear(profile_id=99) == []
    assert [r.profile.id for r in store.clear(evse_id=2)] == [3]
    assert [r.profile.id for r in store.clear(purpose="TxDefaultProfile", stack_level=0)] == [1]
    store.install(tx_default("2.0.1", 4, 0))
    assert len(store.clear()) == 1 and len(store) == 0


def test_clear_request_payloads_per_version():
    v16 = ProfileSet("1.6")
    v16.set_charging_profile(request("1.6", 0, profile(
        "1.6", 7, "ChargePointMaxProfile", 0, [period(0, 32)], start=T0)))
    v16.set_charging_profile(request("1.6", 1, profile(
        "1.6", 8, "TxDefaultProfile", 0, [period(0, 32)], start=T0)))
    removed = v16.clear_request({"chargingProfilePurpose": "ChargePointMaxProfile"})
    assert [r.purpose for r in removed] == [Purpose.STATION_MAX]
    v2 = ProfileSet("2.0.1", [tx_default("2.0.1", 1, 0), tx_default("2.0.1", 2, 3)])
    removed = v2.clear_request({"chargingProfileCriteria": {"evseId": 1, "stackLevel": 3}})
    assert [r.profile.id for r in removed] == [2]
    assert [r.profile.id for r in v2.clear_request({"chargingProfileId": 1})] == [1]


def test_end_transaction_drops_its_tx_profiles():
    store = ProfileSet("2.0.1", [
        install("2.0.1", 1, profile("2.0.1", 1, "TxProfile", 0, [period(0, 16)], start=T0,
                                    tx="T1")),
        tx_default("2.0.1", 2, 0)])
    assert [r.profile.id for r in store.end_transaction(1, "T1")] == [1]
    assert ids(store) == [2]


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="version"):
        ProfileSet("2.0")
