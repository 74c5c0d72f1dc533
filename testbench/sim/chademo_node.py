"""The CAN side shared by the simulated CHAdeMO controllers (charger and vehicle).

A node joins an in-process ``virtual`` python-can channel, hands received frames to its
``_on_message`` on the event loop, and every cycle advances ``step(lab_now)`` and sends
its frames (``_send``). CHAdeMO's 100 ms cycle is lab time: under time compression it
shrinks, down to ``MIN_PERIOD_S`` of wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

import can

from instruments.twins.lifecycle import leave_bus, stop_task
from testbench.clock import LabClock

MIN_PERIOD_S = 0.01
"""Shortest wall-clock cycle of a node's frames under time compression."""


class CyclicCanNode:
    """Bus, notifier and cycle of a simulated CHAdeMO node; subclasses supply the rest."""

    clock: LabClock
    period_s: float
    _bus: can.BusABC | None = None
    _notifier: can.Notifier | None = None
    _ticker: asyncio.Task[None] | None = None

    def step(self, now: float) -> None:
        raise NotImplementedError

    def _send(self) -> None:
        raise NotImplementedError

    def _on_message(self, message: can.Message) -> None:
        raise NotImplementedError

    def _send_standard(self, frames: Iterable[tuple[int, bytes]]) -> None:
        """Send 11-bit frames; a full or closed bus drops them (as a real bus would)."""
        if self._bus is None:
            return
        for ident, data in frames:
            with contextlib.suppress(can.CanError):
                self._bus.send(can.Message(arbitration_id=ident, data=data,
                                           is_extended_id=False, timestamp=time.time()))

    async def _tick(self) -> None:
        period_s = max(MIN_PERIOD_S, self.clock.wall_duration(self.period_s))
        while True:
            self.step(self.clock.now())
            self._send()
            await asyncio.sleep(period_s)

    async def start(self, channel: str) -> None:
        """Join the ``virtual`` channel and run the node."""
        loop = asyncio.get_running_loop()

        def deliver(message: can.Message) -> None:
            loop.call_soon_threadsafe(self._on_message, message)

        self._bus = can.Bus(interface="virtual", channel=channel)
        self._notifier = can.Notifier(self._bus, [deliver], timeout=0.05)
        self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        """Stop the cycle and leave the bus."""
        await stop_task(self._ticker)
        leave_bus(self._notifier, self._bus)
        self._ticker, self._notifier, self._bus = None, None, None
