"""Driver for a CCS EV-side charge controller on CAN (the bench plays the vehicle / BMS).

Extended ids; byte layouts are this driver's choice, little-endian, all (verify) against
the controller firmware in use:

    0x1000 ChargeInfo      controller -> bench, 8 bytes, cyclic
        b0 CP state on the line, ASCII A..F     b1 EV-side resistor selected, ASCII A..E
        b2-3 PWM duty, uint16, 0.1 %           b4 CP top voltage, int8, 0.1 V
        b5 CP bottom voltage, int8, 0.1 V      b6 charge stage (0 idle, 1 plugged, 2 PWM
        charging, 3 HLC, 4 precharge, 5 charging, 6 stopping)   b7 bit0 PWM on
    0x1300 EV DC limits    bench -> controller: b0-1 max voltage uint16 0.1 V, b2-3 max
        current uint16 0.1 A, b4-5 max power uint16 10 W, b6 SoC %
    0x1301 EV DC targets   bench -> controller: b0-1 target voltage uint16 0.1 V, b2-3
        target current uint16 0.1 A
    0x1302 status/control  bench -> controller, cyclic: b0 requested EV-side CP state
        ASCII A..E, b1 bit0 charge enable, bit1 contactors closed, bit2 stop request,
        b2 SoC %
    0x1304 plug status     controller -> bench: b0 plug present, b1 inlet lock (0 unlocked,
        1 locked, 2 fault), b2-3 PP resistance uint16 ohm (0xFFFF open)
    0x1402 EVSE DC status  controller -> bench: b0-1 present voltage uint16 0.1 V, b2-3
        present current int16 0.1 A, b4-5 max current uint16 0.1 A, b6 status (0 not
        ready, 1 ready, 2 shutdown, 3 emergency stop)

CHAdeMO (for a later driver) uses standard ids 0x100-0x102 (vehicle) and 0x108-0x109
(charger) instead.

Options: ``interface`` (python-can interface: ``socketcan``, ``virtual``, ``socketcand``
with resource ``channel@host:port``...), ``bitrate``, ``control_period_s`` (cycle of the
0x1302 frame, default 0.1; 0 sends it only on change), ``status_max_age_s`` (default 1.0).
"""

from __future__ import annotations

import math
import queue
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from instruments.contracts import CanFrame, CanNode, EVEmulator, Identity
from instruments.registry import register_driver
from instruments.safety import LimitGuard
from instruments.transports.can_bus import CanTransport
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

CHARGE_INFO, EV_DC_LIMITS, EV_DC_TARGETS, EV_CONTROL = 0x1000, 0x1300, 0x1301, 0x1302
PLUG_STATUS, EVSE_DC_STATUS = 0x1304, 0x1402
EV_STATES = ("A", "B", "C", "D", "E")
FLAG_CHARGE_ENABLE, FLAG_CONTACTORS, FLAG_STOP = 1, 2, 4


@dataclass(frozen=True)
class ChargeInfo:
    """Decoded 0x1000."""

    cp_state: str
    ev_state: str
    duty_pct: float
    cp_high_v: float
    cp_low_v: float
    stage: int
    pwm: bool


@dataclass(frozen=True)
class PlugStatus:
    """Decoded 0x1304."""

    plugged: bool
    lock: int
    pp_ohm: float


@dataclass(frozen=True)
class EvseDcStatus:
    """Decoded 0x1402: what the charger reports about its DC output."""

    voltage_v: float
    current_a: float
    max_current_a: float
    status: int


# ------------------------------------------------------------------ codec
def encode_control(ev_state: str, charge_enable: bool, contactors: bool = False,
                   stop: bool = False, soc_pct: int = 0) -> bytes:
    flags = ((FLAG_CHARGE_ENABLE if charge_enable else 0) | (FLAG_CONTACTORS if contactors else 0)
             | (FLAG_STOP if stop else 0))
    return struct.pack("<cBB5x", ev_state.encode("ascii"), flags, soc_pct)


def encode_limits(max_voltage_v: float, max_current_a: float, max_power_w: float,
                  soc_pct: int = 0) -> bytes:
    return struct.pack("<HHHBx", round(max_voltage_v * 10), round(max_current_a * 10),
                       round(max_power_w / 10), soc_pct)


def encode_targets(voltage_v: float, current_a: float) -> bytes:
    return struct.pack("<HH4x", round(voltage_v * 10), round(current_a * 10))


def decode_charge_info(data: bytes) -> ChargeInfo | None:
    if len(data) != 8:
        return None
    cp, ev, duty, high, low, stage, flags = struct.unpack("<ccHbbBB", data)
    cp_state, ev_state = cp.decode("latin-1"), ev.decode("latin-1")
    if cp_state not in "ABCDEF" or ev_state not in "ABCDE" or duty > 1000:
        return None
    return ChargeInfo(cp_state, ev_state, duty / 10, high / 10, low / 10, stage, bool(flags & 1))


