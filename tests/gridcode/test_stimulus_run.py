"""Running stimulus programs on a fake grid emulator with a fast lab clock: list mode where
the driver has it, point by point otherwise; commands and their lab times are checked with
generous margins (the machine may be busy)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from testbench.clock import LabClock
from testbench.errors import BenchError, InstrumentError
from testbench.gridcode.stimulus import (
    StimulusBuilder,
    frequency_ramp,
    frequency_steps,
    outage_and_restore,
)
from testbench.gridcode.stimulus_run import (
    PointOptions,
    has_list_mode,
    run_stimulus,
    start_stimulus,
)

LATE_S = 1.5  # lab seconds a command may be late (75 ms of wall time at scale 20)


def test_points_mode_sends_each_step_at_its_lab_time(clock, fake_grid, fake_list_grid):
    grid = fake_grid(clock)
    program = frequency_steps([50.0, 50.4, 50.7, 50.0], dwell_s=4.0, voltage_v=230.0)
    run = run_stimulus(grid, program, clock)
    assert run.mode == "points" and not has_list_mode(grid)
    sent = grid.of("set_frequency_hz")
    assert [a[0] for _, a in sent] == [50.0, 50.4, 50.7, 50.0]
    assert [a[0] for _, a in grid.of("set_voltage_v")] == [230.0]  # unchanged: sent once
    for (t, _), planned in zip(sent, program.starts_s, strict=True):
        assert 0.0 <= t - (run.start_lab_s + planned) < LATE_S
    assert clock.now() >= run.end_lab_s  # returned after the program's end
    assert run.segment_start_lab_s(2) == pytest.approx(sent[2][0], abs=0.5)
    commanded = run.commanded("frequency_hz")
    assert commanded.at(run.start_lab_s + 6.0) == pytest.approx(50.4)


def test_points_mode_ramps_by_interpolated_setpoints_on_the_line(clock, fake_grid, fake_list_grid):
    grid = fake_grid(clock)
    program = frequency_ramp(50.0, 51.0, 0.5, 230.0, hold_before_s=1.0, hold_after_s=1.0)
    run = run_stimulus(grid, program, clock, options=PointOptions(update_interval_s=0.2))
    sent = grid.of("set_frequency_hz")
    values = np.array([a[0] for _, a in sent])
    times = np.array([t for t, _ in sent])
    assert values[0] == 50.0 and values[-1] == 51.0
    assert np.all(np.diff(values) > 0) and len(values) >= 5
    # Each setpoint is the ramp's value at the moment it was computed (before the call).
    expected = run.frequency_reference()(times)
    assert np.max(np.abs(values - expected)) < 0.5 * LATE_S  # 0.5 Hz/s ramp


def test_slew_mode_uses_the_instrument_ramp_and_restores_step_slews(clock, fake_grid, fake_list_grid):
    grid = fake_grid(clock)
    program = (StimulusBuilder(230.0, 50.0).hold(1.0)
               .ramp(2.0, frequency_hz=51.0).step(1.0, frequency_hz=50.0).build())
    opts = PointOptions(ramp_method="slew", step_voltage_slew_v_per_s=5000.0,
                        step_frequency_slew_hz_per_s=50.0)
    run_stimulus(grid, program, clock, options=opts)
    names = [m for _, m, _ in grid.calls]
    assert names == ["set_slew", "set_voltage_v", "set_frequency_hz", "set_slew",
                     "set_frequency_hz", "set_slew", "set_frequency_hz"]
    slews = [a for _, a in grid.of("set_slew")]
    assert slews == [(5000.0, 50.0), (None, 0.5), (5000.0, 50.0)]
    assert [a[0] for _, a in grid.of("set_frequency_hz")] == [50.0, 51.0, 50.0]


def test_outage_switches_the_output_off_and_on_again(clock, fake_grid, fake_list_grid):
    grid = fake_grid(clock)
    program = outage_and_restore(230.0, 50.0, outage_s=3.0, pre_s=2.0, post_s=2.0,
                                 restore_frequency_hz=50.05)
    run = run_stimulus(grid, program, clock, mode="auto")
    assert run.mode == "points"
    names = [(m, a) for _, m, a in grid.calls]
    assert names == [("set_voltage_v", (230.0,)), ("set_frequency_hz", (50.0,)),
                     ("output", (False,)), ("set_frequency_hz", (50.05,)), ("output", (True,))]
    t_off = grid.of("output")[0][0] - run.start_lab_s
    t_on = grid.of("output")[1][0] - run.start_lab_s
    assert 2.0 <= t_off < 2.0 + LATE_S and 5.0 <= t_on < 5.0 + LATE_S
    assert run.voltage_reference()(np.array([run.start_lab_s + 3.0]))[0] == 0.0


def test_list_mode_loads_the_program_and_triggers_it(clock, fake_grid, fake_list_grid):
    grid = fake_list_grid()
    program = frequency_ramp(50.0, 51.5, 2.0, 230.0, hold_before_s=1.0, hold_after_s=1.0)
    before = clock.now()
    run = start_stimulus(grid, program, clock)
    assert run.mode == "list" and has_list_mode(grid)
    assert grid.loaded == program.to_list_steps()
    assert [m for _, m, _ in grid.calls] == ["program_list", "start_list"]
    assert before <= run.start_lab_s <= clock.now()
    assert run.start_uncertainty_s >= 0.0
    run.wait()
    assert clock.now() >= run.end_lab_s
    run.stop()
    assert grid.calls[-1][1] == "stop_list"


def test_list_mode_sends_plain_steps_when_nothing_ramps(clock, fake_grid, fake_list_grid):
    grid = fake_list_grid(ramps=False)
    start_stimulus(grid, frequency_steps([50.0, 50.5], 1.0, 230.0), clock).stop()
    assert grid.loaded == [(1.0, 230.0, 50.0), (1.0, 230.0, 50.5)]


def test_list_mode_falls_back_to_a_staircase_when_the_driver_cannot_ramp(clock, fake_grid, fake_list_grid):
    grid = fake_list_grid(ramps=False)
    program = frequency_ramp(50.0, 51.0, 1.0, 230.0, hold_before_s=1.0, hold_after_s=1.0)
    run = start_stimulus(grid, program, clock, ramp_resolution_s=0.25)
    run.stop()
    assert run.mode == "list"
    assert len(grid.loaded) == 1 + 4 + 1 and all(len(s) == 3 for s in grid.loaded)
    assert [s[2] for s in grid.loaded[1:5]] == pytest.approx([50.125, 50.375, 50.625, 50.875])
    with pytest.raises(InstrumentError, match="ramped steps"):
        start_stimulus(fake_list_grid(ramps=False), program, clock, list_ramps=True)


def test_list_mode_is_not_used_when_the_program_does_not_fit(clock, fake_grid, fake_list_grid):
    grid = fake_list_grid()
    too_long = frequency_steps([50.0 + 0.01 * k for k in range(101)], 0.01, 230.0)
    run = start_stimulus(grid, too_long, clock)
    run.stop()
    assert run.mode == "points" and not grid.of("program_list")
    with pytest.raises(BenchError, match="more than the 100 a list holds"):
        start_stimulus(grid, too_long, clock, mode="list")
    outage = outage_and_restore(230.0, 50.0, outage_s=1.0, pre_s=1.0, post_s=1.0)
    with pytest.raises(BenchError, match="switches the output off"):
        start_stimulus(grid, outage, clock, mode="list")
    with pytest.raises(BenchError, match="no list mode"):
        start_stimulus(fake_grid(clock), outage, clock, mode="list")
    # A staircase too long for a list: auto mode plays it point by point instead.
    ramp = frequency_ramp(50.0, 51.0, 0.01, 230.0, hold_before_s=1.0, hold_after_s=1.0)
    stepped = fake_list_grid(ramps=False)
    run = start_stimulus(stepped, ramp, clock, ramp_resolution_s=1.0)
    run.stop()
    assert run.mode == "points" and not stepped.of("start_list")


def test_an_instrument_error_in_points_mode_reaches_the_caller(clock, fake_grid, fake_list_grid):
    grid = fake_grid(fail_on="set_frequency_hz", fail_after=2)
    program = frequency_steps([50.0, 50.4, 50.7], dwell_s=1.0, voltage_v=230.0)
    with pytest.raises(InstrumentError, match="simulated failure"):
        run_stimulus(grid, program, clock)
    assert len(grid.of("set_frequency_hz")) == 2  # nothing sent after the failure


def test_stop_ends_a_points_run_early(clock, fake_grid, fake_list_grid):
    grid = fake_grid(clock)
    program = frequency_steps([50.0, 50.4, 50.7], dwell_s=20.0, voltage_v=230.0)
    run = start_stimulus(grid, program, clock)
    time.sleep(0.2)  # wall: 4 lab s, inside the first step
    run.stop()
    assert not run.running
    assert [a[0] for _, a in grid.of("set_frequency_hz")] == [50.0]


def test_wait_times_out_on_a_run_that_does_not_end(fake_grid, fake_list_grid):
    slow = LabClock(scale=1.0)
    grid = fake_grid(slow)
    run = start_stimulus(grid, frequency_steps([50.0], 60.0, 230.0), slow)
    try:
        with pytest.raises(BenchError, match="still running"):
            run.wait(timeout_s=0.1)
    finally:
        run.stop()
    listed = start_stimulus(fake_list_grid(slow), frequency_steps([50.0], 60.0, 230.0), slow)
    try:
        with pytest.raises(BenchError, match="still running"):
            listed.wait(timeout_s=0.1)
    finally:
        listed.stop()


def test_verdict_timing_is_the_same_at_any_clock_scale(fake_grid):
    """The commanded lab times of a program do not depend on the time scale."""
    offsets = []
    for scale in (10.0, 40.0):
        clock = LabClock(scale=scale)
        grid = fake_grid(clock)
        run = run_stimulus(grid, frequency_steps([50.0, 50.5, 50.0], 3.0, 230.0), clock)
        offsets.append([t - run.start_lab_s for t, _ in grid.of("set_frequency_hz")])
    for a, b in zip(*offsets, strict=True):
        assert abs(a - b) < LATE_S
    assert offsets[0][1] == pytest.approx(3.0, abs=LATE_S)


def test_the_program_runs_itself(clock, fake_grid, fake_list_grid):
    grid = fake_list_grid()
    program = frequency_steps([50.0, 50.2], 1.0, 230.0)
    run = program.run(grid, clock, wait=False, mode="points")
    run.wait()
    assert run.mode == "points" and [a[0] for _, a in grid.of("set_frequency_hz")] == \
        [50.0, 50.2]
    assert program.run(grid, clock).mode == "list"
