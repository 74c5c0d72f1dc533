"""``ocpp.stop_transaction``: a 1.6 charger that has not yet learnt the transaction id
is asked again; a charger that keeps rejecting is a device failure naming the answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from testbench.errors import DeviceFailure
from testbench.procedures import ocpp


@dataclass
class Stopped:
    payload: dict[str, Any]


@dataclass
class FakeCharger:
    """Rejects the first ``rejections`` remote stops, then accepts."""

    version: str
    rejections: int
    id: str = "cp-1"
    calls: list[str] = field(default_factory=list)
    slept_s: float = 0.0

    def call(self, action: str, payload: dict, timeout_s: float | None = None) -> dict:
        self.calls.append(action)
        accepted = len(self.calls) > self.rejections
        return {"status": "Accepted" if accepted else "Rejected"}

    def expect(self, action: str, within_s: float, where: Any = None, **fields: Any) -> Any:
        return Stopped({"reason": "Remote"} if action == "StopTransaction"
                       else {"transactionInfo": {"stoppedReason": "Remote"}})

    def messages(self, action: str | None = None, since_mark: bool = True) -> list[Any]:
        return []

    def sleep(self, lab_s: float) -> None:
        self.slept_s += lab_s


def test_v16_charger_that_learns_the_id_late_is_asked_again() -> None:
    charger = FakeCharger("1.6", rejections=3)
    ended = ocpp.stop_transaction(charger, "7", within_s=30.0)
    assert ended.payload["reason"] == "Remote"
    assert charger.calls == ["RemoteStopTransaction"] * 4
    assert charger.slept_s == pytest.approx(1.5)


def test_v16_charger_that_keeps_rejecting_fails_after_the_grace() -> None:
    charger = FakeCharger("1.6", rejections=100)
    with pytest.raises(DeviceFailure, match="remote stop of transaction 7 with 'Rejected'"):
        ocpp.stop_transaction(charger, "7", within_s=30.0)
    assert charger.slept_s == pytest.approx(ocpp.UNKNOWN_ID_GRACE_S)


def test_v2_charger_knows_its_own_id_so_one_rejection_counts() -> None:
    charger = FakeCharger("2.0.1", rejections=1)
    with pytest.raises(DeviceFailure, match="Rejected"):
        ocpp.stop_transaction(charger, "tx-1", within_s=30.0)
    assert charger.calls == ["RequestStopTransaction"]
