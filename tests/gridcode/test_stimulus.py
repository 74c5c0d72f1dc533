"""Stimulus programs: shape, expected stimulus over time, list-mode rendering, factories."""

from __future__ import annotations

import numpy as np
import pytest

from testbench.gridcode.params import Curve, load_parameter_set
from testbench.gridcode.stimulus import (
    Segment,
    StimulusBuilder,
    StimulusProgram,
    frequency_ramp,
    frequency_steps,
    outage_and_restore,
    ride_through,
    voltage_steps,
)

T0 = 1_700_000_000.0


def lfsm_o_program() -> StimulusProgram:
    return (StimulusBuilder(230.0, 50.0, name="lfsm-o")
            .hold(10.0)
            .step(20.0, frequency_hz=50.7, label="over-frequency")
            .ramp(5.0, frequency_hz=50.2)
            .hold(15.0)
            .build())


def test_program_shape_and_events():
    p = lfsm_o_program()
    assert p.duration_s == 50.0
    np.testing.assert_allclose(p.starts_s, [0.0, 10.0, 30.0, 35.0])
    assert p.events() == [(0.0, "hold"), (10.0, "over-frequency"), (30.0, "ramp"),
                          (35.0, "hold")]
    assert p.max_voltage_v == 230.0 and not p.has_outage_by_output


def test_expected_stimulus_steps_at_segment_starts_and_ramps_linearly():
    p = lfsm_o_program()
    assert p.frequency_at(9.999) == 50.0
    assert p.frequency_at(10.0) == 50.7  # a step takes effect at its segment start
    assert p.frequency_at(32.5) == pytest.approx(50.45)
    assert p.frequency_at(-5.0) == 50.0 and p.frequency_at(99.0) == 50.2
    np.testing.assert_allclose(p.frequency_at(np.array([0.0, 20.0, 35.0])), [50.0, 50.7, 50.2])
    assert p.voltage_at(25.0) == 230.0


def test_expected_recording_draws_steps_vertically():
    rec = lfsm_o_program().expected_recording(T0, rate_hz=2.0)
    assert rec.channels == ("voltage_v", "frequency_hz") and rec.meta["expected"]
    f = rec.frequency_hz
    assert f.at(T0 + 10.0 - 1e-6) == pytest.approx(50.0)
    assert f.at(T0 + 10.0) == pytest.approx(50.7)
    assert rec.end_lab_s == pytest.approx(T0 + 50.0, abs=1e-6)


def test_list_steps_with_ramps_and_as_a_staircase():
    p = lfsm_o_program()
    assert p.to_list_steps() == [(10.0, 230.0, 50.0, 230.0, 50.0),
                                 (20.0, 230.0, 50.7, 230.0, 50.7),
                                 (5.0, 230.0, 50.7, 230.0, 50.2),
                                 (15.0, 230.0, 50.2, 230.0, 50.2)]
    stairs = p.to_list_steps(ramps=False, ramp_resolution_s=1.0)
    assert len(stairs) == 3 + 5 and all(len(s) == 3 for s in stairs)
    ramp = stairs[2:7]
    assert [s[0] for s in ramp] == pytest.approx([1.0] * 5)
    assert [s[2] for s in ramp] == pytest.approx([50.65, 50.55, 50.45, 50.35, 50.25])
    # The staircase stays within half a step of the ramp and keeps the duration.
    sc = p.staircase(1.0)
    t = np.linspace(30.0, 35.0, 101)
    assert np.max(np.abs(sc.frequency_at(t) - p.frequency_at(t))) <= 0.05 + 1e-9
    assert sc.duration_s == pytest.approx(p.duration_s)


def test_builder_ramp_at_profile_dip_swell():
    p = (StimulusBuilder(230.0, 50.0)
         .hold(1.0)
         .ramp_at(frequency_hz=51.5, hz_per_s=2.0, label="rocof")
         .ramp_at(voltage_v=253.0, frequency_hz=50.0, v_per_s=23.0, hz_per_s=1.0)
         .build())
    assert [s.duration_s for s in p.segments] == pytest.approx([1.0, 0.75, 1.5])
    assert p.segments[1].frequency_slope_hz_per_s == pytest.approx(2.0)
    q = (StimulusBuilder(230.0, 50.0)
         .profile([(0.0, 230.0, None), (2.0, 240.0, None), (2.0, 220.0, 50.2), (4.0, None, 50.0)])
         .dip(35.0, 0.2, hold_after_s=1.0)
         .swell(287.5, 0.1, hold_after_s=1.0)
         .build())
    assert q.voltage_at(1.0) == pytest.approx(235.0)
    assert q.voltage_at(2.0) == 220.0 and q.frequency_at(2.0) == pytest.approx(50.2)
    assert q.frequency_at(4.0) == pytest.approx(50.0)
    assert q.voltage_at(4.1) == 35.0 and q.voltage_at(4.2) == 220.0
    assert q.voltage_at(5.25) == 287.5 and q.voltage_at(5.3) == 220.0
    with pytest.raises(ValueError, match="backwards"):
        StimulusBuilder(230.0, 50.0).profile([(1.0, 230.0, None), (0.5, 230.0, None)])
    with pytest.raises(ValueError, match="hz_per_s"):
        StimulusBuilder(230.0, 50.0).ramp_at(frequency_hz=51.0)
    with pytest.raises(ValueError, match="nothing changes"):
        StimulusBuilder(230.0, 50.0).ramp_at(frequency_hz=50.0, hz_per_s=1.0)


