"""Capability contracts: what suites may ask of an instrument, with units in names.

Every instrument can identify itself and has a mandatory ``safe_state()`` that leaves it
de-energised (outputs off, EV unplugged, relays open). Drivers implement one or more
contracts on a transport; suites only see contracts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """What an instrument says it is (``*IDN?`` or equivalent)."""

    maker: str
    model: str
    serial: str
    firmware: str

    def __str__(self) -> str:
        return f"{self.maker} {self.model} (s/n {self.serial}, fw {self.firmware})"


class Instrument(ABC):
    """Base of every driver: a named instrument that can be identified and made safe."""

    name: str

    @abstractmethod
    def identify(self) -> Identity:
        """Ask the instrument who it is."""

    @abstractmethod
    def safe_state(self) -> None:
        """Leave the instrument de-energised. Must be safe to call at any time, repeatedly."""

    def close(self) -> None:
        """Release the transport. Default: nothing to release."""


class EVEmulator(Instrument):
    """An EV emulator or control-pilot break-out box in front of one charger's connector."""

    @abstractmethod
    def select_ev(self, ev_id: str) -> None:
        """Make the emulator behave as the inventory EV ``ev_id`` (phases, current limits)."""

    @abstractmethod
    def set_cp_state(self, state: str) -> None:
        """Drive the EV side of the control pilot: A (unplugged), B, C, D, or E (CP short)."""

    @abstractmethod
    def cp_state(self) -> str:
        """The pilot state as seen on the line, e.g. ``A1``, ``B2``, ``C2``, ``F``."""

    @abstractmethod
    def duty_cycle_pct(self) -> float:
        """PWM duty cycle the charger applies (100 when no PWM)."""

    @abstractmethod
    def current_a(self) -> float:
        """Current the EV draws per phase, in amperes."""

    def plug_in(self, ev_id: str) -> None:
        """Connect the EV (state B)."""
        self.select_ev(ev_id)
        self.set_cp_state("B")

    def request_energy(self) -> None:
        """The EV asks for energy (state C)."""
        self.set_cp_state("C")

    def unplug(self) -> None:
        """Disconnect the EV (state A)."""
        self.set_cp_state("A")

    def safe_state(self) -> None:
        self.unplug()


class RfidReader(Instrument):
    """Something that presents an RFID card to a charger's reader (a card robot, an emulator)."""

    @abstractmethod
    def present(self, id_token: str) -> None:
        """Present the card ``id_token`` to the reader once."""

    def safe_state(self) -> None:
        """Nothing is energised by an RFID presenter."""
