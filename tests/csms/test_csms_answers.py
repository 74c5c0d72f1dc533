"""Default answers: boot policies, authorization, transactions, state, NotImplemented/NotSupported."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from csms_helpers import CHARGER_OF_VERSION, VERSIONS, Bench

from testbench.clock import parse_iso_utc
from testbench.csms import schemas
from testbench.csms.handlers_v2 import V21Connection, V201Connection
from testbench.csms.handlers_v16 import V16Connection
from testbench.errors import BenchError


@pytest.mark.parametrize("version", VERSIONS)
def test_boot_accepted_carries_heartbeat_interval_and_lab_time(
        make_bench: Callable[..., Bench], version: str) -> None:
    b = make_bench(scale=100.0)
    client = b.client(CHARGER_OF_VERSION[version])
    reply = client.boot()[2]
    assert reply["status"] == "Accepted"
    assert reply["interval"] == 60
    # Lab time runs 100x faster than wall time: currentTime must be lab time, not wall time.
    assert abs(parse_iso_utc(reply["currentTime"]) - b.clock.now()) < 30
    state = b.csms.charger(CHARGER_OF_VERSION[version]).state
    assert state.boot_status == "Accepted" and state.accepted
    assert state.boot_payload is not None and state.boot_count == 1
    assert not client.schema_problems


@pytest.mark.parametrize("version", VERSIONS)
def test_boot_pending_then_accepted(bench: Bench, version: str) -> None:
    cid = CHARGER_OF_VERSION[version]
    bench.csms.set_boot_policy(cid, "Pending", pending_boots=2, retry_interval_s=7)
    client = bench.client(cid)
    answers = [client.boot()[2] for _ in range(3)]
    assert [a["status"] for a in answers] == ["Pending", "Pending", "Accepted"]
    assert [a["interval"] for a in answers] == [7, 7, 60]
    assert not client.schema_problems


def test_boot_rejected_stays_rejected(bench: Bench) -> None:
    bench.csms.set_boot_policy("cp201", "Rejected")
    client = bench.client("cp201")
    replies = [client.boot()[2] for _ in range(3)]
    assert {r["status"] for r in replies} == {"Rejected"}
    assert replies[0]["interval"] == 10
    assert bench.csms.charger("cp201").state.boot_status == "Rejected"


def test_boot_policy_defaults_to_the_inventory(bench: Bench) -> None:
    client = bench.client("cp-pending")  # boot_policy = "Pending" in the spec
    assert [client.boot()[2]["status"] for _ in range(2)] == ["Pending", "Accepted"]


def test_bad_boot_policy_is_a_bench_error(bench: Bench) -> None:
    with pytest.raises(BenchError, match="Accepted, Pending, Rejected"):
        bench.csms.set_boot_policy("cp16", "Maybe")


def test_v16_authorize_and_transactions_follow_the_authorization_policy(bench: Bench) -> None:
    client = bench.client("cp16")
    client.boot()
    handle = bench.csms.charger("cp16")
    handle.set_authorization(default="Invalid", overrides={"GOOD": "Accepted",
                                                           "OLD": "Expired"})
    assert client.request("Authorize", {"idTag": "GOOD"})[2] == {"idTagInfo": {"status":
                                                                               "Accepted"}}
    assert client.request("Authorize", {"idTag": "OLD"})[2]["idTagInfo"]["status"] == "Expired"
    assert client.request("Authorize", {"idTag": "X"})[2]["idTagInfo"]["status"] == "Invalid"
    start = {"connectorId": 1, "idTag": "GOOD", "meterStart": 1000,
             "timestamp": "2025-01-01T00:00:00Z"}
    first = client.request("StartTransaction", start)[2]
    second = client.request("StartTransaction", {**start, "connectorId": 2})[2]
    assert first["idTagInfo"]["status"] == "Accepted"
    assert isinstance(first["transactionId"], int)
    assert second["transactionId"] != first["transactionId"]
    state = handle.state
    assert set(state.open_transactions) == {first["transactionId"], second["transactionId"]}
    tx = state.open_transactions[first["transactionId"]]
    assert (tx.connector_id, tx.id_token, tx.meter_start_wh) == (1, "GOOD", 1000.0)
    # The inbound StartTransaction message carries the bench's reply (transaction id).
    started = handle.messages("StartTransaction")[0]
    assert started.reply == first
    mv = [{"timestamp": "2025-01-01T00:01:00Z",
           "sampledValue": [{"value": "1500", "measurand": "Energy.Active.Import.Register"}]}]
    assert client.request("MeterValues", {"connectorId": 1, "transactionId":
                                          first["transactionId"], "meterValue": mv})[2] == {}
    stop = client.request("StopTransaction", {"transactionId": first["transactionId"],
                                              "meterStop": 2000, "idTag": "GOOD",
                                              "timestamp": "2025-01-01T00:02:00Z"})[2]
    assert stop == {"idTagInfo": {"status": "Accepted"}}
    state = handle.state
    assert list(state.open_transactions) == [second["transactionId"]]
    assert state.last_meter_values[1] == mv
    assert not client.schema_problems


def test_v16_status_heartbeat_datatransfer_and_notifications(bench: Bench) -> None:
    client = bench.client("cp16")
    client.boot()
    for connector, status in [(0, "Available"), (1, "Preparing"), (1, "Charging")]:
        reply = client.request("StatusNotification", {"connectorId": connector,
                                                      "errorCode": "NoError", "status": status})
        assert reply[:1] == [3] and reply[2] == {}
    assert bench.csms.charger("cp16").state.connector_status == {0: "Available", 1: "Charging"}
    assert "currentTime" in client.request("Heartbeat", {})[2]
    assert client.request("DataTransfer", {"vendorId": "X"})[2] == {"status": "UnknownVendorId"}
    assert client.request("DiagnosticsStatusNotification", {"status": "Idle"})[2] == {}
    assert client.request("FirmwareStatusNotification", {"status": "Idle"})[2] == {}
    assert not client.schema_problems


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_v2_transaction_events_track_open_transactions(bench: Bench, version: str) -> None:
    cid = CHARGER_OF_VERSION[version]
    client = bench.client(cid)
    client.boot()
    handle = bench.csms.charger(cid)
    handle.set_authorization(overrides={"BAD": "Blocked"})
    base = {"timestamp": "2025-01-01T00:00:00Z", "triggerReason": "Authorized", "seqNo": 0}
    token = {"idToken": "BAD", "type": "ISO14443"}
    started = client.request("TransactionEvent", {
        **base, "eventType": "Started", "evse": {"id": 1, "connectorId": 1}, "idToken": token,
        "transactionInfo": {"transactionId": "tx-1", "chargingState": "EVConnected"}})[2]
    assert started == {"idTokenInfo": {"status": "Blocked"}}
    mv = [{"timestamp": "2025-01-01T00:00:10Z", "sampledValue": [{"value": 12.5}]}]
    updated = client.request("TransactionEvent", {
        **base, "seqNo": 1, "eventType": "Updated", "triggerReason": "ChargingStateChanged",
        "meterValue": mv,
        "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"}})[2]
    assert updated == {}
    tx = handle.state.open_transactions["tx-1"]
    assert (tx.evse_id, tx.connector_id, tx.id_token, tx.charging_state) == (
        1, 1, "BAD", "Charging")
    assert handle.state.last_meter_values[1] == mv
    client.request("TransactionEvent", {
        **base, "seqNo": 2, "eventType": "Ended", "triggerReason": "StopAuthorized",
        "transactionInfo": {"transactionId": "tx-1", "stoppedReason": "Local"}})
    assert handle.state.open_transactions == {}
    assert not client.schema_problems


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_v2_status_and_notifications(bench: Bench, version: str) -> None:
    cid = CHARGER_OF_VERSION[version]
    client = bench.client(cid)
    client.boot()
    client.request("StatusNotification", {"timestamp": "2025-01-01T00:00:00Z",
                                          "connectorStatus": "Occupied", "evseId": 1,
                                          "connectorId": 1})
    assert bench.csms.charger(cid).state.connector_status == {(1, 1): "Occupied"}
    assert bench.csms.charger(cid).state.status_of(1, evse_id=1) == "Occupied"
    needs = {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}}
    assert client.request("NotifyEVChargingNeeds", needs)[2] == {"status": "Accepted"}
    event = {"generatedAt": "2025-01-01T00:00:00Z", "seqNo": 0, "eventData": [{
        "eventId": 1, "timestamp": "2025-01-01T00:00:00Z", "trigger": "Delta",
        "actualValue": "1", "eventNotificationType": "HardWiredNotification",
        "component": {"name": "X"}, "variable": {"name": "Y"}}]}
    assert client.request("NotifyEvent", event)[2] == {}
    assert client.request("SecurityEventNotification", {
        "type": "StartupOfTheDevice", "timestamp": "2025-01-01T00:00:00Z"})[2] == {}
    assert client.request("DataTransfer", {"vendorId": "X"})[2] == {"status": "UnknownVendorId"}
    assert not client.schema_problems


@pytest.mark.parametrize("version, action, code", [
    ("1.6", "NoSuchAction", "NotImplemented"),
    ("2.0.1", "NoSuchAction", "NotImplemented"),
    ("2.1", "NoSuchAction", "NotImplemented"),
    ("1.6", "Reset", "NotSupported"),  # known to 1.6, but a central-system-to-charger action
    ("2.0.1", "SignCertificate", "NotSupported"),
    ("2.1", "Get15118EVCertificate", "NotSupported"),  # ocpp 2.1.0 itself would not answer
])
def test_unhandled_requests_get_not_implemented_or_not_supported(
        bench: Bench, version: str, action: str, code: str) -> None:
    client = bench.client(CHARGER_OF_VERSION[version])
    reply = client.request(action, {"anything": 1})
    assert reply[0] == 4 and reply[2] == code
    assert client.request("Heartbeat", {})[0] == 3  # the session lives on


@pytest.mark.parametrize("cls", [V16Connection, V201Connection, V21Connection])
def test_every_handled_action_exists_in_the_version_and_empty_answers_are_valid(
        cls: type) -> None:
    for action in cls._handlers:
        assert action in cls.known_actions, f"{cls.version}: {action} is not an OCPP action"
        assert schemas.has_schema(cls.version, action, "request")
        if schemas.check(cls.version, action, "response", {}) is None:
            continue  # an empty answer is valid; the exercised ones are checked by the client
        assert action in {"BootNotification", "Heartbeat", "Authorize", "StartTransaction",
                          "DataTransfer", "NotifyEVChargingNeeds", "NotifyEVChargingSchedule",
                          "PullDynamicScheduleUpdate"}


def test_authorization_status_is_checked_against_the_version(bench: Bench) -> None:
    with pytest.raises(BenchError, match="not an OCPP 1.6 status"):
        bench.csms.charger("cp16").set_authorization(default="NoCredit")
    bench.csms.charger("cp201").set_authorization(default="NoCredit")
