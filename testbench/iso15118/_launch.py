# mypy: disable-error-code="import-not-found,misc,valid-type"
"""Start the ``iso15118`` package's SECC or EVCC and record every V2G message it exchanges.

This file runs as a script under the *iso15118 virtual environment's* Python (the package
pins pydantic 1.10 and cryptography, so it cannot share the bench's environment). It imports
nothing from ``testbench``; the bench talks to it through three files only:

* a launch spec (JSON, path in ``argv[1]``): role, interface, records path, EV/charger
  parameter overrides, faults (response delays, timeout scaling);
* the records file (JSON lines, one object per line, flushed as written): every V2G message
  sent or received (name, namespace, decoded content, EXI bytes, wall and monotonic time)
  and lifecycle events (codec ready, SDP, session stop with its reason);
* the package's own log on stdout (captured by the bench).

Everything else (network interface, protocols, auth modes, TLS, PKI path, log level) is set
through the package's documented environment variables by the bench.

Exit codes: 0 session ended (EVCC), 2 bad launch spec, 3 EVCC gave up discovery or
restarts (``SDPFailedError``), 4 the package raised at start.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import itertools
import json
import os
import random
import sys
import threading
import time
from typing import Any

SPEC: dict[str, Any] = {}


# ----------------------------------------------------------------------------- records
class Recorder:
    """Append-only JSON-lines writer shared by the hooks (flushed on every line)."""

    def __init__(self, path: str, role: str) -> None:
        self.role = role
        self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - process-long
        self._lock = threading.Lock()
        self.seq = 0

    def write(self, kind: str, **fields: Any) -> None:
        with self._lock:
            self.seq += 1
            record = {"kind": kind, "role": self.role, "seq": self.seq,
                      "t_wall_s": fields.pop("t_wall_s", time.time()),
                      "t_mono_s": fields.pop("t_mono_s", time.monotonic())}
            record.update(fields)
            self._file.write(json.dumps(record, default=_json_default) + "\n")
            self._file.flush()

    def event(self, name: str, **data: Any) -> None:
        self.write("event", event=name, data=data)


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.hex().upper()
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, (str, int, float)) else value.name
    if isinstance(value, (ipaddress.IPv6Address, ipaddress.IPv4Address)):
        return str(value)
    return str(value)


def _as_doc(message: Any) -> Any:
    """The decoded content of a package message object (pydantic 1.x model), by XML name."""
    if hasattr(message, "dict"):
        try:
            return message.dict(by_alias=True, exclude_none=True)
        except Exception as exc:  # noqa: BLE001 - evidence must never break a session
            return {"_unserialisable": f"{type(exc).__name__}: {exc}"}
    return {"_value": str(message)}


# ----------------------------------------------------------------------------- hooks
def install_hooks(rec: Recorder) -> None:
    """Wrap the package's send/receive/stop paths to record messages and apply faults."""
    from iso15118.shared import comm_session as cs
    from iso15118.shared import states as st
    from iso15118.shared.exi_codec import EXI
    from iso15118.shared.exificient_exi_codec import ExificientEXICodec

    delays: dict[str, float] = {k: float(v) for k, v in
                                (SPEC.get("response_delays_s") or {}).items()}
    timeout_scale = float(SPEC.get("timeout_scale") or 1.0)
    sequence_timeout_s = SPEC.get("sequence_timeout_s")
    pending_rx: list[tuple[float, float, int, str]] = []

    codec_init = ExificientEXICodec.__init__

    def timed_codec_init(self: Any) -> None:
        t0 = time.monotonic()
        codec_init(self)
        rec.event("codec_ready", jvm_start_s=round(time.monotonic() - t0, 3))

    ExificientEXICodec.__init__ = timed_codec_init

    process_message = cs.SessionStateMachine.process_message

    async def recorded_process_message(self: Any, message: bytes) -> Any:
        pending_rx.append((time.time(), time.monotonic(), len(message), message.hex().upper()))
        try:
            return await process_message(self, message)
        finally:
            pending_rx.clear()

    cs.SessionStateMachine.process_message = recorded_process_message

    from_exi = EXI.from_exi

    def recorded_from_exi(self: Any, exi_message: bytes, namespace: Any) -> Any:
        if not pending_rx:
            return from_exi(self, exi_message, namespace)
        t_wall, t_mono, size, _frame = pending_rx.pop()
        ns = getattr(namespace, "value", str(namespace))
        try:
            decoded = from_exi(self, exi_message, namespace)
        except Exception as exc:
            rec.write("message", direction="rx", name=None, namespace=ns, doc=None,
                      exi=bytes(exi_message).hex().upper(), frame_bytes=size,
                      codec_ms=round((time.monotonic() - t_mono) * 1000, 2),
                      error=f"{type(exc).__name__}: {exc}", t_wall_s=t_wall, t_mono_s=t_mono)
            raise
        LAST_RX["message"] = decoded
        rec.write("message", direction="rx", name=str(decoded), namespace=ns,
                  doc=_as_doc(decoded), exi=bytes(exi_message).hex().upper(),
                  frame_bytes=size, codec_ms=round((time.monotonic() - t_mono) * 1000, 2),
                  t_wall_s=t_wall, t_mono_s=t_mono)
        return decoded

    EXI.from_exi = recorded_from_exi

    send = cs.V2GCommunicationSession.send

    async def recorded_send(self: Any, message: Any) -> None:
        state = self.current_state
        content = getattr(state, "message", None)
        name = str(content) if content is not None else "?"
        delay_s = delays.get(name)
        if delay_s:
            rec.event("fault_delay", message=name, delay_s=delay_s)
            await asyncio.sleep(delay_s)
        ns = self.get_exi_ns(message.payload_type)
        t_wall, t_mono = time.time(), time.monotonic()
        await send(self, message)
        rec.write("message", direction="tx", name=name,
                  namespace=getattr(ns, "value", str(ns)), doc=_as_doc(content),
                  exi=bytes(message.payload).hex().upper(),
                  frame_bytes=len(message.to_bytes()),
                  timeout_s=getattr(state, "next_msg_timeout", None),
                  t_wall_s=t_wall, t_mono_s=t_mono)

    cs.V2GCommunicationSession.send = recorded_send

    stop = cs.V2GCommunicationSession.stop

    async def recorded_stop(self: Any, reason: str) -> None:
        rec.event("session_stop", reason=reason, state=str(self.current_state))
        await stop(self, reason)
        rec.event("session_closed")

    cs.V2GCommunicationSession.stop = recorded_stop

    close_delay_scale = float(SPEC.get("close_delay_scale") or 1.0)
    if close_delay_scale != 1.0:
        # the package waits 2 s + 3 s before closing TCP on stop (its only sleeps there)
        class _ScaledSleep:
            def __getattr__(self, name: str) -> Any:
                return getattr(asyncio, name)

            @staticmethod
            async def sleep(delay: float, *args: Any, **kwargs: Any) -> Any:
                return await asyncio.sleep(delay * close_delay_scale, *args, **kwargs)

        cs.asyncio = _ScaledSleep()

    create_next_message = st.State.create_next_message

    def scaled_create_next_message(self: Any, next_state: Any, next_msg: Any,
                                   next_msg_timeout: Any, *args: Any, **kwargs: Any) -> Any:
        timeout = float(next_msg_timeout)
        if sequence_timeout_s is not None and timeout >= 60:
            timeout = float(sequence_timeout_s)
        elif timeout_scale != 1.0:
            timeout = timeout * timeout_scale
        return create_next_message(self, next_state, next_msg, timeout, *args, **kwargs)

    st.State.create_next_message = scaled_create_next_message


