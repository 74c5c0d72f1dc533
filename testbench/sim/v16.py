"""OCPP 1.6J simulated charger: messages it sends and requests it answers."""

from __future__ import annotations

import logging
import math
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result

from testbench.sim.charger import SimCharger
from testbench.sim.client import strict_routing
from testbench.sim.firmware import Firmware16Handlers
from testbench.sim.smart import Smart16Handlers, smart_of
from testbench.sim.station import Connector, Transaction

log = logging.getLogger("testbench.sim")

TRIGGERABLE = ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues")


def register_wh(energy_wh: float) -> int:
    """The register as 1.6 reports it: whole Wh, truncated (so readings never go down)."""
    return math.floor(energy_wh)


def _int_tx_id(tx: Transaction) -> int:
    if tx.id is None:
        log.warning("transaction id unknown (StartTransaction unanswered): sending 0")
        return 0
    return int(tx.id)


class Charger16(SimCharger):
    """A simulated OCPP 1.6J charge point."""

    ocpp_version = "1.6"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.station_reported: str | None = None

    def make_client(self, ws: Any) -> Any:
        return Client16(self.spec.id, ws, self)

    def new_transaction_id(self) -> str | None:
        return None  # assigned by the central system

    # -- messages

    def firmware(self) -> str:
        if self.has("boots-with-wrong-firmware"):
            return self.firmware_version + "-rc1"
        return self.firmware_version

    def boot_payload(self, reason: str) -> Any:
        return call.BootNotification(charge_point_vendor=self.spec.vendor,
                                     charge_point_model=self.spec.model,
                                     firmware_version=self.firmware())

    def boot_result(self, result: Any) -> tuple[str, int]:
        return str(result.status), int(result.interval)

    def heartbeat_payload(self) -> Any:
        return call.Heartbeat()

    def connector_status(self, conn: Connector) -> str:
        if not self.is_operative(conn) and conn.tx is None:
            return "Unavailable"
        if conn.ev_state == "E":
            return "Faulted"
        if conn.tx is not None:
            if conn.current_a != 0:
                return "Charging"
            if self.contactor_closing(conn):  # Charging follows once it has closed
                return conn.reported_status or "Preparing"
            if conn.requests_energy:
                return "SuspendedEVSE"
            return "SuspendedEV"
        if conn.plugged:
            return "Finishing" if conn.finishing else "Preparing"
        if conn.pending is not None:
            return "Preparing"
        return "Available"

    def station_status(self) -> str:
        return "Available" if self.operative else "Unavailable"

    def status_payload(self, conn: Connector, status: str) -> Any:
        return self._status(conn.number, status)

    def _status(self, number: int, status: str) -> Any:
        error, info = "NoError", None
        if status == "Faulted":
            error, info = "OtherError", "control pilot shorted to PE (state E)"
        return call.StatusNotification(connector_id=number, error_code=error, status=status,
                                       timestamp=self.clock.iso_now(), info=info)

    def report_all_statuses(self) -> None:
        self.station_reported = self.station_status()
        self.post(self._status(0, self.station_reported))
        super().report_all_statuses()

    def set_station_operative(self, operative: bool) -> None:
        self.operative = operative
        status = self.station_status()
        if status != self.station_reported and self.online:
            self.station_reported = status
            self.post(self._status(0, status))
        super().set_station_operative(operative)

    def authorize_payload(self, token: str, token_type: str) -> Any:
        return call.Authorize(id_tag=token)

    def authorize_status(self, result: Any) -> str | None:
        return (result.id_tag_info or {}).get("status")

    def send_started(self, conn: Connector, tx: Transaction, trigger: str) -> None:
        payload = call.StartTransaction(connector_id=conn.number, id_tag=tx.id_token,
                                        meter_start=register_wh(tx.meter_start_wh),
                                        timestamp=self.clock.iso_now())

        def answered(result: Any) -> None:
            tx.id = str(result.transaction_id)
            status = (result.id_tag_info or {}).get("status")
            if status != "Accepted":
                log.info("%s: StartTransaction idTagInfo %s", self.spec.id, status)
                self.deauthorize(conn, tx)

        self.post(payload, retain=True, on_result=answered)

    def send_ended(self, conn: Connector, tx: Transaction, reason: str, trigger: str,
                   meter_stop_wh: float, id_token: str | None) -> None:
        timestamp = self.clock.iso_now()
        self.post(lambda: call.StopTransaction(
            meter_stop=register_wh(meter_stop_wh), timestamp=timestamp,
            transaction_id=_int_tx_id(tx), reason=reason, id_tag=id_token), retain=True)

    def meter_value(self, conn: Connector, context: str) -> dict[str, Any]:
        def sample(value: str, measurand: str, unit: str) -> dict[str, Any]:
            return {"value": value, "context": context, "measurand": measurand,
                    "location": "Outlet", "unit": unit}

        return {"timestamp": self.clock.iso_now(), "sampledValue": [
            sample(str(register_wh(conn.meter.read_wh())), "Energy.Active.Import.Register",
                   "Wh"),
            sample(f"{conn.meter.power_w:.1f}", "Power.Active.Import", "W"),
            sample(f"{conn.meter.current_a:.1f}", "Current.Import", "A"),
        ]}

    def send_periodic(self, conn: Connector, tx: Transaction) -> None:
        value = self.meter_value(conn, "Sample.Periodic")
        self.post(lambda: call.MeterValues(connector_id=conn.number, meter_value=[value],
                                           transaction_id=_int_tx_id(tx)), retain=True)

    def reset_stop_reason(self, kind: str) -> str:
        return "HardReset" if kind == "Hard" else "SoftReset"

    # -- configuration

    def config_items(self) -> dict[str, tuple[str, bool]]:
        """Known keys: value text and readonly flag."""
        s = self.settings
        return {
            "HeartbeatInterval": (str(s.heartbeat_interval_s), False),
            "MeterValueSampleInterval": (str(s.sample_interval_s), False),
            "AuthorizeRemoteTxRequests": ("true" if s.authorize_remote_start else "false", False),
            "ConnectionTimeOut": (str(s.connection_timeout_s), False),
            "NumberOfConnectors": (str(len(self.connectors)), True),
            **smart_of(self).config_items(),  # SupportedFeatureProfiles, rate units
        }

    def change_config(self, key: str, value: str) -> str:
        items = self.config_items()
        if key not in items:
            return "NotSupported"
        if items[key][1]:
            return "Rejected"
        s = self.settings
        if key == "AuthorizeRemoteTxRequests":
            if value.lower() not in ("true", "false"):
                return "Rejected"
            s.authorize_remote_start = value.lower() == "true"
            return "Accepted"
        try:
            number = int(value)
        except ValueError:
            return "Rejected"
        minimum = 0 if key == "MeterValueSampleInterval" else 1
        if number < minimum:
            return "Rejected"
        if key == "HeartbeatInterval":
            s.heartbeat_interval_s = number
            self.heartbeat_changed()
        elif key == "MeterValueSampleInterval":
            s.sample_interval_s = number
        elif key == "ConnectionTimeOut":
            s.connection_timeout_s = number
        return "Accepted"

    # -- requests from the central system (decide, then act after answering)

    def by_number(self, number: int | None) -> Connector | None:
        for conn in self.connectors:
            if conn.number == number:
                return conn
        return None

    def remote_start_target(self, connector_id: int | None) -> Connector | None:
        if self.registration != "Accepted":
            return None
        if connector_id is not None:
            conn = self.by_number(connector_id)
            candidates = [conn] if conn is not None else []
        else:
            candidates = sorted(self.connectors, key=lambda c: not c.plugged)
        for conn in candidates:
            if conn.tx is None and self.is_operative(conn) and conn.ev_state != "E":
                return conn
        return None

    def remote_start(self, conn: Connector, id_tag: str) -> None:
        def go(status: str | None = "Accepted") -> None:
            if status != "Accepted" and not self.has("ignores-authorization"):
                log.info("%s: remote start token %s not accepted (%s)", self.spec.id, id_tag,
                         status)
                return
            if conn.tx is None:
                self.begin(conn, id_tag, "Central", trigger="RemoteStart", remote_start_id=None,
                           id_token_data=None)

        if self.settings.authorize_remote_start:
            self.authorize(id_tag, "Central", go)
        else:
            go()

    def trigger(self, message: str, connector_id: int | None) -> None:
        if message == "BootNotification":
            if self.registration == "Accepted" and self.online:
                self.post(self.boot_payload("Triggered"), on_result=self._triggered_boot)
            else:
                self.wake_boot()
        elif message == "Heartbeat":
            self.post(self.heartbeat_payload(), while_pending=True)
        elif message == "StatusNotification":
            if connector_id in (None, 0):
                self.station_reported = self.station_status()
                self.post(self._status(0, self.station_reported), while_pending=True)
            for conn in self.connectors:
                if connector_id in (None, conn.number):
                    conn.reported_status = self.connector_status(conn)
                    self.post(self.status_payload(conn, conn.reported_status),
                              while_pending=True)
        elif message == "MeterValues":
            for conn in self.connectors:
                if connector_id in (None, 0, conn.number):
                    tx = conn.tx
                    value = self.meter_value(conn, "Trigger")
                    self.post(call.MeterValues(
                        connector_id=conn.number, meter_value=[value],
                        transaction_id=int(tx.id) if tx is not None and tx.id else None),
                        while_pending=True)

    def _triggered_boot(self, result: Any) -> None:
        status, interval = self.boot_result(result)
        if status == "Accepted" and interval > 0:
            self.settings.heartbeat_interval_s = interval
            self.heartbeat_changed()


