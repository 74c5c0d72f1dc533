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


@dataclass(frozen=True, slots=True)
class PilotReading:
    """One look at the control pilot from the EV side."""

    state: str  # line state: A1 A2 B1 B2 C1 C2 D1 D2 E F
    duty_pct: float  # PWM duty cycle, 100 without PWM
    outlet_live: bool | None  # contactor closed (None: the emulator cannot sense it)
    ev_current_a: float  # current the EV draws per phase


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

    def contactor_closed(self) -> bool:
        """Whether the outlet is live (the charger's contactor closed), as the box senses it.

        Optional: emulators without an outlet sense raise NotImplementedError."""
        raise NotImplementedError(f"{type(self).__name__} cannot sense the outlet (contactor)")

    def contactor_delay_s(self) -> tuple[float | None, bool]:
        """The emulator's own timer: (seconds from its last pilot command to the charger's
        contactor switching next, the contactor's new state), or (None, state now) when it
        has not switched since. Optional (NotImplementedError when the box has no timer)."""
        raise NotImplementedError(f"{type(self).__name__} has no contactor timer")

    def set_diode_short(self, shorted: bool) -> None:
        """Short (or restore) the EV's pilot diode, a fault a charger must answer with state F.

        Optional: emulators that cannot inject it raise NotImplementedError."""
        raise NotImplementedError(f"{type(self).__name__} cannot short the pilot diode")

    def pilot_reading(self) -> PilotReading:
        """One sample of the pilot: line state, duty, outlet sense, EV current (one query
        where the driver can; the outlet sense is None when the box has none)."""
        try:
            live: bool | None = self.contactor_closed()
        except NotImplementedError:
            live = None
        return PilotReading(self.cp_state(), self.duty_cycle_pct(), live, self.current_a())

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


# --------------------------------------------------------------------------- measurement
@dataclass(frozen=True, slots=True)
class PhaseReading:
    """One phase (or element) of a power analyser reading. SI units, signed power."""

    voltage_v: float
    current_a: float
    power_w: float
    reactive_var: float
    apparent_va: float
    power_factor: float


@dataclass(frozen=True, slots=True)
class PowerReading:
    """One acquisition of a power analyser: per-phase values, totals, frequency, energy.

    ``acquired_wall_s`` is the wall time (Unix seconds) the bench received the reading
    (stamped at acquisition, not after a sleep); ``instrument_s`` the instrument's own
    timestamp if it offers one, converted by the driver to the same wall-clock base.
    """

    phases: tuple[PhaseReading, ...]
    power_w: float
    reactive_var: float
    apparent_va: float
    power_factor: float
    frequency_hz: float
    energy_wh: float | None
    acquired_wall_s: float
    instrument_s: float | None = None

    @property
    def current_a(self) -> float:
        """Largest phase current (what limits are judged against)."""
        return max((p.current_a for p in self.phases), default=0.0)

    @property
    def voltage_v(self) -> float:
        """Mean phase voltage."""
        return sum(p.voltage_v for p in self.phases) / len(self.phases) if self.phases else 0.0


class PowerAnalyzer(Instrument):
    """A power analyser on a charger's input or output."""

    @abstractmethod
    def read(self) -> PowerReading:
        """The latest reading (does not wait for fresh data)."""

    @abstractmethod
    def wait_fresh(self, timeout_s: float) -> PowerReading:
        """Wait for the next update of the instrument's values, then read them.

        ``timeout_s`` is wall time: instruments run in real time even in a time-scaled lab.
        """

    @abstractmethod
    def set_update_interval_s(self, interval_s: float) -> None:
        """Set the instrument's measurement update interval."""

    # Optional fast path for acquisition loops: take the raw reply now, decode it later.
    # Drivers that can split ``read()`` this way override both; ``decode(read_raw())`` must
    # equal ``read()``, including the InstrumentError a garbage reply raises.
    def read_raw(self) -> tuple[float, str] | None:
        """(wall time received, raw reply) of one measurement query, or None if unsupported."""
        return None

    def decode(self, raw: tuple[float, str]) -> PowerReading:
        """Turn what ``read_raw()`` returned into a reading."""
        raise NotImplementedError(f"{type(self).__name__} has no raw acquisition path")

    def start_integration(self) -> None:
        """Reset and start energy integration (where the instrument has one)."""

    def stop_integration(self) -> None:
        """Stop energy integration."""

    def safe_state(self) -> None:
        """A power analyser energises nothing."""


