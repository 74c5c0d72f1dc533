"""A raw charger connection for the fuzz test: sends anything, collects every reply."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}


class Closed:
    """Queue marker: the connection closed (``code`` as the bench sent it)."""

    def __init__(self, code: int | None) -> None:
        self.code = code


class FuzzClient:
    """Reader thread: the bench's own CALLs are answered ``{"status": "Accepted"}``;
    everything else (parsed JSON, or raw text if not JSON) goes to ``inbox``."""

    def __init__(self, url: str, version: str) -> None:
        self.version = version
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(connect(
            url, subprotocols=[SUBPROTOCOL[version]],  # type: ignore[list-item]
            open_timeout=10, close_timeout=2, max_size=None))
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for data in self.ws:
                try:
                    msg = json.loads(data)
                except ValueError:
                    self.inbox.put(data)
                    continue
                if isinstance(msg, list) and len(msg) == 4 and msg[0] == 2:
                    with contextlib.suppress(ConnectionClosed):
                        self.ws.send(json.dumps([3, msg[1], {"status": "Accepted"}]))
                    continue
                self.inbox.put(msg)
        except ConnectionClosed:
            pass
        finally:
            self.inbox.put(Closed(self.ws.close_code))
            self.closed.set()

    def send(self, data: str | bytes) -> bool:
        """Send one frame; False if the connection is already closed."""
        try:
            self.ws.send(data)
        except ConnectionClosed:
            return False
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()
        self._thread.join(5)
