"""Interface protection trip values and times, and the frequency windows the pair must ride
through, at the station's parameter set.

Trip (per protection stage of the set): the pair runs at rated power (discharging for
under-frequency stages, so the LFSM-U response does not move it towards zero, else
charging); the grid emulator holds the quantity just inside the threshold for the trip time
+ 1 s (the pair must stay connected: the trip value), then just beyond it for the trip time
+ 2 s (it must disconnect: the trip time is measured from the step to the grid-side power
falling through half its value), then nominal again for the observation time so the unit
can reconnect. Required trip time: the set's, within +-(1.5 MRA_T + two samples + two
analyser updates).

Windows (per frequency band of the set): at both edges of the band (``EDGE_HZ`` inside)
for ``min(min_duration_s, WINDOW_HOLD_S)`` each, the grid-side power never falls below
``MIN_POWER_PCT`` of rated (it stays connected). The full minimum durations (30 min and
more) are a campaign setting, not a default.

Reconnection: after a trip of the fastest over-frequency stage and nominal frequency again,
the unit stays off for at least the observation time (within 1.5 MRA_T + two samples), then
its power rises no faster than ``reconnection.ramp_pct_per_min`` of rated (fitted slope,
``RAMP_REL_TOL`` allowed for the gain accuracy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from suites.gridcode import _support as s
from testbench.analysis.judgement import judge_value
from testbench.analysis.mra import MRA
from testbench.analysis.response import crossing_time
from testbench.analysis.series import Series
from testbench.gridcode.stimulus import frequency_steps, voltage_steps

CODES = {"81>": "f-over-1", "81>>": "f-over-2", "81<": "f-under-1", "81<<": "f-under-2",
         "27<": "u-under-1", "27<<": "u-under-2", "59>": "u-over-1", "59>>": "u-over-2"}
"""Protection stages and their test ids (usable in ``-k``)."""
INSIDE_HZ = 0.05
BEYOND_HZ = 0.1
INSIDE_PU = 0.02
BEYOND_PU = 0.03
MAINS_MIN_PU = 0.5
"""Below this the charger delivers nothing anyway: a trip there is not visible in power."""
EDGE_HZ = 0.05
WINDOW_HOLD_S = 20.0
TRIP_PREFERRED_HZ = 20.0
"""Trip timing is sampled at up to this rate (lab) when the time scale leaves room; the
tolerance is built on ``s.RATE_HZ`` (the floor), so verdicts do not depend on the scale."""


def _program(stage: Any, params: Any) -> tuple[Any, float, float]:
    """(stimulus, inside value, beyond value) in the stage's own unit (Hz or V)."""
    f_n = float(params.nominal.frequency_hz)
    v_n = float(params.nominal.voltage_v)
    sign = -1.0 if stage.trips_below else 1.0
    dwell = [1.0, stage.trip_time_s + 1.0, stage.trip_time_s + 2.0, 2.0]
    if stage.quantity == "frequency":
        inside = stage.threshold - sign * INSIDE_HZ
        beyond = stage.threshold + sign * BEYOND_HZ
        return frequency_steps([f_n, inside, beyond, f_n], dwell, v_n), inside, beyond
    inside = (stage.threshold - sign * INSIDE_PU) * v_n
    beyond = (stage.threshold + sign * BEYOND_PU) * v_n
    return voltage_steps([v_n, inside, beyond, v_n], dwell, f_n), inside, beyond


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@pytest.mark.parametrize("code", list(CODES), ids=list(CODES.values()))
@s.skips_unknown_parameters
def test_interface_protection_trip(code, station, charger, clock, bench, request):
    """The pair stays connected just inside the setting and trips beyond it, in time."""
    params = s.params_of(station)
    value = params.protection.param(code)
    note = f": {value.note}" if value.note else ""
    if not value.known:
        pytest.skip(f"not judged: parameter set {params.name!r} marks protection stage {code} "
                    f"unknown (no threshold or trip time to test against{note}); fill it in "
                    f"testbench/gridcode/parameter_sets/{params.name}.toml once the DSO's "
                    "value is known")
    if not value.value.enabled:
        pytest.skip(f"not applicable: parameter set {params.name!r} has no setting for {code} "
                    f"(stage disabled, {value.status}{note})")
    stage = params.protection[code]
    if stage.quantity == "voltage" and stage.trips_below and (
            stage.threshold - BEYOND_PU < MAINS_MIN_PU):
        pytest.skip(f"not applicable: {stage} lies below {MAINS_MIN_PU:g} pu, where the pair "
                    "delivers nothing anyway; its trip cannot be seen in the grid-side power")
    rated = s.rated_w(station)
    point = s.OperatingPoint(-1.0 if stage.quantity == "frequency" and stage.trips_below
                             else 1.0)
    grid = station.instrument("grid_emulator")
    analyzer = station.instrument("power_analyzer")
    program, inside, beyond = _program(stage, params)
    try:
        s.energise(grid, params)
        s.start_session(station, charger, clock)
        s.set_operating_point(station, charger, clock, point)
        p0 = s.measured_power_w(analyzer, clock)
        s.check_operating_point(p0, point, rated)
        recording, run = s.record_stimulus(
            analyzer, grid, clock, program, s.TAIL_S,
            rate_hz=s.sample_rate_hz(clock, s.RATE_HZ, preferred_hz=TRIP_PREFERRED_HZ))
        s.energise(grid, params)
        # The unit may reconnect once nominal for the observation time: judge and save the
        # evidence meanwhile, then wait for the rest of it (a lab-time deadline).
        reconnected_lab_s = clock.now() + float(params.reconnection.observation_time_s) + 2.0
        try:
            judgements = _judge_trip(station, params, stage, code, recording, run, p0, inside,
                                     beyond, bench, request)
        finally:
            clock.sleep(max(0.0, reconnected_lab_s - clock.now()))
    finally:
        s.finish(station, grid, params, charger)
    s.verdict(judgements)


