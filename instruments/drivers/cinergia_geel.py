"""Driver for the Cinergia GE&EL grid emulator over Modbus TCP (port 502).

All values are 32 bits over two registers (float32 or uint32, high word first unless
option ``word_order = "little"``). Documented registers: state 16000 (2 standby, 4 ready,
5 run, 7 alarm), enable 17000, run 17002, alarm-reset pulse 17018, apply pulse 17020,
measured Urms / Irms / P per phase at 26094 / 26106 / 26120.

The AC setpoint registers come from the vendor's map of each unit and are options with
these defaults, all (verify) against the unit's map before use on hardware:

    reg_voltage_v = 18000          phase n at +2(n-1), V rms
    reg_frequency_hz = 18006
    reg_phase_angle_deg = 18008    phase n at +2(n-1), degrees
    reg_current_limit_a = 18014
    reg_slew_v_per_s = 18016
    reg_slew_hz_per_s = 18018
    reg_measured_frequency_hz = 26100

Other options: ``phases`` (default 3), ``device_id`` (default 1), ``model``.
Every setpoint write is followed by an apply pulse (1 then 0 at 17020).
"""

from __future__ import annotations

import time
from typing import Any

from instruments.contracts import GridEmulator, GridReading, Identity
from instruments.registry import register_driver
from instruments.safety import LimitGuard
from instruments.transports.modbus import (
    ModbusTransport,
    identity_fields,
    is_exception_reply,
    option_int,
    option_word_order,
)
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

STATE, ENABLE, RUN, ALARM_RESET, APPLY = 16000, 17000, 17002, 17018, 17020
MEAS_VOLTAGE, MEAS_CURRENT, MEAS_POWER = 26094, 26106, 26120
STATE_NAMES = {2: "standby", 4: "ready", 5: "run", 7: "alarm"}
STANDBY, READY, RUNNING, ALARM = 2, 4, 5, 7

DEFAULT_MAP: dict[str, int] = {  # (verify) every entry against the unit's vendor map
    "reg_voltage_v": 18000,
    "reg_frequency_hz": 18006,
    "reg_phase_angle_deg": 18008,
    "reg_current_limit_a": 18014,
    "reg_slew_v_per_s": 18016,
    "reg_slew_hz_per_s": 18018,
    "reg_measured_frequency_hz": 26100,
}


