"""Keep-alive for instruments with a watchdog, while a run holds them.

An instrument entry with ``options.watchdog_s = N`` (wall seconds) has a watchdog: the
instrument (its simulated twin, or a real instrument configured alike) goes to its safe
state when it hears nothing for N s. While the bench holds the instrument, this thread
sends it a harmless query (``identify()``: ``*IDN?`` / Modbus device identification)
every N/4 s, so a quiet stretch of a test never trips it, and a killed runner (which
sends nothing any more) does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable
from typing import Any

log = logging.getLogger(__name__)

WATCHDOG_OPTION = "watchdog_s"
MIN_INTERVAL_S = 0.1


def watchdog_s_of(options: dict[str, Any]) -> float | None:
    """The ``watchdog_s`` option of an instrument entry (None: no watchdog)."""
    value = options.get(WATCHDOG_OPTION)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


class KeepAlive:
    """A daemon thread sending ``identify()`` to each registered driver every interval."""

    def __init__(self) -> None:
        self._drivers: dict[Hashable, tuple[Any, float, str]] = {}
        self._due: dict[Hashable, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def add(self, key: Hashable, driver: Any, watchdog_s: float, name: str) -> None:
        """Keep ``driver`` alive (a query every ``watchdog_s / 4`` s) until :meth:`remove`."""
        interval_s = max(MIN_INTERVAL_S, watchdog_s / 4.0)
        with self._lock:
            self._drivers[key] = (driver, interval_s, name)
            self._due[key] = time.monotonic() + interval_s
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="instrument-keepalive",
                                                daemon=True)
                self._thread.start()

    def remove(self, key: Hashable) -> None:
        with self._lock:
            self._drivers.pop(key, None)
            self._due.pop(key, None)

    def stop(self) -> None:
        """Stop sending (idempotent)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)

    def _run(self) -> None:
        while not self._stop.wait(MIN_INTERVAL_S / 2):
            now = time.monotonic()
            with self._lock:
                due = [(k, *self._drivers[k]) for k, t in self._due.items() if t <= now]
                for key, _driver, interval_s, _name in due:
                    self._due[key] = now + interval_s
            for _key, driver, _interval_s, name in due:
                try:
                    driver.identify()
                    self.sent += 1
                except Exception as exc:  # noqa: BLE001 - the test's own commands report it
                    log.debug("keep-alive to %s failed: %s", name, exc)
