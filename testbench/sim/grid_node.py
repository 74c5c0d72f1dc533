"""A grid node of the plant: the AC supply of a station's chargers.

Without a grid emulator the node is a stiff 230 V / 50 Hz supply, always on. A grid emulator
twin drives it through the :class:`~instruments.twins.ports.GridPort` methods: per-phase
voltage, frequency, phase angles, slew rates, current limit, output on/off. Voltage and
frequency move towards their setpoints at the slew rates, in lab time. What the node
measures (currents and power of everything it feeds) comes from the plant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from instruments.twins.ports import PointSample

NOMINAL_VOLTAGE_V = 230.0
NOMINAL_FREQUENCY_HZ = 50.0
DEFAULT_ANGLES_DEG = (0.0, -120.0, 120.0)


class GridNode:
    """Per-phase voltage, frequency and angle of one supply point (implements ``GridPort``).

    ``driven`` nodes belong to a grid emulator: they start de-energised at 0 V (as an
    emulator does after power-up) until the emulator's output is switched on.
    ``sync`` is called before every change (the plant integrates up to now first);
    ``sampler`` builds what the node measures.
    """

    def __init__(self, name: str, phases: int = 3, *, driven: bool = False,
                 nominal_voltage_v: float = NOMINAL_VOLTAGE_V,
                 nominal_frequency_hz: float = NOMINAL_FREQUENCY_HZ) -> None:
        self.name = name
        self.phases = phases
        self.driven = driven
        self.nominal_voltage_v = nominal_voltage_v
        start_v = 0.0 if driven else nominal_voltage_v
        self.target_v = [start_v] * phases
        self.actual_v = [start_v] * phases
        self.target_hz = nominal_frequency_hz
        self.actual_hz = nominal_frequency_hz
        self.angle_deg = list(DEFAULT_ANGLES_DEG[:phases])
        self.slew_v_per_s: float | None = None
        self.slew_hz_per_s: float | None = None
        self.current_limit_a = math.inf
        self.on = not driven
        self.ever_on = False
        self.sync: Callable[[], None] = lambda: None
        self.sampler: Callable[[GridNode], PointSample] | None = None

    # ------------------------------------------------------------------ physics
    def advance(self, dt_s: float) -> None:
        """Move voltage and frequency towards their setpoints for ``dt_s`` lab seconds."""
        for n in range(self.phases):
            self.actual_v[n] = _towards(self.actual_v[n], self.target_v[n], self.slew_v_per_s, dt_s)
        self.actual_hz = _towards(self.actual_hz, self.target_hz, self.slew_hz_per_s, dt_s)

    @property
    def slewing(self) -> bool:
        """Whether a voltage or frequency is still moving towards its setpoint."""
        return self.actual_hz != self.target_hz or any(
            a != t for a, t in zip(self.actual_v, self.target_v, strict=True))

    def phase_voltage_v(self, phase_index: int) -> float:
        """RMS voltage of phase ``phase_index`` (0-based) now; 0 when off or absent."""
        if not self.on or phase_index >= self.phases:
            return 0.0
        return self.actual_v[phase_index]

    def mains_ok(self, phase_index: int) -> bool:
        """Whether a load on this phase sees usable mains (above half the nominal voltage)."""
        return self.phase_voltage_v(phase_index) >= 0.5 * self.nominal_voltage_v

    @property
    def frequency_hz(self) -> float:
        return self.actual_hz

    # ------------------------------------------------------------------ GridPort
    def set_voltage_v(self, voltage_v: float, phase: int | None = None) -> None:
        self.sync()
        for n in range(self.phases):
            if phase is None or phase == n + 1:
                self.target_v[n] = float(voltage_v)
                if self.slew_v_per_s is None or not self.on:
                    self.actual_v[n] = float(voltage_v)

    def set_frequency_hz(self, frequency_hz: float) -> None:
        self.sync()
        self.target_hz = float(frequency_hz)
        if self.slew_hz_per_s is None or not self.on:
            self.actual_hz = self.target_hz

    def set_phase_angle_deg(self, phase: int, angle_deg: float) -> None:
        if 1 <= phase <= self.phases:
            self.angle_deg[phase - 1] = float(angle_deg)

    def set_slew(self, voltage_v_per_s: float | None, frequency_hz_per_s: float | None) -> None:
        self.sync()
        if voltage_v_per_s is not None:
            self.slew_v_per_s = voltage_v_per_s if voltage_v_per_s > 0 else None
        if frequency_hz_per_s is not None:
            self.slew_hz_per_s = frequency_hz_per_s if frequency_hz_per_s > 0 else None

    def set_current_limit_a(self, limit_a: float) -> None:
        self.current_limit_a = float(limit_a)

    def set_output(self, on: bool) -> None:
        self.sync()
        self.on = bool(on)
        self.ever_on = self.ever_on or self.on

    def output_on(self) -> bool:
        return self.on

    def sample(self) -> PointSample:
        if self.sampler is None:
            raise RuntimeError(f"grid node {self.name!r} is not part of a plant")
        return self.sampler(self)

    def describe(self) -> dict[str, object]:
        """The node's state for the safe-state file and logs."""
        return {"output_on": self.on, "voltage_v": [round(v, 3) for v in self.target_v],
                "frequency_hz": self.target_hz, "angle_deg": list(self.angle_deg),
                "current_limit_a": None if math.isinf(self.current_limit_a)
                else self.current_limit_a}


def _towards(actual: float, target: float, rate_per_s: float | None, dt_s: float) -> float:
    if rate_per_s is None or actual == target:
        return target
    step = rate_per_s * dt_s
    if abs(target - actual) <= step:
        return target
    return actual + math.copysign(step, target - actual)
