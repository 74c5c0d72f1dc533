"""Measuring points of the plant as instruments see them: true values plus small noise.

A :class:`NoisyPoint` implements ``instruments.twins.ports.MeasuredPoint`` for a power
analyser twin: a charger's outlet (``"output"``), its supply (``"input"``) or the station's
grid node (``"site"``). Each reading adds seeded Gaussian noise, of the order of a good
power analyser's repeatability, to voltage and current; power is the product of the noisy
values (so it stays consistent with them), and RMS values never go negative.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from instruments.twins.ports import PhaseSample, PointSample

POINTS = ("output", "input", "site")


@dataclass(frozen=True)
class NoiseLevel:
    """Standard deviations: relative to the reading plus an absolute floor."""

    voltage_rel: float = 2e-4
    voltage_abs_v: float = 0.02
    current_rel: float = 5e-4
    current_abs_a: float = 0.005
    frequency_abs_hz: float = 0.001


def seed_for(name: str) -> int:
    """A stable seed per instrument name (same noise sequence on every run)."""
    return zlib.crc32(name.encode("utf-8"))


class NoisyPoint:
    """A measuring point: ``source()`` gives the true sample, readings add noise."""

    def __init__(self, source: Callable[[], PointSample], seed: int,
                 level: NoiseLevel | None = None) -> None:
        self.source = source
        self.level = level or NoiseLevel()
        self._rng = random.Random(seed)

    def _noise(self, value: float, rel: float, floor: float) -> float:
        return self._rng.gauss(0.0, abs(value) * rel + floor)

    def sample(self) -> PointSample:
        true = self.source()
        level = self.level
        phases = []
        for phase in true.phases:
            v = phase.voltage_v
            if v > 0:
                v = max(0.0, v + self._noise(v, level.voltage_rel, level.voltage_abs_v))
            # signed current: its sign follows the power flow, the RMS reading is its size
            signed_i = phase.current_a if phase.power_w >= 0 else -phase.current_a
            signed_i += self._noise(signed_i, level.current_rel, level.current_abs_a)
            # with reactive power the current is the apparent one: split it by the true
            # power factor (testbench.sim.reactive)
            s_true = math.hypot(phase.power_w, phase.reactive_var)
            cos = abs(phase.power_w) / s_true if s_true > 0 else 1.0
            sin = phase.reactive_var / s_true if s_true > 0 else 0.0
            power_w = v * signed_i * cos if v > 0 else 0.0
            reactive_var = v * abs(signed_i) * sin if v > 0 else 0.0
            phases.append(PhaseSample(v, abs(signed_i), power_w, reactive_var))
        frequency = true.frequency_hz
        if frequency > 0:
            frequency += self._rng.gauss(0.0, level.frequency_abs_hz)
        return PointSample(true.lab_s, tuple(phases), frequency, true.energy_import_wh,
                           true.energy_export_wh)
