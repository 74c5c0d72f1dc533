"""Fake grid emulators that record every call with its lab time."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from instruments.contracts import GridEmulator, GridReading, Identity
from testbench.clock import LabClock
from testbench.errors import InstrumentError


class FakeGrid(GridEmulator):
    """Records ``(lab time, method, args)`` for every call. ``fail_on`` names a method
    that raises an InstrumentError on its ``fail_after``-th call (1-based)."""

    name = "fake-grid"

    def __init__(self, clock: LabClock, fail_on: str | None = None, fail_after: int = 1) -> None:
        self.clock = clock
        self.calls: list[tuple[float, str, tuple[Any, ...]]] = []
        self.fail_on = fail_on
        self.fail_after = fail_after
        self._lock = threading.Lock()

    def _record(self, method: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((self.clock.now(), method, args))
            count = sum(1 for c in self.calls if c[1] == method)
        if method == self.fail_on and count >= self.fail_after:
            raise InstrumentError(self.name, method, None, "simulated failure")

    def of(self, method: str) -> list[tuple[float, tuple[Any, ...]]]:
        return [(t, a) for t, m, a in self.calls if m == method]

    def identify(self) -> Identity:
        return Identity("Fake", "Grid", "1", "1")

    def set_voltage_v(self, voltage_v: float, phase: int | None = None) -> None:
        self._record("set_voltage_v", voltage_v)

    def set_frequency_hz(self, frequency_hz: float) -> None:
        self._record("set_frequency_hz", frequency_hz)

    def set_phase_angle_deg(self, phase: int, angle_deg: float) -> None:
        self._record("set_phase_angle_deg", phase, angle_deg)

    def set_slew(self, voltage_v_per_s: float | None = None,
                 frequency_hz_per_s: float | None = None) -> None:
        self._record("set_slew", voltage_v_per_s, frequency_hz_per_s)

    def set_current_limit_a(self, limit_a: float) -> None:
        self._record("set_current_limit_a", limit_a)

    def output(self, on: bool) -> None:
        self._record("output", on)

    def measure(self) -> GridReading:
        return GridReading((230.0,), (0.0,), (0.0,), 50.0, 0.0)


class FakeListGrid(FakeGrid):
    """A grid emulator with list mode. ``ramps=False`` refuses ramped steps like the Ametek
    driver (before anything is sent)."""

    def __init__(self, clock: LabClock, ramps: bool = True) -> None:
        super().__init__(clock)
        self.ramps = ramps
        self.loaded: list[tuple[float, ...]] = []

    def program_list(self, steps: Sequence[Sequence[float]]) -> None:
        for n, step in enumerate(steps):
            if not self.ramps and len(step) == 5 and (step[3] != step[1] or step[4] != step[2]):
                raise InstrumentError(self.name, "LIST:VOLT", None,
                                      f"step {n}: ramped steps are not supported by this "
                                      "driver; split the ramp into several steps")
        self.loaded = [tuple(s) for s in steps]
        self._record("program_list", len(steps))

    def start_list(self) -> None:
        self._record("start_list")

    def stop_list(self) -> None:
        self._record("stop_list")


@pytest.fixture
def clock() -> LabClock:
    """Lab time 20 times faster than the wall: a 20 lab-s program takes 1 s."""
    return LabClock(scale=20.0)


@pytest.fixture
def fake_grid(clock: LabClock) -> Any:
    """Factory of FakeGrid on the test's clock (or another): ``fake_grid(fail_on=...)``."""
    def make(on: LabClock | None = None, **kwargs: Any) -> FakeGrid:
        return FakeGrid(on or clock, **kwargs)
    return make


@pytest.fixture
def fake_list_grid(clock: LabClock) -> Any:
    """Factory of FakeListGrid: ``fake_list_grid(ramps=False)``."""
    def make(on: LabClock | None = None, **kwargs: Any) -> FakeListGrid:
        return FakeListGrid(on or clock, **kwargs)
    return make
