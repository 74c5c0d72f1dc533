"""Stimulus programs for a grid emulator: steps, ramps, profiles, dips, swells, outages.

A :class:`StimulusProgram` is a list of :class:`Segment` s, each a linear move of voltage
and frequency over a duration (a hold when start equals end; a step is the jump between
two segments). The same program

- renders to list-mode steps ``(dwell_s, voltage_v, frequency_hz, end_voltage_v,
  end_frequency_hz)`` for instruments with list mode (``program_list`` / ``start_list``),
- runs point by point through ``set_voltage_v`` / ``set_frequency_hz`` (and ``set_slew``)
  on the lab clock otherwise (:meth:`StimulusProgram.run`; see
  :mod:`testbench.gridcode.stimulus_run`),
- gives the expected stimulus as a function of time (:meth:`StimulusProgram.voltage_at`,
  ``StimulusRun.voltage_reference()`` ...) for plots and judging.

Voltages are RMS phase voltages applied to every phase; times are lab seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np

from testbench.analysis.series import Recording, uniform_grid
from testbench.gridcode.params import Curve

if TYPE_CHECKING:
    from instruments.contracts import GridEmulator
    from testbench.clock import LabClock
    from testbench.gridcode.stimulus_run import StimulusRun

MAX_LIST_STEPS = 100  # what the list-mode drivers accept in one program


# ----------------------------------------------------------------------------- program
@dataclass(frozen=True)
class Segment:
    """Voltage and frequency moving linearly from start to end values over ``duration_s``.

    ``output_off`` marks an outage made by switching the source's output off (expected
    voltage 0 V); list mode cannot do that, so such programs run point by point.
    """

    duration_s: float
    voltage_v: float
    frequency_hz: float
    end_voltage_v: float
    end_frequency_hz: float
    label: str = ""
    output_off: bool = False

    def __post_init__(self) -> None:
        if not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise ValueError(f"segment {self.label!r}: duration_s must be > 0, got "
                             f"{self.duration_s}")
        for what, value in (("voltage_v", self.voltage_v), ("end_voltage_v", self.end_voltage_v)):
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"segment {self.label!r}: {what} must be >= 0, got {value}")
        for what, value in (("frequency_hz", self.frequency_hz),
                            ("end_frequency_hz", self.end_frequency_hz)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"segment {self.label!r}: {what} must be > 0, got {value}")

    @classmethod
    def hold(cls, duration_s: float, voltage_v: float, frequency_hz: float,
             label: str = "hold") -> Segment:
        return cls(duration_s, voltage_v, frequency_hz, voltage_v, frequency_hz, label)

    @property
    def ramped(self) -> bool:
        return self.end_voltage_v != self.voltage_v or self.end_frequency_hz != self.frequency_hz

    @property
    def voltage_slope_v_per_s(self) -> float:
        return (self.end_voltage_v - self.voltage_v) / self.duration_s

    @property
    def frequency_slope_hz_per_s(self) -> float:
        return (self.end_frequency_hz - self.frequency_hz) / self.duration_s

    def as_list_step(self) -> tuple[float, float, float, float, float]:
        return (self.duration_s, self.voltage_v, self.frequency_hz, self.end_voltage_v,
                self.end_frequency_hz)


@dataclass(frozen=True)
class StimulusProgram:
    """A sequence of segments starting at t = 0 (the run's start)."""

    name: str
    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError(f"stimulus program {self.name!r} has no segment")
        object.__setattr__(self, "segments", tuple(self.segments))

    # -- shape
    @property
    def duration_s(self) -> float:
        return float(sum(s.duration_s for s in self.segments))

    @property
    def starts_s(self) -> np.ndarray:
        """Start time of every segment, in seconds since the program start."""
        return np.concatenate([[0.0], np.cumsum([s.duration_s for s in self.segments])[:-1]])

    @property
    def has_outage_by_output(self) -> bool:
        return any(s.output_off for s in self.segments)

    @property
    def max_voltage_v(self) -> float:
        return max(max(s.voltage_v, s.end_voltage_v) for s in self.segments)

    def events(self) -> list[tuple[float, str]]:
        """(time since start, label) of every segment start."""
        return [(float(t), s.label) for t, s in zip(self.starts_s, self.segments, strict=True)]

    def then(self, other: StimulusProgram, name: str | None = None) -> StimulusProgram:
        """This program followed by ``other``."""
        return StimulusProgram(name or f"{self.name} + {other.name}",
                               self.segments + other.segments)

    # -- expected stimulus
    def _at(self, t_s: float | np.ndarray, start: str, end: str) -> Any:
        t = np.asarray(t_s, dtype=float)
        starts = self.starts_s
        idx = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(self.segments) - 1)
        a = np.array([getattr(s, start) for s in self.segments])[idx]
        b = np.array([getattr(s, end) for s in self.segments])[idx]
        dur = np.array([s.duration_s for s in self.segments])[idx]
        frac = np.clip((t - starts[idx]) / dur, 0.0, 1.0)
        out = a + (b - a) * frac
        return float(out) if np.ndim(out) == 0 else out

    def voltage_at(self, t_s: float | np.ndarray) -> Any:
        """Expected RMS voltage ``t_s`` seconds after the start (0 V while the output is off).

        Before the start: the first value; after the end: the last value.
        """
        v = self._at(t_s, "voltage_v", "end_voltage_v")
        if self.has_outage_by_output:
            off = np.asarray(self.output_off_at(t_s))
            v = np.where(off, 0.0, v)
            return float(v) if np.ndim(v) == 0 else v
        return v

    def frequency_at(self, t_s: float | np.ndarray) -> Any:
        """Expected frequency ``t_s`` seconds after the start."""
        return self._at(t_s, "frequency_hz", "end_frequency_hz")

    def output_off_at(self, t_s: float | np.ndarray) -> Any:
        t = np.asarray(t_s, dtype=float)
        idx = np.clip(np.searchsorted(self.starts_s, t, side="right") - 1, 0,
                      len(self.segments) - 1)
        off = np.array([s.output_off for s in self.segments])[idx]
        off = off & (t < self.duration_s) & (t >= 0)
        return bool(off) if np.ndim(off) == 0 else off

    def expected_recording(self, start_lab_s: float, rate_hz: float = 50.0) -> Recording:
        """The expected stimulus as a recording (``voltage_v``, ``frequency_hz``) over lab
        time, with every segment start included exactly so steps show as steps."""
        t_rel = np.union1d(uniform_grid(0.0, self.duration_s, rate_hz),
                           np.concatenate([self.starts_s, [self.duration_s]]))
        # Just before each segment start as well, so a plot draws steps vertical.
        t_rel = np.union1d(t_rel, np.clip(self.starts_s[1:] - 1e-6, 0.0, None))
        return Recording(start_lab_s + t_rel,
                         {"voltage_v": np.asarray(self.voltage_at(t_rel)),
                          "frequency_hz": np.asarray(self.frequency_at(t_rel))},
                         {"voltage_v": "V", "frequency_hz": "Hz"},
                         meta={"stimulus": self.name, "expected": True})

    # -- execution
    def run(self, grid: GridEmulator, clock: LabClock, *, wait: bool = True,
            **options: Any) -> StimulusRun:
        """Run on ``grid`` (list mode where possible); ``wait=False`` returns at once.
        Options as for :func:`~testbench.gridcode.stimulus_run.start_stimulus`."""
        from testbench.gridcode.stimulus_run import run_stimulus, start_stimulus

        if wait:
            return run_stimulus(grid, self, clock, **options)
        return start_stimulus(grid, self, clock, **options)

    # -- list mode
    def to_list_steps(self, ramps: bool = True,
                      ramp_resolution_s: float = 0.1) -> list[tuple[float, ...]]:
        """List-mode steps for the instrument: ``(dwell_s, v, f, end_v, end_f)`` when it can
        ramp within a step, else ``(dwell_s, v, f)`` with ramps as staircases (see
        :meth:`staircase`). Raises ValueError for outages made by switching the output."""
        if self.has_outage_by_output:
            raise ValueError(f"program {self.name!r} switches the output off; list mode "
                             "cannot: build the outage with method='zero_voltage' or run it "
                             "point by point")
        if ramps:
            return [s.as_list_step() for s in self.segments]
        return [s.as_list_step()[:3] for s in self.staircase(ramp_resolution_s).segments]

    def staircase(self, resolution_s: float = 0.1) -> StimulusProgram:
        """The program with every ramp replaced by steps of at most ``resolution_s``, each
        at the ramp's value in the middle of the step (error at most half a step)."""
        if not resolution_s > 0:
            raise ValueError(f"resolution_s must be > 0, got {resolution_s}")
        out: list[Segment] = []
        for seg in self.segments:
            if not seg.ramped:
                out.append(seg)
                continue
            n = max(1, math.ceil(seg.duration_s / resolution_s - 1e-9))
            dt = seg.duration_s / n
            for k in range(n):
                frac = (k + 0.5) / n
                v = seg.voltage_v + (seg.end_voltage_v - seg.voltage_v) * frac
                f = seg.frequency_hz + (seg.end_frequency_hz - seg.frequency_hz) * frac
                out.append(Segment(dt, v, f, v, f, f"{seg.label} {k + 1}/{n}", seg.output_off))
        return StimulusProgram(self.name, tuple(out))