@dataclass(frozen=True)
class GridReading:
    """What a grid emulator measures at its output."""

    voltage_v: tuple[float, ...]
    current_a: tuple[float, ...]
    power_w: tuple[float, ...]
    frequency_hz: float
    acquired_wall_s: float


class GridEmulator(Instrument):
    """An AC source emulating the grid (per-phase voltage, frequency, angle)."""

    @abstractmethod
    def set_voltage_v(self, voltage_v: float, phase: int | None = None) -> None:
        """Set the RMS phase voltage (all phases when ``phase`` is None)."""

    @abstractmethod
    def set_frequency_hz(self, frequency_hz: float) -> None:
        """Set the output frequency."""

    @abstractmethod
    def set_phase_angle_deg(self, phase: int, angle_deg: float) -> None:
        """Set the phase angle of one phase relative to phase 1."""

    @abstractmethod
    def set_slew(self, voltage_v_per_s: float | None = None,
                 frequency_hz_per_s: float | None = None) -> None:
        """Set voltage and frequency slew rates (None leaves a rate unchanged)."""

    @abstractmethod
    def set_current_limit_a(self, limit_a: float) -> None:
        """Set the output current limit."""

    @abstractmethod
    def output(self, on: bool) -> None:
        """Switch the output on or off."""

    @abstractmethod
    def measure(self) -> GridReading:
        """Measure voltage, current, power and frequency at the output."""

    def safe_state(self) -> None:
        self.output(False)


@dataclass(frozen=True)
class DCReading:
    """What a DC source/sink measures."""

    voltage_v: float
    current_a: float
    power_w: float
    acquired_wall_s: float


class DCSource(Instrument):
    """A bidirectional DC source/sink (battery emulator)."""

    @abstractmethod
    def set_voltage_v(self, voltage_v: float) -> None: ...

    @abstractmethod
    def set_current_limits_a(self, source_a: float, sink_a: float) -> None: ...

    @abstractmethod
    def set_power_limits_w(self, source_w: float, sink_w: float) -> None: ...

    def set_internal_resistance_ohm(self, resistance_ohm: float) -> None:
        """Emulated internal resistance (not every model has one)."""
        raise NotImplementedError(f"{type(self).__name__} has no internal-resistance emulation")

    @abstractmethod
    def output(self, on: bool) -> None: ...

    @abstractmethod
    def measure(self) -> DCReading: ...

    def safe_state(self) -> None:
        self.output(False)


class RelayBox(Instrument):
    """Contactors and plug connect/disconnect relays."""

    @abstractmethod
    def set_relay(self, channel: int, closed: bool) -> None: ...

    @abstractmethod
    def relay(self, channel: int) -> bool: ...

    @abstractmethod
    def channels(self) -> int: ...

    def safe_state(self) -> None:
        for channel in range(self.channels()):
            self.set_relay(channel, False)


@dataclass(frozen=True)
class CanFrame:
    """A CAN frame as seen on the bus."""

    arbitration_id: int
    data: bytes
    is_extended_id: bool
    timestamp_s: float


class CanNode(Instrument):
    """A node on a CAN bus (e.g. a CCS EV-side controller, a CHAdeMO EV)."""

    @abstractmethod
    def send(self, arbitration_id: int, data: bytes, extended: bool = False) -> None: ...

    @abstractmethod
    def receive(self, timeout_s: float) -> CanFrame | None: ...


