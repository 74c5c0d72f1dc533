"""Accuracy-aware pass bands (IEEE 1547.1-2020 practice): "90 % at Tr" and steady state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from testbench.analysis.mra import (
    MRA,
    judge_open_loop,
    judge_steady_state,
    open_loop_band,
    open_loop_envelope,
    open_loop_target,
    steady_state_band,
)
from testbench.analysis.series import NoDataError, Series

T0 = 1_700_000_000.0


def test_mra_defaults_and_units():
    mra = MRA()
    assert mra.voltage_v(230.0) == pytest.approx(2.3)
    assert mra.voltage_v(230.0, transient=True) == pytest.approx(4.6)
    assert mra.frequency_hz() == 0.01 and mra.frequency_hz(transient=True) == 0.1
    assert mra.power(11000.0) == pytest.approx(550.0)
    assert mra.time_s(10.0) == pytest.approx(0.1)
    assert mra.for_unit("kW", rated=11000.0) == pytest.approx(0.55)
    assert mra.for_unit("var", rated=11000.0) == pytest.approx(550.0)
    assert mra.for_unit("Hz") == 0.01
    with pytest.raises(ValueError, match="rated"):
        mra.for_unit("W")
    with pytest.raises(ValueError, match="no MRA"):
        mra.for_unit("A", rated=16.0)


def test_open_loop_target_is_90_percent_at_tr():
    assert open_loop_target(10.0, 0.0, 100.0, 10.0) == pytest.approx(90.0)
    assert open_loop_target(-1.0, 0.0, 100.0, 10.0) == 0.0
    assert open_loop_target(20.0, 100.0, 0.0, 10.0) == pytest.approx(1.0)


def test_open_loop_band_at_tr_is_the_target_at_tr_pm_1p5_mra_t_widened_by_1p5_mra_y():
    low, high = open_loop_band(10.0, 0.0, 100.0, 10.0, mra_t_s=0.1, mra_y=0.0)
    assert low == pytest.approx(100 * (1 - 10 ** (-(10 - 0.15) / 10)))  # 89.65 %
    assert high == pytest.approx(100 * (1 - 10 ** (-(10 + 0.15) / 10)))  # 90.34 %
    low2, high2 = open_loop_band(10.0, 0.0, 100.0, 10.0, mra_t_s=0.1, mra_y=2.0)
    assert low2 == pytest.approx(low - 3.0) and high2 == pytest.approx(high + 3.0)
    # A falling step: the band is still ordered low < high.
    lo_f, hi_f = open_loop_band(10.0, 100.0, 0.0, 10.0, 0.1, 0.0)
    assert lo_f == pytest.approx(100 - high) and hi_f == pytest.approx(100 - low)
    lows, highs = open_loop_band(np.array([0.0, 10.0]), 0.0, 100.0, 10.0, 0.1, 1.0)
    assert np.all(lows < highs) and lows[0] == pytest.approx(-1.5)


def response(tr_s: float, p0: float = 0.0, pss: float = 8000.0, dead_s: float = 0.0,
             seed: int = 0, noise_w: float = 30.0) -> Series:
    rng = np.random.default_rng(seed)
    t = T0 + np.arange(-5.0, 40.0, 0.2) + rng.uniform(-0.05, 0.05, 225)
    s = np.maximum(t - T0 - dead_s, 0.0)
    y = p0 + (pss - p0) * (1 - np.exp(-s * math.log(10) / tr_s)) + rng.normal(0, noise_w, t.size)
    y[rng.random(t.size) < 0.1] = np.nan
    return Series("power_w", "W", t, y)


def test_judge_open_loop_passes_a_conformant_response_and_explains_it():
    j = judge_open_loop(response(10.0), T0, 0.0, 8000.0, 10.0, MRA(), rated=11000.0)
    assert j.passed, j.explanation
    assert j.details["percent_of_step"] == pytest.approx(90.0, abs=1.5)
    assert "of the step" in j.explanation and "at Tr = 10 s" in j.explanation
    assert "required 90 %" in j.explanation and "with MRA" in j.explanation
    assert j.required[0] < 7200.0 < j.required[1]


def test_judge_open_loop_fails_a_slow_and_a_hasty_response():
    slow = judge_open_loop(response(20.0), T0, 0.0, 8000.0, 10.0, MRA(), rated=11000.0)
    assert not slow.passed and slow.measured < slow.required[0] and slow.margin < 0
    assert "68." in slow.explanation  # 1 - 10^-0.5 = 68.4 % of the step at Tr
    # 3 s dead time on a 10 s Tr, full-scale step: 80 % at Tr, below the band 82.1..97.9 %.
    late = judge_open_loop(response(10.0, pss=11000.0, dead_s=3.0), T0, 0.0, 11000.0, 10.0,
                           MRA(), rated=11000.0)
    assert not late.passed and late.details["band_pct"][0] == pytest.approx(82.1, abs=0.1)


def test_judge_open_loop_of_a_falling_reactive_power_step_with_explicit_mra():
    t = T0 + np.arange(-5.0, 60.0, 0.2)
    q = np.where(t < T0, 0.0, -4400.0 * (1 - np.exp(-(t - T0) * math.log(10) / 10.0)))
    s = Series("q_var", "var", t, q)
    j = judge_open_loop(s, T0, 0.0, -4400.0, 10.0, MRA(), mra_y=100.0)
    assert j.passed and j.measured == pytest.approx(-3960.0, abs=1.0)
    assert j.required[0] < j.required[1]


def test_judge_open_loop_without_data_at_tr_is_a_bench_error():
    s = response(10.0)
    gap = Series(s.name, s.unit, s.t_lab_s,
                 np.where(np.abs(s.t_lab_s - T0 - 10.0) < 2.0, np.nan, s.values))
    with pytest.raises(NoDataError, match="gap"):
        judge_open_loop(gap, T0, 0.0, 8000.0, 10.0, MRA(), rated=11000.0)
    with pytest.raises(NoDataError, match="record through"):
        judge_open_loop(s, T0, 0.0, 8000.0, 60.0, MRA(), rated=11000.0)


def test_open_loop_envelope_as_series_for_plots():
    t = T0 + np.arange(-1.0, 30.0, 0.5)
    low, high = open_loop_envelope(t, T0, 0.0, 8000.0, 10.0, 0.1, 550.0, "power_w", "W")
    assert low.unit == "W" and np.all(low.values < high.values)
    assert low.name == "power_w min" and high.at(T0 + 10.0) > 7200.0


def q_of_u(u_v: np.ndarray | float) -> np.ndarray:
    """Q(U) with a dead band 0.97..1.03 Un, +-4400 var at 0.93 / 1.07 Un (230 V)."""
    u = np.asarray(u_v, dtype=float) / 230.0
    return np.interp(u, [0.93, 0.97, 1.03, 1.07], [4400.0, 0.0, 0.0, -4400.0])


def test_steady_state_band_catches_the_kink_of_the_dead_band():
    # At the dead-band edge the window of +-1.5 MRA_U reaches into the slope.
    low, high = steady_state_band(1.03 * 230.0, q_of_u, mra_x=2.3, mra_y=0.0)
    assert high == pytest.approx(0.0, abs=1e-9)
    assert low == pytest.approx(-4400.0 * 3.45 / (0.04 * 230.0), rel=1e-6)


def test_judge_steady_state_passes_within_mra_and_fails_the_wrong_sign():
    u = 1.05 * 230.0  # expected Q = -2200 var
    mra_q = MRA().power(11000.0)  # 550 var
    ok = judge_steady_state(u, -2300.0, q_of_u, MRA().voltage_v(230.0), mra_q,
                            x_name="voltage", x_unit="V", y_name="reactive power",
                            y_unit="var")
    assert ok.passed and ok.details["expected"] == pytest.approx(-2200.0)
    assert "at voltage = 241.5 V the steady-state reactive power was -2300 var" in \
        ok.explanation
    wrong_sign = judge_steady_state(u, 2200.0, q_of_u, 2.3, mra_q)
    assert not wrong_sign.passed and wrong_sign.margin < -1500


def test_judge_steady_state_accepts_a_scalar_only_characteristic():
    def curve(x: float) -> float:
        return 1.0 if x > 5.0 else 0.0

    assert judge_steady_state(5.0, 1.0, curve, mra_x=0.1, mra_y=0.0).passed
    assert not judge_steady_state(3.0, 1.0, curve, mra_x=0.1, mra_y=0.0).passed
