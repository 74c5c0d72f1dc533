"""LFSM-O and LFSM-U of a bidirectional charger x EV pair, at the station's parameter set.

Procedure (per operating point): nominal supply from the grid emulator, a session at the
operating point, then a frequency step from nominal to a test frequency beyond the
threshold (chosen from the set so the required change is large against the MRA, and
inside the frequency window that must not trip), held 4 Tr + 4 s, and back to nominal.

Checks (power on the grid side, + import):

1. **Open loop**: 90 % of the required change at Tr (``judge_open_loop``: band at
   t +- 1.5 MRA_T widened by 1.5 MRA_P, MRA_P = 5 % S_rated).
2. **Steady state** after 2 Tr at the test frequency and back at nominal: on the droop
   characteristic ``P0 + dP(f)`` (``judge_steady_state`` with the frequency and power MRA).

LFSM-O raises import (less export while discharging, more charging while charging);
LFSM-U lowers it and may cross from charging into discharging when the set allows it
(``lfsm_u.charging_to_feed_in_allowed``). The change is limited to +-rated power.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from suites.gridcode import _support as s
from testbench.analysis.mra import MRA, judge_open_loop, judge_steady_state, open_loop_envelope
from testbench.analysis.response import steady_state
from testbench.analysis.series import Series
from testbench.gridcode.params import GridCodeParameters
from testbench.gridcode.stimulus import frequency_steps

TARGET_SHARE = 0.4
"""The test frequency asks a change of this share of the rated power (less when the
protection or the frequency window leaves less room)."""
MARGIN_HZ = 0.1
"""Distance kept from the first frequency protection stage and the window edge."""

LFSM_O_POINTS = [s.OperatingPoint(-1.0), s.OperatingPoint(-0.66), s.OperatingPoint(-0.2),
                 s.OperatingPoint(0.66), s.OperatingPoint(0.2)]
"""LFSM-O raises import: discharging at 100 / 66 / 20 % (at 20 % the change crosses into
charging), charging at 66 / 20 % (at 66 % the required change is clipped at rated import).
Charging at 100 % is left out: the pair already runs at its rated import, there is no
headroom for a response, so nothing of the droop could be judged."""
LFSM_U_POINTS = [s.OperatingPoint(1.0), s.OperatingPoint(0.66), s.OperatingPoint(0.2),
                 s.OperatingPoint(-0.66), s.OperatingPoint(-0.2)]
"""LFSM-U lowers import: charging at 100 / 66 / 20 % (at 20 % it crosses into feed-in where
the set allows it), discharging at 66 / 20 %. Discharging at 100 % is left out for the same
reason as LFSM-O charging at 100 %: no headroom.

