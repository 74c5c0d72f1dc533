"""ccs-can driver: replay without a bus peer, then against the twin on python-can buses."""

from __future__ import annotations

import queue
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import can
import pytest

from instruments.registry import get_driver
from instruments.twins.can_ccs import CcsCanTwin, SimpleDcCharger
from instruments.twins.serial_cp import SimplePilot
from instruments.twins.socketcand import SocketcandServer
from testbench.aio import BackgroundLoop
from testbench.errors import InstrumentError, SafetyLimitError
from testbench.lab.model import InstrumentSpec, SafetyLimits

LIMITS = SafetyLimits(max_voltage_v=900.0, max_current_a=300.0, max_power_w=200_000.0)


def info(cp: str, ev: str, duty_pct: float, pwm: bool, stage: int = 1) -> can.Message:
    data = struct.pack("<ccHbbBB", cp.encode(), ev.encode(), round(duty_pct * 10), 90, -120,
                       stage, int(pwm))
    return can.Message(arbitration_id=0x1000, data=data, is_extended_id=True)


class ReplayBus:
    """The controller's side of a recorded dialogue: frames at open and per sent frame."""

    def __init__(self, initial: list[can.Message],
                 reactions: dict[tuple[int, bytes], list[can.Message]]) -> None:
        self.sent: list[tuple[int, bytes, bool]] = []
        self._inbox: queue.Queue[can.Message] = queue.Queue()
        self._reactions = reactions
        for message in initial:
            self._inbox.put(message)

    def send(self, message: can.Message, timeout: float | None = None) -> None:
        key = (message.arbitration_id, bytes(message.data))
        self.sent.append((*key, message.is_extended_id))
        for reply in self._reactions.get(key, []):
            self._inbox.put(reply)

    def recv(self, timeout: float | None = None) -> can.Message | None:
        try:
            return self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def shutdown(self) -> None:
        pass


def spec(resource: str = "can0", timeout_s: float = 1.0, **options: object) -> InstrumentSpec:
    return InstrumentSpec(name="ccs-ev", role="ev_emulator", driver="ccs-can",
                          resource=resource, timeout_s=timeout_s, options=dict(options))


def driver(initial: list[can.Message], reactions: dict | None = None,
           limits: SafetyLimits = LIMITS, timeout_s: float = 1.0):
    bus = ReplayBus(initial, reactions or {})
    controller = get_driver("ccs-can")(spec(timeout_s=timeout_s, control_period_s=0), limits,
                                       bus=bus)
    return controller, bus


CONTROL_B = (0x1302, b"B" + bytes(7))
CONTROL_C = (0x1302, b"C\x01" + bytes(6))


# --------------------------------------------------------------------------- replay
def test_identify_from_charge_info() -> None:
    ev, _ = driver([info("A", "A", 100.0, False, stage=0)])
    try:
        identity = ev.identify()
        assert (identity.model, identity.serial, identity.firmware) == \
            ("CCS EV-side controller (CAN)", "can0", "unknown")
    finally:
        ev.close()


def test_identify_needs_a_live_controller() -> None:
    ev, _ = driver([], timeout_s=0.3)
    try:
        with pytest.raises(InstrumentError, match="no ChargeInfo frame"):
            ev.identify()
    finally:
        ev.close()


def test_plug_in_and_charge_frames() -> None:
    ev, bus = driver([info("A", "A", 100.0, False)],
                     {CONTROL_B: [info("B", "B", 26.7, True)],
                      CONTROL_C: [info("C", "C", 26.7, True, stage=5)]})
    try:
        ev.plug_in("ev-1")
        assert (ev.cp_state(), ev.duty_cycle_pct()) == ("B2", 26.7)
        ev.request_energy()
        assert ev.charge_info().stage == 5
        assert bus.sent == [(*CONTROL_B, True), (*CONTROL_C, True)]
    finally:
        ev.close()


