"""The pieces together, as a grid-code suite will use them: a stimulus program from the
parameter set, a synthetic device response, and MRA-aware verdicts. A conformant response
passes; a wrong droop and a slow response are caught."""

from __future__ import annotations

import math

import numpy as np
import pytest

from testbench.analysis.droop import fit_droop, judge_droop
from testbench.analysis.mra import MRA, judge_open_loop, judge_steady_state
from testbench.analysis.response import steady_state
from testbench.analysis.series import Series
from testbench.gridcode.params import load_parameter_set
from testbench.gridcode.stimulus import frequency_steps

T0 = 1_700_000_000.0
P_RATED_W = 11000.0
P_REF_W = 11000.0  # discharging at rated power when the threshold is crossed


def device_response(program, start_lab_s, droop_pct, tr_s, params, seed=0):
    """Active power of a V2G pair: LFSM-O with ``droop_pct``, first order with 90 % at
    ``tr_s``, sampled at 5 Hz with noise and 5 % missing samples."""
    rng = np.random.default_rng(seed)
    t = start_lab_s + np.arange(0.0, program.duration_s, 0.2)
    f = program.frequency_at(t - start_lab_s)
    target = P_REF_W - P_REF_W * np.maximum(0.0, f - params.lfsm_o.threshold_hz) / (
        50.0 * droop_pct / 100.0)
    p = np.empty_like(target)
    p[0] = target[0]
    alpha = 1.0 - math.exp(-0.2 * math.log(10) / tr_s)
    for k in range(1, t.size):
        p[k] = p[k - 1] + alpha * (target[k] - p[k - 1])
    p += rng.normal(0.0, 30.0, t.size)
    p[rng.random(t.size) < 0.05] = np.nan
    return Series("power_w", "W", t, p), Series("frequency_hz", "Hz", t, f)


@pytest.mark.parametrize(("droop_pct", "tr_s", "verdict"), [
    (5.0, 2.0, {"open_loop": True, "steady": True, "droop": True}),
    (8.0, 2.0, {"open_loop": False, "steady": False, "droop": False}),  # wrong droop
    (5.0, 6.0, {"open_loop": False, "steady": True, "droop": True}),  # too slow
])
def test_lfsm_o_step_judged_against_the_parameter_set(droop_pct, tr_s, verdict):
    params = load_parameter_set("en50549-default")
    tr = params.lfsm_o.response_time_s
    # The open-loop step must be large against the MRA of P (+-1.5 x 5 % S_rated): a 1.3 kW
    # step on an 11 kVA unit has a band wider than the step and judges nothing.
    levels = [50.0, 51.4, 50.1, 50.2, 50.5, 50.8, 51.1, 50.0]
    program = frequency_steps(levels, dwell_s=[10.0] + [4 * tr + 5.0] * 7, voltage_v=230.0)
    power, freq = device_response(program, T0, droop_pct, tr_s, params)
    mra = MRA()
    step_at = T0 + float(program.starts_s[1])  # 50.0 -> 51.4 Hz: -5280 W
    y0 = P_REF_W
    yss = P_REF_W + params.lfsm_o.delta_p_w(51.4, P_REF_W)
    open_loop = judge_open_loop(power, step_at, y0, yss, tr, mra, rated=P_RATED_W)

    points_f, points_p = [], []
    for k in range(len(levels) - 1):
        start = T0 + float(program.starts_s[k])
        end = start + program.segments[k].duration_s
        points_f.append(steady_state(freq, start, tr, until_lab_s=end))
        points_p.append(steady_state(power, start, tr, until_lab_s=end))
    steady = [judge_steady_state(f, p, lambda x: P_REF_W + np.vectorize(
        lambda v: params.lfsm_o.delta_p_w(v, P_REF_W))(x), mra.frequency_hz(),
        mra.power(P_RATED_W), x_name="frequency", x_unit="Hz", y_name="power",
        y_unit="W") for f, p in zip(points_f, points_p, strict=True)]
    fit = fit_droop(points_f, points_p, P_REF_W)
    thr, droop = judge_droop(fit, params.lfsm_o.threshold_hz, params.lfsm_o.droop_pct,
                             threshold_tol_hz=0.05, droop_tol_pct=0.5)

    assert open_loop.passed is verdict["open_loop"], open_loop.explanation
    assert all(j.passed for j in steady) is verdict["steady"], [j.explanation for j in steady]
    assert (thr.passed and droop.passed) is verdict["droop"], (thr.explanation,
                                                               droop.explanation)
    assert fit.droop_pct == pytest.approx(droop_pct, rel=0.05)
