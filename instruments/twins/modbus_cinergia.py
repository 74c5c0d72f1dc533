"""Twin of a Cinergia GE&EL grid emulator on Modbus TCP, driving a GridPort.

Register map (32-bit values over two registers, high word first; the AC setpoint
addresses are this twin's choice and must match the driver's defaults, see
``instruments.drivers.cinergia_geel``, all marked (verify) against the vendor map):

    16000  state (uint32): 2 standby, 4 ready, 5 run, 7 alarm             read only
    17000  enable (uint32): 1 -> ready, 0 -> standby (output off)
    17002  run (uint32): 1 in ready -> run (output on), 0 -> ready
    17018  alarm reset (uint32 pulse): 1 in alarm -> standby
    17020  apply (uint32 pulse): 1 applies the staged AC setpoints
    18000/18002/18004  phase voltage setpoints, V rms (float)              (verify)
    18006  frequency setpoint, Hz (float)                                   (verify)
    18008/18010/18012  phase angle setpoints, degrees (float)               (verify)
    18014  current limit, A (float)                                         (verify)
    18016  voltage slew, V/s (float); 18018 frequency slew, Hz/s (float)     (verify)
    26094.. measured Urms per phase, 26106.. Irms, 26120.. P (float)
    26100  measured frequency, Hz (float)                                   (verify)

Setpoints are staged until an apply pulse. A voltage setpoint above the twin's rating
is refused with exception 3 (illegal data value). ``trip_alarm()`` puts it in alarm.
"""

from __future__ import annotations

import math

from pymodbus.constants import ExcCodes

from instruments.twins.modbus_server import ModbusTwin
from instruments.twins.ports import GridPort, SimpleGrid

STATE, ENABLE, RUN, ALARM_RESET, APPLY = 16000, 17000, 17002, 17018, 17020
STANDBY, READY, RUNNING, ALARM = 2, 4, 5, 7
SET_VOLTAGE, SET_FREQUENCY, SET_ANGLE, SET_CURRENT_LIMIT = 18000, 18006, 18008, 18014
SET_SLEW_V, SET_SLEW_HZ = 18016, 18018
MEAS_VOLTAGE, MEAS_CURRENT, MEAS_POWER, MEAS_FREQUENCY = 26094, 26106, 26120, 26100
_CONTROL = (ENABLE, RUN, ALARM_RESET, APPLY)
_SETPOINTS = range(SET_VOLTAGE, SET_SLEW_HZ + 2)


class CinergiaTwin(ModbusTwin):
    """A GE&EL grid emulator twin. ``port`` is the simulated grid node it drives."""

    def __init__(self, port: GridPort | None = None, phases: int = 3,
                 rated_voltage_v: float = 300.0, serial: str = "GE-0001") -> None:
        super().__init__(coil_count=16, holding_start=16000, holding_count=10200,
                         identity={0x00: "Cinergia", 0x01: "GE&EL", 0x02: "2.1",
                                   0x05: "GE&EL 50 (twin)", 0x80: serial})
        self.port: GridPort = port if port is not None else SimpleGrid(phases=phases)
        self.phases = phases
        self.rated_voltage_v = rated_voltage_v
        self.state = STANDBY
        for n in range(phases):
            self.set_float32(SET_VOLTAGE + 2 * n, 230.0)
            self.set_float32(SET_ANGLE + 2 * n, (0.0, -120.0, 120.0)[n % 3])
        self.set_float32(SET_FREQUENCY, 50.0)
        self.set_float32(SET_CURRENT_LIMIT, 32.0)

    @property
    def energised(self) -> bool:
        """True while the grid output is on."""
        return self.port.output_on()

    def trip_alarm(self) -> None:
        """Fault the emulator: alarm state, output off (cleared by an alarm-reset pulse)."""
        self.state = ALARM
        self.port.set_output(False)

    def _apply(self) -> None:
        for n in range(self.phases):
            self.port.set_voltage_v(self.get_float32(SET_VOLTAGE + 2 * n), n + 1)
            if n > 0:
                self.port.set_phase_angle_deg(n + 1, self.get_float32(SET_ANGLE + 2 * n))
        self.port.set_frequency_hz(self.get_float32(SET_FREQUENCY))
        self.port.set_current_limit_a(self.get_float32(SET_CURRENT_LIMIT))
        self.port.set_slew(self.get_float32(SET_SLEW_V) or None,
                           self.get_float32(SET_SLEW_HZ) or None)

    def on_write_registers(self, address: int, values: list[int]) -> ExcCodes | None:
        end = address + len(values)
        for item in range(address - address % 2, end, 2):
            if item in _CONTROL:
                self._control(item, self.get_uint32(item))
            elif item in _SETPOINTS:
                value = self.get_float32(item)
                if not math.isfinite(value) or value < 0:
                    return ExcCodes.ILLEGAL_VALUE
                if SET_VOLTAGE <= item < SET_FREQUENCY and value > self.rated_voltage_v:
                    return ExcCodes.ILLEGAL_VALUE
            else:
                return ExcCodes.ILLEGAL_ADDRESS  # state and measurements are read only
        return None

    def _control(self, register: int, value: int) -> None:
        if register == ENABLE:
            if value and self.state == STANDBY:
                self.state = READY
            elif not value and self.state in (READY, RUNNING):
                self.port.set_output(False)
                self.state = STANDBY
        elif register == RUN:
            if value and self.state == READY:
                self._apply()
                self.port.set_output(True)
                self.state = RUNNING
            elif not value and self.state == RUNNING:
                self.port.set_output(False)
                self.state = READY
        elif register == ALARM_RESET:
            if value and self.state == ALARM:
                self.state = STANDBY
        elif register == APPLY and value:
            self._apply()

    def before_read(self, address: int, count: int) -> None:
        self.set_uint32(STATE, self.state)
        sample = self.port.sample()
        for n in range(self.phases):
            phase = sample.phases[n] if n < len(sample.phases) else None
            self.set_float32(MEAS_VOLTAGE + 2 * n, phase.voltage_v if phase else 0.0)
            self.set_float32(MEAS_CURRENT + 2 * n, phase.current_a if phase else 0.0)
            self.set_float32(MEAS_POWER + 2 * n, phase.power_w if phase else 0.0)
        self.set_float32(MEAS_FREQUENCY, sample.frequency_hz)
