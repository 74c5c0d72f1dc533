"""Energy-service procedures (European V2X pilot services) and their measured checks.

Four services, each judged only from what power analysers measure:

1. behind the meter: the site's import current must settle under the grid-connection limit
   (:func:`site_import_a`, :func:`headroom_a`, :func:`settle_problems`);
2. balance responsibility: the energy per schedule interval must match the nomination
   (:func:`interval_energies_wh`, :func:`schedule_problems`);
3. system balance (FCR-like): full activation of a frequency-watt curve within 30 s of a
   frequency step (:func:`activation`, :func:`activation_problems`);
4. congestion management: a group of chargers under a grid operator's limit within a
   deadline (:func:`settle_problems` on the summed power).

Profiles are built here too (:func:`current_profile`, :func:`local_frequency_profile`).
Durations are lab seconds; times lab Unix seconds; currents per phase; power + import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from testbench.analysis.series import Recording, Series
from testbench.procedures import smart
from testbench.procedures.ocpp import Charger, is_v16

FCR_FULL_ACTIVATION_S = 30.0
"""FCR: full activation within 30 s of a frequency deviation of 200 mHz (EU SOGL art. 154)."""
FCR_HALF_ACTIVATION_S = 15.0
"""FCR: at least half activation within 15 s (verify per TSO prequalification)."""
FCR_DEVIATION_HZ = 0.2
"""The frequency deviation at which FCR is fully activated."""


# --------------------------------------------------------------------------- profiles
def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def current_profile(charger: Charger, *, profile_id: int, limit_a: float | Sequence[float],
                    now_s: float, evse_id: int = 1, purpose: str = "TxDefaultProfile",
                    stack_level: int = 5, interval_s: float | None = None,
                    start_s: float | None = None) -> dict[str, Any]:
    """A SetChargingProfile request (Absolute, in A): one limit from now, or one limit per
    interval of ``interval_s`` from ``start_s``."""
    if isinstance(limit_a, int | float):
        periods = [(0.0, round(float(limit_a), 1))]
        begin = now_s - 1.0
    else:
        assert interval_s is not None and start_s is not None, "intervals need their start"
        periods = [(k * interval_s, round(float(v), 1)) for k, v in enumerate(limit_a)]
        begin = start_s
    return smart.profile_request(charger, evse_id=evse_id, profile_id=profile_id,
                                 stack_level=stack_level, purpose=purpose, periods=periods,
                                 unit="A", kind="Absolute", start_s=begin)


def local_frequency_profile(*, profile_id: int, curve: Sequence[tuple[float, float]],
                            limit_a: float, start_s: float, baseline_w: float | None = None,
                            evse_id: int = 1, stack_level: int = 8) -> dict[str, Any]:
    """An OCPP 2.1 TxDefaultProfile whose period runs ``operationMode = LocalFrequency``
    with ``v2xFreqWattCurve`` ``curve`` ((Hz, W) points, + charging) from ``start_s``."""
    period: dict[str, Any] = {
        "startPeriod": 0, "limit": float(limit_a), "operationMode": "LocalFrequency",
        "v2xFreqWattCurve": [{"frequency": float(f), "power": float(p)} for f, p in curve],
    }
    if baseline_w is not None:
        period["v2xBaseline"] = float(baseline_w)
    return {"evseId": evse_id, "chargingProfile": {
        "id": profile_id, "stackLevel": stack_level, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": profile_id, "chargingRateUnit": "A",
                              "startSchedule": _iso(start_s),
                              "chargingSchedulePeriod": [period]}]}}


def clear_profile(charger: Charger, profile_id: int) -> dict[str, Any]:
    """ClearChargingProfile of one profile id, in the charger's dialect."""
    return smart.clear_request(charger, profile_id=profile_id)


def curve_power_w(curve: Sequence[tuple[float, float]], frequency_hz: float,
                  baseline_w: float = 0.0) -> float:
    """The curve's power at ``frequency_hz`` (linear between points, flat outside)."""
    points = sorted(curve)
    return baseline_w + float(np.interp(frequency_hz, [p[0] for p in points],
                                        [p[1] for p in points]))


def is_v2x(charger: Charger) -> bool:
    """OCPP 2.1 (operation modes, frequency-watt curves)."""
    return not is_v16(charger) and str(getattr(charger, "version", "")) == "2.1"


