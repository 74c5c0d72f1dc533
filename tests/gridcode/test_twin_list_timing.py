"""Grid-emulator twins play their lists on absolute deadlines: per-step overhead does not add
up under time compression, ramps follow the time actually reached."""

from __future__ import annotations

import asyncio
import time

from instruments.twins.ports import SimpleGrid
from instruments.twins.scpi_chroma import ChromaGridTwin
from instruments.twins.scpi_timing import MIN_TICK_WALL_S, ListStep, play_steps

SCALE = 20.0


def _play(steps: list[ListStep], cost_s: float) -> tuple[float, list[tuple[float, float, float]]]:
    """Run ``steps`` with an ``apply`` that costs ``cost_s`` wall s; (wall s, applied)."""
    applied: list[tuple[float, float, float]] = []
    done: list[float] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()

        def apply(v: float, f: float) -> None:
            time.sleep(cost_s)  # a slow plant update, on the loop thread
            applied.append((loop.time() - start, v, f))

        await play_steps(steps, SCALE, apply, lambda: done.append(loop.time() - start))
        return loop.time() - start

    wall = asyncio.run(main())
    assert len(done) == len(steps)
    return wall, applied


def test_many_short_steps_with_slow_updates_do_not_drift() -> None:
    # 50 steps of 0.4 lab s = 20 lab s = 1.0 wall s at scale 20; every update costs 4 ms,
    # two updates per step: sleeping the dwell after the work would take 1.4 s.
    steps = [ListStep(0.4, 230.0, 50.0 + (n % 2) * 0.5, 230.0, 50.0 + (n % 2) * 0.5)
             for n in range(50)]
    wall, applied = _play(steps, 0.004)
    assert 0.99 <= wall < 1.25, f"list of 1.0 wall s took {wall:.3f} s"
    assert applied[-1][1:] == (230.0, 50.5)


def test_ramp_updates_are_bounded_in_wall_time_and_end_on_the_end_value() -> None:
    # One 10 lab s ramp (0.5 wall s): at most one update per MIN_TICK_WALL_S.
    wall, applied = _play([ListStep(10.0, 230.0, 50.0, 230.0, 51.0)], 0.0)
    assert 0.49 <= wall < 0.75
    assert len(applied) <= 0.5 / MIN_TICK_WALL_S + 3
    assert applied[-1][2] == 51.0
    freqs = [f for _t, _v, f in applied]
    assert freqs == sorted(freqs), "a ramp never goes backwards"
    # values follow the time reached: mid-ramp value at about mid-time
    t_mid, _v, f_mid = min(applied, key=lambda a: abs(a[0] - 0.25))
    assert abs(f_mid - (50.0 + t_mid / 0.5)) < 0.05


class SlowGrid(SimpleGrid):
    """A grid node whose every frequency update costs 2 ms (a busy plant)."""

    def set_frequency_hz(self, frequency_hz: float) -> None:
        time.sleep(0.002)
        super().set_frequency_hz(frequency_hz)


def test_chroma_twin_list_runs_on_schedule_at_scale_20() -> None:
    grid = SlowGrid()
    twin = ChromaGridTwin(grid)
    twin.time_scale = SCALE

    async def main() -> tuple[float, float]:
        for line in ("OUTP:REL ON", "OUTP:STAT ON", "LIST:COUN 1", "LIST:BASE TIME",
                     # 30 steps of 500 ms = 15 lab s = 0.75 wall s
                     "LIST:DWEL " + ",".join(["500"] * 30),
                     "LIST:VOLT:AC:STAR " + ",".join(["230"] * 30),
                     "LIST:VOLT:AC:END " + ",".join(["230"] * 30),
                     "LIST:FREQ:STAR " + ",".join(["50", "51"] * 15),
                     "LIST:FREQ:END " + ",".join(["50", "51"] * 15),
                     "OUTP:MODE LIST"):
            await twin.execute_line(line)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await twin.execute_line("TRIG ON")
        assert twin._list_task is not None
        await asyncio.wait_for(twin._list_task, 5.0)
        return loop.time() - start, grid.frequency_hz

    wall, last_hz = asyncio.run(main())
    assert twin.steps_run == 30
    assert last_hz == 51.0
    assert 0.74 <= wall < 1.0, f"15 lab s list at scale 20 took {wall:.3f} wall s"