def _judge_trip(station: Any, params: Any, stage: Any, code: str, recording: Any, run: Any,
                p0: float, inside: float, beyond: float, bench: Any,
                request: pytest.FixtureRequest) -> list[Any]:
    """Trip value and trip time from the recording; evidence saved."""
    power = recording["power_w"]
    level = 0.5 * abs(p0)
    magnitude = Series("abs power", "W", power.t_lab_s, np.abs(power.values))
    channel = "frequency_hz" if stage.quantity == "frequency" else "voltage_v"
    nominal = float(params.nominal.frequency_hz if channel == "frequency_hz"
                    else params.nominal.voltage_v)
    t_inside = s.measured_step_s(recording, channel, nominal, inside)
    t_beyond = s.measured_step_s(recording, channel, inside, beyond, t_inside)
    # disconnected while still inside (one sample of slack: the step and a fast trip can
    # fall between the same two samples)
    early = crossing_time(magnitude.window(None, t_beyond - 1.0 / s.RATE_HZ), level, t_inside,
                          "falling")
    t_trip = crossing_time(magnitude, level, t_beyond, "falling")
    mra = MRA()
    tol = 1.5 * mra.time_s(stage.trip_time_s) + 2.0 / s.RATE_HZ + 2 * s.UPDATE_INTERVAL_S
    unit = "Hz" if stage.quantity == "frequency" else "V"
    judgements = [
        judge_value(0.0 if early is None else 1.0, high=0.0,
                    what=f"disconnections at {inside:g} {unit} (inside {stage})",
                    check="stays_connected_inside_setting"),
        judge_value(float("inf") if t_trip is None else t_trip - t_beyond,
                    stage.trip_time_s - tol, stage.trip_time_s + tol,
                    what=f"trip time at {beyond:g} {unit} ({stage})", unit="s",
                    check="trip_time"),
    ]
    t = power.t_lab_s
    ref = run.frequency_reference() if unit == "Hz" else run.voltage_reference()
    stim = Series("frequency_hz" if unit == "Hz" else "voltage_v", unit, t, np.asarray(ref(t)))
    title = f"Protection {code} {station.ev.id} @ {station.charger.id} ({params.name})"
    s.save(s.evidence_dir(bench, request), f"protection-{code}", recording, [stim],
           [("disconnected below", level, "W"),
            (f"setting {stage.threshold:g}", stage.threshold_v(float(params.nominal.voltage_v))
             if unit == "V" else stage.threshold, unit)],
           title, judgements)
    return judgements


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@pytest.mark.parametrize("band", range(6), ids=lambda i: f"band{i}")
@s.skips_unknown_parameters
def test_frequency_window_stays_connected(band, station, charger, clock, bench, request):
    """At both edges of each frequency band of the set the pair stays connected."""
    params = s.params_of(station)
    bands = params.frequency_ranges.bands
    if band >= len(bands):
        pytest.skip(f"not applicable: parameter set {params.name!r} has {len(bands)} bands")
    window = bands[band]
    rated = s.rated_w(station)
    hold = min(window.min_duration_s, WINDOW_HOLD_S)
    f_n, v_n = float(params.nominal.frequency_hz), float(params.nominal.voltage_v)
    levels = [f_n, window.low_hz + EDGE_HZ, window.high_hz - EDGE_HZ, f_n]
    program = frequency_steps(levels, [1.0, hold, hold, 2.0], v_n)
    grid = station.instrument("grid_emulator")
    analyzer = station.instrument("power_analyzer")
    try:
        s.energise(grid, params)
        s.start_session(station, charger, clock)
        p0 = s.measured_power_w(analyzer, clock)
        s.check_operating_point(p0, s.OperatingPoint(1.0), rated)
        recording, run = s.record_stimulus(
            analyzer, grid, clock, program, s.TAIL_S,
            rate_hz=s.sample_rate_hz(clock, s.RESPONSE_RATE_HZ),
            update_interval_s=s.RESPONSE_UPDATE_INTERVAL_S)
    finally:
        s.finish(station, grid, params, charger)

    t_low = s.measured_step_s(recording, "frequency_hz", f_n, levels[1])
    t_end = s.measured_step_s(recording, "frequency_hz", levels[2], f_n, t_low + hold)
    power = recording["power_w"].window(t_low, t_end)
    floor = s.MIN_POWER_PCT / 100.0 * rated
    smallest = float(np.nanmin(np.abs(power.values)))
    judgements = [judge_value(smallest, low=floor,
                              what=f"smallest |grid-side power| in {window} (held "
                                   f"{hold:g} s at each edge)", unit="W",
                              check="stays_connected_in_window")]
    t = recording["power_w"].t_lab_s
    stim = Series("frequency_hz", "Hz", t, np.asarray(run.frequency_reference()(t)))
    title = (f"Frequency window {window} {station.ev.id} @ {station.charger.id} "
             f"({params.name})")
    s.save(s.evidence_dir(bench, request), f"window-{band}", recording, [stim],
           [("connected above", floor, "W")], title, judgements)
    s.verdict(judgements)


