"""Driver for Ametek / California Instruments RS, MX and CSW AC sources (SCPI over pyvisa).

Per-phase settings select the phase with ``INST:COUP NONE;:INST:NSEL n``; settings for
every phase first couple them with ``INST:COUP ALL`` (verify), in one compound line.
``SYST:ERR?`` is read after every setting. Slew rates are sent in V/s and Hz/s (verify).

List mode: :meth:`AmetekRsMx.program_list` loads steps ``(dwell_s, voltage_v,
frequency_hz)`` (``LIST:DWEL``, ``LIST:VOLT``, ``LIST:FREQ``; voltage and frequency modes
set to LIST), :meth:`start_list` arms and triggers (``INIT`` then ``TRIG``),
:meth:`stop_list` aborts (``ABOR``) and returns to fixed mode. Steps are stepped, not
ramped: split a ramp into several steps.

Options: ``phases`` (default 3); ``safe_state`` = ``"off"`` (default) or ``"nominal"``
(``nominal_voltage_v`` 230 V, ``nominal_frequency_hz`` 50 Hz, output left on);
``commands``: overrides of entries of ``AmetekRsMx.COMMANDS`` (format fields in braces).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from instruments.contracts import GridEmulator, GridReading, Identity
from instruments.driver_support import command_table, format_setpoint, parse_identity, run_all
from instruments.registry import register_driver
from instruments.safety import LimitGuard
from instruments.transports.scpi import ScpiTransport
from testbench.errors import BenchError, InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

MAX_LIST_STEPS = 100


@register_driver("ametek-rsmx")
class AmetekRsMx(GridEmulator):
    """A California Instruments RS/MX/CSW AC source."""

    COMMANDS: ClassVar[dict[str, str]] = {
        "voltage": "VOLT:AC {value}",
        "frequency": "FREQ {value}",
        "current_limit": "CURR {value}",
        "voltage_slew": "VOLT:SLEW {value}",                   # (verify) V/s
        "frequency_slew": "FREQ:SLEW {value}",                 # (verify) Hz/s
        "phase_angle": "PHAS {value}",                         # (verify) selected phase
        "couple_all": "INST:COUP ALL",                         # (verify)
        "select_phase": "INST:COUP NONE;:INST:NSEL {phase}",
        "measure_phase": "MEAS:VOLT:AC?;:MEAS:CURR:AC?;:MEAS:POW:AC?",
        "measure_frequency": "MEAS:FREQ?",
        "output": "OUTP {state}",
        "list_count": "LIST:COUN 1",                           # (verify)
        "list_dwell": "LIST:DWEL {values}",
        "list_voltage": "LIST:VOLT {values}",
        "list_frequency": "LIST:FREQ {values}",
        "list_modes": "VOLT:MODE LIST;:FREQ:MODE LIST",        # (verify)
        "list_arm": "INIT",
        "list_trigger": "TRIG",
        "list_stop": "ABOR;:VOLT:MODE FIX;:FREQ:MODE FIX",     # (verify) modes
    }

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

    # ------------------------------------------------------------------ helpers
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

    # ------------------------------------------------------------------ settings
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

    def set_phase_angle_deg(self, phase: int, angle_deg: float) -> None:
        command = self._cmd("phase_angle", value=format_setpoint(angle_deg))
        if not 2 <= phase <= self.phases:
            raise InstrumentError(self.name, command, None,
                                  f"phase angles are set for phases 2..{self.phases} "
                                  "(phase 1 is the reference)")
        with self._lock:
            self._scpi.write_checked(self._one_phase(phase, command))

    def set_slew(self, voltage_v_per_s: float | None = None,
                 frequency_hz_per_s: float | None = None) -> None:
        with self._lock:
            if voltage_v_per_s is not None:
                self._scpi.write_checked(self._all_phases(
                    self._cmd("voltage_slew", value=format_setpoint(voltage_v_per_s))))
            if frequency_hz_per_s is not None:
                self._scpi.write_checked(
                    self._cmd("frequency_slew", value=format_setpoint(frequency_hz_per_s)))

    def set_current_limit_a(self, limit_a: float) -> None:
        command = self._cmd("current_limit", value=format_setpoint(limit_a))
        self._guard.current(command, limit_a)
        with self._lock:
            self._scpi.write_checked(self._all_phases(command))

    def output(self, on: bool) -> None:
        with self._lock:
            self._scpi.write_checked(self._cmd("output", state="ON" if on else "OFF"))

    # ------------------------------------------------------------------ measurement
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

    # ------------------------------------------------------------------ list mode
    def program_list(self, steps: Sequence[Sequence[float]]) -> None:
        """Load a list program of (dwell_s, voltage_v, frequency_hz) steps.

        Every voltage is checked against the station limits before anything is sent.
        """
        command = self._cmd("list_voltage", values="...")
        if not steps or len(steps) > MAX_LIST_STEPS:
            raise InstrumentError(self.name, command, None,
                                  f"a list needs 1..{MAX_LIST_STEPS} steps, got {len(steps)}")
        parsed: list[tuple[float, float, float]] = []
        for n, step in enumerate(steps):
            if len(step) == 5 and (step[3] != step[1] or step[4] != step[2]):
                raise InstrumentError(self.name, command, None,
                                      f"step {n}: ramped steps are not supported by this "
                                      "driver; split the ramp into several steps")
            if len(step) not in (3, 5):
                raise InstrumentError(self.name, command, None,
                                      f"step {n}: expected (dwell_s, voltage_v, frequency_hz), "
                                      f"got {step!r}")
            dwell, voltage, frequency = (float(x) for x in step[:3])
            if dwell <= 0 or frequency <= 0:
                raise InstrumentError(self.name, command, None,
                                      f"step {n}: dwell and frequency must be positive: {step!r}")
            self._guard.voltage(self._cmd("list_voltage", values=format_setpoint(voltage)), voltage)
            parsed.append((dwell, voltage, frequency))
        column: Callable[[int], str] = lambda i: ",".join(format_setpoint(s[i]) for s in parsed)
        with self._lock:
            for line in (
                self._cmd("list_stop"),
                self._cmd("list_count"),
                self._cmd("list_dwell", values=column(0)),
                self._cmd("list_voltage", values=column(1)),
                self._cmd("list_frequency", values=column(2)),
                self._cmd("list_modes"),
            ):
                self._scpi.write_checked(line)

    def start_list(self) -> None:
        """Arm and trigger the loaded list."""
        with self._lock:
            self._scpi.write_checked(self._cmd("list_arm"))
            self._scpi.write_checked(self._cmd("list_trigger"))

    def stop_list(self) -> None:
        """Abort a running list and return to fixed mode."""
        with self._lock:
            self._scpi.write_checked(self._cmd("list_stop"))

    def run_list(self, steps: Sequence[Sequence[float]]) -> None:
        """Load and start a list program (see :meth:`program_list`)."""
        self.program_list(steps)
        self.start_list()

    # ------------------------------------------------------------------ safety
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
            steps = [lambda: self.output(False), self.stop_list]
        with self._lock:
            run_all(steps)

    def close(self) -> None:
        self._scpi.close()


