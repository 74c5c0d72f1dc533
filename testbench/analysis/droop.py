"""Droop fit: threshold and droop of a frequency-power characteristic from measured points.

The model is piecewise linear with a dead band (LFSM-O / LFSM-U of EN 50549):

- over-frequency:  ``P = P0 - k * max(0, f - f1)``
- under-frequency: ``P = P0 + k * max(0, f1 - f)``

with ``k = P_ref / (f_n * s)``, so the droop is ``s = P_ref / (f_n * k)``. The fit is an
exact least-squares hinge regression: for every way the sorted points can be split into a
flat and a sloped part, the unconstrained optimum is solved in closed form and kept when
its threshold lies between the two parts; thresholds at the measured frequencies are
tried too. A device responding the wrong way gets a negative droop.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from testbench.analysis.judgement import Judgement, judge_value

Side = Literal["over", "under"]


@dataclass(frozen=True)
class DroopFit:
    """Fitted characteristic: threshold ``f1``, droop ``s`` in %, quality of fit."""

    threshold_hz: float
    droop_pct: float
    r2: float
    p0_w: float
    slope_w_per_hz: float
    rmse_w: float
    points: int
    direction: Side

    def power_w(self, f_hz: float | np.ndarray) -> float | np.ndarray:
        """The fitted characteristic at ``f_hz``."""
        f = np.asarray(f_hz, dtype=float)
        if self.direction == "over":
            p = self.p0_w - self.slope_w_per_hz * np.maximum(0.0, f - self.threshold_hz)
        else:
            p = self.p0_w + self.slope_w_per_hz * np.maximum(0.0, self.threshold_hz - f)
        return float(p) if np.ndim(p) == 0 else p


def _hinge_fit(x: np.ndarray, y: np.ndarray,
               p0: float | None) -> tuple[float, float, float, float]:
    """Least squares of ``y = c0 + m * max(0, x - x1)``: returns (x1, c0, m, sse)."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    best: tuple[float, float, float, float] | None = None

    def consider(x1: float, c0: float, m: float) -> None:
        nonlocal best
        r = y - (c0 + m * np.maximum(0.0, x - x1))
        sse = float(r @ r)
        if best is None or sse < best[3]:
            best = (x1, c0, m, sse)

    def fixed(x1: float) -> None:
        h = np.maximum(0.0, x - x1)
        if p0 is None:
            a = np.column_stack([np.ones_like(h), h])
            (c0, m), *_ = np.linalg.lstsq(a, y, rcond=None)
        else:
            c0 = p0
            m = float(h @ (y - p0) / (h @ h)) if h @ h > 0 else 0.0
        consider(x1, float(c0), float(m))

    distinct = np.unique(x)
    for x1 in distinct:
        fixed(float(x1))
    # Threshold strictly between two measured frequencies: points split into flat (x <= a)
    # and sloped (x >= b); on the sloped part y = (c0 - m x1) + m x is a line.
    for a_, b_ in itertools.pairwise(distinct):
        flat, sloped = x <= a_, x >= b_
        if np.count_nonzero(sloped) < 2 and p0 is None:
            continue
        if p0 is None:
            design = np.zeros((x.size, 3))
            design[flat, 0] = 1.0
            design[sloped, 1] = 1.0
            design[sloped, 2] = x[sloped]
            (c0, c1, m), *_ = np.linalg.lstsq(design, y, rcond=None)
        else:
            c0 = p0
            xs, ys = x[sloped], y[sloped] - p0
            if xs.size < 2:
                continue
            m, c1 = np.polyfit(xs, ys, 1)
            c1 += p0
        if m == 0:
            continue
        x1 = (c0 - c1) / m
        if a_ < x1 < b_:
            consider(float(x1), float(c0), float(m))
    if p0 is not None and distinct.size >= 2:
        # With P0 known every point may lie beyond the threshold.
        m, c1 = np.polyfit(x, y - p0, 1)
        if m != 0 and -c1 / m < distinct[0]:
            consider(float(-c1 / m), p0, float(m))
    assert best is not None
    return best


def fit_droop(f_hz: np.ndarray | list[float], p_w: np.ndarray | list[float], p_ref_w: float,
              f_n_hz: float = 50.0, direction: Side = "over",
              p0_w: float | None = None) -> DroopFit:
    """Fit threshold and droop to measured (frequency, active power) points.

    ``p_ref_w`` is the reference power of the droop (EN 50549: the power when the
    threshold was crossed, or Pmax, as the parameter set says); ``p0_w`` the power in the
    dead band, when known (otherwise fitted: then measure at least two points inside the
    dead band). Pairs with a NaN are dropped. Powers in generator convention (feed-in
    positive); the fit does not care about the sign of ``P0``.
    """
    f = np.asarray(f_hz, dtype=float)
    p = np.asarray(p_w, dtype=float)
    if f.shape != p.shape or f.ndim != 1:
        raise ValueError(f"fit_droop: {f.size} frequencies for {p.size} powers; give one "
                         "power per frequency")
    keep = ~(np.isnan(f) | np.isnan(p))
    f, p = f[keep], p[keep]
    if np.unique(f).size < 3:
        raise ValueError(f"fit_droop: {np.unique(f).size} distinct frequencies; a threshold "
                         "and a droop need at least 3 (some in the dead band, some beyond)")
    if p_ref_w == 0 or not f_n_hz > 0:
        raise ValueError(f"fit_droop: p_ref_w must be non-zero and f_n_hz > 0 "
                         f"(got {p_ref_w}, {f_n_hz})")
    x = f if direction == "over" else -f
    x1, c0, m, sse = _hinge_fit(x, p, p0_w)
    threshold = x1 if direction == "over" else -x1
    k = -m if direction == "over" else m
    flat = np.count_nonzero(x <= x1 + 1e-12)
    if p0_w is None and flat < 2:
        raise ValueError(
            f"fit_droop: only {flat} point(s) lie in the fitted dead band (threshold "
            f"{threshold:.3f} Hz); measure at least two points before the threshold or pass "
            "p0_w, the power before the frequency excursion")
    sst = float(np.sum((p - p.mean()) ** 2))
    r2 = 1.0 - sse / sst if sst > 0 else math.nan
    droop = abs(p_ref_w) / (f_n_hz * k) * 100.0 if k != 0 else math.inf
    return DroopFit(float(threshold), float(droop), float(r2), float(c0), float(k),
                    math.sqrt(sse / p.size), int(p.size), direction)


def judge_droop(fit: DroopFit, threshold_hz: float, droop_pct: float, threshold_tol_hz: float,
                droop_tol_pct: float) -> tuple[Judgement, Judgement]:
    """Judge a fitted threshold (+-``threshold_tol_hz``) and droop (+-``droop_tol_pct``
    percentage points) against the parameter set; one judgement each."""
    side = "LFSM-O" if fit.direction == "over" else "LFSM-U"
    details = {"r2": fit.r2, "points": fit.points, "rmse_w": fit.rmse_w}
    threshold = judge_value(fit.threshold_hz, threshold_hz - threshold_tol_hz,
                            threshold_hz + threshold_tol_hz,
                            what=f"{side} threshold (fitted from {fit.points} points)",
                            unit="Hz", check="droop_threshold", details=details)
    droop = judge_value(fit.droop_pct, droop_pct - droop_tol_pct, droop_pct + droop_tol_pct,
                        what=f"{side} droop (fitted, R2 {fit.r2:.4f}; set {droop_pct:g} %)",
                        unit="%", check="droop", details=details)
    return threshold, droop


__all__ = ["DroopFit", "fit_droop", "judge_droop"]