Points below the EV's minimum current (e.g. 20 % of 32 A = 6.4 A with an 8 A EV) skip as
not applicable, naming both currents (:func:`suites.gridcode._support.require_reachable`)."""


def _test_frequency(params: GridCodeParameters, mode: str) -> float:
    f_n = float(params.nominal.frequency_hz)
    section = getattr(params, mode)
    span = TARGET_SHARE * f_n * float(section.droop_pct) / 100.0
    stages = [st for st in params.protection.enabled() if st.quantity == "frequency"]
    if mode == "lfsm_o":
        limits = [st.threshold for st in stages if not st.trips_below]
        edge = min([*limits, max(b.high_hz for b in params.frequency_ranges.bands)])
        return min(section.threshold_hz + span, edge - MARGIN_HZ, f_n + 1.0)
    limits = [st.threshold for st in stages if st.trips_below]
    edge = max([*limits, min(b.low_hz for b in params.frequency_ranges.bands)])
    return max(section.threshold_hz - span, edge + MARGIN_HZ, f_n - 1.0)


def _lfsm(mode: str, point: s.OperatingPoint, station: Any, charger: Any, clock: Any,
          bench: Any, request: pytest.FixtureRequest, *,
          params: GridCodeParameters | None = None, setup: Callable[[], None] | None = None,
          name: str | None = None) -> None:
    """The LFSM procedure at ``point``; ``params`` (default the station's set) gives the
    characteristic judged, ``setup`` runs once the operating point is reached (a setting
    written to the unit), ``name`` names the evidence."""
    params = s.params_of(station) if params is None else params
    section = getattr(params, mode)
    rated = s.rated_w(station)
    grid = station.instrument("grid_emulator")
    analyzer = station.instrument("power_analyzer")
    f_n = float(params.nominal.frequency_hz)
    tr = float(section.response_time_s)
    f_test = _test_frequency(params, mode)
    s.require_reachable(station, point)
    try:
        s.energise(grid, params)
        s.start_session(station, charger, clock)
        s.set_operating_point(station, charger, clock, point)
        p0 = s.measured_power_w(analyzer, clock)
        s.check_operating_point(p0, point, rated)
        if setup is not None:
            setup()
            clock.sleep(s.SETTLE_S)
        program = frequency_steps([f_n, f_test, f_n], dwell_s=[1.0, 4 * tr + 4.0, 4 * tr + 2.0],
                                  voltage_v=float(params.nominal.voltage_v))
        recording, run = s.record_stimulus(
            analyzer, grid, clock, program, s.TAIL_S,
            rate_hz=s.sample_rate_hz(clock, s.RESPONSE_RATE_HZ),
            update_interval_s=s.RESPONSE_UPDATE_INTERVAL_S)
    finally:
        s.finish(station, grid, params, charger)

    if mode == "lfsm_o":
        def delta(f: float) -> float:
            return -section.delta_p_w(f, rated, f_n)  # import sign: less feed-in
    else:
        allowed = bool(params.lfsm_u.charging_to_feed_in_allowed)

        def delta(f: float) -> float:
            change = -section.delta_p_w(f, rated, f_n)
            return change if allowed or p0 <= 0 else max(change, -p0)
    required = s.required_power(p0, rated, delta)
    power = recording["power_w"]
    mra = MRA()
    judgements = []
    t_step = s.measured_step_s(recording, "frequency_hz", f_n, f_test)
    t_back = s.measured_step_s(recording, "frequency_hz", f_test, f_n, t_step)
    segments = ((t_step, t_back, f_test), (t_back, recording.end_lab_s, f_n))
    yss = float(required(f_test))
    if abs(yss - p0) > 3 * mra.power(rated):
        judgements.append(judge_open_loop(power, t_step, p0, yss, tr, mra, rated=rated))
    for start, end, f in segments:
        p_ss = steady_state(power, start, tr, until_lab_s=end)
        judgements.append(judge_steady_state(f, p_ss, required, mra.frequency_hz(),
                                             mra.power(rated), x_name="frequency",
                                             x_unit="Hz", y_name="power", y_unit="W"))

    t = power.t_lab_s
    freq = Series("frequency_hz", "Hz", t, np.asarray(run.frequency_reference()(t)))
    low, high = open_loop_envelope(t, t_step, p0, yss, tr, mra.time_s(tr), mra.power(rated),
                                   name="allowed power", unit="W")
    title = (f"{name or mode.upper().replace('_', '-')} {point.id} {station.ev.id} @ "
             f"{station.charger.id} ({params.name}): {f_n:g} -> {f_test:g} -> {f_n:g} Hz")
    s.save(s.evidence_dir(bench, request), re.sub(r"[^a-z0-9]+", "-", (name or mode).lower()),
           recording, [freq],
           [("allowed min", low, "W"), ("allowed max", high, "W")], title, judgements)
    s.verdict(judgements)


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@pytest.mark.parametrize("point", LFSM_O_POINTS, ids=lambda p: p.id)
@s.skips_unknown_parameters
def test_lfsm_o(point, station, charger, clock, bench, request):
    """Over-frequency: the pair raises its import along the droop, in time."""
    _lfsm("lfsm_o", point, station, charger, clock, bench, request)


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@pytest.mark.parametrize("point", LFSM_U_POINTS, ids=lambda p: p.id)
@s.skips_unknown_parameters
def test_lfsm_u(point, station, charger, clock, bench, request):
    """Under-frequency: the pair lowers its import along the droop (into feed-in), in time."""
    _lfsm("lfsm_u", point, station, charger, clock, bench, request)