class SupplySwitch(Instrument):
    """Switches the mains supply of the charger under test (a contactor or smart PDU)."""

    @abstractmethod
    def set_supply(self, on: bool) -> None:
        """Switch the charger's supply on or off."""

    @abstractmethod
    def power_cycle(self, off_s: float) -> None:
        """Switch the supply off for ``off_s`` seconds, then on again (returns at once)."""

    def safe_state(self) -> None:
        """The charger under test is not an instrument: its supply is left as it is."""


class ChademoVehicle(CanNode):
    """A CHAdeMO vehicle emulator on the charger's CAN bus (the bench plays the vehicle).

    Readings are the charger's own frames (0x108 limits, 0x109 status), as decoded by
    ``instruments.chademo_frames``; ``capture()`` is the wire record of the session.
    """

    @abstractmethod
    def plug_in(self, max_battery_v: int, target_v: int, capacity_kwh: float,
                soc_pct: int) -> None:
        """Connect: start the vehicle's cyclic frames (charging not yet enabled)."""

    @abstractmethod
    def request_current_a(self, current_a: int) -> None:
        """Enable charging (if not yet) and ask for ``current_a``."""

    @abstractmethod
    def request_stop(self) -> None:
        """Normal stop: current request 0, charging disabled, stop request flag set."""

    @abstractmethod
    def unplug(self) -> None:
        """Stop sending the vehicle's frames (the connector is pulled)."""

    @abstractmethod
    def capture(self) -> list[CanFrame]:
        """Every frame sent or received since the instrument was opened (oldest first)."""


# --------------------------------------------------------------------------- energy management
@dataclass(frozen=True)
class LemReading:
    """What a charger reports on its energy-management interface (its own measurement)."""

    currents_a: tuple[float, ...]
    power_w: float
    state: str | None = None
    """IEC 61851 state letter (A..F), None when the interface does not report it."""


class LocalEnergyManager(Instrument):
    """The bench in the role of a local energy manager (LEM / HEMS) of one charger: it
    writes the current limit on the charger's own interface (e.g. a Modbus TCP register)."""

    @abstractmethod
    def set_current_limit_a(self, limit_a: float) -> None:
        """Limit the charging current to ``limit_a`` per phase (0 pauses charging)."""

    @abstractmethod
    def read_current_limit_a(self) -> float | None:
        """The limit the charger holds from the LEM (None: none)."""

    @abstractmethod
    def release(self) -> None:
        """Take the LEM's limit away: the charger's own limits apply again."""

    @abstractmethod
    def read(self) -> LemReading:
        """The charger's actual current, power and state as it reports them."""

    def safe_state(self) -> None:
        """No limit left behind (an LEM energises nothing by itself): release it."""
        self.release()


class ChademoChargerEmulator(CanNode):
    """A CHAdeMO charger emulator on the vehicle's CAN bus (the bench plays the charger).

    It sends the charger's 0x108 (available voltage/current) and 0x109 (status flags,
    present voltage/current) cyclically and decodes the vehicle's 0x100/0x101/0x102, as
    laid out in ``instruments.chademo_frames``. ``safe_state()`` stops delivering (present
    current 0, stop-control flag, not energising) and then falls silent.
    """

    @abstractmethod
    def connect(self, available_v: int, available_current_a: int) -> None:
        """Start the charger's cyclic frames: limits announced, not energising, stop
        control set (not ready), present current 0."""

    @abstractmethod
    def set_available_current_a(self, current_a: int) -> None:
        """Announce a new available output current in 0x108 (e.g. lowered mid-session)."""

    @abstractmethod
    def energise(self, present_v: int) -> None:
        """Energise: stop control cleared, connector locked; the present current reported
        follows the vehicle's request, capped at the available current."""

    @abstractmethod
    def set_malfunction(self, on: bool = True) -> None:
        """Set (or clear) the charger-malfunction flag of 0x109."""

    @abstractmethod
    def stop_charging(self) -> None:
        """Normal stop from the charger side: stop-control flag set; the present current
        follows the vehicle's request down, the output de-energises once it is 0."""

    @abstractmethod
    def disconnect(self) -> None:
        """Stop sending the charger's frames."""

    @abstractmethod
    def capture(self) -> list[CanFrame]:
        """Every frame sent or received since the instrument was opened (oldest first)."""


