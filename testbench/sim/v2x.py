"""OCPP 2.0.1 / 2.1 simulated charging station: messages it sends and requests it answers.

Transactions follow TxStartPoint = PowerPathClosed (EV connected and authorised) and
TxStopPoint = EVConnected,Authorized (ends on unplug, remote stop, local stop).
"""

from __future__ import annotations

import logging
import uuid
from types import ModuleType
from typing import Any

from ocpp import v21, v201
from ocpp.routing import after, on

from testbench.sim.charger import SimCharger
from testbench.sim.client import strict_routing
from testbench.sim.der_frequency import FrequencyControlHandlers  # Set/ClearDERControl (R)
from testbench.sim.der_report import DerReportHandlers  # GetDERControl read-back
from testbench.sim.firmware import Firmware2xHandlers
from testbench.sim.smart import Smart2xHandlers, smart_of
from testbench.sim.station import Connector, Transaction
from testbench.sim.v2x_control import V2x21Handlers, v2x_of

log = logging.getLogger("testbench.sim")

TRIGGERABLE = ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
               "TransactionEvent")

TX_START_POINT = "PowerPathClosed"
TX_STOP_POINT = "EVConnected,Authorized"


class Charger2x(SimCharger):
    """A simulated OCPP 2.0.1 or 2.1 charging station."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ocpp_version = self.spec.ocpp_version
        self.msgs: ModuleType = v21 if self.ocpp_version == "2.1" else v201

    @property
    def call(self) -> Any:
        return self.msgs.call

    def make_client(self, ws: Any) -> Any:
        cls = Client21 if self.ocpp_version == "2.1" else Client201
        return cls(self.spec.id, ws, self)

    def new_transaction_id(self) -> str | None:
        return str(uuid.uuid4())

    # -- messages

    def firmware(self) -> str:
        if self.has("boots-with-wrong-firmware"):
            return self.firmware_version + "-rc1"
        return self.firmware_version

    def boot_payload(self, reason: str) -> Any:
        station = {"vendor_name": self.spec.vendor, "model": self.spec.model,
                   "firmware_version": self.firmware()}
        return self.call.BootNotification(charging_station=station, reason=reason)

    def boot_result(self, result: Any) -> tuple[str, int]:
        return str(result.status), int(result.interval)

    def heartbeat_payload(self) -> Any:
        return self.call.Heartbeat()

    def connector_status(self, conn: Connector) -> str:
        if not self.is_operative(conn) and conn.tx is None:
            return "Unavailable"
        if conn.ev_state == "E":
            return "Faulted"
        if conn.plugged or conn.tx is not None:
            return "Occupied"
        return "Available"

    def status_payload(self, conn: Connector, status: str) -> Any:
        return self.call.StatusNotification(timestamp=self.clock.iso_now(),
                                            connector_status=status, evse_id=conn.evse_id,
                                            connector_id=conn.connector_id)

    def authorize_payload(self, token: str, token_type: str) -> Any:
        return self.call.Authorize(id_token={"id_token": token, "type": token_type})

    def authorize_status(self, result: Any) -> str | None:
        return (result.id_token_info or {}).get("status")

    def charging_state(self, conn: Connector) -> str:
        tx = conn.tx
        if conn.current_a != 0:
            return "Charging"
        if not conn.plugged:
            return "Idle"
        if tx is None or self.contactor_closing(conn):
            return "EVConnected"
        if conn.requests_energy:
            return "SuspendedEVSE"
        if tx.has_charged:
            return "SuspendedEV"
        return "EVConnected"

    def meter_value(self, conn: Connector, context: str, full: bool = True) -> dict[str, Any]:
        def sample(value: float, measurand: str, unit: str) -> dict[str, Any]:
            return {"value": round(value, 1), "context": context, "measurand": measurand,
                    "location": "Outlet", "unitOfMeasure": {"unit": unit}}

        values = [sample(conn.meter.read_wh(), "Energy.Active.Import.Register", "Wh")]
        if full:
            values += [sample(conn.meter.power_w, "Power.Active.Import", "W"),
                       sample(conn.meter.current_a, "Current.Import", "A")]
            soc = getattr(conn, "v2g_soc_pct", None)  # told by the EV over ISO 15118
            if soc is not None and conn.plugged:
                values.append(sample(soc, "SoC", "Percent"))
        return {"timestamp": self.clock.iso_now(), "sampledValue": values}

    def _token(self, tx: Transaction) -> dict[str, Any]:
        if tx.id_token_data is not None:
            return tx.id_token_data
        return {"id_token": tx.id_token, "type": tx.token_type}

    def _event(self, conn: Connector, tx: Transaction, event_type: str, trigger: str, *,
               info: dict[str, Any], meter: dict[str, Any] | None = None,
               id_token: dict[str, Any] | None = None, evse: bool = False,
               on_result: Any = None) -> None:
        sleep = v2x_of(self).evse_sleep_report(conn) if event_type != "Ended" else None
        extra: dict[str, Any] = {} if sleep is None else {"evse_sleep": sleep}  # 2.1 only
        payload = self.call.TransactionEvent(
            **extra, event_type=event_type, timestamp=self.clock.iso_now(), trigger_reason=trigger,
            seq_no=tx.next_seq_no(),
            transaction_info={"transaction_id": tx.id, **info},
            meter_value=[meter] if meter is not None else None,
            evse={"id": conn.evse_id, "connector_id": conn.connector_id} if evse else None,
            id_token=id_token,
            number_of_phases_used=conn.phases if conn.phases and event_type != "Ended" else None,
            offline=not self.online,
        )
        self.post(payload, retain=True, on_result=on_result)

    def send_started(self, conn: Connector, tx: Transaction, trigger: str) -> None:
        tx.charging_state = self.charging_state(conn)
        info: dict[str, Any] = {"charging_state": tx.charging_state}
        if tx.remote_start_id is not None:
            info["remote_start_id"] = tx.remote_start_id

        def answered(result: Any) -> None:
            status = (result.id_token_info or {}).get("status")
            if status is not None and status != "Accepted":
                log.info("%s: TransactionEvent Started idTokenInfo %s", self.spec.id, status)
                self.deauthorize(conn, tx)

        self._event(conn, tx, "Started", trigger, info=info,
                    meter=self.meter_value(conn, "Transaction.Begin", full=False),
                    id_token=self._token(tx), evse=True, on_result=answered)
        if not getattr(conn, "v2g_hosted", False):  # an SECC reports the EV's own needs
            v2x_of(self).transaction_started(conn)  # 2.1 V2X hook: NotifyEVChargingNeeds

    def send_ended(self, conn: Connector, tx: Transaction, reason: str, trigger: str,
                   meter_stop_wh: float, id_token: str | None) -> None:
        meter = self.meter_value(conn, "Transaction.End", full=False)
        meter["sampledValue"][0]["value"] = round(meter_stop_wh, 1)
        info = {"charging_state": "EVConnected" if conn.plugged else "Idle",
                "stopped_reason": reason}
        token = {"id_token": id_token, "type": tx.token_type} if id_token else None
        self._event(conn, tx, "Ended", trigger, info=info, meter=meter, id_token=token)

    def send_periodic(self, conn: Connector, tx: Transaction) -> None:
        self._event(conn, tx, "Updated", "MeterValuePeriodic",
                    info={"charging_state": self.charging_state(conn)},
                    meter=self.meter_value(conn, "Sample.Periodic"))

    def after_refresh(self, conn: Connector) -> None:
        tx = conn.tx
        if tx is None or tx.charging_state is None:
            return
        state = self.charging_state(conn)
        if state != tx.charging_state:
            tx.charging_state = state
            self._event(conn, tx, "Updated", "ChargingStateChanged",
                        info={"charging_state": state})

    def reset_stop_reason(self, kind: str) -> str:
        return "ImmediateReset"

    # -- device model variables

    def variables(self) -> dict[tuple[str, str], tuple[str, bool]]:
        """Known (component, variable): Actual value text and readonly flag."""
        s = self.settings
        return {
            ("OCPPCommCtrlr", "HeartbeatInterval"): (str(s.heartbeat_interval_s), False),
            ("SampledDataCtrlr", "TxUpdatedInterval"): (str(s.sample_interval_s), False),
            ("AuthCtrlr", "AuthorizeRemoteStart"):
                ("true" if s.authorize_remote_start else "false", False),
            ("TxCtrlr", "EVConnectionTimeOut"): (str(s.connection_timeout_s), False),
            ("TxCtrlr", "TxStartPoint"): (TX_START_POINT, True),
            ("TxCtrlr", "TxStopPoint"): (TX_STOP_POINT, True),
            **smart_of(self).variables(),  # SmartChargingCtrlr: Available, Enabled, RateUnit
            **v2x_of(self).variables(),  # 2.1 SmartChargingCtrlr.SupportsEvseSleep
        }

    def _lookup(self, item: dict[str, Any]) -> tuple[str, tuple[str, str] | None]:
        component = item.get("component") or {}
        variable = item.get("variable") or {}
        known = self.variables()
        name_c, name_v = str(component.get("name")), str(variable.get("name"))
        if component.get("evse") is not None or component.get("instance") is not None or \
                all(c != name_c for c, _v in known):
            return "UnknownComponent", None
        if variable.get("instance") is not None or (name_c, name_v) not in known:
            return "UnknownVariable", None
        if item.get("attribute_type", "Actual") != "Actual":
            return "NotSupportedAttributeType", None
        return "Accepted", (name_c, name_v)

    def get_variable(self, item: dict[str, Any]) -> dict[str, Any]:
        status, key = self._lookup(item)
        result: dict[str, Any] = {"attribute_status": status,
                                  "component": item.get("component"),
                                  "variable": item.get("variable")}
        if item.get("attribute_type") is not None:
            result["attribute_type"] = item["attribute_type"]
        if key is not None:
            result["attribute_value"] = self.variables()[key][0]
        return result

    def set_variable(self, item: dict[str, Any]) -> dict[str, Any]:
        status, key = self._lookup(item)
        if key is not None:
            status = self._set(key, str(item.get("attribute_value", "")))
        result: dict[str, Any] = {"attribute_status": status,
                                  "component": item.get("component"),
                                  "variable": item.get("variable")}
        if item.get("attribute_type") is not None:
            result["attribute_type"] = item["attribute_type"]
        return result

    def _set(self, key: tuple[str, str], value: str) -> str:
        if self.variables()[key][1]:
            return "Rejected"
        s = self.settings
        if key == ("AuthCtrlr", "AuthorizeRemoteStart"):
            if value.lower() not in ("true", "false"):
                return "Rejected"
            s.authorize_remote_start = value.lower() == "true"
            return "Accepted"
        try:
            number = int(value)
        except ValueError:
            return "Rejected"
        if number < (0 if key[1] == "TxUpdatedInterval" else 1):
            return "Rejected"
        if key[1] == "HeartbeatInterval":
            s.heartbeat_interval_s = number
            self.heartbeat_changed()
        elif key[1] == "TxUpdatedInterval":
            s.sample_interval_s = number
        elif key[1] == "EVConnectionTimeOut":
            s.connection_timeout_s = number
        return "Accepted"

    # -- requests from the central system

    def targets(self, evse: dict[str, Any] | None) -> tuple[bool, list[Connector] | None]:
        """(known, connectors) addressed by an ``evse`` field; None = the whole station."""
        if not evse or not evse.get("id"):
            return True, None
        connector_id = evse.get("connector_id")
        found = [c for c in self.connectors if c.evse_id == evse["id"]
                 and (connector_id is None or c.connector_id == connector_id)]
        return bool(found), found

    def remote_start_target(self, evse_id: int | None) -> Connector | None:
        if self.registration != "Accepted":
            return None
        if evse_id is not None:
            candidates = [c for c in self.connectors if c.evse_id == evse_id]
            if any(c.tx is not None for c in candidates):
                return None
        else:
            candidates = sorted(self.connectors, key=lambda c: not c.plugged)
        for conn in candidates:
            if conn.tx is None and self.is_operative(conn) and conn.ev_state != "E":
                return conn
        return None

    def remote_start(self, conn: Connector, id_token: dict[str, Any],
                     remote_start_id: int) -> None:
        token, token_type = str(id_token.get("id_token")), str(id_token.get("type"))

        def go(status: str | None = "Accepted") -> None:
            if status != "Accepted" and not self.has("ignores-authorization"):
                log.info("%s: remote start token %s not accepted (%s)", self.spec.id, token,
                         status)
                return
            if conn.tx is None:
                self.begin(conn, token, token_type, trigger="RemoteStart",
                           remote_start_id=remote_start_id, id_token_data=id_token)

        if self.settings.authorize_remote_start:
            self.authorize(token, token_type, go)
        else:
            go()

    def trigger(self, message: str, evse: dict[str, Any] | None) -> None:
        _known, scope = self.targets(evse)
        conns = self.connectors if scope is None else scope
        if message == "BootNotification":
            self.wake_boot()
        elif message == "Heartbeat":
            self.post(self.heartbeat_payload(), while_pending=True)
        elif message == "StatusNotification":
            for conn in conns:
                conn.reported_status = self.connector_status(conn)
                self.post(self.status_payload(conn, conn.reported_status), while_pending=True)
        elif message == "MeterValues":
            evse_ids = sorted({c.evse_id for c in conns})
            for evse_id in evse_ids:
                first = next(c for c in conns if c.evse_id == evse_id)
                self.post(self.call.MeterValues(evse_id=evse_id,
                                                meter_value=[self.meter_value(first, "Trigger")]),
                          while_pending=True)
        elif message == "TransactionEvent":
            for conn in conns:
                if conn.tx is not None:
                    self._event(conn, conn.tx, "Updated", "Trigger",
                                info={"charging_state": self.charging_state(conn)},
                                meter=self.meter_value(conn, "Trigger"))


class _Client2x(Firmware2xHandlers, Smart2xHandlers):
    """Request handlers shared by the 2.0.1 and 2.1 clients (mixed into a ChargePoint)."""

    sim: Charger2x
    _decisions: dict[str, Any]
    _call_result: Any

    def _init_sim(self, sim: Charger2x) -> None:
        self.sim = sim
        self._decisions = {}

    @on("RequestStartTransaction")
    def on_request_start(self, id_token: dict[str, Any], remote_start_id: int,
                         call_unique_id: str, evse_id: int | None = None, **_: Any) -> Any:
        conn = self.sim.remote_start_target(evse_id)
        self._decisions[call_unique_id] = conn
        return self._call_result.RequestStartTransaction(
            status="Accepted" if conn is not None else "Rejected")

    @after("RequestStartTransaction")
    def after_request_start(self, id_token: dict[str, Any], remote_start_id: int,
                            call_unique_id: str,
                            charging_profile: dict[str, Any] | None = None, **_: Any) -> None:
        conn = self._decisions.pop(call_unique_id, None)
        if conn is not None:
            smart_of(self.sim).remote_start_profile(conn, charging_profile)
            self.sim.remote_start(conn, id_token, remote_start_id)

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        conn = self.sim.find_transaction(transaction_id)
        return self._call_result.RequestStopTransaction(
            status="Accepted" if conn is not None else "Rejected")

    @after("RequestStopTransaction")
    def after_request_stop(self, transaction_id: str, **_: Any) -> None:
        conn = self.sim.find_transaction(transaction_id)
        if conn is None:
            return
        if self.sim.has("ignores-remote-stop"):
            log.info("%s: ignoring RequestStopTransaction (fault personality)", self.sim.spec.id)
            return
        self.sim.stop_transaction(conn, "Remote", trigger="RemoteStop")

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        if evse_id is not None:
            return self._call_result.Reset(status="Rejected")
        if type == "OnIdle" and self.sim.transactions() and not self.sim.has("ignores-reset"):
            return self._call_result.Reset(status="Scheduled")
        return self._call_result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, type: str, evse_id: int | None = None, **_: Any) -> None:
        if evse_id is None:
            self.sim.accept_reset(type)

    @on("ChangeAvailability")
    def on_change_availability(self, operational_status: str, call_unique_id: str,
                               evse: dict[str, Any] | None = None, **_: Any) -> Any:
        known, targets = self.sim.targets(evse)
        if not known:
            return self._call_result.ChangeAvailability(status="Rejected")
        self._decisions[call_unique_id] = (targets,)
        return self._call_result.ChangeAvailability(
            status=self.sim.request_availability(targets, operational_status == "Operative"))

    @after("ChangeAvailability")
    def after_change_availability(self, operational_status: str, call_unique_id: str,
                                  **_: Any) -> None:
        decision = self._decisions.pop(call_unique_id, None)
        if decision is not None:
            self.sim.apply_availability(decision[0], operational_status == "Operative")

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str, evse: dict[str, Any] | None = None,
                   **_: Any) -> Any:
        if requested_message not in TRIGGERABLE:
            return self._call_result.TriggerMessage(status="NotImplemented")
        if not self.sim.targets(evse)[0]:
            return self._call_result.TriggerMessage(status="Rejected")
        if requested_message == "BootNotification" and self.sim.registration == "Accepted":
            return self._call_result.TriggerMessage(status="Rejected")  # F06.FR.17
        return self._call_result.TriggerMessage(status="Accepted")

    @after("TriggerMessage")
    def after_trigger(self, requested_message: str, evse: dict[str, Any] | None = None,
                      **_: Any) -> None:
        if requested_message not in TRIGGERABLE or not self.sim.targets(evse)[0]:
            return
        if requested_message == "BootNotification" and self.sim.registration == "Accepted":
            return
        self.sim.trigger(requested_message, evse)

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return self._call_result.GetVariables(
            get_variable_result=[self.sim.get_variable(item) for item in get_variable_data])

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return self._call_result.SetVariables(
            set_variable_result=[self.sim.set_variable(item) for item in set_variable_data])

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return self._call_result.DataTransfer(status="UnknownVendorId")


@strict_routing
class Client201(_Client2x, v201.ChargePoint):
    """The 2.0.1 websocket client of one simulated charging station."""

    def __init__(self, charger_id: str, ws: Any, sim: Charger2x) -> None:
        self._init_sim(sim)
        super().__init__(charger_id, ws)


@strict_routing
class Client21(DerReportHandlers, FrequencyControlHandlers, V2x21Handlers, _Client2x,
               v21.ChargePoint):
    """The 2.1 websocket client of one simulated charging station."""

    def __init__(self, charger_id: str, ws: Any, sim: Charger2x) -> None:
        self._init_sim(sim)
        super().__init__(charger_id, ws)
