"""Plain model of a simulated charger's connectors: EV, pilot, energy meter, transaction.

No I/O here. Energy is integrated exactly in lab time: between two state changes the
power is constant, so the register is ``base + power x elapsed``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from testbench.clock import LabClock
from testbench.lab.model import EVSpec

VOLTAGE_V = 230.0
"""Phase voltage of the simulated supply."""

INITIAL_REGISTER_WH = 10_000.0
"""Energy register of a fresh meter (a real meter never starts at zero)."""


class EnergyMeter:
    """An energy register (Wh) driven by a piecewise-constant power in lab time."""

    def __init__(self, clock: LabClock, initial_wh: float = INITIAL_REGISTER_WH) -> None:
        self._clock = clock
        self._base_wh = initial_wh
        self._since_lab_s = clock.now()
        self.power_w = 0.0

    def read_wh(self) -> float:
        """The register now."""
        elapsed_s = max(0.0, self._clock.now() - self._since_lab_s)
        return self._base_wh + self.power_w * elapsed_s / 3600.0

    def set_power(self, power_w: float) -> None:
        """Change the power from now on (settles the register first)."""
        if power_w == self.power_w:
            return
        self._settle()
        self.power_w = power_w

    def adjust(self, delta_wh: float) -> None:
        """Jump the register (a faulty meter)."""
        self._settle()
        self._base_wh += delta_wh

    def _settle(self) -> None:
        now = self._clock.now()
        self._base_wh = self._base_wh + self.power_w * max(0.0, now - self._since_lab_s) / 3600.0
        self._since_lab_s = now


@dataclass
class Transaction:
    """A running transaction on one connector."""

    id: str | None  # 1.6: assigned by the central system (None until answered); 2.x: uuid
    id_token: str
    token_type: str
    meter_start_wh: float
    started_lab_s: float
    remote_start_id: int | None = None
    id_token_data: dict[str, Any] | None = None  # 2.x idToken as received (remote start)
    energy_allowed: bool = True
    has_charged: bool = False
    seq_no: int = 0
    periodic_samples: int = 0
    charging_state: str | None = None  # 2.x: last chargingState reported
    sampler: asyncio.Task[None] | None = None

    def next_seq_no(self) -> int:
        value = self.seq_no
        self.seq_no += 1
        return value


@dataclass
class PendingStart:
    """An authorisation waiting for the EV to be plugged in (ConnectionTimeOut)."""

    id_token: str
    token_type: str
    remote_start_id: int | None
    id_token_data: dict[str, Any] | None
    timer: asyncio.TimerHandle | None = None


@dataclass
class Connector:
    """One connector of one EVSE and the EV (emulator) in front of it."""

    evse_id: int
    connector_id: int
    number: int  # 1.6 connectorId (flat numbering over all EVSEs)
    meter: EnergyMeter
    ev: EVSpec | None = None
    ev_state: str = "A"  # EV side of the control pilot: A B C D E
    operative: bool = True
    scheduled_operative: bool | None = None
    tx: Transaction | None = None
    pending: PendingStart | None = None
    finishing: bool = False
    reported_status: str | None = None
    contactor_closed: bool = False
    contactor_timer: asyncio.TimerHandle | None = None
    current_a: float = 0.0
    phases: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def plugged(self) -> bool:
        return self.ev_state in ("B", "C", "D")

    @property
    def requests_energy(self) -> bool:
        return self.ev_state in ("C", "D")


def duty_cycle_pct(current_a: float) -> float:
    """IEC 61851-1 PWM duty cycle for an offered current (6-80 A)."""
    current_a = max(6.0, min(80.0, current_a))
    if current_a <= 51.0:
        return current_a / 0.6
    return current_a / 2.5 + 64.0
