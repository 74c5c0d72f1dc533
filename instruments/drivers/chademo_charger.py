"""Driver for a CHAdeMO charger emulator on CAN: the bench sends the charger's frames.

Frames and flags: see :mod:`instruments.chademo_frames`. From ``connect`` until
``disconnect`` the charger frames 0x108 and 0x109 are sent every ``period_s`` (option,
default 0.1 s, the CHAdeMO cycle); the vehicle's 0x100/0x101/0x102 are decoded as they
arrive. A malformed vehicle frame is an instrument error naming the frame, never a reading.

What 0x109 reports: before ``energise`` the stop-control flag is set (not ready) and the
present current is 0; once energised the present current follows the vehicle's latest
request, capped at the announced available current (the emulator states what it would
deliver; with a real EV the DC power comes from the station's DC source). After
``stop_charging`` the stop-control flag is set and the output de-energises once the
vehicle's request is 0. ``set_malfunction`` sets the malfunction flag alone, so the
vehicle's reaction to the flag is what shows on the wire.

Options: ``interface`` (python-can interface; ``socketcand`` with resource
``channel@host:port`` for the simulated lab), ``bitrate`` (500000 on a real bus (verify)),
``period_s``, ``request_max_age_s`` (default 1.0: an older vehicle request is stale),
``protocol`` (CHAdeMO protocol number announced, default 2), ``maker``/``model``/``firmware``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from instruments import chademo_frames as cf
from instruments.contracts import CanFrame, ChademoChargerEmulator, Identity
from instruments.drivers.chademo_ev import cf_protocol
from instruments.registry import register_driver
from instruments.safety import LimitGuard
from instruments.transports.can_bus import CanTransport
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

log = logging.getLogger("testbench.instruments")

CAPTURE_LIMIT = 20_000
"""Frames kept in the wire record (about 10 minutes at 5 frames per 100 ms)."""

SAFE_STOP_CYCLES = 5
"""Cycles of "stopping, 0 A" sent by ``safe_state`` before the emulator falls silent."""

DECODERS: dict[int, Callable[[bytes], Any]] = {cf.EV_LIMITS: cf.decode_ev_limits,
                                                cf.EV_TIMES: cf.decode_ev_times,
                                                cf.EV_REQUEST: cf.decode_ev_request}


@register_driver("chademo-charger")
class ChademoCharger(ChademoChargerEmulator):
    """The bench as a CHAdeMO charger."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits, *,
                 bus: Any | None = None) -> None:
        self.name = spec.name
        self.resource = spec.resource
        self.timeout_s = spec.timeout_s
        self.guard = LimitGuard(spec.name, limits)
        options = dict(spec.options)
        self._names = {k: str(options[k]) for k in ("maker", "model", "firmware") if k in options}
        self.period_s = float(options.get("period_s", 0.1))  # type: ignore[arg-type]
        self.request_max_age_s = float(options.get("request_max_age_s", 1.0))  # type: ignore[arg-type]
        self.protocol = cf_protocol(options)
        bitrate = options.get("bitrate")
        self._can = CanTransport(spec.name, spec.resource,
                                 interface=str(options.get("interface", "socketcan")),
                                 bitrate=int(bitrate) if bitrate is not None else None,  # type: ignore[call-overload]
                                 timeout_s=spec.timeout_s, bus=bus)
        self._cond = threading.Condition()
        self._capture: list[CanFrame] = []
        self._latest: dict[int, tuple[float, Any]] = {}
        self._bad: tuple[int, bytes, str] | None = None
        self._error: InstrumentError | None = None
        self._sending = False
        self._available_v = 0
        self._available_a = 0
        self._present_v = 0
        self._stage = "idle"  # idle, ready, energising, stopping
        self._malfunction = False
        self._running = True
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"chademo-charger-{spec.name}")
        self._reader.start()
        self._cycler = threading.Thread(target=self._cycle, daemon=True,
                                        name=f"chademo-charger-cycle-{spec.name}")
        self._cycler.start()

    # ------------------------------------------------------------------ threads
    def _read(self) -> None:
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
                             message.is_extended_id, time.time())
            with self._cond:
                self._record(frame)
                decode = DECODERS.get(frame.arbitration_id)
                if decode is None or frame.is_extended_id:
                    continue
                try:
                    self._latest[frame.arbitration_id] = (time.monotonic(), decode(frame.data))
                except cf.FrameError as exc:
                    self._bad = (frame.arbitration_id, frame.data, str(exc))
                self._cond.notify_all()

    def _record(self, frame: CanFrame) -> None:
        self._capture.append(frame)
        if len(self._capture) > CAPTURE_LIMIT:
            del self._capture[:len(self._capture) - CAPTURE_LIMIT]

    def _requested_a(self) -> int:
        """The vehicle's fresh current request (0 when none, stale or charging disabled)."""
        latest = self._latest.get(cf.EV_REQUEST)
        if latest is None or time.monotonic() - latest[0] > self.request_max_age_s:
            return 0
        request: cf.EvRequest = latest[1]
        if not request.charging_enabled or request.stop_requested:
            return 0
        return request.current_request_a

    def frames(self) -> list[tuple[int, bytes]]:
        """The charger's 0x108 and 0x109 payloads now (advances a stop to de-energised)."""
        with self._cond:
            present_a = 0
            if self._stage in ("energising", "stopping"):
                present_a = min(self._requested_a(), self._available_a)
                if self._stage == "stopping" and present_a == 0:
                    self._stage = "ready"
            flags = cf.CHARGER_MALFUNCTION if self._malfunction else 0
            if self._stage in ("energising", "stopping"):
                flags |= cf.CHARGER_ENERGISING | cf.CHARGER_LOCKED
            if self._stage != "energising":
                flags |= cf.CHARGER_STOPPING
            volts = self._present_v if self._stage in ("energising", "stopping") else 0
            limits = cf.ChargerLimits(True, self._available_v, self._available_a,
                                      max(0, self._available_v - 10))
            status = cf.ChargerStatus(self.protocol, volts, present_a, flags,
                                      60 if self._stage == "energising" else 0)
        return [(cf.CHARGER_LIMITS, cf.encode_charger_limits(limits)),
                (cf.CHARGER_STATUS, cf.encode_charger_status(status))]

    def _cycle(self) -> None:
        while not self._stop.wait(self.period_s):
            with self._cond:
                sending = self._sending
            if sending:
                self._send_cycle()

    def _send_cycle(self) -> None:
        for ident, data in self.frames():
            try:
                self._can.send(ident, data, extended=False,
                               command=f"send charger frame 0x{ident:03X}")
            except InstrumentError:
                return  # reported by the next foreground call
            with self._cond:
                self._record(CanFrame(ident, data, False, time.time()))

    # ------------------------------------------------------------------ readings
    def _wait(self, ident: int, command: str, accept: Any = None,
              timeout_s: float | None = None) -> Any:
        limit_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit_s
        with self._cond:
            while True:
                if self._error is not None:
                    raise InstrumentError(self.name, command, None, self._error.problem)
                if self._bad is not None and self._bad[0] == ident:
                    _, data, problem = self._bad
                    self._bad = None
                    raise InstrumentError(self.name, command, data.hex(" "),
                                          f"malformed vehicle frame 0x{ident:03X}: {problem}")
                latest = self._latest.get(ident)
                fresh = (latest is not None
                         and time.monotonic() - latest[0] <= self.request_max_age_s)
                if latest is not None and fresh and (accept is None or accept(latest[1])):
                    return latest[1]
                left = deadline - time.monotonic()
                if left <= 0:
                    shown = None if latest is None else repr(latest[1])
                    raise InstrumentError(self.name, command, shown,
                                          f"no {'matching ' if accept else ''}vehicle frame "
                                          f"0x{ident:03X} within {limit_s:g} s")
                self._cond.wait(min(left, 0.2))

    def vehicle_limits(self) -> cf.EvLimits:
        """The vehicle's latest 0x100 (minimum current, battery voltage limits)."""
        return self._wait(cf.EV_LIMITS, "receive vehicle limits 0x100")

    def vehicle_times(self) -> cf.EvTimes:
        """The vehicle's latest 0x101 (charging time limits, battery capacity)."""
        return self._wait(cf.EV_TIMES, "receive vehicle times 0x101")

    def vehicle_request(self) -> cf.EvRequest:
        """The vehicle's latest 0x102 (target voltage, current request, flags, SoC)."""
        return self._wait(cf.EV_REQUEST, "receive vehicle request 0x102")

    def wait_request(self, accept: Any, within_s: float, what: str) -> cf.EvRequest:
        """The first fresh 0x102 that ``accept`` takes, within ``within_s`` wall seconds."""
        return self._wait(cf.EV_REQUEST, f"wait for vehicle request 0x102: {what}", accept,
                          within_s)

    # ------------------------------------------------------------------ charger
    def identify(self) -> Identity:
        return Identity(self._names.get("maker", "unknown"),
                        self._names.get("model", "CHAdeMO charger emulator (CAN)"),
                        self.resource, self._names.get("firmware", "unknown"))

    def _check_limits(self, command: str, available_v: int, available_a: int) -> None:
        self.guard.voltage(command, available_v)
        self.guard.current(command, available_a)
        if not 0 <= available_v <= 0xFFFF or not 0 <= available_a <= 255:
            raise InstrumentError(self.name, command, None,
                                  f"available {available_v} V / {available_a} A must be "
                                  "0..65535 V and 0..255 A; nothing sent")

    def connect(self, available_v: int, available_current_a: int) -> None:
        command = "send charger frames 0x108/0x109 (connect)"
        self._check_limits(command, available_v, available_current_a)
        with self._cond:
            self._available_v, self._available_a = available_v, available_current_a
            self._stage, self._malfunction, self._present_v = "ready", False, 0
            self._sending = True

    def set_available_current_a(self, current_a: int) -> None:
        command = "send charger limits 0x108"
        self._check_limits(command, self._available_v, current_a)
        with self._cond:
            self._available_a = current_a

    def energise(self, present_v: int) -> None:
        command = "send charger status 0x109 (energise)"
        self.guard.voltage(command, present_v)
        with self._cond:
            if not self._sending:
                raise InstrumentError(self.name, command, None,
                                      "the charger is not connected; call connect first")
            if not 0 < present_v <= self._available_v:
                raise InstrumentError(self.name, command, None,
                                      f"present voltage {present_v} V must be in "
                                      f"1..{self._available_v} V (the available voltage)")
            self._present_v, self._stage = present_v, "energising"

    def set_malfunction(self, on: bool = True) -> None:
        with self._cond:
            self._malfunction = on

    def stop_charging(self) -> None:
        with self._cond:
            if self._stage == "energising":
                self._stage = "stopping"

    def disconnect(self) -> None:
        with self._cond:
            self._sending = False
            self._stage = "idle"

    def capture(self) -> list[CanFrame]:
        with self._cond:
            return list(self._capture)

    def safe_state(self) -> None:
        """Stop delivering: present current 0, stop control, not energising, for a few
        cycles; then silence (a vehicle ends its session when the charger's frames stop)."""
        with self._cond:
            if not self._sending:
                return
            self._stage = "ready"
        try:
            for _ in range(SAFE_STOP_CYCLES):
                self._send_cycle()
                self._stop.wait(self.period_s)
        finally:
            self.disconnect()

    # ------------------------------------------------------------------ CAN node
    def send(self, arbitration_id: int, data: bytes, extended: bool = False) -> None:
        self._can.send(arbitration_id, data, extended)
        with self._cond:
            self._record(CanFrame(arbitration_id, bytes(data), extended, time.time()))

    def receive(self, timeout_s: float) -> CanFrame | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            seen = len(self._capture)
            while time.monotonic() < deadline:
                for frame in self._capture[seen:]:
                    if frame.arbitration_id in cf.EV_FRAMES:
                        return frame
                seen = len(self._capture)
                self._cond.wait(max(0.0, min(0.2, deadline - time.monotonic())))
        return None

    def close(self) -> None:
        self._running = False
        self._stop.set()
        self._reader.join(1.0)
        self._cycler.join(1.0)
        self._can.close()
