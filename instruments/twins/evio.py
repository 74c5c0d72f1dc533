"""Twin of the station I/O box: an EV emulator (control pilot) plus an RFID presenter.

One box sits in front of one charger connector. It speaks SCPI lines over TCP; the
simulated lab backs it with its model of the connector and the EV (``StationIo``).

Command set (headers case insensitive; long forms in brackets are optional):

    *IDN?                 testbench,SIM-EVIO,<charger-id>,0.1
    *RST                  unplug (state A) and clear the EV profile
    *CLS, *OPC, *OPC?, *ESR?, *WAI
    SYST:ERR?             0,"No error" | -113,"Undefined header" | ... (FIFO of 30)
    SYST:KEEP             keep-alive, accepted and ignored (reserved)
    EV:PROF <ev-id>       select the inventory EV the emulator plays (-224 if unknown)
    EV:PROF?              the selected EV id, or NONE
    CP:STAT <A|B|C|D|E>   EV side of the pilot (-221 for B/C/D without an EV profile)
    CP:STAT?              line state: A1 A2 B1 B2 C1 C2 D1 D2 E F (2 = PWM on)
    CP:DUTY?              PWM duty cycle in percent, NR2 (100.0 when no PWM)
    CP:DIOD:SHOR <0|1>    short (1) or restore (0) the EV's pilot diode (a charger shows F)
    CP:DIOD:SHOR?         1 while the diode is shorted, else 0
    MEAS:CONT?            1 when the outlet is live (the charger's contactor closed), else 0
    MEAS:CONT:DEL?        <s>,<0|1>: (lab) seconds from the last pilot command (CP:STAT,
                          CP:DIOD:SHOR) to the contactor's next switching and its new state;
                          9.91E+37,<0|1> when it has not switched since
    MEAS:PIL?             <state>,<duty %>,<outlet live 0|1>,<EV current A>: one pilot sample
    MEAS:CURR?            current the EV draws per phase, A, NR3
    MEAS:PHAS?            number of phases drawing current, NR1
    MEAS:POW?             active power the EV draws, W, NR3
    RFID:PRES <token>     present a card to the charger's reader
    PWR:STAT <0|1>        switch the charger's mains supply off / on
    PWR:STAT?             1 when the charger is supplied, else 0
    PWR:CYCL <off_s>      supply off now, on again after off_s (lab) seconds
"""

from __future__ import annotations

from typing import Protocol

from instruments.twins.scpi import ScpiDevice, ScpiError, nr3

EV_STATES = ("A", "B", "C", "D", "E")
NO_DATA = 9.91e37
"""SCPI "no data" value (the contactor has not switched since the last pilot command)."""
FIRMWARE = "0.1"


class StationIo(Protocol):
    """What the simulated lab exposes to the box for one charger connector."""

    charger_id: str

    def ev_ids(self) -> list[str]:
        """The inventory EV ids the emulator can play."""

    def selected_ev(self) -> str | None:
        """The EV profile in use, or None."""

    def select_ev(self, ev_id: str | None) -> None:
        """Play the inventory EV ``ev_id`` (None: no profile)."""

    def set_ev_state(self, state: str) -> None:
        """Drive the EV side of the pilot: A, B, C, D or E."""

    def pilot_state(self) -> str:
        """Line state as seen on the pilot, e.g. ``A1``, ``B2``, ``F``."""

    def duty_cycle_pct(self) -> float:
        """PWM duty cycle the charger applies (100 without PWM)."""

    def ev_current_a(self) -> float:
        """Current the EV draws per phase."""

    def ev_phases(self) -> int:
        """Phases the EV draws current on (0 when idle)."""

    def ev_power_w(self) -> float:
        """Active power the EV draws."""

    def present_rfid(self, token: str) -> None:
        """Present an RFID card to the charger's reader."""

    def set_diode_short(self, shorted: bool) -> None:
        """Short (or restore) the EV's pilot diode."""

    def diode_short(self) -> bool:
        """Whether the EV's pilot diode is shorted."""

    def contactor_closed(self) -> bool:
        """Whether the outlet is live (the charger's contactor is closed)."""

    def contactor_delay(self) -> tuple[float | None, bool]:
        """(seconds from the last pilot command to the contactor's next switching, its new
        state) or (None, its state now) when it has not switched since."""

    def supply_on(self) -> bool:
        """Whether the charger's mains supply is switched on."""

    def set_supply(self, on: bool) -> None:
        """Switch the charger's mains supply."""

    def power_cycle(self, off_s: float) -> None:
        """Supply off now, on again after ``off_s`` seconds (returns at once)."""


