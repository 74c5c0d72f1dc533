"""The grid-code suites' sampling rate: bounded in wall time, never below the floor that
their tolerances are built on (so the verdicts do not depend on the time scale)."""

from __future__ import annotations

import pytest

from suites.gridcode import _support as s
from testbench.clock import LabClock


@pytest.mark.parametrize(("scale", "floor", "preferred", "lab_hz"), [
    (1.0, s.RESPONSE_RATE_HZ, s.RATE_HZ, 10.0),    # real time: the preferred rate
    (10.0, s.RESPONSE_RATE_HZ, s.RATE_HZ, 10.0),   # 100 Hz wall: still allowed
    (20.0, s.RESPONSE_RATE_HZ, s.RATE_HZ, 5.0),    # lowered to the wall bound, = the floor
    (50.0, s.RESPONSE_RATE_HZ, s.RATE_HZ, 5.0),    # never below the floor
    (1.0, s.RATE_HZ, 20.0, 20.0),                  # trip timing, finer when there is room
    (20.0, s.RATE_HZ, 20.0, 10.0),                 # the floor wins over the wall bound
])
def test_rate_is_bounded_in_wall_time_down_to_the_floor(scale, floor, preferred, lab_hz):
    rate = s.sample_rate_hz(LabClock(scale=scale), floor, preferred_hz=preferred)
    assert rate == pytest.approx(lab_hz)
    assert rate >= floor
    assert rate * scale <= max(s.MAX_WALL_RATE_HZ, floor * scale) + 1e-9