def test_limits_and_targets_encoding() -> None:
    ev, bus = driver([])
    try:
        ev.set_dc_limits(450.0, 150.0, 100_000.0, soc_pct=80)
        ev.set_dc_targets(400.5, 120.0)
        assert bus.sent == [
            (0x1300, bytes.fromhex("9411 dc05 1027 50 00"), True),
            (0x1301, bytes.fromhex("a50f b004 00000000"), True),
        ]
    finally:
        ev.close()


def test_over_limit_refused_nothing_sent() -> None:
    ev, bus = driver([], limits=SafetyLimits(max_voltage_v=500.0, max_current_a=100.0))
    try:
        with pytest.raises(SafetyLimitError, match="current 120 A exceeds") as caught:
            ev.set_dc_targets(400.0, 120.0)
        assert caught.value.command == "send EV DC targets 0x1301"
        with pytest.raises(SafetyLimitError, match="voltage 800 V"):
            ev.set_dc_limits(800.0, 50.0, 10_000.0)
        assert bus.sent == []
    finally:
        ev.close()


def test_malformed_charge_info_shows_the_bytes() -> None:
    bad = can.Message(arbitration_id=0x1000, data=b"\xff\x00\xff", is_extended_id=True)
    ev, _ = driver([bad])
    try:
        with pytest.raises(InstrumentError, match="malformed ChargeInfo") as caught:
            ev.cp_state()
        assert caught.value.reply == "ff 00 ff"
    finally:
        ev.close()


def test_silent_controller() -> None:
    ev, _ = driver([], timeout_s=0.3)
    try:
        with pytest.raises(InstrumentError, match=r"no ChargeInfo frame 0x1000 within 0.3 s"):
            ev.cp_state()
    finally:
        ev.close()


def test_unconfirmed_state() -> None:
    ev, _ = driver([info("A", "A", 100.0, False)], {CONTROL_B: [info("A", "A", 100.0, False)]},
                   timeout_s=0.3)
    try:
        with pytest.raises(InstrumentError, match="no matching ChargeInfo") as caught:
            ev.set_cp_state("B")
        assert caught.value.command == "send status/control 0x1302 (state B)"
    finally:
        ev.close()


def test_evse_dc_status_signed_current() -> None:
    status = can.Message(arbitration_id=0x1402, is_extended_id=True,
                         data=struct.pack("<HhHBx", 4012, -105, 2000, 1))
    ev, _ = driver([status])
    try:
        dc = ev.evse_dc_status()
        assert (dc.voltage_v, dc.current_a, dc.max_current_a, dc.status) == \
            (401.2, -10.5, 200.0, 1)
        assert ev.current_a() == -10.5
    finally:
        ev.close()


def test_safe_state_zero_targets_then_unplug_with_stop() -> None:
    control_a = (0x1302, b"A\x04" + bytes(6))
    ev, bus = driver([info("C", "C", 26.7, True)], {control_a: [info("A", "A", 100.0, False)]})
    try:
        ev.safe_state()
        assert bus.sent == [(0x1301, bytes(8), True), (*control_a, True)]
    finally:
        ev.close()


def test_can_node_raw_frames() -> None:
    ev, bus = driver([can.Message(arbitration_id=0x108, data=b"\x01\x02", is_extended_id=False)])
    try:
        frame = ev.receive(1.0)
        assert frame is not None
        assert (frame.arbitration_id, frame.data, frame.is_extended_id) == (0x108, b"\x01\x02",
                                                                            False)
        ev.send(0x100, b"\x00\x10")
        assert bus.sent == [(0x100, b"\x00\x10", False)]
        assert ev.receive(0.05) is None
    finally:
        ev.close()


def test_bad_socketcand_spec() -> None:
    with pytest.raises(InstrumentError, match="must look like can0@host:port"):
        get_driver("ccs-can")(spec("127.0.0.1:29536", interface="socketcand"), LIMITS)


# --------------------------------------------------------------------------- twin
@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop("can-twins")
    yield background
    background.stop()


@pytest.fixture()
def channel() -> str:
    return "tb-ccs-" + uuid.uuid4().hex[:8]


