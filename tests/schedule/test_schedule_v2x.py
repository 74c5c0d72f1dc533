"""OCPP 2.1 V2X fields in the reference: operationMode in the composite and its comparison,
limitAtSoC, Dynamic schedule updates."""

from __future__ import annotations

import pytest
from schedule_helpers import T0, answer, install, period, profile

from testbench.schedule import (
    ProfileError,
    ProfileSet,
    Supply,
    Transaction,
    compare_composite,
    composite_schedule,
)

TX = Transaction(evse_id=1, start_s=T0, transaction_id="TX-1")


def _v2x_reference() -> tuple[ProfileSet, object]:
    profiles = ProfileSet("2.1")
    profiles.install(install("2.1", 1, profile(
        "2.1", 7, "TxProfile", 0,
        [period(0, 10.0),
         period(60, None, operationMode="CentralSetpoint", setpoint=-8.0, dischargeLimit=-12.0),
         period(120, None, operationMode="Idle")],
        kind="Relative", tx="TX-1"), installed_at_s=T0))
    ref = composite_schedule(profiles, evse_id=1, start_s=T0, duration_s=180,
                             transactions=[TX], supply=Supply(evse_max_a=32.0))
    return profiles, ref


def test_composite_carries_the_operation_mode_of_the_session_period() -> None:
    _profiles, ref = _v2x_reference()
    modes = [(p.start_offset_s, p.operation_mode, p.setpoint, p.limit) for p in ref.periods]
    assert modes == [(0.0, None, None, 10.0), (60.0, "CentralSetpoint", -8.0, 32.0),
                     (120.0, "Idle", None, 32.0)]


def _answer_with_modes(ref, modes: list[str | None]) -> dict:
    payload = answer(ref, "2.1")
    rows = payload["schedule"]["chargingSchedulePeriod"]
    for row, p, mode in zip(rows, ref.periods, modes, strict=True):
        if mode is not None:
            row["operationMode"] = mode
        if p.setpoint is not None:
            row["setpoint"] = p.setpoint
    return payload


def test_operation_mode_is_compared_and_absent_means_charging_only() -> None:
    _profiles, ref = _v2x_reference()
    good = _answer_with_modes(ref, [None, "CentralSetpoint", "Idle"])
    assert compare_composite(ref, good, "2.1") == []
    stated = _answer_with_modes(ref, ["ChargingOnly", "CentralSetpoint", "Idle"])
    assert compare_composite(ref, stated, "2.1") == []
    wrong = _answer_with_modes(ref, [None, "CentralSetpoint", "ChargingOnly"])
    diffs = compare_composite(ref, wrong, "2.1")
    assert [d.kind for d in diffs] == ["operation_mode"]
    assert "charger says operationMode ChargingOnly, reference Idle" in diffs[0].message


def test_wrong_setpoint_sign_is_a_difference() -> None:
    _profiles, ref = _v2x_reference()
    payload = _answer_with_modes(ref, [None, "CentralSetpoint", "Idle"])
    payload["schedule"]["chargingSchedulePeriod"][1]["setpoint"] = 8.0
    assert [d.kind for d in compare_composite(ref, payload, "2.1")] == ["setpoint"]


def test_limit_at_soc_is_parsed_and_applied_above_its_soc() -> None:
    item = install("2.1", 1, profile("2.1", 8, "TxProfile", 0, [period(0, 20.0)],
                                     kind="Relative", tx="TX-1",
                                     limitAtSoC={"soc": 80, "limit": 9.0}))
    schedule = item.profile.schedule
    assert schedule.limit_at_soc == (80.0, 9.0)
    assert schedule.limit_above_soc(20.0, 79.9) == 20.0
    assert schedule.limit_above_soc(20.0, 80.0) == 9.0
    assert schedule.limit_above_soc(None, 95.0) == 9.0
    with pytest.raises(ProfileError, match="limitAtSoC.soc"):
        install("2.1", 1, profile("2.1", 9, "TxProfile", 0, [period(0, 20.0)], kind="Relative",
                                  tx="TX-1", limitAtSoC={"soc": 120, "limit": 9.0}))


def test_dynamic_update_replaces_setpoint_and_limits() -> None:
    profiles = ProfileSet("2.1")
    profiles.install(install("2.1", 1, profile(
        "2.1", 11, "TxProfile", 0, [period(0, None, operationMode="CentralSetpoint",
                                           setpoint=5000.0)],
        kind="Dynamic", unit="W", tx="TX-1"), installed_at_s=T0))
    updated = profiles.update_dynamic(11, {"setpoint": -6900.0, "dischargeLimit": -9000.0})
    p = updated.profile.schedule.periods[0]
    assert (p.setpoint, p.discharge_limit, p.operation_mode) == (-6900.0, -9000.0,
                                                                  "CentralSetpoint")
    ref = composite_schedule(profiles, evse_id=1, start_s=T0 + 5, duration_s=60, unit="W",
                             transactions=[TX], supply=Supply(evse_max_a=32.0))
    assert ref.periods[0].setpoint == -6900.0
    with pytest.raises(ProfileError, match="no profile 99"):
        profiles.update_dynamic(99, {"setpoint": 1.0})
    profiles.install(install("2.1", 1, profile("2.1", 12, "TxDefaultProfile", 0,
                                               [period(0, 10.0)], kind="Relative")))
    with pytest.raises(ProfileError, match="not Dynamic"):
        profiles.update_dynamic(12, {"limit": 1.0})
