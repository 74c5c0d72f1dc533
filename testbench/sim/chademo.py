"""The CHAdeMO side of a simulated DC charger, on CAN (hosted for driver ``chademo-ev``).

The bench plays the vehicle: it sends 0x100/0x101/0x102 and reads the charger's
0x108/0x109. This module is the charger's CHAdeMO controller: it joins an in-process
``virtual`` CAN channel (served to the bench by a socketcand bridge, as the CCS twin is)
and drives one connector of a simulated charger, so OCPP sees the session:

* the vehicle's first frames mean "plugged" (connector state B: Preparing / Occupied);
* charging starts once the vehicle enables it, the battery fits the charger's output, and
  the charger is authorised to deliver (its pilot shows PWM, i.e. a session is authorised):
  connector locked, a simulated insulation test (``INSULATION_S`` lab seconds), then
  energising (state C) with the output current ramping to the request at ``RAMP_A_PER_S``;
* a stop request (or charging disabled) ramps the current to zero first and only then
  stops energising and unlocks; vehicle frames missing for ``EV_TIMEOUT_S`` cut the
  output at once (unplugged).

Byte layouts are written here independently of ``instruments.chademo_frames`` (the
bench's codec), so a mismatch shows in the tests.

Charger faults: ``chademo-overcurrent`` (delivers 10 % more than requested),
``chademo-ignores-stop`` (keeps delivering after the vehicle asks to stop).
Instrument faults: ``silent``, ``garbage``, ``disconnect`` (as the other EV-side twins).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import can

from instruments.twins.socketcand import SocketcandServer
from testbench.clock import LabClock
from testbench.sim.chademo_node import CyclicCanNode

INSULATION_S = 2.0
"""Lab seconds of the simulated insulation test between lock and energising."""

RAMP_A_PER_S = 20.0
"""Lab amperes per lab second the output current moves towards its target."""

EV_TIMEOUT_S = 1.0
"""Lab seconds without vehicle frames after which the vehicle counts as unplugged."""


OVERCURRENT_FACTOR = 1.10
PROTOCOL = 2
FAULTS = ("silent", "garbage", "disconnect")


class ChargerLink:
    """What the CHAdeMO controller needs of the simulated charger's connector."""

    def __init__(self, set_ev_state: Callable[[str], None], authorised: Callable[[], bool],
                 has_fault: Callable[[str], bool]) -> None:
        self.set_ev_state = set_ev_state
        self.authorised = authorised
        self.has_fault = has_fault