def install_secc_hooks(rec: Recorder) -> None:
    from iso15118.secc.transport.udp_server import UDPServer

    connection_made = UDPServer.connection_made

    def recorded_connection_made(self: Any, transport: Any) -> None:
        connection_made(self, transport)
        rec.event("ready", iface=self.iface)

    UDPServer.connection_made = recorded_connection_made


def install_evcc_hooks(rec: Recorder) -> None:
    from iso15118.evcc import comm_session_handler as ch
    from iso15118.shared.exceptions import SDPFailedError

    handler = ch.CommunicationSessionHandler
    send_sdp = handler.send_sdp

    async def recorded_send_sdp(self: Any) -> None:
        rec.event("sdp_request", remaining=self.sdp_retries_number)
        await send_sdp(self)

    handler.send_sdp = recorded_send_sdp

    udp_packet = handler.process_incoming_udp_packet

    async def recorded_udp_packet(self: Any, message: Any) -> None:
        rec.event("sdp_response", source=str(getattr(message, "addr", "")))
        await udp_packet(self, message)

    handler.process_incoming_udp_packet = recorded_udp_packet

    restart_sdp = handler.restart_sdp

    async def exiting_restart_sdp(self: Any, new_sdp_cycle: bool) -> None:
        try:
            await restart_sdp(self, new_sdp_cycle)
        except SDPFailedError as exc:
            # The package logs this and then idles forever (seen in 0.31): end the process.
            rec.event("gave_up", reason=str(exc))
            sys.stdout.flush()
            os._exit(3)

    handler.restart_sdp = exiting_restart_sdp

    # the moment the charger closes the TCP connection (seen even while the EV is not
    # reading, e.g. stalled on purpose): wire evidence for the SECC's timeouts
    protocol = asyncio.StreamReaderProtocol
    eof_received, connection_lost = protocol.eof_received, protocol.connection_lost
    seen: set[int] = set()

    def recorded_eof(self: Any) -> Any:
        if id(self) not in seen:
            seen.add(id(self))
            rec.event("peer_closed", how="eof")
        return eof_received(self)

    def recorded_lost(self: Any, exc: Any) -> Any:
        if id(self) not in seen:
            seen.add(id(self))
            rec.event("peer_closed", how="lost", error=str(exc) if exc else None)
        return connection_lost(self, exc)

    protocol.eof_received = recorded_eof
    protocol.connection_lost = recorded_lost