# --------------------------------------------------------------------------- site
def site_import_a(recording: Recording) -> Series:
    """The largest per-phase import current (A) of a site recording: max(0, P_n) / U_n.

    Export (PV over household load) counts as 0: the connection limit is on import."""
    currents = []
    n = 1
    while f"power_l{n}_w" in recording and f"voltage_l{n}_v" in recording:
        p = recording[f"power_l{n}_w"].values
        u = recording[f"voltage_l{n}_v"].values
        with np.errstate(divide="ignore", invalid="ignore"):
            currents.append(np.where(u > 1.0, np.maximum(p, 0.0) / u, 0.0))
        n += 1
    if not currents:
        raise ValueError("site_import_a: the recording has no per-phase power and voltage "
                         "(power_l1_w, voltage_l1_v ...)")
    t = recording["power_l1_w"].t_lab_s
    return Series("site_import_a", "A", t, np.max(np.vstack(currents), axis=0))


def phase_currents_signed_a(reading: Any) -> list[float]:
    """Signed current per phase of an analyser reading (P_n / U_n, + import)."""
    return [(p.power_w / p.voltage_v if p.voltage_v > 1.0 else 0.0) for p in reading.phases]


def headroom_a(site: Any, charger: Any, connection_limit_a: float, margin_a: float,
               charger_max_a: float) -> float:
    """The current per phase a charger may draw so the site stays under its connection
    limit: limit - margin - (site current - charger current), the worst phase; from one
    site reading and one reading of the charger's analyser (signed, + import)."""
    site_a = phase_currents_signed_a(site)
    own_a = phase_currents_signed_a(charger)
    worst = math.inf
    for n, s in enumerate(site_a):
        base = s - (own_a[n] if n < len(own_a) else 0.0)
        worst = min(worst, connection_limit_a - margin_a - base)
    return max(0.0, min(charger_max_a, worst))


@dataclass(frozen=True)
class Settle:
    """How a measured quantity kept under a limit after a control action."""

    start_s: float
    response_s: float
    judged: int
    over: int
    worst_excess: float
    settled_after_s: float | None
    """Lab seconds from the action until the quantity was under the limit for good (None:
    never)."""
    unit: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def settle_problems(series: Series, limit: float, *, start_s: float, response_s: float,
                    accuracy: float, what: str) -> tuple[list[str], Settle]:
    """Judge ``series`` against ``limit`` (+ ``accuracy``) from ``start_s + response_s``
    to its end: every sample must be inside."""
    t, v = series.t_lab_s, series.values
    ok = np.isnan(v) | (v <= limit + accuracy)
    after = t >= start_s
    settled_after = None
    bad_after = np.nonzero(after & ~ok)[0]
    if after.any():
        if bad_after.size == 0:
            settled_after = 0.0
        elif bad_after[-1] + 1 < len(t):
            settled_after = float(t[bad_after[-1] + 1] - start_s)
    judged_mask = t >= start_s + response_s
    judged = int(np.count_nonzero(judged_mask & ~np.isnan(v)))
    over_mask = judged_mask & ~ok
    over = int(np.count_nonzero(over_mask))
    worst = float(np.max(v[over_mask] - limit)) if over else 0.0
    figures = Settle(round(start_s, 3), response_s, judged, over, round(worst, 3),
                     None if settled_after is None else round(settled_after, 2), series.unit)
    if not judged:
        return [f"{what}: nothing measured after the response time of {response_s:g} s"], figures
    if not over:
        return [], figures
    first = float(t[np.nonzero(over_mask)[0][0]] - start_s)
    return [(f"{what}: over the limit of {limit:g} {series.unit} by up to {worst:.2f} "
             f"{series.unit} (+{accuracy:g} {series.unit} accuracy allowed) in {over} of "
             f"{judged} samples judged from {response_s:g} s after the control action, first "
             f"{first:.1f} s after it")], figures


# --------------------------------------------------------------------------- schedules
def interval_energies_wh(power: Series, start_s: float, interval_s: float, count: int
                         ) -> list[float]:
    """Energy (Wh) of a power series in each of ``count`` intervals from ``start_s``
    (trapezoid over the samples, interpolated at the interval bounds)."""
    energies = []
    for k in range(count):
        a, b = start_s + k * interval_s, start_s + (k + 1) * interval_s
        inside = power.window(a, b)
        t = np.concatenate(([a], inside.t_lab_s, [b]))
        v = np.concatenate(([power.at(a)], inside.values, [power.at(b)]))
        mask = ~np.isnan(v)
        energies.append(float(np.trapezoid(v[mask], t[mask]) / 3600.0) if mask.sum() > 1
                        else math.nan)
    return energies


