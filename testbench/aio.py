"""A background asyncio loop with a synchronous facade.

Suites are plain synchronous pytest functions; the asyncio machinery (central system,
instrument polling) runs on one event loop in a daemon thread. ``BackgroundLoop.run``
submits a coroutine and blocks for its result with a wall-clock timeout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from testbench.errors import BenchError

T = TypeVar("T")


class BackgroundLoop:
    """An event loop running in a daemon thread."""

    def __init__(self, name: str = "testbench-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (wall-clock ``timeout_s``)."""
        if threading.current_thread() is self._thread:
            raise BenchError("BackgroundLoop.run called from the loop thread itself (deadlock)")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise
        except KeyboardInterrupt:
            future.cancel()
            raise

    def call_soon(self, fn: Any, *args: Any) -> None:
        """Schedule a plain callable on the loop thread."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel pending tasks and stop the loop."""
        if not self.loop.is_running():
            return

        async def _cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(_cancel_all(), self.loop).result(timeout_s)
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)
