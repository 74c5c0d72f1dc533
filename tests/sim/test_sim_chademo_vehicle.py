"""The simulated CHAdeMO vehicle, driven by the bench's chademo-charger driver on a shared
in-process CAN bus (the socketcand bridge is covered by the self-test)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import can
import pytest

from instruments.drivers.chademo_charger import ChademoCharger
from testbench.clock import LabClock
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits
from testbench.sim.chademo_vehicle import ChademoVehicleSim

SCALE = 10.0


@pytest.fixture
def rig(request: pytest.FixtureRequest) -> Iterator[tuple[ChademoCharger, ChademoVehicleSim]]:
    faults = getattr(request, "param", ())
    channel = f"chademo-vehicle-test-{id(request)}"
    vehicle = ChademoVehicleSim(LabClock(SCALE), max_current_a=125, capacity_kwh=40.0,
                                soc_pct=50.0, faults=faults)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(vehicle.start(channel), loop).result(5)
    spec = InstrumentSpec(name="charger", role="chademo_charger", driver="chademo-charger",
                          resource=channel, timeout_s=3.0, options={"period_s": 0.01})
    charger = ChademoCharger(spec, SafetyLimits(max_voltage_v=500, max_current_a=125),
                             bus=can.Bus(interface="virtual", channel=channel))
    yield charger, vehicle
    charger.close()
    asyncio.run_coroutine_threadsafe(vehicle.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(2)


def _charging(charger: ChademoCharger, available_a: int = 80) -> None:
    charger.connect(500, available_a)
    charger.wait_request(lambda r: r.charging_enabled, 3.0, "charging enabled")
    charger.energise(400)
    charger.wait_request(lambda r: r.current_request_a == available_a, 3.0, "ramped up")


def test_parameters_then_enable_then_ramp_to_available(rig: Any) -> None:
    charger, vehicle = rig
    request = charger.vehicle_request()
    assert not request.charging_enabled and request.current_request_a == 0  # no charger yet
    limits, times = charger.vehicle_limits(), charger.vehicle_times()
    assert limits.max_battery_v >= request.target_v > 0 and times.capacity_kwh == 40.0
    charger.connect(500, 80)
    enabled = charger.wait_request(lambda r: r.charging_enabled, 3.0, "charging enabled")
    assert enabled.current_request_a == 0  # not energised yet
    charger.energise(400)
    _ = charger.wait_request(lambda r: r.current_request_a == 80, 3.0, "80 A")
    time.sleep(0.3)
    assert charger.vehicle_request().current_request_a == 80  # capped at the available
    assert vehicle.soc_pct > 50.0
    charger.set_available_current_a(30)
    charger.wait_request(lambda r: r.current_request_a <= 30, 0.5, "follows 30 A")


def test_malfunction_stops_the_vehicle(rig: Any) -> None:
    charger, _ = rig
    _charging(charger)
    charger.set_malfunction()
    stopped = charger.wait_request(lambda r: r.current_request_a == 0, 0.5, "request 0")
    assert not stopped.charging_enabled and stopped.stop_requested


def test_stop_control_ends_charging_cleanly(rig: Any) -> None:
    charger, _ = rig
    _charging(charger)
    charger.stop_charging()
    charger.wait_request(lambda r: r.current_request_a == 0 and not r.charging_enabled, 0.5,
                         "normal stop")
    time.sleep(0.1)
    status = [f for f in charger.capture() if f.arbitration_id == 0x109][-1]
    assert status.data[3] == 0 and not status.data[5] & 0x01  # 0 A, de-energised


def test_silence_starts_a_new_session(rig: Any) -> None:
    charger, vehicle = rig
    _charging(charger)
    charger.safe_state()
    time.sleep(0.2)  # 2 lab s of silence
    assert charger.vehicle_request().current_request_a == 0
    _charging(charger, 60)
    assert vehicle.sessions == 2


@pytest.mark.parametrize("rig", [("chademo-requests-above-available",)], indirect=True)
def test_above_available_fault_requests_its_maximum(rig: Any) -> None:
    charger, _ = rig
    charger.connect(500, 80)
    charger.wait_request(lambda r: r.charging_enabled, 3.0, "charging enabled")
    charger.energise(400)
    charger.wait_request(lambda r: r.current_request_a == 125, 3.0, "125 A above 80 A")


@pytest.mark.parametrize("rig", [("chademo-ignores-charger-fault",)], indirect=True)
def test_ignores_fault_keeps_charging(rig: Any) -> None:
    charger, _ = rig
    _charging(charger)
    charger.set_malfunction()
    time.sleep(0.3)
    assert charger.vehicle_request().current_request_a == 80


def test_guard_and_state_errors_name_the_problem(rig: Any) -> None:
    charger, _ = rig
    with pytest.raises(InstrumentError, match="not connected"):
        charger.energise(400)
    with pytest.raises(InstrumentError, match="exceeds the station limit 500 V"):
        charger.connect(600, 80)
    charger.connect(450, 80)
    with pytest.raises(InstrumentError, match="present voltage 480 V must be in 1..450 V"):
        charger.energise(480)
    with pytest.raises(InstrumentError, match="current 200 A exceeds"):
        charger.set_available_current_a(200)  # above the station's 125 A limit