@strict_routing
class Client16(Firmware16Handlers, Smart16Handlers, ChargePoint):
    """The 1.6 websocket client of one simulated charger."""

    def __init__(self, charger_id: str, ws: Any, sim: Charger16) -> None:
        super().__init__(charger_id, ws)
        self.sim = sim
        self._decisions: dict[str, Any] = {}

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, call_unique_id: str, connector_id: int | None = None,
                        charging_profile: dict[str, Any] | None = None, **_: Any) -> Any:
        conn = self.sim.remote_start_target(connector_id)
        if not smart_of(self.sim).remote_start_allowed(charging_profile):
            conn = None  # a remote start's profile must be a TxProfile
        self._decisions[call_unique_id] = conn
        return call_result.RemoteStartTransaction(
            status="Accepted" if conn is not None else "Rejected")

    @after("RemoteStartTransaction")
    def after_remote_start(self, id_tag: str, call_unique_id: str,
                           charging_profile: dict[str, Any] | None = None, **_: Any) -> None:
        conn = self._decisions.pop(call_unique_id, None)
        if conn is not None:
            smart_of(self.sim).remote_start_profile(conn, charging_profile)
            self.sim.remote_start(conn, id_tag)

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        conn = self.sim.find_transaction(str(transaction_id))
        return call_result.RemoteStopTransaction(
            status="Accepted" if conn is not None else "Rejected")

    @after("RemoteStopTransaction")
    def after_remote_stop(self, transaction_id: int, **_: Any) -> None:
        conn = self.sim.find_transaction(str(transaction_id))
        if conn is None:
            return
        if self.sim.has("ignores-remote-stop"):
            log.info("%s: ignoring RemoteStopTransaction (fault personality)", self.sim.spec.id)
            return
        self.sim.stop_transaction(conn, "Remote", trigger="RemoteStop")

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        return call_result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, type: str, **_: Any) -> None:
        self.sim.accept_reset(type)

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str, call_unique_id: str,
                               **_: Any) -> Any:
        operative = type == "Operative"
        if connector_id == 0:
            targets = None
        else:
            conn = self.sim.by_number(connector_id)
            if conn is None:
                return call_result.ChangeAvailability(status="Rejected")
            targets = [conn]
        self._decisions[call_unique_id] = (targets,)
        return call_result.ChangeAvailability(
            status=self.sim.request_availability(targets, operative))

    @after("ChangeAvailability")
    def after_change_availability(self, type: str, call_unique_id: str,
                                  **_: Any) -> None:
        decision = self._decisions.pop(call_unique_id, None)
        if decision is not None:
            self.sim.apply_availability(decision[0], type == "Operative")

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str, connector_id: int | None = None,
                   **_: Any) -> Any:
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id not in (None, 0) and self.sim.by_number(connector_id) is None:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    def after_trigger(self, requested_message: str, connector_id: int | None = None,
                      **_: Any) -> None:
        if requested_message in TRIGGERABLE and (
                connector_id in (None, 0) or self.sim.by_number(connector_id) is not None):
            self.sim.trigger(requested_message, connector_id)

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        items = self.sim.config_items()
        wanted = list(items) if not key else key
        known = [{"key": k, "readonly": items[k][1], "value": items[k][0]}
                 for k in wanted if k in items]
        unknown = [k for k in wanted if k not in items]
        return call_result.GetConfiguration(configuration_key=known,
                                            unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        return call_result.ChangeConfiguration(status=self.sim.change_config(key, value))

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")
