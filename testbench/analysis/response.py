"""Response checks on timestamped series, named like a lab engineer thinks.

Every time argument is absolute lab time (``t_lab_s``, as in :class:`Series`); durations are
lab seconds. Samples may be irregular and missing (NaN): checks use the valid samples only,
and a check asked of a window with no valid sample raises
:class:`~testbench.analysis.series.NoDataError` (a bench problem: the recording is too
short or empty), never passes silently.

Checks return a :class:`~testbench.analysis.judgement.Judgement`; the accuracy-aware pass
bands (IEEE 1547.1-style MRA windows) are in :mod:`testbench.analysis.mra` and the droop
fit in :mod:`testbench.analysis.droop`; both are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from testbench.analysis.droop import DroopFit, fit_droop, judge_droop
from testbench.analysis.judgement import Judgement, fmt, judge_value, margin_to
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

Window = tuple[float | None, float | None]
Reference = Callable[[np.ndarray], np.ndarray] | Series


# ----------------------------------------------------------------------------- helpers
def _pairs(series: Series, start: float | None, end: float | None, what: str,
           *, start_open: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Valid (t, v) with start <= t <= end (start < t when ``start_open``)."""
    t, v = series.t_lab_s, series.values
    mask = ~np.isnan(v)
    if start is not None:
        mask &= (t > start) if start_open else (t >= start)
    if end is not None:
        mask &= t <= end
    if not mask.any():
        span = f"{'(' if start_open else '['}{_t(start)}, {_t(end)}]"
        raise NoDataError(
            f"{what}: series {series.name!r} has no valid sample in the window {span} "
            f"({len(series)} samples, {series.valid_count} valid). Record longer or check "
            "the times passed (absolute lab time)")
    return t[mask], v[mask]


def _t(value: float | None) -> str:
    return "open" if value is None else f"{value:.3f}"


def _quantity(series: Series) -> str:
    return series.name or "signal"


def _missing(series: Series, start: float | None, end: float | None) -> int:
    t = series.t_lab_s
    mask = np.ones(t.shape, bool)
    if start is not None:
        mask &= t >= start
    if end is not None:
        mask &= t <= end
    return int(np.count_nonzero(mask & np.isnan(series.values)))


def _check_tol(tol: float, what: str) -> None:
    if not tol >= 0:
        raise ValueError(f"{what}: tolerance must be >= 0, got {tol}")


# ----------------------------------------------------------------------------- checks
def is_constant(series: Series, tol: float, window: Window | None = None,
                value: float | None = None) -> Judgement:
    """The series stays within ``+-tol`` of ``value`` (default: its own mean) in ``window``.

    ``window`` is ``(start_lab_s, end_lab_s)``, either side None for open; None = all.
    """
    _check_tol(tol, "is_constant")
    start, end = window or (None, None)
    t, v = _pairs(series, start, end, "is_constant")
    ref = float(np.mean(v)) if value is None else float(value)
    dev = np.abs(v - ref)
    worst = int(np.argmax(dev))
    measured = float(dev[worst])
    unit = series.unit
    about = "its mean " if value is None else ""
    text = (f"{_quantity(series)} stayed within +-{fmt(measured, unit)} of {about}"
            f"{fmt(ref, unit)} over {fmt(float(t[-1] - t[0]), 's')} ({t.size} samples, "
            f"{_missing(series, start, end)} missing; worst at +{fmt(float(t[worst] - t[0]))} s); "
            f"allowed +-{fmt(tol, unit)}")
    return Judgement(measured <= tol, measured, (0.0, tol), tol - measured, text,
                     "is_constant", unit, {"reference": ref, "samples": int(t.size)})


