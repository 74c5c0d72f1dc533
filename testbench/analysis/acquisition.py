"""Acquire a power analyser into a :class:`~testbench.analysis.series.Recording`.

Samples are taken on absolute deadlines (``start + k / rate_hz`` in lab time), never by
sleeping after the work, so the rate does not drift. Each sample is stamped at acquisition:
the instrument's own timestamp when the reading carries one (``instrument_s``), otherwise
the wall time the reading arrived (``acquired_wall_s``), both converted to lab time with the
run's :class:`~testbench.clock.LabClock`.

The loop only appends each sample's numbers (a flat tuple of floats) and its deadline to
lists; numpy columns are built once, at the end, so the per-sample cost stays close to a
bare query loop.

``instrument_s`` is taken to be wall-clock Unix seconds, like ``acquired_wall_s``: a driver
whose instrument counts from its own origin converts before filling it in.
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections.abc import Iterable
from itertools import chain
from operator import attrgetter
from types import TracebackType
from typing import Any, Self

import numpy as np

from instruments.contracts import PowerAnalyzer, PowerReading
from testbench.analysis.series import Recording
from testbench.clock import LabClock
from testbench.errors import BenchError

log = logging.getLogger("testbench.analysis")

# Channel units of a power-analyser recording (per phase ``<quantity>_l<n>_<unit>``).
PHASE_CHANNELS: tuple[tuple[str, str, str], ...] = (
    # (attribute of PhaseReading, channel name pattern, unit)
    ("voltage_v", "voltage_l{n}_v", "V"),
    ("current_a", "current_l{n}_a", "A"),
    ("power_w", "power_l{n}_w", "W"),
    ("reactive_var", "reactive_l{n}_var", "var"),
    ("apparent_va", "apparent_l{n}_va", "VA"),
    ("power_factor", "power_factor_l{n}", "1"),
)
TOTAL_CHANNELS: tuple[tuple[str, str], ...] = (
    ("voltage_v", "V"),        # mean of the phase voltages
    ("current_a", "A"),        # largest phase current (what limits are judged against)
    ("power_w", "W"),
    ("reactive_var", "var"),
    ("apparent_va", "VA"),
    ("power_factor", "1"),
    ("frequency_hz", "Hz"),
    ("energy_wh", "Wh"),
)

DEFAULT_STOP_TIMEOUT_S = 30.0


# Per-sample extraction, done in C by attrgetter: a flat tuple of floats per sample (GC
# ignores it) instead of keeping the driver's reading objects alive (which made the garbage
# collector rescan every sample taken so far and cost more than the loop itself).
_FLOATS = attrgetter("acquired_wall_s", "power_w", "reactive_var", "apparent_va",
                     "power_factor", "frequency_hz")
_OPTIONAL = attrgetter("instrument_s", "energy_wh")
_PHASE = attrgetter(*(attr for attr, _, _ in PHASE_CHANNELS))
_FLAT_TOTALS = ("power_w", "reactive_var", "apparent_va", "power_factor", "frequency_hz")


class _Samples:
    """What the loop keeps per sample: float fields, optional fields, phases, deadline."""

    __slots__ = ("deadlines", "optional", "raws", "rows")

    def __init__(self) -> None:
        self.raws: list[Any] = []  # undecoded replies (drivers with read_raw/decode)
        self.rows: list[tuple[float, ...]] = []
        self.optional: list[tuple[float | None, float | None]] = []
        self.deadlines: list[float] = []

    def add(self, reading: PowerReading) -> None:
        row = _FLOATS(reading) + tuple(chain.from_iterable(map(_PHASE, reading.phases)))
        self.optional.append(_OPTIONAL(reading))
        self.rows.append(row)


# --------------------------------------------------------------------------- core loop
class _Sampler:
    """The acquisition loop shared by :func:`record` and :class:`BackgroundAcquisition`."""

    def __init__(self, instrument: PowerAnalyzer, clock: LabClock, rate_hz: float | None,
                 fresh: bool, fresh_timeout_s: float) -> None:
        if rate_hz is not None and not (rate_hz > 0 and math.isfinite(rate_hz)):
            raise ValueError(f"rate_hz must be a positive number (or None for as fast as "
                             f"possible), got {rate_hz!r}")
        if fresh and rate_hz is not None:
            raise ValueError("fresh=True paces samples by the instrument's updates; "
                             "pass rate_hz=None with it")
        self.instrument = instrument
        self.clock = clock
        self.rate_hz = rate_hz
        self.fresh = fresh
        self.fresh_timeout_s = fresh_timeout_s
        self.samples = _Samples()
        self.missed = 0
        self.error: BaseException | None = None
        self.start_lab_s = math.nan
        self.stop_lab_s = math.nan

    def run(self, seconds: float | None, stop: threading.Event) -> None:
        """Sample for ``seconds`` of lab time (None: until ``stop``); an error ends the loop."""
        try:
            if self.rate_hz is None:
                self._run_free(seconds, stop)
            else:
                self._run_scheduled(seconds, stop)
        except Exception as exc:  # noqa: BLE001 - kept and re-raised by the caller
            self.error = exc
        finally:
            self.stop_lab_s = self.clock.now()

    def _run_scheduled(self, seconds: float | None, stop: threading.Event) -> None:
        clock, now = self.clock, self.clock.now
        read = self.instrument.read
        raw_read = self._raw_reader()
        raws = self.samples.raws.append
        rows, optional = self.samples.rows.append, self.samples.optional.append
        deadlines = self.samples.deadlines.append
        floats, opt, phase = _FLOATS, _OPTIONAL, _PHASE
        rate_hz = float(self.rate_hz or 0.0)
        period = 1.0 / rate_hz
        wait, is_set = stop.wait, stop.is_set
        # Deadlines k = 0, 1, ... while k * period < seconds: seconds * rate_hz samples.
        count = math.inf if seconds is None else math.ceil(seconds * rate_hz - 1e-9)
        start = self.start_lab_s = now()
        k = 0
        while k < count:
            deadline = start + k * period
            lead = deadline - now()
            if lead > 0:
                if wait(clock.wall_duration(lead)):
                    return
            elif is_set():
                return
            if raw_read is not None:
                raws(raw_read())  # decoded after the run: the loop only waits for the wire
            else:
                reading = read()
                row = floats(reading) + tuple(chain.from_iterable(map(phase, reading.phases)))
                extra = opt(reading)
                rows(row)
                optional(extra)
            deadlines(deadline)
            k += 1
            # Behind by more than a whole period: skip the deadlines already gone, count them.
            late_k = int((now() - start) / period)
            if late_k > k:
                self.missed += late_k - k
                k = late_k

    def _run_free(self, seconds: float | None, stop: threading.Event) -> None:
        now = self.clock.now
        if self.fresh:
            timeout = self.fresh_timeout_s
            wait_fresh = self.instrument.wait_fresh

            def read() -> PowerReading:
                return wait_fresh(timeout)
        else:
            read = self.instrument.read
            raw_read = self._raw_reader()
            if raw_read is not None:
                raws, is_set = self.samples.raws.append, stop.is_set
                self.start_lab_s = now()
                end = math.inf if seconds is None else self.start_lab_s + seconds
                while not is_set() and now() < end:
                    raws(raw_read())  # decoded after the run: the loop only waits for the wire
                return
        rows, optional = self.samples.rows.append, self.samples.optional.append
        floats, opt, phase = _FLOATS, _OPTIONAL, _PHASE
        is_set = stop.is_set
        self.start_lab_s = now()
        end = math.inf if seconds is None else self.start_lab_s + seconds
        while not is_set() and now() < end:
            reading = read()
            row = floats(reading) + tuple(chain.from_iterable(map(phase, reading.phases)))
            extra = opt(reading)
            rows(row)
            optional(extra)

    def _raw_reader(self) -> Any:
        """The driver's undecoded read, if it has one (see PowerAnalyzer.read_raw)."""
        probe = getattr(type(self.instrument), "read_raw", None)
        if probe is None or probe is PowerAnalyzer.read_raw:
            return None
        return self.instrument.read_raw

    def decode_pending(self) -> None:
        """Decode raw replies into samples; a garbage reply raises like read() would, with the
        samples before it kept (and the deadlines trimmed to match)."""
        raws = self.samples.raws
        if not raws:
            return
        decode = self.instrument.decode
        floats, opt, phase = _FLOATS, _OPTIONAL, _PHASE
        done = 0
        try:
            for raw in raws:
                reading = decode(raw)
                self.samples.rows.append(
                    floats(reading) + tuple(chain.from_iterable(map(phase, reading.phases))))
                self.samples.optional.append(opt(reading))
                done += 1
        except Exception as exc:  # noqa: BLE001 - re-raised by the caller with the partial recording
            if self.error is None:
                self.error = exc
            del self.samples.deadlines[len(self.samples.rows):]
        finally:
            del raws[:done]
            if self.error is not None:
                raws.clear()

    def recording(self) -> Recording:
        """Build the recording from the samples taken so far."""
        self.decode_pending()
        return _build(
            self.samples, self.clock, scheduled=self.rate_hz is not None,
            meta={
                "instrument": getattr(self.instrument, "name", type(self.instrument).__name__),
                "mode": ("scheduled" if self.rate_hz is not None
                         else "fresh" if self.fresh else "as_fast_as_possible"),
                "rate_hz": self.rate_hz,
                "missed_deadlines": self.missed,
                "start_lab_s": self.start_lab_s,
                "stop_lab_s": self.stop_lab_s,
                "clock_scale": self.clock.scale,
                "clock_epoch": self.clock.epoch,
                "error": None if self.error is None else str(self.error),
            })


