"""Acquisition against a deterministic fake power analyser on a 10x lab clock."""

from __future__ import annotations

import time

import numpy as np
import pytest

from instruments.contracts import PhaseReading, PowerReading
from testbench.analysis import BackgroundAcquisition, build_recording, partial_recording, record
from testbench.clock import LabClock
from testbench.errors import BenchError, InstrumentError


def test_record_takes_seconds_times_rate_samples_on_lab_deadlines(analyzer, clock) -> None:
    before = clock.now()
    wall_start = time.monotonic()
    rec = record(analyzer, 2.0, 10.0, clock)
    wall_s = time.monotonic() - wall_start
    after = clock.now()

    # 2 lab s at 10 Hz: 20 deadlines; on a stalled machine some are skipped and counted.
    assert len(rec) + rec.meta["missed_deadlines"] == 20
    assert len(rec) >= 2
    # Deadlines are 0.1 lab s apart (k / rate), inside the 2 lab s: lab time, not wall.
    steps = np.diff(rec.scheduled_lab_s) / 0.1
    assert np.allclose(steps, np.round(steps), rtol=0, atol=1e-4)
    assert (np.round(steps) >= 1).all()
    assert before <= rec.scheduled_lab_s[0] and rec.scheduled_lab_s[-1] < before + 2.0
    # The last deadline is 1.9 lab s = 0.19 wall s after the first: it cannot finish sooner.
    assert wall_s >= 0.9 * (rec.scheduled_lab_s[-1] - rec.scheduled_lab_s[0]) / clock.scale
    assert before <= rec.start_lab_s and rec.end_lab_s <= after


def test_timestamps_are_the_arrival_wall_times_in_lab_time(analyzer, clock) -> None:
    rec = record(analyzer, 1.0, 20.0, clock)
    expected = clock.to_lab(np.array(analyzer.wall_stamps))
    assert np.allclose(rec.t_lab_s, expected, rtol=0, atol=1e-6)
    assert (np.diff(rec.t_lab_s) > 0).all()
    assert rec.meta["timestamp_source"] == "arrival"
    # Stamped at acquisition, after the deadline it was taken for (never before it).
    assert (rec.jitter_s >= -1e-3).all()


def test_channels_carry_the_readings_values(analyzer, clock) -> None:
    rec = record(analyzer, 1.0, 10.0, clock)
    k = np.arange(1, len(rec) + 1, dtype=float)
    assert np.array_equal(rec.power_w.values, 1000.0 * k)
    assert np.array_equal(rec.current_l2_a.values, k + 0.2)
    assert np.array_equal(rec.current_a.values, k + 0.3)          # largest phase
    assert np.allclose(rec.voltage_v.values, 232.0)                 # mean of 231, 232, 233
    assert np.array_equal(rec.frequency_hz.values, np.full(len(rec), 50.0))
    energy = rec.energy_wh.values                                   # None on odd k -> NaN
    assert np.isnan(energy[0::2]).all() and np.array_equal(energy[1::2], k[1::2])
    assert rec.units["current_l1_a"] == "A" and rec.units["energy_wh"] == "Wh"
    assert rec.units["power_factor_l3"] == "1"


def test_instrument_timestamps_are_preferred(fake_analyzer_type, clock) -> None:
    fake = fake_analyzer_type(instrument_offset_s=-0.25)
    rec = record(fake, 0.5, 20.0, clock)
    assert rec.meta["timestamp_source"] == "instrument"
    expected = clock.to_lab(np.array(fake.wall_stamps) - 0.25)
    assert np.allclose(rec.t_lab_s, expected, rtol=0, atol=1e-6)


def test_as_fast_as_possible_mode_has_no_schedule(analyzer, clock) -> None:
    rec = record(analyzer, 0.5, None, clock)
    assert len(rec) == analyzer.calls >= 5
    assert rec.scheduled_lab_s is None and rec.jitter_s.size == 0
    assert rec.meta["mode"] == "as_fast_as_possible"
    assert (np.diff(rec.t_lab_s) >= 0).all()


def test_fresh_mode_waits_for_each_update(analyzer, clock) -> None:
    rec = record(analyzer, 0.3, None, clock, fresh=True, fresh_timeout_s=2.5)
    assert len(rec) == len(analyzer.fresh_calls) >= 1
    assert set(analyzer.fresh_calls) == {2.5}
    assert rec.meta["mode"] == "fresh"


def test_bad_arguments_are_refused(analyzer, clock) -> None:
    with pytest.raises(ValueError, match="rate_hz must be a positive number"):
        record(analyzer, 1.0, 0.0, clock)
    with pytest.raises(ValueError, match="pass rate_hz=None"):
        record(analyzer, 1.0, 10.0, clock, fresh=True)
    with pytest.raises(ValueError, match="seconds must be"):
        record(analyzer, -1.0, 10.0, clock)


