"""What instrument twins see of the simulated physical plant.

Twins speak wire protocols; the plant (``testbench.sim``) decides the physics. These small
protocols are the seam: a twin is built on a port, and the simulated lab hands it the
plant's implementation. The simple in-memory implementations below serve tests and
stand-alone twins.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Protocol


@dataclass(frozen=True)
class PhaseSample:
    """One phase at a measuring point. Power signed: + = import (charging), - = export."""

    voltage_v: float
    current_a: float
    power_w: float
    reactive_var: float = 0.0

    @property
    def apparent_va(self) -> float:
        return math.hypot(self.power_w, self.reactive_var)

    @property
    def power_factor(self) -> float:
        s = self.apparent_va
        return 1.0 if s == 0 else self.power_w / s


@dataclass(frozen=True)
class PointSample:
    """A measuring point at one instant of lab time."""

    lab_s: float
    phases: tuple[PhaseSample, ...]
    frequency_hz: float
    energy_import_wh: float
    energy_export_wh: float = 0.0

    @property
    def power_w(self) -> float:
        return sum(p.power_w for p in self.phases)

    @property
    def reactive_var(self) -> float:
        return sum(p.reactive_var for p in self.phases)


class MeasuredPoint(Protocol):
    """What a power-analyser twin measures (a charger's input or output, a site connection)."""

    def sample(self) -> PointSample: ...


class GridPort(Protocol):
    """What a grid-emulator twin drives: the simulated grid node."""

    def set_voltage_v(self, voltage_v: float, phase: int | None = None) -> None: ...
    def set_frequency_hz(self, frequency_hz: float) -> None: ...
    def set_phase_angle_deg(self, phase: int, angle_deg: float) -> None: ...
    def set_slew(self, voltage_v_per_s: float | None, frequency_hz_per_s: float | None) -> None: ...
    def set_current_limit_a(self, limit_a: float) -> None: ...
    def set_output(self, on: bool) -> None: ...
    def output_on(self) -> bool: ...
    def sample(self) -> PointSample: ...


class DCPort(Protocol):
    """What a DC source/sink twin drives: a DC bus (battery emulator)."""

    def set_voltage_v(self, voltage_v: float) -> None: ...
    def set_current_limits_a(self, source_a: float, sink_a: float) -> None: ...
    def set_power_limits_w(self, source_w: float, sink_w: float) -> None: ...
    def set_output(self, on: bool) -> None: ...
    def output_on(self) -> bool: ...
    def measure(self) -> tuple[float, float, float]:
        """(voltage_v, current_a, power_w); current positive when sourcing."""
        ...


class RelayPort(Protocol):
    """What a relay-box twin switches."""

    def set_relay(self, channel: int, closed: bool) -> None: ...
    def relay(self, channel: int) -> bool: ...
    def channels(self) -> int: ...


# --------------------------------------------------------------------------- stand-alone
@dataclass
class StaticPoint:
    """A measuring point with fixed values (tests, stand-alone twins)."""

    phases: tuple[PhaseSample, ...] = (PhaseSample(230.0, 10.0, 2300.0),) * 3
    frequency_hz: float = 50.0
    energy_import_wh: float = 0.0

    def sample(self) -> PointSample:
        return PointSample(time.time(), self.phases, self.frequency_hz, self.energy_import_wh)


@dataclass
class SimpleGrid:
    """A stiff grid node with a resistive load behind it (tests, stand-alone twins)."""

    phases: int = 3
    voltage_v: list[float] = field(default_factory=lambda: [230.0, 230.0, 230.0])
    angle_deg: list[float] = field(default_factory=lambda: [0.0, -120.0, 120.0])
    frequency_hz: float = 50.0
    load_ohm: float = 23.0
    current_limit_a: float = 32.0
    slew_v_per_s: float | None = None
    slew_hz_per_s: float | None = None
    on: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_voltage_v(self, voltage_v: float, phase: int | None = None) -> None:
        with self._lock:
            for n in range(self.phases):
                if phase is None or phase == n + 1:
                    self.voltage_v[n] = voltage_v

    def set_frequency_hz(self, frequency_hz: float) -> None:
        self.frequency_hz = frequency_hz

    def set_phase_angle_deg(self, phase: int, angle_deg: float) -> None:
        self.angle_deg[phase - 1] = angle_deg

    def set_slew(self, voltage_v_per_s: float | None, frequency_hz_per_s: float | None) -> None:
        if voltage_v_per_s is not None:
            self.slew_v_per_s = voltage_v_per_s
        if frequency_hz_per_s is not None:
            self.slew_hz_per_s = frequency_hz_per_s

    def set_current_limit_a(self, limit_a: float) -> None:
        self.current_limit_a = limit_a

    def set_output(self, on: bool) -> None:
        self.on = on

    def output_on(self) -> bool:
        return self.on

    def sample(self) -> PointSample:
        phases = []
        for n in range(self.phases):
            v = self.voltage_v[n] if self.on else 0.0
            i = min(v / self.load_ohm, self.current_limit_a)
            phases.append(PhaseSample(v, i, v * i))
        return PointSample(time.time(), tuple(phases), self.frequency_hz, 0.0)


@dataclass
class SimpleDC:
    """A DC bus with a resistive load (tests, stand-alone twins)."""

    voltage_v: float = 0.0
    source_limit_a: float = 10.0
    sink_limit_a: float = 10.0
    source_limit_w: float = 10000.0
    sink_limit_w: float = 10000.0
    load_ohm: float = 40.0
    on: bool = False

    def set_voltage_v(self, voltage_v: float) -> None:
        self.voltage_v = voltage_v

    def set_current_limits_a(self, source_a: float, sink_a: float) -> None:
        self.source_limit_a, self.sink_limit_a = source_a, sink_a

    def set_power_limits_w(self, source_w: float, sink_w: float) -> None:
        self.source_limit_w, self.sink_limit_w = source_w, sink_w

    def set_output(self, on: bool) -> None:
        self.on = on

    def output_on(self) -> bool:
        return self.on

    def measure(self) -> tuple[float, float, float]:
        if not self.on:
            return (0.0, 0.0, 0.0)
        i = min(self.voltage_v / self.load_ohm, self.source_limit_a)
        return (self.voltage_v, i, self.voltage_v * i)


@dataclass
class SimpleRelays:
    """A bank of relays (tests, stand-alone twins)."""

    count: int = 8
    closed: list[bool] = field(default_factory=lambda: [False] * 8)

    def set_relay(self, channel: int, closed: bool) -> None:
        self.closed[channel] = closed

    def relay(self, channel: int) -> bool:
        return self.closed[channel]

    def channels(self) -> int:
        return self.count


__all__ = ["DCPort", "GridPort", "MeasuredPoint", "PhaseSample", "PointSample", "RelayPort",
           "SimpleDC", "SimpleGrid", "SimpleRelays", "StaticPoint", "replace"]