# ----------------------------------------------------------------------------- numbers
def pv(value: float, unit: Any, cls: Any) -> Any:
    """A -2/DIN PhysicalValue (int16 value x 10^multiplier, multiplier -3..3): multiplier 0
    when exact, else the coarsest exact one, else the first that fits (rounded)."""
    best = None
    for multiplier in (0, -1, -2, -3, 1, 2, 3):
        scaled = round(value / 10 ** multiplier)
        if abs(scaled) > 32767:
            continue
        if abs(scaled * 10 ** multiplier - value) <= 1e-9 * max(1.0, abs(value)):
            return cls(multiplier=multiplier, value=scaled, unit=unit)
        if best is None:
            best = (multiplier, scaled)
    if best is None:
        raise ValueError(f"{value} {unit} does not fit an ISO 15118-2 PhysicalValue")
    return cls(multiplier=best[0], value=best[1], unit=unit)


def rational(value: float) -> Any:
    from iso15118.shared.messages.iso15118_20.common_types import RationalNumber

    return RationalNumber.get_rational_repr(value)


def in_given_order(given: Any, members: list[Any]) -> list[Any]:
    """``members`` (enum members the package accepted) sorted by their position in ``given``
    (a comma-separated string or a list of names); unknown names are ignored."""
    names = given.split(",") if isinstance(given, str) else list(given or [])
    order = [n.strip().upper() for n in names if n and n.strip()]
    position = {name: n for n, name in reversed(list(enumerate(order)))}
    return sorted(members, key=lambda m: position.get(m.name, len(order)))


# ----------------------------------------------------------------------------- charger bridge
class Bridge:
    """Client of the charger's bridge: the hosting charger's own control logic (OCPP side).

    JSON lines over a Unix socket (a filesystem path, so it reaches the charger from inside
    the SECC's network namespace): one request ``{"op": ..., ...}``, one reply object.
    Every exchange is recorded as a ``bridge`` event (evidence of what the SECC asked the
    charger and what it was told); a failed exchange as ``bridge_error`` and ``None``.
    """

    def __init__(self, path: str, rec: Recorder, timeout_s: float = 10.0) -> None:
        self.path = path
        self.rec = rec
        self.timeout_s = timeout_s
        self._lock: asyncio.Lock | None = None
        self._reader: Any = None
        self._writer: Any = None

    async def call(self, op: str, **data: Any) -> dict[str, Any] | None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                if self._writer is None:
                    self._reader, self._writer = await asyncio.wait_for(
                        asyncio.open_unix_connection(self.path), self.timeout_s)
                line = json.dumps({"op": op, **data}, default=_json_default) + "\n"
                self._writer.write(line.encode())
                await self._writer.drain()
                raw = await asyncio.wait_for(self._reader.readline(), self.timeout_s)
                if not raw:
                    raise ConnectionError("the charger closed the bridge")
                reply = json.loads(raw)
            except Exception as exc:  # noqa: BLE001 - the SECC decides what a failure means
                self.rec.event("bridge_error", op=op, error=f"{type(exc).__name__}: {exc}")
                self._writer = None
                return None
        self.rec.event("bridge", op=op, request=data, reply=reply)
        return reply if isinstance(reply, dict) else None


def _ev_needs(ctx: Any, protocol: str) -> dict[str, Any]:
    """What the EV announced in charge-parameter discovery (the SECC's EV data context)."""
    def plain(obj: Any) -> dict[str, Any]:
        return {k: v for k, v in vars(obj).items() if v is not None} if obj is not None else {}

    rated = getattr(ctx, "rated_limits", None)
    mode = getattr(ctx, "selected_energy_mode", None)
    service = getattr(ctx, "selected_energy_service", None)
    return {
        "protocol": protocol,
        "energy_mode": getattr(mode, "value", mode),
        "energy_service": getattr(service, "name", service),
        "current_type": getattr(getattr(ctx, "current_type", None), "value", None),
        "departure_time_s": ctx.departure_time,
        "target_energy_request_wh": ctx.target_energy_request,
        "max_energy_request_wh": ctx.max_energy_request,
        "min_energy_request_wh": ctx.min_energy_request,
        "max_v2x_energy_request_wh": ctx.max_v2x_energy_request,
        "min_v2x_energy_request_wh": ctx.min_v2x_energy_request,
        "target_soc_pct": ctx.target_soc, "present_soc_pct": ctx.present_soc,
        "battery_capacity_wh": ctx.total_battery_capacity,
        "ac": plain(getattr(rated, "ac_limits", None)),
        "dc": plain(getattr(rated, "dc_limits", None)),
    }