class EvIoTwin(ScpiDevice):
    """SCPI front end of the station I/O box for one charger connector."""

    def __init__(self, io: StationIo) -> None:
        super().__init__(f"testbench,SIM-EVIO,{io.charger_id},{FIRMWARE}")
        self.io = io
        self.command("EV:PROFile", self._set_profile, args=1)
        self.command("EV:PROFile?", self._get_profile)
        self.command("CP:STATe", self._set_state, args=1)
        self.command("CP:STATe?", lambda _a: self.io.pilot_state())
        self.command("CP:DUTY?", lambda _a: f"{self.io.duty_cycle_pct():.1f}")
        self.command("CP:DIODe:SHORt", self._set_diode, args=1)
        self.command("CP:DIODe:SHORt?", lambda _a: "1" if self.io.diode_short() else "0")
        self.command("MEASure:CONTactor?", lambda _a: "1" if self.io.contactor_closed() else "0")
        self.command("MEASure:CONTactor:DELay?", self._contactor_delay)
        self.command("MEASure:PILot?", self._pilot)
        self.command("MEASure:CURRent?", lambda _a: nr3(self.io.ev_current_a()))
        self.command("MEASure:PHASes?", lambda _a: str(self.io.ev_phases()))
        self.command("MEASure:POWer?", lambda _a: nr3(self.io.ev_power_w()))
        self.command("RFID:PRESent", self._present, args=1)
        self.command("SYSTem:KEEP", lambda _a: None, args=(0, 1))
        self.command("PWR:STATe", self._set_supply, args=1)
        self.command("PWR:STATe?", lambda _a: "1" if self.io.supply_on() else "0")
        self.command("PWR:CYCLe", self._power_cycle, args=1)

    def reset(self) -> None:
        clear_diode = getattr(self.io, "set_diode_short", None)
        if clear_diode is not None:
            clear_diode(False)
        self.io.set_ev_state("A")
        self.io.select_ev(None)

    def _set_profile(self, args: list[str]) -> None:
        ev_id = args[0]
        if ev_id not in self.io.ev_ids():
            known = ", ".join(self.io.ev_ids()) or "none"
            raise ScpiError(-224, f"Illegal parameter value; unknown EV {ev_id!r}, known: {known}")
        self.io.select_ev(ev_id)

    def _get_profile(self, _args: list[str]) -> str:
        return self.io.selected_ev() or "NONE"

    def _set_state(self, args: list[str]) -> None:
        state = args[0].upper()
        if state not in EV_STATES:
            raise ScpiError(-224, "Illegal parameter value; pilot state must be A, B, C, D or E")
        if state in ("B", "C", "D") and self.io.selected_ev() is None:
            raise ScpiError(-221, "Settings conflict; select an EV with EV:PROF first")
        self.io.set_ev_state(state)

    def _set_diode(self, args: list[str]) -> None:
        value = args[0].upper()
        if value not in ("0", "1", "ON", "OFF"):
            raise ScpiError(-224, "Illegal parameter value; diode short must be 0, 1, ON or OFF")
        self.io.set_diode_short(value in ("1", "ON"))

    def _contactor_delay(self, _args: list[str]) -> str:
        delay_s, closed = self.io.contactor_delay()
        return f"{nr3(NO_DATA if delay_s is None else delay_s)},{1 if closed else 0}"

    def _pilot(self, _args: list[str]) -> str:
        live = 1 if self.io.contactor_closed() else 0
        return (f"{self.io.pilot_state()},{self.io.duty_cycle_pct():.1f},{live},"
                f"{nr3(self.io.ev_current_a())}")

    def _present(self, args: list[str]) -> None:
        token = args[0]
        if not token or len(token) > 36:
            raise ScpiError(-224, "Illegal parameter value; token must be 1-36 characters")
        self.io.present_rfid(token)

    def _set_supply(self, args: list[str]) -> None:
        value = args[0].upper()
        if value not in ("0", "1", "ON", "OFF"):
            raise ScpiError(-224, "Illegal parameter value; supply state must be 0, 1, ON or OFF")
        self.io.set_supply(value in ("1", "ON"))

    def _power_cycle(self, args: list[str]) -> None:
        try:
            off_s = float(args[0])
        except ValueError:
            raise ScpiError(-224, "Illegal parameter value; off time must be a number of "
                                  "seconds") from None
        if not 0 <= off_s <= 3600:
            raise ScpiError(-222, "Data out of range; off time must be 0-3600 s")
        self.io.power_cycle(off_s)