@dataclass(frozen=True)
class IntervalResult:
    """One schedule interval: nominated and measured energy."""

    index: int
    start_s: float
    scheduled_wh: float
    measured_wh: float
    error_wh: float
    tolerance_wh: float

    @property
    def ok(self) -> bool:
        return not math.isnan(self.measured_wh) and abs(self.error_wh) <= self.tolerance_wh


def schedule_problems(scheduled_wh: Sequence[float], measured_wh: Sequence[float],
                      start_s: float, interval_s: float, tolerance_wh: float
                      ) -> tuple[list[str], list[IntervalResult]]:
    """Compare measured with nominated energy per interval (|error| <= tolerance)."""
    results = [IntervalResult(k, round(start_s + k * interval_s, 3), round(s, 2), round(m, 2),
                              round(m - s, 2), round(tolerance_wh, 2))
               for k, (s, m) in enumerate(zip(scheduled_wh, measured_wh, strict=True))]
    bad = [r for r in results if not r.ok]
    if not bad:
        return [], results
    text = ", ".join(f"interval {r.index + 1}: {r.measured_wh:.1f} Wh measured vs "
                     f"{r.scheduled_wh:.1f} Wh nominated ({r.error_wh:+.1f} Wh)" for r in bad)
    return [(f"energy schedule: {len(bad)} of {len(results)} intervals outside +-"
            f"{tolerance_wh:.1f} Wh: {text}")], results


# --------------------------------------------------------------------------- activation
@dataclass(frozen=True)
class Activation:
    """How a power response reached the required value after a step at ``step_s``."""

    step_s: float
    p0_w: float
    required_w: float
    band_w: float
    half_s: float | None
    """Lab seconds until half of the required change was reached (None: never)."""
    full_s: float | None
    """Lab seconds until the power stayed within ``band_w`` of the required value."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def activation(power: Series, step_s: float, p0_w: float, required_w: float, band_w: float,
               until_s: float | None = None) -> Activation:
    """Measure half and full activation of ``power`` after a step at ``step_s``."""
    window = power.window(step_s, until_s).dropna()
    t, v = window.t_lab_s, window.values
    half = None
    change = required_w - p0_w
    if len(t) and change != 0:
        reached = np.nonzero((v - p0_w) / change >= 0.5)[0]
        if reached.size:
            half = float(t[reached[0]] - step_s)
    full = None
    inside = np.abs(v - required_w) <= band_w
    if len(t) and inside[-1]:
        outside = np.nonzero(~inside)[0]
        first_in = 0 if outside.size == 0 else int(outside[-1]) + 1
        full = float(t[first_in] - step_s)
    return Activation(round(step_s, 3), round(p0_w, 1), round(required_w, 1), round(band_w, 1),
                      None if half is None else round(half, 2),
                      None if full is None else round(full, 2))


def activation_problems(result: Activation, full_s: float = FCR_FULL_ACTIVATION_S,
                        half_s: float = FCR_HALF_ACTIVATION_S) -> list[str]:
    """FCR timing: half activation within ``half_s``, full activation within ``full_s``."""
    problems = []
    if result.half_s is None or result.half_s > half_s:
        shown = "never" if result.half_s is None else f"after {result.half_s:.1f} s"
        problems.append(f"frequency response: half activation {shown} (allowed {half_s:g} s)")
    if result.full_s is None or result.full_s > full_s:
        shown = ("never (not within the band at the end of the recording)"
                 if result.full_s is None else f"after {result.full_s:.1f} s")
        problems.append(f"frequency response: full activation ({result.required_w:.0f} W "
                        f"+-{result.band_w:.0f} W) {shown} (allowed {full_s:g} s)")
    return problems


def sum_series(series: Sequence[Series], name: str, rate_hz: float = 5.0) -> Series:
    """The sum of power series on a common grid (their overlap)."""
    start = max(s.start_lab_s for s in series)
    end = min(s.end_lab_s for s in series)
    if end <= start:
        raise ValueError("sum_series: the recordings do not overlap in time")
    t = np.arange(start, end, 1.0 / rate_hz)
    total = np.zeros_like(t)
    for s in series:
        total += s.resample_at(t).values
    return Series(name, series[0].unit, t, total)