def decode_plug_status(data: bytes) -> PlugStatus | None:
    if len(data) < 4 or data[0] > 1 or data[1] > 2:
        return None
    pp = struct.unpack_from("<H", data, 2)[0]
    return PlugStatus(bool(data[0]), data[1], math.inf if pp == 0xFFFF else float(pp))


def decode_evse_dc(data: bytes) -> EvseDcStatus | None:
    if len(data) < 7 or data[6] > 3:
        return None
    voltage, current, max_current, status = struct.unpack_from("<HhHB", data)
    return EvseDcStatus(voltage / 10, current / 10, max_current / 10, status)


_DECODERS = {CHARGE_INFO: ("ChargeInfo", decode_charge_info),
             PLUG_STATUS: ("plug status", decode_plug_status),
             EVSE_DC_STATUS: ("EVSE DC status", decode_evse_dc)}


@register_driver("ccs-can")
class CcsCanController(EVEmulator, CanNode):
    """The bench as the vehicle behind a CCS EV-side controller on CAN."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits, *,
                 bus: Any | None = None) -> None:
        self.name = spec.name
        self.resource = spec.resource
        self.timeout_s = spec.timeout_s
        self.guard = LimitGuard(spec.name, limits)
        self.ev_id: str | None = None
        options = dict(spec.options)
        self._names = {k: str(options[k]) for k in ("maker", "model", "firmware") if k in options}
        self.interface = str(options.get("interface", "socketcan"))
        self.control_period_s = float(options.get("control_period_s", 0.1))  # type: ignore[arg-type]
        self.status_max_age_s = float(options.get("status_max_age_s", 1.0))  # type: ignore[arg-type]
        bitrate = options.get("bitrate")
        self._can = CanTransport(spec.name, spec.resource, interface=self.interface,
                                 bitrate=int(bitrate) if bitrate is not None else None,  # type: ignore[call-overload]
                                 timeout_s=spec.timeout_s, bus=bus)
        self._cond = threading.Condition()
        self._latest: dict[int, tuple[int, float, Any]] = {}  # id -> (seq, monotonic, decoded)
        self._bad: dict[int, tuple[int, float, bytes]] = {}
        self._seq = 0
        self._command_seq = 0  # frames up to here predate the last command sent
        self._error: InstrumentError | None = None
        self._frames: queue.Queue[CanFrame] = queue.Queue(maxsize=1000)
        self._control = encode_control("A", False)
        self._running = True
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_frames, daemon=True,
                                        name=f"ccs-can-{spec.name}")
        self._reader.start()
        self._cycler: threading.Thread | None = None
        if self.control_period_s > 0:
            self._cycler = threading.Thread(target=self._cycle_control, daemon=True,
                                            name=f"ccs-can-ctl-{spec.name}")
            self._cycler.start()

    # ------------------------------------------------------------------ threads
    def _read_frames(self) -> None:
        while self._running:
            try:
                message = self._can.recv(0.2)
            except InstrumentError as exc:
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            if message is None:
                continue
            frame = CanFrame(message.arbitration_id, bytes(message.data),
                             message.is_extended_id, message.timestamp)
            if self._frames.full():
                try:
                    self._frames.get_nowait()
                except queue.Empty:
                    pass
            self._frames.put_nowait(frame)
            if not message.is_extended_id or message.arbitration_id not in _DECODERS:
                continue
            decoded = _DECODERS[message.arbitration_id][1](frame.data)
            with self._cond:
                self._seq += 1
                if decoded is None:
                    self._bad[message.arbitration_id] = (self._seq, time.monotonic(), frame.data)
                else:
                    self._latest[message.arbitration_id] = (self._seq, time.monotonic(), decoded)
                self._cond.notify_all()

    def _cycle_control(self) -> None:
        while not self._stop.wait(self.control_period_s):
            try:
                self._can.send(EV_CONTROL, self._control, command="send status/control 0x1302")
            except InstrumentError:
                continue  # reported by the next foreground call

    # ------------------------------------------------------------------ waiting
    def _wait(self, frame_id: int, command: str, after_seq: int | None = None,
              accept: Any = None) -> Any:
        """Decoded frame ``frame_id``: fresh latest, or the next one after ``after_seq``."""
        name = _DECODERS[frame_id][0]
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            while True:
                if self._error is not None:
                    raise InstrumentError(self.name, command, None, self._error.problem)
                latest = self._latest.get(frame_id)
                bad = self._bad.get(frame_id)
                good_seq = latest[0] if latest else 0
                if bad is not None and bad[0] > good_seq and (
                        bad[0] > after_seq if after_seq is not None
                        else time.monotonic() - bad[1] <= self.status_max_age_s):
                    raise InstrumentError(self.name, command, bad[2].hex(" "),
                                          f"malformed {name} frame 0x{frame_id:X} (wrong length "
                                          "or values out of range)")
                if latest is not None:
                    seq, at, decoded = latest
                    fresh = (seq > after_seq if after_seq is not None
                             else seq > self._command_seq
                             and time.monotonic() - at <= self.status_max_age_s)
                    if fresh and (accept is None or accept(decoded)):
                        if accept is not None:
                            # The device confirmed the command: later readings must not
                            # come from frames it sent before this one.
                            self._command_seq = max(self._command_seq, seq - 1)
                        return decoded
                left = deadline - time.monotonic()
                if left <= 0:
                    shown = None if latest is None else repr(latest[2])
                    raise InstrumentError(self.name, command, shown,
                                          f"no {'matching ' if accept else ''}{name} frame "
                                          f"0x{frame_id:X} within {self.timeout_s:g} s")
                self._cond.wait(min(left, 0.2))

    def charge_info(self) -> ChargeInfo:
        """The latest ChargeInfo (0x1000)."""
        return self._wait(CHARGE_INFO, "receive ChargeInfo 0x1000")

    def plug_status(self) -> PlugStatus:
        """The latest plug status (0x1304)."""
        return self._wait(PLUG_STATUS, "receive plug status 0x1304")

    def evse_dc_status(self) -> EvseDcStatus:
        """The latest EVSE DC status (0x1402)."""
        return self._wait(EVSE_DC_STATUS, "receive EVSE DC status 0x1402")

    # ------------------------------------------------------------------ EV emulator
    def identify(self) -> Identity:
        """The controller has no identity frame: a ChargeInfo proves it is alive; the
        names come from options ``maker``, ``model``, ``firmware``."""
        self.charge_info()
        return Identity(self._names.get("maker", "unknown"),
                        self._names.get("model", "CCS EV-side controller (CAN)"),
                        self.resource, self._names.get("firmware", "unknown"))

    def select_ev(self, ev_id: str) -> None:
        """Record which vehicle the bench plays (limits come from set_dc_limits)."""
        self.ev_id = ev_id

    def set_cp_state(self, state: str) -> None:
        """Request an EV-side CP state (C/D also enable charging) and wait for ChargeInfo."""
        if state not in EV_STATES:
            raise InstrumentError(self.name, "send status/control 0x1302", None,
                                  f"EV-side CP state must be one of {', '.join(EV_STATES)}; "
                                  "nothing sent")
        with self._cond:
            after = self._seq
        self._send_control(encode_control(state, charge_enable=state in ("C", "D")))
        self._wait(CHARGE_INFO, f"send status/control 0x1302 (state {state})", after,
                   accept=lambda info: info.ev_state == state)

    def _sent(self, arbitration_id: int, data: bytes, command: str) -> None:
        """Send a command frame; later readings must come from frames received after it."""
        with self._cond:
            self._command_seq = self._seq
        self._can.send(arbitration_id, data, command=command)

    def _send_control(self, data: bytes) -> None:
        self._control = data
        self._sent(EV_CONTROL, data, "send status/control 0x1302")

    def cp_state(self) -> str:
        info = self.charge_info()
        if info.cp_state in "ABCD":
            return info.cp_state + ("2" if info.pwm else "1")
        return info.cp_state

    def duty_cycle_pct(self) -> float:
        return self.charge_info().duty_pct

    def current_a(self) -> float:
        """DC current the charger reports (0x1402); not measured by the bench."""
        return self.evse_dc_status().current_a

    def set_dc_limits(self, max_voltage_v: float, max_current_a: float, max_power_w: float,
                      soc_pct: int = 0) -> None:
        """Send the EV's maximum DC limits (0x1300), checked against the station limits."""
        command = "send EV DC limits 0x1300"
        self.guard.voltage(command, max_voltage_v)
        self.guard.current(command, max_current_a)
        self.guard.power(command, max_power_w)
        self._sent(EV_DC_LIMITS, encode_limits(max_voltage_v, max_current_a, max_power_w,
                                               soc_pct), command)

    def set_dc_targets(self, voltage_v: float, current_a: float) -> None:
        """Send the EV's DC target voltage and current (0x1301), checked first."""
        command = "send EV DC targets 0x1301"
        self.guard.voltage(command, voltage_v)
        self.guard.current(command, current_a)
        if voltage_v < 0 or current_a < 0:
            raise InstrumentError(self.name, command, None, "targets must be >= 0; nothing sent")
        self._sent(EV_DC_TARGETS, encode_targets(voltage_v, current_a), command)

    def safe_state(self) -> None:
        """Targets to zero, stop request, EV-side state A (unplugged), confirmed."""
        self._sent(EV_DC_TARGETS, encode_targets(0, 0), "send EV DC targets 0x1301")
        with self._cond:
            after = self._seq
        self._send_control(encode_control("A", charge_enable=False, stop=True))
        self._wait(CHARGE_INFO, "send status/control 0x1302 (state A, stop)", after,
                   accept=lambda info: info.ev_state == "A")

    # ------------------------------------------------------------------ CAN node
    def send(self, arbitration_id: int, data: bytes, extended: bool = False) -> None:
        self._can.send(arbitration_id, data, extended)

    def receive(self, timeout_s: float) -> CanFrame | None:
        try:
            return self._frames.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._running = False
        self._stop.set()
        self._reader.join(1.0)
        if self._cycler is not None:
            self._cycler.join(1.0)
        self._can.close()