# ----------------------------------------------------------------------------- SECC side
def make_evse_controller(rec: Recorder) -> Any:
    """The package's simulated EVSE controller with the bench's charger parameters."""
    from iso15118.secc.controller.interface import AuthorizationResponse
    from iso15118.secc.controller.simulator import SimEVSEController
    from iso15118.shared.messages.datatypes import (
        PVEVSEMaxCurrentLimit,
        PVEVSEMaxPowerLimit,
        PVEVSEMaxVoltageLimit,
    )
    from iso15118.shared.messages.enums import AuthorizationStatus, Protocol, UnitSymbol
    from iso15118.shared.messages.iso15118_2.datatypes import (
        PMaxScheduleEntry,
        PVEVSEMaxCurrent,
        PVEVSENominalVoltage,
        PVPMax,
        RelativeTimeInterval,
    )
    from iso15118.shared.messages.iso15118_20.common_messages import (
        PowerScheduleEntry,
        PowerScheduleEntryList,
    )

    p: dict[str, Any] = SPEC.get("charger") or {}
    fixed_schedule = _points(p, "schedule")
    fixed_discharge = _points(p, "discharge_schedule")
    bridge = Bridge(str(SPEC["bridge_path"]), rec) if SPEC.get("bridge_path") else None

    def entries_v20(points: list[dict[str, Any]], sign: float) -> list[Any]:
        out = []
        for n, point in enumerate(points):
            end = points[n + 1]["start_s"] if n + 1 < len(points) else 86400
            out.append(PowerScheduleEntry(duration=int(end - point["start_s"]),
                                          power=rational(sign * float(point["max_power_w"]))))
        return out

    class BenchEVSEController(SimEVSEController):
        """SimEVSEController whose ratings, schedule and authorisation come from the bench."""

        async def get_evse_id(self, protocol: Any) -> str:
            if "evse_id" in p and protocol != Protocol.DIN_SPEC_70121:
                return str(p["evse_id"])
            return await super().get_evse_id(protocol)

        async def is_authorized(self, *args: Any, **kwargs: Any) -> Any:
            result = await super().is_authorized(*args, **kwargs)
            if bridge is not None:
                return await self._authorized_by_charger(result, *args, **kwargs)
            verdict = str(p.get("authorization", "accepted")).lower()
            if verdict == "rejected":
                # the response code goes into AuthorizationRes: FAILED of the session's
                # protocol family (each ResponseCode enum has a FAILED member)
                code = result.certificate_response_status
                return AuthorizationResponse(
                    authorization_status=AuthorizationStatus.REJECTED,
                    certificate_response_status=type(code).FAILED if code is not None else None)
            return result

        async def _authorized_by_charger(self, result: Any, id_token: Any = None,
                                         id_token_type: Any = None,
                                         certificate_chain: Any = None,
                                         hash_data: Any = None) -> Any:
            """Ask the hosting charger (which asks its operator over OCPP)."""
            assert bridge is not None
            token_type = getattr(id_token_type, "value", id_token_type)
            if id_token is None and token_type in (None, "external"):
                pnc = _v20_contract_chain()  # -20 passes no token: read the request itself
                if pnc is not None:
                    id_token, token_type, hash_data = pnc
            reply = await bridge.call("authorize", id_token=id_token, id_token_type=token_type,
                                      hash_data=hash_data,
                                      with_certificate=certificate_chain is not None,
                                      protocol=_protocol_name(self))
            status = str((reply or {}).get("status", "Rejected"))
            code = result.certificate_response_status
            if status == "Accepted":
                return result
            if status == "Ongoing":
                return AuthorizationResponse(authorization_status=AuthorizationStatus.ONGOING,
                                             certificate_response_status=code)
            return AuthorizationResponse(
                authorization_status=AuthorizationStatus.REJECTED,
                certificate_response_status=type(code).FAILED if code is not None else None)

        async def send_rated_limits(self) -> None:
            await super().send_rated_limits()
            protocol = _protocol_name(self) or ""
            if bridge is not None and not protocol.startswith("ISO_15118_20"):
                await bridge.call("charging_needs",
                                  **_ev_needs(self.ev_data_context, protocol))

        async def get_schedule_exchange_params(self, selected_energy_service: Any,
                                               control_mode: Any,
                                               schedule_exchange_req: Any) -> Any:
            # -20: the EV's energy request and departure come with ScheduleExchangeReq, so
            # the charger reports the EV's needs now (with its charge-parameter limits)
            if bridge is not None:
                needs = _ev_needs(self.ev_data_context, _protocol_name(self) or "ISO_15118_20")
                service = getattr(selected_energy_service, "service", None)
                needs["energy_service"] = getattr(service, "name", needs["energy_service"])
                needs["control_mode"] = getattr(control_mode, "name", str(control_mode))
                await bridge.call("charging_needs", **needs)
            return await super().get_schedule_exchange_params(
                selected_energy_service, control_mode, schedule_exchange_req)

        async def _charger_schedule(self, departure_time_s: Any) -> dict[str, Any] | None:
            if bridge is None:
                return None
            return await bridge.call("schedule", protocol=_protocol_name(self),
                                     departure_time_s=departure_time_s)

        def _stop_now(self, status: Any) -> Any:
            """Charger stops charging at the ``stop_after_loops``-th -2 charge-loop request."""
            limit = p.get("stop_after_loops")
            name = str(LAST_RX.get("message"))
            if not limit or name not in ("ChargingStatusReq", "CurrentDemandReq"):
                return status
            LOOPS["n"] = LOOPS.get("n", 0) + 1
            if LOOPS["n"] >= int(limit):
                status.evse_notification = type(status.evse_notification).STOP_CHARGING
                rec.event("evse_stop_charging", loop=LOOPS["n"], request=name)
            return status

        async def get_ac_evse_status(self) -> Any:
            status = self._stop_now(await super().get_ac_evse_status())
            if bridge is not None:
                reply = await bridge.call("status", protocol=_protocol_name(self),
                                          present_soc_pct=self.ev_data_context.present_soc)
                if reply and reply.get("renegotiate"):
                    status.evse_notification = type(status.evse_notification).RE_NEGOTIATION
            return status

        async def get_dc_evse_status(self) -> Any:
            status = self._stop_now(await super().get_dc_evse_status())
            if bridge is not None:
                reply = await bridge.call("status", protocol=_protocol_name(self),
                                          present_soc_pct=self.ev_data_context.present_soc)
                if reply and reply.get("renegotiate"):
                    status.evse_notification = type(status.evse_notification).RE_NEGOTIATION
            return status

        async def get_evse_status(self) -> Any:
            # -20 charge loop: the EV's SoC (DisplayParameters) goes to the charger
            status = await super().get_evse_status()
            if bridge is not None:
                display = getattr(LAST_RX.get("message"), "display_parameters", None)
                soc = self.ev_data_context.present_soc
                if soc is None and display is not None:
                    soc = getattr(display, "present_soc", None)
                await bridge.call("status", protocol=_protocol_name(self), present_soc_pct=soc)
            return status

        async def session_ended(self, current_state: str, reason: str) -> Any:
            if bridge is not None:
                await bridge.call("session_end", state=str(current_state), reason=str(reason))
            result = await super().session_ended(current_state, reason)
            # the next EV starts from nothing (the package keeps the last EV's data)
            self.reset_ev_data_context()
            return result

        async def get_ac_charge_params_v2(self) -> Any:
            params = await super().get_ac_charge_params_v2()
            if "ac_max_current_a" in p:
                params.evse_max_current = pv(p["ac_max_current_a"], UnitSymbol.AMPERE,
                                             PVEVSEMaxCurrent)
            if "ac_nominal_voltage_v" in p:
                params.evse_nominal_voltage = pv(p["ac_nominal_voltage_v"], UnitSymbol.VOLTAGE,
                                                 PVEVSENominalVoltage)
            return params

        async def get_dc_charge_parameters(self) -> Any:
            params = await super().get_dc_charge_parameters()
            for key, attr, unit, cls in _DC_V2_LIMITS:
                if key in p:
                    setattr(params, attr, pv(p[key], unit, cls))
            return params

        async def get_evse_max_voltage_limit(self) -> Any:
            if "dc_max_voltage_v" in p:
                return pv(p["dc_max_voltage_v"], "V", PVEVSEMaxVoltageLimit)
            return await super().get_evse_max_voltage_limit()

        async def get_evse_max_current_limit(self) -> Any:
            if "dc_max_current_a" in p:
                return pv(p["dc_max_current_a"], "A", PVEVSEMaxCurrentLimit)
            return await super().get_evse_max_current_limit()

        async def get_evse_max_power_limit(self) -> Any:
            if "dc_max_power_w" in p:
                return pv(p["dc_max_power_w"], "W", PVEVSEMaxPowerLimit)
            return await super().get_evse_max_power_limit()

        async def get_dc_charge_params_v20(self, energy_service: Any) -> Any:
            params = await super().get_dc_charge_params_v20(energy_service)
            for key, attr in _DC_V20_LIMITS:
                if key in p and hasattr(params, attr):
                    setattr(params, attr, rational(float(p[key])))
            return params

        async def get_ac_charge_params_v20(self, energy_service: Any) -> Any:
            params = await super().get_ac_charge_params_v20(energy_service)
            for key, attr in _AC_V20_LIMITS:
                if key in p and hasattr(params, attr):
                    setattr(params, attr, rational(float(p[key])))
            return params

        async def get_sa_schedule_list(self, ev_data_context: Any, is_free: bool,
                                       max_schedule_entries: Any,
                                       departure_time: int = 0) -> Any:
            tuples = await super().get_sa_schedule_list(ev_data_context, is_free,
                                                        max_schedule_entries, departure_time)
            reply = await self._charger_schedule(departure_time)
            schedule = _points(reply, "schedule") if reply is not None else fixed_schedule
            if schedule and tuples:
                horizon = departure_time or 86400
                entries = []
                for n, point in enumerate(schedule):
                    power = pv(float(point["max_power_w"]), UnitSymbol.WATT, PVPMax)
                    if n + 1 < len(schedule):
                        interval = RelativeTimeInterval(start=int(point["start_s"]))
                    else:
                        interval = RelativeTimeInterval(
                            start=int(point["start_s"]),
                            duration=max(1, int(horizon - point["start_s"])))
                    entries.append(PMaxScheduleEntry(p_max=power, time_interval=interval))
                tuples[0].p_max_schedule.schedule_entries = entries
            return tuples

        async def get_scheduled_se_params(self, selected_energy_service: Any,
                                          schedule_exchange_req: Any) -> Any:
            params = await super().get_scheduled_se_params(selected_energy_service,
                                                           schedule_exchange_req)
            reply = await self._charger_schedule(
                getattr(schedule_exchange_req, "departure_time", None))
            schedule = _points(reply, "schedule") if reply is not None else fixed_schedule
            discharge_schedule = (_points(reply, "discharge_schedule") if reply is not None
                                  else fixed_discharge)
            first = params.schedule_tuples[0]
            if schedule:
                first.charging_schedule.power_schedule.schedule_entry_list = \
                    PowerScheduleEntryList(entries=entries_v20(schedule, 1.0))
            if discharge_schedule and first.discharging_schedule is not None:
                first.discharging_schedule.power_schedule.schedule_entry_list = \
                    PowerScheduleEntryList(entries=entries_v20(discharge_schedule, -1.0))
            return params

    return BenchEVSEController()


