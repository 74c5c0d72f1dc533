"""The lab clock: every sleep, timeout and timestamp of a run goes through it.

A simulated lab may run faster than real time. Lab time is a pure function of wall
time, ``lab = epoch + (wall - epoch) * scale``, so the bench and the simulated lab (a
separate process) agree on lab time without talking to each other: both are given the
same ``epoch`` and ``scale``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LabClock:
    """Maps wall time to lab time at a fixed ``scale`` (lab seconds per wall second)."""

    scale: float = 1.0
    epoch: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"time scale must be > 0, got {self.scale}")

    def now(self) -> float:
        """Lab time now, in seconds since the Unix epoch (lab-scaled)."""
        return self.to_lab(time.time())

    def to_lab(self, wall_s: float) -> float:
        """Convert a wall-clock timestamp to lab time."""
        return self.epoch + (wall_s - self.epoch) * self.scale

    def to_wall(self, lab_s: float) -> float:
        """Convert a lab timestamp to wall-clock time."""
        return self.epoch + (lab_s - self.epoch) / self.scale

    def wall_duration(self, lab_duration_s: float) -> float:
        """How many wall seconds a lab duration takes."""
        return lab_duration_s / self.scale

    def lab_duration(self, wall_duration_s: float) -> float:
        """How many lab seconds a wall duration is."""
        return wall_duration_s * self.scale

    def sleep(self, lab_duration_s: float) -> None:
        """Block for a lab duration."""
        time.sleep(max(0.0, self.wall_duration(lab_duration_s)))

    async def asleep(self, lab_duration_s: float) -> None:
        """Await a lab duration."""
        await asyncio.sleep(max(0.0, self.wall_duration(lab_duration_s)))

    def iso_now(self) -> str:
        """Lab time now as an ISO 8601 UTC string with milliseconds (for OCPP timestamps)."""
        return iso_utc(self.now())


def iso_utc(unix_s: float) -> str:
    """Format a Unix timestamp as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    whole = int(unix_s)
    ms = int(round((unix_s - whole) * 1000))
    if ms == 1000:
        whole, ms = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"


def parse_iso_utc(text: str) -> float:
    """Parse an OCPP date-time (RFC 3339, UTC 'Z' or offset) into a Unix timestamp."""
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
