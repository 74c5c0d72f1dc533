"""Reset, supply, availability, trigger, configuration and unknown requests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import pairwise

import pytest
from sim_fleet import VERSIONS, SimLab
from sim_harness import (
    CallFailed,
    Scpi,
    quiet_for,
    remote_start,
    remote_stop,
    statuses,
    stop_reason,
    wait_charging,
    wait_ended,
    wait_for_status,
    wait_started,
)


@pytest.fixture
def box_for(simlab: SimLab) -> Iterator[object]:
    opened: list[Scpi] = []

    def open_box(charger: str) -> Scpi:
        wait_for_status(simlab.csms, charger, "Available", timeout_s=20)
        box = Scpi(simlab.ports[charger])
        opened.append(box)
        return box

    yield open_box
    for box in opened:
        box.write("*RST")
        box.close()


def start_charging(simlab: SimLab, box: Scpi, charger: str, token: str = "CTL-1") -> str:
    csms = simlab.csms
    mark = csms.mark()
    box.write("EV:PROF ev-3ph")
    box.write("CP:STAT C")
    assert remote_start(csms, charger, token) == "Accepted"
    tx_id, _ = wait_started(csms, charger, since=mark)
    wait_charging(csms, charger, since=mark)
    return tx_id


def reset_kind(tag: str, hard: bool) -> str:
    if tag == "16":
        return "Hard" if hard else "Soft"
    return "Immediate" if hard else "OnIdle"


# --------------------------------------------------------------------------- reset and supply


@pytest.mark.parametrize("tag", VERSIONS)
def test_reset_stops_transaction_and_reboots(simlab: SimLab, box_for, tag: str) -> None:
    csms, charger = simlab.csms, f"reset-{tag}"
    box = box_for(charger)
    start_charging(simlab, box, charger)
    connections = csms.connections[charger]
    mark = csms.mark()
    if tag != "16":  # OnIdle waits for the transaction to end
        assert csms.call(charger, "Reset", {"type": "OnIdle"})["status"] == "Scheduled"
        sent = quiet_for(csms, charger, ["TransactionEvent", "BootNotification"], mark,
                         simlab.wall(10))
        assert [f for f in sent if f.payload.get("eventType") != "Updated"] == []
    assert csms.call(charger, "Reset", {"type": reset_kind(tag, hard=True)})["status"] == \
        "Accepted"
    ended = wait_ended(csms, charger, since=mark)
    assert stop_reason(ended) == ("HardReset" if tag == "16" else "ImmediateReset")
    if tag != "16":
        assert ended.payload["triggerReason"] == "ResetCommand"
    boot = csms.wait(charger, "BootNotification", since=mark)
    assert boot.wall_s > ended.wall_s
    assert csms.connections[charger] == connections + 1
    if tag != "16":
        assert boot.payload["reason"] == "RemoteReset"
    # the EV is still plugged in: the connector comes back occupied
    wait_for_status(csms, charger, "Preparing" if tag == "16" else "Occupied", since=mark)
    assert float(box.query("MEAS:CURR?")) == 0.0
    box.write("CP:STAT A")
    wait_for_status(csms, charger, "Available", since=mark)


def test_soft_reset_when_idle_reboots(simlab: SimLab, box_for) -> None:
    csms, charger = simlab.csms, "reset-16"
    box_for(charger)
    mark = csms.mark()
    assert csms.call(charger, "Reset", {"type": "Soft"})["status"] == "Accepted"
    csms.wait(charger, "BootNotification", since=mark)
    wait_for_status(csms, charger, "Available", since=mark)


def test_ignores_reset_fault_never_reboots(simlab: SimLab, box_for) -> None:
    csms, charger = simlab.csms, "f-ignores-reset"
    box_for(charger)
    connections = csms.connections[charger]
    mark = csms.mark()
    assert csms.call(charger, "Reset", {"type": "Immediate"})["status"] == "Accepted"
    assert quiet_for(csms, charger, ["BootNotification"], mark, simlab.wall(30)) == []
    assert csms.connections[charger] == connections


@pytest.mark.parametrize("tag", VERSIONS)
def test_power_cycle_reboots_and_reports_power_loss(simlab: SimLab, box_for, tag: str) -> None:
    csms, charger = simlab.csms, f"power-{tag}"
    box = box_for(charger)
    tx_id = start_charging(simlab, box, charger)
    connections = csms.connections[charger]
    mark = csms.mark()
    switched_off_wall_s = time.time()
    box.write("PWR:CYCL 10")
    assert box.query("PWR:STAT?") == "0"
    assert box.query("CP:STAT?") == "F"
    assert float(box.query("MEAS:CURR?")) == 0.0
    boot = csms.wait(charger, "BootNotification", since=mark)
    assert csms.lab_s(boot) - simlab.lab_s(switched_off_wall_s) >= 9.5
    assert csms.connections[charger] == connections + 1
    ended = wait_ended(csms, charger, since=mark)
    assert ended.wall_s > boot.wall_s and stop_reason(ended) == "PowerLoss"
    if tag == "16":
        assert str(ended.payload["transactionId"]) == tx_id
    else:
        assert boot.payload["reason"] == "PowerUp"
        assert ended.payload["transactionInfo"]["transactionId"] == tx_id
        assert ended.payload["offline"] is True
    assert box.query("PWR:STAT?") == "1"
    box.write("PWR:STAT 0")
    box.write("PWR:STAT 1")
    assert box.errors() == []


# --------------------------------------------------------------------------- availability


def availability(tag: str, operative: bool, evse: int | None = 1) -> dict:
    kind = "Operative" if operative else "Inoperative"
    if tag == "16":
        return {"connectorId": 0 if evse is None else evse, "type": kind}
    return {"operationalStatus": kind, **({"evse": {"id": evse}} if evse else {})}


@pytest.mark.parametrize("tag", VERSIONS)
def test_change_availability(simlab: SimLab, box_for, tag: str) -> None:
    csms, charger = simlab.csms, f"avail-{tag}"
    box = box_for(charger)
    mark = csms.mark()
    assert csms.call(charger, "ChangeAvailability", availability(tag, False))["status"] == \
        "Accepted"
    wait_for_status(csms, charger, "Unavailable", since=mark)
    assert box.query("CP:STAT?") == "F"
    assert remote_start(csms, charger, "AV-1") == "Rejected"
    assert csms.call(charger, "ChangeAvailability", availability(tag, True))["status"] == \
        "Accepted"
    wait_for_status(csms, charger, "Available", since=mark)
    assert statuses(csms, charger, mark) == ["Unavailable", "Available"]

    # with a transaction running the change is scheduled until it ends
    tx_id = start_charging(simlab, box, charger)
    mark = csms.mark()
    assert csms.call(charger, "ChangeAvailability", availability(tag, False))["status"] == \
        "Scheduled"
    assert quiet_for(csms, charger, ["StatusNotification"], mark, simlab.wall(5)) == []
    assert remote_stop(csms, charger, tx_id) == "Accepted"
    wait_ended(csms, charger, since=mark)
    wait_for_status(csms, charger, "Unavailable", since=mark)
    box.write("CP:STAT A")

    # whole station
    mark = csms.mark()
    assert csms.call(charger, "ChangeAvailability", availability(tag, True, evse=None))[
        "status"] == "Accepted"
    wait_for_status(csms, charger, "Available", since=mark)
    assert csms.call(charger, "ChangeAvailability", availability(tag, False, evse=None))[
        "status"] == "Accepted"
    wait_for_status(csms, charger, "Unavailable", since=mark)
    if tag == "16":
        csms.wait(charger, "StatusNotification", since=mark,
                  where=lambda p: p["connectorId"] == 0 and p["status"] == "Unavailable")
    mark = csms.mark()
    csms.call(charger, "ChangeAvailability", availability(tag, True, evse=None))
    wait_for_status(csms, charger, "Available", since=mark)


def test_ignores_availability_fault_keeps_status(simlab: SimLab, box_for) -> None:
    csms, charger = simlab.csms, "f-ignores-availability"
    box = box_for(charger)
    mark = csms.mark()
    assert csms.call(charger, "ChangeAvailability", availability("16", False))["status"] == \
        "Accepted"
    assert quiet_for(csms, charger, ["StatusNotification"], mark, simlab.wall(20)) == []
    assert box.query("CP:STAT?") == "A1"


# --------------------------------------------------------------------------- trigger


@pytest.mark.parametrize("tag", VERSIONS)
def test_trigger_message(simlab: SimLab, box_for, tag: str) -> None:
    csms, charger = simlab.csms, f"trig-{tag}"
    box_for(charger)
    for message in ("Heartbeat", "StatusNotification", "MeterValues"):
        mark = csms.mark()
        assert csms.call(charger, "TriggerMessage", {"requestedMessage": message})["status"] \
            == "Accepted"
        csms.wait(charger, message, since=mark)
    mark = csms.mark()
    boot = csms.call(charger, "TriggerMessage", {"requestedMessage": "BootNotification"})
    if tag == "16":
        assert boot["status"] == "Accepted"
        csms.wait(charger, "BootNotification", since=mark)
        unsupported = "DiagnosticsStatusNotification"
    else:
        assert boot["status"] == "Rejected"  # already accepted (F06.FR.17)
        assert csms.call(charger, "TriggerMessage",
                         {"requestedMessage": "TransactionEvent"})["status"] == "Accepted"
        unsupported = "LogStatusNotification"
    assert csms.call(charger, "TriggerMessage", {"requestedMessage": unsupported})["status"] \
        == "NotImplemented"


# --------------------------------------------------------------------------- configuration


def test_configuration_16(simlab: SimLab) -> None:
    csms, charger = simlab.csms, "conf-16"
    csms.wait(charger, "BootNotification")
    everything = csms.call(charger, "GetConfiguration", {})
    keys = {k["key"]: k for k in everything["configurationKey"]}
    assert set(keys) >= {"HeartbeatInterval", "MeterValueSampleInterval",
                         "AuthorizeRemoteTxRequests", "ConnectionTimeOut", "NumberOfConnectors"}
    assert keys["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True,
                                          "value": "1"}
    assert keys["HeartbeatInterval"]["value"] == "3600"  # from the boot answer
    some = csms.call(charger, "GetConfiguration", {"key": ["ConnectionTimeOut", "Nope"]})
    assert [k["key"] for k in some["configurationKey"]] == ["ConnectionTimeOut"]
    assert some["unknownKey"] == ["Nope"]

    def change(key: str, value: str) -> str:
        return csms.call(charger, "ChangeConfiguration", {"key": key, "value": value})["status"]

    assert change("MeterValueSampleInterval", "30") == "Accepted"
    assert change("MeterValueSampleInterval", "-1") == "Rejected"
    assert change("HeartbeatInterval", "ten") == "Rejected"
    assert change("AuthorizeRemoteTxRequests", "maybe") == "Rejected"
    assert change("NumberOfConnectors", "2") == "Rejected"
    assert change("Nope", "1") == "NotSupported"
    got = csms.call(charger, "GetConfiguration", {"key": ["MeterValueSampleInterval"]})
    assert got["configurationKey"][0]["value"] == "30"


def test_authorize_remote_tx_requests_16(simlab: SimLab, box_for) -> None:
    csms, charger = simlab.csms, "conf-16"
    box = box_for(charger)
    assert csms.call(charger, "ChangeConfiguration",
                     {"key": "AuthorizeRemoteTxRequests", "value": "true"})["status"] == "Accepted"
    csms.tokens["REM-BAD"] = "Blocked"
    mark = csms.mark()
    box.write("EV:PROF ev-3ph")
    box.write("CP:STAT C")
    assert remote_start(csms, charger, "REM-BAD") == "Accepted"
    csms.wait(charger, "Authorize", since=mark, where=lambda p: p["idTag"] == "REM-BAD")
    assert quiet_for(csms, charger, ["StartTransaction"], mark, simlab.wall(20)) == []
    assert remote_start(csms, charger, "REM-GOOD") == "Accepted"
    csms.wait(charger, "Authorize", since=mark, where=lambda p: p["idTag"] == "REM-GOOD")
    wait_started(csms, charger, since=mark)
    box.write("CP:STAT A")
    wait_ended(csms, charger, since=mark)
    csms.call(charger, "ChangeConfiguration", {"key": "AuthorizeRemoteTxRequests",
                                               "value": "false"})


@pytest.mark.parametrize("tag", ["201", "21"])
def test_variables_2x(simlab: SimLab, tag: str) -> None:
    csms, charger = simlab.csms, f"conf-{tag}"
    csms.wait(charger, "BootNotification")

    def get(component: str, variable: str, **extra: object) -> dict:
        reply = csms.call(charger, "GetVariables", {"getVariableData": [
            {"component": {"name": component}, "variable": {"name": variable}, **extra}]})
        return reply["getVariableResult"][0]

    def put(component: str, variable: str, value: str) -> str:
        reply = csms.call(charger, "SetVariables", {"setVariableData": [
            {"component": {"name": component}, "variable": {"name": variable},
             "attributeValue": value}]})
        return reply["setVariableResult"][0]["attributeStatus"]

    got = get("OCPPCommCtrlr", "HeartbeatInterval")
    assert got["attributeStatus"] == "Accepted" and got["attributeValue"] == "3600"
    assert get("TxCtrlr", "TxStartPoint")["attributeValue"] == "PowerPathClosed"
    assert get("NoSuchCtrlr", "HeartbeatInterval")["attributeStatus"] == "UnknownComponent"
    assert get("OCPPCommCtrlr", "NoSuchVariable")["attributeStatus"] == "UnknownVariable"
    assert get("OCPPCommCtrlr", "HeartbeatInterval", attributeType="Target")[
        "attributeStatus"] == "NotSupportedAttributeType"
    assert put("SampledDataCtrlr", "TxUpdatedInterval", "20") == "Accepted"
    assert get("SampledDataCtrlr", "TxUpdatedInterval")["attributeValue"] == "20"
    assert put("TxCtrlr", "TxStartPoint", "Authorized") == "Rejected"
    assert put("OCPPCommCtrlr", "HeartbeatInterval", "-5") == "Rejected"
    assert put("AuthCtrlr", "AuthorizeRemoteStart", "perhaps") == "Rejected"
    assert put("AuthCtrlr", "AuthorizeRemoteStart", "false") == "Accepted"
    assert put("NoSuchCtrlr", "X", "1") == "UnknownComponent"


@pytest.mark.parametrize("tag", VERSIONS)
def test_changed_heartbeat_interval_is_used(simlab: SimLab, tag: str) -> None:
    csms, charger = simlab.csms, f"conf-{tag}"
    csms.wait(charger, "BootNotification")
    mark = csms.mark()
    from sim_harness import set_config

    assert set_config(csms, charger, "HeartbeatInterval", "OCPPCommCtrlr", "HeartbeatInterval",
                      "8") == "Accepted"
    beats = [csms.wait(charger, "Heartbeat", since=mark, count=n) for n in (1, 2, 3)]
    gaps = [csms.lab_s(b) - csms.lab_s(a) for a, b in pairwise(beats)]
    assert all(4 <= g <= 13 for g in gaps), gaps  # 8 s, not the old 3600 s nor 16 s
    set_config(csms, charger, "HeartbeatInterval", "OCPPCommCtrlr", "HeartbeatInterval", "3600")


# --------------------------------------------------------------------------- unknown requests


@pytest.mark.parametrize("tag", VERSIONS)
def test_unknown_and_unsupported_requests_get_callerror(simlab: SimLab, tag: str) -> None:
    csms, charger = simlab.csms, f"unknown-{tag}"
    csms.wait(charger, "BootNotification")
    reply = csms.raw_call(charger, "MakeCoffee", {"sugar": 2})
    assert reply.kind == 4 and reply.payload["code"] == "NotImplemented"
    known_but_unhandled = ("ReserveNow", {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z",
                                          "idTag": "X", "reservationId": 1}) if tag == "16" else (
        "GetLocalListVersion", {})
    with pytest.raises(CallFailed) as failed:
        csms.call(charger, *known_but_unhandled)
    assert failed.value.code == "NotSupported"
    assert csms.call(charger, "DataTransfer", {"vendorId": "acme"})["status"] == \
        "UnknownVendorId"
    assert time.monotonic() > 0
