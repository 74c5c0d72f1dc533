"""Start/stop plumbing shared by the twins' periodic tasks and CAN buses."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def leave_bus(notifier: Any | None, bus: Any | None) -> None:
    """Stop a python-can notifier, then shut its bus down (either may be None)."""
    if notifier is not None:
        notifier.stop()
    if bus is not None:
        bus.shutdown()
