"""The twin watchdog's rule and safe states, and the bench's keep-alive, without a run."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import can

from instruments.twins.can_ccs import EV_CONTROL, EV_DC_TARGETS, CcsCanTwin, SimpleDcCharger
from instruments.twins.evio import EvIoTwin
from instruments.twins.modbus_ea_psb import EaPsbTwin
from instruments.twins.modbus_relay import ModbusRelayTwin
from instruments.twins.ports import SimpleDC, SimpleGrid, SimpleRelays
from instruments.twins.scpi import ScpiServer
from instruments.twins.scpi_chroma import ChromaGridTwin
from instruments.twins.serial_cp import SerialCpTwin, SimplePilot
from instruments.twins.watchdog import TwinWatchdog, make_safe
from testbench.plugin.keepalive import KeepAlive, watchdog_s_of


def test_trips_only_when_energised_and_silent_for_the_timeout() -> None:
    grid = SimpleGrid()
    twin = ChromaGridTwin(grid)
    grid.on = True  # energised (as by OUTP ON)
    dog = TwinWatchdog(twin, 0.2, grid.output_on, "grid")
    twin.last_request_s = time.monotonic()
    assert not dog.check() and grid.on  # heard from just now
    twin.last_request_s = time.monotonic() - 0.5
    grid.on = False
    assert not dog.check()  # silent but already safe: nothing to do
    grid.on = True
    assert dog.check() and not grid.on and len(dog.trips) == 1
    assert dog.trips[0]["silence_s"] >= 0.5


def test_safe_states_of_each_kind_of_twin() -> None:
    grid = SimpleGrid()
    chroma = ChromaGridTwin(grid)
    grid.on = True
    make_safe(chroma)
    assert not grid.on
    dc = SimpleDC(on=True)
    make_safe(EaPsbTwin(port=dc))
    assert not dc.on
    relays = SimpleRelays(count=4, closed=[True, False, True, True])
    twin = ModbusRelayTwin(relays)
    make_safe(twin)
    assert relays.closed == [False] * 4 and not any(twin.coils.values())


class _Driver:
    def __init__(self) -> None:
        self.calls = 0

    def identify(self) -> Any:
        self.calls += 1
        raise OSError("unreachable")  # a failing keep-alive must not stop the others


def test_keep_alive_queries_every_quarter_of_the_watchdog_until_removed() -> None:
    assert watchdog_s_of({"watchdog_s": 2}) == 2.0
    assert watchdog_s_of({}) is None and watchdog_s_of({"watchdog_s": True}) is None
    keepalive = KeepAlive()
    driver = _Driver()
    keepalive.add("grid", driver, 0.4, "grid")  # every 0.1 s
    try:
        time.sleep(1.0)
        assert driver.calls >= 4, driver.calls
        keepalive.remove("grid")
        calls = driver.calls
        time.sleep(0.4)
        assert driver.calls == calls
    finally:
        keepalive.stop()


# ------------------------------------------------------------------ station I/O box, EV side
class _Io:
    """A minimal StationIo: one connector's EV side and the charger's supply."""

    charger_id = "cp-1"

    def __init__(self) -> None:
        self.ev: str | None = None
        self.state = "A"
        self.supply = True

    def ev_ids(self) -> list[str]:
        return ["ev-1"]

    def selected_ev(self) -> str | None:
        return self.ev

    def select_ev(self, ev_id: str | None) -> None:
        self.ev = ev_id

    def set_ev_state(self, state: str) -> None:
        self.state = state

    def set_diode_short(self, shorted: bool) -> None:
        del shorted

    def set_supply(self, on: bool) -> None:
        self.supply = on


def test_station_io_box_watchdog_unplugs_the_ev_and_leaves_the_supply() -> None:
    io = _Io()
    box = EvIoTwin(io)  # type: ignore[arg-type]
    box.execute_line("EV:PROF ev-1;:CP:STAT C;:PWR:STAT 1")
    assert io.state == "C" and io.ev == "ev-1"
    dog = TwinWatchdog(box, 0.2, lambda: io.state != "A", "evio")
    box.last_request_s = time.monotonic()
    assert not dog.check() and io.state == "C"
    box.last_request_s = time.monotonic() - 0.5
    assert dog.check() and io.state == "A" and io.ev is None
    assert io.supply, "the charger's supply stays as configured"


def test_scpi_server_records_when_a_line_arrives() -> None:
    async def scenario() -> float:
        box = EvIoTwin(_Io())  # type: ignore[arg-type]
        box.last_request_s = 0.0
        server = ScpiServer(box, "127.0.0.1", 0)
        port = await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"*IDN?\n")  # what the bench's keep-alive sends
            await asyncio.wait_for(reader.readline(), 5)
            writer.close()
        finally:
            await server.close()
        return box.last_request_s

    assert time.monotonic() - asyncio.run(scenario()) < 5


def test_serial_cp_twin_watchdog_fed_while_the_port_is_open() -> None:
    async def scenario() -> tuple[bool, bool, str, str]:
        pilot = SimplePilot()
        twin = SerialCpTwin(pilot, interval_s=0.05)
        resource = await twin.start("tcp")
        dog = TwinWatchdog(twin, 0.3, lambda: twin.energised, "cp-serial")
        try:
            host, port = resource.removeprefix("socket://").rsplit(":", 1)
            _reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"C")
            await asyncio.sleep(0.6)  # quiet, but the port is held open
            held = dog.check()
            writer.close()  # the runner dies: the port closes
            await asyncio.sleep(0.6)
            tripped = dog.check()
            return held, tripped, twin.ev_state, pilot.pilot_state()
        finally:
            await twin.stop()

    held, tripped, ev_state, line = asyncio.run(scenario())
    assert not held and tripped and ev_state == "A" and line.startswith("A"), (held, tripped,
                                                                             ev_state, line)


def test_ccs_can_twin_watchdog_sets_state_a_and_disables_charging() -> None:
    dc = SimpleDcCharger()
    twin = CcsCanTwin(SimplePilot(), dc)
    twin._on_message(can.Message(arbitration_id=EV_DC_TARGETS, is_extended_id=True,
                                 data=struct.pack("<HH", 4000, 500)))
    twin._on_message(can.Message(arbitration_id=EV_CONTROL, is_extended_id=True,
                                 data=bytes([ord("C"), 1, 0])))
    assert twin.charge_enable and dc.present() == (400.0, 50.0)
    dog = TwinWatchdog(twin, 0.2, lambda: twin.energised, "ccs-can")
    assert not dog.check()  # a frame just arrived
    twin.last_request_s = time.monotonic() - 0.5
    assert dog.check()
    assert twin.ev_state == "A" and not twin.charge_enable and dc.present() == (0.0, 0.0)
    assert not twin.energised
