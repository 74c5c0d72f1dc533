"""Twin of a CCS EV-side charge controller on CAN (see ``instruments.drivers.ccs_can``).

It listens for the vehicle's frames (0x1300 EV DC limits, 0x1301 DC targets, 0x1302
status/control), drives the EV side of a :class:`PilotLine` and a DC charger model, and
sends ChargeInfo (0x1000), plug status (0x1304) and EVSE DC status (0x1402) every
``period_s``. It joins any python-can bus; across processes pair it with
:class:`instruments.twins.socketcand.SocketcandServer` on a ``virtual`` channel.

Byte layouts (little-endian, extended ids) are written here independently of the driver,
so a mismatch between the two shows up in the tests.

Faults: ``silent`` (no frames sent, frames ignored), ``garbage`` (ChargeInfo frames of the
wrong length with impossible values), ``disconnect`` (the node goes bus-off: as silent
from the bus; to cut a bench's TCP link use ``SocketcandServer.drop_clients()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from dataclasses import dataclass
from typing import Protocol

import can

from instruments.twins.lifecycle import leave_bus, stop_task
from instruments.twins.serial_cp import PilotLine, SimplePilot

CHARGE_INFO, EV_DC_LIMITS, EV_DC_TARGETS, EV_CONTROL = 0x1000, 0x1300, 0x1301, 0x1302
PLUG_STATUS, EVSE_DC_STATUS = 0x1304, 0x1402
FAULTS = ("silent", "garbage", "disconnect")
_TOP_V = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0, "F": -12.0}


class DcChargerSide(Protocol):
    """The DC output of the charger the controller talks to (over HLC in reality)."""

    def request(self, voltage_v: float, current_a: float, enable: bool) -> None:
        """The EV's request: target voltage and current, and whether to deliver at all."""

    def present(self) -> tuple[float, float]:
        """(voltage_v, current_a) the charger delivers now."""

    def max_current_a(self) -> float:
        """The charger's maximum current."""


@dataclass
class SimpleDcCharger:
    """A charger that follows the EV's targets within its limits (tests, stand-alone)."""

    limit_a: float = 200.0
    limit_v: float = 920.0
    voltage_v: float = 0.0
    current_a: float = 0.0

    def request(self, voltage_v: float, current_a: float, enable: bool) -> None:
        if enable:
            self.voltage_v = min(voltage_v, self.limit_v)
            self.current_a = min(current_a, self.limit_a)
        else:
            self.voltage_v = self.current_a = 0.0

    def present(self) -> tuple[float, float]:
        return self.voltage_v, self.current_a

    def max_current_a(self) -> float:
        return self.limit_a