def build_recording(readings: Iterable[PowerReading], clock: LabClock,
                    deadlines: Iterable[float] | None = None,
                    meta: dict[str, Any] | None = None) -> Recording:
    """Turn power-analyser readings into a recording (lab-time stamps, one column per value).

    Stamps: every reading's ``instrument_s`` when all readings have one and they never go
    backwards, otherwise ``acquired_wall_s``; ``meta["timestamp_source"]`` says which.
    Missing values (``energy_wh`` None, a phase absent) become NaN. The totals
    ``voltage_v`` (mean) and ``current_a`` (largest) are taken over the phases with a value.
    ``deadlines`` (lab s, one per reading) are kept as ``scheduled_lab_s``.
    """
    samples = _Samples()
    for reading in readings:
        samples.add(reading)
    if deadlines is not None:
        samples.deadlines = [float(d) for d in deadlines]
        if len(samples.deadlines) != len(samples.rows):
            raise ValueError(f"{len(samples.deadlines)} deadlines for "
                             f"{len(samples.rows)} readings")
    return _build(samples, clock, deadlines is not None, meta or {})


def _build(samples: _Samples, clock: LabClock, scheduled: bool,
           meta: dict[str, Any]) -> Recording:
    meta = dict(meta)
    n = len(samples.rows)
    head = len(_FLAT_TOTALS) + 1
    widths = {len(row) for row in samples.rows}
    if len(widths) <= 1:
        data = np.array(samples.rows, dtype=float).reshape(n, widths.pop() if widths else head)
    else:  # the phase count changed mid-run: pad the short rows with NaN
        width = max(widths)
        data = np.full((n, width), np.nan)
        for i, row in enumerate(samples.rows):
            data[i, :len(row)] = row
    phase_count = (data.shape[1] - head) // len(PHASE_CHANNELS)
    optional = np.array(samples.optional, dtype=object).reshape(n, 2)
    optional[optional == None] = math.nan  # elementwise: the entries that are None
    optional = optional.astype(float)

    instrument_s = optional[:, 0]
    if n and not np.isnan(instrument_s).any() and not np.any(np.diff(instrument_s) < 0):
        wall = instrument_s
        meta["timestamp_source"] = "instrument"
    else:
        wall = data[:, 0]
        meta["timestamp_source"] = "arrival"
        if n > 1 and np.any(np.diff(wall) < 0):
            # The wall clock stepped back (NTP) mid-run: keep order, never go backwards.
            meta["clock_stepped_back"] = True
            wall = np.maximum.accumulate(wall)
    t_lab = clock.epoch + (wall - clock.epoch) * clock.scale

    columns: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for p in range(phase_count):
        for j, (_, pattern, unit) in enumerate(PHASE_CHANNELS):
            name = pattern.format(n=p + 1)
            columns[name] = data[:, head + p * len(PHASE_CHANNELS) + j].copy()
            units[name] = unit
    per_phase = data[:, head:head + phase_count * len(PHASE_CHANNELS)].reshape(
        n, phase_count, len(PHASE_CHANNELS))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, quietly
        columns["voltage_v"] = (np.nanmean(per_phase[:, :, 0], axis=1) if phase_count
                                else np.full(n, np.nan))
        columns["current_a"] = (np.nanmax(per_phase[:, :, 1], axis=1) if phase_count
                                else np.full(n, np.nan))
    for j, name in enumerate(_FLAT_TOTALS):
        columns[name] = data[:, 1 + j].copy()
    columns["energy_wh"] = optional[:, 1].copy()
    total_units = dict(TOTAL_CHANNELS)
    for name in ("voltage_v", "current_a", *_FLAT_TOTALS, "energy_wh"):
        units[name] = total_units[name]
    columns = {k: columns[k] for k in units}  # per-phase first, then totals in order
    sched = np.asarray(samples.deadlines, dtype=float) if scheduled else None
    meta["samples"] = n
    return Recording(t_lab, columns, units, sched, meta)


