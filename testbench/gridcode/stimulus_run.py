"""Running a stimulus program on a grid emulator: list mode, or point by point on the lab clock.

:func:`start_stimulus` returns at once with a :class:`StimulusRun` (the instrument runs
its list, or a background thread sends the setpoints); :func:`run_stimulus` waits for the
end. Either way the run knows its start in lab time, so the expected stimulus is known as
a function of lab time, and in points mode every command sent is logged with its time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from instruments.contracts import GridEmulator
from testbench.analysis.series import Recording, Series
from testbench.clock import LabClock
from testbench.errors import BenchError, InstrumentError, SafetyLimitError
from testbench.gridcode.stimulus import MAX_LIST_STEPS, Segment, StimulusProgram

Mode = Literal["auto", "list", "points"]


@dataclass(frozen=True)
class Command:
    """One command sent to the grid emulator: lab time it was issued, what, the value, and
    how long (lab s) the call took."""

    t_lab_s: float
    what: str
    value: Any
    took_s: float
    segment: int


@dataclass(frozen=True)
class PointOptions:
    """How a program runs point by point.

    ``ramp_method = "points"`` sends interpolated setpoints every ``update_interval_s`` (lab
    s); ``"slew"`` sets the instrument's slew rate to the ramp's and sends the end value,
    and before every step after a ramp sets the step slew rates (verify them against the
    instrument's maximum). ``min_change_*`` suppress setpoints that would change nothing.
    """

    ramp_method: Literal["points", "slew"] = "points"
    update_interval_s: float = 0.1
    step_voltage_slew_v_per_s: float = 10_000.0
    step_frequency_slew_hz_per_s: float = 100.0
    min_change_v: float = 1e-6
    min_change_hz: float = 1e-7


@dataclass
class StimulusRun:
    """A program started on a grid emulator; ``start_lab_s`` is its t = 0 in lab time."""

    program: StimulusProgram
    mode: Literal["list", "points"]
    start_lab_s: float
    clock: LabClock
    start_uncertainty_s: float = 0.0
    commands: list[Command] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None
    _stop_list: Callable[[], None] | None = None

    @property
    def end_lab_s(self) -> float:
        return self.start_lab_s + self.program.duration_s

    @property
    def running(self) -> bool:
        if self._thread is not None:
            return self._thread.is_alive()
        return self.clock.now() < self.end_lab_s and not self._stop.is_set()

    def wait(self, timeout_s: float | None = None) -> StimulusRun:
        """Block until the program has run (lab time); re-raise an error of the run.

        ``timeout_s`` (lab s, default: the remaining duration plus 10 % and 5 s) bounds the
        wait; a run still going then raises :class:`BenchError`.
        """
        remaining = max(0.0, self.end_lab_s - self.clock.now())
        limit = remaining * 1.1 + 5.0 if timeout_s is None else timeout_s
        if self._thread is not None:
            self._thread.join(self.clock.wall_duration(limit))
            if self._thread.is_alive():
                raise BenchError(f"stimulus {self.program.name!r} still running after "
                                 f"{limit:.1f} lab s; the grid emulator may be stuck")
        else:
            self._stop.wait(self.clock.wall_duration(min(remaining, limit)))
            if not self._stop.is_set() and self.clock.now() < self.end_lab_s - 1e-6:
                raise BenchError(f"stimulus {self.program.name!r} still running after "
                                 f"{limit:.1f} lab s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop the program (list mode: the instrument's list; points mode: no further
        setpoints). The source keeps its last values: make it safe separately."""
        self._stop.set()
        if self._stop_list is not None:
            self._stop_list()
        if self._thread is not None:
            self._thread.join(self.clock.wall_duration(5.0) + 1.0)

    # -- what was planned and done
    def lab_time(self, t_s: float) -> float:
        """Lab time of ``t_s`` seconds into the program."""
        return self.start_lab_s + t_s

    def segment_start_lab_s(self, index: int) -> float:
        """When segment ``index`` began: its first command in points mode, else planned."""
        if self.mode == "points":
            for c in self.commands:
                if c.segment == index and c.what in ("voltage_v", "frequency_hz", "output",
                                                     "slew"):
                    return c.t_lab_s
        return self.start_lab_s + float(self.program.starts_s[index])

    def voltage_reference(self) -> Callable[[np.ndarray], np.ndarray]:
        """Expected voltage as a function of absolute lab time (for follows_reference)."""
        return lambda t: np.asarray(self.program.voltage_at(np.asarray(t) - self.start_lab_s))

    def frequency_reference(self) -> Callable[[np.ndarray], np.ndarray]:
        """Expected frequency as a function of absolute lab time."""
        return lambda t: np.asarray(self.program.frequency_at(np.asarray(t) - self.start_lab_s))

    def expected_recording(self, rate_hz: float = 50.0) -> Recording:
        """The expected stimulus over lab time (see StimulusProgram.expected_recording)."""
        rec = self.program.expected_recording(self.start_lab_s, rate_hz)
        return Recording(rec.t_lab_s, rec.columns, rec.units,
                         meta={**rec.meta, "mode": self.mode})

    def commanded(self, what: Literal["voltage_v", "frequency_hz"]) -> Series:
        """The setpoints sent in points mode as a step-wise series over lab time."""
        unit = "V" if what == "voltage_v" else "Hz"
        pts = [(c.t_lab_s, float(c.value)) for c in self.commands if c.what == what]
        t: list[float] = []
        v: list[float] = []
        for k, (tc, vc) in enumerate(pts):
            if k:
                t.append(tc)
                v.append(pts[k - 1][1])
            t.append(tc)
            v.append(vc)
        return Series(f"commanded {what}", unit, np.array(t), np.array(v))


def has_list_mode(grid: GridEmulator) -> bool:
    """Whether the driver offers list mode (``program_list`` and ``start_list``)."""
    return callable(getattr(grid, "program_list", None)) and \
        callable(getattr(grid, "start_list", None))


def start_stimulus(grid: GridEmulator, program: StimulusProgram, clock: LabClock, *,
                   mode: Mode = "auto", options: PointOptions | None = None,
                   list_ramps: bool | None = None,
                   ramp_resolution_s: float = 0.1) -> StimulusRun:
    """Start ``program`` on ``grid`` and return at once (the run goes on in the instrument's
    list mode or in a background thread).

    ``mode = "auto"`` uses list mode when the driver has it and the program fits (at most
    100 steps, no output switching), else points. ``list_ramps`` says whether the list
    steps may ramp (None: try ramped steps and fall back to a staircase of
    ``ramp_resolution_s`` if the driver refuses them before sending anything).
    """
    if mode not in ("auto", "list", "points"):
        raise ValueError(f"mode {mode!r}: use 'auto', 'list' or 'points'")
    if mode in ("auto", "list"):
        reason = _list_mode_refusal(grid, program, list_ramps, ramp_resolution_s)
        if reason is None:
            run = _start_list(grid, program, clock, list_ramps, ramp_resolution_s,
                              strict=mode == "list")
            if run is not None:
                return run
        elif mode == "list":
            raise BenchError(f"stimulus {program.name!r} cannot run in list mode on "
                             f"{getattr(grid, 'name', grid)!r}: {reason}")
    return _start_points(grid, program, clock, options or PointOptions())


def run_stimulus(grid: GridEmulator, program: StimulusProgram, clock: LabClock, *,
                 mode: Mode = "auto", options: PointOptions | None = None,
                 list_ramps: bool | None = None, ramp_resolution_s: float = 0.1) -> StimulusRun:
    """Run ``program`` on ``grid`` to its end (see :func:`start_stimulus`)."""
    run = start_stimulus(grid, program, clock, mode=mode, options=options,
                         list_ramps=list_ramps, ramp_resolution_s=ramp_resolution_s)
    try:
        return run.wait()
    except BaseException:
        run.stop()
        raise


def _list_mode_refusal(grid: GridEmulator, program: StimulusProgram, list_ramps: bool | None,
                       ramp_resolution_s: float) -> str | None:
    if not has_list_mode(grid):
        return "the driver has no list mode (program_list / start_list)"
    if program.has_outage_by_output:
        return "the program switches the output off (use method='zero_voltage')"
    steps = len(program.segments) if list_ramps is not False else \
        len(program.staircase(ramp_resolution_s).segments)
    if steps > MAX_LIST_STEPS:
        return f"{steps} steps, more than the {MAX_LIST_STEPS} a list holds"
    return None


def _start_list(grid: GridEmulator, program: StimulusProgram, clock: LabClock,
                list_ramps: bool | None, ramp_resolution_s: float,
                strict: bool) -> StimulusRun | None:
    """Load and trigger the list; None (auto mode) when the program does not fit."""
    load: Callable[[Sequence[Sequence[float]]], None] = grid.program_list  # type: ignore[attr-defined]
    steps: list[tuple[float, ...]]
    if not any(s.ramped for s in program.segments):
        steps = [s[:3] for s in program.to_list_steps(ramps=True)]
        load(steps)
    elif list_ramps is False:
        steps = program.to_list_steps(ramps=False, ramp_resolution_s=ramp_resolution_s)
        load(steps)
    else:
        steps = program.to_list_steps(ramps=True)
        try:
            load(steps)
        except SafetyLimitError:
            raise
        except InstrumentError as exc:
            # Drivers that cannot ramp refuse before sending anything: use a staircase.
            if list_ramps is True or "ramp" not in exc.problem.lower():
                raise
            steps = program.to_list_steps(ramps=False, ramp_resolution_s=ramp_resolution_s)
            if len(steps) > MAX_LIST_STEPS:
                if not strict:
                    return None
                raise BenchError(f"stimulus {program.name!r}: the driver cannot ramp in list "
                                 f"mode and the staircase has {len(steps)} steps (max "
                                 f"{MAX_LIST_STEPS}); use a coarser ramp_resolution_s or "
                                 "mode='points'") from exc
            load(steps)
    before = clock.now()
    grid.start_list()  # type: ignore[attr-defined]
    after = clock.now()
    run = StimulusRun(program, "list", before + (after - before) / 2.0, clock,
                      (after - before) / 2.0)
    run.commands.append(Command(before, "program_list", len(steps), 0.0, 0))
    run.commands.append(Command(before, "start_list", None, after - before, 0))
    stop_list = getattr(grid, "stop_list", None)
    run._stop_list = stop_list if callable(stop_list) else None
    return run


def _start_points(grid: GridEmulator, program: StimulusProgram, clock: LabClock,
                  options: PointOptions) -> StimulusRun:
    if not options.update_interval_s > 0:
        raise ValueError(f"update_interval_s must be > 0, got {options.update_interval_s}")
    run = StimulusRun(program, "points", clock.now(), clock)
    player = _PointPlayer(grid, run, options)
    thread = threading.Thread(target=player.play, name=f"stimulus {program.name}", daemon=True)
    run._thread = thread
    thread.start()
    return run


class _PointPlayer:
    """Plays a program through set_voltage_v / set_frequency_hz / set_slew / output."""

    def __init__(self, grid: GridEmulator, run: StimulusRun, options: PointOptions) -> None:
        self.grid = grid
        self.run = run
        self.opt = options
        self.clock = run.clock
        self.v: float | None = None
        self.f: float | None = None
        self.output_on = True
        # In slew mode the instrument's slew rates are unknown at the start: set the step
        # rates before the first step.
        self.slewed = options.ramp_method == "slew"
        self.segment = 0

    def _send(self, what: str, value: Any, call: Callable[..., None], *args: Any) -> None:
        before = self.clock.now()
        call(*args)
        after = self.clock.now()
        self.run.commands.append(Command(before, what, value, after - before, self.segment))

    def _set(self, v: float, f: float) -> None:
        if self.v is None or abs(v - self.v) > self.opt.min_change_v:
            self._send("voltage_v", v, self.grid.set_voltage_v, v)
            self.v = v
        if self.f is None or abs(f - self.f) > self.opt.min_change_hz:
            self._send("frequency_hz", f, self.grid.set_frequency_hz, f)
            self.f = f

    def _sleep_until(self, t_lab_s: float) -> bool:
        """Sleep to a lab time; False when stopped meanwhile."""
        delay = t_lab_s - self.clock.now()
        if delay > 0:
            return not self.run._stop.wait(self.clock.wall_duration(delay))
        return not self.run._stop.is_set()

    def play(self) -> None:
        try:
            self._play()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by wait()
            self.run._error = exc
        finally:
            self.run._stop.set()

    def _play(self) -> None:
        t0 = self.run.start_lab_s
        starts = self.run.program.starts_s
        for i, seg in enumerate(self.run.program.segments):
            self.segment = i
            seg_start = t0 + float(starts[i])
            seg_end = seg_start + seg.duration_s
            if not self._sleep_until(seg_start):
                return
            if seg.output_off:
                if self.output_on:
                    self._send("output", False, self.grid.output, False)
                    self.output_on = False
                continue
            if not seg.ramped:
                if self.slewed:
                    rates = (self.opt.step_voltage_slew_v_per_s,
                             self.opt.step_frequency_slew_hz_per_s)
                    self._send("slew", rates, self.grid.set_slew, *rates)
                    self.slewed = False
                self._set(seg.voltage_v, seg.frequency_hz)
                self._output_back_on()
            elif self.opt.ramp_method == "slew":
                self._set(seg.voltage_v, seg.frequency_hz)
                self._output_back_on()
                dv = abs(seg.voltage_slope_v_per_s) or None
                df = abs(seg.frequency_slope_hz_per_s) or None
                self._send("slew", (dv, df), self.grid.set_slew, dv, df)
                self.slewed = True
                self._set(seg.end_voltage_v, seg.end_frequency_hz)
            else:
                self._ramp(seg, seg_start, seg_end)
        self._sleep_until(t0 + self.run.program.duration_s)

    def _output_back_on(self) -> None:
        if not self.output_on:
            self._send("output", True, self.grid.output, True)
            self.output_on = True

    def _ramp(self, seg: Segment, seg_start: float, seg_end: float) -> None:
        self._set(seg.voltage_v, seg.frequency_hz)
        self._output_back_on()
        while True:
            # Next update on the lab clock; values for the time actually reached, so a slow
            # instrument does not accumulate lag.
            if not self._sleep_until(min(seg_end, self.clock.now() + self.opt.update_interval_s)):
                return
            now = self.clock.now()
            frac = min(1.0, (now - seg_start) / seg.duration_s)
            self._set(seg.voltage_v + (seg.end_voltage_v - seg.voltage_v) * frac,
                      seg.frequency_hz + (seg.end_frequency_hz - seg.frequency_hz) * frac)
            if now >= seg_end:
                return


__all__ = [
    "Command",
    "PointOptions",
    "StimulusRun",
    "has_list_mode",
    "run_stimulus",
    "start_stimulus",
]