def is_step(series: Series, t_step: float, from_value: float, to_value: float, tol: float,
            *, transition_s: float = 0.0, before_s: float | None = None,
            after_s: float | None = None) -> Judgement:
    """A step at ``t_step`` from ``from_value`` to ``to_value``, both held within ``+-tol``.

    Samples before ``t_step`` (the last ``before_s`` seconds, default all) must be within
    ``tol`` of ``from_value``; samples later than ``t_step + transition_s`` (for
    ``after_s`` seconds, default all) within ``tol`` of ``to_value``. ``transition_s``
    allows for the instrument's averaging window (e.g. 0.2 s for 10-cycle RMS values).
    """
    _check_tol(tol, "is_step")
    if transition_s < 0:
        raise ValueError(f"is_step: transition_s must be >= 0, got {transition_s}")
    b_start = None if before_s is None else t_step - before_s
    a_start = t_step + transition_s
    a_end = None if after_s is None else a_start + after_s
    tb, vb = _pairs(series, b_start, None, "is_step (before the step)")
    keep = tb < t_step
    tb, vb = tb[keep], vb[keep]
    if tb.size == 0:
        raise NoDataError(f"is_step: series {series.name!r} has no valid sample before the "
                          f"step at {t_step:.3f}; start recording before the step")
    ta, va = _pairs(series, a_start, a_end, "is_step (after the step)", start_open=True)
    dev_b = float(np.max(np.abs(vb - from_value)))
    dev_a = float(np.max(np.abs(va - to_value)))
    measured = max(dev_b, dev_a)
    unit = series.unit
    text = (f"{_quantity(series)} was {fmt(float(np.mean(vb)), unit)} before the step (worst "
            f"{fmt(dev_b, unit)} from {fmt(from_value, unit)}) and {fmt(float(np.mean(va)), unit)}"
            f" from {fmt(transition_s, 's')} after it (worst {fmt(dev_a, unit)} from "
            f"{fmt(to_value, unit)}); allowed +-{fmt(tol, unit)}")
    return Judgement(measured <= tol, measured, (0.0, tol), tol - measured, text, "is_step",
                     unit, {"deviation_before": dev_b, "deviation_after": dev_a,
                            "samples_before": int(tb.size), "samples_after": int(ta.size)})


def is_ramp(series: Series, t_start: float, t_end: float, slope_per_s: float, tol: float,
            *, start_value: float | None = None,
            slope_tol_per_s: float | None = None) -> Judgement:
    """Between ``t_start`` and ``t_end`` the series follows a line of ``slope_per_s``.

    Every sample must be within ``+-tol`` of ``start_value + slope_per_s * (t - t_start)``
    (``start_value`` default: the best-fitting offset for that slope). With
    ``slope_tol_per_s`` the least-squares slope must also be within that of ``slope_per_s``.
    """
    _check_tol(tol, "is_ramp")
    if t_end <= t_start:
        raise ValueError(f"is_ramp: t_end {t_end} must be after t_start {t_start}")
    t, v = _pairs(series, t_start, t_end, "is_ramp")
    if t.size < 2:
        raise NoDataError(f"is_ramp: series {series.name!r} has {t.size} valid sample(s) in "
                          "the ramp window; a ramp needs at least two")
    dt = t - t_start
    offset = float(np.mean(v - slope_per_s * dt)) if start_value is None else float(start_value)
    dev = np.abs(v - (offset + slope_per_s * dt))
    measured = float(np.max(dev))
    fitted = float(np.polyfit(dt, v, 1)[0]) if np.ptp(dt) > 0 else math.nan
    unit = series.unit
    passed = measured <= tol
    text = (f"{_quantity(series)} ramped at {fmt(fitted, unit + '/s')} (fitted) from "
            f"{fmt(offset, unit)}; worst deviation from the {fmt(slope_per_s, unit + '/s')} "
            f"line {fmt(measured, unit)} ({t.size} samples); allowed +-{fmt(tol, unit)}")
    if slope_tol_per_s is not None:
        slope_ok = abs(fitted - slope_per_s) <= slope_tol_per_s
        passed = passed and slope_ok
        text += (f"; slope {'within' if slope_ok else 'outside'} +-"
                 f"{fmt(slope_tol_per_s, unit + '/s')} of the required slope")
    return Judgement(passed, measured, (0.0, tol), tol - measured, text, "is_ramp", unit,
                     {"fitted_slope_per_s": fitted, "offset": offset, "samples": int(t.size)})


def first_order(t_since_step_s: np.ndarray | float, y0: float, yss: float, tau_s: float,
                dead_time_s: float = 0.0) -> np.ndarray:
    """The ideal first-order step response ``y0 + (yss - y0)(1 - exp(-(t - dead)/tau))``."""
    s = np.maximum(np.asarray(t_since_step_s, dtype=float) - dead_time_s, 0.0)
    return y0 + (yss - y0) * (1.0 - np.exp(-s / tau_s))


