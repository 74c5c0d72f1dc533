"""Driver for Elektro-Automatik PSB 10000 (source-sink) and PSI 9000 DC supplies, SCPI front.

Resource: ``TCPIP::host::5025::SOCKET`` (Ethernet) or the USB/serial port as VISA resource.
Remote control is taken (``SYST:LOCK ON``) before the first setting; ``SYST:ERR?`` is read
after every setting. ``MEAS:ARR?`` answers with units (``24.00 V, 5.00 A, 120.00 W``),
which are parsed and checked. Closing the driver hands control back (``SYST:LOCK OFF``).

Options: ``sink`` (default true; false for a PSI 9000, which refuses sink limits above 0);
``commands``: overrides of entries of ``EaPsbScpi.COMMANDS`` (format fields in braces).
"""

from __future__ import annotations

import re
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
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Z]+)\s*$")
_PREFIX = {"": 1.0, "m": 1e-3, "k": 1e3}


def parse_quantity(text: str, unit: str) -> float:
    """``"24.00 V"`` -> 24.0 for ``unit="V"`` (also mV/kV); ValueError on anything else."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(text)
    symbol = match.group(2)
    if not symbol.endswith(unit) or symbol[: -len(unit)] not in _PREFIX:
        raise ValueError(text)
    return float(match.group(1)) * _PREFIX[symbol[: -len(unit)]]


@register_driver("ea-psb-scpi")
class EaPsbScpi(DCSource):
    """An EA PSB 10000 / PSI 9000 DC source(-sink) on SCPI."""

    COMMANDS: ClassVar[dict[str, str]] = {
        "remote": "SYST:LOCK ON",
        "local": "SYST:LOCK OFF",
        "voltage": "SOUR:VOLT {value}",
        "source_current": "SOUR:CURR {value}",
        "source_power": "SOUR:POW {value}",
        "sink_current": "SINK:CURR {value}",
        "sink_power": "SINK:POW {value}",
        "resistance": "SOUR:RES {value}",  # (verify) needs the resistance mode enabled
        "output": "OUTP {state}",
        "measure": "MEAS:ARR?",
    }

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits) -> None:
        self.name = spec.name
        self.limits = limits
        options = dict(spec.options)
        self.sink = bool(options.get("sink", True))
        self.commands = command_table(spec.name, self.COMMANDS, options.get("commands"))
        self._guard = LimitGuard(spec.name, limits)
        self._remote = False
        self._lock = threading.RLock()
        self._scpi = ScpiTransport(spec.name, spec.resource, timeout_s=spec.timeout_s)

    def _cmd(self, key: str, **fields: object) -> str:
        return self.commands[key].format(**fields)

    def _send(self, *commands: str) -> None:
        """Take remote control if not yet done, then send each command, checked."""
        with self._lock:
            if not self._remote:
                self._scpi.write_checked(self._cmd("remote"))
                self._remote = True
            for command in commands:
                self._scpi.write_checked(command)

    def identify(self) -> Identity:
        return parse_identity(self.name, self._scpi.query("*IDN?"))

    def set_voltage_v(self, voltage_v: float) -> None:
        command = self._cmd("voltage", value=format_setpoint(voltage_v))
        require_non_negative(self.name, command, voltage_v)
        self._guard.voltage(command, voltage_v)
        self._send(command)

    def set_current_limits_a(self, source_a: float, sink_a: float) -> None:
        source = self._cmd("source_current", value=format_setpoint(source_a))
        sink = self._cmd("sink_current", value=format_setpoint(sink_a))
        require_non_negative(self.name, source, source_a)
        require_non_negative(self.name, sink, sink_a)
        self._guard.current(source, source_a)
        self._guard.current(sink, sink_a)
        self._send(*self._with_sink(source, sink, sink_a))

    def set_power_limits_w(self, source_w: float, sink_w: float) -> None:
        source = self._cmd("source_power", value=format_setpoint(source_w))
        sink = self._cmd("sink_power", value=format_setpoint(sink_w))
        require_non_negative(self.name, source, source_w)
        require_non_negative(self.name, sink, sink_w)
        self._guard.power(source, source_w)
        self._guard.power(sink, sink_w)
        self._send(*self._with_sink(source, sink, sink_w))

    def _with_sink(self, source: str, sink: str, sink_value: float) -> list[str]:
        if self.sink:
            return [source, sink]
        if sink_value > 0:
            raise InstrumentError(self.name, sink, None,
                                  "this unit has no sink (option sink = false); "
                                  "set the sink limit to 0 or use a PSB")
        return [source]

    def set_internal_resistance_ohm(self, resistance_ohm: float) -> None:
        command = self._cmd("resistance", value=format_setpoint(resistance_ohm))
        require_non_negative(self.name, command, resistance_ohm)
        self._send(command)

    def output(self, on: bool) -> None:
        self._send(self._cmd("output", state="ON" if on else "OFF"))

    def measure(self) -> DCReading:
        command = self._cmd("measure")
        with self._lock:
            reply = self._scpi.query(command)
            acquired = time.time()
        fields = reply.split(",")
        try:
            if len(fields) != 3:
                raise ValueError(reply)
            v = parse_quantity(fields[0], "V")
            i = parse_quantity(fields[1], "A")
            p = parse_quantity(fields[2], "W")
        except ValueError:
            raise InstrumentError(self.name, command, reply,
                                  "expected '<U> V, <I> A, <P> W'") from None
        return DCReading(voltage_v=v, current_a=i, power_w=p, acquired_wall_s=acquired)

    def safe_state(self) -> None:
        """Output off (remote control is taken first if needed)."""
        self.output(False)

    def close(self) -> None:
        """Hand control back to the front panel (best effort) and close the session."""
        with self._lock:
            if self._remote:
                try:
                    self._scpi.write(self._cmd("local"))
                except InstrumentError:
                    pass
                self._remote = False
            self._scpi.close()


