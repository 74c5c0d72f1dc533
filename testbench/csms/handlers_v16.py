"""Default answers of the bench's central system to an OCPP 1.6J charge point."""

from __future__ import annotations

from typing import Any

import ocpp.v16  # type: ignore[import-untyped]
from ocpp.v16.enums import Action  # type: ignore[import-untyped]

from testbench.csms.connection import OcppConnection, answers
from testbench.csms.state import OpenTransaction

Payload = dict[str, Any]


class V16Connection(OcppConnection, ocpp.v16.ChargePoint):  # type: ignore[misc]
    """A charge point speaking ``ocpp1.6``."""

    version = "1.6"
    known_actions = frozenset(a.value for a in Action)

    @answers("BootNotification")
    def on_boot_notification(self, p: Payload) -> Payload:
        s = self.session
        status, interval = s.boot_policy.decide(s.settings.heartbeat_interval_s)
        st = s.state
        st.boot_payload = dict(p)
        st.boot_status = status
        st.boot_count += 1
        st.last_boot_lab_s = self.lab_now()
        return {"status": status, "currentTime": s.clock.iso_now(), "interval": interval}

    @answers("Heartbeat")
    def on_heartbeat(self, p: Payload) -> Payload:
        self.session.state.last_heartbeat_lab_s = self.lab_now()
        return {"currentTime": self.session.clock.iso_now()}

    @answers("StatusNotification")
    def on_status_notification(self, p: Payload) -> Payload:
        st = self.session.state
        st.connector_status[p["connectorId"]] = p["status"]
        st.status_payloads[p["connectorId"]] = dict(p)
        return {}

    @answers("Authorize")
    def on_authorize(self, p: Payload) -> Payload:
        return {"idTagInfo": {"status": self.session.authorization.status_of(p["idTag"])}}

    @answers("StartTransaction")
    def on_start_transaction(self, p: Payload) -> Payload:
        s = self.session
        tx_id = next(s.transaction_ids)
        s.state.open_transactions[tx_id] = OpenTransaction(
            transaction_id=tx_id, evse_id=p["connectorId"], connector_id=p["connectorId"],
            id_token=p["idTag"], started_lab_s=self.lab_now(),
            meter_start_wh=float(p["meterStart"]), last_payload=dict(p))
        return {"transactionId": tx_id,
                "idTagInfo": {"status": s.authorization.status_of(p["idTag"])}}

    @answers("StopTransaction")
    def on_stop_transaction(self, p: Payload) -> Payload:
        st = self.session.state
        tx = st.open_transactions.pop(p["transactionId"], None)
        if p.get("transactionData"):
            st.last_meter_values[tx.connector_id if tx and tx.connector_id else 0] = (
                p["transactionData"])
        if "idTag" in p:
            return {"idTagInfo": {"status": self.session.authorization.status_of(p["idTag"])}}
        return {}

    @answers("MeterValues")
    def on_meter_values(self, p: Payload) -> Payload:
        self.session.state.last_meter_values[p["connectorId"]] = p["meterValue"]
        return {}

    @answers("DataTransfer")
    def on_data_transfer(self, p: Payload) -> Payload:
        return {"status": "UnknownVendorId"}

    @answers("DiagnosticsStatusNotification")
    def on_diagnostics_status(self, p: Payload) -> Payload:
        return {}

    @answers("FirmwareStatusNotification")
    def on_firmware_status(self, p: Payload) -> Payload:
        return {}

    # Security whitepaper extensions of 1.6J.
    @answers("SecurityEventNotification")
    def on_security_event(self, p: Payload) -> Payload:
        return {}

    @answers("LogStatusNotification")
    def on_log_status(self, p: Payload) -> Payload:
        return {}

    @answers("SignedFirmwareStatusNotification")
    def on_signed_firmware_status(self, p: Payload) -> Payload:
        return {}
