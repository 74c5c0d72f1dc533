"""IEC 61851-1 control pilot: watch it from the EV side and judge what was measured.

Everything here works on what instruments report: the EV emulator / station I/O box
(pilot line state, PWM duty cycle, outlet sense, its contactor timer) and the power
analyser on the charger's outlet. :class:`PilotRecorder` polls them in the background into
a CP timeline (lab time); the ``*_problems`` functions judge a timeline and return readable
problems (empty: passed). Durations are lab seconds; limits are from
``../shared/REFERENCE.md`` (IEC 61851-1 as open charger firmware implements it).

Contactor timing is judged from the emulator's own timer where it has one
(``EVEmulator.contactor_delay_s``: from its pilot command to the outlet switching, measured
by the box, so neither the bench's polling nor a fast simulated lab blurs 100 ms); without
one, from the recorded outlet sense, whose resolution is the sampling period (reported).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from testbench.analysis import Recording
from testbench.errors import DeviceFailure

log = logging.getLogger("testbench.procedures.pilot")

CLOSE_WITHIN_S = 3.0
"""B2 -> C2: the charger closes its contactor within this time."""

OPEN_WITHIN_S = 0.1
"""C -> B or A: the charger opens its contactor within this time."""

FAULT_OPEN_WITHIN_S = 0.1
"""State E or F: the charger opens its contactor within this time (as for C -> B; verify)."""

FOLLOW_WITHIN_S = 5.0
"""An EV follows a new duty cycle within this time (common expectation; verify)."""

DUTY_TOL_PCT = 1.0
"""Tolerance on the duty cycle, percentage points (verify against the charger's data)."""

SETTLE_S = 10.0
"""Time a charger may take to bring its duty cycle to a new limit (smart.RESPONSE_S)."""

LIVE_V = 50.0
"""Outlet voltage (analyser) above which the outlet counts as live."""

FLOW_A = 1.0
"""Current (analyser) above which power counts as flowing."""

LINE_LEVEL_V = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0, "F": -12.0}
"""Positive pilot level of each state (F: -12 V), used to plot the state."""


# ----------------------------------------------------------------------------- mapping
def duty_for_current_pct(current_a: float) -> float:
    """IEC 61851-1 duty cycle a charger applies to offer ``current_a`` (6-80 A)."""
    current_a = max(6.0, min(80.0, current_a))
    return current_a / 0.6 if current_a <= 51.0 else current_a / 2.5 + 64.0


def current_for_duty_a(duty_pct: float) -> float | None:
    """Current an EV may draw at ``duty_pct`` (None: no charging allowed at that duty)."""
    if 8.0 <= duty_pct < 10.0:
        return 6.0
    if 10.0 <= duty_pct <= 85.0:
        return duty_pct * 0.6
    if 85.0 < duty_pct <= 96.0:
        return (duty_pct - 64.0) * 2.5
    if 96.0 < duty_pct <= 97.0:
        return 80.0
    return None


def letter(state: str) -> str:
    """``C2`` -> ``C``."""
    return state[:1]


# ----------------------------------------------------------------------------- recording
@dataclass(frozen=True)
class PilotSample:
    """One look at the pilot (and the analyser, when there is one)."""

    t_lab_s: float
    state: str
    duty_pct: float
    outlet_live: bool | None
    ev_current_a: float
    current_a: float | None = None  # analyser, largest phase
    voltage_v: float | None = None  # analyser, mean phase voltage
    asked_lab_s: float | None = None
    """Lab time the queries of this sample were sent: its readings may be that old (or one
    instrument update older), while ``t_lab_s`` is when the last answer arrived."""