# ----------------------------------------------------------------------------- builder
class StimulusBuilder:
    """Builds a program from the current voltage and frequency, like a lab procedure::

        program = (StimulusBuilder(230.0, 50.0, name="lfsm-o")
                   .hold(10.0)
                   .step(60.0, frequency_hz=50.7, label="over-frequency")
                   .ramp(5.0, frequency_hz=50.0)
                   .hold(30.0)
                   .build())
    """

    def __init__(self, voltage_v: float, frequency_hz: float, *, name: str = "stimulus") -> None:
        self.name = name
        self.voltage_v = float(voltage_v)
        self.frequency_hz = float(frequency_hz)
        self._segments: list[Segment] = []

    def hold(self, duration_s: float, label: str = "hold") -> Self:
        """Stay at the present voltage and frequency."""
        self._segments.append(Segment.hold(duration_s, self.voltage_v, self.frequency_hz, label))
        return self

    def step(self, duration_s: float, *, voltage_v: float | None = None,
             frequency_hz: float | None = None, label: str = "step") -> Self:
        """Jump to new values and hold them for ``duration_s``."""
        self._set(voltage_v, frequency_hz)
        return self.hold(duration_s, label)

    def ramp(self, duration_s: float, *, voltage_v: float | None = None,
             frequency_hz: float | None = None, label: str = "ramp") -> Self:
        """Move linearly to new values over ``duration_s``."""
        v1 = self.voltage_v if voltage_v is None else float(voltage_v)
        f1 = self.frequency_hz if frequency_hz is None else float(frequency_hz)
        self._segments.append(Segment(duration_s, self.voltage_v, self.frequency_hz, v1, f1,
                                      label))
        self._set(v1, f1)
        return self

    def ramp_at(self, *, voltage_v: float | None = None, frequency_hz: float | None = None,
                v_per_s: float | None = None, hz_per_s: float | None = None,
                label: str = "ramp") -> Self:
        """Move to new values at a rate (V/s, Hz/s); with both, the slower move sets the
        duration and the other quantity ramps alongside (at or below its rate)."""
        durations = []
        if voltage_v is not None and voltage_v != self.voltage_v:
            if not v_per_s or v_per_s <= 0:
                raise ValueError("ramp_at: a voltage change needs v_per_s > 0")
            durations.append(abs(voltage_v - self.voltage_v) / v_per_s)
        if frequency_hz is not None and frequency_hz != self.frequency_hz:
            if not hz_per_s or hz_per_s <= 0:
                raise ValueError("ramp_at: a frequency change needs hz_per_s > 0")
            durations.append(abs(frequency_hz - self.frequency_hz) / hz_per_s)
        if not durations:
            raise ValueError("ramp_at: nothing changes; give a new voltage_v or frequency_hz")
        return self.ramp(max(durations), voltage_v=voltage_v, frequency_hz=frequency_hz,
                         label=label)

    def profile(self, points: Sequence[tuple[float, float | None, float | None]],
                label: str = "profile") -> Self:
        """Follow ``(t_s, voltage_v, frequency_hz)`` points (t from now, ascending; None keeps
        the value) linearly; two points at the same time make a step."""
        last_t = 0.0
        for n, (t, v, f) in enumerate(points):
            if t < last_t:
                raise ValueError(f"profile point {n}: time {t} goes backwards (after {last_t})")
            if t == last_t:
                self._set(v, f)
            else:
                self.ramp(t - last_t, voltage_v=v, frequency_hz=f, label=f"{label} {n}")
            last_t = t
        return self

    def dip(self, retained_v: float, duration_s: float, *, hold_after_s: float,
            recover_to_v: float | None = None, label: str = "dip") -> Self:
        """A rectangular dip (or swell) to ``retained_v`` for ``duration_s``, then back to
        the present voltage (or ``recover_to_v``) held ``hold_after_s``."""
        back = self.voltage_v if recover_to_v is None else recover_to_v
        self.step(duration_s, voltage_v=retained_v, label=label)
        return self.step(hold_after_s, voltage_v=back, label=f"{label} recovered")

    def swell(self, voltage_v: float, duration_s: float, *, hold_after_s: float,
              label: str = "swell") -> Self:
        """A rectangular swell: :meth:`dip` upwards."""
        return self.dip(voltage_v, duration_s, hold_after_s=hold_after_s, label=label)

    def outage(self, duration_s: float, *,
               method: Literal["output_off", "zero_voltage"] = "output_off",
               label: str = "outage") -> Self:
        """Loss of mains for ``duration_s``: output off (default) or 0 V. Afterwards the
        present values are restored (see :meth:`restore`)."""
        if method not in ("output_off", "zero_voltage"):
            raise ValueError(f"outage method {method!r}: use 'output_off' or 'zero_voltage'")
        off = method == "output_off"
        v = self.voltage_v if off else 0.0
        self._segments.append(Segment(duration_s, v, self.frequency_hz, v, self.frequency_hz,
                                      label, output_off=off))
        return self

    def restore(self, duration_s: float, *, voltage_v: float | None = None,
                frequency_hz: float | None = None, label: str = "restore") -> Self:
        """Supply back (after an outage) at the present or the given values."""
        return self.step(duration_s, voltage_v=voltage_v, frequency_hz=frequency_hz,
                         label=label)

    def build(self, name: str | None = None) -> StimulusProgram:
        return StimulusProgram(name or self.name, tuple(self._segments))

    def _set(self, voltage_v: float | None, frequency_hz: float | None) -> None:
        if voltage_v is not None:
            self.voltage_v = float(voltage_v)
        if frequency_hz is not None:
            self.frequency_hz = float(frequency_hz)


