"""After a scenario that may trip the unit: give it the chance to reconnect before the next
test, so one trip does not fail the following tests of the same pair."""

from __future__ import annotations

from typing import Any

from suites.gridcode import _support as s
from testbench.gridcode.params import GridCodeParameters


def let_reconnect(grid: Any, analyzer: Any, clock: Any, params: GridCodeParameters,
                  rated_w: float) -> None:
    """Nominal supply; if the grid-side power is (near) zero, wait the observation time."""
    s.energise(grid, params)
    if abs(s.measured_power_w(analyzer, clock, 0.5)) < s.MIN_POWER_PCT / 100.0 * rated_w:
        clock.sleep(float(params.reconnection.observation_time_s) + 2.0)