@dataclass(frozen=True)
class FirstOrderFit:
    """A first-order step response fitted to measured samples (least squares)."""

    tau_s: float
    dead_time_s: float
    y0: float
    yss: float
    rmse: float
    samples: int

    @property
    def tr_s(self) -> float:
        """The response time to 90 % (dead time + tau ln 10)."""
        return self.dead_time_s + self.tau_s * math.log(10.0)


def fit_first_order(series: Series, t_step: float, y0: float | None = None,
                    yss: float | None = None, dead_time_s: float | None = None,
                    until_lab_s: float | None = None) -> FirstOrderFit:
    """Fit ``tau`` (and the dead time unless given) of a first-order response to a step.

    ``y0`` defaults to the mean before ``t_step``, ``yss`` to the mean of the last 20 % of
    the samples after it (record at least 5 tau for that estimate to hold). Levenberg-
    Marquardt on (ln tau, dead time), started from a log-linear fit of the 10..90 % part.
    """
    y0, yss = _levels(series, t_step, y0, yss, until_lab_s, "fit_first_order")
    t, v = _pairs(series, t_step, until_lab_s, "fit_first_order")
    s = t - t_step
    x = (v - y0) / (yss - y0)
    mid = (x > 0.1) & (x < 0.9)
    if np.count_nonzero(mid) >= 2:
        slope, intercept = np.polyfit(s[mid], np.log(1.0 - x[mid]), 1)
        tau0 = -1.0 / slope if slope < 0 else max(float(np.ptp(s)) / 5.0, 1e-6)
        d0 = intercept * tau0 if slope < 0 else 0.0
    else:
        tau0, d0 = max(float(np.ptp(s)) / 5.0, 1e-6), 0.0
    fix_d = dead_time_s is not None
    d0 = dead_time_s if dead_time_s is not None else float(np.clip(d0, 0.0, float(s.max())))
    params = np.array([math.log(max(tau0, 1e-6)), d0])

    def residual(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tau, d = math.exp(p[0]), p[1]
        u = s - d
        on = u > 0
        e = np.where(on, np.exp(-np.where(on, u, 0.0) / tau), 1.0)
        model = np.where(on, 1.0 - e, 0.0)
        jac = np.column_stack([np.where(on, -e * u / tau, 0.0), np.where(on, -e / tau, 0.0)])
        return x - model, (jac[:, :1] if fix_d else jac)

    lam = 1e-3
    r, jac = residual(params)
    cost = float(r @ r)
    for _ in range(200):
        a = jac.T @ jac
        g = jac.T @ r
        step = np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-12), g)
        trial = params.copy()
        trial[: step.size] += step
        if not fix_d:
            trial[1] = max(trial[1], 0.0)
        r2, j2 = residual(trial)
        c2 = float(r2 @ r2)
        if c2 < cost:
            done = cost - c2 < 1e-14 * max(cost, 1e-30)
            params, r, jac, cost, lam = trial, r2, j2, c2, lam / 3.0
            if done:
                break
        else:
            lam *= 4.0
            if lam > 1e12:
                break
    rmse = math.sqrt(cost / s.size) * abs(yss - y0)
    return FirstOrderFit(math.exp(params[0]), float(params[1]), y0, yss, rmse, int(s.size))


