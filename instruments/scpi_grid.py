"""Shared base of SCPI grid emulators (Chroma 61800, Ametek RS/MX): options, per-phase
addressing, setpoints checked against the station limits, measurements, list runs and the
safe state. Each model family supplies its command table and its own output, slew,
phase-angle and list-mode commands."""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

from instruments.contracts import GridEmulator, GridReading, Identity
from instruments.driver_support import command_table, format_setpoint, parse_identity, run_all
from instruments.safety import LimitGuard
from instruments.transports.scpi import ScpiTransport
from testbench.errors import BenchError, InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits


class ScpiGridEmulator(GridEmulator):
    """A grid emulator on SCPI; subclasses give ``COMMANDS`` and the model-specific steps."""

    COMMANDS: ClassVar[dict[str, str]] = {}

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits) -> None:
        self.name = spec.name
        self.limits = limits
        options = dict(spec.options)
        self.phases = int(options.get("phases", 3))  # type: ignore[call-overload]
        self.safe_mode = str(options.get("safe_state", "off"))
        if self.safe_mode not in ("off", "nominal"):
            raise BenchError(f"instrument {spec.name!r}: option safe_state = "
                             f"{self.safe_mode!r} must be \"off\" or \"nominal\"; fix lab.toml")
        self.nominal_voltage_v = float(options.get("nominal_voltage_v", 230.0))  # type: ignore[arg-type]
        self.nominal_frequency_hz = float(options.get("nominal_frequency_hz", 50.0))  # type: ignore[arg-type]
        self.commands = command_table(spec.name, self.COMMANDS, options.get("commands"))
        self._guard = LimitGuard(spec.name, limits)
        self._lock = threading.RLock()
        self._scpi = ScpiTransport(spec.name, spec.resource, timeout_s=spec.timeout_s)

    def _cmd(self, key: str, **fields: object) -> str:
        return self.commands[key].format(**fields)

    def _all_phases(self, command: str) -> str:
        return command if self.phases == 1 else f"{self._cmd('couple_all')};:{command}"

    def _one_phase(self, phase: int, command: str) -> str:
        if not 1 <= phase <= self.phases:
            raise InstrumentError(self.name, command, None,
                                  f"phase {phase} does not exist (1..{self.phases})")
        if self.phases == 1:
            return command
        return f"{self._cmd('select_phase', phase=phase)};:{command}"

    def identify(self) -> Identity:
        return parse_identity(self.name, self._scpi.query("*IDN?"))

    def set_voltage_v(self, voltage_v: float, phase: int | None = None) -> None:
        command = self._cmd("voltage", value=format_setpoint(voltage_v))
        self._guard.voltage(command, voltage_v)
        line = self._all_phases(command) if phase is None else self._one_phase(phase, command)
        with self._lock:
            self._scpi.write_checked(line)

    def set_frequency_hz(self, frequency_hz: float) -> None:
        command = self._cmd("frequency", value=format_setpoint(frequency_hz))
        if frequency_hz <= 0:
            raise InstrumentError(self.name, command, None, "frequency must be positive")
        with self._lock:
            self._scpi.write_checked(command)

    def set_current_limit_a(self, limit_a: float) -> None:
        command = self._cmd("current_limit", value=format_setpoint(limit_a))
        self._guard.current(command, limit_a)
        with self._lock:
            self._scpi.write_checked(self._all_phases(command))

    def measure(self) -> GridReading:
        voltages: list[float] = []
        currents: list[float] = []
        powers: list[float] = []
        frequency = float("nan")
        with self._lock:
            for phase in range(1, self.phases + 1):
                command = self._one_phase(phase, self._cmd("measure_phase"))
                if phase == 1:
                    command += ";:" + self._cmd("measure_frequency")
                values = self._numbers(command, 4 if phase == 1 else 3)
                voltages.append(values[0])
                currents.append(values[1])
                powers.append(values[2])
                if phase == 1:
                    frequency = values[3]
            acquired = time.time()
        return GridReading(tuple(voltages), tuple(currents), tuple(powers), frequency, acquired)

    def _numbers(self, command: str, count: int) -> list[float]:
        reply = self._scpi.query(command)
        fields = reply.split(";")
        try:
            if len(fields) != count:
                raise ValueError
            return [float(f) for f in fields]
        except ValueError:
            raise InstrumentError(self.name, command, reply,
                                  f"expected {count} ';'-separated numbers") from None

    def run_list(self, steps: Sequence[Sequence[float]]) -> None:
        """Load and start a list program (see :meth:`program_list`)."""
        self.program_list(steps)
        self.start_list()

    def close(self) -> None:
        self._scpi.close()

    @abstractmethod
    def program_list(self, steps: Sequence[Sequence[float]]) -> None:
        """Load a list-mode program of steps."""

    @abstractmethod
    def start_list(self) -> None:
        """Start the loaded list program."""

    @abstractmethod
    def stop_list(self) -> None:
        """Stop a running list program and return to fixed mode."""

    @abstractmethod
    def _output_off_steps(self) -> list[Callable[[], None]]:
        """The commands that de-energise the output, in the model's order."""

    def safe_state(self) -> None:
        """Output off (default) or nominal voltage and frequency with the output on.

        Every step is attempted even if an earlier one fails; the first failure is raised.
        """
        if self.safe_mode == "nominal":
            steps: list[Callable[[], None]] = [
                self.stop_list,
                lambda: self.set_voltage_v(self.nominal_voltage_v),
                lambda: self.set_frequency_hz(self.nominal_frequency_hz),
                lambda: self.output(True),
            ]
        else:
            steps = [*self._output_off_steps(), self.stop_list]
        with self._lock:
            run_all(steps)
