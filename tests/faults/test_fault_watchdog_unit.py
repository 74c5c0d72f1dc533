"""The twin watchdog's rule and safe states, and the bench's keep-alive, without a run."""

from __future__ import annotations

import time
from typing import Any

from instruments.twins.modbus_ea_psb import EaPsbTwin
from instruments.twins.modbus_relay import ModbusRelayTwin
from instruments.twins.ports import SimpleDC, SimpleGrid, SimpleRelays
from instruments.twins.scpi_chroma import ChromaGridTwin
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