# ----------------------------------------------------------------------------- factories
def frequency_steps(levels_hz: Sequence[float], dwell_s: float | Sequence[float],
                    voltage_v: float, name: str = "frequency steps") -> StimulusProgram:
    """Hold each frequency of ``levels_hz`` for ``dwell_s`` (one value or one per level)."""
    dwells = _per_level(dwell_s, len(levels_hz), "dwell_s")
    b = StimulusBuilder(voltage_v, levels_hz[0], name=name)
    for level, dwell in zip(levels_hz, dwells, strict=True):
        b.step(dwell, frequency_hz=level, label=f"{level:g} Hz")
    return b.build()


def voltage_steps(levels_v: Sequence[float], dwell_s: float | Sequence[float],
                  frequency_hz: float, name: str = "voltage steps") -> StimulusProgram:
    """Hold each voltage of ``levels_v`` for ``dwell_s`` (one value or one per level)."""
    dwells = _per_level(dwell_s, len(levels_v), "dwell_s")
    b = StimulusBuilder(levels_v[0], frequency_hz, name=name)
    for level, dwell in zip(levels_v, dwells, strict=True):
        b.step(dwell, voltage_v=level, label=f"{level:g} V")
    return b.build()


def frequency_ramp(from_hz: float, to_hz: float, hz_per_s: float, voltage_v: float, *,
                   hold_before_s: float, hold_after_s: float, return_to_start: bool = False,
                   name: str = "frequency ramp") -> StimulusProgram:
    """Hold, ramp at ``hz_per_s`` (RoCoF), hold; optionally ramp back and hold again."""
    b = (StimulusBuilder(voltage_v, from_hz, name=name)
         .hold(hold_before_s, label=f"{from_hz:g} Hz")
         .ramp_at(frequency_hz=to_hz, hz_per_s=hz_per_s, label=f"ramp {hz_per_s:g} Hz/s")
         .hold(hold_after_s, label=f"{to_hz:g} Hz"))
    if return_to_start:
        b.ramp_at(frequency_hz=from_hz, hz_per_s=hz_per_s, label=f"ramp back {hz_per_s:g} Hz/s")
        b.hold(hold_after_s, label=f"{from_hz:g} Hz")
    return b.build()


