"""Reactive-power, ride-through and RoCoF helpers for grid-code judging.

Conventions: reactive power in *generator* convention here (+ over-excited, injecting), as
the grid-code curves give it; a power analyser on the grid side reads it like active power
(+ import, absorbing), so ``q_generator = -q_measured`` (:func:`generator_q`). A signed
cos phi is negative when under-excited (absorbing).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from testbench.analysis.series import Series
from testbench.gridcode.params import Curve, ProtectionStage


def distance_from_unity(cos_phi_signed: float) -> float:
    """A signed cos phi as a continuous coordinate: 0 at unity, -0.1 at 0.90 under-excited."""
    return math.copysign(1.0 - abs(cos_phi_signed), cos_phi_signed)


def signed_cos_phi(curve: Curve, p_pu: float) -> float:
    """The cos phi(P) characteristic at ``p_pu``, interpolated in distance from unity (so a
    curve from 1.0 at 0.5 Pmax to -0.90 at Pmax asks 0.95 under-excited at 0.75 Pmax)."""
    dist = Curve(tuple((x, distance_from_unity(y)) for x, y in curve.points))
    d = float(dist(p_pu))
    return 1.0 if d == 0 else math.copysign(1.0 - abs(d), d)


def q_for_cos_phi(p_w: float, cos_phi_signed: float) -> float:
    """Q (generator convention) at active power |P| and a signed cos phi."""
    c = abs(cos_phi_signed)
    if not 0.0 < c <= 1.0:
        raise ValueError(f"cos phi {cos_phi_signed:g} is outside 0..1 in magnitude")
    q = abs(p_w) * math.tan(math.acos(c))
    return q if cos_phi_signed > 0 else -q


def q_for_min_cos_phi(s_rated: float, cos_phi: float) -> float:
    """|Q| at apparent power ``s_rated`` and power factor ``cos_phi`` (e.g. 0.436 S at 0.90)."""
    return s_rated * math.sin(math.acos(cos_phi))


def generator_q(series: Series) -> Series:
    """Grid-side reactive power (+ import/absorbing) in generator convention (+ injecting),
    as the series ``reactive_gen_var``."""
    return Series("reactive_gen_var", series.unit, series.t_lab_s, -series.values)


def rocof_hz_per_s(frequency: Series, window_s: float) -> Series:
    """Rate of change of frequency over a sliding ``window_s`` (difference quotient of the
    valid samples ``window_s`` apart, at the later one)."""
    s = frequency.dropna()
    t, f = s.t_lab_s, s.values
    if t.size < 2:
        return Series("rocof", "Hz/s", t, np.full(t.size, np.nan))
    earlier = np.interp(t - window_s, t, f)
    out = (f - earlier) / window_s
    out[t - window_s < t[0]] = np.nan
    return Series("rocof", "Hz/s", t, out)


@dataclass(frozen=True)
class Conflict:
    """A protection stage that trips while the voltage follows a ride-through envelope."""

    stage: ProtectionStage
    below_for_s: float

    def __str__(self) -> str:
        side = "below" if self.stage.trips_below else "above"
        return (f"{self.stage} trips inside the ride-through envelope: the voltage stays "
                f"{side} {self.stage.threshold:g} pu for {self.below_for_s:.3g} s there")


def ride_through_conflicts(envelope: Curve, stages: Iterable[ProtectionStage], *,
                           side: str = "under", margin_pu: float = 0.0,
                           resolution_s: float = 0.001) -> list[Conflict]:
    """Voltage stages that would trip while the voltage runs ``margin_pu`` inside the
    envelope (``(t_s, u_pu)`` since fault inception), i.e. where the protection setting and
    the ride-through requirement contradict each other."""
    if side not in ("under", "over"):
        raise ValueError(f"side {side!r}: use 'under' or 'over'")
    sign = 1.0 if side == "under" else -1.0
    t_end = float(envelope.xs[-1])
    t = np.arange(0.0, t_end + resolution_s / 2, resolution_s)
    u = np.asarray(envelope(t), dtype=float) + sign * margin_pu
    out = []
    for stage in stages:
        if stage.quantity != "voltage" or not stage.enabled or stage.code == "59avg":
            continue
        if stage.trips_below != (side == "under"):
            continue
        beyond = u < stage.threshold if stage.trips_below else u > stage.threshold
        longest = _longest_run(beyond) * resolution_s
        if longest >= stage.trip_time_s:
            out.append(Conflict(stage, longest))
    return out


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for flag in mask:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


__all__ = [
    "Conflict",
    "distance_from_unity",
    "generator_q",
    "q_for_cos_phi",
    "q_for_min_cos_phi",
    "ride_through_conflicts",
    "rocof_hz_per_s",
    "signed_cos_phi",
]
