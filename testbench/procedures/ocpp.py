"""OCPP procedures that read the same for 1.6J and 2.0.1/2.1.

Each function speaks the dialect of the charger's negotiated version and keeps to the
specification, so any vendor's charger can be driven. Durations are lab seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from testbench.clock import parse_iso_utc
from testbench.errors import DeviceFailure


class Charger(Protocol):
    """The part of the central system's charger handle these procedures use."""

    id: str
    version: str

    def call(self, action: str, payload: dict, timeout_s: float | None = None) -> dict: ...
    def expect(self, action: str, within_s: float, where: Any = None, **fields: Any) -> Any: ...
    def messages(self, action: str | None = None, since_mark: bool = True) -> list[Any]: ...
    def sleep(self, lab_s: float) -> None: ...


def is_v16(charger: Charger) -> bool:
    return charger.version == "1.6"


# ----------------------------------------------------------------------------- status
OCCUPIED_16 = ("Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing")


def _status_of(charger: Charger, payload: dict) -> str:
    return payload.get("status") if is_v16(charger) else payload.get("connectorStatus")


def expect_connector_occupied(charger: Charger, within_s: float) -> Any:
    """Wait for the StatusNotification saying an EV is connected (1.6 Preparing..., 2.x Occupied)."""
    if is_v16(charger):
        return charger.expect("StatusNotification", within_s,
                              where=lambda p: p.get("connectorId", 0) > 0
                              and p.get("status") in OCCUPIED_16)
    return charger.expect("StatusNotification", within_s, connector_status="Occupied")


def expect_connector_status(charger: Charger, status: str, within_s: float) -> Any:
    """Wait for a StatusNotification of a connector (not the 1.6 whole-station connector 0)."""
    if is_v16(charger):
        return charger.expect("StatusNotification", within_s,
                              where=lambda p: p.get("connectorId", 0) > 0 and p.get("status") == status)
    return charger.expect("StatusNotification", within_s, connector_status=status)


# ----------------------------------------------------------------------- transactions
@dataclass(frozen=True)
class TransactionStart:
    """What the charger reported when a transaction started."""

    transaction_id: str
    meter_start_wh: float | None
    message: Any


def expect_transaction_started(charger: Charger, within_s: float,
                               id_token: str | None = None) -> TransactionStart:
    """Wait for StartTransaction (1.6) or TransactionEvent Started (2.x)."""
    if is_v16(charger):
        msg = charger.expect("StartTransaction", within_s,
                             where=(lambda p: p.get("idTag") == id_token) if id_token else None)
        tx_id = _v16_transaction_id(charger, msg)
        return TransactionStart(tx_id, float(msg.payload["meterStart"]), msg)
    msg = charger.expect("TransactionEvent", within_s, event_type="Started")
    tx_id = msg.payload["transactionInfo"]["transactionId"]
    return TransactionStart(str(tx_id), _energy_in(msg.payload.get("meterValue", [])), msg)


def _v16_transaction_id(charger: Charger, start_msg: Any) -> str:
    reply = getattr(start_msg, "reply", None)
    if reply and "transactionId" in reply:
        return str(reply["transactionId"])
    state = getattr(charger, "state", None)
    open_tx = getattr(state, "open_transactions", None) if state is not None else None
    if open_tx:
        return str(list(open_tx)[-1] if not isinstance(open_tx, dict) else list(open_tx.keys())[-1])
    raise DeviceFailure("could not learn the transaction id of the StartTransaction")


def expect_transaction_ended(charger: Charger, within_s: float, reason: str | None = None) -> Any:
    """Wait for StopTransaction (1.6) or TransactionEvent Ended (2.x), optionally with a reason."""
    if is_v16(charger):
        msg = charger.expect("StopTransaction", within_s)
        got = msg.payload.get("reason", "Local")  # 1.6: absent reason means Local
    else:
        msg = charger.expect("TransactionEvent", within_s, event_type="Ended")
        got = msg.payload.get("transactionInfo", {}).get("stoppedReason", "Local")
    if reason is not None and got != reason:
        raise DeviceFailure(f"transaction ended with reason {got!r}, expected {reason!r}")
    return msg


def expect_charging(charger: Charger, within_s: float) -> Any:
    """Wait until the charger reports energy flowing (1.6 status Charging, 2.x chargingState Charging).

    A report already received since the mark counts (a 2.x Started event may carry it).
    """
    already = charging_reports(charger)
    if already:
        return already[0]
    if is_v16(charger):
        return expect_connector_status(charger, "Charging", within_s)
    return charger.expect("TransactionEvent", within_s,
                          where=lambda p: p.get("transactionInfo", {}).get("chargingState") == "Charging")


