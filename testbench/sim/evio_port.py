"""Adapter giving a station I/O box twin its view of one connector of a simulated charger."""

from __future__ import annotations

from testbench.sim import pilot_faults
from testbench.sim.charger import SimCharger
from testbench.sim.station import Connector

LIVE_V = 50.0
"""Outlet voltage above which the box sees the outlet live."""


class ConnectorIo:
    """Implements ``instruments.twins.evio.StationIo`` for one charger connector."""

    def __init__(self, charger: SimCharger, conn: Connector) -> None:
        self.charger = charger
        self.conn = conn
        self.charger_id = charger.spec.id

    def ev_ids(self) -> list[str]:
        return list(self.charger.evs)

    def selected_ev(self) -> str | None:
        return self.conn.ev.id if self.conn.ev is not None else None

    def select_ev(self, ev_id: str | None) -> None:
        self.charger.select_ev(self.conn, ev_id)

    def set_ev_state(self, state: str) -> None:
        self._stimulus()
        self.charger.set_ev_state(self.conn, state)

    def set_diode_short(self, shorted: bool) -> None:
        self._stimulus()
        pilot_faults.set_diode_short(self.charger, self.conn, shorted)

    def diode_short(self) -> bool:
        return bool(self.conn.extra.get("diode_short"))

    def contactor_closed(self) -> bool:
        """The box senses the outlet: live when the contactor is closed and supplied."""
        return any(v > LIVE_V for v in self.conn.stage.output_voltages_v())

    def contactor_delay(self) -> tuple[float | None, bool]:
        """(Lab seconds from the last pilot command to the contactor's next switching and
        its new state) or (None, its state now) when it has not switched since."""
        since = self.conn.extra.get("pilot_stimulus_lab_s")
        edges: list[tuple[float, bool]] = self.conn.extra.get("contactor_edges", [])
        closed = self.conn.contactor_closed
        if since is None:
            return None, closed
        for at_s, state in edges:
            if at_s >= since:
                return at_s - since, state
        return None, closed

    def _stimulus(self) -> None:
        self.conn.extra["pilot_stimulus_lab_s"] = self.charger.clock.now()

    def pilot_state(self) -> str:
        return self.charger.pilot_state(self.conn)

    def duty_cycle_pct(self) -> float:
        return self.charger.duty_cycle_pct(self.conn)

    def ev_current_a(self) -> float:
        return self.conn.current_a

    def ev_phases(self) -> int:
        return self.conn.phases

    def ev_power_w(self) -> float:
        """Power of the EV's load setpoint: its current on each phase it uses, at the outlet."""
        voltages = self.conn.stage.output_voltages_v()
        return sum(voltages[:self.conn.phases]) * self.conn.current_a

    def present_rfid(self, token: str) -> None:
        self.charger.present_rfid(self.conn, token)

    def supply_on(self) -> bool:
        return self.charger.powered

    def set_supply(self, on: bool) -> None:
        self.charger.set_supply(on)

    def power_cycle(self, off_s: float) -> None:
        self.charger.power_cycle(off_s)
