"""A simulated CHAdeMO vehicle on CAN (hosted for driver ``chademo-charger``).

The bench plays the charger: it sends 0x108/0x109 and reads the vehicle's
0x100/0x101/0x102. This module is the vehicle's CHAdeMO controller: it joins an
in-process ``virtual`` CAN channel (served to the bench by a socketcand bridge, as the
other CAN twins are) and sends its frames every 100 lab ms from the moment it is hosted
(the vehicle is plugged in):

* 0x100/0x101 carry the battery limits from the lab's EV entry (maximum current,
  capacity ``battery_kwh``; battery voltages ``MAX_BATTERY_V`` / ``TARGET_V``);
* charging is enabled (0x102 bit 0) only once the charger's 0x108 and 0x109 have arrived
  and its available voltage reaches the target; the current request stays 0 until the
  charger shows energising, then ramps at ``RAMP_A_PER_S`` towards the EV's maximum,
  never above the charger's latest available current; the SoC rises with the present
  current the charger reports;
* on the charger's malfunction flags (0x109 bit 1 or 4), or its stop-control flag
  (bit 5) once energised, the vehicle stops: request 0, charging disabled, normal-stop
  flag; the contactor-open flag follows once the current is 0. A change of the charger's
  flags or available current is answered at once (a frame out of cycle), not a cycle later;
* charger frames missing for ``CHARGER_TIMEOUT_S`` end the session: the next charger
  frames start a new one (the SoC is kept).

Byte layouts are written here independently of ``instruments.chademo_frames`` (the
bench's codec), so a mismatch shows in the tests.

EV faults: ``chademo-requests-above-available`` (ramps to its own maximum whatever the
charger announces), ``chademo-ignores-charger-fault`` (keeps charging on the charger's
malfunction flags), ``chademo-enables-before-charger`` (charging enabled while no charger
speaks), ``chademo-faults-on-normal-stop`` (answers the charger's stop control with its
charging-system fault flag). Instrument faults: ``silent``, ``garbage``, ``disconnect``.
"""

from __future__ import annotations

import struct
from typing import Any

import can

from instruments.twins.socketcand import SocketcandServer
from testbench.clock import LabClock
from testbench.sim.chademo_node import CyclicCanNode

MAX_BATTERY_V = 410
TARGET_V = 400
MIN_BATTERY_V = 300
RAMP_A_PER_S = 25.0
"""Lab amperes per lab second the current request rises."""

CHARGER_TIMEOUT_S = 1.0
"""Lab seconds without charger frames after which the session is over."""


PROTOCOL = 2
FULL_SOC_PCT = 100.0
FAULTS = ("silent", "garbage", "disconnect")
ABOVE_AVAILABLE = "chademo-requests-above-available"
IGNORES_FAULT = "chademo-ignores-charger-fault"
EARLY_ENABLE = "chademo-enables-before-charger"
FAULT_ON_STOP = "chademo-faults-on-normal-stop"


