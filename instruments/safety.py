"""Setpoint guard: every setpoint is checked against the station's limits before it is sent."""

from __future__ import annotations

from testbench.errors import SafetyLimitError
from testbench.lab.model import SafetyLimits


class LimitGuard:
    """Refuses (raises, sends nothing) setpoints beyond a station's safety limits."""

    def __init__(self, instrument: str, limits: SafetyLimits) -> None:
        self.instrument = instrument
        self.limits = limits

    def _check(self, command: str, value: float, limit: float, what: str, unit: str) -> None:
        if abs(value) > limit:
            raise SafetyLimitError(
                self.instrument, command, None,
                f"refused before sending: {what} {value:g} {unit} exceeds the station limit "
                f"{limit:g} {unit} (lab.toml [stations.limits] / [safety])")

    def voltage(self, command: str, voltage_v: float) -> None:
        self._check(command, voltage_v, self.limits.max_voltage_v, "voltage", "V")

    def current(self, command: str, current_a: float) -> None:
        self._check(command, current_a, self.limits.max_current_a, "current", "A")

    def power(self, command: str, power_w: float) -> None:
        self._check(command, power_w, self.limits.max_power_w, "power", "W")
