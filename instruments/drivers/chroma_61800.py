"""Driver for Chroma 61800 / 61845 regenerative grid simulators (SCPI over pyvisa).

Per-phase settings select the phase with ``INST:COUP NONE;:INST:NSEL n`` (verify);
settings for every phase first couple them with ``INST:COUP ALL`` (both sent in one
compound line). The output is switched on with ``OUTP:REL ON`` then ``OUTP:STAT ON`` and
off in the reverse order. ``SYST:ERR?`` is read after every setting. Slew rates are sent in
V/ms and Hz/ms.

List mode (the stimulus programs): :meth:`Chroma61800.program_list` loads steps
``(dwell_s, voltage_v, frequency_hz[, end_voltage_v, end_frequency_hz])`` - a step ramps
linearly from its start to its end values - :meth:`start_list` runs them (``TRIG ON``),
:meth:`stop_list` stops (``TRIG OFF`` and ``OUTP:MODE FIXED``).

Options: ``phases`` (default 3); ``safe_state`` = ``"off"`` (default) or ``"nominal"``
(``nominal_voltage_v`` 230 V, ``nominal_frequency_hz`` 50 Hz, output left on);
``list_dwell_unit_s`` (seconds per unit of ``LIST:DWEL``, default 0.001 = ms) (verify);
``commands``: overrides of entries of ``Chroma61800.COMMANDS`` (format fields in braces).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from instruments.driver_support import format_setpoint
from instruments.registry import register_driver
from instruments.scpi_grid import ScpiGridEmulator
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

MAX_LIST_STEPS = 100


@register_driver("chroma-61800")
class Chroma61800(ScpiGridEmulator):
    """A Chroma 61800-family grid simulator."""

    COMMANDS: ClassVar[dict[str, str]] = {
        "voltage": "SOUR:VOLT:LEV:IMM:AMPL:AC {value}",
        "frequency": "SOUR:FREQ {value}",
        "current_limit": "SOUR:CURR:LIM {value}",
        "voltage_slew": "OUTP:SLEW:VOLT:AC {value}",           # V/ms
        "frequency_slew": "OUTP:SLEW:FREQ {value}",            # Hz/ms
        "phase_angle": "SOUR:PHAS:P{phase} {value}",           # (verify)
        "couple_all": "INST:COUP ALL",                         # (verify)
        "select_phase": "INST:COUP NONE;:INST:NSEL {phase}",   # (verify)
        "measure_phase": "FETC:VOLT:ACDC?;:FETC:CURR:AC?;:FETC:POW:AC?",  # (verify on 61800)
        "measure_frequency": "FETC:FREQ?",
        "relay": "OUTP:REL {state}",
        "state": "OUTP:STAT {state}",
        "list_prepare": "TRIG OFF;:OUTP:MODE FIXED",
        "list_count": "LIST:COUN 1",                           # (verify)
        "list_base": "LIST:BASE TIME",                         # (verify)
        "list_dwell": "LIST:DWEL {values}",                    # (verify) unit: ms
        "list_voltage_start": "LIST:VOLT:AC:STAR {values}",
        "list_voltage_end": "LIST:VOLT:AC:END {values}",
        "list_frequency_start": "LIST:FREQ:STAR {values}",
        "list_frequency_end": "LIST:FREQ:END {values}",
        "list_mode": "OUTP:MODE LIST",
        "list_start": "TRIG ON",
        "list_stop": "TRIG OFF;:OUTP:MODE FIXED",
    }

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits) -> None:
        super().__init__(spec, limits)
        options = dict(spec.options)
        self.dwell_unit_s = float(options.get("list_dwell_unit_s", 0.001))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ settings
    def set_phase_angle_deg(self, phase: int, angle_deg: float) -> None:
        command = self._cmd("phase_angle", phase=phase, value=format_setpoint(angle_deg))
        if not 2 <= phase <= self.phases:
            raise InstrumentError(self.name, command, None,
                                  f"phase angles are set for phases 2..{self.phases} "
                                  "(phase 1 is the reference)")
        with self._lock:
            self._scpi.write_checked(command)

    def set_slew(self, voltage_v_per_s: float | None = None,
                 frequency_hz_per_s: float | None = None) -> None:
        with self._lock:
            if voltage_v_per_s is not None:
                self._scpi.write_checked(self._all_phases(
                    self._cmd("voltage_slew", value=format_setpoint(voltage_v_per_s / 1000.0))))
            if frequency_hz_per_s is not None:
                self._scpi.write_checked(self._all_phases(
                    self._cmd("frequency_slew", value=format_setpoint(frequency_hz_per_s / 1000.0))))

    def output(self, on: bool) -> None:
        state = "ON" if on else "OFF"
        order = ("relay", "state") if on else ("state", "relay")
        with self._lock:
            for key in order:
                self._scpi.write_checked(self._cmd(key, state=state))

    # ------------------------------------------------------------------ measurement
    # ------------------------------------------------------------------ list mode
    def program_list(self, steps: Sequence[Sequence[float]]) -> None:
        """Load a list program; each step is (dwell_s, voltage_v, frequency_hz[, end_v, end_hz]).

        Every voltage is checked against the station limits before anything is sent.
        """
        parsed = _list_steps(self.name, self._cmd("list_dwell", values="..."), steps)
        for _dwell, v0, _f0, v1, _f1 in parsed:
            for v in (v0, v1):
                self._guard.voltage(self._cmd("list_voltage_start", values=format_setpoint(v)), v)
        column: Callable[[int], str] = lambda i: ",".join(format_setpoint(s[i]) for s in parsed)
        dwell = ",".join(format_setpoint(s[0] / self.dwell_unit_s) for s in parsed)
        with self._lock:
            for command in (
                self._cmd("list_prepare"),
                self._cmd("list_count"),
                self._cmd("list_base"),
                self._cmd("list_dwell", values=dwell),
                self._cmd("list_voltage_start", values=column(1)),
                self._cmd("list_voltage_end", values=column(3)),
                self._cmd("list_frequency_start", values=column(2)),
                self._cmd("list_frequency_end", values=column(4)),
                self._cmd("list_mode"),
            ):
                self._scpi.write_checked(command)

    def start_list(self) -> None:
        """Run the loaded list (``TRIG ON``)."""
        with self._lock:
            self._scpi.write_checked(self._cmd("list_start"))

    def stop_list(self) -> None:
        """Stop a running list and return to fixed mode."""
        with self._lock:
            self._scpi.write_checked(self._cmd("list_stop"))

    # ------------------------------------------------------------------ safety
    def _output_off_steps(self) -> list[Callable[[], None]]:
        """Output state off first, then the output relay (the order the manual gives)."""
        return [lambda: self._scpi.write_checked(self._cmd("state", state="OFF")),
                lambda: self._scpi.write_checked(self._cmd("relay", state="OFF"))]


def _list_steps(name: str, command: str,
                steps: Sequence[Sequence[float]]) -> list[tuple[float, float, float, float, float]]:
    if not steps or len(steps) > MAX_LIST_STEPS:
        raise InstrumentError(name, command, None,
                              f"a list needs 1..{MAX_LIST_STEPS} steps, got {len(steps)}")
    parsed = []
    for n, step in enumerate(steps):
        if len(step) not in (3, 5):
            raise InstrumentError(name, command, None,
                                  f"step {n}: expected (dwell_s, voltage_v, frequency_hz"
                                  f"[, end_voltage_v, end_frequency_hz]), got {step!r}")
        dwell, v0, f0 = (float(x) for x in step[:3])
        v1, f1 = (float(step[3]), float(step[4])) if len(step) == 5 else (v0, f0)
        if dwell <= 0 or f0 <= 0 or f1 <= 0:
            raise InstrumentError(name, command, None,
                                  f"step {n}: dwell and frequencies must be positive: {step!r}")
        parsed.append((dwell, v0, f0, v1, f1))
    return parsed
