"""Twin of an Elektro-Automatik PSB 10000 bidirectional DC source/sink on Modbus TCP.

Register map (raw setpoints and actual values: 0xCCCC = 100 % of nominal, accepted up to
0xD0E5 = 102 %):

    coil 402  remote control (1 = remote)
    coil 405  DC output (1 = on); refused with exception 3 unless in remote
    121/123/125  nominal voltage / current / power (float32, read only)
    498 / 499    sink power / sink current setpoints
    500/501/502  voltage / source current / source power setpoints (remote only)
    505-506      device state (uint32): bit 7 output on, bit 10 remote, bit 12 sink mode
                 (current flows into the unit), bit 15 alarm                    (verify)
    507/508/509  actual voltage / current / power (magnitudes; sign in bit 12)

The twin answers Read Device Identification (FC 43/14).
"""

from __future__ import annotations

from pymodbus.constants import ExcCodes

from instruments.twins.modbus_server import ModbusTwin
from instruments.twins.ports import DCPort, SimpleDC

FULL_SCALE = 0xCCCC
MAX_RAW = 0xD0E5
COIL_REMOTE, COIL_OUTPUT = 402, 405
NOMINAL_V, NOMINAL_A, NOMINAL_W = 121, 123, 125
SINK_P, SINK_I, SET_U, SET_I, SET_P = 498, 499, 500, 501, 502
STATE, ACTUAL_U, ACTUAL_I, ACTUAL_P = 505, 507, 508, 509
BIT_OUTPUT, BIT_REMOTE, BIT_SINK, BIT_ALARM = 1 << 7, 1 << 10, 1 << 12, 1 << 15
_SETPOINTS = (SINK_P, SINK_I, SET_U, SET_I, SET_P)


class EaPsbTwin(ModbusTwin):
    """A PSB 10000 twin; ``port`` is the simulated DC bus it drives."""

    def __init__(self, port: DCPort | None = None, nominal_v: float = 500.0,
                 nominal_a: float = 60.0, nominal_w: float = 30000.0,
                 serial: str = "PSB-0001") -> None:
        super().__init__(coil_count=416, holding_start=0, holding_count=600,
                         identity={0x00: "Elektro-Automatik", 0x01: "PSB 10000",
                                   0x02: "KE 3.10", 0x05: f"PSB 10{nominal_v:03.0f}-{nominal_a:.0f}",
                                   0x80: serial})
        self.port: DCPort = port if port is not None else SimpleDC()
        self.nominal = {SET_U: nominal_v, SET_I: nominal_a, SET_P: nominal_w,
                        SINK_I: nominal_a, SINK_P: nominal_w}
        self.alarm = False
        self.set_float32(NOMINAL_V, nominal_v)
        self.set_float32(NOMINAL_A, nominal_a)
        self.set_float32(NOMINAL_W, nominal_w)
        for register in (SET_I, SET_P, SINK_I, SINK_P):
            self.holding[register] = FULL_SCALE

    @property
    def energised(self) -> bool:
        """True while the DC output is on."""
        return self.port.output_on()

    def value(self, register: int) -> float:
        """A setpoint register in physical units."""
        return self.holding.get(register, 0) / FULL_SCALE * self.nominal[register]

    def on_write_coil(self, address: int, on: bool) -> ExcCodes | None:
        if address == COIL_REMOTE:
            if not on:
                self.port.set_output(False)
            return None
        if address == COIL_OUTPUT:
            if not self.coils[COIL_REMOTE] or (on and self.alarm):
                return ExcCodes.ILLEGAL_VALUE
            self.port.set_output(on)
            return None
        return ExcCodes.ILLEGAL_ADDRESS

    def before_read_coils(self) -> None:
        self.coils[COIL_OUTPUT] = self.port.output_on()

    def on_write_registers(self, address: int, values: list[int]) -> ExcCodes | None:
        for register in range(address, address + len(values)):
            if register not in _SETPOINTS:
                return ExcCodes.ILLEGAL_ADDRESS
            if not self.coils[COIL_REMOTE]:
                return ExcCodes.ILLEGAL_VALUE
            if self.holding[register] > MAX_RAW:
                return ExcCodes.ILLEGAL_VALUE
        self.port.set_voltage_v(self.value(SET_U))
        self.port.set_current_limits_a(self.value(SET_I), self.value(SINK_I))
        self.port.set_power_limits_w(self.value(SET_P), self.value(SINK_P))
        return None

    def before_read(self, address: int, count: int) -> None:
        voltage_v, current_a, power_w = self.port.measure()
        state = ((BIT_OUTPUT if self.port.output_on() else 0)
                 | (BIT_REMOTE if self.coils[COIL_REMOTE] else 0)
                 | (BIT_SINK if current_a < 0 else 0)
                 | (BIT_ALARM if self.alarm else 0))
        self.set_uint32(STATE, state)
        for register, value, nominal in ((ACTUAL_U, voltage_v, self.nominal[SET_U]),
                                         (ACTUAL_I, current_a, self.nominal[SET_I]),
                                         (ACTUAL_P, power_w, self.nominal[SET_P])):
            self.holding[register] = min(MAX_RAW, round(abs(value) / nominal * FULL_SCALE))