def is_first_order(series: Series, t_step: float, y0: float, yss: float, tau_s: float,
                   tol: float, *, dead_time_s: float = 0.0, until_lab_s: float | None = None,
                   tau_tol_pct: float | None = None) -> Judgement:
    """After ``t_step`` the series follows ``y0 + (yss - y0)(1 - exp(-(t - dead)/tau))``
    within ``+-tol`` (value units). With ``tau_tol_pct`` the fitted tau must also be within
    that many percent of ``tau_s``. The fitted tau is reported either way."""
    _check_tol(tol, "is_first_order")
    if not tau_s > 0:
        raise ValueError(f"is_first_order: tau_s must be > 0, got {tau_s}")
    t, v = _pairs(series, t_step, until_lab_s, "is_first_order")
    dev = np.abs(v - first_order(t - t_step, y0, yss, tau_s, dead_time_s))
    worst = int(np.argmax(dev))
    measured = float(dev[worst])
    try:
        fit = fit_first_order(series, t_step, y0, yss, None if dead_time_s == 0 else dead_time_s,
                              until_lab_s)
        fitted_tau = fit.tau_s
    except (ValueError, np.linalg.LinAlgError):
        fitted_tau = math.nan
    unit = series.unit
    passed = measured <= tol
    text = (f"{_quantity(series)} followed the first-order response (tau {fmt(tau_s, 's')}, "
            f"{fmt(y0, unit)} -> {fmt(yss, unit)}) within {fmt(measured, unit)} (worst "
            f"{fmt(float(t[worst] - t_step), 's')} after the step, {t.size} samples); allowed "
            f"+-{fmt(tol, unit)}; fitted tau {fmt(fitted_tau, 's')}")
    if tau_tol_pct is not None:
        tau_err = abs(fitted_tau - tau_s) / tau_s * 100.0
        tau_ok = tau_err <= tau_tol_pct
        passed = passed and tau_ok
        text += f" ({fmt(tau_err, '%')} off, allowed {fmt(tau_tol_pct, '%')})"
    return Judgement(passed, measured, (0.0, tol), tol - measured, text, "is_first_order",
                     unit, {"fitted_tau_s": fitted_tau, "samples": int(t.size)})


def follows_reference(series: Series, reference: Reference, tol: float, time_tol_s: float,
                      window: Window | None = None) -> Judgement:
    """Every sample is within ``+-tol`` of the reference at some time within ``+-time_tol_s``.

    ``reference`` is a :class:`Series` (piecewise linear between its samples; exact) or a
    vectorised callable of absolute lab time (sampled at 41 points across each time
    window). Samples where the reference is undefined (NaN) are not compared.
    """
    _check_tol(tol, "follows_reference")
    if time_tol_s < 0:
        raise ValueError(f"follows_reference: time_tol_s must be >= 0, got {time_tol_s}")
    start, end = window or (None, None)
    t, v = _pairs(series, start, end, "follows_reference")
    low, high = _reference_envelope(reference, t, time_tol_s)
    compared = ~(np.isnan(low) | np.isnan(high))
    if not compared.any():
        raise NoDataError(f"follows_reference: the reference is undefined at every sample of "
                          f"{series.name!r}; do the reference and the series overlap in time?")
    t, v, low, high = t[compared], v[compared], low[compared], high[compared]
    excess = np.maximum(np.maximum(low - v, v - high), 0.0)
    worst = int(np.argmax(excess))
    measured = float(excess[worst])
    outside = int(np.count_nonzero(excess > tol))
    unit = series.unit
    where = (f"; {outside} of {t.size} samples outside, first at "
             f"+{fmt(float(t[np.argmax(excess > tol)] - t[0]), 's')}, worst "
             f"{fmt(float(v[worst]), unit)} at +{fmt(float(t[worst] - t[0]), 's')}"
             if outside else f" ({t.size} samples)")
    text = (f"{_quantity(series)} deviated at most {fmt(measured, unit)} from the reference "
            f"allowing +-{fmt(time_tol_s, 's')} in time{where}; allowed +-{fmt(tol, unit)}")
    return Judgement(measured <= tol, measured, (0.0, tol), tol - measured, text,
                     "follows_reference", unit,
                     {"samples": int(t.size), "samples_outside": outside})


