"""An EV's traction battery as the plant sees it: state of charge and the current it accepts.

Charging tapers linearly above ``TAPER_START_PCT`` (the EV's limit falls from its maximum at
80 % to zero at 100 %); the charger logic pauses the session when the limit falls below the
EV's minimum current. A bidirectional EV gives energy back down to ``DISCHARGE_FLOOR_PCT``.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbench.lab.model import EVSpec

TAPER_START_PCT = 80.0
"""State of charge above which the EV accepts less than its maximum current."""

DISCHARGE_FLOOR_PCT = 20.0
"""State of charge below which a bidirectional EV stops giving energy back."""

ONBOARD_EFFICIENCY_AC = 0.92
"""Share of the AC energy delivered at the charger's outlet that reaches the battery."""


@dataclass
class EvBattery:
    """The battery of one EV plugged into one connector."""

    spec: EVSpec
    soc_pct: float

    @classmethod
    def fresh(cls, spec: EVSpec) -> EvBattery:
        """The battery as the EV arrives (``initial_soc_pct`` of its inventory entry)."""
        return cls(spec, max(0.0, min(100.0, spec.initial_soc_pct)))

    @property
    def capacity_wh(self) -> float:
        return self.spec.battery_kwh * 1000.0

    def charge_limit_a(self) -> float:
        """Largest current the EV draws now (its maximum, tapered above 80 % SoC)."""
        if self.soc_pct >= 100.0:
            return 0.0
        if self.soc_pct <= TAPER_START_PCT:
            return self.spec.max_current_a
        return self.spec.max_current_a * (100.0 - self.soc_pct) / (100.0 - TAPER_START_PCT)

    def discharge_limit_a(self) -> float:
        """Largest current a bidirectional EV gives back now (0 for others or when low)."""
        if not self.spec.bidirectional or self.soc_pct <= DISCHARGE_FLOOR_PCT:
            return 0.0
        return self.spec.max_current_a

    def store_wh(self, energy_wh: float) -> None:
        """Energy into (+) or out of (-) the battery."""
        if self.capacity_wh <= 0:
            return
        self.soc_pct = max(0.0, min(100.0, self.soc_pct + 100.0 * energy_wh / self.capacity_wh))
