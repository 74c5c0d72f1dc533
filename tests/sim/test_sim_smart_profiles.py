"""The simulated charger's profile management (testbench.sim.smart): ClearChargingProfile
and GetChargingProfiles selection, the remote-start profile check, GetCompositeSchedule
addressing, each conformant and under its fault personality."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from testbench.sim.smart import Profile, SmartCharging


@dataclass
class _Clock:
    def now(self) -> float:
        return 1_000.0


@dataclass
class _Spec:
    id: str = "sim-x"
    max_current_a: float = 16.0


@dataclass
class _Stage:
    limit_a: float | None = None

    def set_limit_a(self, limit_a: float | None) -> None:
        self.limit_a = limit_a


@dataclass
class _Conn:
    number: int = 1
    evse_id: int = 1
    tx: Any = None
    stage: _Stage = field(default_factory=_Stage)


@dataclass
class _Sim:
    faults: tuple[str, ...] = ()
    ocpp_version: str = "2.0.1"
    clock: _Clock = field(default_factory=_Clock)
    spec: _Spec = field(default_factory=_Spec)
    connectors: list[_Conn] = field(default_factory=lambda: [_Conn()])

    def has(self, fault: str) -> bool:
        return fault in self.faults


def _profile(pid: int, target: int, purpose: str, stack: int) -> Profile:
    return Profile(id=pid, stack=stack, purpose=purpose, kind="Absolute", target=target,
                   installed_s=0.0, unit="A", periods=[(0.0, 10.0, None)])


def _smart(*faults: str) -> SmartCharging:
    smart = SmartCharging(_Sim(faults=faults))
    smart.profiles = [_profile(1, 1, "default", 0), _profile(2, 1, "default", 1),
                      _profile(3, 0, "max", 0)]
    return smart


def test_clear_by_criteria_removes_only_matches() -> None:
    smart = _smart()
    assert smart.clear(None, None, "TxDefaultProfile", 1) == "Accepted"
    assert [p.id for p in smart.profiles] == [1, 3]
    assert smart.clear(None, 1, "TxDefaultProfile", 5) == "Unknown"
    assert [p.id for p in smart.profiles] == [1, 3]


def test_clear_ignores_criteria_fault_clears_everything() -> None:
    smart = _smart("clear-ignores-criteria")
    assert smart.clear(None, 1, "TxDefaultProfile", 5) == "Accepted"
    assert smart.profiles == []
    assert smart.clear(None, 1, "TxDefaultProfile", 0) == "Accepted"  # even with none left


def test_clear_by_id_is_not_affected_by_the_fault() -> None:
    smart = _smart("clear-ignores-criteria")
    assert smart.clear(2, None, None, None) == "Accepted"
    assert [p.id for p in smart.profiles] == [1, 3]


def test_get_profiles_selects_by_every_criterion() -> None:
    smart = _smart()
    pick = smart.matching
    assert [p.id for p in pick({}, 1)] == [1, 2]
    assert [p.id for p in pick({}, 0)] == [3]
    assert [p.id for p in pick({"charging_profile_purpose": "TxDefaultProfile",
                                "stack_level": 1}, None)] == [2]
    assert [p.id for p in pick({"charging_profile_id": [3, 1]}, None)] == [1, 3]
    assert pick({"charging_limit_source": ["EMS"]}, 1) == []


def test_get_profiles_fault_reports_everything() -> None:
    smart = _smart("get-profiles-ignores-filter")
    assert [p.id for p in smart.matching({"stack_level": 7}, 1)] == [1, 2, 3]


@pytest.mark.parametrize(("faults", "purpose", "allowed"), [
    ((), None, True), ((), "TxProfile", True), ((), "TxDefaultProfile", False),
    (("remote-start-accepts-any-profile",), "TxDefaultProfile", True)])
def test_remote_start_profile_must_be_a_tx_profile(faults: tuple[str, ...],
                                                   purpose: str | None, allowed: bool) -> None:
    data = None if purpose is None else {"charging_profile_purpose": purpose}
    assert _smart(*faults).remote_start_allowed(data) is allowed


def test_composite_answered_for_known_evses_only() -> None:
    assert _smart().answers_composite(0) and _smart().answers_composite(1)
    assert not _smart().answers_composite(2)
    assert _smart("composite-for-unknown-evse").answers_composite(2)
