"""Under- and over-voltage ride-through of a bidirectional charger x EV pair (EN 50549-1
4.5.3 / 4.5.4), at the station's parameter set.

Procedure (per operating point): nominal supply, a session at the operating point, then the
grid emulator plays the set's envelope (``frt.under_voltage`` / ``frt.over_voltage``, U in
pu against the time since the fault) ``MARGIN_PU`` inside the ride-through region, then
nominal voltage again. The unit must stay connected: it may cease to deliver while the
voltage is too low to operate (momentary cessation), but once the voltage has recovered it
delivers again within ``RECOVERY_S`` (a unit that tripped waits at least the observation
time, ``reconnection.observation_time_s``, before it reconnects).

Check: ``stays_connected_in_ride_through``: the time from the voltage recovering (measured,
halfway between the envelope's last value and nominal) to the grid-side power being back
above half its pre-fault value, against ``RECOVERY_S`` (a detection window, not a
grid-code value: it is well below every observation time).

A parameter set whose own interface protection trips inside its ride-through envelope
contradicts itself: the test is skipped, naming the stage (see
``testbench.analysis.reactive.ride_through_conflicts``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest

from suites.gridcode import _recover
from suites.gridcode import _support as s
from testbench.analysis import BackgroundAcquisition
from testbench.analysis.judgement import judge_value
from testbench.analysis.reactive import ride_through_conflicts
from testbench.analysis.response import crossing_time
from testbench.analysis.series import Series
from testbench.errors import BenchError
from testbench.gridcode.stimulus import ride_through
from testbench.gridcode.stimulus_run import run_stimulus

MARGIN_PU = 0.02
"""The profile runs this far inside the ride-through region (2 % Un: the transient MRA)."""
RECOVERY_S = 5.0
POST_S = RECOVERY_S + 3.0
RATE_HZ = 20.0
"""Analyser samples per lab second: two or more inside the shortest envelope (0.1 s)."""
POINTS = [s.OperatingPoint(-1.0), s.OperatingPoint(1.0)]
SIDES = {"under": "under_voltage", "over": "over_voltage"}


def _ride_through(side: str, point: s.OperatingPoint, station: Any, charger: Any, clock: Any,
                  bench: Any, request: pytest.FixtureRequest) -> None:
    params = s.params_of(station)
    value = params.frt.param(SIDES[side])
    if not value.known:
        pytest.skip(f"not applicable: parameter set {params.name!r} has no {side}-voltage "
                    f"ride-through envelope ({value.note or value.status})")
    envelope = value.value
    conflicts = ride_through_conflicts(envelope, params.protection.enabled(), side=side,
                                       margin_pu=MARGIN_PU)
    if conflicts:
        pytest.skip(f"not applicable: parameter set {params.name!r} contradicts itself: "
                    + "; ".join(map(str, conflicts))
                    + f" (frt.{SIDES[side]} is {value.status}). Fix: coordinate the stage "
                    "with the envelope in the set or as a lab override")
    observation = float(params.reconnection.observation_time_s)
    if observation <= RECOVERY_S:
        pytest.skip(f"not applicable: the observation time {observation:g} s is not longer "
                    f"than the recovery window {RECOVERY_S:g} s; a trip cannot be told apart")
    v_n, f_n = float(params.nominal.voltage_v), float(params.nominal.frequency_hz)
    program = ride_through(envelope, v_n, f_n, margin_pu=MARGIN_PU, side=side, pre_s=2.0,
                           post_s=POST_S)
    rated = s.rated_w(station)
    grid = station.instrument("grid_emulator")
    analyzer = station.instrument("power_analyzer")
    try:
        s.energise(grid, params)
        s.start_session(station, charger, clock)
        s.set_operating_point(station, charger, clock, point)
        p0 = s.measured_power_w(analyzer, clock)
        s.check_operating_point(p0, point, rated)
        recording, run = _record_free_running(analyzer, grid, clock, program)
        _recover.let_reconnect(grid, analyzer, clock, params, rated)
    finally:
        s.finish(station, grid, params, charger)

    sign = 1.0 if side == "under" else -1.0
    last = (envelope.points[-1][1] + sign * MARGIN_PU) * v_n
    extreme = (min if side == "under" else max)(
        (u + sign * MARGIN_PU) * v_n for _, u in envelope.points)
    _require_disturbance_seen(recording, v_n, extreme)
    t_fault, t_recovered = _fault_times(recording, run, v_n, last)
    power = recording["power_w"]
    magnitude = Series("abs power", "W", power.t_lab_s, np.abs(power.values))
    t_back = crossing_time(magnitude, 0.5 * abs(p0), t_recovered, "rising")
    back_s = float("inf") if t_back is None else t_back - t_recovered
    judgements = [judge_value(back_s, high=RECOVERY_S,
                              what=f"time from the voltage recovering to the power being back "
                                   f"above {0.5 * abs(p0):.0f} W after the {side}-voltage "
                                   f"profile {MARGIN_PU:g} pu inside frt.{SIDES[side]}",
                              unit="s", check="stays_connected_in_ride_through")]
    t = power.t_lab_s
    stim = Series("voltage_v", "V", t, np.asarray(run.voltage_reference()(t)))
    boundary = Series("envelope", "V", t, np.where(
        (t >= t_fault) & (t <= t_fault + float(envelope.xs[-1])),
        np.asarray(envelope(np.clip(t - t_fault, 0.0, None))) * v_n, np.nan))
    title = (f"{side.capitalize()}-voltage ride-through {point.id} {station.ev.id} @ "
             f"{station.charger.id} ({params.name})")
    s.save(s.evidence_dir(bench, request), f"{side}-voltage-ride-through", recording, [stim],
           [("ride-through envelope", boundary, "V"),
            ("connected: |P| above", 0.5 * p0, "W")], title, judgements)
    s.verdict(judgements)


def _record_free_running(analyzer: Any, grid: Any, clock: Any, program: Any
                         ) -> tuple[Any, Any]:
    """Like ``_support.record_stimulus`` but at ``RATE_HZ`` (lab): a 100 ms swell must not
    fall between two samples (the analyser updates every ``UPDATE_INTERVAL_S``)."""
    analyzer.set_update_interval_s(s.UPDATE_INTERVAL_S)
    tail_s = 1.0 + 0.5 * program.duration_s
    acquisition = BackgroundAcquisition(analyzer, clock, rate_hz=RATE_HZ,
                                        max_seconds=program.duration_s + s.PRE_S + tail_s
                                        + 60.0)
    acquisition.start()
    try:
        clock.sleep(s.PRE_S)
        run = run_stimulus(grid, program, clock)
        clock.sleep(tail_s)
    except BaseException:
        with contextlib.suppress(Exception):
            acquisition.stop()
        raise
    return acquisition.stop(), run


def _require_disturbance_seen(recording: Any, v_n: float, extreme_v: float) -> None:
    """The analyser saw at least half of the dip or swell; otherwise the unit was not shown
    to be exposed to it and the test cannot be judged (a lab problem, not a device one)."""
    voltage = recording["voltage_v"].dropna().values
    seen = float(voltage.min() if extreme_v < v_n else voltage.max())
    if abs(seen - v_n) < 0.5 * abs(extreme_v - v_n):
        raise BenchError(f"the analyser measured at most {seen:.1f} V against the commanded "
                         f"{extreme_v:.1f} V (nominal {v_n:g} V): the grid emulator did not "
                         "apply the ride-through profile, or too briefly to be measured; check "
                         "its list mode and the analyser's update interval")


def _fault_times(recording: Any, run: Any, v_n: float, last_v: float) -> tuple[float, float]:
    """(fault inception, voltage recovered) in lab time: from the commanded profile, the
    recovery moved later when the analyser saw it later (an emulator slower than its list).
    A short swell may fall between two analyser samples, so the commanded profile is the
    floor, not the measured one."""
    t = np.arange(recording.t_lab_s[0], recording.end_lab_s, 0.001)
    ref = np.asarray(run.voltage_reference()(t))
    away = np.abs(ref - v_n) > 0.5 * abs(last_v - v_n)
    idx = np.nonzero(away)[0]
    if idx.size == 0:
        raise AssertionError("the commanded profile never leaves nominal voltage")
    t_fault, t_ref = float(t[idx[0]]), float(t[idx[-1]])
    mid = 0.5 * (last_v + v_n)
    voltage = recording["voltage_v"]
    dips = last_v < v_n
    seen = crossing_time(voltage, mid, t_fault - 0.5, "falling" if dips else "rising")
    measured = crossing_time(voltage, mid, t_ref - 1.0 if seen is None else seen,
                             "rising" if dips else "falling")
    return t_fault, max(t_ref, measured if measured is not None else t_ref)


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@pytest.mark.parametrize("point", POINTS, ids=lambda p: p.id)
def test_under_voltage_ride_through(point, station, charger, clock, bench, request):
    """UVRT: the pair stays connected through a dip along the set's envelope."""
    _ride_through("under", point, station, charger, clock, bench, request)


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@pytest.mark.parametrize("point", POINTS, ids=lambda p: p.id)
def test_over_voltage_ride_through(point, station, charger, clock, bench, request):
    """OVRT: the pair stays connected through a swell along the set's envelope."""
    _ride_through("over", point, station, charger, clock, bench, request)
