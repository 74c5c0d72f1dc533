"""Per-charger answer overrides (``ChargerHandle.set_answer``) and the default answer to
PullDynamicScheduleUpdate, exercised by real websocket clients."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from csms_helpers import Bench, default_chargers, spec

from fixtures.baseline import reset_to_baseline
from testbench.csms import CallErrorReply
from testbench.errors import BenchError

NEEDS = {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_BPT"}}
NEEDS_201 = {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}}
TX_BASE = {"timestamp": "2025-01-01T00:00:00Z", "triggerReason": "Authorized", "seqNo": 0,
           "eventType": "Started", "evse": {"id": 1, "connectorId": 1},
           "idToken": {"idToken": "TOK", "type": "ISO14443"},
           "transactionInfo": {"transactionId": "tx-1"}}


def _dynamic_profile(profile_id: int, **period: Any) -> dict[str, Any]:
    return {"evseId": 1, "chargingProfile": {
        "id": profile_id, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Dynamic", "transactionId": "tx-1", "dynUpdateInterval": 20,
        "chargingSchedule": [{"id": profile_id, "chargingRateUnit": "W",
                              "chargingSchedulePeriod": [{"startPeriod": 0, **period}]}]}}


@pytest.fixture
def two21(make_bench: Callable[..., Bench]) -> Bench:
    chargers = default_chargers()
    chargers["cp21b"] = spec("cp21b", "2.1")
    return make_bench(chargers=chargers)


@pytest.mark.parametrize("cid, action, request_payload, answer", [
    ("cp16", "Authorize", {"idTag": "T"}, {"idTagInfo": {"status": "Blocked"}}),
    ("cp201", "NotifyEVChargingNeeds", NEEDS_201, {"status": "Rejected"}),
    ("cp21", "NotifyEVChargingNeeds", NEEDS,
     {"status": "Rejected", "statusInfo": {"reasonCode": "NoV2X"}}),
])
def test_fixed_override_is_answered_then_none_restores_the_default(
        bench: Bench, cid: str, action: str, request_payload: dict[str, Any],
        answer: dict[str, Any]) -> None:
    client = bench.client(cid)
    client.boot()
    handle = bench.csms.charger(cid)
    default = client.request(action, request_payload)[2]
    assert default != answer
    handle.set_answer(action, answer)
    assert client.request(action, request_payload)[2] == answer
    assert [m for m in handle.messages(action) if m.kind == "call"][-1].reply == answer
    handle.set_answer(action, None)
    assert client.request(action, request_payload)[2] == default
    assert not client.schema_problems


def test_override_is_per_charger(two21: Bench) -> None:
    a, b = two21.client("cp21"), two21.client("cp21b")
    a.boot()
    b.boot()
    two21.csms.charger("cp21").set_answer("NotifyEVChargingNeeds", {"status": "Rejected"})
    assert a.request("NotifyEVChargingNeeds", NEEDS)[2] == {"status": "Rejected"}
    assert b.request("NotifyEVChargingNeeds", NEEDS)[2] == {"status": "Accepted"}


@pytest.mark.parametrize("cid, action, answer, field", [
    ("cp21", "NotifyEVChargingNeeds", {"status": "Maybe"}, "at status"),
    ("cp21", "NotifyEVChargingNeeds", {}, "'status' is a required property"),
    ("cp21", "PullDynamicScheduleUpdate", {"status": "Accepted",
                                           "scheduleUpdate": {"setpoint": "high"}},
     "at scheduleUpdate/setpoint"),
    ("cp16", "Authorize", {"idTagInfo": {"status": "NoCredit"}}, "at idTagInfo/status"),
])
def test_invalid_fixed_override_is_refused_when_set(bench: Bench, cid: str, action: str,
                                                    answer: dict[str, Any], field: str) -> None:
    handle = bench.csms.charger(cid)
    with pytest.raises(BenchError) as err:
        handle.set_answer(action, answer)
    text = str(err.value)
    assert action in text and field in text and f"OCPP {handle.version}" in text


@pytest.mark.parametrize("cid, action", [("cp21", "Reset"), ("cp16", "NotifyEVChargingNeeds"),
                                         ("cp201", "PullDynamicScheduleUpdate")])
def test_override_of_an_action_the_bench_does_not_answer_is_refused(
        bench: Bench, cid: str, action: str) -> None:
    with pytest.raises(BenchError, match=f"cannot override the answer to '{action}'"):
        bench.csms.charger(cid).set_answer(action, {"status": "Accepted"})


def test_callable_override_sees_the_request_and_may_defer_to_the_default(
        bench: Bench) -> None:
    client = bench.client("cp21")
    client.boot()
    handle = bench.csms.charger("cp21")
    seen: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(request)
        return {"status": "Rejected"} if request["evseId"] == 2 else None

    handle.set_answer("NotifyEVChargingNeeds", answer)
    assert client.request("NotifyEVChargingNeeds", {**NEEDS, "evseId": 2})[2] == {
        "status": "Rejected"}
    assert client.request("NotifyEVChargingNeeds", NEEDS)[2] == {"status": "Accepted"}
    assert [r["evseId"] for r in seen] == [2, 1]
    assert handle.answer_errors() == []


def test_failing_callable_is_an_internal_error_recorded_for_the_test(bench: Bench) -> None:
    client = bench.client("cp21")
    client.boot()
    handle = bench.csms.charger("cp21")
    handle.set_answer("NotifyEVChargingNeeds", lambda request: {"status": "Perhaps"})
    reply = client.request("NotifyEVChargingNeeds", NEEDS)
    assert reply[0] == 4 and reply[2] == "InternalError"
    assert "NotifyEVChargingNeeds" in reply[3] and "status" in reply[3]
    handle.set_answer("NotifyEVChargingNeeds", lambda request: 1 / 0)  # type: ignore[arg-type]
    assert client.request("NotifyEVChargingNeeds", NEEDS)[2] == "InternalError"
    errors = handle.answer_errors()
    assert len(errors) == 2 and "at status" in errors[0] and "ZeroDivisionError" in errors[1]
    assert client.request("Heartbeat", {})[0] == 3  # the session lives on
    handle.clear_answers()
    assert handle.answer_errors() == []
    assert client.request("NotifyEVChargingNeeds", NEEDS)[2] == {"status": "Accepted"}


def test_callable_may_answer_with_a_callerror(bench: Bench) -> None:
    client = bench.client("cp201")
    client.boot()

    def refuse(request: dict[str, Any]) -> dict[str, Any]:
        raise CallErrorReply("SecurityError", "not today")

    bench.csms.charger("cp201").set_answer("NotifyEVChargingNeeds", refuse)
    reply = client.request("NotifyEVChargingNeeds", NEEDS_201)
    assert reply[0] == 4 and reply[2:4] == ["SecurityError", "not today"]


def test_default_handler_still_updates_the_state(bench: Bench) -> None:
    client = bench.client("cp21")
    client.boot()
    handle = bench.csms.charger("cp21")
    handle.set_answer("TransactionEvent", {"idTokenInfo": {"status": "Blocked"}})
    assert client.request("TransactionEvent", TX_BASE)[2] == {
        "idTokenInfo": {"status": "Blocked"}}
    assert list(handle.state.open_transactions) == ["tx-1"]
    handle.set_answer("BootNotification", {"currentTime": "2025-01-01T00:00:00Z",
                                           "interval": 30, "status": "Rejected"})
    assert client.boot()[2]["status"] == "Rejected"
    assert handle.state.boot_status == "Rejected" and not handle.state.accepted


def test_pull_dynamic_schedule_update_serves_the_values_the_bench_set(bench: Bench) -> None:
    client = bench.client("cp21")
    client.boot()
    handle = bench.csms.charger("cp21")

    def pull(profile_id: int) -> dict[str, Any]:
        reply = client.request("PullDynamicScheduleUpdate", {"chargingProfileId": profile_id})
        assert reply[0] == 3, reply
        return reply[2]

    assert pull(261) == {"status": "Rejected"}
    handle.call("SetChargingProfile", _dynamic_profile(261, operationMode="CentralSetpoint",
                                                      setpoint=-6900.0, limit=22000.0))
    assert pull(261) == {"status": "Accepted",
                         "scheduleUpdate": {"limit": 22000.0, "setpoint": -6900.0}}
    handle.call("UpdateDynamicSchedule", {"chargingProfileId": 261,
                                          "scheduleUpdate": {"setpoint": 5520.0,
                                                             "dischargeLimit": -11000.0}})
    assert pull(261)["scheduleUpdate"] == {"limit": 22000.0, "setpoint": 5520.0,
                                           "dischargeLimit": -11000.0}
    assert handle.dynamic_values(261) == pull(261)["scheduleUpdate"]
    assert pull(262) == {"status": "Rejected"}  # not a profile the bench set
    handle.call("ClearChargingProfile", {"chargingProfileId": 261})
    assert pull(261) == {"status": "Rejected"} and handle.dynamic_values(261) is None
    assert not client.schema_problems


def test_values_a_charger_rejected_are_not_served(bench: Bench) -> None:
    client = bench.client("cp21")
    client.responder["SetChargingProfile"] = {"status": "Rejected"}
    client.boot()
    handle = bench.csms.charger("cp21")
    handle.call("SetChargingProfile", _dynamic_profile(270, setpoint=1000.0,
                                                      operationMode="CentralSetpoint"))
    assert handle.dynamic_values(270) is None
    reply = client.request("PullDynamicScheduleUpdate", {"chargingProfileId": 270})
    assert reply[2] == {"status": "Rejected"}


def test_pull_answer_can_be_overridden(bench: Bench) -> None:
    client = bench.client("cp21")
    client.boot()
    answer = {"status": "Accepted", "scheduleUpdate": {"setpoint": -8280.0}}
    bench.csms.charger("cp21").set_answer("PullDynamicScheduleUpdate", answer)
    reply = client.request("PullDynamicScheduleUpdate", {"chargingProfileId": 5})
    assert reply[2] == answer and not client.schema_problems


def test_the_per_test_baseline_restores_the_default_answers(bench: Bench) -> None:
    client = bench.client("cp21")
    client.boot()
    client.request("StatusNotification", {"timestamp": "2025-01-01T00:00:00Z",
                                          "connectorStatus": "Available", "evseId": 1,
                                          "connectorId": 1})
    handle = bench.csms.charger("cp21")
    handle.set_answer("NotifyEVChargingNeeds", {"status": "Rejected"})
    station = SimpleNamespace(ev_emulator=None, plugged_in=True)
    lab = SimpleNamespace(csms=SimpleNamespace(connect_timeout_s=5.0))
    reset_to_baseline(handle, station, bench.csms, lab, within_s=5.0)  # type: ignore[arg-type]
    assert client.request("NotifyEVChargingNeeds", NEEDS)[2] == {"status": "Accepted"}


def test_values_served_by_an_overridden_pull_answer_become_the_default(bench: Bench) -> None:
    client = bench.client("cp21")
    client.boot()
    handle = bench.csms.charger("cp21")
    handle.call("SetChargingProfile", _dynamic_profile(280, operationMode="CentralSetpoint",
                                                      setpoint=-6900.0))
    handle.set_answer("PullDynamicScheduleUpdate",
                      {"status": "Accepted", "scheduleUpdate": {"setpoint": 5520.0}})
    client.request("PullDynamicScheduleUpdate", {"chargingProfileId": 280})
    handle.set_answer("PullDynamicScheduleUpdate", None)
    reply = client.request("PullDynamicScheduleUpdate", {"chargingProfileId": 280})
    assert reply[2] == {"status": "Accepted", "scheduleUpdate": {"setpoint": 5520.0}}
