"""Driver for Elektro-Automatik PSB 10000 (and PSI 9000) DC source/sinks over Modbus TCP.

Coil 402 remote, coil 405 DC output; holding registers 500/501/502 set voltage / source
current / source power, 498/499 sink power / sink current, 505-506 device state (uint32),
507/508/509 actual voltage / current / power. Setpoints and actual values are scaled so
that 0xCCCC = 100 % of the unit's nominal values, which are read at open from the float32
registers 121/123/125. Device-state bits used here (verify against the unit's register
list): bit 7 output on, bit 10 remote, bit 12 sink mode (current flows into the unit).

Options: ``device_id`` (default 1), ``word_order`` of the float registers (default big).
"""

from __future__ import annotations

import math
import time
from typing import Any

from instruments.contracts import DCReading, DCSource, Identity
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

FULL_SCALE = 0xCCCC
MAX_FRACTION = 1.02  # the units accept up to 102 % of nominal
COIL_REMOTE, COIL_OUTPUT = 402, 405
NOMINALS = 121
SINK_P, SINK_I, SET_U, SET_I, SET_P = 498, 499, 500, 501, 502
STATE, ACTUAL = 505, 507
BIT_OUTPUT, BIT_REMOTE, BIT_SINK = 1 << 7, 1 << 10, 1 << 12  # (verify)


@register_driver("ea-psb-modbus")
class EaPsbModbus(DCSource):
    """EA PSB 10000 bidirectional DC source/sink (battery emulator) on Modbus TCP."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits, *,
                 client: Any | None = None) -> None:
        self.name = spec.name
        self.guard = LimitGuard(spec.name, limits)
        options = dict(spec.options)
        self._mb = ModbusTransport(spec.name, spec.resource, timeout_s=spec.timeout_s,
                                   device_id=option_int(spec.name, options, "device_id", 1),
                                   word_order=option_word_order(spec.name, options),
                                   client=client)
        self._remote = False
        try:
            nominal = self._mb.read_float32(NOMINALS, 3)
        except InstrumentError:
            self._mb.close()
            raise
        if not all(math.isfinite(v) and v > 0 for v in nominal):
            self._mb.close()
            raise InstrumentError(self.name, f"read_holding_registers {NOMINALS} x6",
                                  repr(nominal), "nominal U/I/P must be positive numbers")
        self.nominal_v, self.nominal_a, self.nominal_w = nominal

    # ------------------------------------------------------------------ helpers
    def _raw(self, register: int, value: float, nominal: float, unit: str) -> int:
        if value < 0 or value > nominal * MAX_FRACTION:
            raise InstrumentError(
                self.name, f"write_register {register}", None,
                f"{value:g} {unit} is outside the unit's range 0..{nominal * MAX_FRACTION:g} "
                f"{unit} (nominal {nominal:g} {unit}); nothing sent")
        return round(value / nominal * FULL_SCALE)

    def _ensure_remote(self) -> None:
        if not self._remote:
            self._mb.write_coil(COIL_REMOTE, True)
            self._remote = True

    def state(self) -> int:
        """The 32-bit device state register (505-506)."""
        return self._mb.read_uint32(STATE)

    # ------------------------------------------------------------------ contract
    def identify(self) -> Identity:
        """Device identification (FC 43/14); else the nominal ratings read at open."""
        try:
            return Identity(*identity_fields(self._mb.read_device_identification()))
        except InstrumentError as exc:
            if not is_exception_reply(exc):
                raise
        nominal = self._mb.read_float32(NOMINALS, 3)
        return Identity("Elektro-Automatik",
                        f"PSB {nominal[0]:g} V / {nominal[1]:g} A / {nominal[2]:g} W",
                        "unknown", "unknown")

    def set_voltage_v(self, voltage_v: float) -> None:
        self.guard.voltage(f"write_register {SET_U}", voltage_v)
        raw = self._raw(SET_U, voltage_v, self.nominal_v, "V")
        self._ensure_remote()
        self._mb.write_register(SET_U, raw)

    def set_current_limits_a(self, source_a: float, sink_a: float) -> None:
        self.guard.current(f"write_register {SET_I}", source_a)
        self.guard.current(f"write_register {SINK_I}", sink_a)
        raw_source = self._raw(SET_I, source_a, self.nominal_a, "A")
        raw_sink = self._raw(SINK_I, sink_a, self.nominal_a, "A")
        self._ensure_remote()
        self._mb.write_register(SET_I, raw_source)
        self._mb.write_register(SINK_I, raw_sink)

    def set_power_limits_w(self, source_w: float, sink_w: float) -> None:
        self.guard.power(f"write_register {SET_P}", source_w)
        self.guard.power(f"write_register {SINK_P}", sink_w)
        raw_source = self._raw(SET_P, source_w, self.nominal_w, "W")
        raw_sink = self._raw(SINK_P, sink_w, self.nominal_w, "W")
        self._ensure_remote()
        self._mb.write_register(SET_P, raw_source)
        self._mb.write_register(SINK_P, raw_sink)

    def output(self, on: bool) -> None:
        """Switch the DC output; switching off is confirmed from the device state."""
        self._ensure_remote()
        self._mb.write_coil(COIL_OUTPUT, on)
        if not on and self.state() & BIT_OUTPUT:
            raise InstrumentError(self.name, f"write_coil {COIL_OUTPUT}", "output still on",
                                  "the DC output did not switch off")

    def measure(self) -> DCReading:
        acquired_wall_s = time.time()
        raw_u, raw_i, raw_p = self._mb.read_holding(ACTUAL, 3)
        sign = -1.0 if self.state() & BIT_SINK else 1.0
        return DCReading(raw_u / FULL_SCALE * self.nominal_v,
                         sign * raw_i / FULL_SCALE * self.nominal_a,
                         sign * raw_p / FULL_SCALE * self.nominal_w,
                         acquired_wall_s)

    def safe_state(self) -> None:
        """DC output off (confirmed)."""
        self.output(False)

    def close(self) -> None:
        self._mb.close()