def _points(source: Any, key: str) -> list[dict[str, Any]]:
    """``[{"start_s", "max_power_w"}]`` under ``key``, sorted by start."""
    return sorted((source or {}).get(key) or [], key=lambda e: float(e["start_s"]))


def _protocol_name(controller: Any) -> str | None:
    protocol = controller.get_selected_protocol()
    return getattr(protocol, "name", None)


#: The last message the SECC decoded (set by the recording hook).
LAST_RX: dict[str, Any] = {}

#: -2 charge-loop requests the SECC answered (``stop_after_loops``).
LOOPS: dict[str, int] = {}


def _v20_contract_chain() -> tuple[str, str, Any] | None:
    """(eMAID, "eMAID", OCSP hash data) of an ISO 15118-20 Plug & Charge AuthorizationReq
    just received (the package passes the controller no token for -20), else None."""
    message = LAST_RX.get("message")
    params = getattr(message, "pnc_params", None)
    chain = getattr(params, "contract_cert_chain", None)
    if chain is None:
        return None
    from iso15118.shared.security import derive_certificate_hash_data, get_cert_cn

    certs = [chain.certificate, *chain.sub_certificates.certificates]
    hash_data = []
    try:
        for cert, issuer in itertools.pairwise(certs):
            hash_data.append(derive_certificate_hash_data(cert, issuer))
    except Exception:  # noqa: BLE001 - no OCSP data: authorise by the eMAID alone
        hash_data = []
    return get_cert_cn(chain.certificate), "eMAID", hash_data or None


