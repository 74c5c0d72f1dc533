"""System balance: frequency-responsive V2G (FCR-like) of a bidirectional OCPP 2.1 pair.

The operator hands the charger a frequency-watt curve (OCPP 2.1 ``operationMode =
LocalFrequency`` with ``v2xFreqWattCurve``): linear over +-200 mHz around the nominal
frequency, from ``-capacity`` (discharging) at ``f_n - 0.2`` to ``+capacity`` (charging) at
``f_n + 0.2``, 0 at ``f_n``; ``capacity`` is ``CAPACITY_SHARE`` of the pair's rated power.
The grid emulator feeding the charger then steps the frequency by -200 mHz, the deviation of
full activation, holds it ``HOLD_S`` and steps back.

Checks (the charger's analyser; the step instant is where the analyser measured the
frequency cross the middle of the step, not when the bench commanded it, unless the analyser
measured no frequency then: one on the outlet sees none while the contactor is open):

- half activation (half of the required change) within 15 s;
- full activation: the power stays within ``BAND_PCT`` % of the capacity around the curve's
  value at the new frequency from at most 30 s after the step to the end of the hold.

Evidence: power and frequency vs the required power (CSV, PNG), the curve and the measured
times (JSON).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest

from suites.energy_services import _support as s
from testbench.analysis import Recording, Series
from testbench.analysis.response import crossing_time
from testbench.errors import DeviceFailure
from testbench.gridcode.params import load_parameter_set
from testbench.procedures import energy, smart

TOKEN = "LAB-FCR-1"
CAPACITY_SHARE = 0.5
"""FCR capacity offered by the pair, as a share of its rated power."""
PRE_S = 6.0
"""Lab seconds at nominal frequency with the curve active before the step."""
HOLD_S = 45.0
"""Lab seconds the deviation is held (longer than the 30 s of full activation)."""
TAIL_S = 4.0
BAND_PCT = 10.0
"""Full activation band: +- this % of the capacity around the required power."""
PROFILE_ID = 7301
GAP_S = 1.0


def _rated_w(station: Any) -> float:
    return float(min(station.charger.max_power_w,
                     s.pair_max_a(station) * s.VOLTAGE_V * s.pair_phases(station)))


def _step_instant(recording: Recording, f_n: float, commanded_s: float
                  ) -> tuple[float | None, str]:
    """When the step happened: where the analyser's frequency crossed the middle of the
    step, if it measured the frequency on both sides of it (within ``GAP_S``); else (an
    analyser on the outlet measures no frequency while the contactor is open) the instant
    the bench commanded it."""
    freq = recording["frequency_hz"].dropna()
    level = f_n - energy.FCR_DEVIATION_HZ / 2
    crossed = crossing_time(freq, level, commanded_s - 1.0, "falling") if len(freq) else None
    if crossed is not None:
        before = freq.window(crossed - GAP_S, crossed)
        after = freq.window(crossed, crossed + GAP_S)
        seen_before = bool(np.any((before.t_lab_s < crossed) & (before.values > level)))
        if seen_before and np.any(after.values < level):
            return crossed, "measured frequency"
    seen = len(freq.window(commanded_s, None)) > 0
    return (commanded_s, "commanded (no frequency measured at the step)") if seen \
        else (None, "")


@pytest.mark.requires("bidirectional", "ocpp21", "grid_emulator", "power_analyzer")
def test_frequency_containment_full_activation(station, charger, clock, bench, request):
    """A -200 mHz step brings the pair to full discharge of its FCR capacity within 30 s."""
    params = load_parameter_set(station.spec.grid_code)
    f_n = float(params.nominal.frequency_hz)
    f_step = f_n - energy.FCR_DEVIATION_HZ
    capacity = CAPACITY_SHARE * _rated_w(station)
    curve = [(f_n - energy.FCR_DEVIATION_HZ, -capacity), (f_n, 0.0),
             (f_n + energy.FCR_DEVIATION_HZ, capacity)]
    grid = station.instrument("grid_emulator")
    analyzer = station.instrument("power_analyzer")
    started = None
    acquisition = None
    sent: dict[str, Any] = {}
    try:
        grid.set_voltage_v(float(params.nominal.voltage_v))
        grid.set_frequency_hz(f_n)
        grid.output(True)
        started = s.start_session(station, charger, TOKEN)
        req = energy.local_frequency_profile(profile_id=PROFILE_ID, curve=curve,
                                             limit_a=float(station.charger.max_current_a),
                                             start_s=clock.now() - 1.0)
        status = str(charger.call("SetChargingProfile", req).get("status"))
        sent = {"profile": req, "status": status, "capacity_w": capacity, "curve": curve}
        smart.expect_status(status, "Accepted", "SetChargingProfile (LocalFrequency)")
        acquisition = s.acquire(analyzer, clock, PRE_S + HOLD_S + TAIL_S + 60.0)
        clock.sleep(PRE_S)
        commanded_s = clock.now()
        grid.set_frequency_hz(f_step)
        clock.sleep(HOLD_S)
        back_s = clock.now()
        grid.set_frequency_hz(f_n)
        clock.sleep(TAIL_S)
    finally:
        recording = s.stop_all([acquisition])[0] if acquisition is not None else None
        with contextlib.suppress(Exception):
            charger.call("ClearChargingProfile", energy.clear_profile(charger, PROFILE_ID))
        with contextlib.suppress(Exception):
            grid.set_frequency_hz(f_n)
        s.stop_session(station, charger, started)

    if recording is None or not len(recording):
        raise DeviceFailure("the analyser recorded nothing; the response cannot be judged")
    power = recording["power_w"]
    step_s, step_source = _step_instant(recording, f_n, commanded_s)
    if step_s is None:
        raise DeviceFailure(f"the analyser never measured the frequency step {f_n:g} -> "
                            f"{f_step:g} Hz; check that the grid emulator feeds the charger")
    before = power.window(step_s - 3.0, step_s)
    p0 = float(np.nanmean(before.values)) if len(before) else float("nan")
    required = energy.curve_power_w(curve, f_step)
    band = BAND_PCT / 100.0 * capacity
    result = energy.activation(power, step_s, p0, required, band, until_s=back_s)
    problems = energy.activation_problems(result)
    at_nominal = energy.curve_power_w(curve, f_n)
    if not abs(p0 - at_nominal) <= band:
        problems.insert(0, f"frequency response: before the step the pair ran at {p0:.0f} W, "
                           f"not at the curve's {at_nominal:.0f} W +-{band:.0f} W")
    folder = s.evidence_dir(bench, request)
    s.save_json(folder, "frequency-containment", {**sent, "step_lab_s": step_s,
                                                  "step_from": step_source,
                                                  "activation": result.as_dict(),
                                                  "problems": problems})
    t = power.t_lab_s
    freq = recording["frequency_hz"]
    required_series = Series("required_w", "W", t, np.array(
        [energy.curve_power_w(curve, f) for f in freq.resample_at(t).values]))
    merged = Recording.from_series(power, required_series, freq.resample_at(t))
    s.save_recording(folder, "frequency-containment", merged,
                     ["power_w", "required_w", "frequency_hz"],
                     [("full activation band (low)", required - band, "W"),
                      ("full activation band (high)", required + band, "W")],
                     f"{station.ev.id} @ {station.charger.id}: LocalFrequency, {f_n:g} -> "
                     f"{f_step:g} Hz")
    s.verdict(problems)
