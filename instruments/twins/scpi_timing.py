"""Playing a grid emulator's list (transient) program on absolute deadlines.

A list step lasts its dwell in instrument (lab) seconds. Sleeping ``dwell / scale`` after
each step's work lets every step's overhead (event-loop latency, the plant update) add up:
under time compression a list ran 1.3-1.6x slower than programmed at scale 10. Here step n
ends at ``start + (dwell_0 + ... + dwell_n) / scale`` on the event loop's monotonic clock,
whatever the updates cost; a ramp is updated at most every ``ramp_tick_s`` lab seconds and
never more often than ``MIN_TICK_WALL_S`` wall seconds, with the value for the time actually
reached (a late tick does not lag the ramp).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MIN_TICK_WALL_S = 0.005
"""Shortest wall interval between two ramp updates (bounds the work at high time scales)."""


@dataclass(frozen=True)
class ListStep:
    """One list step: dwell (lab s) and start/end voltage (V) and frequency (Hz)."""

    dwell_s: float
    voltage_v: float
    frequency_hz: float
    end_voltage_v: float
    end_frequency_hz: float

    @property
    def ramped(self) -> bool:
        return self.voltage_v != self.end_voltage_v or self.frequency_hz != self.end_frequency_hz


async def play_steps(steps: Iterable[ListStep], time_scale: float,
                     apply: Callable[[float, float], None], step_done: Callable[[], None],
                     *, ramp_tick_s: float = 0.02) -> None:
    """Apply each step's values (``apply(voltage_v, frequency_hz)``) on absolute deadlines.

    ``time_scale`` is lab seconds per wall second; ``step_done`` is called at each step's
    end, after its end values are applied.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    elapsed_lab_s = 0.0
    tick_wall_s = max(ramp_tick_s / time_scale, MIN_TICK_WALL_S)
    for step in steps:
        step_start = start + elapsed_lab_s / time_scale
        elapsed_lab_s += max(0.0, step.dwell_s)
        step_end = start + elapsed_lab_s / time_scale
        apply(step.voltage_v, step.frequency_hz)
        if step.ramped and step_end > step_start:
            while True:
                now = loop.time()
                if now >= step_end:
                    break
                await asyncio.sleep(min(tick_wall_s, step_end - now))
                x = min(1.0, (loop.time() - step_start) / (step_end - step_start))
                apply(step.voltage_v + (step.end_voltage_v - step.voltage_v) * x,
                      step.frequency_hz + (step.end_frequency_hz - step.frequency_hz) * x)
        else:
            delay = step_end - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        apply(step.end_voltage_v, step.end_frequency_hz)
        step_done()