_DC_V2_LIMITS = [
    ("dc_max_current_a", "evse_maximum_current_limit", "A", "PVEVSEMaxCurrentLimit"),
    ("dc_max_power_w", "evse_maximum_power_limit", "W", "PVEVSEMaxPowerLimit"),
    ("dc_max_voltage_v", "evse_maximum_voltage_limit", "V", "PVEVSEMaxVoltageLimit"),
    ("dc_min_current_a", "evse_minimum_current_limit", "A", "PVEVSEMinCurrentLimit"),
    ("dc_min_voltage_v", "evse_minimum_voltage_limit", "V", "PVEVSEMinVoltageLimit"),
]
_DC_V20_LIMITS = [
    ("dc_max_power_w", "evse_max_charge_power"), ("dc_min_power_w", "evse_min_charge_power"),
    ("dc_max_current_a", "evse_max_charge_current"),
    ("dc_min_current_a", "evse_min_charge_current"),
    ("dc_max_voltage_v", "evse_max_voltage"), ("dc_min_voltage_v", "evse_min_voltage"),
    ("dc_max_discharge_power_w", "evse_max_discharge_power"),
    ("dc_min_discharge_power_w", "evse_min_discharge_power"),
    ("dc_max_discharge_current_a", "evse_max_discharge_current"),
    ("dc_min_discharge_current_a", "evse_min_discharge_current"),
]
_AC_V20_LIMITS = [
    ("ac_max_charge_power_w", "evse_max_charge_power"),
    ("ac_min_charge_power_w", "evse_min_charge_power"),
    ("ac_max_discharge_power_w", "evse_max_discharge_power"),
    ("ac_min_discharge_power_w", "evse_min_discharge_power"),
]


def _resolve_dc_v2_classes() -> None:
    from iso15118.shared.messages import datatypes

    for n, (key, attr, unit, cls) in enumerate(_DC_V2_LIMITS):
        if isinstance(cls, str):
            _DC_V2_LIMITS[n] = (key, attr, unit, getattr(datatypes, cls))


async def run_secc(rec: Recorder) -> None:
    from iso15118.secc import SECCHandler
    from iso15118.secc.controller.interface import ServiceStatus
    from iso15118.secc.secc_settings import Config
    from iso15118.shared.exificient_exi_codec import ExificientEXICodec

    _resolve_dc_v2_classes()
    config = Config()
    config.load_envs()
    # 0.31 passes PROTOCOLS/AUTH_MODES through set(): the configured priority is lost
    config.supported_protocols = in_given_order(os.environ.get("PROTOCOLS", ""),
                                                config.supported_protocols)
    config.supported_auth_options = in_given_order(os.environ.get("AUTH_MODES", ""),
                                                   config.supported_auth_options)
    config.print_settings()
    controller = make_evse_controller(rec)
    await controller.set_status(ServiceStatus.STARTING)
    rec.event("starting", iface=config.iface,
              protocols=[p.name for p in config.supported_protocols],
              auth_modes=[a.value for a in config.supported_auth_options])
    await SECCHandler(exi_codec=ExificientEXICodec(), evse_controller=controller,
                      config=config).start(config.iface)


