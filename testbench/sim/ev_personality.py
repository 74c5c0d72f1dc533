"""How a simulated EV answers the control pilot: it reads the duty cycle and draws current.

Personalities come from the EV's inventory entry (``EVSpec``): basic AC charging only
(``iso15118 = []``), a minimum current it pauses below (``min_current_a``, e.g. 8 A), single
phase (``phases = 1``), slow to follow a new duty cycle (``duty_follow_s``, default 0: at
once; within the 5 s of IEC 61851-1 practice it is conformant). Fault personalities:

* ``ignores-duty-cycle``: draws its maximum current (its battery's limit) whatever the duty;
* ``slow-to-follow-duty``: takes ``SLOW_FOLLOW_S`` to follow a new duty cycle.

The first duty cycle of a charging period is taken at once (the EV starts at what is
offered); later changes are followed after the delay, up or down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from testbench.sim.station import Connector

if TYPE_CHECKING:
    from testbench.sim.charger import SimCharger

FOLLOW_S = 0.0
"""Lab seconds a simulated EV takes to follow a new duty cycle (0: at once; the plant's
response delay and time constant still apply)."""

SLOW_FOLLOW_S = 10.0
"""Fault slow-to-follow-duty: lab seconds to follow a new duty cycle."""

CHANGE_A = 0.05
"""A duty-cycle current differing by less than this is no change."""


def current_from_duty_a(duty_pct: float) -> float:
    """IEC 61851-1 current for a PWM duty cycle (0 outside the charging ranges)."""
    if 8.0 <= duty_pct < 10.0:
        return 6.0
    if 10.0 <= duty_pct <= 85.0:
        return duty_pct * 0.6
    if 85.0 < duty_pct <= 96.0:
        return (duty_pct - 64.0) * 2.5
    if 96.0 < duty_pct <= 97.0:
        return 80.0
    return 0.0


@dataclass
class _Follower:
    """The duty-cycle current an EV currently obeys, and the change it is about to make."""

    value_a: float | None = None
    target_a: float | None = None
    timer: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.target_a = None, None


def _follower(conn: Connector) -> _Follower:
    follower = conn.extra.get("ev_follower")
    if not isinstance(follower, _Follower):
        follower = conn.extra["ev_follower"] = _Follower()
    return follower


def follow_delay_s(conn: Connector) -> float:
    ev = conn.ev
    if ev is None:
        return FOLLOW_S
    if "slow-to-follow-duty" in ev.faults:
        return SLOW_FOLLOW_S
    return float(ev.duty_follow_s)


def idle(conn: Connector) -> None:
    """No PWM or the EV does not ask for energy: the next duty cycle is taken at once."""
    follower = conn.extra.get("ev_follower")
    if isinstance(follower, _Follower):
        follower.cancel()
        follower.value_a = None


def draw_a(charger: SimCharger, conn: Connector, duty_pct: float, ev_limit_a: float) -> float:
    """Current the EV draws under PWM at ``duty_pct`` with its own limit ``ev_limit_a``."""
    if conn.ev is not None and "ignores-duty-cycle" in conn.ev.faults:
        return ev_limit_a
    wanted = current_from_duty_a(duty_pct)
    follower = _follower(conn)
    delay_s = follow_delay_s(conn)
    if follower.value_a is None or delay_s <= 0:
        follower.cancel()
        follower.value_a = wanted
    elif abs(wanted - follower.value_a) < CHANGE_A:
        follower.cancel()
    elif follower.target_a is None or abs(wanted - follower.target_a) >= CHANGE_A:
        follower.cancel()
        follower.target_a = wanted
        follower.timer = asyncio.get_running_loop().call_later(
            charger.clock.wall_duration(delay_s), _follows, charger, conn, wanted)
    return min(ev_limit_a, follower.value_a)


def _follows(charger: SimCharger, conn: Connector, wanted_a: float) -> None:
    follower = _follower(conn)
    follower.timer, follower.target_a = None, None
    follower.value_a = wanted_a
    charger.refresh(conn)