class ChademoCharger(CyclicCanNode):
    """The CHAdeMO controller of one DC connector."""

    def __init__(self, link: ChargerLink, clock: LabClock, available_v: int = 500,
                 available_a: int = 125, period_s: float = 0.1) -> None:
        self.link = link
        self.clock = clock
        self.available_v = available_v
        self.available_a = available_a
        self.period_s = period_s
        self.stage = "idle"  # idle, plugged, insulation, charging, stopping
        self.fault: str | None = None
        self.ev_max_v = 0
        self.target_v = 0
        self.request_a = 0
        self.ev_flags = 0
        self.present_a = 0.0
        self.incompatible = False
        self.last_ev_lab_s: float | None = None
        self.stage_since_lab_s = 0.0
        self.received: list[can.Message] = []
        self._last_tick_lab_s: float | None = None
        self.limit_a: Callable[[], float] = lambda: float(available_a)
        """The charger's own current limit now (e.g. from smart charging)."""

    # ------------------------------------------------------------------ state
    @property
    def energised(self) -> bool:
        return self.stage in ("insulation", "charging", "stopping") or self.present_a > 0

    @property
    def locked(self) -> bool:
        return self.stage in ("insulation", "charging", "stopping")

    def set_fault(self, fault: str | None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown CHAdeMO twin fault {fault!r}; known: {', '.join(FAULTS)}")
        self.fault = fault

    def _enter(self, stage: str, now: float) -> None:
        self.stage = stage
        self.stage_since_lab_s = now

    def _on_message(self, message: can.Message) -> None:
        if self.fault in ("silent", "disconnect") or message.is_extended_id:
            return
        data = bytes(message.data)
        if message.arbitration_id not in (0x100, 0x101, 0x102) or len(data) != 8:
            return
        self.received.append(message)
        del self.received[:-500]
        self.last_ev_lab_s = self.clock.now()
        if message.arbitration_id == 0x100:
            self.ev_max_v = struct.unpack_from("<H", data, 4)[0]
        elif message.arbitration_id == 0x102:
            stop = not data[5] & 0x01 or data[5] & 0x10
            if stop and self.stage == "charging" and self.link.has_fault("chademo-ignores-stop"):
                return  # the fault: the stop request (and its zero current) goes unheard
            self.target_v = struct.unpack_from("<H", data, 1)[0]
            self.request_a = data[3]
            self.ev_flags = data[5]

    def available_now_a(self) -> int:
        """The output current the charger can deliver now (what 0x108 announces)."""
        return int(max(0, min(self.available_a, self.limit_a())))

    def _wants_charge(self) -> bool:
        return bool(self.ev_flags & 0x01) and not self.ev_flags & 0x10

    def step(self, now: float) -> None:
        """Advance the controller to lab time ``now``."""
        dt = 0.0 if self._last_tick_lab_s is None else max(0.0, now - self._last_tick_lab_s)
        self._last_tick_lab_s = now
        present = self.last_ev_lab_s is not None and now - self.last_ev_lab_s <= EV_TIMEOUT_S
        if not present:
            if self.stage != "idle":
                self.present_a = 0.0
                self._enter("idle", now)
                self.link.set_ev_state("A")
            return
        if self.stage == "idle":
            self._enter("plugged", now)
            self.link.set_ev_state("B")
        self.incompatible = self.ev_max_v > self.available_v
        if self.stage == "plugged":
            if self._wants_charge() and not self.incompatible and self.link.authorised():
                self._enter("insulation", now)
        elif self.stage == "insulation":
            if not self._wants_charge():
                self._enter("plugged", now)
            elif now - self.stage_since_lab_s >= INSULATION_S:
                self._enter("charging", now)
                self.link.set_ev_state("C")
        elif self.stage == "charging" and not self._wants_charge():
            self._enter("stopping", now)
        target = 0.0
        if self.stage == "charging":
            target = float(min(self.request_a, self.available_now_a()))
            if self.link.has_fault("chademo-overcurrent"):
                target = min(target * OVERCURRENT_FACTOR, 255.0)
        step_a = RAMP_A_PER_S * dt
        if self.present_a < target:
            self.present_a = min(target, self.present_a + step_a)
        else:
            self.present_a = max(target, self.present_a - step_a)
        if self.stage == "stopping" and self.present_a <= 0.0:
            self._enter("plugged", now)
            self.link.set_ev_state("B")

    # ------------------------------------------------------------------ frames
    def frames(self) -> list[tuple[int, bytes]]:
        """The charger's 0x108 and 0x109 payloads now."""
        limits = struct.pack("<BHBHxx", 1, self.available_v, self.available_now_a(),
                             max(0, self.available_v - 10))
        flags = 0
        if self.stage in ("charging", "stopping"):
            flags |= 0x01
        if self.locked:
            flags |= 0x04
        if self.incompatible:
            flags |= 0x08
        if self.stage in ("idle", "plugged", "stopping"):
            flags |= 0x20
        volts = min(self.target_v, self.available_v) if self.stage in ("charging",
                                                                         "stopping") else 0
        status = struct.pack("<BHBxBBB", PROTOCOL, volts, round(self.present_a), flags, 0xFF,
                             60 if self.stage == "charging" else 0)
        if self.fault == "garbage":
            status = b"\xff\xff"
        return [(0x108, limits), (0x109, status)]

    def _send(self) -> None:
        if self.fault in ("silent", "disconnect") or self._bus is None:
            return
        if self.stage == "idle":
            return  # a charger speaks CHAdeMO only once a vehicle is connected
        self._send_standard(self.frames())

    def describe(self) -> dict[str, Any]:
        return {"stage": self.stage, "present_a": round(self.present_a, 1),
                "request_a": self.request_a, "target_v": self.target_v,
                "incompatible": self.incompatible}


class ChademoEvSide:
    """A hosted CHAdeMO controller plus the socketcand bridge the bench connects to."""

    def __init__(self, controller: ChademoCharger, channel: str, bus_name: str) -> None:
        self.controller = controller
        self.channel = channel
        self.bridge = SocketcandServer(channel, interface="virtual", name=bus_name)
        self.ever_plugged = False

    async def start(self, host: str, port: int) -> int:
        await self.controller.start(self.channel)
        await self.bridge.start(host, port)
        return self.bridge.tcp_port

    async def stop(self) -> None:
        await self.bridge.stop()
        await self.controller.stop()

    def set_fault(self, fault: str) -> None:
        self.controller.set_fault(fault)
        if fault == "disconnect":
            self.bridge.drop_clients()

    @property
    def energised(self) -> bool:
        return self.controller.energised

    @property
    def commands(self) -> list[str]:
        return [f"{m.arbitration_id:03X}#{bytes(m.data).hex().upper()}"
                for m in self.controller.received[-200:]]

    def describe(self) -> dict[str, Any]:
        return self.controller.describe()


def chademo_side(spec: Any, charger: Any, conn: Any, pilot: Any, bus_name: str) -> ChademoEvSide:
    """Host the CHAdeMO controller of ``conn`` of a simulated ``charger`` for lab entry ``spec``.

    Options: ``max_dc_voltage_v`` (default 500), ``max_dc_current_a`` (default the
    charger's max_current_a, at most 255). The available current also follows the
    charger's smart-charging limit (``offered_current_a``), as a CHAdeMO charger lowers
    its 0x108 available current to a power limit.
    """
    available_v = int(spec.options.get("max_dc_voltage_v", 500))
    max_a = int(min(255, spec.options.get("max_dc_current_a", charger.spec.max_current_a)))

    link = ChargerLink(pilot.set_ev_state, lambda: bool(charger.pwm_on(conn)), charger.has)
    controller = ChademoCharger(link, charger.clock, available_v=available_v,
                                available_a=max_a)
    controller.limit_a = lambda: max(0.0, charger.offered_current_a(conn))
    return ChademoEvSide(controller, f"testbench-sim-{spec.name}", bus_name)
