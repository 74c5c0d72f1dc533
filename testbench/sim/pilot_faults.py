"""Control pilot of a simulated charger: contactor timing, duty cycle, pilot faults E and F.

Hooks called by :class:`testbench.sim.charger.SimCharger` (a line each), so the charger
keeps one place for its IEC 61851-1 behaviour and the fault personalities that break it:

* ``slow-contactor``: the contactor closes ``SLOW_CLOSE_S`` after the EV asks for energy
  under PWM and opens ``SLOW_OPEN_S`` after it stops (conformant: ``close_s`` and at once);
* ``wrong-duty-cycle``: the duty cycle is ``WRONG_DUTY_FACTOR`` times what the limit calls for;
* ``ignores-state-e``: a pilot shorted to PE (state E) or a failed EV diode is not noticed:
  the charger keeps its PWM, its contactor and its status.

What the EV emulator drives (its line state, a diode short) and what the charger logic acts
on are kept apart: ``conn.extra["ev_line"]`` is the state the EV side applies,
``conn.ev_state`` the one the charger works with. Contactor switching instants (lab s) are
kept in ``conn.extra["contactor_edges"]`` for the station I/O box's contactor timer.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from testbench.sim.station import Connector

if TYPE_CHECKING:
    from testbench.sim.charger import SimCharger

SLOW_CLOSE_S = 5.0
"""Fault slow-contactor: lab seconds from C2 to the contactor closing."""

SLOW_OPEN_S = 1.0
"""Fault slow-contactor: lab seconds from the EV stopping to the contactor opening."""

WRONG_DUTY_FACTOR = 1.10
"""Fault wrong-duty-cycle: the PWM duty cycle is this much of the right one."""

EDGES_KEPT = 50
"""Contactor edges remembered per connector."""


# ----------------------------------------------------------------------------- duty cycle
def duty_pct(charger: SimCharger, duty: float) -> float:
    """The duty cycle the charger applies for the one the limit calls for (``duty``)."""
    if charger.has("wrong-duty-cycle"):
        return min(96.0, duty * WRONG_DUTY_FACTOR)
    return duty


# ----------------------------------------------------------------------------- contactor
def contactor_delays_s(charger: SimCharger, close_s: float) -> tuple[float, float]:
    """(closing, opening) delays of the charger's contactor, lab seconds."""
    if charger.has("slow-contactor"):
        return SLOW_CLOSE_S, SLOW_OPEN_S
    return close_s, 0.0


def drive_contactor(charger: SimCharger, conn: Connector, wanted: bool, close_s: float) -> None:
    """Close (after the closing delay) or open (after the opening delay) the contactor."""
    closing_s, opening_s = contactor_delays_s(charger, close_s)
    opening: asyncio.TimerHandle | None = conn.extra.get("contactor_opening")
    if wanted:
        if opening is not None:  # asked again before it opened: it stays closed
            opening.cancel()
            conn.extra["contactor_opening"] = None
        if not conn.contactor_closed and conn.contactor_timer is None:
            conn.contactor_timer = asyncio.get_running_loop().call_later(
                charger.clock.wall_duration(closing_s), charger._contactor_closes, conn)
        return
    if conn.contactor_timer is not None:
        conn.contactor_timer.cancel()
        conn.contactor_timer = None
    if not conn.contactor_closed:
        return
    if opening_s <= 0:
        contactor_switched(charger, conn, False)
    elif opening is None:
        conn.extra["contactor_opening"] = asyncio.get_running_loop().call_later(
            charger.clock.wall_duration(opening_s), _opens_late, charger, conn)


def _opens_late(charger: SimCharger, conn: Connector) -> None:
    conn.extra["contactor_opening"] = None
    contactor_switched(charger, conn, False)
    charger.refresh(conn)


def contactor_switched(charger: SimCharger, conn: Connector, closed: bool) -> None:
    """Set the contactor and remember when it switched (lab time)."""
    if conn.contactor_closed == closed:
        return
    conn.contactor_closed = closed
    edges: list[tuple[float, bool]] = conn.extra.setdefault("contactor_edges", [])
    edges.append((charger.clock.now(), closed))
    del edges[:-EDGES_KEPT]


# ----------------------------------------------------------------------------- E and F
def charger_view(charger: SimCharger, conn: Connector, state: str) -> str:
    """The EV side applies ``state``: the state the charger logic acts on.

    A conformant charger sees a shorted pilot (E) and treats a failed EV diode as a fault
    (it acts as in E and shows F on the line); with ``ignores-state-e`` it notices neither.
    """
    conn.extra["ev_line"] = state
    ignores = charger.has("ignores-state-e")
    if ignores and state == "E":
        return conn.ev_state if conn.ev_state != "E" else "A"
    if conn.extra.get("diode_short") and not ignores and state in ("B", "C", "D"):
        return "E"
    return state


def line_state(charger: SimCharger, conn: Connector) -> str | None:
    """The pilot state on the line when a pilot fault decides it (None: the usual one)."""
    if conn.extra.get("ev_line") == "E":
        return "E"  # shorted: 0 V whatever the charger does
    if (conn.extra.get("diode_short") and not charger.has("ignores-state-e")
            and conn.extra.get("ev_line") in ("B", "C", "D")):
        return "F"  # the charger noticed the diode fault and applies -12 V
    return None


def set_diode_short(charger: SimCharger, conn: Connector, shorted: bool) -> None:
    """The EV emulator shorts (or restores) the EV's pilot diode."""
    conn.extra["diode_short"] = shorted
    charger.set_ev_state(conn, str(conn.extra.get("ev_line", conn.ev_state)))
    charger.refresh(conn)