# ----------------------------------------------------------------------------- EVCC side
def make_ev_controller(evcc_config: Any) -> Any:
    """The package's simulated EV controller with the bench's EV parameters."""
    from iso15118.evcc.controller.simulator import SimEVController
    from iso15118.shared.messages.datatypes import (
        PVEVEnergyCapacity,
        PVEVEnergyRequest,
        PVEVMaxCurrentLimit,
        PVEVMaxPowerLimit,
        PVEVMaxVoltageLimit,
    )
    from iso15118.shared.messages.enums import UnitSymbol
    from iso15118.shared.messages.iso15118_2.datatypes import (
        PVEAmount,
        PVEVMaxCurrent,
        PVEVMaxVoltage,
        PVEVMinCurrent,
    )
    from iso15118.shared.messages.iso15118_20.common_messages import (
        EVPowerScheduleEntry,
        EVPowerScheduleEntryList,
    )

    p: dict[str, Any] = SPEC.get("ev") or {}

    class BenchEVController(SimEVController):
        """SimEVController whose limits and energy request come from the bench."""

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            params = self.dc_ev_charge_params
            if "dc_max_current_a" in p:
                params.dc_max_current_limit = pv(p["dc_max_current_a"], UnitSymbol.AMPERE,
                                                 PVEVMaxCurrentLimit)
            if "dc_max_power_w" in p:
                params.dc_max_power_limit = pv(p["dc_max_power_w"], UnitSymbol.WATT,
                                               PVEVMaxPowerLimit)
            if "dc_max_voltage_v" in p:
                params.dc_max_voltage_limit = pv(p["dc_max_voltage_v"], UnitSymbol.VOLTAGE,
                                                 PVEVMaxVoltageLimit)
            if "energy_capacity_wh" in p:
                params.dc_energy_capacity = pv(p["energy_capacity_wh"], UnitSymbol.WATT_HOURS,
                                               PVEVEnergyCapacity)

        async def get_charge_params_v2(self, protocol: Any) -> Any:
            result = await super().get_charge_params_v2(protocol)
            ac, dc = result.ac_parameters, result.dc_parameters
            if ac is not None:
                if "ac_max_current_a" in p:
                    ac.ev_max_current = pv(p["ac_max_current_a"], UnitSymbol.AMPERE,
                                           PVEVMaxCurrent)
                if "ac_min_current_a" in p:
                    ac.ev_min_current = pv(p["ac_min_current_a"], UnitSymbol.AMPERE,
                                           PVEVMinCurrent)
                if "ac_max_voltage_v" in p:
                    ac.ev_max_voltage = pv(p["ac_max_voltage_v"], UnitSymbol.VOLTAGE,
                                           PVEVMaxVoltage)
                if "energy_request_wh" in p:
                    ac.e_amount = pv(p["energy_request_wh"], UnitSymbol.WATT_HOURS, PVEAmount)
                if "departure_time_s" in p:
                    ac.departure_time = int(p["departure_time_s"])
            if dc is not None:
                if "energy_request_wh" in p:
                    dc.ev_energy_request = pv(p["energy_request_wh"], UnitSymbol.WATT_HOURS,
                                              PVEVEnergyRequest)
                if "departure_time_s" in p:
                    dc.departure_time = int(p["departure_time_s"])
            return result

        async def process_sa_schedules_v2(self, sa_schedules: Any) -> Any:
            progress, tuple_id, profile = await super().process_sa_schedules_v2(sa_schedules)
            factor = p.get("profile_power_factor")
            if factor:
                for entry in profile.profile_entries:
                    watts = float(entry.max_power.value) * 10 ** entry.max_power.multiplier
                    entry.max_power = pv(watts * float(factor), UnitSymbol.WATT,
                                         type(entry.max_power))
            return progress, tuple_id, profile

        async def select_energy_service_v20(self, services: Any) -> Any:
            selected = await super().select_energy_service_v20(services)
            wanted = {"scheduled": 1, "dynamic": 2}.get(str(p.get("control_mode", "")).lower())
            if wanted is None:
                return selected
            for matched in services:
                if matched.service != selected.service:
                    continue
                for parameter_set in matched.parameter_sets:
                    modes = [q.int_value for q in parameter_set.parameters
                             if q.name == "ControlMode"]
                    if wanted in modes:
                        selected.parameter_set = parameter_set
                        return selected
            return selected

        async def get_charge_params_v20(self, selected_service: Any) -> Any:
            params = await super().get_charge_params_v20(selected_service)
            for key, attr in _EV_V20_LIMITS:
                if key in p and hasattr(params, attr):
                    setattr(params, attr, rational(float(p[key])))
            return params

        async def process_scheduled_se_params(self, scheduled_params: Any, pause: bool) -> Any:
            profile, progress = await super().process_scheduled_se_params(scheduled_params,
                                                                          pause)
            if profile is not None and p.get("bpt_discharge"):
                # plan to discharge: follow the charger's discharging schedule (negative
                # power); the package's EV derives BPT_ChannelSelection from the sign
                chosen = scheduled_params.schedule_tuples[0]
                source = chosen.discharging_schedule or chosen.charging_schedule
                entries = []
                for entry in source.power_schedule.schedule_entry_list.entries:
                    value = float(entry.power.value) * 10 ** entry.power.exponent
                    entries.append(EVPowerScheduleEntry(duration=entry.duration,
                                                        power=rational(-abs(value))))
                profile.entry_list = EVPowerScheduleEntryList(entries=entries)
            return profile, progress

        async def get_scheduled_dc_charge_loop_params(self) -> Any:
            params = await super().get_scheduled_dc_charge_loop_params()
            if "dc_target_current_a" in p:
                params.ev_target_current = rational(float(p["dc_target_current_a"]))
            if "dc_target_voltage_v" in p:
                params.ev_target_voltage = rational(float(p["dc_target_voltage_v"]))
            return params

        async def get_bpt_scheduled_dc_charge_loop_params(self) -> Any:
            params = await super().get_bpt_scheduled_dc_charge_loop_params()
            if "max_discharge_power_w" in p:
                params.ev_max_discharge_power = rational(float(p["max_discharge_power_w"]))
            if "min_discharge_power_w" in p:
                params.ev_min_discharge_power = rational(float(p["min_discharge_power_w"]))
            if "max_discharge_current_a" in p:
                params.ev_max_discharge_current = rational(float(p["max_discharge_current_a"]))
            return params

    return BenchEVController(evcc_config)