def _attach_partial(error: BaseException, recording: Recording) -> None:
    """Keep the samples taken before ``error`` on it (``error.partial_recording``)."""
    try:
        error.partial_recording = recording  # type: ignore[attr-defined]
        error.add_note(f"acquisition stopped by this error after {len(recording)} samples; "
                       "they are kept (partial_recording)")
    except AttributeError:  # exception types with __slots__
        pass


def partial_recording(error: BaseException) -> Recording | None:
    """The samples an acquisition took before ``error`` ended it (None if not from one)."""
    return getattr(error, "partial_recording", None)


# --------------------------------------------------------------------------- public API
def record(instrument: PowerAnalyzer, seconds: float, rate_hz: float | None,
           clock: LabClock, *, fresh: bool = False, fresh_timeout_s: float = 5.0) -> Recording:
    """Acquire ``instrument`` for ``seconds`` of lab time and return the recording.

    ``rate_hz`` is samples per lab second on absolute deadlines (``seconds * rate_hz``
    samples); ``None`` samples back to back, as fast as the instrument answers
    (``read()``), or, with ``fresh=True``, once per instrument update (``wait_fresh``).
    An instrument error ends the acquisition and is raised as is; the samples taken before
    it are on the error as ``partial_recording`` (see :func:`partial_recording`).
    """
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
    sampler = _Sampler(instrument, clock, rate_hz, fresh, fresh_timeout_s)
    sampler.run(seconds, threading.Event())
    recording = sampler.recording()
    if sampler.error is not None:
        _attach_partial(sampler.error, recording)
        raise sampler.error
    return recording


