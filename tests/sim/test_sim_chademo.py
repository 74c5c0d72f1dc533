"""The simulated CHAdeMO controller, driven by the bench's chademo-ev driver on a shared
in-process CAN bus (the socketcand bridge is covered by the self-test)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import can
import pytest

from instruments.drivers.chademo_ev import ChademoEv
from testbench.clock import LabClock
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits
from testbench.sim.chademo import ChademoCharger, ChargerLink

SCALE = 10.0


class FakeConnector:
    def __init__(self, faults: tuple[str, ...] = ()) -> None:
        self.states: list[str] = []
        self.authorised = True
        self.faults = faults

    def link(self) -> ChargerLink:
        return ChargerLink(self.states.append, lambda: self.authorised, self.faults.__contains__)


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Iterator[tuple[ChademoEv, ChademoCharger, FakeConnector]]:
    faults = getattr(request, "param", ())
    channel = f"chademo-test-{id(request)}"
    connector = FakeConnector(faults)
    controller = ChademoCharger(connector.link(), LabClock(SCALE), available_v=500,
                                available_a=100)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(controller.start(channel), loop).result(5)
    spec = InstrumentSpec(name="ev", role="chademo_ev", driver="chademo-ev", resource=channel,
                          timeout_s=3.0, options={"period_s": 0.01})
    vehicle = ChademoEv(spec, SafetyLimits(max_voltage_v=500, max_current_a=125),
                        bus=can.Bus(interface="virtual", channel=channel))
    yield vehicle, controller, connector
    vehicle.close()
    asyncio.run_coroutine_threadsafe(controller.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(2)


def _until(check: Any, within_s: float = 3.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_session_charges_then_stops_with_current_first(rig: Any) -> None:
    vehicle, _controller, connector = rig
    vehicle.plug_in(410, 400, 40.0, 50)
    assert vehicle.charger_limits().available_current_a == 100
    _until(lambda: connector.states == ["B"])
    vehicle.request_current_a(60)
    status = vehicle.wait_status(lambda s: s.present_current_a == 60, 3.0, "60 A")
    assert status.energising and status.locked and status.present_v == 400
    assert connector.states == ["B", "C"]
    vehicle.request_stop()
    vehicle.wait_status(lambda s: not s.energising, 3.0, "de-energised")
    stopping = [f for f in vehicle.capture() if f.arbitration_id == 0x109]
    assert all(f.data[5] & 0x01 or f.data[3] == 0 for f in stopping)  # never off under load
    vehicle.unplug()
    _until(lambda: connector.states[-1] == "A")


def test_unauthorised_charger_does_not_energise(rig: Any) -> None:
    vehicle, controller, connector = rig
    connector.authorised = False
    vehicle.plug_in(410, 400, 40.0, 50)
    vehicle.request_current_a(60)
    time.sleep(0.5)  # 5 lab s: more than the insulation test
    assert vehicle.charger_status().present_current_a == 0
    assert controller.stage == "plugged"


def test_request_above_available_current_is_capped(rig: Any) -> None:
    vehicle, _controller, _ = rig
    vehicle.plug_in(410, 400, 40.0, 50)
    vehicle.request_current_a(120)
    vehicle.wait_status(lambda s: s.present_current_a == 100, 3.0, "capped at 100 A")


@pytest.mark.parametrize("rig", [("chademo-ignores-stop",)], indirect=True)
def test_ignores_stop_fault_keeps_current(rig: Any) -> None:
    vehicle, _, _ = rig
    vehicle.plug_in(410, 400, 40.0, 50)
    vehicle.request_current_a(50)
    vehicle.wait_status(lambda s: s.present_current_a == 50, 3.0, "50 A")
    vehicle.request_stop()
    time.sleep(0.5)
    assert vehicle.charger_status().present_current_a == 50


def test_guard_and_state_errors_name_the_problem(rig: Any) -> None:
    vehicle, _, _ = rig
    with pytest.raises(InstrumentError, match="not plugged in"):
        vehicle.request_current_a(10)
    with pytest.raises(InstrumentError, match="target voltage 450 V"):
        vehicle.plug_in(410, 450, 40.0, 50)
