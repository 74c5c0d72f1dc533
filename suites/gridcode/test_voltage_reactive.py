"""Reactive power and voltage-related active power of a bidirectional charger x EV pair
(EN 50549-1 4.7.2 / 4.7.3 reactive power modes, P(U)), at the station's parameter set.

Settings go to the charger over OCPP 2.1 SetDERControl (:mod:`suites.gridcode._der`); the
response is measured by the power analyser on the grid side (``options.point = "input"``):
P and Q, signed + import. Q is judged in generator convention (+ over-excited, injecting),
the convention of the parameter sets: ``Q_gen = -Q_measured``. MRA (IEEE 1547.1 table):
V 1 % Un, P and Q 5 % of the rated power (S_rated = rated power, lab.toml ``max_power_w``),
time 1 % of the duration judged.

- **Q(U)** (per operating point): volt-var curve of the set; voltage steps from nominal to
  the high and the low end of the curve (where |Q| is largest), each held 3 Tr, and back.
  Open loop: 90 % of the Q step at Tr = tau ln 10, tau = ``q_u.three_tau_s`` / 3 (the band
  at Tr +- 1.5 MRA_T widened by 1.5 MRA_Q). Steady state (after 2 Tr) on the curve at the
  measured voltage (band over U +- 1.5 MRA_U, widened by 1.5 MRA_Q).
- **cos phi(P)** (per operating point, discharging): the set's curve; after
  ``cos_phi_p.settling_time_s`` the measured Q lies on Q(P) = -|P| tan(acos cos phi(P))
  at the measured export power (band over P +- 1.5 MRA_P).
- **Fixed cos phi / fixed Q**: the set's limits ``cos_phi_fixed.min_under_excited`` /
  ``min_over_excited``: cos phi at that value (Q on |P| tan(acos)), or Q = +-S sin(acos)
  of it; steady state after the settling time (per operating point).
- **P(U)** (per operating point, discharging): the set's P(U) curve; a voltage step from nominal
  to where the curve asks half the power, held 3 Tr (Tr from ``p_u.three_tau_s``), and back.
  Open loop and steady state on P = -min(|P0|, curve(U) x rated) (import sign).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from suites.gridcode import _der, _evidence
from suites.gridcode import _support as s
from testbench.analysis.mra import MRA, judge_open_loop, judge_steady_state, open_loop_envelope
from testbench.analysis.reactive import (
    generator_q,
    q_for_cos_phi,
    q_for_min_cos_phi,
    signed_cos_phi,
)
from testbench.analysis.response import steady_state
from testbench.analysis.series import Series
from testbench.gridcode.params import Curve, GridCodeParameters
from testbench.gridcode.stimulus import voltage_steps

BOTH_WAYS = [s.OperatingPoint(share) for share in (-1.0, -0.66, -0.2, 1.0, 0.66, 0.2)]
Q_U_POINTS = BOTH_WAYS
"""Q(U) at 100 / 66 / 20 % of rated power, discharging and charging: the converter's Q does
not depend on the direction of P (rated for cos phi 0.90 at rated power)."""
COS_PHI_P_POINTS = [s.OperatingPoint(-1.0), s.OperatingPoint(-0.66), s.OperatingPoint(-0.2)]
"""cos phi(P) while discharging at 100 / 66 / 20 % (at 20 % the set's curve asks unity: Q
must stay near zero). Charging is left out: the curve's x axis is the export (feed-in)
power, the characteristic says nothing about a unit drawing power."""
FIXED_POINTS = BOTH_WAYS
"""Fixed cos phi / Q at 100 / 66 / 20 %, discharging and charging."""
P_U_POINTS = [s.OperatingPoint(-1.0), s.OperatingPoint(-0.66)]
"""P(U) while discharging at 100 / 66 %. Left out: 20 % (the test voltage asks the curve's
half power, above 20 %: the cap never bites, nothing to judge) and charging (P(U) caps
the export; a charging unit has none)."""
FIXED = ["pf-under", "pf-over", "q-under", "q-over"]
INSIDE_PU = 0.02
"""The Q(U) test voltages lie this far beyond the curve's last sloped points (more than
1.5 MRA_U, so the steady-state band is flat)."""
PROTECTION_MARGIN_PU = 0.02
"""Test voltages keep this distance from the voltage protection stages."""
REQUIRES = ("bidirectional", "grid_emulator", "power_analyzer")


def _q_u_levels(params: GridCodeParameters) -> tuple[float, float]:
    """(high, low) test voltages in pu: where the curve reaches its extreme Q on each side,
    moved INSIDE_PU beyond that point, kept inside the voltage protection stages."""
    curve = params.q_u.curve
    xs, ys = curve.xs, curve.ys
    high = float(xs[int(np.argmin(ys))]) + INSIDE_PU  # most under-excited: high voltage
    low = float(xs[len(ys) - 1 - int(np.argmax(ys[::-1]))]) - INSIDE_PU  # over-excited
    stages = [st for st in params.protection.enabled() if st.quantity == "voltage"
              and st.code != "59avg"]
    for st in stages:
        if st.trips_below:
            low = max(low, st.threshold + PROTECTION_MARGIN_PU)
        else:
            high = min(high, st.threshold - PROTECTION_MARGIN_PU)
    return high, low


def _q_required(curve: Curve, rated: float) -> Any:
    def at(u_pu: Any) -> Any:
        return np.asarray(curve(np.asarray(u_pu, dtype=float))) * rated
    return at


def _begin(station: Any, charger: Any, clock: Any, params: GridCodeParameters,
           point: s.OperatingPoint) -> tuple[Any, Any, float, float]:
    """Supply, session, operating point; returns (grid, analyser, rated, P0)."""
    s.require_reachable(station, point)
    grid = station.instrument("grid_emulator")
    analyzer = station.instrument("power_analyzer")
    rated = s.rated_w(station)
    s.energise(grid, params)
    s.start_session(station, charger, clock)
    s.set_operating_point(station, charger, clock, point)
    p0 = s.measured_power_w(analyzer, clock)
    s.check_operating_point(p0, point, rated)
    return grid, analyzer, rated, p0


def _end(station: Any, charger: Any, params: GridCodeParameters) -> None:
    _der.clear(charger)
    s.finish(station, station.instrument("grid_emulator"), params, charger)


def _title(what: str, station: Any, params: GridCodeParameters) -> str:
    return f"{what} {station.ev.id} @ {station.charger.id} ({params.name})"


# ----------------------------------------------------------------------------- Q(U)
@pytest.mark.requires(*REQUIRES)
@pytest.mark.parametrize("point", Q_U_POINTS, ids=lambda p: p.id)
def test_q_u(point, station, charger, clock, bench, request):
    """Q(U): the pair follows the set's volt-var curve with the set's first-order time."""
    _der.require_21(station, "Q(U)")
    params = s.params_of(station)
    _der.require_known(params, "q_u.curve", "q_u.three_tau_s")
    v_n, f_n = float(params.nominal.voltage_v), float(params.nominal.frequency_hz)
    tr = _der.tr_from_three_tau_s(float(params.q_u.three_tau_s))
    u_high, u_low = _q_u_levels(params)
    hold = 3.0 * tr
    program = voltage_steps([v_n, u_high * v_n, u_low * v_n, v_n], [1.0, hold, hold, hold],
                            f_n, name="Q(U) voltage steps")
    try:
        grid, analyzer, rated, _p0 = _begin(station, charger, clock, params, point)
        _der.apply(charger, _der.volt_var(params))
        clock.sleep(s.SETTLE_S)
        recording, run = s.record_stimulus(analyzer, grid, clock, program)
    finally:
        _end(station, charger, params)

    mra = MRA()
    q = generator_q(recording["reactive_var"])
    u_pu = Series("voltage", "pu", recording.t_lab_s, recording["voltage_v"].values / v_n)
    required = _q_required(params.q_u.curve, rated)
    t_high = s.measured_step_s(recording, "voltage_v", v_n, u_high * v_n)
    t_low = s.measured_step_s(recording, "voltage_v", u_high * v_n, u_low * v_n, t_high)
    t_back = s.measured_step_s(recording, "voltage_v", u_low * v_n, v_n, t_low)
    q0 = q.window(t_high - s.PRE_S, t_high).mean()
    q_high = float(required(u_high))
    judgements = []
    if abs(q_high - q0) > 3 * mra.power(rated):
        judgements.append(judge_open_loop(q, t_high, q0, q_high, tr, mra, rated=rated))
    for start, end in ((t_high, t_low), (t_low, t_back), (t_back, recording.end_lab_s)):
        u_ss = steady_state(u_pu, start, tr, until_lab_s=end)
        q_ss = steady_state(q, start, tr, until_lab_s=end)
        judgements.append(judge_steady_state(u_ss, q_ss, required, mra.v_pct_nom / 100.0,
                                             mra.power(rated), x_name="voltage", x_unit="pu",
                                             y_name="Q (over-excited +)", y_unit="var"))
    t = q.t_lab_s
    low, high = open_loop_envelope(t, t_high, q0, q_high, tr, mra.time_s(tr), mra.power(rated),
                                   name="allowed Q", unit="var")
    stim = Series("voltage_v", "V", t, np.asarray(run.voltage_reference()(t)))
    _evidence.save(s.evidence_dir(bench, request), "q-u", recording, [q, stim],
           [("allowed Q min (first step)", low, "var"), ("allowed Q max (first step)", high,
                                                         "var")],
           _title(f"Q(U) {point.id}", station, params) +
           f": {v_n:g} -> {u_high * v_n:.1f} -> {u_low * v_n:.1f} -> {v_n:g} V", judgements,
           ["voltage_v", "power_w", "reactive_gen_var"])
    s.verdict(judgements)


# ----------------------------------------------------------------------------- cos phi
def _hold_program(params: GridCodeParameters, seconds: float) -> Any:
    v_n, f_n = float(params.nominal.voltage_v), float(params.nominal.frequency_hz)
    return voltage_steps([v_n], [seconds], f_n, name="nominal supply")


def _steady_pq(recording: Any, t_from: float) -> tuple[float, float]:
    """Mean grid-side P (+ import) and generator-convention Q from ``t_from`` on."""
    p = recording["power_w"].window(t_from, None).mean()
    q = generator_q(recording["reactive_var"]).window(t_from, None).mean()
    return p, q


def _run_setting(station: Any, charger: Any, clock: Any, params: GridCodeParameters,
                 point: s.OperatingPoint, setting: dict[str, Any]
                 ) -> tuple[Any, float, float, float]:
    """Operating point, the setting, then nominal supply held 2 settling times + 2 s.
    Returns (recording, rated, lab time the setting was accepted, settling time)."""
    settling = float(params.cos_phi_p.settling_time_s)
    try:
        grid, analyzer, rated, _p0 = _begin(station, charger, clock, params, point)
        _der.apply(charger, setting)
        t_set = clock.now()
        recording, _run = s.record_stimulus(analyzer, grid, clock,
                                            _hold_program(params, 2.0 * settling + 2.0),
                                            tail_s=0.5)
    finally:
        _end(station, charger, params)
    return recording, rated, t_set, settling


def _judge_pq(recording: Any, rated: float, t_from: float, required: Any, what: str
              ) -> list[Any]:
    mra = MRA()
    p, q = _steady_pq(recording, t_from)
    p_export = -p
    judgement = judge_steady_state(p_export, q, required, mra.power(rated), mra.power(rated),
                                   x_name="export power", x_unit="W",
                                   y_name=f"Q ({what})", y_unit="var")
    s_va = math.hypot(p, q)
    cos_phi = abs(p) / s_va if s_va > 0 else 1.0
    excitation = "over" if q > 0 else "under"
    return [replace(judgement, explanation=f"{judgement.explanation}; measured cos phi "
                                           f"{cos_phi:.3f} {excitation}-excited",
                    details={**judgement.details, "cos_phi": cos_phi,
                             "excitation": excitation})]


@pytest.mark.requires(*REQUIRES)
@pytest.mark.parametrize("point", COS_PHI_P_POINTS, ids=lambda p: p.id)
def test_cos_phi_p(point, station, charger, clock, bench, request):
    """cos phi(P): the pair's Q follows the set's cos phi(P) curve at its export power."""
    _der.require_21(station, "cos phi(P)")
    params = s.params_of(station)
    _der.require_known(params, "cos_phi_p.curve", "cos_phi_p.settling_time_s")
    recording, rated, t_set, settling = _run_setting(station, charger, clock, params, point,
                                                     _der.watt_pf(params))
    curve = params.cos_phi_p.curve

    def required(p_export_w: Any) -> Any:
        return np.vectorize(lambda p: q_for_cos_phi(p, signed_cos_phi(curve, p / rated))
                            if p > 0 else 0.0)(np.asarray(p_export_w, dtype=float))

    judgements = _judge_pq(recording, rated, t_set + settling, required, "cos phi(P)")
    q = generator_q(recording["reactive_var"])
    p_export = -recording["power_w"].values
    req = Series("required Q", "var", q.t_lab_s, np.asarray(required(p_export)))
    _evidence.save(s.evidence_dir(bench, request), "cos-phi-p", recording, [q],
                   [("required Q at the measured P", req, "var")],
                   _title(f"cos phi(P) {point.id}", station, params), judgements,
                   ["power_w", "reactive_gen_var"])
    s.verdict(judgements)


@pytest.mark.requires(*REQUIRES)
@pytest.mark.parametrize("mode", FIXED)
@pytest.mark.parametrize("point", FIXED_POINTS, ids=lambda p: p.id)
def test_fixed_cos_phi_and_q(point, mode, station, charger, clock, bench, request):
    """Fixed cos phi and fixed Q at the set's limits, at each operating point."""
    _der.require_21(station, "fixed cos phi / fixed Q")
    params = s.params_of(station)
    _der.require_known(params, "cos_phi_fixed.min_under_excited",
                       "cos_phi_fixed.min_over_excited", "cos_phi_p.settling_time_s")
    fixed = params.cos_phi_fixed
    under = mode.endswith("under")
    cos_phi = float(fixed.min_under_excited if under else fixed.min_over_excited)
    rated = s.rated_w(station)
    if mode.startswith("pf"):
        setting = _der.fixed_pf(cos_phi, under_excited=under)
        signed = -cos_phi if under else cos_phi

        def required(p_export_w: Any) -> Any:
            return np.vectorize(lambda p: q_for_cos_phi(p, signed))(
                np.asarray(p_export_w, dtype=float))
        what = f"fixed cos phi {cos_phi:g} {'under' if under else 'over'}-excited"
    else:
        q_set = q_for_min_cos_phi(rated, cos_phi) * (-1.0 if under else 1.0)
        setting = _der.fixed_var(q_set / rated * 100.0)

        def required(p_export_w: Any) -> Any:
            return np.full(np.shape(p_export_w), q_set)
        what = f"fixed Q {q_set:.0f} var"
    recording, rated, t_set, settling = _run_setting(station, charger, clock, params,
                                                     point, setting)
    judgements = _judge_pq(recording, rated, t_set + settling, required, what)
    q = generator_q(recording["reactive_var"])
    req = Series("required Q", "var", q.t_lab_s,
                 np.asarray(required(-recording["power_w"].values)))
    _evidence.save(s.evidence_dir(bench, request), f"fixed-{mode}", recording, [q],
                   [("required Q", req, "var")], _title(f"{what} {point.id}", station, params),
                   judgements,
                   ["power_w", "reactive_gen_var"])
    s.verdict(judgements)


