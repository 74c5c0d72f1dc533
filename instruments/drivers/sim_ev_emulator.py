"""Driver for the testbench station I/O box: EV emulator (control pilot) and RFID presenter.

The box speaks SCPI over a TCP socket (``TCPIP::host::port::SOCKET``). In the simulated
lab a twin of it sits in front of each simulated charger; the same driver would drive a
hardware box implementing the same command set.
"""

from __future__ import annotations

from instruments.contracts import EVEmulator, Identity, PilotReading, RfidReader, SupplySwitch
from instruments.registry import register_driver
from instruments.transports.scpi import ScpiTransport
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

_EV_STATES = ("A", "B", "C", "D", "E")
_LINE_STATES = ("A1", "A2", "B1", "B2", "C1", "C2", "D1", "D2", "E", "F")
_NO_DATA = 9.9e37  # SCPI 9.91E+37: nothing measured


@register_driver("sim-ev-emulator")
class StationIOBox(EVEmulator, RfidReader, SupplySwitch):
    """EV emulator + RFID presenter + charger supply switch, with a SCPI command set."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits) -> None:
        self.name = spec.name
        self.limits = limits
        self._scpi = ScpiTransport(spec.name, spec.resource, timeout_s=spec.timeout_s)

    def identify(self) -> Identity:
        reply = self._scpi.query("*IDN?")
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) != 4:
            raise InstrumentError(self.name, "*IDN?", reply, "expected maker,model,serial,firmware")
        return Identity(*parts)

    def select_ev(self, ev_id: str) -> None:
        self._scpi.write_checked(f"EV:PROF {ev_id}")

    def set_cp_state(self, state: str) -> None:
        if state not in _EV_STATES:
            raise InstrumentError(self.name, f"CP:STAT {state}", None,
                                  f"EV-side pilot state must be one of {', '.join(_EV_STATES)}")
        self._scpi.write_checked(f"CP:STAT {state}")

    def cp_state(self) -> str:
        reply = self._scpi.query("CP:STAT?")
        if not reply or reply[0] not in "ABCDEF":
            raise InstrumentError(self.name, "CP:STAT?", reply, "not a pilot state (A1..F)")
        return reply

    def duty_cycle_pct(self) -> float:
        return self._scpi.query_float("CP:DUTY?")

    def current_a(self) -> float:
        return self._scpi.query_float("MEAS:CURR?")

    def contactor_closed(self) -> bool:
        return self._flag("MEAS:CONT?")

    def contactor_delay_s(self) -> tuple[float | None, bool]:
        reply = self._scpi.query("MEAS:CONT:DEL?")
        parts = reply.split(",")
        try:
            delay_s, state = float(parts[0]), parts[1].strip()
        except (IndexError, ValueError):
            raise InstrumentError(self.name, "MEAS:CONT:DEL?", reply,
                                  "expected <seconds>,<0|1>") from None
        if state not in ("0", "1"):
            raise InstrumentError(self.name, "MEAS:CONT:DEL?", reply, "state must be 0 or 1")
        return (None if delay_s >= _NO_DATA else delay_s), state == "1"

    def set_diode_short(self, shorted: bool) -> None:
        self._scpi.write_checked(f"CP:DIOD:SHOR {1 if shorted else 0}")

    def pilot_reading(self) -> PilotReading:
        reply = self._scpi.query("MEAS:PIL?")
        parts = [p.strip() for p in reply.split(",")]
        try:
            state, duty, live, current = parts[0], float(parts[1]), parts[2], float(parts[3])
        except (IndexError, ValueError):
            raise InstrumentError(self.name, "MEAS:PIL?", reply,
                                  "expected <state>,<duty %>,<0|1>,<current A>") from None
        if state not in _LINE_STATES or live not in ("0", "1"):
            raise InstrumentError(self.name, "MEAS:PIL?", reply,
                                  f"state must be one of {', '.join(_LINE_STATES)}, "
                                  "outlet sense 0 or 1")
        return PilotReading(state, duty, live == "1", current)

    def _flag(self, query: str) -> bool:
        reply = self._scpi.query(query)
        if reply not in ("0", "1"):
            raise InstrumentError(self.name, query, reply, "expected 0 or 1")
        return reply == "1"

    def present(self, id_token: str) -> None:
        self._scpi.write_checked(f"RFID:PRES {id_token}")

    def set_supply(self, on: bool) -> None:
        self._scpi.write_checked(f"PWR:STAT {1 if on else 0}")

    def power_cycle(self, off_s: float) -> None:
        self._scpi.write_checked(f"PWR:CYCL {off_s:g}")

    def safe_state(self) -> None:
        """Unplug the EV (``*RST``); the charger's supply is left as it is."""
        self._scpi.write("*RST")
        self._scpi.check_errors("*RST")

    def close(self) -> None:
        self._scpi.close()