def charging_reports(charger: Charger) -> list[Any]:
    """Messages since the mark that say energy is flowing."""
    if is_v16(charger):
        return [m for m in charger.messages("StatusNotification") if m.payload.get("status") == "Charging"]
    return [m for m in charger.messages("TransactionEvent")
            if m.payload.get("transactionInfo", {}).get("chargingState") == "Charging"]


def remote_start(charger: Charger, id_token: str, evse_id: int = 1, remote_start_id: int = 1) -> str:
    """RemoteStartTransaction (1.6) / RequestStartTransaction (2.x); returns the status."""
    if is_v16(charger):
        reply = charger.call("RemoteStartTransaction", {"idTag": id_token, "connectorId": evse_id})
    else:
        reply = charger.call("RequestStartTransaction", {
            "idToken": {"idToken": id_token, "type": "ISO14443"},
            "evseId": evse_id, "remoteStartId": remote_start_id})
    return str(reply.get("status"))


UNKNOWN_ID_GRACE_S = 5.0
"""Lab seconds a 1.6 charger is given to take in the StartTransaction answer (and so learn
the transaction id) before a RemoteStopTransaction it rejects counts as rejected."""


def stop_transaction(charger: Charger, transaction_id: str, within_s: float) -> Any:
    """Remote-stop ``transaction_id`` and wait for the end of the transaction.

    A 1.6 charger learns the id only from the StartTransaction answer; asked to stop right
    after the start it may not know it yet and say Rejected. It is asked again, every
    0.5 lab s for up to ``UNKNOWN_ID_GRACE_S``, before that counts.
    """
    status = remote_stop(charger, transaction_id)
    waited_s = 0.0
    while status != "Accepted" and is_v16(charger) and waited_s < UNKNOWN_ID_GRACE_S:
        charger.sleep(0.5)
        waited_s += 0.5
        status = remote_stop(charger, transaction_id)
    if status != "Accepted":
        raise DeviceFailure(f"charger {charger.id} answered the remote stop of transaction "
                            f"{transaction_id} with {status!r}, expected 'Accepted'")
    return expect_transaction_ended(charger, within_s)


def remote_stop(charger: Charger, transaction_id: str) -> str:
    """RemoteStopTransaction (1.6) / RequestStopTransaction (2.x); returns the status."""
    if is_v16(charger):
        reply = charger.call("RemoteStopTransaction", {"transactionId": int(transaction_id)})
    else:
        reply = charger.call("RequestStopTransaction", {"transactionId": transaction_id})
    return str(reply.get("status"))


# ------------------------------------------------------------------------ meter values
ENERGY = "Energy.Active.Import.Register"


def _energy_in(meter_values: Iterable[dict]) -> float | None:
    for mv in meter_values:
        for sv in mv.get("sampledValue", []):
            if sv.get("measurand", ENERGY) == ENERGY:
                return _to_wh(sv)
    return None


def _to_wh(sampled: dict) -> float:
    value = float(sampled["value"])
    unit = sampled.get("unit") or sampled.get("unitOfMeasure", {}).get("unit") or "Wh"
    multiplier = sampled.get("unitOfMeasure", {}).get("multiplier", 0)
    value *= 10 ** int(multiplier)
    return value * 1000.0 if unit == "kWh" else value


@dataclass(frozen=True)
class EnergySample:
    """An energy register reading, with its lab timestamp and the power reported beside it.

    ``lab_s`` is when the charger says it sampled (the meterValue's ``timestamp``), so a
    reading replayed late (after an outage) keeps its time; the arrival time only where the
    timestamp is missing or unreadable.
    """

    lab_s: float
    energy_wh: float
    power_w: float | None


def _sampled_at_s(meter_values: Iterable[dict], arrived_s: float) -> float:
    """The timestamp of the meterValue holding the energy register; ``arrived_s`` without."""
    for mv in meter_values:
        if _energy_in([mv]) is None:
            continue
        try:
            return parse_iso_utc(str(mv["timestamp"]))
        except (KeyError, ValueError):
            return arrived_s
    return arrived_s