# ----------------------------------------------------------------------------- P(U)
def _p_u_level(params: GridCodeParameters) -> float:
    """The voltage (pu) where the set's P(U) curve asks half the power, inside the stages."""
    curve = params.p_u.curve
    grid = np.linspace(float(curve.xs[0]), float(curve.xs[-1]), 2001)
    values = np.asarray(curve(grid))
    below = np.nonzero(values <= 0.5)[0]
    if below.size == 0:
        pytest.skip(f"not applicable: the P(U) curve of {params.name!r} never asks less than "
                    "half the power")
    level = float(grid[below[0]])
    for st in params.protection.enabled():
        if st.quantity == "voltage" and not st.trips_below and st.code != "59avg":
            level = min(level, st.threshold - PROTECTION_MARGIN_PU)
    return level


@pytest.mark.requires(*REQUIRES)
@pytest.mark.parametrize("point", P_U_POINTS, ids=lambda p: p.id)
def test_p_u(point, station, charger, clock, bench, request):
    """P(U): at over-voltage the pair reduces its feed-in along the set's curve, in time."""
    _der.require_21(station, "P(U)")
    params = s.params_of(station)
    _der.require_known(params, "p_u.curve", "p_u.three_tau_s")
    v_n, f_n = float(params.nominal.voltage_v), float(params.nominal.frequency_hz)
    tr = _der.tr_from_three_tau_s(float(params.p_u.three_tau_s))
    u_test = _p_u_level(params)
    program = voltage_steps([v_n, u_test * v_n, v_n], [1.0, 3.0 * tr, 3.0 * tr], f_n,
                            name="P(U) voltage step")
    try:
        grid, analyzer, rated, p0 = _begin(station, charger, clock, params, point)
        _der.apply(charger, _der.volt_watt(params))
        clock.sleep(s.SETTLE_S)
        recording, run = s.record_stimulus(analyzer, grid, clock, program)
    finally:
        _end(station, charger, params)

    curve = params.p_u.curve

    def required(u: Any) -> Any:
        cap = np.asarray(curve(np.asarray(u, dtype=float))) * rated
        return -np.minimum(abs(p0), cap)

    mra = MRA()
    power = recording["power_w"]
    u_pu = Series("voltage", "pu", recording.t_lab_s, recording["voltage_v"].values / v_n)
    t_up = s.measured_step_s(recording, "voltage_v", v_n, u_test * v_n)
    t_back = s.measured_step_s(recording, "voltage_v", u_test * v_n, v_n, t_up)
    yss = float(required(u_test))
    judgements = []
    if abs(yss - p0) > 3 * mra.power(rated):
        judgements.append(judge_open_loop(power, t_up, p0, yss, tr, mra, rated=rated))
    for start, end in ((t_up, t_back), (t_back, recording.end_lab_s)):
        u_ss = steady_state(u_pu, start, tr, until_lab_s=end)
        p_ss = steady_state(power, start, tr, until_lab_s=end)
        judgements.append(judge_steady_state(u_ss, p_ss, required, mra.v_pct_nom / 100.0,
                                             mra.power(rated), x_name="voltage", x_unit="pu",
                                             y_name="power", y_unit="W"))
    t = power.t_lab_s
    low, high = open_loop_envelope(t, t_up, p0, yss, tr, mra.time_s(tr), mra.power(rated),
                                   name="allowed power", unit="W")
    stim = Series("voltage_v", "V", t, np.asarray(run.voltage_reference()(t)))
    s.save(s.evidence_dir(bench, request), "p-u", recording, [stim],
           [("allowed min", low, "W"), ("allowed max", high, "W")],
           _title(f"P(U) {point.id}", station, params) + f": {v_n:g} -> {u_test * v_n:.1f} -> {v_n:g} V",
           judgements)
    s.verdict(judgements)
