"""RoCoF withstand of a bidirectional charger x EV pair (RfG Art. 13(1)(b), EN 50549-1
4.5.2), at the station's parameter set.

Procedure (per operating point): nominal supply, a session at the operating point, then the
grid emulator ramps the frequency at the set's ``rocof.immunity_hz_per_s`` up to the top
of the band the unit must ride through without time limit, down to its bottom, and back to
nominal, holding ``HOLD_S`` at each end (``EDGE_HZ`` inside the band and the protection
stages).

Checks:

- the stimulus: the RoCoF measured by the analyser over ``rocof.window_s`` reaches
  ``STIMULUS_SHARE`` of the set's value (otherwise the lab, not the unit, is at fault: the
  test errors instead of judging);
- ``stays_connected_at_rocof``: from the first ramp to ``RECOVERY_S`` after the last, the
  grid-side |P| never falls below ``MIN_POWER_PCT`` of rated (LFSM-O/U may move the power,
  but not to zero at these operating points).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from suites.gridcode import _der, _evidence, _recover
from suites.gridcode import _support as s
from testbench.analysis.judgement import judge_value
from testbench.analysis.reactive import rocof_hz_per_s
from testbench.analysis.series import Series
from testbench.errors import BenchError
from testbench.gridcode.params import GridCodeParameters
from testbench.gridcode.stimulus import StimulusBuilder

EDGE_HZ = 0.05
HOLD_S = 1.0
RECOVERY_S = 3.0
STIMULUS_SHARE = 0.8
POINTS = [s.OperatingPoint(1.0), s.OperatingPoint(-1.0)]


def _band(params: GridCodeParameters) -> tuple[float, float]:
    """(low, high) Hz of the test: the unlimited band (else the widest one), EDGE_HZ inside
    it and inside the frequency protection stages."""
    bands = params.frequency_ranges.bands
    unlimited = [b for b in bands if math.isinf(b.min_duration_s)]
    band = max(unlimited or bands, key=lambda b: b.high_hz - b.low_hz)
    low, high = band.low_hz + EDGE_HZ, band.high_hz - EDGE_HZ
    for st in params.protection.enabled():
        if st.quantity != "frequency":
            continue
        if st.trips_below:
            low = max(low, st.threshold + EDGE_HZ)
        else:
            high = min(high, st.threshold - EDGE_HZ)
    return low, high


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@pytest.mark.parametrize("point", POINTS, ids=lambda p: p.id)
def test_rocof_withstand(point, station, charger, clock, bench, request):
    """The pair stays connected through frequency ramps at the set's RoCoF."""
    params = s.params_of(station)
    _der.require_known(params, "rocof.immunity_hz_per_s", "rocof.window_s")
    rocof = float(params.rocof.immunity_hz_per_s)
    window = float(params.rocof.window_s)
    f_n, v_n = float(params.nominal.frequency_hz), float(params.nominal.voltage_v)
    low, high = _band(params)
    if (high - low) / rocof < 1.5 * window:
        pytest.skip(f"not applicable: the band {low:g}-{high:g} Hz is too narrow for a ramp at "
                    f"{rocof:g} Hz/s measured over {window:g} s")
    program = (StimulusBuilder(v_n, f_n, name="RoCoF ramps").hold(2.0, "nominal")
               .ramp_at(frequency_hz=high, hz_per_s=rocof, label=f"up {rocof:g} Hz/s")
               .hold(HOLD_S, f"{high:g} Hz")
               .ramp_at(frequency_hz=low, hz_per_s=rocof, label=f"down {rocof:g} Hz/s")
               .hold(HOLD_S, f"{low:g} Hz")
               .ramp_at(frequency_hz=f_n, hz_per_s=rocof, label=f"up {rocof:g} Hz/s")
               .hold(RECOVERY_S + 2.0, "nominal").build())
    rated = s.rated_w(station)
    grid = station.instrument("grid_emulator")
    analyzer = station.instrument("power_analyzer")
    try:
        s.energise(grid, params)
        s.start_session(station, charger, clock)
        s.set_operating_point(station, charger, clock, point)
        p0 = s.measured_power_w(analyzer, clock)
        s.check_operating_point(p0, point, rated)
        recording, run = s.record_stimulus(analyzer, grid, clock, program)
        _recover.let_reconnect(grid, analyzer, clock, params, rated)
    finally:
        s.finish(station, grid, params, charger)

    measured_rocof = rocof_hz_per_s(recording["frequency_hz"], window)
    steepest = float(np.nanmax(np.abs(measured_rocof.values)))
    if steepest < STIMULUS_SHARE * rocof:
        raise BenchError(f"the grid emulator's frequency changed at most {steepest:.2f} Hz/s "
                         f"(over {window:g} s) instead of {rocof:g} Hz/s; the RoCoF withstand "
                         "cannot be judged. Check the emulator's frequency slew and list mode")
    t_start = s.measured_step_s(recording, "frequency_hz", f_n, high)
    t_last = s.measured_step_s(recording, "frequency_hz", low, f_n, t_start)
    power = recording["power_w"].window(t_start - 0.5, t_last + RECOVERY_S)
    floor = s.MIN_POWER_PCT / 100.0 * rated
    smallest = float(np.nanmin(np.abs(power.values)))
    judgements = [judge_value(smallest, low=floor,
                              what=f"smallest |grid-side power| through ramps at {rocof:g} Hz/s "
                                   f"({high:g} -> {low:g} -> {f_n:g} Hz; measured up to "
                                   f"{steepest:.2f} Hz/s)", unit="W",
                              check="stays_connected_at_rocof",
                              details={"measured_rocof_hz_per_s": steepest})]
    t = recording["power_w"].t_lab_s
    stim = Series("frequency_hz", "Hz", t, np.asarray(run.frequency_reference()(t)))
    rocof_series = measured_rocof.resample_at(t)
    rocof_line = Series("set RoCoF", "Hz/s", t, np.full(t.size, rocof))
    title = (f"RoCoF {rocof:g} Hz/s {point.id} {station.ev.id} @ {station.charger.id} "
             f"({params.name})")
    _evidence.save(s.evidence_dir(bench, request), "rocof", recording, [stim, rocof_series],
                   [("connected: |P| above", math.copysign(floor, p0), "W"),
                    ("set RoCoF", rocof_line, "Hz/s")], title,
                   judgements, ["frequency_hz", "rocof", "power_w"])
    s.verdict(judgements)