_EV_V20_LIMITS = [
    ("max_charge_power_w", "ev_max_charge_power"), ("min_charge_power_w", "ev_min_charge_power"),
    ("max_charge_current_a", "ev_max_charge_current"),
    ("min_charge_current_a", "ev_min_charge_current"),
    ("max_voltage_v", "ev_max_voltage"), ("min_voltage_v", "ev_min_voltage"),
    ("max_discharge_power_w", "ev_max_discharge_power"),
    ("min_discharge_power_w", "ev_min_discharge_power"),
    ("max_discharge_current_a", "ev_max_discharge_current"),
    ("min_discharge_current_a", "ev_min_discharge_current"),
]


async def run_evcc(rec: Recorder) -> None:
    from iso15118.evcc import Config, EVCCHandler
    from iso15118.evcc.evcc_config import EVCCConfig
    from iso15118.shared.exificient_exi_codec import ExificientEXICodec

    config = Config()
    config.load_envs()
    # Read the EV config ourselves: the package's loader falls back to defaults on any error.
    evcc_config = EVCCConfig(**SPEC["evcc_config"])
    evcc_config.load_raw_values()
    # 0.31 passes both lists through set(): restore the configured priority order
    evcc_config.supported_protocols = in_given_order(evcc_config.raw_supported_protocols,
                                                     evcc_config.supported_protocols)
    evcc_config.supported_energy_services = in_given_order(
        evcc_config.raw_supported_energy_services, evcc_config.supported_energy_services)
    rec.event("starting", iface=config.iface,
              protocols=[p.name for p in evcc_config.supported_protocols],
              energy_services=[s.name for s in evcc_config.supported_energy_services],
              energy_transfer_mode=str(evcc_config.energy_transfer_mode.value))
    await EVCCHandler(evcc_config=evcc_config, iface=config.iface,
                      exi_codec=ExificientEXICodec(),
                      ev_controller=make_ev_controller(evcc_config)).start()


# ----------------------------------------------------------------------------- main
def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: _launch.py LAUNCH_SPEC.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            SPEC.update(json.load(f))
        role = SPEC["role"]
        records_path = SPEC["records_path"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"bad launch spec {argv[1]}: {exc}", file=sys.stderr)
        return 2
    if role not in ("secc", "evcc"):
        print(f"bad launch spec {argv[1]}: role {role!r} is not 'secc' or 'evcc'", file=sys.stderr)
        return 2
    rec = Recorder(records_path, role)
    seed = int(SPEC.get("seed", 0))
    # the package's simulators draw random numbers (e.g. how often the EV answers
    # EVProcessing=Ongoing): seeded, so a session replays the same way
    random.seed(seed)
    rec.event("process", pid=os.getpid(), python=sys.version.split()[0], seed=seed)
    try:
        install_hooks(rec)
        if role == "secc":
            install_secc_hooks(rec)
            asyncio.run(run_secc(rec))
        else:
            install_evcc_hooks(rec)
            asyncio.run(run_evcc(rec))
    except KeyboardInterrupt:
        rec.event("interrupted")
        return 130
    except Exception as exc:  # reported to the bench through the records
        rec.event("crashed", error=f"{type(exc).__name__}: {exc}")
        raise SystemExit(4) from exc
    rec.event("exited")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