@register_driver("cinergia-geel")
class CinergiaGridEmulator(GridEmulator):
    """Cinergia GE&EL in grid-emulator (AC source) mode."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits, *,
                 client: Any | None = None) -> None:
        self.name = spec.name
        self.guard = LimitGuard(spec.name, limits)
        options = dict(spec.options)
        self.phases = option_int(spec.name, options, "phases", 3)
        self.regs = {key: option_int(spec.name, options, key, default)
                     for key, default in DEFAULT_MAP.items()}
        self._model = str(options.get("model", "GE&EL"))
        self._state_timeout_s = float(options.get("state_timeout_s", spec.timeout_s))  # type: ignore[arg-type]
        self._mb = ModbusTransport(spec.name, spec.resource, timeout_s=spec.timeout_s,
                                   device_id=option_int(spec.name, options, "device_id", 1),
                                   word_order=option_word_order(spec.name, options),
                                   client=client)

    # ------------------------------------------------------------------ identity, state
    def identify(self) -> Identity:
        """Device identification (FC 43/14); units without it: read the state register."""
        try:
            return Identity(*identity_fields(self._mb.read_device_identification()))
        except InstrumentError as exc:
            if not is_exception_reply(exc):
                raise
        self.state()  # proves the unit answers with a valid operating state
        return Identity("Cinergia", self._model, "unknown", "unknown")

    def state(self) -> int:
        """The operating state: 2 standby, 4 ready, 5 run, 7 alarm."""
        value = self._mb.read_uint32(STATE)
        if value not in STATE_NAMES:
            raise InstrumentError(self.name, f"read_holding_registers {STATE} x2", str(value),
                                  "unknown operating state (expected 2, 4, 5 or 7)")
        return value

    def _wait_state(self, wanted: tuple[int, ...], after: str) -> int:
        deadline = time.monotonic() + self._state_timeout_s
        while True:
            state = self.state()
            if state in wanted:
                return state
            if state == ALARM and ALARM not in wanted:
                raise InstrumentError(self.name, after, "state 7 (alarm)",
                                      "the emulator is in alarm; clear the cause, then "
                                      "reset_alarm()")
            if time.monotonic() > deadline:
                names = " or ".join(STATE_NAMES[w] for w in wanted)
                raise InstrumentError(self.name, after, f"state {state} ({STATE_NAMES[state]})",
                                      f"did not reach {names} within {self._state_timeout_s:g} s")
            time.sleep(0.02)

    def reset_alarm(self) -> None:
        """Pulse the alarm reset (1 then 0 at 17018) and wait for standby."""
        self._mb.write_uint32(ALARM_RESET, 1)
        self._mb.write_uint32(ALARM_RESET, 0)
        self._wait_state((STANDBY,), f"write_registers {ALARM_RESET} x2")

    # ------------------------------------------------------------------ setpoints
    def _write_setpoint(self, register: int, value: float) -> None:
        self._mb.write_float32(register, value)
        self._mb.write_uint32(APPLY, 1)
        self._mb.write_uint32(APPLY, 0)

    def _phase_register(self, key: str, phase: int) -> int:
        if not 1 <= phase <= self.phases:
            raise InstrumentError(self.name, f"{key} phase {phase}", None,
                                  f"phase must be 1..{self.phases}")
        return self.regs[key] + 2 * (phase - 1)

    def set_voltage_v(self, voltage_v: float, phase: int | None = None) -> None:
        phases = range(1, self.phases + 1) if phase is None else (phase,)
        registers = [self._phase_register("reg_voltage_v", p) for p in phases]
        for register in registers:  # check every phase before sending anything
            self.guard.voltage(f"write_registers {register} x2", voltage_v)
        for register in registers:
            self._mb.write_float32(register, voltage_v)
        self._mb.write_uint32(APPLY, 1)
        self._mb.write_uint32(APPLY, 0)

    def set_frequency_hz(self, frequency_hz: float) -> None:
        register = self.regs["reg_frequency_hz"]
        if not 0 < frequency_hz <= 100:
            raise InstrumentError(self.name, f"write_registers {register} x2", None,
                                  f"frequency {frequency_hz:g} Hz is outside 0..100 Hz; "
                                  "nothing sent")
        self._write_setpoint(register, frequency_hz)

    def set_phase_angle_deg(self, phase: int, angle_deg: float) -> None:
        self._write_setpoint(self._phase_register("reg_phase_angle_deg", phase), angle_deg)

    def set_slew(self, voltage_v_per_s: float | None = None,
                 frequency_hz_per_s: float | None = None) -> None:
        if voltage_v_per_s is not None:
            self._write_setpoint(self.regs["reg_slew_v_per_s"], voltage_v_per_s)
        if frequency_hz_per_s is not None:
            self._write_setpoint(self.regs["reg_slew_hz_per_s"], frequency_hz_per_s)

    def set_current_limit_a(self, limit_a: float) -> None:
        register = self.regs["reg_current_limit_a"]
        self.guard.current(f"write_registers {register} x2", limit_a)
        self._write_setpoint(register, limit_a)

    # ------------------------------------------------------------------ output
    def output(self, on: bool) -> None:
        """On: enable, wait ready, run, wait run. Off: run 0, enable 0, wait standby."""
        if on:
            if self.state() == ALARM:
                raise InstrumentError(self.name, f"write_registers {ENABLE} x2", "state 7 (alarm)",
                                      "cannot switch on in alarm; reset_alarm() first")
            self._mb.write_uint32(ENABLE, 1)
            self._wait_state((READY, RUNNING), f"write_registers {ENABLE} x2")
            self._mb.write_uint32(RUN, 1)
            self._wait_state((RUNNING,), f"write_registers {RUN} x2")
        else:
            self._mb.write_uint32(RUN, 0)
            self._mb.write_uint32(ENABLE, 0)
            self._wait_state((STANDBY, ALARM), f"write_registers {ENABLE} x2")

    def measure(self) -> GridReading:
        n = self.phases
        acquired_wall_s = time.time()
        voltage = self._mb.read_float32(MEAS_VOLTAGE, n)
        current = self._mb.read_float32(MEAS_CURRENT, n)
        power = self._mb.read_float32(MEAS_POWER, n)
        frequency = self._mb.read_float32(self.regs["reg_measured_frequency_hz"], 1)[0]
        return GridReading(tuple(voltage), tuple(current), tuple(power), frequency,
                           acquired_wall_s)

    def safe_state(self) -> None:
        """Output off (run 0, enable 0) and confirm the emulator left run."""
        self.output(False)

    def close(self) -> None:
        self._mb.close()