def _reference_envelope(reference: Reference, t: np.ndarray,
                        time_tol_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of the reference over ``[t - time_tol, t + time_tol]`` for each t."""
    if isinstance(reference, Series):
        rt, rv = reference.t_lab_s[reference.valid], reference.values[reference.valid]
        if rt.size == 0:
            raise NoDataError(f"follows_reference: reference {reference.name!r} has no valid "
                              "sample")
        a, b = t - time_tol_s, t + time_tol_s
        inside = (b >= rt[0]) & (a <= rt[-1])
        va = np.interp(np.clip(a, rt[0], rt[-1]), rt, rv)
        vb = np.interp(np.clip(b, rt[0], rt[-1]), rt, rv)
        low, high = np.minimum(va, vb), np.maximum(va, vb)
        lo_idx = np.searchsorted(rt, a, side="right")
        hi_idx = np.searchsorted(rt, b, side="left")
        for i in np.flatnonzero(hi_idx > lo_idx):
            seg = rv[lo_idx[i]:hi_idx[i]]
            low[i] = min(low[i], float(seg.min()))
            high[i] = max(high[i], float(seg.max()))
        low[~inside] = np.nan
        high[~inside] = np.nan
        return low, high
    offsets = np.linspace(-time_tol_s, time_tol_s, 41) if time_tol_s > 0 else np.zeros(1)
    grid = t[:, None] + offsets[None, :]
    try:
        values = np.asarray(reference(grid.ravel()), dtype=float).reshape(grid.shape)
    except (TypeError, ValueError):
        values = np.vectorize(lambda x: float(reference(x)))(grid)
    with np.errstate(invalid="ignore"):
        low = np.min(values, axis=1)
        high = np.max(values, axis=1)
    return low, high


# ----------------------------------------------------------------------------- step info
@dataclass(frozen=True)
class StepInfo:
    """Figures of a step response. Times in lab seconds after the step; NaN when a level
    was never reached, ``inf`` settling time when the response never settled."""

    dead_time_s: float
    rise_time_s: float
    settling_time_s: float
    overshoot_pct: float
    y0: float
    yss: float
    response_time_s: float
    settling_band_pct: float
    dead_band_pct: float

    @property
    def step(self) -> float:
        return self.yss - self.y0

    def describe(self, unit: str = "") -> str:
        return (f"step {fmt(self.y0, unit)} -> {fmt(self.yss, unit)}: dead time "
                f"{fmt(self.dead_time_s, 's')} (first {fmt(self.dead_band_pct, '%')} of the "
                f"step), rise time 10-90 % {fmt(self.rise_time_s, 's')}, 90 % reached after "
                f"{fmt(self.response_time_s, 's')}, settling time "
                f"({fmt(self.settling_band_pct, '%')} band) {fmt(self.settling_time_s, 's')}, "
                f"overshoot {fmt(self.overshoot_pct, '%')}")


def _levels(series: Series, t_step: float, y0: float | None, yss: float | None,
            until_lab_s: float | None, what: str) -> tuple[float, float]:
    if y0 is None:
        tb, vb = _pairs(series, None, t_step, f"{what} (y0: mean before the step)")
        keep = tb < t_step
        if not keep.any():
            raise NoDataError(f"{what}: no sample of {series.name!r} before the step at "
                              f"{t_step:.3f}; pass y0 or record from before the step")
        y0 = float(np.mean(vb[keep]))
    if yss is None:
        ta, va = _pairs(series, t_step, until_lab_s, f"{what} (yss: final value)")
        tail = ta >= ta[0] + 0.8 * (ta[-1] - ta[0])
        yss = float(np.mean(va[tail]))
    if yss == y0:
        raise ValueError(f"{what}: initial and final value of {series.name!r} are both "
                         f"{y0!r}; there is no step to analyse")
    return float(y0), float(yss)


def _first_crossing(s: np.ndarray, x: np.ndarray, level: float) -> float:
    """First time (interpolated) the normalised response x reaches ``level``."""
    hit = np.flatnonzero(x >= level)
    if hit.size == 0:
        return math.nan
    i = int(hit[0])
    if i == 0:
        return float(s[0])
    x0, x1 = x[i - 1], x[i]
    return float(s[i - 1] + (level - x0) / (x1 - x0) * (s[i] - s[i - 1]))


def smooth(series: Series, window_s: float) -> Series:
    """Centred moving average over ``window_s`` lab seconds of the valid samples (time-based,
    so irregular sampling is fine); missing samples stay missing."""
    if window_s <= 0:
        return series
    valid = series.valid
    t, v = series.t_lab_s[valid], series.values[valid]
    csum = np.concatenate([[0.0], np.cumsum(v)])
    lo = np.searchsorted(t, t - window_s / 2.0, side="left")
    hi = np.searchsorted(t, t + window_s / 2.0, side="right")
    out = series.values.copy()
    out[valid] = (csum[hi] - csum[lo]) / (hi - lo)
    return Series(series.name, series.unit, series.t_lab_s, out)


def step_info(series: Series, t_step: float, y0: float | None = None, yss: float | None = None,
              *, settling_band_pct: float = 2.0, dead_band_pct: float = 5.0,
              until_lab_s: float | None = None, smoothing_s: float = 0.0) -> StepInfo:
    """Dead time, rise time (10-90 %), settling time, overshoot of a step response.

    ``y0`` defaults to the mean before ``t_step``, ``yss`` to the mean of the last 20 % of
    the response. Dead time: until the response first moved ``dead_band_pct`` of the step.
    Settling time: until it stays within ``settling_band_pct`` of the step around ``yss``.
    Levels are first crossings (linear interpolation). Noise makes them early and keeps a
    noisy response from ever "settling" in a 2 % band: give ``smoothing_s`` (a centred
    moving average, e.g. a fifth of the rise time) when the noise is above ~0.5 % of the step.
    """
    series = smooth(series, smoothing_s)
    y0, yss = _levels(series, t_step, y0, yss, until_lab_s, "step_info")
    t, v = _pairs(series, t_step, until_lab_s, "step_info")
    s = t - t_step
    x = (v - y0) / (yss - y0)
    t10 = _first_crossing(s, x, 0.1)
    t90 = _first_crossing(s, x, 0.9)
    dead = _first_crossing(s, x, dead_band_pct / 100.0)
    band = settling_band_pct / 100.0
    out = np.flatnonzero(np.abs(x - 1.0) > band)
    if out.size == 0:
        settling = float(s[0])
    elif out[-1] == s.size - 1:
        settling = math.inf
    else:
        i = int(out[-1])
        edge = 1.0 + band if x[i] > 1.0 else 1.0 - band
        settling = float(s[i] + (edge - x[i]) / (x[i + 1] - x[i]) * (s[i + 1] - s[i]))
    overshoot = max(0.0, float(np.max(x)) - 1.0) * 100.0
    return StepInfo(dead, t90 - t10, settling, overshoot, y0, yss, t90, settling_band_pct,
                    dead_band_pct)


# ----------------------------------------------------------------------------- others
def steady_state(series: Series, t_step: float, tr_s: float,
                 until_lab_s: float | None = None) -> float:
    """Mean of the valid samples from ``t_step + 2 * tr_s`` (to ``until_lab_s``, default the
    end): the steady-state value of a response with response time ``tr_s``."""
    if tr_s < 0:
        raise ValueError(f"steady_state: tr_s must be >= 0, got {tr_s}")
    _, v = _pairs(series, t_step + 2.0 * tr_s, until_lab_s,
                    f"steady_state (samples after 2 Tr = {2 * tr_s:g} s)")
    return float(np.mean(v))


Direction = Literal["rising", "falling", "either"]


def crossing_time(series: Series, level: float, after_lab_s: float | None = None,
                  direction: Direction = "either") -> float | None:
    """Lab time the series first crosses ``level`` after ``after_lab_s`` (interpolated
    between the valid samples either side), or None if it never does. A series already
    beyond the level at its first sample counts as crossing there."""
    t, v = _pairs(series, after_lab_s, None, "crossing_time")
    d = v - level
    if direction == "either":
        if d[0] == 0:
            return float(t[0])
        sign = np.sign(d)
        hits = np.flatnonzero((sign[1:] != sign[:-1]) | (d[1:] == 0)) + 1
        if hits.size == 0:
            return None
    else:
        reached = d >= 0 if direction == "rising" else d <= 0
        hits = np.flatnonzero(reached)
        if hits.size == 0:
            return None
        if hits[0] == 0:
            return float(t[0])
    i = int(hits[0])
    return float(t[i - 1] + (0.0 - d[i - 1]) / (d[i] - d[i - 1]) * (t[i] - t[i - 1]))


__all__ = [
    "MRA",
    "DroopFit",
    "FirstOrderFit",
    "Judgement",
    "StepInfo",
    "crossing_time",
    "first_order",
    "fit_droop",
    "fit_first_order",
    "follows_reference",
    "is_constant",
    "is_first_order",
    "is_ramp",
    "is_step",
    "judge_droop",
    "judge_open_loop",
    "judge_steady_state",
    "judge_value",
    "margin_to",
    "open_loop_band",
    "open_loop_envelope",
    "open_loop_target",
    "smooth",
    "steady_state",
    "steady_state_band",
    "step_info",
]
