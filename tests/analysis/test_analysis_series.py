"""Series and Recording math on synthetic data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from testbench.analysis import NoDataError, Recording, Series, uniform_grid

T0 = 1_700_000_000.0  # a realistic lab epoch: precision must survive large timestamps


def constant(value: float, seconds: float, rate_hz: float, unit: str = "W",
             name: str = "power_w") -> Series:
    t = T0 + np.arange(int(seconds * rate_hz) + 1) / rate_hz
    return Series(name, unit, t, np.full(t.size, value))


# --------------------------------------------------------------------------- statistics
def test_mean_min_max_std_of_known_values() -> None:
    s = Series("current_a", "A", T0 + np.arange(5.0), [1.0, 2.0, 3.0, 4.0, 10.0])
    assert s.mean() == pytest.approx(4.0)
    assert s.min() == 1.0
    assert s.max() == 10.0
    assert s.std() == pytest.approx(np.std([1, 2, 3, 4, 10]))
    assert len(s) == 5 and s.duration_s == pytest.approx(4.0)


def test_integrate_wh_of_constant_7_2_kw_over_30_min_is_3600_wh() -> None:
    assert constant(7200.0, 1800, 1.0).integrate_wh() == pytest.approx(3600.0, rel=1e-12)
    assert constant(7.2, 1800, 0.5, unit="kW").integrate_wh() == pytest.approx(3600.0)


def test_integrate_wh_of_a_ramp_is_the_triangle_area() -> None:
    t = T0 + np.linspace(0, 3600, 61)
    ramp = Series("power_w", "W", t, np.linspace(0, 1000, 61))  # 0 -> 1 kW over an hour
    assert ramp.integrate_wh() == pytest.approx(500.0)


def test_integrate_wh_refuses_a_series_that_is_not_power() -> None:
    with pytest.raises(ValueError, match="needs a power series.*'A'"):
        constant(16.0, 10, 1, unit="A", name="current_a").integrate_wh()


def test_time_mean_weights_by_duration_where_mean_does_not() -> None:
    # 0 W for 9 s (samples at 0 and 9), then 100 W sampled densely over the last second.
    t = T0 + np.concatenate([[0.0, 9.0], 9.0 + np.arange(1, 11) / 10])
    v = np.concatenate([[0.0, 0.0], np.full(10, 100.0)])
    s = Series("power_w", "W", t, v)
    assert s.mean() == pytest.approx(1000 / 12)
    # Integral: 0 over 0..9, ramp 0->100 over 9..9.1 (5 W s), 100 W over 9.1..10 (90 W s).
    assert s.time_mean() == pytest.approx(95.0 / 10)


def test_nan_samples_are_ignored_by_statistics() -> None:
    s = Series("current_a", "A", T0 + np.arange(6.0), [1.0, np.nan, 3.0, np.nan, 5.0, np.nan])
    assert s.valid_count == 3
    assert s.mean() == pytest.approx(3.0)
    assert s.max() == 5.0 and s.min() == 1.0
    assert len(s.dropna()) == 3


def test_integration_bridges_missing_samples_linearly() -> None:
    s = constant(7200.0, 1800, 1.0)
    values = s.values.copy()
    values[100:200] = np.nan  # a 100 s gap in a constant series changes nothing
    gappy = Series(s.name, s.unit, s.t_lab_s, values)
    assert gappy.integrate_wh() == pytest.approx(3600.0)


def test_statistics_of_all_missing_or_empty_raise_no_data_naming_the_series() -> None:
    nothing = Series("power_w", "W", T0 + np.arange(3.0), [np.nan] * 3)
    for stat in (nothing.mean, nothing.max, nothing.min, nothing.integrate_wh):
        with pytest.raises(NoDataError, match="power_w"):
            stat()
    empty_window = constant(1.0, 10, 1).window(T0 + 100, T0 + 200)
    assert len(empty_window) == 0
    with pytest.raises(NoDataError, match="no valid sample"):
        empty_window.max()


def test_one_valid_sample_integrates_to_zero() -> None:
    s = Series("power_w", "W", [T0, T0 + 1], [np.nan, 500.0])
    assert s.integrate_wh() == 0.0
    assert s.mean() == 500.0


# --------------------------------------------------------------------------- windows
def test_window_is_inclusive_and_absolute_in_lab_time() -> None:
    s = Series("v", "V", T0 + np.arange(10.0), np.arange(10.0))
    w = s.window(T0 + 2, T0 + 5)
    assert list(w.values) == [2.0, 3.0, 4.0, 5.0]
    assert w.start_lab_s == T0 + 2 and w.end_lab_s == T0 + 5
    assert list(s.window(start_lab_s=T0 + 8).values) == [8.0, 9.0]
    assert list(s.window(end_lab_s=T0 + 1).values) == [0.0, 1.0]


def test_offset_window_counts_from_the_first_sample() -> None:
    s = Series("v", "V", T0 + 0.5 + np.arange(10.0), np.arange(10.0))
    assert list(s.offset_window(3, 4).values) == [3.0, 4.0]
    assert list(s.offset_window(8).values) == [8.0, 9.0]
    assert s.t_rel_s[0] == 0.0 and s.t_rel_s[-1] == 9.0


def test_at_interpolates_between_valid_samples() -> None:
    s = Series("v", "V", T0 + np.arange(3.0), [0.0, np.nan, 10.0])
    assert s.at(T0 + 0.5) == pytest.approx(2.5)
    assert math.isnan(s.at(T0 - 1))


# --------------------------------------------------------------------------- resampling
def test_resample_interpolates_onto_a_uniform_grid() -> None:
    s = Series("v", "V", T0 + np.array([0.0, 1.0, 3.0]), [0.0, 10.0, 30.0])
    r = s.resample(2.0)
    assert np.allclose(r.t_lab_s - T0, [0, 0.5, 1, 1.5, 2, 2.5, 3])
    assert np.allclose(r.values, [0, 5, 10, 15, 20, 25, 30])
    assert r.name == "v" and r.unit == "V"


def test_resample_leaves_long_gaps_and_outside_points_missing() -> None:
    s = Series("v", "V", T0 + np.array([0.0, 1.0, 5.0, 6.0]), [0.0, 1.0, 5.0, 6.0])
    r = s.resample(1.0, start_lab_s=T0 - 1, end_lab_s=T0 + 7, max_gap_s=2.0)
    expected = [np.nan, 0, 1, np.nan, np.nan, np.nan, 5, 6, np.nan]
    assert np.array_equal(r.values, expected, equal_nan=True)


def test_uniform_grid_includes_the_end() -> None:
    assert np.allclose(uniform_grid(0.0, 1.0, 4.0), [0, 0.25, 0.5, 0.75, 1.0])


# --------------------------------------------------------------------------- validation
def test_series_rejects_mismatched_lengths_and_time_going_backwards() -> None:
    with pytest.raises(ValueError, match="3 timestamps but 2 values"):
        Series("v", "V", [1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="backwards at sample #2"):
        Series("v", "V", [1.0, 2.0, 1.5], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite time"):
        Series("v", "V", [1.0, np.nan], [1.0, 2.0])


# --------------------------------------------------------------------------- recordings
def recording() -> Recording:
    t = T0 + np.arange(10) / 10
    return Recording(t, {"current_a": np.arange(10.0), "power_w": 230.0 * np.arange(10.0)},
                     {"current_a": "A", "power_w": "W"}, scheduled_lab_s=t - 0.001,
                     meta={"instrument": "pa1"})


def test_recording_channels_are_series_by_key_and_attribute() -> None:
    rec = recording()
    assert rec.channels == ("current_a", "power_w")
    assert rec.current_a.max() == 9.0
    assert rec["power_w"].unit == "W"
    assert "power_w" in rec and "voltage_v" not in rec
    with pytest.raises(KeyError, match="no channel 'voltage_v'.*current_a, power_w"):
        rec["voltage_v"]
    with pytest.raises(AttributeError, match="voltage_v"):
        rec.voltage_v  # noqa: B018


def test_recording_window_keeps_rows_aligned() -> None:
    rec = recording().window(T0 + 0.2, T0 + 0.4)
    assert len(rec) == 3
    assert list(rec.current_a.values) == [2.0, 3.0, 4.0]
    assert np.allclose(rec.jitter_s, 0.001, rtol=0, atol=1e-6)
    assert rec.meta["instrument"] == "pa1"


def test_recording_select_and_resample() -> None:
    rec = recording()
    assert rec.select("power_w").channels == ("power_w",)
    r = rec.resample(20.0)
    assert len(r) == 19
    assert r.current_a.at(T0 + 0.05) == pytest.approx(0.5)


def test_recording_rejects_inconsistent_columns() -> None:
    with pytest.raises(ValueError, match="3 values for 2 timestamps"):
        Recording([T0, T0 + 1], {"a": [1.0, 2.0, 3.0]}, {"a": "A"})
    with pytest.raises(ValueError, match="no unit"):
        Recording([T0], {"a": [1.0]}, {})
    with pytest.raises(ValueError, match="reserved"):
        Recording([T0], {"t_lab_s": [1.0]}, {"t_lab_s": "s"})


def test_from_series_requires_the_same_timestamps() -> None:
    a = constant(1.0, 5, 1, name="a")
    b = constant(2.0, 5, 1, name="b", unit="A")
    rec = Recording.from_series(a, b)
    assert rec.units == {"a": "W", "b": "A"}
    c = Series("c", "V", a.t_lab_s + 0.5, a.values)
    with pytest.raises(ValueError, match="not sampled at the same times"):
        Recording.from_series(a, c)