class ChademoVehicleSim(CyclicCanNode):
    """The CHAdeMO controller of one simulated vehicle."""

    def __init__(self, clock: LabClock, max_current_a: float, capacity_kwh: float,
                 soc_pct: float, faults: tuple[str, ...] = (), period_s: float = 0.1) -> None:
        self.clock = clock
        self.max_current_a = int(max(0, min(255, max_current_a)))
        self.capacity_kwh = capacity_kwh
        self.soc_pct = soc_pct
        self.faults = frozenset(faults)
        self.period_s = period_s
        self.stage = "waiting"  # waiting, enabled, charging, stopped
        self.fault: str | None = None
        self.request_a = 0.0
        self.available_v: int | None = None
        self.available_a: int | None = None
        self.charger_flags: int | None = None
        self.present_v = 0
        self.present_a = 0
        self.last_charger_lab_s: float | None = None
        self.received: list[can.Message] = []
        self.sessions = 0
        self.system_fault = False
        self._last_tick_lab_s: float | None = None

    def has(self, fault: str) -> bool:
        return fault in self.faults

    def set_fault(self, fault: str | None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown CHAdeMO vehicle twin fault {fault!r}; known: "
                             f"{', '.join(FAULTS)}")
        self.fault = fault

    # ------------------------------------------------------------------ input
    def _on_message(self, message: can.Message) -> None:
        if self.fault in ("silent", "disconnect") or message.is_extended_id:
            return
        data = bytes(message.data)
        if message.arbitration_id not in (0x108, 0x109) or len(data) != 8:
            return
        self.received.append(message)
        del self.received[:-500]
        now = self.clock.now()
        if self.last_charger_lab_s is None or now - self.last_charger_lab_s > CHARGER_TIMEOUT_S:
            self._new_session()
        self.last_charger_lab_s = now
        before = (self.available_a, self.charger_flags)
        if message.arbitration_id == 0x108:
            self.available_v = struct.unpack_from("<H", data, 1)[0]
            self.available_a = data[3]
        else:
            self.present_v = struct.unpack_from("<H", data, 1)[0]
            self.present_a = data[3]
            self.charger_flags = data[5]
        if before != (self.available_a, self.charger_flags):
            self.step(now)  # a change of the charger's limit or flags is answered at once
            self._send()

    def _new_session(self) -> None:
        self.stage = "waiting"
        self.request_a = 0.0
        self.available_v = self.available_a = self.charger_flags = None
        self.present_a = self.present_v = 0
        self.system_fault = False
        self.sessions += 1

    # ------------------------------------------------------------------ behaviour
    def _charger_stops(self) -> bool:
        flags = self.charger_flags or 0
        malfunction = bool(flags & 0x12) and not self.has(IGNORES_FAULT)
        stop_control = self.stage == "charging" and bool(flags & 0x20)
        if stop_control and not malfunction and self.has(FAULT_ON_STOP):
            self.system_fault = True
        return malfunction or stop_control

    def step(self, now: float) -> None:
        """Advance the vehicle to lab time ``now``."""
        dt = 0.0 if self._last_tick_lab_s is None else max(0.0, now - self._last_tick_lab_s)
        self._last_tick_lab_s = now
        if self.last_charger_lab_s is not None and now - self.last_charger_lab_s > CHARGER_TIMEOUT_S:
            self.request_a = 0.0  # the charger is gone: the session is over
            self.stage = "enabled" if self.has(EARLY_ENABLE) else "waiting"
            return
        if self.stage == "waiting" and self.has(EARLY_ENABLE):
            self.stage = "enabled"
        if self.stage == "waiting" and self.available_v is not None and (
                self.charger_flags is not None and self.available_v >= TARGET_V):
            self.stage = "enabled"
        if self.stage in ("enabled", "charging") and self._charger_stops():
            self.stage, self.request_a = "stopped", 0.0
        if self.stage == "enabled" and (self.charger_flags or 0) & 0x01:
            self.stage = "charging"
        if self.stage == "charging":
            ceiling = float(self.max_current_a)
            if not self.has(ABOVE_AVAILABLE):
                ceiling = min(ceiling, float(self.available_a or 0))
            self.request_a = min(ceiling, self.request_a + RAMP_A_PER_S * dt)
            if self.soc_pct >= FULL_SOC_PCT:
                self.stage, self.request_a = "stopped", 0.0
        if self.present_a and self.present_v and self.capacity_kwh > 0:
            energy_kwh = self.present_a * self.present_v * dt / 3600.0 / 1000.0
            self.soc_pct = min(FULL_SOC_PCT, self.soc_pct + 100.0 * energy_kwh / self.capacity_kwh)

    # ------------------------------------------------------------------ frames
    def frames(self) -> list[tuple[int, bytes]]:
        """The vehicle's 0x100, 0x101 and 0x102 payloads now."""
        limits = struct.pack("<BxHHBx", 0, MIN_BATTERY_V, MAX_BATTERY_V, 100)
        times = struct.pack("<xBBBxHx", 0xFF, 90, 60, round(self.capacity_kwh * 10))
        flags = 0
        if self.stage in ("enabled", "charging"):
            flags |= 0x01
        if self.stage == "stopped":
            flags |= 0x10
            if self.present_a == 0:
                flags |= 0x08
        if self.stage == "waiting":
            flags |= 0x08
        if self.system_fault:
            flags |= 0x04
        request = struct.pack("<BHBBBBx", PROTOCOL, TARGET_V, int(self.request_a), 0, flags,
                              int(self.soc_pct))
        if self.fault == "garbage":
            request = b"\xff\xff"
        return [(0x100, limits), (0x101, times), (0x102, request)]

    def _send(self) -> None:
        if self.fault in ("silent", "disconnect") or self._bus is None:
            return
        self._send_standard(self.frames())

    def describe(self) -> dict[str, Any]:
        return {"stage": self.stage, "request_a": int(self.request_a),
                "available_a": self.available_a, "present_a": self.present_a,
                "soc_pct": round(self.soc_pct, 2), "sessions": self.sessions}


class ChademoVehicleSide:
    """A hosted simulated CHAdeMO vehicle plus the socketcand bridge the bench connects to."""

    def __init__(self, vehicle: ChademoVehicleSim, channel: str, bus_name: str) -> None:
        self.vehicle = vehicle
        self.channel = channel
        self.bridge = SocketcandServer(channel, interface="virtual", name=bus_name)

    async def start(self, host: str, port: int) -> int:
        await self.vehicle.start(self.channel)
        await self.bridge.start(host, port)
        return self.bridge.tcp_port

    async def stop(self) -> None:
        await self.bridge.stop()
        await self.vehicle.stop()

    def set_fault(self, fault: str) -> None:
        self.vehicle.set_fault(fault)
        if fault == "disconnect":
            self.bridge.drop_clients()

    @property
    def energised(self) -> bool:
        return False  # a vehicle energises nothing; the charger (the bench) does

    @property
    def commands(self) -> list[str]:
        return [f"{m.arbitration_id:03X}#{bytes(m.data).hex().upper()}"
                for m in self.vehicle.received[-200:]]

    def describe(self) -> dict[str, Any]:
        return self.vehicle.describe()


def chademo_vehicle_side(spec: Any, ev: Any, clock: LabClock, bus_name: str) -> ChademoVehicleSide:
    """Host the simulated CHAdeMO vehicle ``ev`` (an ``EVSpec``) for lab entry ``spec``."""
    vehicle = ChademoVehicleSim(clock, ev.max_current_a, ev.battery_kwh, ev.initial_soc_pct,
                                tuple(ev.faults))
    return ChademoVehicleSide(vehicle, f"testbench-sim-{spec.name}", bus_name)