def test_segments_refuse_impossible_values():
    with pytest.raises(ValueError, match="duration_s must be > 0"):
        Segment.hold(0.0, 230.0, 50.0)
    with pytest.raises(ValueError, match="frequency_hz must be > 0"):
        Segment.hold(1.0, 230.0, 0.0)
    with pytest.raises(ValueError, match="voltage_v must be >= 0"):
        Segment.hold(1.0, -1.0, 50.0)
    with pytest.raises(ValueError, match="no segment"):
        StimulusProgram("empty", ())


def test_outage_by_output_is_zero_volts_expected_and_not_for_list_mode():
    p = outage_and_restore(230.0, 50.0, outage_s=5.0, pre_s=2.0, post_s=10.0)
    assert p.has_outage_by_output
    assert p.voltage_at(1.0) == 230.0 and p.voltage_at(3.0) == 0.0 and p.voltage_at(7.0) == 230.0
    assert p.output_off_at(3.0) and not p.output_off_at(7.0)
    with pytest.raises(ValueError, match="switches the output off"):
        p.to_list_steps()
    z = outage_and_restore(230.0, 50.0, outage_s=5.0, pre_s=2.0, post_s=10.0,
                           method="zero_voltage", restore_frequency_hz=50.2)
    assert z.to_list_steps()[1] == (5.0, 0.0, 50.0, 0.0, 50.0)
    assert z.frequency_at(8.0) == 50.2  # restored outside the reconnection window


def test_step_factories():
    f = frequency_steps([50.0, 50.4, 50.7, 51.0], dwell_s=[5.0, 30.0, 30.0, 30.0],
                        voltage_v=230.0)
    assert f.duration_s == 95.0 and f.frequency_at(40.0) == 50.7
    v = voltage_steps([230.0, 241.5, 248.4], dwell_s=60.0, frequency_hz=50.0)
    assert v.duration_s == 180.0 and v.voltage_at(61.0) == 241.5
    with pytest.raises(ValueError, match="3 values for 4 levels"):
        frequency_steps([50.0, 50.4, 50.7, 51.0], dwell_s=[5.0, 30.0, 30.0], voltage_v=230.0)


def test_rocof_ramp_there_and_back():
    p = frequency_ramp(50.0, 51.5, 2.0, 230.0, hold_before_s=2.0, hold_after_s=3.0,
                       return_to_start=True)
    assert p.duration_s == pytest.approx(2.0 + 0.75 + 3.0 + 0.75 + 3.0)
    assert p.frequency_at(2.375) == pytest.approx(50.75)
    assert p.frequency_at(5.75 + 0.375) == pytest.approx(50.75)
    assert p.frequency_at(100.0) == 50.0


def test_ride_through_follows_the_envelope_inside_by_the_margin():
    frt = load_parameter_set("en50549-default").frt
    un = 230.0
    p = ride_through(frt.under_voltage, un, 50.0, margin_pu=0.02, pre_s=5.0, post_s=10.0)
    assert p.voltage_at(4.99) == un
    assert p.voltage_at(5.0) == pytest.approx(0.17 * un)
    assert p.voltage_at(5.2) == pytest.approx(0.17 * un)
    assert p.voltage_at(5.0 + 1.625) == pytest.approx(0.52 * un)
    assert p.voltage_at(5.0 + 2.999) == pytest.approx(0.87 * un, rel=1e-3)
    assert p.voltage_at(8.0) == un and p.duration_s == pytest.approx(18.0)
    # Everywhere during the fault the profile is above the envelope (ride through).
    t = np.linspace(0.0, 3.0, 301)
    assert np.all(p.voltage_at(5.0 + t) > frt.under_voltage(t) * un)
    # Outside by the margin: below it.
    below = ride_through(frt.under_voltage, un, 50.0, margin_pu=-0.05)
    assert below.voltage_at(5.1) == pytest.approx(0.10 * un)
    over = ride_through(frt.over_voltage, un, 50.0, side="over", margin_pu=0.02, post_s=5.0)
    assert over.voltage_at(5.05) == pytest.approx(1.23 * un) and over.voltage_at(5.1) == un
    assert over.max_voltage_v == pytest.approx(1.23 * un)


def test_ride_through_with_a_vertical_edge_and_bad_input():
    env = Curve(((0.0, 0.3), (0.5, 0.3), (0.5, 0.7), (2.0, 0.9)))
    p = ride_through(env, 230.0, 50.0, margin_pu=0.0, pre_s=1.0, post_s=1.0)
    assert p.voltage_at(1.4) == pytest.approx(69.0) and p.voltage_at(1.5) == pytest.approx(161.0)
    assert p.voltage_at(2.25) == pytest.approx(0.8 * 230.0)
    with pytest.raises(ValueError, match="spans no time"):
        ride_through(Curve(((0.0, 0.3),)), 230.0, 50.0)
    with pytest.raises(ValueError, match="side"):
        ride_through(env, 230.0, 50.0, side="sideways")  # type: ignore[arg-type]


def test_programs_concatenate():
    a = frequency_steps([50.0], 5.0, 230.0, name="a")
    b = voltage_steps([230.0, 200.0], 5.0, 50.0, name="b")
    c = a.then(b)
    assert c.name == "a + b" and c.duration_s == 15.0 and c.voltage_at(10.0) == 200.0
