"""Plain model of a simulated charger's connectors: EV, pilot, meter, transaction.

No I/O here. The energy behind the meter comes from the plant (``testbench.sim.plant``):
the connector's :class:`~testbench.sim.plant.ChargerMeter` reads its power stage.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from testbench.lab.model import EVSpec
from testbench.sim.plant import ChargerMeter, PowerStage

INITIAL_REGISTER_WH = 10_000.0
"""Energy register of a fresh meter (a real meter never starts at zero)."""


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
    meter: ChargerMeter
    stage: PowerStage
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