def test_instrument_error_propagates_with_the_samples_kept(fake_analyzer_type, clock) -> None:
    fake = fake_analyzer_type(fail_after=7)
    with pytest.raises(InstrumentError) as caught:
        record(fake, 10.0, 20.0, clock)
    assert caught.value is fake.error
    partial = partial_recording(caught.value)
    assert partial is not None and len(partial) == 7
    assert np.array_equal(partial.power_w.values, 1000.0 * np.arange(1, 8))
    assert "GARBAGE" in partial.meta["error"]
    assert partial_recording(ValueError("unrelated")) is None


# --------------------------------------------------------------------------- background
def test_background_acquisition_records_around_a_step(analyzer, clock, wait) -> None:
    before = clock.now()
    with BackgroundAcquisition(analyzer, clock, rate_hz=50.0) as acq:
        assert acq.running
        wait(lambda: analyzer.calls >= 5)
    after = clock.now()
    rec = acq.recording
    assert not acq.running
    assert len(rec) == analyzer.calls >= 5
    assert before <= rec.t_lab_s[0] and rec.t_lab_s[-1] <= after
    assert (np.diff(rec.t_lab_s) > 0).all()


def test_stop_interrupts_a_long_wait_between_samples(analyzer, clock) -> None:
    acq = BackgroundAcquisition(analyzer, clock, rate_hz=0.01).start()  # 10 wall s apart
    time.sleep(0.05)
    wall_start = time.monotonic()
    rec = acq.stop()
    assert time.monotonic() - wall_start < 5.0
    assert len(rec) == 1
    assert acq.stop() is rec  # stopping again returns the same recording


def test_background_error_is_reraised_at_stop_with_samples_kept(fake_analyzer_type, clock,
                                                                wait) -> None:
    fake = fake_analyzer_type(fail_after=3)
    acq = BackgroundAcquisition(fake, clock, rate_hz=100.0).start()
    wait(lambda: not acq.running)  # the error ended the acquisition on its own
    with pytest.raises(InstrumentError) as caught:
        acq.stop()
    assert caught.value is fake.error
    assert len(acq.recording) == 3
    assert partial_recording(caught.value) is acq.recording


def test_background_error_is_raised_leaving_the_with_block(fake_analyzer_type, clock,
                                                           wait) -> None:
    fake = fake_analyzer_type(fail_after=2)
    with (pytest.raises(InstrumentError),
          BackgroundAcquisition(fake, clock, rate_hz=100.0) as acq):
        wait(lambda: not acq.running)
    assert len(acq.recording) == 2


def test_a_failing_step_is_not_hidden_by_a_failing_acquisition(fake_analyzer_type, clock,
                                                               wait) -> None:
    fake = fake_analyzer_type(fail_after=1)
    with (pytest.raises(ZeroDivisionError) as caught,
          BackgroundAcquisition(fake, clock, rate_hz=100.0) as acq):
        wait(lambda: not acq.running)
        1 / 0  # noqa: B018
    assert any("acquisition also failed" in note for note in caught.value.__notes__)


def test_max_seconds_ends_the_acquisition_on_its_own(analyzer, clock, wait) -> None:
    acq = BackgroundAcquisition(analyzer, clock, rate_hz=10.0, max_seconds=1.0).start()
    wait(lambda: not acq.running)
    rec = acq.stop()
    assert len(rec) + rec.meta["missed_deadlines"] == 10


def test_lifecycle_misuse_is_reported(analyzer, clock) -> None:
    acq = BackgroundAcquisition(analyzer, clock)
    with pytest.raises(BenchError, match="before start"):
        acq.stop()
    with pytest.raises(BenchError, match="only available after stop"):
        acq.recording  # noqa: B018
    acq.start()
    with pytest.raises(BenchError, match="already started"):
        acq.start()
    acq.stop()


# --------------------------------------------------------------------------- building
def reading(wall: float, phases: int, instrument_s: float | None = None) -> PowerReading:
    ph = tuple(PhaseReading(230.0, 10.0 + n, 2300.0, 0.0, 2300.0, 1.0) for n in range(phases))
    return PowerReading(ph, 2300.0 * phases, 0.0, 2300.0 * phases, 1.0, 50.0, None, wall,
                        instrument_s)


def test_a_phase_missing_from_some_readings_becomes_nan() -> None:
    clock = LabClock(scale=1.0, epoch=1000.0)
    rec = build_recording([reading(1000.0, 3), reading(1001.0, 1), reading(1002.0, 3)], clock)
    assert np.array_equal(rec.current_l3_a.values, [12.0, np.nan, 12.0], equal_nan=True)
    assert np.array_equal(rec.current_a.values, [12.0, 10.0, 12.0])


def test_instrument_stamps_going_backwards_fall_back_to_arrival() -> None:
    clock = LabClock(scale=2.0, epoch=1000.0)
    rec = build_recording([reading(1001.0, 1, 5.0), reading(1002.0, 1, 4.0)], clock)
    assert rec.meta["timestamp_source"] == "arrival"
    assert np.array_equal(rec.t_lab_s, [1002.0, 1004.0])  # lab = epoch + (wall-epoch)*2


def test_build_recording_checks_deadline_count() -> None:
    with pytest.raises(ValueError, match="1 deadlines for 2 readings"):
        build_recording([reading(1.0, 1), reading(2.0, 1)], LabClock(), deadlines=[1.0])