class BackgroundAcquisition:
    """Acquire in a background thread around a test step.

    >>> with BackgroundAcquisition(analyzer, clock, rate_hz=10) as acq:
    ...     cp.set_charging_profile(...)
    >>> acq.recording.current_a.max()

    :meth:`stop` returns the recording. If the instrument failed, the acquisition ended
    there, and :meth:`stop` (or leaving the ``with`` block) raises that same error; the
    samples taken before it stay available as :attr:`recording`. ``max_seconds`` (lab)
    ends the acquisition on its own if nobody stops it.

    The thread shares the GIL: while the test's own thread computes in Python, a sample
    can be late by up to the interpreter's switch interval (5 ms by default); waiting,
    sleeping or doing I/O in the test does not delay it.
    """

    def __init__(self, instrument: PowerAnalyzer, clock: LabClock,
                 rate_hz: float | None = 10.0, *, max_seconds: float | None = None,
                 fresh: bool = False, fresh_timeout_s: float = 5.0,
                 stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        self._sampler = _Sampler(instrument, clock, rate_hz, fresh, fresh_timeout_s)
        self._clock = clock
        self._max_seconds = max_seconds
        self._stop_timeout_s = stop_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recording: Recording | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def recording(self) -> Recording:
        """The recording, once stopped (also after a failed acquisition: samples so far)."""
        if self._recording is None:
            raise BenchError("BackgroundAcquisition.recording is only available after stop()")
        return self._recording

    def start(self) -> Self:
        """Start acquiring; returns self."""
        if self._thread is not None:
            raise BenchError("this BackgroundAcquisition was already started; make a new one")
        name = getattr(self._sampler.instrument, "name", "analyzer")
        self._thread = threading.Thread(target=self._sampler.run, args=(self._max_seconds, self._stop),
                                        name=f"acquisition-{name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Recording:
        """Stop acquiring and return the recording; re-raises an instrument error."""
        if self._thread is None:
            raise BenchError("BackgroundAcquisition.stop() before start()")
        if self._recording is None:
            self._stop.set()
            self._thread.join(self._stop_timeout_s)
            if self._thread.is_alive():
                raise BenchError(
                    f"acquisition of {getattr(self._sampler.instrument, 'name', '?')!r} did not "
                    f"stop within {self._stop_timeout_s:g} s (an instrument call is hanging); "
                    "check the instrument's connection and its driver timeout")
            self._recording = self._sampler.recording()
            if self._sampler.error is not None:
                _attach_partial(self._sampler.error, self._recording)
        if self._sampler.error is not None:
            raise self._sampler.error
        return self._recording

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.stop()
            return
        # The step itself failed: stop quietly, never hide the step's own exception.
        try:
            self.stop()
        except Exception as acq_error:  # noqa: BLE001
            exc.add_note(f"the background acquisition also failed: {acq_error}")


__all__ = ["PHASE_CHANNELS", "TOTAL_CHANNELS", "BackgroundAcquisition", "build_recording",
           "partial_recording", "record"]