RAMP_WATCH_S = 30.0
"""Lab seconds recorded after the observation time to judge the reconnection ramp."""
RECONNECTED_W = 50.0
"""Grid-side power above which the unit counts as reconnected (standby is a few W)."""
RAMP_REL_TOL = 0.1
"""Allowed excess of the fitted ramp rate (gain accuracy of the power measurement + fit)."""


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@s.skips_unknown_parameters
def test_reconnection_after_trip(station, charger, clock, bench, request):
    """After a protection trip the unit waits the observation time, then ramps at most at
    the set's rate."""
    params = s.params_of(station)
    over = [st for st in params.protection.enabled()
            if st.quantity == "frequency" and not st.trips_below]
    if not over:
        pytest.skip(f"not applicable: parameter set {params.name!r} has no over-frequency stage")
    stage = min(over, key=lambda st: st.trip_time_s)
    rec = params.reconnection
    rated = s.rated_w(station)
    f_n, v_n = float(params.nominal.frequency_hz), float(params.nominal.voltage_v)
    beyond = stage.threshold + BEYOND_HZ
    program = frequency_steps([f_n, beyond, f_n],
                              [1.0, stage.trip_time_s + 1.0,
                               float(rec.observation_time_s) + RAMP_WATCH_S], v_n)
    grid = station.instrument("grid_emulator")
    analyzer = station.instrument("power_analyzer")
    try:
        s.energise(grid, params)
        s.start_session(station, charger, clock)
        p0 = s.measured_power_w(analyzer, clock)
        s.check_operating_point(p0, s.OperatingPoint(1.0), rated)
        recording, run = s.record_stimulus(
            analyzer, grid, clock, program, s.TAIL_S,
            rate_hz=s.sample_rate_hz(clock, s.RESPONSE_RATE_HZ),
            update_interval_s=s.RESPONSE_UPDATE_INTERVAL_S)
    finally:
        s.finish(station, grid, params, charger)

    power = recording["power_w"]
    magnitude = Series("abs power", "W", power.t_lab_s, np.abs(power.values))
    t_beyond = s.measured_step_s(recording, "frequency_hz", f_n, beyond)
    t_restore = s.measured_step_s(recording, "frequency_hz", beyond, f_n, t_beyond)
    t_on = crossing_time(magnitude, RECONNECTED_W, t_restore + 1.0 / s.RESPONSE_RATE_HZ,
                         "rising")
    mra = MRA()
    observation = float(rec.observation_time_s)
    tol = (1.5 * mra.time_s(observation) + 2.0 / s.RESPONSE_RATE_HZ
           + 2 * s.RESPONSE_UPDATE_INTERVAL_S)
    judgements = [judge_value(float("inf") if t_on is None else t_on - t_restore,
                              low=observation - tol,
                              what=f"time from nominal frequency back to reconnection "
                                   f"(observation time {observation:g} s)", unit="s",
                              check="observation_time")]
    allowed = rated * float(rec.ramp_pct_per_min) / 100.0 / 60.0
    if t_on is not None:
        ramp = power.window(t_on + 1.0, None).dropna()
        rising = np.abs(ramp.values) < 0.9 * abs(p0)  # the ramp, not the plateau after it
        if int(rising.sum()) >= 10:
            slope = float(np.polyfit(ramp.t_lab_s[rising] - t_on,
                                     np.abs(ramp.values[rising]), 1)[0])
            judgements.append(judge_value(slope, high=allowed * (1.0 + RAMP_REL_TOL),
                                          what=f"power ramp after reconnection (set "
                                               f"{float(rec.ramp_pct_per_min):g} %/min of "
                                               f"{rated:g} W)", unit="W/s",
                                          check="reconnection_ramp"))
    t = power.t_lab_s
    stim = Series("frequency_hz", "Hz", t, np.asarray(run.frequency_reference()(t)))
    ramp_limit = Series("allowed ramp", "W", t, np.where(
        t < t_restore + observation, 0.0,
        np.minimum(rated, allowed * (t - t_restore - observation))))
    title = f"Reconnection after {stage} {station.ev.id} @ {station.charger.id} ({params.name})"
    s.save(s.evidence_dir(bench, request), "reconnection", recording, [stim],
           [("allowed (ramp after the observation time)", ramp_limit, "W")], title, judgements)
    s.verdict(judgements)