@pytest.fixture()
def twin(loop: BackgroundLoop, channel: str) -> Iterator[CcsCanTwin]:
    controller = CcsCanTwin(SimplePilot(duty_pct=5.0), SimpleDcCharger(limit_a=200.0),
                            period_s=0.05)
    loop.run(controller.start("virtual", channel), 5)
    yield controller
    loop.run(controller.stop(), 5)


@pytest.fixture()
def bridge(loop: BackgroundLoop, channel: str, twin: CcsCanTwin) -> Iterator[SocketcandServer]:
    server = SocketcandServer(channel)
    loop.run(server.start(), 5)
    yield server
    loop.run(server.stop(), 5)


def dc_session(ev, twin: CcsCanTwin) -> None:
    assert ev.cp_state() == "A1"
    ev.plug_in("ev-dc")
    assert ev.cp_state() == "B2" and ev.plug_status().plugged
    ev.set_dc_limits(450.0, 150.0, 60_000.0)
    ev.set_dc_targets(400.0, 100.0)
    ev.request_energy()
    assert ev.duty_cycle_pct() == pytest.approx(5.0)
    deadline = time.monotonic() + 2.0
    while ev.current_a() != pytest.approx(100.0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ev.evse_dc_status().voltage_v == pytest.approx(400.0)
    assert ev.current_a() == pytest.approx(100.0)
    assert twin.energised
    ev.safe_state()
    assert not twin.energised
    assert twin.charger.present() == (0.0, 0.0)


def test_twin_on_virtual_bus(twin: CcsCanTwin, channel: str) -> None:
    ev = get_driver("ccs-can")(spec(channel, interface="virtual"), LIMITS)
    try:
        dc_session(ev, twin)
        time.sleep(0.25)  # the 0x1302 frame is repeated cyclically
        assert sum(m.arbitration_id == 0x1302 for m in twin.received) >= 4
    finally:
        ev.close()


def test_twin_through_socketcand_bridge(twin: CcsCanTwin, bridge: SocketcandServer) -> None:
    ev = get_driver("ccs-can")(spec(bridge.resource, interface="socketcand"), LIMITS)
    try:
        dc_session(ev, twin)
        twin.set_fault("garbage")
        time.sleep(0.2)
        with pytest.raises(InstrumentError, match="malformed ChargeInfo"):
            ev.cp_state()
        twin.set_fault(None)
        bridge.drop_clients()
        time.sleep(0.3)
        with pytest.raises(InstrumentError, match="closed the connection|frame not sent|CAN bus lost"):
            ev.set_cp_state("B")
    finally:
        ev.close()


def test_socketcand_without_server_is_quick_and_clear() -> None:
    started = time.monotonic()
    with pytest.raises(InstrumentError, match="cannot connect"):
        get_driver("ccs-can")(spec("vcan0@127.0.0.1:9", interface="socketcand"), LIMITS)
    assert time.monotonic() - started < 3.0


CHILD = """
import asyncio, sys, uuid
from instruments.twins.can_ccs import CcsCanTwin
from instruments.twins.socketcand import SocketcandServer

async def main():
    channel = "child-" + uuid.uuid4().hex[:8]
    twin = CcsCanTwin(period_s=0.05)
    await twin.start("virtual", channel)
    bridge = SocketcandServer(channel)
    print(await bridge.start(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print("energised" if twin.energised else "safe", flush=True)
    await bridge.stop()
    await twin.stop()

asyncio.run(main())
"""


def test_cross_process_through_socketcand() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        resource = child.stdout.readline().strip()
        assert "@127.0.0.1:" in resource
        ev = get_driver("ccs-can")(spec(resource, timeout_s=3.0, interface="socketcand"),
                                   LIMITS)
        try:
            ev.plug_in("ev-dc")
            ev.request_energy()
            assert ev.cp_state() == "C2"
            ev.safe_state()
        finally:
            ev.close()
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "safe"
    finally:
        child.kill() if child.poll() is None else None
        child.wait(10)
