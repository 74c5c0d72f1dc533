"""Accuracy-aware pass bands, after IEEE 1547.1-2020 practice (reusable for EN 50549-10).

A measurement is judged against the requirement widened by the *minimum required accuracy*
(MRA) of the measurement chain, so that a compliant device measured with an instrument
that is just accurate enough still passes:

- open loop ("90 % at Tr"): the target ``y(t) = y0 + (yss - y0)(1 - exp(-t/tau))``,
  ``tau = Tr / ln 10``, is evaluated at ``Tr +- 1.5 MRA_T`` and the band widened by
  ``+- 1.5 MRA_Y``; the measured value at Tr must lie in that band;
- steady state: the characteristic is evaluated over ``x +- 1.5 MRA_X`` and widened by
  ``+- 1.5 MRA_Y``; the measured steady-state value must lie in that band.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from testbench.analysis.judgement import Judgement, fmt, margin_to
from testbench.analysis.series import NoDataError, Series

LN10 = math.log(10.0)
MRA_FACTOR = 1.5

_POWER_UNITS = {"W": 1.0, "kW": 1e3, "MW": 1e6, "var": 1.0, "kvar": 1e3, "Mvar": 1e6,
                "VA": 1.0, "kVA": 1e3, "MVA": 1e6}


@dataclass(frozen=True)
class MRA:
    """Minimum required accuracy of the measurements (defaults: IEEE 1547.1-2020 table).

    Voltage in % of nominal, frequency in Hz, active and reactive power in % of the rated
    apparent power, time in % of the measured duration; the transient figures apply to
    ride-through and trip tests.
    """

    v_pct_nom: float = 1.0
    f_hz: float = 0.01
    pq_pct_srated: float = 5.0
    time_pct: float = 1.0
    transient_v_pct_nom: float = 2.0
    transient_f_hz: float = 0.1

    def voltage_v(self, v_nom_v: float, transient: bool = False) -> float:
        pct = self.transient_v_pct_nom if transient else self.v_pct_nom
        return pct / 100.0 * v_nom_v

    def frequency_hz(self, transient: bool = False) -> float:
        return self.transient_f_hz if transient else self.f_hz

    def power(self, s_rated: float) -> float:
        """MRA of P or Q in the unit of ``s_rated`` (W/var for VA, kW/kvar for kVA)."""
        return self.pq_pct_srated / 100.0 * s_rated

    def time_s(self, duration_s: float) -> float:
        return self.time_pct / 100.0 * duration_s

    def for_unit(self, unit: str, rated: float | None = None, transient: bool = False) -> float:
        """The MRA of a quantity measured in ``unit``: ``Hz``; ``V`` (``rated`` = nominal
        voltage in V); W/var/VA with k/M prefixes (``rated`` = S_rated in VA)."""
        if unit == "Hz":
            return self.frequency_hz(transient)
        if unit in ("V", "kV"):
            if rated is None:
                raise ValueError("MRA of a voltage needs rated= the nominal voltage (in the "
                                 "series' unit)")
            return self.voltage_v(rated, transient)
        if unit in _POWER_UNITS:
            if rated is None:
                raise ValueError(f"MRA of a power in {unit} needs rated= the rated apparent "
                                 f"power S_rated in VA")
            return self.power(rated) / _POWER_UNITS[unit]
        raise ValueError(f"no MRA is defined for unit {unit!r}; pass mra_y= explicitly "
                         "(known units: Hz, V, W, var, VA with k/M prefixes)")


def open_loop_target(t_s: float | np.ndarray, y0: float, yss: float,
                     tr_s: float) -> float | np.ndarray:
    """``y0 + (yss - y0)(1 - exp(-t/tau))`` with ``tau = Tr / ln 10`` (y0 for t < 0)."""
    if not tr_s > 0:
        raise ValueError(f"tr_s must be > 0, got {tr_s}")
    t = np.maximum(np.asarray(t_s, dtype=float), 0.0)
    y = y0 + (yss - y0) * (1.0 - np.exp(-t * LN10 / tr_s))
    return float(y) if np.ndim(y) == 0 else y


def open_loop_band(t: float | np.ndarray, y0: float, yss: float, tr_s: float,
                   mra_t_s: float, mra_y: float) -> tuple[float | np.ndarray,
                                                        float | np.ndarray]:
    """(low, high) of the open-loop pass band at ``t`` seconds after the step: the target
    at ``t +- 1.5 MRA_T``, widened by ``+- 1.5 MRA_Y``."""
    if mra_t_s < 0 or mra_y < 0:
        raise ValueError(f"MRA must be >= 0, got MRA_T {mra_t_s} s, MRA_Y {mra_y}")
    a = np.asarray(open_loop_target(np.asarray(t) - MRA_FACTOR * mra_t_s, y0, yss, tr_s))
    b = np.asarray(open_loop_target(np.asarray(t) + MRA_FACTOR * mra_t_s, y0, yss, tr_s))
    low = np.minimum(a, b) - MRA_FACTOR * mra_y
    high = np.maximum(a, b) + MRA_FACTOR * mra_y
    if np.ndim(low) == 0:
        return float(low), float(high)
    return low, high


def open_loop_envelope(t_lab_s: np.ndarray, t_step: float, y0: float, yss: float, tr_s: float,
                       mra_t_s: float, mra_y: float, name: str = "",
                       unit: str = "") -> tuple[Series, Series]:
    """The open-loop band as two series (low, high) over absolute lab times, for plots."""
    t = np.asarray(t_lab_s, dtype=float)
    low, high = open_loop_band(t - t_step, y0, yss, tr_s, mra_t_s, mra_y)
    return (Series(f"{name} min".strip(), unit, t, np.asarray(low)),
            Series(f"{name} max".strip(), unit, t, np.asarray(high)))


def _value_at(series: Series, t_lab_s: float, max_gap_s: float, what: str) -> float:
    valid = series.valid
    t, v = series.t_lab_s[valid], series.values[valid]
    if t.size == 0 or t_lab_s < t[0] or t_lab_s > t[-1]:
        raise NoDataError(f"{what}: series {series.name!r} has no valid sample around "
                          f"{t_lab_s:.3f} (lab time); record through the response time")
    i = int(np.searchsorted(t, t_lab_s))
    if i < t.size and t[i] == t_lab_s:
        return float(v[i])
    gap = t[i] - t[i - 1]
    if gap > max_gap_s:
        raise NoDataError(f"{what}: series {series.name!r} has a {gap:.3f} s gap in its valid "
                          f"samples around {t_lab_s:.3f} (more than {max_gap_s:g} s); the value "
                          "there is not known")
    return float(np.interp(t_lab_s, t, v))


def judge_open_loop(series: Series, t_step: float, y0: float, yss: float, tr_s: float,
                    mra: MRA, *, rated: float | None = None, mra_y: float | None = None,
                    mra_t_s: float | None = None, max_gap_s: float | None = None) -> Judgement:
    """"90 % at Tr": the value at ``t_step + tr_s`` lies in the open-loop MRA band.

    ``mra_y`` defaults to ``mra.for_unit(series.unit, rated)`` (``rated`` = S_rated in VA
    for power, nominal voltage for voltage), ``mra_t_s`` to ``mra.time_s(tr_s)``. The value
    at Tr is interpolated between the valid samples either side, which must be at most
    ``max_gap_s`` apart (default max(0.5 s, Tr / 10)).
    """
    if yss == y0:
        raise ValueError("judge_open_loop: y0 and yss are equal; there is no step to judge")
    mra_y = mra.for_unit(series.unit, rated) if mra_y is None else mra_y
    mra_t_s = mra.time_s(tr_s) if mra_t_s is None else mra_t_s
    gap = max(0.5, tr_s / 10.0) if max_gap_s is None else max_gap_s
    y = _value_at(series, t_step + tr_s, gap, "judge_open_loop")
    low, high = open_loop_band(tr_s, y0, yss, tr_s, mra_t_s, mra_y)
    assert isinstance(low, float) and isinstance(high, float)
    step = yss - y0

    def pct(value: float) -> float:
        return (value - y0) / step * 100.0

    lo_pct, hi_pct = sorted((pct(low), pct(high)))
    passed = low <= y <= high
    unit = series.unit
    text = (f"{series.name or 'response'} reached {fmt(pct(y), '%')} of the step "
            f"({fmt(y0, unit)} -> {fmt(yss, unit)}) at Tr = {fmt(tr_s, 's')}: "
            f"{fmt(y, unit)}; required 90 % (band {fmt(lo_pct)} %..{fmt(hi_pct)} % = "
            f"{fmt(low)}..{fmt(high, unit)} with MRA +-1.5 x {fmt(mra_t_s, 's')}, "
            f"+-1.5 x {fmt(mra_y, unit)})")
    return Judgement(passed, y, (low, high), margin_to(y, low, high), text, "judge_open_loop",
                     unit, {"percent_of_step": pct(y), "band_pct": (lo_pct, hi_pct),
                            "mra_t_s": mra_t_s, "mra_y": mra_y})


Characteristic = Callable[[np.ndarray], np.ndarray] | Callable[[float], float]


def evaluate(characteristic: Characteristic, xs: np.ndarray) -> np.ndarray:
    """The characteristic at every x: vectorised when it accepts arrays, else point by point."""
    try:
        ys = np.asarray(characteristic(xs), dtype=float)  # type: ignore[arg-type]
        if ys.shape == xs.shape:
            return ys
    except (TypeError, ValueError):
        pass
    return np.array([float(characteristic(float(x))) for x in xs])  # type: ignore[arg-type]


def steady_state_band(x_measured: float, characteristic: Characteristic, mra_x: float,
                      mra_y: float, points: int = 201) -> tuple[float, float]:
    """(low, high): the characteristic over ``x +- 1.5 MRA_X``, widened by ``+- 1.5 MRA_Y``.

    The characteristic is sampled at ``points`` points (and both ends), so kinks inside the
    window (dead-band edges, limits) are caught whichever way the curve bends.
    """
    if mra_x < 0 or mra_y < 0:
        raise ValueError(f"MRA must be >= 0, got MRA_X {mra_x}, MRA_Y {mra_y}")
    xs = np.linspace(x_measured - MRA_FACTOR * mra_x, x_measured + MRA_FACTOR * mra_x, points)
    ys = evaluate(characteristic, xs)
    if np.isnan(ys).any():
        raise ValueError(f"the characteristic is undefined (NaN) near x = {x_measured:g}")
    return float(ys.min()) - MRA_FACTOR * mra_y, float(ys.max()) + MRA_FACTOR * mra_y


def judge_steady_state(x_measured: float, y_measured: float, characteristic: Characteristic,
                       mra_x: float, mra_y: float, *, x_name: str = "x", x_unit: str = "",
                       y_name: str = "y", y_unit: str = "") -> Judgement:
    """The steady-state point ``(x, y)`` lies on the characteristic within the MRA band."""
    low, high = steady_state_band(x_measured, characteristic, mra_x, mra_y)
    nominal = float(evaluate(characteristic, np.array([x_measured]))[0])
    passed = low <= y_measured <= high
    text = (f"at {x_name} = {fmt(x_measured, x_unit)} the steady-state {y_name} was "
            f"{fmt(y_measured, y_unit)}; required {fmt(nominal, y_unit)} (band {fmt(low)}.."
            f"{fmt(high, y_unit)} with MRA +-1.5 x {fmt(mra_x, x_unit)}, +-1.5 x "
            f"{fmt(mra_y, y_unit)})")
    return Judgement(passed, y_measured, (low, high), margin_to(y_measured, low, high), text,
                     "judge_steady_state", y_unit,
                     {"x": x_measured, "expected": nominal, "mra_x": mra_x, "mra_y": mra_y})


__all__ = [
    "MRA",
    "MRA_FACTOR",
    "evaluate",
    "judge_open_loop",
    "judge_steady_state",
    "open_loop_band",
    "open_loop_envelope",
    "open_loop_target",
    "steady_state_band",
]
