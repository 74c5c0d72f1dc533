"""Driver for a CHAdeMO vehicle emulator on CAN: the bench sends the vehicle's frames.

Frames and flags: see :mod:`instruments.chademo_frames`. The vehicle frames 0x100,
0x101 and 0x102 are sent every ``period_s`` (option, default 0.1 s, the CHAdeMO cycle)
from ``plug_in`` until ``unplug``; the charger's 0x108/0x109 are decoded as they arrive.
A malformed charger frame is an instrument error naming the frame, never a reading.

Options: ``interface`` (python-can interface; ``socketcand`` with resource
``channel@host:port`` for the simulated lab), ``bitrate`` (500000 on a real bus),
``period_s``, ``status_max_age_s`` (default 1.0: older charger status is stale),
``maker``/``model``/``firmware`` (identity; the emulator has no identity frame).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from instruments import chademo_frames as cf
from instruments.contracts import CanFrame, ChademoVehicle, Identity
from instruments.registry import register_driver
from instruments.safety import LimitGuard
from instruments.transports.can_bus import CanTransport
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

log = logging.getLogger("testbench.instruments")

CAPTURE_LIMIT = 20_000
"""Frames kept in the wire record (about 10 minutes at 5 frames per 100 ms)."""


@register_driver("chademo-ev")
class ChademoEv(ChademoVehicle):
    """The bench as a CHAdeMO vehicle."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits, *,
                 bus: Any | None = None) -> None:
        self.name = spec.name
        self.resource = spec.resource
        self.timeout_s = spec.timeout_s
        self.guard = LimitGuard(spec.name, limits)
        options = dict(spec.options)
        self._names = {k: str(options[k]) for k in ("maker", "model", "firmware") if k in options}
        self.period_s = float(options.get("period_s", 0.1))  # type: ignore[arg-type]
        self.status_max_age_s = float(options.get("status_max_age_s", 1.0))  # type: ignore[arg-type]
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
        self._frames: dict[int, bytes] | None = None  # None: not plugged
        self._limits = cf.EvLimits(0, 0, 0)
        self._times = cf.EvTimes(90, 60, 40.0)
        self._request = cf.EvRequest(cf_protocol(options), 0, 0, 0, 0, 0)
        self._running = True
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"chademo-{spec.name}")
        self._reader.start()
        self._cycler = threading.Thread(target=self._cycle, daemon=True,
                                        name=f"chademo-cycle-{spec.name}")
        self._cycler.start()

    # ------------------------------------------------------------------ threads
    def _read(self) -> None:
        decoders = {cf.CHARGER_LIMITS: cf.decode_charger_limits,
                    cf.CHARGER_STATUS: cf.decode_charger_status}
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
                decode = decoders.get(frame.arbitration_id)
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

    def _cycle(self) -> None:
        while not self._stop.wait(self.period_s):
            with self._cond:
                frames = dict(self._frames) if self._frames is not None else None
            if frames is None:
                continue
            for ident, data in frames.items():
                try:
                    self._can.send(ident, data, extended=False,
                                   command=f"send vehicle frame 0x{ident:03X}")
                except InstrumentError:
                    break  # reported by the next foreground call
                with self._cond:
                    self._record(CanFrame(ident, data, False, time.time()))

    def _update(self) -> None:
        with self._cond:
            self._frames = {cf.EV_LIMITS: cf.encode_ev_limits(self._limits),
                            cf.EV_TIMES: cf.encode_ev_times(self._times),
                            cf.EV_REQUEST: cf.encode_ev_request(self._request)}

    # ------------------------------------------------------------------ readings
    def _wait(self, ident: int, command: str, accept: Any = None,
              timeout_s: float | None = None) -> Any:
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        with self._cond:
            while True:
                if self._error is not None:
                    raise InstrumentError(self.name, command, None, self._error.problem)
                if self._bad is not None and self._bad[0] == ident:
                    _, data, problem = self._bad
                    self._bad = None
                    raise InstrumentError(self.name, command, data.hex(" "),
                                          f"malformed charger frame 0x{ident:03X}: {problem}")
                latest = self._latest.get(ident)
                fresh = (latest is not None
                         and time.monotonic() - latest[0] <= self.status_max_age_s)
                if latest is not None and fresh and (accept is None or accept(latest[1])):
                    return latest[1]
                left = deadline - time.monotonic()
                if left <= 0:
                    shown = None if latest is None else repr(latest[1])
                    raise InstrumentError(self.name, command, shown,
                                          f"no {'matching ' if accept else ''}charger frame "
                                          f"0x{ident:03X} within "
                                          f"{self.timeout_s if timeout_s is None else timeout_s:g} s")
                self._cond.wait(min(left, 0.2))

    def charger_limits(self) -> cf.ChargerLimits:
        """The charger's latest 0x108 (available voltage and current)."""
        return self._wait(cf.CHARGER_LIMITS, "receive charger limits 0x108")

    def charger_status(self) -> cf.ChargerStatus:
        """The charger's latest 0x109 (present voltage, current, status flags)."""
        return self._wait(cf.CHARGER_STATUS, "receive charger status 0x109")

    def wait_status(self, accept: Any, within_s: float, what: str) -> cf.ChargerStatus:
        """The first fresh 0x109 that ``accept`` takes, within ``within_s`` wall seconds."""
        return self._wait(cf.CHARGER_STATUS, f"wait for charger status 0x109: {what}", accept,
                          within_s)

    # ------------------------------------------------------------------ vehicle
    def identify(self) -> Identity:
        return Identity(self._names.get("maker", "unknown"),
                        self._names.get("model", "CHAdeMO vehicle emulator (CAN)"),
                        self.resource, self._names.get("firmware", "unknown"))

    def plug_in(self, max_battery_v: int, target_v: int, capacity_kwh: float,
                soc_pct: int) -> None:
        command = "send vehicle frames 0x100-0x102 (plug in)"
        self.guard.voltage(command, target_v)  # the output follows the target, not the maximum
        if not 0 < target_v <= max_battery_v:
            raise InstrumentError(self.name, command, None,
                                  f"target voltage {target_v} V must be in 1..{max_battery_v} V "
                                  "(the battery maximum); nothing sent")
        self._limits = cf.EvLimits(0, max(0, target_v - 100), max_battery_v)
        self._times = cf.EvTimes(90, 60, capacity_kwh)
        self._request = cf.EvRequest(self._request.protocol, target_v, 0, 0, 0, soc_pct)
        self._update()

    def request_current_a(self, current_a: int) -> None:
        command = "send vehicle request 0x102"
        self.guard.current(command, current_a)
        if self._frames is None:
            raise InstrumentError(self.name, command, None, "the vehicle is not plugged in; "
                                  "call plug_in first")
        if not 0 <= current_a <= 255:
            raise InstrumentError(self.name, command, None,
                                  f"current request {current_a} A must be 0..255 A; nothing sent")
        r = self._request
        self._request = cf.EvRequest(r.protocol, r.target_v, current_a, r.fault_flags,
                                     cf.EV_CHARGING_ENABLED, r.soc_pct)
        self._update()

    def request_stop(self) -> None:
        if self._frames is None:
            return
        r = self._request
        self._request = cf.EvRequest(r.protocol, r.target_v, 0, r.fault_flags,
                                     cf.EV_STOP_REQUEST | cf.EV_CONTACTOR_OPEN, r.soc_pct)
        self._update()

    def unplug(self) -> None:
        with self._cond:
            self._frames = None

    def capture(self) -> list[CanFrame]:
        with self._cond:
            return list(self._capture)

    def safe_state(self) -> None:
        """Stop request; wait (up to the timeout) for the charger's current to reach 0;
        then unplug in any case (a charger must cut its output when the vehicle's frames
        stop). A charger that kept delivering is logged, not raised: the safe state is
        reached by unplugging, and the checks judge the charger."""
        if self._frames is None:
            return
        self.request_stop()
        try:
            self.wait_status(lambda s: s.present_current_a == 0 and not s.energising,
                             self.timeout_s, "current 0 and not energising after stop")
        except InstrumentError as exc:
            log.warning("%s: the charger did not stop on the vehicle's stop request (%s); "
                        "unplugging", self.name, exc.problem)
        finally:
            self.unplug()

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
                    if frame.arbitration_id in cf.CHARGER_FRAMES:
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


def cf_protocol(options: dict[str, Any]) -> int:
    """The CHAdeMO protocol number the vehicle announces (option ``protocol``, default 2)."""
    value = options.get("protocol", 2)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError(f"options.protocol = {value!r} must be a number 0..255")
    return value