@dataclass
class PilotRecorder:
    """Polls an EV emulator (and a power analyser) every ``1 / rate_hz`` lab seconds."""

    emulator: Any
    clock: Any
    analyzer: Any | None = None
    rate_hz: float = 5.0
    samples: list[PilotSample] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> PilotRecorder:
        self._thread = threading.Thread(target=self._run, name="pilot-recorder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)

    def event(self, text: str) -> float:
        """Note a stimulus (``EV -> C``) at lab time now; returns that time."""
        at_s = float(self.clock.now())
        with self._lock:
            self.events.append((at_s, text))
        return at_s

    def sample(self) -> PilotSample:
        """Take one sample now (also done by the background thread)."""
        asked_s = float(self.clock.now())
        reading = self.emulator.pilot_reading()
        current = voltage = None
        if self.analyzer is not None:
            power = self.analyzer.read()
            current, voltage = float(power.current_a), float(power.voltage_v)
        at_s = float(self.clock.now())
        sample = PilotSample(at_s, reading.state, float(reading.duty_pct), reading.outlet_live,
                             float(reading.ev_current_a), current, voltage, asked_s)
        with self._lock:
            self.samples.append(sample)
        return sample

    def _run(self) -> None:
        period_s = 1.0 / self.rate_hz
        next_s = float(self.clock.now())
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as error:  # noqa: BLE001 - reported by the test that reads it
                self.error = error
                log.warning("pilot recorder stopped: %s", error)
                return
            next_s += period_s
            wait_s = next_s - float(self.clock.now())
            if wait_s < 0:
                next_s = float(self.clock.now())
                continue
            self._stop.wait(self.clock.wall_duration(wait_s))

    def snapshot(self) -> list[PilotSample]:
        with self._lock:
            return list(self.samples)

    def timeline(self) -> Recording:
        """The CP timeline: pilot level (V), PWM duty (%), outlet sense, EV and analyser
        current (A), analyser voltage (V)."""
        rows = self.snapshot()
        t = np.array([s.t_lab_s for s in rows], dtype=float)

        def col(values: Iterable[float | None]) -> np.ndarray:
            return np.array([np.nan if v is None else float(v) for v in values], dtype=float)

        columns = {
            "pilot_v": col(LINE_LEVEL_V.get(letter(s.state), np.nan) for s in rows),
            "pwm": col(1.0 if s.state.endswith("2") else 0.0 for s in rows),
            "duty_pct": col(s.duty_pct for s in rows),
            "outlet_live": col(None if s.outlet_live is None else float(s.outlet_live)
                               for s in rows),
            "ev_current_a": col(s.ev_current_a for s in rows),
        }
        units = {"pilot_v": "V", "pwm": "1", "duty_pct": "%", "outlet_live": "1",
                 "ev_current_a": "A"}
        if any(s.current_a is not None for s in rows):
            columns["current_a"] = col(s.current_a for s in rows)
            columns["voltage_v"] = col(s.voltage_v for s in rows)
            units.update(current_a="A", voltage_v="V")
        return Recording(t, columns, units, meta={"rate_hz": self.rate_hz})

    def text(self) -> str:
        """The timeline as text: every change of state or duty, and the stimuli."""
        rows = self.snapshot()
        if not rows:
            return "no pilot samples"
        t0 = rows[0].t_lab_s
        lines: list[tuple[float, str]] = [(t, f"--> {text}") for t, text in self.events]
        last: tuple[str, float] | None = None
        for s in rows:
            key = (s.state, s.duty_pct)
            if key != last:
                live = "?" if s.outlet_live is None else ("live" if s.outlet_live else "dead")
                meter = "" if s.current_a is None else f", analyser {s.current_a:.2f} A"
                line = (f"{s.state:<3} duty {s.duty_pct:5.1f} %, outlet {live}, "
                        f"EV {s.ev_current_a:.2f} A{meter}")
                lines.append((s.t_lab_s, line))
                last = key
        lines.sort(key=lambda item: item[0])
        return "\n".join(f"{t - t0:+9.2f} s  {text}" for t, text in lines)


# ----------------------------------------------------------------------------- waiting
def wait_state(recorder: PilotRecorder, wanted: str | Sequence[str], within_s: float,
               what: str, poll_s: float = 0.1) -> PilotSample:
    """Sample until the line state is one of ``wanted`` (``"B"`` matches B1 and B2)."""
    options = (wanted,) if isinstance(wanted, str) else tuple(wanted)
    deadline = float(recorder.clock.now()) + within_s
    while True:
        sample = recorder.sample()
        if any(sample.state == w or (len(w) == 1 and letter(sample.state) == w)
               for w in options):
            return sample
        if float(recorder.clock.now()) > deadline:
            raise DeviceFailure(f"{what}: the pilot did not show {' or '.join(options)} within "
                                f"{within_s:g} s (it shows {sample.state}, duty "
                                f"{sample.duty_pct:.1f} %)")
        recorder.clock.sleep(poll_s)


# ----------------------------------------------------------------------------- judging
def sequence_problems(samples: Sequence[PilotSample], expected: Sequence[str]) -> list[str]:
    """The pilot's states (letters, repeats folded) must be exactly ``expected``."""
    seen: list[str] = []
    for s in samples:
        if not seen or seen[-1] != letter(s.state):
            seen.append(letter(s.state))
    if seen == list(expected):
        return []
    return [(f"state sequence: the pilot went {' -> '.join(seen) or 'nowhere'}, expected "
            f"{' -> '.join(expected)}")]


@dataclass(frozen=True)
class Window:
    """A stretch of lab time where the duty cycle should be ``duty_pct`` (limit ``limit_a``)."""

    start_s: float
    end_s: float
    limit_a: float
    duty_pct: float


def duty_problems(samples: Sequence[PilotSample], windows: Sequence[Window],
                  tol_pct: float = DUTY_TOL_PCT) -> tuple[list[str], list[dict[str, Any]]]:
    """In each window every PWM sample's duty must be within ``tol_pct`` of the expected one."""
    problems, figures = [], []
    for w in windows:
        duties = [s.duty_pct for s in samples
                  if w.start_s <= s.t_lab_s <= w.end_s and s.state.endswith("2")]
        if not duties:
            problems.append(f"duty cycle: no PWM sample while {w.limit_a:g} A was in force")
            figures.append({"limit_a": w.limit_a, "expected_pct": round(w.duty_pct, 2),
                            "samples": 0})
            continue
        worst = max(duties, key=lambda d: abs(d - w.duty_pct))
        error = worst - w.duty_pct
        figures.append({"limit_a": w.limit_a, "expected_pct": round(w.duty_pct, 2),
                        "samples": len(duties), "worst_pct": worst,
                        "error_pct": round(error, 2)})
        if abs(error) > tol_pct:
            problems.append(f"duty cycle: {worst:.1f} % while the limit is {w.limit_a:g} A "
                            f"(expected {w.duty_pct:.1f} % +-{tol_pct:g}, error {error:+.1f} "
                            "points)")
    return problems, figures


def follow_problems(samples: Sequence[PilotSample], *, follow_s: float = FOLLOW_WITHIN_S,
                    accuracy_a: float = 0.3, measured: str = "current_a"
                    ) -> tuple[list[str], dict[str, Any]]:
    """The EV's measured current must be within what the duty cycle allows, once
    ``follow_s`` has passed since the duty cycle last changed (the first PWM sample counts
    as a change). ``measured``: ``current_a`` (analyser) or ``ev_current_a`` (emulator)."""
    since: float | None = None
    last_duty: float | None = None
    judged = over = 0
    worst, first = 0.0, None
    for s in samples:
        if not s.state.endswith("2"):
            since, last_duty = None, None
            continue
        if last_duty is None or abs(s.duty_pct - last_duty) > 0.05:
            since, last_duty = s.t_lab_s, s.duty_pct
        value = getattr(s, measured)
        allowed = current_for_duty_a(s.duty_pct)
        if value is None or allowed is None or since is None or s.t_lab_s - since < follow_s:
            continue
        judged += 1
        excess = float(value) - allowed
        if excess > accuracy_a:
            over += 1
            worst = max(worst, excess)
            first = s.t_lab_s - since if first is None else first
    figures = {"judged": judged, "over": over, "worst_excess_a": round(worst, 3),
               "follow_s": follow_s, "accuracy_a": accuracy_a, "measured": measured}
    if not judged:
        return [f"EV current: no sample could be judged ({follow_s:g} s after a duty change)"], \
            figures
    if not over:
        return [], figures
    return [(f"EV current: {over} of {judged} samples exceeded what the duty cycle allows by up "
            f"to {worst:.2f} A (+{accuracy_a:g} A accuracy), more than {follow_s:g} s after "
            "the duty cycle changed")], figures


@dataclass(frozen=True)
class Switching:
    """How long the contactor took to switch after a pilot stimulus."""

    what: str
    delay_s: float | None  # None: it did not switch while watched
    method: str  # "emulator timer" or "outlet sense sampled at N Hz"
    limit_s: float

    @property
    def ok(self) -> bool:
        return self.delay_s is not None and self.delay_s <= self.limit_s

    def problem(self) -> str | None:
        if self.ok:
            return None
        took = ("did not happen while watched" if self.delay_s is None
                else f"took {self.delay_s:.3f} s")
        return (f"contactor: {self.what} {took} (allowed {self.limit_s:g} s; "
                f"{self.method})")

    def figure(self) -> dict[str, Any]:
        return {"what": self.what, "delay_s": None if self.delay_s is None
                else round(self.delay_s, 4), "limit_s": self.limit_s, "method": self.method}


def watch_switching(recorder: PilotRecorder, stimulus_s: float, closed: bool, limit_s: float,
                    what: str, watch_s: float) -> Switching:
    """After a pilot command at ``stimulus_s``: wait up to ``watch_s`` for the outlet to
    become ``closed`` (live) or not, and say how long it took.

    With an emulator timer the delay is the box's own measurement; else the first sample
    showing the new state (analyser voltage where there is an analyser, else the box's
    outlet sense) minus ``stimulus_s``, at the recorder's resolution.
    """
    clock = recorder.clock
    deadline = stimulus_s + watch_s
    timer = True
    while True:
        try:
            delay_s, state = recorder.emulator.contactor_delay_s()
        except NotImplementedError:
            timer, delay_s, state = False, None, None
        if timer and delay_s is not None and state == closed:
            return Switching(what, delay_s, "emulator timer", limit_s)
        sample = recorder.sample()
        if not timer and _live(sample) == closed:
            method = f"outlet sensed by polling every {1.0 / recorder.rate_hz:g} s or faster"
            return Switching(what, _first_switch(recorder, stimulus_s, closed), method, limit_s)
        if float(clock.now()) > deadline:
            method = "emulator timer" if timer else "outlet sense by polling"
            return Switching(what, None, method, limit_s)
        clock.sleep(min(0.05, limit_s / 2))


def contactor_view(recorder: PilotRecorder) -> str | None:
    """How this station sees the charger's contactor: the emulator's timer, the analyser's
    outlet voltage or the emulator's outlet sense (polled); None when it cannot."""
    try:
        recorder.emulator.contactor_delay_s()
        return "emulator timer"
    except NotImplementedError:
        pass
    sample = recorder.sample()
    if sample.voltage_v is not None:
        return "analyser outlet voltage, polled"
    if sample.outlet_live is not None:
        return "emulator outlet sense, polled"
    return None


def _live(sample: PilotSample) -> bool | None:
    if sample.voltage_v is not None:
        return sample.voltage_v > LIVE_V
    return sample.outlet_live


def _first_switch(recorder: PilotRecorder, stimulus_s: float, closed: bool) -> float | None:
    for s in recorder.snapshot():
        if s.t_lab_s >= stimulus_s and _live(s) == closed:
            return s.t_lab_s - stimulus_s
    return None


def power_flow_after_s(samples: Sequence[PilotSample], since_s: float
                       ) -> tuple[float | None, float | None]:
    """(when power was first seen flowing after ``since_s``, the last time before that it was
    seen not flowing), in seconds after ``since_s``; None where not seen. Judging on the
    last "not flowing" sample keeps a gap in the polling from looking like a late start.
    Current from the analyser where there is one, else the emulator's."""
    dead_s = None
    for s in samples:
        if s.t_lab_s < since_s:
            continue
        current = s.current_a if s.current_a is not None else s.ev_current_a
        if current > FLOW_A:
            return s.t_lab_s - since_s, dead_s
        dead_s = s.t_lab_s - since_s
    return None, dead_s


def outlet_dead_problems(samples: Sequence[PilotSample], after_s: float, what: str
                         ) -> list[str]:
    """After ``after_s`` the analyser (or box) must see no power at the outlet. Only samples
    asked for after ``after_s`` count: a reading answered later but asked for earlier (a
    slow reply on a loaded machine) may show the outlet as it was before."""
    late = [s for s in samples
            if (s.asked_lab_s if s.asked_lab_s is not None else s.t_lab_s) >= after_s]
    bad = [s for s in late if (s.current_a is not None and s.current_a > FLOW_A)
           or (s.voltage_v is None and s.outlet_live) or
           (s.voltage_v is not None and s.voltage_v > LIVE_V)]
    if not late:
        return [f"{what}: no sample after the fault to judge"]
    if not bad:
        return []
    current = max((s.current_a or 0.0) for s in bad)
    voltage = max((s.voltage_v or 0.0) for s in bad)
    seen = f"up to {current:.1f} A" + (f", {voltage:.0f} V" if voltage else ", outlet live")
    return [(f"{what}: power still at the outlet in {len(bad)} of {len(late)} samples "
             f"({seen}) after the charger had to stop")]


def raise_problems(problems: Sequence[str]) -> None:
    """Fail with every problem, or pass."""
    if problems:
        raise DeviceFailure("; ".join(problems))


def stop_quietly(recorder: PilotRecorder) -> None:
    with contextlib.suppress(Exception):
        recorder.stop()
