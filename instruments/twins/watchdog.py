"""Communication watchdog of an instrument twin: no command within N s -> safe state.

A twin records when it last heard a request (:attr:`ScpiTwin.last_request_s`,
:attr:`ModbusTwin.last_request_s`: ``time.monotonic()``). :class:`TwinWatchdog` checks it
while the twin is energised and, after ``timeout_s`` wall seconds of silence, puts the twin
in its safe state (output off, relays open), as a real instrument's watchdog does when the
controlling PC dies. The bench keeps a held instrument alive with a harmless query every
``timeout_s / 4`` (``testbench.plugin.keepalive``), so only a dead or hung runner trips it.

Enabled per instrument by ``options.watchdog_s = N`` in the lab file (wall seconds).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("testbench.sim.watchdog")


def make_safe(twin: Any) -> None:
    """Put a twin in its safe state: ``*RST`` semantics for SCPI twins (output off,
    defaults), output off / alarm for Modbus sources, every relay open for relay boxes,
    the twin's own ``safe_state()`` for EV-side twins (EV state A, charging disabled)."""
    own = getattr(twin, "safe_state", None)
    if callable(own):  # EV-side twins (serial_cp, can_ccs)
        own()
        return
    if hasattr(twin, "reset") and hasattr(twin, "execute_line"):  # ScpiTwin
        twin.reset()
        return
    trip = getattr(twin, "trip_alarm", None)
    if callable(trip):  # a grid emulator with an alarm state: output off, alarm shown
        trip()
        return
    port = getattr(twin, "port", None)
    if port is not None and hasattr(port, "set_output"):
        port.set_output(False)
    if port is not None and hasattr(port, "set_relay"):
        for channel in range(port.channels()):
            port.set_relay(channel, False)
        coils = getattr(twin, "coils", {})
        for channel in list(coils):
            coils[channel] = False


class TwinWatchdog:
    """Trips ``safe`` when ``energised()`` and the twin heard nothing for ``timeout_s``."""

    def __init__(self, twin: Any, timeout_s: float, energised: Callable[[], bool],
                 name: str, safe: Callable[[], None] | None = None) -> None:
        if timeout_s <= 0:
            raise ValueError(f"watchdog of {name}: timeout_s must be > 0, got {timeout_s}")
        self.twin = twin
        self.timeout_s = timeout_s
        self.energised = energised
        self.name = name
        self.safe = safe or (lambda: make_safe(twin))
        self.trips: list[dict[str, float]] = []
        self._task: asyncio.Task[None] | None = None

    def silence_s(self) -> float:
        """Wall seconds since the twin last heard a request."""
        return time.monotonic() - float(getattr(self.twin, "last_request_s", time.monotonic()))

    def check(self) -> bool:
        """Trip now if due; True when it tripped."""
        silence = self.silence_s()
        if silence < self.timeout_s or not self.energised():
            return False
        self.safe()
        self.trips.append({"wall_s": time.time(), "silence_s": round(silence, 3)})
        log.warning("watchdog of %s: no command for %.2f s (limit %g s): safe state (output "
                    "off)", self.name, silence, self.timeout_s)
        return True

    def start(self) -> None:
        """Check periodically on the running loop until :meth:`stop`."""
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        period_s = min(0.25, self.timeout_s / 10)
        while True:
            await asyncio.sleep(period_s)
            try:
                self.check()
            except Exception:  # never let the watchdog die
                log.exception("watchdog of %s failed", self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
