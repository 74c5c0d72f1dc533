"""Fakes for the measurement tests: a deterministic power analyser and a fast lab clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from instruments.contracts import Identity, PhaseReading, PowerAnalyzer, PowerReading
from testbench.clock import LabClock
from testbench.errors import InstrumentError


class FakeAnalyzer(PowerAnalyzer):
    """Reading k (1-based) has power_w = 1000 k, phase n current = k + n / 10, voltage
    230 + n, frequency 50, energy k Wh on even k and None on odd k. Every read stamps
    ``time.time()`` into ``wall_stamps``. After ``fail_after`` reads, read() raises
    ``self.error`` (an InstrumentError)."""

    name = "fake-pa"

    def __init__(self, phases: int = 3, fail_after: int | None = None,
                 instrument_offset_s: float | None = None) -> None:
        self.phases = phases
        self.fail_after = fail_after
        self.instrument_offset_s = instrument_offset_s
        self.calls = 0
        self.fresh_calls: list[float] = []
        self.wall_stamps: list[float] = []
        self.error = InstrumentError(self.name, ":NUM:NORM:VAL?", "GARBAGE",
                                     "expected comma-separated numbers")
        self._lock = threading.Lock()

    def identify(self) -> Identity:
        return Identity("Fake", "PA-1", "0001", "1.0")

    def read(self) -> PowerReading:
        with self._lock:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise self.error
            self.calls += 1
            k = self.calls
            wall = time.time()
            self.wall_stamps.append(wall)
        phases = tuple(PhaseReading(230.0 + n, k + n / 10, 1000.0 * k / self.phases, 0.0,
                                    1000.0 * k / self.phases, 1.0)
                       for n in range(1, self.phases + 1))
        instrument_s = None if self.instrument_offset_s is None else wall + self.instrument_offset_s
        return PowerReading(phases, 1000.0 * k, 0.0, 1000.0 * k, 1.0, 50.0,
                            float(k) if k % 2 == 0 else None, wall, instrument_s)

    def wait_fresh(self, timeout_s: float) -> PowerReading:
        self.fresh_calls.append(timeout_s)
        return self.read()

    def set_update_interval_s(self, interval_s: float) -> None:
        pass


@pytest.fixture
def clock() -> LabClock:
    """A lab clock running ten times faster than the wall."""
    return LabClock(scale=10.0)


@pytest.fixture
def analyzer() -> FakeAnalyzer:
    return FakeAnalyzer()


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``predicate`` (wall time) until true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        time.sleep(0.005)


@pytest.fixture
def fake_analyzer_type() -> type[FakeAnalyzer]:
    return FakeAnalyzer


@pytest.fixture
def wait() -> object:
    return wait_until
