"""Ordered queue of the CALLs a simulated charger sends to the central system.

One sender per connection drains it in order (OCPP allows one outstanding CALL). Payloads
may be built lazily, at send time, so that a message can use an answer that arrives
before it is sent (a 1.6 transaction id from StartTransaction). Transaction messages are
*retained*: they survive a lost connection and are sent after the next boot, as OCPP
requires; other messages are dropped while offline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("testbench.sim")

PayloadSource = Any  # an ocpp call dataclass, or a callable returning one (or None to skip)


class Offline(Exception):
    """The charger is not connected (or not yet accepted) and the message was not sent."""


@dataclass
class Outgoing:
    """One CALL waiting to be sent, and what to do with its answer."""

    source: PayloadSource
    retain: bool = False
    on_result: Callable[[Any], None] | None = None
    on_error: Callable[[Exception], None] | None = None
    close_after: bool = False  # a marker: close the connection when reached (reboot)

    def build(self) -> Any:
        return self.source() if callable(self.source) else self.source

    def fail(self, error: Exception) -> None:
        if self.on_error is not None:
            self.on_error(error)
        else:
            log.info("%s not delivered: %s", type(self.source).__name__, error)


class Outbox:
    """FIFO of :class:`Outgoing` items with an awaitable ``get``."""

    def __init__(self) -> None:
        self._items: deque[Outgoing] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Outgoing) -> None:
        self._items.append(item)
        self._ready.set()

    def put_front(self, item: Outgoing) -> None:
        """Requeue an item whose sending was interrupted."""
        self._items.appendleft(item)
        self._ready.set()

    async def get(self) -> Outgoing:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def purge_volatile(self) -> None:
        """Drop every item that is not retained (the connection is gone)."""
        kept: deque[Outgoing] = deque()
        dropped: list[Outgoing] = []
        for item in self._items:
            (kept if item.retain or item.close_after else dropped).append(item)
        self._items = kept
        for item in dropped:
            item.fail(Offline("connection lost before sending"))

    def drop_close_markers(self) -> None:
        """Forget pending reboot markers (a new connection starts from a fresh boot)."""
        self._items = deque(i for i in self._items if not i.close_after)