def ride_through(envelope: Curve, nominal_voltage_v: float, frequency_hz: float, *,
                 margin_pu: float = 0.02, side: Literal["under", "over"] = "under",
                 pre_s: float = 5.0, post_s: float = 10.0, recover_to_pu: float = 1.0,
                 name: str | None = None) -> StimulusProgram:
    """A voltage profile along a ride-through envelope (``(t_s, u_pu)`` since the fault).

    The profile runs ``margin_pu`` inside the ride-through region (above an under-voltage
    envelope, below an over-voltage one): the unit must stay connected. A negative margin
    goes outside it (the unit may trip). After the envelope's last point the voltage
    steps to ``recover_to_pu`` and is held ``post_s``.
    """
    if side not in ("under", "over"):
        raise ValueError(f"side {side!r}: use 'under' (dips) or 'over' (swells)")
    sign = 1.0 if side == "under" else -1.0
    pts = [(t, (u + sign * margin_pu) * nominal_voltage_v) for t, u in envelope.points]
    if pts[0][0] != 0.0:
        pts.insert(0, (0.0, pts[0][1]))
    b = StimulusBuilder(nominal_voltage_v, frequency_hz,
                        name=name or f"{side}-voltage ride-through").hold(pre_s, "pre-fault")
    b._set(pts[0][1], None)
    last_t = 0.0
    for n, (t, v) in enumerate(pts[1:], start=1):
        if t == last_t:
            b._set(v, None)
        elif v == b.voltage_v:
            b.hold(t - last_t, label=f"fault {n}")
        else:
            b.ramp(t - last_t, voltage_v=v, label=f"fault {n}")
        last_t = t
    if last_t == 0.0:  # an envelope of one point (or one instant): nothing to hold
        raise ValueError("the envelope spans no time; give at least two times")
    return b.step(post_s, voltage_v=recover_to_pu * nominal_voltage_v, label="recovered").build()


