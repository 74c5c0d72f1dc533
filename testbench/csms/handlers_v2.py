"""Default answers of the bench's central system to OCPP 2.0.1 and 2.1 charging stations."""

from __future__ import annotations

from typing import Any

import ocpp.v21  # type: ignore[import-untyped]
import ocpp.v201  # type: ignore[import-untyped]
from ocpp.v21.enums import Action as Action21  # type: ignore[import-untyped]
from ocpp.v201.enums import Action as Action201  # type: ignore[import-untyped]

from testbench.csms.connection import OcppConnection, answers
from testbench.csms.state import OpenTransaction

Payload = dict[str, Any]


def _empty(action: str) -> Any:
    """A handler answering ``action`` with an empty response (a fresh function per action)."""

    def answer(self: Any, p: Payload) -> Payload:
        return {}

    answer.__name__ = f"on_{action}"
    return answers(action)(answer)


class V2Answers:
    """Answers common to 2.0.1 and 2.1 (mixed into the connection classes)."""

    session: Any
    lab_now: Any

    @answers("BootNotification")
    def on_boot_notification(self, p: Payload) -> Payload:
        s = self.session
        status, interval = s.boot_policy.decide(s.settings.heartbeat_interval_s)
        st = s.state
        st.boot_payload = dict(p)
        st.boot_status = status
        st.boot_count += 1
        st.last_boot_lab_s = self.lab_now()
        return {"currentTime": s.clock.iso_now(), "interval": interval, "status": status}

    @answers("Heartbeat")
    def on_heartbeat(self, p: Payload) -> Payload:
        self.session.state.last_heartbeat_lab_s = self.lab_now()
        return {"currentTime": self.session.clock.iso_now()}

    @answers("StatusNotification")
    def on_status_notification(self, p: Payload) -> Payload:
        st = self.session.state
        key = (p["evseId"], p["connectorId"])
        st.connector_status[key] = p["connectorStatus"]
        st.status_payloads[key] = dict(p)
        return {}

    @answers("Authorize")
    def on_authorize(self, p: Payload) -> Payload:
        token = p["idToken"].get("idToken")
        return {"idTokenInfo": {"status": self.session.authorization.status_of(token)}}

    @answers("TransactionEvent")
    def on_transaction_event(self, p: Payload) -> Payload:
        st = self.session.state
        info = p["transactionInfo"]
        tx_id = info["transactionId"]
        evse = p.get("evse") or {}
        token = p["idToken"].get("idToken") if "idToken" in p else None
        if p["eventType"] == "Ended":
            tx = st.open_transactions.pop(tx_id, None)
        else:
            tx = st.open_transactions.get(tx_id)
            if tx is None:
                tx = st.open_transactions[tx_id] = OpenTransaction(
                    transaction_id=tx_id, evse_id=evse.get("id"),
                    connector_id=evse.get("connectorId"), id_token=token,
                    started_lab_s=self.lab_now())
            if "id" in evse:
                tx.evse_id = evse["id"]
            if "connectorId" in evse:
                tx.connector_id = evse["connectorId"]
            if token is not None:
                tx.id_token = token
            tx.charging_state = info.get("chargingState", tx.charging_state)
            tx.last_payload = dict(p)
        if p.get("meterValue"):
            evse_id = evse.get("id", tx.evse_id if tx is not None else None)
            st.last_meter_values[evse_id if evse_id is not None else 0] = p["meterValue"]
        if token is not None:
            return {"idTokenInfo": {"status": self.session.authorization.status_of(token)}}
        return {}

    @answers("MeterValues")
    def on_meter_values(self, p: Payload) -> Payload:
        self.session.state.last_meter_values[p["evseId"]] = p["meterValue"]
        return {}

    @answers("DataTransfer")
    def on_data_transfer(self, p: Payload) -> Payload:
        return {"status": "UnknownVendorId"}

    @answers("NotifyEVChargingNeeds")
    def on_notify_ev_charging_needs(self, p: Payload) -> Payload:
        return {"status": "Accepted"}

    @answers("NotifyEVChargingSchedule")
    def on_notify_ev_charging_schedule(self, p: Payload) -> Payload:
        return {"status": "Accepted"}

    # Notifications answered with an empty response.
    on_notify_event = _empty("NotifyEvent")
    on_notify_report = _empty("NotifyReport")
    on_security_event = _empty("SecurityEventNotification")
    on_firmware_status = _empty("FirmwareStatusNotification")
    on_log_status = _empty("LogStatusNotification")
    on_notify_charging_limit = _empty("NotifyChargingLimit")
    on_cleared_charging_limit = _empty("ClearedChargingLimit")
    on_report_charging_profiles = _empty("ReportChargingProfiles")
    on_notify_monitoring_report = _empty("NotifyMonitoringReport")
    on_notify_display_messages = _empty("NotifyDisplayMessages")
    on_notify_customer_information = _empty("NotifyCustomerInformation")
    on_reservation_status = _empty("ReservationStatusUpdate")
    on_publish_firmware_status = _empty("PublishFirmwareStatusNotification")


class V201Connection(V2Answers, OcppConnection, ocpp.v201.ChargePoint):  # type: ignore[misc]
    """A charging station speaking ``ocpp2.0.1``."""

    version = "2.0.1"
    known_actions = frozenset(a.value for a in Action201)


class V21Connection(V2Answers, OcppConnection, ocpp.v21.ChargePoint):  # type: ignore[misc]
    """A charging station speaking ``ocpp2.1``."""

    version = "2.1"
    # NotifyPeriodicEventStream is a 2.1 SEND, not in ocpp's Action enum.
    known_actions = frozenset(a.value for a in Action21) | {"NotifyPeriodicEventStream"}

    @answers("PullDynamicScheduleUpdate")
    def on_pull_dynamic_schedule_update(self, p: Payload) -> Payload:
        """Accepted with the dynamic values the bench set for the profile (its Dynamic
        SetChargingProfile and Accepted UpdateDynamicSchedules); Rejected when it set none."""
        values = self.session.dynamic.of(p["chargingProfileId"])
        if values is None:
            return {"status": "Rejected"}
        return {"status": "Accepted", **({"scheduleUpdate": values} if values else {})}

    on_notify_der_alarm = _empty("NotifyDERAlarm")
    on_notify_der_start_stop = _empty("NotifyDERStartStop")
    on_report_der_control = _empty("ReportDERControl")
    on_notify_priority_charging = _empty("NotifyPriorityCharging")
    on_notify_settlement = _empty("NotifySettlement")
    on_battery_swap = _empty("BatterySwap")