class CcsCanTwin:
    """A CCS EV-side controller twin on a python-can bus."""

    def __init__(self, pilot: PilotLine | None = None, charger: DcChargerSide | None = None,
                 period_s: float = 0.1) -> None:
        self.pilot: PilotLine = pilot if pilot is not None else SimplePilot()
        self.charger: DcChargerSide = charger if charger is not None else SimpleDcCharger()
        self.period_s = period_s
        self.ev_state = "A"
        self.charge_enable = False
        self.stop_requested = False
        self.ev_limits = (0.0, 0.0, 0.0)
        self.targets = (0.0, 0.0)
        self.fault: str | None = None
        self.received: list[can.Message] = []
        self._bus: can.BusABC | None = None
        self._notifier: can.Notifier | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_request_s = time.monotonic()  # when a frame last arrived (watchdog.py)

    def safe_state(self) -> None:
        """Watchdog safe state: EV state A, charging disabled, no DC requested."""
        self.ev_state = "A"
        self.charge_enable = False
        self.stop_requested = True
        self.targets = (0.0, 0.0)
        self.pilot.set_ev_state("A")
        self.charger.request(0.0, 0.0, False)
        self._send_status()

    @property
    def energised(self) -> bool:
        """True while the EV is plugged, charging is enabled or DC current flows."""
        voltage_v, current_a = self.charger.present()
        return self.ev_state != "A" or self.charge_enable or current_a > 0 or voltage_v > 0

    def set_fault(self, fault: str | None) -> None:
        """Switch a fault on (``silent``, ``garbage``, ``disconnect``) or off (None)."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown CAN twin fault {fault!r}; known: {', '.join(FAULTS)}")
        self.fault = fault

    # ------------------------------------------------------------------ receive
    def _on_message(self, message: can.Message) -> None:
        self.last_request_s = time.monotonic()
        if self.fault in ("silent", "disconnect") or not message.is_extended_id:
            return
        data = bytes(message.data)
        self.received.append(message)
        if message.arbitration_id == EV_CONTROL and len(data) >= 3:
            state = chr(data[0])
            if state in "ABCDE":
                self.ev_state = state
                self.pilot.set_ev_state(state)
            self.charge_enable = bool(data[1] & 1)
            self.stop_requested = bool(data[1] & 4)
        elif message.arbitration_id == EV_DC_LIMITS and len(data) >= 6:
            v, i, p = struct.unpack_from("<HHH", data)
            self.ev_limits = (v / 10, i / 10, p * 10.0)
        elif message.arbitration_id == EV_DC_TARGETS and len(data) >= 4:
            v, i = struct.unpack_from("<HH", data)
            self.targets = (v / 10, i / 10)
        else:
            return
        self._drive_charger()
        self._send_status()  # answer promptly, not only on the next cycle

    def _drive_charger(self) -> None:
        max_v, max_i, _ = self.ev_limits
        target_v, target_i = self.targets
        enable = (self.charge_enable and not self.stop_requested
                  and self.ev_state in ("C", "D"))
        self.charger.request(min(target_v, max_v) if max_v else target_v,
                             min(target_i, max_i) if max_i else target_i, enable)

    # ------------------------------------------------------------------ send
    def _frames(self) -> list[tuple[int, bytes]]:
        line = self.pilot.pilot_state()
        letter = line[0]
        pwm = line.endswith("2")
        duty = self.pilot.duty_cycle_pct()
        top = _TOP_V.get(letter, 0.0)
        low = -12.0 if pwm or letter == "F" else top
        stage = 0 if self.ev_state == "A" else (5 if self.charger.present()[1] > 0 else 1)
        info = struct.pack("<ccHbbBB", letter.encode(), self.ev_state.encode(),
                           round(duty * 10), round(top * 10), round(low * 10), stage,
                           1 if pwm else 0)
        if self.fault == "garbage":
            info = b"\xff\x00\xff"
        plugged = self.ev_state != "A"
        plug = struct.pack("<BBH4x", 1 if plugged else 0, 1 if self.charge_enable else 0,
                           1500 if plugged else 0xFFFF)
        voltage_v, current_a = self.charger.present()
        evse = struct.pack("<HhHBx", round(voltage_v * 10), round(current_a * 10),
                           round(self.charger.max_current_a() * 10), 1)
        return [(CHARGE_INFO, info), (PLUG_STATUS, plug), (EVSE_DC_STATUS, evse)]

    def _send_status(self) -> None:
        if self.fault in ("silent", "disconnect") or self._bus is None:
            return
        for ident, data in self._frames():
            with contextlib.suppress(can.CanError):
                self._bus.send(can.Message(arbitration_id=ident, data=data, is_extended_id=True))

    async def _tick(self) -> None:
        while True:
            self._send_status()
            await asyncio.sleep(self.period_s)

    # ------------------------------------------------------------------ lifecycle
    async def start(self, interface: str = "virtual", channel: str = "testbench-ccs",
                    **bus_kwargs: object) -> None:
        """Join the bus (python-can ``interface`` / ``channel``) and start sending."""
        self._loop = asyncio.get_running_loop()
        self._bus = can.Bus(interface=interface, channel=channel, **bus_kwargs)
        loop = self._loop
        self._notifier = can.Notifier(
            self._bus, [lambda m: loop.call_soon_threadsafe(self._on_message, m)],
            timeout=0.05)
        self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        """Stop sending and leave the bus."""
        await stop_task(self._ticker)
        leave_bus(self._notifier, self._bus)
        self._ticker, self._notifier, self._bus = None, None, None
