"""The station I/O box twin: SCPI dialogue (in process and over the wire) and the real driver."""

from __future__ import annotations

import pytest
from sim_fleet import SimLab
from sim_harness import Scpi, wait_for_status

from instruments.twins.evio import EvIoTwin
from instruments.twins.scpi import ERROR_QUEUE_LENGTH, ScpiDevice, nr3, split_params


class FakeIo:
    """A station I/O port recording what the box did."""

    charger_id = "cp-x"

    def __init__(self) -> None:
        self.ev: str | None = None
        self.state = "A"
        self.cards: list[str] = []
        self.supply = True
        self.cycles: list[float] = []

    def ev_ids(self) -> list[str]:
        return ["ev-a", "ev-b"]

    def selected_ev(self) -> str | None:
        return self.ev

    def select_ev(self, ev_id: str | None) -> None:
        self.ev = ev_id

    def set_ev_state(self, state: str) -> None:
        self.state = state

    def pilot_state(self) -> str:
        return self.state + "1"

    def duty_cycle_pct(self) -> float:
        return 100.0

    def ev_current_a(self) -> float:
        return 12.5

    def ev_phases(self) -> int:
        return 3

    def ev_power_w(self) -> float:
        return 8625.0

    def present_rfid(self, token: str) -> None:
        self.cards.append(token)

    def supply_on(self) -> bool:
        return self.supply

    def set_supply(self, on: bool) -> None:
        self.supply = on

    def power_cycle(self, off_s: float) -> None:
        self.cycles.append(off_s)


def drain(box: ScpiDevice) -> list[str]:
    errors = []
    while (reply := box.execute_line("SYST:ERR?")) != '0,"No error"':
        errors.append(reply)
    return errors


def test_identity_and_ieee488_commands() -> None:
    box = EvIoTwin(FakeIo())
    assert box.execute_line("*IDN?") == "testbench,SIM-EVIO,cp-x,0.1"
    assert box.execute_line("*OPC?") == "1"
    assert box.execute_line("*ESR?") == "128"  # power on
    assert box.execute_line("*ESR?") == "0"
    assert box.execute_line("*CLS") is None
    assert box.execute_line("syst:err?") == '0,"No error"'


def test_headers_long_short_case_and_compound() -> None:
    io = FakeIo()
    box = EvIoTwin(io)
    assert box.execute_line(':ev:profile "ev-b"') is None and io.ev == "ev-b"
    assert box.execute_line("Ev:Prof?") == "ev-b"
    assert box.execute_line("CP:STATE C;CP:STAT?;:MEASURE:CURRENT?;MEAS:PHAS?") == \
        "C1;1.250000E+01;3"
    assert box.execute_line("MEAS:POW?") == nr3(8625.0)
    assert box.execute_line("RFID:PRESENT CARD-9") is None and io.cards == ["CARD-9"]
    assert box.execute_line("SYST:KEEP") is None and box.execute_line("SYSTEM:KEEP 1") is None
    assert drain(box) == []


def test_errors_are_queued_and_commands_not_executed() -> None:
    io = FakeIo()
    box = EvIoTwin(io)
    assert box.execute_line("FOO:BAR 1") is None
    assert box.execute_line("EV:PROF?X") is None  # undefined header, no reply
    assert box.execute_line("CP:STAT B") is None  # no EV profile selected
    assert box.execute_line("EV:PROF ev-zzz") is None
    assert box.execute_line("CP:STAT Q") is None
    assert box.execute_line("EV:PROF") is None
    assert box.execute_line("PWR:CYCL soon") is None
    assert io.state == "A" and io.ev is None and io.cycles == []
    codes = [int(e.split(",")[0]) for e in drain(box)]
    assert codes == [-113, -113, -221, -224, -224, -109, -224]
    assert int(box.execute_line("*ESR?") or "0") & (1 << 5 | 1 << 4)  # CME and EXE set


def test_error_queue_overflows_into_350() -> None:
    box = EvIoTwin(FakeIo())
    for _ in range(ERROR_QUEUE_LENGTH + 5):
        box.execute_line("NOPE")
    errors = drain(box)
    assert len(errors) == ERROR_QUEUE_LENGTH
    assert errors[-1] == '-350,"Queue overflow"'
    assert errors[0].startswith("-113,")


def test_rst_unplugs_and_clears_profile_and_supply_commands() -> None:
    io = FakeIo()
    box = EvIoTwin(io)
    box.execute_line("EV:PROF ev-a;CP:STAT C")
    box.execute_line("*RST")
    assert (io.state, io.ev) == ("A", None)
    assert box.execute_line("EV:PROF?") == "NONE"
    box.execute_line("PWR:STAT 0")
    assert box.execute_line("PWR:STAT?") == "0"
    box.execute_line("PWR:CYCL 2.5")
    assert io.cycles == [2.5]
    assert drain(box) == []


def test_split_params_strips_quotes() -> None:
    assert split_params(' "a,b" , c') == ["a,b", "c"]
    assert split_params("") == []


def test_twin_dialogue_over_the_wire(simlab: SimLab) -> None:
    charger = "twin-16"
    wait_for_status(simlab.csms, charger, "Available", timeout_s=20)
    box = Scpi(simlab.ports[charger])
    try:
        assert box.query("*IDN?") == f"testbench,SIM-EVIO,{charger},0.1"
        box.write("*CLS")
        box.write("NOT:A:COMMAND")
        box.write("EV:PROF no-such-ev")
        box.write("CP:STAT C")
        unknown_ev = ("-224,\"Illegal parameter value; unknown EV 'no-such-ev', "
                      'known: ev-3ph, ev-1ph"')
        assert box.errors() == ['-113,"Undefined header"', unknown_ev,
                                '-221,"Settings conflict; select an EV with EV:PROF first"']
        box.write("EV:PROF ev-1ph")
        assert box.query("EV:PROF?") == "ev-1ph"
        assert box.query("CP:STAT?") == "A1"
        assert box.query("CP:DUTY?") == "100.0"
        assert box.query("*OPC?") == "1"
        box.write("*RST")
        assert box.query("EV:PROF?") == "NONE"
    finally:
        box.close()


def test_bench_driver_drives_the_twin(simlab: SimLab) -> None:
    """The bench's own driver (pyvisa-py, SCPI socket) works against the twin."""
    from instruments.drivers.sim_ev_emulator import StationIOBox
    from testbench.lab.model import InstrumentSpec, SafetyLimits

    charger = "twin-21"
    csms = simlab.csms
    wait_for_status(csms, charger, "Available", timeout_s=20)
    spec = InstrumentSpec(name="evio-twin-21", role="ev_emulator", driver="sim-ev-emulator",
                          resource=f"TCPIP::127.0.0.1::{simlab.ports[charger]}::SOCKET",
                          charger=charger)
    driver = StationIOBox(spec, SafetyLimits())
    try:
        assert driver.identify().model == "SIM-EVIO"
        mark = csms.mark()
        driver.plug_in("ev-3ph")
        wait_for_status(csms, charger, "Occupied", since=mark)
        assert driver.cp_state() == "B1"
        assert driver.duty_cycle_pct() == 100.0
        driver.request_energy()
        driver.present("TWIN-CARD")
        csms.wait(charger, "TransactionEvent", since=mark,
                  where=lambda p: p["transactionInfo"].get("chargingState") == "Charging")
        assert driver.cp_state() == "C2"
        assert driver.current_a() == pytest.approx(16.0)
        driver.safe_state()
        wait_for_status(csms, charger, "Available", since=mark)
    finally:
        driver.close()
