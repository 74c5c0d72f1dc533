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

from collections.abc import Callable, Sequence
from typing import ClassVar

from instruments.driver_support import format_setpoint
from instruments.registry import register_driver
from instruments.scpi_grid import ScpiGridEmulator
from testbench.errors import InstrumentError

MAX_LIST_STEPS = 100


@register_driver("ametek-rsmx")
class AmetekRsMx(ScpiGridEmulator):
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

    # ------------------------------------------------------------------ settings
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

    def output(self, on: bool) -> None:
        with self._lock:
            self._scpi.write_checked(self._cmd("output", state="ON" if on else "OFF"))

    # ------------------------------------------------------------------ measurement
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

    # ------------------------------------------------------------------ safety
    def _output_off_steps(self) -> list[Callable[[], None]]:
        return [lambda: self.output(False)]
