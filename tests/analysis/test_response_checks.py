"""Response checks on synthetic signals with known answers: noise (seeded), offsets,
irregular sampling and missing samples. Each check is shown to pass on the conformant
signal and to fail on a defective one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from testbench.analysis.judgement import Judgement, judge_value
from testbench.analysis.response import (
    crossing_time,
    first_order,
    follows_reference,
    is_constant,
    is_first_order,
    is_ramp,
    is_step,
    steady_state,
)
from testbench.analysis.series import NoDataError, Series
from testbench.errors import DeviceFailure

T0 = 1_700_000_000.0  # a lab time in seconds since the epoch, as recordings have


def grid(seconds: float, rate_hz: float = 5.0, *, start_s: float = 0.0, jitter: float = 0.3,
         seed: int = 0) -> np.ndarray:
    """Irregular sample times: a ``rate_hz`` grid with +-``jitter`` of a period of jitter."""
    rng = np.random.default_rng(seed)
    k = np.arange(round(start_s * rate_hz), round(seconds * rate_hz))
    return T0 + (k + rng.uniform(-jitter, jitter, k.size)) / rate_hz


def noisy(t: np.ndarray, y: np.ndarray, sigma: float, missing: float = 0.1, seed: int = 1,
          name: str = "power_w", unit: str = "W") -> Series:
    rng = np.random.default_rng(seed)
    values = y + rng.normal(0.0, sigma, t.size)
    values[rng.random(t.size) < missing] = np.nan
    return Series(name, unit, t, values)


# ------------------------------------------------------------------------ is_constant
def test_is_constant_passes_within_tolerance_and_reports_the_worst_deviation():
    t = grid(20)
    s = noisy(t, np.full(t.size, 230.0), sigma=0.2, name="voltage_v", unit="V")
    j = is_constant(s, tol=1.0)
    assert j.passed and isinstance(j, Judgement)
    assert 0.3 < j.measured < 1.0
    assert j.required == (0.0, 1.0)
    assert j.margin == pytest.approx(1.0 - j.measured)
    assert "voltage_v stayed within" in j.explanation and "missing" in j.explanation


def test_is_constant_fails_on_one_spike_and_on_an_offset_from_the_value_asked():
    t = grid(20)
    y = np.full(t.size, 230.0)
    y[40] = 233.0
    spiky = Series("voltage_v", "V", t, y)
    assert not is_constant(spiky, tol=1.0).passed
    offset = Series("voltage_v", "V", t, np.full(t.size, 231.5))
    assert is_constant(offset, tol=1.0).passed
    j = is_constant(offset, tol=1.0, value=230.0)
    assert not j.passed and j.measured == pytest.approx(1.5) and j.margin < 0


def test_is_constant_uses_only_the_window_and_ignores_missing_samples():
    t = grid(20)
    y = np.where(t < T0 + 10, 100.0, 200.0)
    y[::3] = np.nan
    s = Series("power_w", "W", t, y)
    assert is_constant(s, tol=0.1, window=(None, T0 + 9.5)).passed
    assert is_constant(s, tol=0.1, window=(T0 + 10.5, None)).passed
    assert not is_constant(s, tol=0.1).passed


def test_is_constant_on_an_empty_window_is_a_bench_error_not_a_pass():
    s = Series("power_w", "W", grid(5), np.full(grid(5).size, np.nan))
    with pytest.raises(NoDataError, match="no valid sample"):
        is_constant(s, tol=1.0)


# ------------------------------------------------------------------------ is_step
def voltage_step(t: np.ndarray, at_s: float, before: float, after: float) -> np.ndarray:
    return np.where(t < T0 + at_s, before, after)


def test_is_step_passes_a_noisy_step_at_the_right_time():
    t = grid(20)
    s = noisy(t, voltage_step(t, 10.0, 230.0, 195.5), sigma=0.2, name="voltage_v", unit="V")
    j = is_step(s, T0 + 10.0, 230.0, 195.5, tol=1.0, transition_s=0.2)
    assert j.passed, j.explanation
    assert j.details["samples_before"] > 30 and j.details["samples_after"] > 30


def test_is_step_fails_a_late_step_and_a_wrong_final_value():
    t = grid(20)
    late = Series("voltage_v", "V", t, voltage_step(t, 11.0, 230.0, 195.5))
    j = is_step(late, T0 + 10.0, 230.0, 195.5, tol=1.0, transition_s=0.2)
    assert not j.passed and j.measured == pytest.approx(34.5)
    wrong = Series("voltage_v", "V", t, voltage_step(t, 10.0, 230.0, 200.0))
    assert not is_step(wrong, T0 + 10.0, 230.0, 195.5, tol=1.0).passed


def test_is_step_needs_samples_before_the_step():
    t = grid(20, start_s=10.5)
    s = Series("voltage_v", "V", t, np.full(t.size, 195.5))
    with pytest.raises(NoDataError, match="before the step"):
        is_step(s, T0 + 10.0, 230.0, 195.5, tol=1.0)


# ------------------------------------------------------------------------ is_ramp
def test_is_ramp_passes_a_noisy_ramp_with_an_offset_and_fails_a_wrong_slope():
    t = grid(30)
    f = 50.0 + 0.1 * np.clip(t - (T0 + 5), 0, None)  # 0.1 Hz/s from 5 s
    s = noisy(t, f + 0.004, sigma=0.002, name="frequency_hz", unit="Hz")
    j = is_ramp(s, T0 + 6, T0 + 25, 0.1, tol=0.01, slope_tol_per_s=0.002)
    assert j.passed, j.explanation
    assert j.details["fitted_slope_per_s"] == pytest.approx(0.1, abs=0.001)
    assert j.details["offset"] == pytest.approx(50.104, abs=0.002)
    # A device (or source) ramping at 0.12 Hz/s is caught by the line and by the slope.
    fast = Series("frequency_hz", "Hz", t, 50.0 + 0.12 * np.clip(t - (T0 + 5), 0, None))
    j = is_ramp(fast, T0 + 6, T0 + 25, 0.1, tol=0.05, slope_tol_per_s=0.002)
    assert not j.passed and "outside" in j.explanation


def test_is_ramp_with_a_fixed_start_value_catches_an_offset():
    t = grid(30)
    s = Series("frequency_hz", "Hz", t, 50.02 + 0.1 * (t - T0))
    assert is_ramp(s, T0 + 5, T0 + 25, 0.1, tol=0.005).passed
    assert not is_ramp(s, T0 + 5, T0 + 25, 0.1, tol=0.005, start_value=50.5).passed


# ------------------------------------------------------------------------ is_first_order
def test_is_first_order_passes_the_true_response_and_fails_a_slow_one():
    """tau 3 s, 0.5 s dead time, noise 0.5 % of the step, 10 % missing, 5 Hz jittered."""
    t = grid(40, start_s=-5)
    good = noisy(t, first_order(t - T0, 1000.0, 5000.0, 3.0, 0.5), sigma=20.0)
    j = is_first_order(good, T0, 1000.0, 5000.0, 3.0, tol=100.0, dead_time_s=0.5,
                       tau_tol_pct=5.0)
    assert j.passed, j.explanation
    assert j.details["fitted_tau_s"] == pytest.approx(3.0, rel=0.05)
    slow = noisy(t, first_order(t - T0, 1000.0, 5000.0, 4.5, 0.5), sigma=20.0)
    j = is_first_order(slow, T0, 1000.0, 5000.0, 3.0, tol=100.0, dead_time_s=0.5)
    assert not j.passed and "fitted tau 4.5" in j.explanation


def test_is_first_order_tau_tolerance_catches_a_response_inside_a_loose_band():
    t = grid(40, start_s=-5)
    s = Series("q_var", "var", t, first_order(t - T0, 0.0, -4000.0, 3.6, 0.0))
    assert is_first_order(s, T0, 0.0, -4000.0, 3.0, tol=500.0).passed
    assert not is_first_order(s, T0, 0.0, -4000.0, 3.0, tol=500.0, tau_tol_pct=10.0).passed


# ------------------------------------------------------------------------ follows_reference
def test_follows_reference_allows_the_time_tolerance_and_no_more():
    t = grid(30)
    ref = Series("setpoint", "W", t, np.where(t < T0 + 10, 0.0, 7000.0))
    delayed = Series("power_w", "W", t, np.where(t < T0 + 10.4, 0.0, 7000.0))
    assert follows_reference(delayed, ref, tol=100.0, time_tol_s=0.5).passed
    j = follows_reference(delayed, ref, tol=100.0, time_tol_s=0.1)
    assert not j.passed and j.details["samples_outside"] >= 1
    assert "first at" in j.explanation


def test_follows_reference_with_a_callable_reference_and_noise():
    t = grid(30)
    f = lambda tt: 50.0 + 0.05 * np.sin(2 * math.pi * (np.asarray(tt) - T0) / 10.0)
    s = noisy(t, f(t - 0.2), sigma=0.001, name="frequency_hz", unit="Hz")
    assert follows_reference(s, f, tol=0.005, time_tol_s=0.3).passed
    assert not follows_reference(s, f, tol=0.005, time_tol_s=0.0).passed


def test_follows_reference_that_never_overlaps_is_a_bench_error():
    s = Series("power_w", "W", grid(10), np.zeros(grid(10).size))
    ref = Series("setpoint", "W", grid(10) + 100.0, np.zeros(grid(10).size))
    with pytest.raises(NoDataError, match="overlap"):
        follows_reference(s, ref, tol=1.0, time_tol_s=0.5)


# ------------------------------------------------------------------------ steady state etc.
def test_steady_state_averages_after_two_response_times():
    t = grid(60, start_s=-5)
    s = noisy(t, first_order(t - T0, 1000.0, 5000.0, 3.0), sigma=20.0)
    assert steady_state(s, T0, tr_s=3.0 * math.log(10)) == pytest.approx(5000.0, abs=10.0)
    with pytest.raises(NoDataError, match="2 Tr"):
        steady_state(s, T0, tr_s=40.0)


def test_crossing_time_interpolates_and_respects_direction():
    t = T0 + np.arange(0.0, 10.0, 1.0)
    s = Series("current_a", "A", t, np.array([16, 16, 16, 12, 8, 4, 0, 0, 0, 0], float))

    def rel(value: float | None) -> float | None:
        return None if value is None else value - T0

    assert rel(crossing_time(s, 10.0, direction="falling")) == pytest.approx(3.5, abs=1e-6)
    assert rel(crossing_time(s, 10.0)) == pytest.approx(3.5, abs=1e-6)
    assert rel(crossing_time(s, 10.0, direction="rising")) == 0.0  # already above
    assert crossing_time(s, 20.0) is None
    assert rel(crossing_time(s, 1.0, after_lab_s=T0 + 7, direction="falling")) == 7.0
    assert crossing_time(s, 1.0, after_lab_s=T0 + 7) is None  # no crossing after 7 s


# ------------------------------------------------------------------------ judgement
def test_judgement_reads_as_a_verdict_and_raises_a_device_failure():
    j = judge_value(0.25, high=0.2, what="trip time", unit="s", check="trip_time_81>")
    assert not j and j.verdict == "failed" and j.margin == pytest.approx(-0.05)
    assert str(j).startswith("FAIL trip_time_81>: trip time 0.25 s; required <= 0.2 s")
    with pytest.raises(DeviceFailure, match="trip time 0.25 s"):
        j.require()
    row = j.as_row()
    assert row["required"] == "<= 0.2 s" and row["verdict"] == "failed"
    assert judge_value(49.0, 47.5, 50.1, unit="Hz").require().passed
    assert not judge_value(math.nan, 0.0, 1.0).passed
    with pytest.raises(ValueError, match="empty"):
        judge_value(1.0, 2.0, 1.0)
