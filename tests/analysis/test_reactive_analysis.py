"""Reactive-power, RoCoF and ride-through helpers against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from testbench.analysis.reactive import (
    distance_from_unity,
    generator_q,
    q_for_cos_phi,
    q_for_min_cos_phi,
    ride_through_conflicts,
    rocof_hz_per_s,
    signed_cos_phi,
)
from testbench.analysis.series import Series
from testbench.gridcode.params import Curve, ProtectionStage

VDE_COS_PHI = Curve(((0.0, 1.0), (0.5, 1.0), (1.0, -0.90)))
UVRT = Curve(((0.0, 0.15), (0.25, 0.15), (3.0, 0.85)))


def test_cos_phi_curve_is_interpolated_in_distance_from_unity() -> None:
    assert distance_from_unity(-0.9) == pytest.approx(-0.1)
    assert distance_from_unity(0.95) == pytest.approx(0.05)
    assert signed_cos_phi(VDE_COS_PHI, 0.2) == 1.0
    assert signed_cos_phi(VDE_COS_PHI, 0.75) == pytest.approx(-0.95)
    assert signed_cos_phi(VDE_COS_PHI, 1.0) == pytest.approx(-0.90)
    # a curve crossing from over- to under-excited passes unity, not zero
    crossing = Curve(((0.0, 0.9), (1.0, -0.9)))
    assert signed_cos_phi(crossing, 0.5) == 1.0
    assert signed_cos_phi(crossing, 0.25) == pytest.approx(0.95)


def test_q_for_a_cos_phi_has_the_excitation_sign() -> None:
    assert q_for_cos_phi(10000.0, -0.9) == pytest.approx(-4843.2, abs=0.1)
    assert q_for_cos_phi(-10000.0, 0.9) == pytest.approx(4843.2, abs=0.1)
    assert q_for_cos_phi(5000.0, 1.0) == 0.0
    assert q_for_min_cos_phi(22000.0, 0.9) == pytest.approx(22000.0 * math.sqrt(1 - 0.81))
    with pytest.raises(ValueError, match="outside"):
        q_for_cos_phi(1000.0, 1.2)


def test_generator_q_flips_the_measured_sign() -> None:
    s = Series("reactive_var", "var", np.array([0.0, 1.0]), np.array([-500.0, 200.0]))
    g = generator_q(s)
    assert g.name == "reactive_gen_var" and g.unit == "var"
    assert list(g.values) == [500.0, -200.0]


def test_rocof_over_a_window_of_a_noisy_ramp_with_missing_samples() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(0.0, 5.0, 0.1)
    f = np.where(t < 1.0, 50.0, np.where(t < 2.0, 50.0 + 2.0 * (t - 1.0), 52.0))
    f = f + rng.normal(0.0, 0.001, t.size)
    f[[12, 13, 30]] = np.nan
    r = rocof_hz_per_s(Series("frequency_hz", "Hz", t, f), 0.5)
    assert np.isnan(r.values[0])  # no full window yet
    assert np.nanmax(r.values) == pytest.approx(2.0, abs=0.02)
    assert np.nanmax(np.abs(r.window(3.0, None).values)) < 0.02


def test_ride_through_conflicts_name_the_stage_that_trips_inside_the_envelope() -> None:
    fast = ProtectionStage("27<<", 0.45, 0.3)
    slow = ProtectionStage("27<", 0.80, 3.0)
    conflicts = ride_through_conflicts(UVRT, [fast, slow], side="under", margin_pu=0.0)
    assert [c.stage.code for c in conflicts] == ["27<<"]
    # below 0.45 pu from 0 to 0.25 + 0.30 / 0.70 x 2.75 = 1.429 s
    assert conflicts[0].below_for_s == pytest.approx(1.429, abs=0.002)
    assert "27<< 0.45 pu / 0.3 s trips inside" in str(conflicts[0])
    # 27< is below 0.8 pu for 2.80 s, shorter than its 3 s
    assert ride_through_conflicts(UVRT, [slow], side="under") == []
    disabled = ProtectionStage("27<<", 0.45, 0.3, enabled=False)
    assert ride_through_conflicts(UVRT, [disabled], side="under") == []
    # over-voltage: a 1.25 pu / 0.1 s envelope against a 1.2 pu / 0.05 s stage
    ovrt = Curve(((0.0, 1.25), (0.1, 1.25)))
    over = ProtectionStage("59>>", 1.20, 0.05)
    assert [c.stage.code for c in ride_through_conflicts(ovrt, [over, fast], side="over")] \
        == ["59>>"]
    assert ride_through_conflicts(ovrt, [ProtectionStage("59>>", 1.25, 0.1)], side="over",
                                  margin_pu=0.02) == []
    with pytest.raises(ValueError, match="side"):
        ride_through_conflicts(UVRT, [], side="sideways")