@dataclass(frozen=True)
class VoltVarCurve:
    """A volt-var (Q(U)) curve: points (voltage in % of nominal, Q in % of the var rating,
    + injecting / over-excited) and the open-loop 90 % response time (s), None: unchanged."""

    points: tuple[tuple[float, float], ...]
    response_time_s: float | None = None


@dataclass(frozen=True)
class FixedPowerFactor:
    """A fixed cos phi setting: the power factor (None: not reported), under-excited
    (absorbing reactive power) or over-excited, and whether it is enabled."""

    pf: float | None
    under_excited: bool
    enabled: bool


@dataclass(frozen=True)
class FrequencyDroop:
    """A frequency droop (frequency-watt) setting: dead bands above and below nominal (Hz),
    droops as per-unit frequency change for 1 pu power change (0.05 = 5 %), and the
    open-loop response time (s)."""

    db_of_hz: float
    db_uf_hz: float
    k_of: float
    k_uf: float
    response_time_s: float


@dataclass(frozen=True)
class DerMeasurements:
    """What a DER reports of itself (None: not reported): active and reactive power
    (W, var; + injecting), power factor, frequency (Hz), line-to-neutral voltage (V)."""

    power_w: float | None
    reactive_var: float | None
    pf: float | None
    frequency_hz: float | None
    voltage_v: float | None


class DerSettings(Instrument):
    """The charger's (or inverter's) own DER settings interface (e.g. SunSpec Modbus): the
    bench writes grid-code settings there and reads them back. Out-of-range values are
    refused before anything is sent."""

    @abstractmethod
    def read_point(self, model_id: int, name: str) -> float | int | str | None:
        """A named point of a model, scaled (None: not implemented by the device)."""

    @abstractmethod
    def write_point(self, model_id: int, name: str, value: float) -> None:
        """Write a named point of a model (engineering value; scaled by the driver)."""

    @abstractmethod
    def set_fixed_pf(self, pf: float, *, under_excited: bool, enabled: bool = True) -> None:
        """Fixed cos phi (while injecting active power) and its enable."""

    @abstractmethod
    def read_fixed_pf(self) -> FixedPowerFactor:
        """The fixed cos phi the device holds."""

    @abstractmethod
    def set_fixed_var_pct(self, pct: float, *, enabled: bool = True) -> None:
        """Fixed Q in % of the var rating (+ injecting) and its enable."""

    @abstractmethod
    def read_fixed_var_pct(self) -> tuple[float | None, bool]:
        """(fixed Q in % of the var rating, enabled)."""

    @abstractmethod
    def set_volt_var(self, curve: VoltVarCurve, *, enabled: bool = True) -> None:
        """Make ``curve`` the active volt-var curve, and enable or disable volt-var."""

    @abstractmethod
    def read_volt_var(self) -> tuple[VoltVarCurve, bool]:
        """(the active volt-var curve, enabled)."""

    @abstractmethod
    def set_freq_droop(self, droop: FrequencyDroop, *, enabled: bool = True) -> None:
        """Make ``droop`` the active frequency droop, and enable or disable it."""

    @abstractmethod
    def read_freq_droop(self) -> tuple[FrequencyDroop, bool]:
        """(the active frequency droop, enabled)."""

    @abstractmethod
    def read_measurements(self) -> DerMeasurements:
        """What the device reports of its own output."""

    def safe_state(self) -> None:
        """No setting left behind (a settings interface energises nothing): the device's
        fixed cos phi, fixed Q and volt-var disabled."""
