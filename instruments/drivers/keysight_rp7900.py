"""Driver for Keysight RP7900 regenerative DC power supplies (RP7931A ... RP7953A).

SCPI over pyvisa (``TCPIP::host::inst0::INSTR`` or ``TCPIP::host::5025::SOCKET``). The unit
runs as a battery emulator in voltage priority (``SOUR:FUNC VOLT``, sent before the first
setting): the voltage setpoint is ``SOUR:VOLT:LEV``, the source current limit the positive
current limit and the sink current limit the negative one (a negative number on the wire)
(verify both against your firmware; in current priority the setpoint is ``SOUR:CURR:LEV``,
configurable through ``commands.source_current``). ``SYST:ERR?`` is read after every
setting; measurement is ``MEAS:VOLT?`` and ``MEAS:CURR?``.

Options: ``commands``: overrides of entries of ``KeysightRP7900.COMMANDS`` (format fields in
braces: ``{value}`` is the magnitude, ``{negative}`` minus the magnitude, ``{state}``).
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from instruments.contracts import DCReading, DCSource, Identity
from instruments.driver_support import (
    command_table,
    format_setpoint,
    parse_identity,
    require_non_negative,
)
from instruments.registry import register_driver
from instruments.safety import LimitGuard
from instruments.transports.scpi import ScpiTransport
from testbench.lab.model import InstrumentSpec, SafetyLimits


@register_driver("keysight-rp7900")
class KeysightRP7900(DCSource):
    """A Keysight RP7900-series regenerative DC supply."""

    COMMANDS: ClassVar[dict[str, str]] = {
        "priority": "SOUR:FUNC VOLT",
        "voltage": "SOUR:VOLT:LEV {value}",
        "source_current": "SOUR:CURR:LIM {value}",          # (verify) positive limit
        "sink_current": "SOUR:CURR:LIM:NEG {negative}",     # (verify) negative number
        "source_power": "SOUR:POW:LIM {value}",             # (verify)
        "sink_power": "SOUR:POW:LIM:NEG {negative}",        # (verify)
        "resistance": "SOUR:RES {value};:SOUR:RES:STAT {state}",  # (verify)
        "output": "OUTP:STAT {state}",
        "measure_voltage": "MEAS:VOLT?",
        "measure_current": "MEAS:CURR?",
    }

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits) -> None:
        self.name = spec.name
        self.limits = limits
        self.commands = command_table(spec.name, self.COMMANDS, spec.options.get("commands"))
        self._guard = LimitGuard(spec.name, limits)
        self._priority_set = False
        self._lock = threading.RLock()
        self._scpi = ScpiTransport(spec.name, spec.resource, timeout_s=spec.timeout_s)

    def _cmd(self, key: str, value: float = 0.0, state: str = "") -> str:
        return self.commands[key].format(value=format_setpoint(value), negative=format_setpoint(-value), state=state)

    def _send(self, *commands: str) -> None:
        """Select voltage priority once, then send each command, checked."""
        with self._lock:
            if not self._priority_set:
                self._scpi.write_checked(self._cmd("priority"))
                self._priority_set = True
            for command in commands:
                self._scpi.write_checked(command)

    def identify(self) -> Identity:
        return parse_identity(self.name, self._scpi.query("*IDN?"))

    def set_voltage_v(self, voltage_v: float) -> None:
        command = self._cmd("voltage", voltage_v)
        require_non_negative(self.name, command, voltage_v)
        self._guard.voltage(command, voltage_v)
        self._send(command)

    def set_current_limits_a(self, source_a: float, sink_a: float) -> None:
        source = self._cmd("source_current", source_a)
        sink = self._cmd("sink_current", sink_a)
        require_non_negative(self.name, source, source_a)
        require_non_negative(self.name, sink, sink_a)
        self._guard.current(source, source_a)
        self._guard.current(sink, sink_a)
        self._send(source, sink)

    def set_power_limits_w(self, source_w: float, sink_w: float) -> None:
        source = self._cmd("source_power", source_w)
        sink = self._cmd("sink_power", sink_w)
        require_non_negative(self.name, source, source_w)
        require_non_negative(self.name, sink, sink_w)
        self._guard.power(source, source_w)
        self._guard.power(sink, sink_w)
        self._send(source, sink)

    def set_internal_resistance_ohm(self, resistance_ohm: float) -> None:
        command = self._cmd("resistance", resistance_ohm, "1" if resistance_ohm > 0 else "0")
        require_non_negative(self.name, command, resistance_ohm)
        self._send(command)

    def output(self, on: bool) -> None:
        with self._lock:
            self._scpi.write_checked(self._cmd("output", state="1" if on else "0"))

    def measure(self) -> DCReading:
        with self._lock:
            v = self._scpi.query_float(self._cmd("measure_voltage"))
            i = self._scpi.query_float(self._cmd("measure_current"))
            acquired = time.time()
        return DCReading(voltage_v=v, current_a=i, power_w=v * i, acquired_wall_s=acquired)

    def safe_state(self) -> None:
        """Output off."""
        self.output(False)

    def close(self) -> None:
        self._scpi.close()


