"""EV-side twins hosted by the simulated lab: the serial CP simulator and the CCS CAN controller.

Both drive the control pilot of one connector of a simulated charger (its EV side) through
:class:`ConnectorPilot`, so plugging in, requesting energy and unplugging over the wire
change the charger's connector exactly as the station I/O box does:

* ``cp-serial``: :class:`instruments.twins.serial_cp.SerialCpTwin` on a TCP socket
  (resource ``socket://127.0.0.1:<port>``);
* ``ccs-can``: :class:`instruments.twins.can_ccs.CcsCanTwin` on an in-process ``virtual``
  CAN channel, served to the bench by a socketcand bridge (resource
  ``<name>@127.0.0.1:<port>``, driver option ``interface = "socketcand"``). Its DC side is a
  :class:`instruments.twins.can_ccs.SimpleDcCharger` limited to the charger's maximum
  current (not the plant's DC power stage).
"""

from __future__ import annotations

import re
from typing import Any

from instruments.twins.can_ccs import CcsCanTwin, SimpleDcCharger
from instruments.twins.serial_cp import SerialCpTwin
from instruments.twins.socketcand import SocketcandServer
from testbench.sim.chademo import ChademoEvSide
from testbench.sim.chademo_vehicle import ChademoVehicleSide
from testbench.sim.evio_port import ConnectorIo

SERIAL_RESOURCE = re.compile(r"^socket://([^:/]+):(\d+)/?$", re.IGNORECASE)
CAN_RESOURCE = re.compile(r"^([A-Za-z0-9_.-]+)@([^:@]+):(\d+)$")
FAULTS = ("silent", "garbage", "disconnect")
"""Instrument fault personalities the EV-side twins support."""


class ConnectorPilot:
    """``instruments.twins.serial_cp.PilotLine`` on one simulated connector.

    Plugging in (B, C or D) with no EV selected selects ``ev_id`` first (the EV the
    instrument stands for), so the EV can draw current.
    """

    def __init__(self, io: ConnectorIo, ev_id: str | None) -> None:
        self.io = io
        self.ev_id = ev_id
        self.ever_plugged = False

    def set_ev_state(self, state: str) -> None:
        if state in ("B", "C", "D"):
            self.ever_plugged = True
            if self.io.selected_ev() is None and self.ev_id is not None:
                self.io.select_ev(self.ev_id)
        self.io.set_ev_state(state)

    def pilot_state(self) -> str:
        return self.io.pilot_state()

    def duty_cycle_pct(self) -> float:
        return self.io.duty_cycle_pct()


class SerialEvSide:
    """The serial CP simulator twin of one connector, on a TCP socket."""

    def __init__(self, pilot: ConnectorPilot, interval_s: float = 0.5) -> None:
        self.pilot = pilot
        self.twin = SerialCpTwin(pilot, interval_s=interval_s)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); the bound port."""
        resource = await self.twin.start("tcp", host, port)
        return int(resource.rsplit(":", 1)[1])

    async def stop(self) -> None:
        await self.twin.stop()

    def set_fault(self, fault: str) -> None:
        self.twin.set_fault(fault)

    @property
    def energised(self) -> bool:
        return self.twin.energised

    @property
    def commands(self) -> list[str]:
        return list(self.twin.commands)

    def describe(self) -> dict[str, Any]:
        return {"ev_state": self.twin.ev_state, "pilot": self.pilot.pilot_state(),
                "duty_pct": self.pilot.duty_cycle_pct()}


class CanEvSide:
    """The CCS CAN controller twin of one connector, bridged to the bench by socketcand."""

    def __init__(self, pilot: ConnectorPilot, channel: str, bus_name: str,
                 max_current_a: float, period_s: float = 0.1) -> None:
        self.pilot = pilot
        self.channel = channel
        self.dc = SimpleDcCharger(limit_a=max_current_a)
        self.twin = CcsCanTwin(pilot, self.dc, period_s=period_s)
        self.bridge = SocketcandServer(channel, interface="virtual", name=bus_name)

    async def start(self, host: str, port: int) -> int:
        """Join the virtual channel and serve it on ``host:port``; the bound port."""
        await self.twin.start(interface="virtual", channel=self.channel)
        await self.bridge.start(host, port)
        return self.bridge.tcp_port

    async def stop(self) -> None:
        await self.bridge.stop()
        await self.twin.stop()

    def set_fault(self, fault: str) -> None:
        self.twin.set_fault(fault)
        if fault == "disconnect":
            self.bridge.drop_clients()

    @property
    def energised(self) -> bool:
        return self.twin.energised

    @property
    def commands(self) -> list[str]:
        return [f"{m.arbitration_id:08X}#{bytes(m.data).hex().upper()}"
                for m in self.twin.received[-200:]]

    def describe(self) -> dict[str, Any]:
        voltage_v, current_a = self.dc.present()
        return {"ev_state": self.twin.ev_state, "pilot": self.pilot.pilot_state(),
                "duty_pct": self.pilot.duty_cycle_pct(),
                "charge_enable": self.twin.charge_enable, "dc_voltage_v": voltage_v,
                "dc_current_a": current_a}


EvSide = SerialEvSide | CanEvSide | ChademoEvSide | ChademoVehicleSide
EV_SIDE_TYPES = (SerialEvSide, CanEvSide, ChademoEvSide, ChademoVehicleSide)