def outage_and_restore(voltage_v: float, frequency_hz: float, *, outage_s: float,
                       pre_s: float, post_s: float,
                       method: Literal["output_off", "zero_voltage"] = "output_off",
                       restore_voltage_v: float | None = None,
                       restore_frequency_hz: float | None = None,
                       name: str = "outage and restore") -> StimulusProgram:
    """Normal supply, loss of mains for ``outage_s``, then supply back (at other values if
    given, e.g. outside the reconnection window) held ``post_s``."""
    return (StimulusBuilder(voltage_v, frequency_hz, name=name)
            .hold(pre_s, "before outage")
            .outage(outage_s, method=method)
            .restore(post_s, voltage_v=restore_voltage_v, frequency_hz=restore_frequency_hz)
            .build())


def _per_level(dwell_s: float | Sequence[float], n: int, what: str) -> list[float]:
    if isinstance(dwell_s, int | float):
        return [float(dwell_s)] * n
    dwells = [float(d) for d in dwell_s]
    if len(dwells) != n:
        raise ValueError(f"{what}: {len(dwells)} values for {n} levels")
    return dwells


__all__ = [
    "MAX_LIST_STEPS",
    "Segment",
    "StimulusBuilder",
    "StimulusProgram",
    "frequency_ramp",
    "frequency_steps",
    "outage_and_restore",
    "ride_through",
    "voltage_steps",
]
