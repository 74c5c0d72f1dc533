"""The bench's station I/O box driver reads the control pilot from the twin over the wire:
one-query pilot samples, the outlet sense, the box's contactor timer, the diode short."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from instruments.contracts import PilotReading
from instruments.drivers.sim_ev_emulator import StationIOBox
from instruments.twins.evio import EvIoTwin
from instruments.twins.scpi import ScpiServer
from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.errors import InstrumentError
from testbench.lab.model import ChargerSpec, EVSpec, InstrumentSpec, SafetyLimits
from testbench.sim.evio_port import ConnectorIo
from testbench.sim.v16 import Charger16

SCALE = 20.0


class Box:
    """A simulated charger with its I/O box twin served on loopback, and the real driver."""

    def __init__(self, loop: BackgroundLoop) -> None:
        self.loop = loop

        async def build() -> tuple[Charger16, ScpiServer]:
            spec = ChargerSpec(id="cp", vendor="V", model="M", firmware="1",
                               ocpp_version="1.6", max_current_a=32.0, max_power_w=22000.0)
            ev = EVSpec(id="ev", make="E", model="V", software="1", phases=3,
                        max_current_a=16.0)
            charger = Charger16(spec, {"ev": ev}, LabClock(scale=SCALE))
            server = ScpiServer(EvIoTwin(ConnectorIo(charger, charger.connectors[0])),
                                "127.0.0.1", 0)
            await server.start()
            return charger, server

        self.charger, self.server = loop.run(build(), timeout_s=10)
        spec = InstrumentSpec(name="evio", role="ev_emulator", driver="sim-ev-emulator",
                              resource=f"TCPIP::127.0.0.1::{self.server.port}::SOCKET",
                              charger="cp")
        self.driver = StationIOBox(spec, SafetyLimits())

    def on_loop(self, fn: Any, *args: Any) -> Any:
        async def call() -> Any:
            return fn(*args)

        return self.loop.run(call(), timeout_s=10)

    def close(self) -> None:
        self.driver.close()
        self.loop.run(self.server.close(), timeout_s=10)


@pytest.fixture
def box() -> Iterator[Box]:
    loop = BackgroundLoop("pilot-driver-test")
    made = Box(loop)
    try:
        yield made
    finally:
        made.close()
        loop.stop()


def test_pilot_reading_contactor_timer_and_diode(box: Box) -> None:
    driver, clock = box.driver, box.charger.clock
    assert driver.pilot_reading() == PilotReading("A1", 100.0, False, 0.0)
    assert driver.contactor_delay_s() == (None, False)
    driver.plug_in("ev")
    conn = box.charger.connectors[0]
    box.on_loop(lambda: box.charger.start_transaction(conn, "T", "ISO14443",
                                                      trigger="Authorized"))
    assert driver.cp_state() == "B2"
    driver.request_energy()
    assert driver.contactor_delay_s() == (None, False)  # closing takes 1 lab s
    clock.sleep(2.0)
    delay_s, closed = driver.contactor_delay_s()
    assert closed and delay_s == pytest.approx(1.0, abs=0.2)
    assert driver.contactor_closed() is True
    assert driver.pilot_reading() == PilotReading("C2", 53.3, True, 16.0)  # 32 A offered
    driver.set_diode_short(True)
    reading = driver.pilot_reading()
    assert (reading.state, reading.outlet_live) == ("F", False)
    delay_s, closed = driver.contactor_delay_s()
    assert not closed and delay_s is not None and delay_s < 0.05
    driver.safe_state()
    assert driver.pilot_reading().state == "A1"


def test_garbled_replies_are_instrument_errors(box: Box, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    replies = iter(["C2,26.7", "X9,26.7,1,1.0", "1.0,2", "maybe"])
    monkeypatch.setattr(box.driver._scpi, "query", lambda _command: next(replies))
    with pytest.raises(InstrumentError, match="MEAS:PIL"):
        box.driver.pilot_reading()
    with pytest.raises(InstrumentError, match="state must be one of"):
        box.driver.pilot_reading()
    with pytest.raises(InstrumentError, match="state must be 0 or 1"):
        box.driver.contactor_delay_s()
    with pytest.raises(InstrumentError, match="expected 0 or 1"):
        box.driver.contactor_closed()