def energy_samples(charger: Charger) -> list[EnergySample]:
    """Periodic energy register readings sent since the mark, in arrival order."""
    samples: list[EnergySample] = []
    if is_v16(charger):
        sources = [m for m in charger.messages("MeterValues")]
        values = [(m, m.payload.get("meterValue", [])) for m in sources]
    else:
        sources = [m for m in charger.messages("TransactionEvent")
                   if m.payload.get("triggerReason") == "MeterValuePeriodic"]
        values = [(m, m.payload.get("meterValue", [])) for m in sources]
    for msg, mvs in values:
        energy = _energy_in(mvs)
        if energy is None:
            continue
        power = None
        for mv in mvs:
            for sv in mv.get("sampledValue", []):
                if sv.get("measurand") == "Power.Active.Import":
                    power = float(sv["value"]) * (1000.0 if (sv.get("unit") or sv.get(
                        "unitOfMeasure", {}).get("unit")) == "kW" else 1.0)
        samples.append(EnergySample(_sampled_at_s(mvs, msg.lab_s), energy, power))
    return samples


def expect_meter_samples(charger: Charger, count: int, within_s: float) -> None:
    """Wait for ``count`` periodic meter value messages."""
    for _ in range(count):
        if is_v16(charger):
            charger.expect("MeterValues", within_s)
        else:
            charger.expect("TransactionEvent", within_s, trigger_reason="MeterValuePeriodic")


def transaction_end_energy_wh(charger: Charger, ended_msg: Any) -> float | None:
    """The energy register at the end of the transaction (1.6 meterStop, 2.x Ended meterValue)."""
    if is_v16(charger):
        return float(ended_msg.payload["meterStop"])
    return _energy_in(ended_msg.payload.get("meterValue", []))


# ----------------------------------------------------------------------- configuration
def set_heartbeat_interval(charger: Charger, interval_s: int) -> str:
    """Set the heartbeat interval (1.6 ChangeConfiguration, 2.x SetVariables); returns status."""
    if is_v16(charger):
        return charger.call("ChangeConfiguration",
                            {"key": "HeartbeatInterval", "value": str(interval_s)})["status"]
    reply = charger.call("SetVariables", {"setVariableData": [{
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
        "attributeValue": str(interval_s)}]})
    return reply["setVariableResult"][0]["attributeStatus"]


def set_meter_interval(charger: Charger, interval_s: int) -> str:
    """Set the periodic meter value interval during transactions; returns status."""
    if is_v16(charger):
        return charger.call("ChangeConfiguration",
                            {"key": "MeterValueSampleInterval", "value": str(interval_s)})["status"]
    reply = charger.call("SetVariables", {"setVariableData": [{
        "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"},
        "attributeValue": str(interval_s)}]})
    return reply["setVariableResult"][0]["attributeStatus"]


# ------------------------------------------------------------------- reset/availability
def reset(charger: Charger, hard: bool = True) -> str:
    """Reset (1.6 Hard/Soft, 2.x Immediate/OnIdle); returns the status."""
    if is_v16(charger):
        return charger.call("Reset", {"type": "Hard" if hard else "Soft"})["status"]
    return charger.call("Reset", {"type": "Immediate" if hard else "OnIdle"})["status"]


def change_availability(charger: Charger, operative: bool, evse_id: int = 1) -> str:
    """ChangeAvailability of one connector/EVSE; returns the status."""
    if is_v16(charger):
        return charger.call("ChangeAvailability", {
            "connectorId": evse_id, "type": "Operative" if operative else "Inoperative"})["status"]
    return charger.call("ChangeAvailability", {
        "operationalStatus": "Operative" if operative else "Inoperative",
        "evse": {"id": evse_id}})["status"]


def boot_identity(charger: Charger, boot_payload: dict) -> tuple[str, str, str | None]:
    """(vendor, model, firmware) announced in a BootNotification."""
    if is_v16(charger):
        return (boot_payload.get("chargePointVendor", ""), boot_payload.get("chargePointModel", ""),
                boot_payload.get("firmwareVersion"))
    station = boot_payload.get("chargingStation", {})
    return (station.get("vendorName", ""), station.get("model", ""), station.get("firmwareVersion"))


NON_BOOT_REQUESTS_16 = ("StatusNotification", "Heartbeat", "Authorize", "StartTransaction",
                        "StopTransaction", "MeterValues", "DataTransfer")
NON_BOOT_REQUESTS_2X = ("StatusNotification", "Heartbeat", "Authorize", "TransactionEvent",
                        "MeterValues", "NotifyEvent", "DataTransfer")


def non_boot_requests(charger: Charger) -> tuple[str, ...]:
    """Requests a charger must not send while its boot is Pending or Rejected."""
    return NON_BOOT_REQUESTS_16 if is_v16(charger) else NON_BOOT_REQUESTS_2X
