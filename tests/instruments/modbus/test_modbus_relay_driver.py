"""modbus-relay driver: replay without a server, then against the twin over TCP."""

from __future__ import annotations

import pytest
from modbus_replay import ReplayClient, coils, device_info, exception, ok_coil

from instruments.contracts import Identity
from instruments.registry import get_driver
from instruments.twins.modbus_relay import ModbusRelayTwin
from instruments.twins.ports import SimpleRelays
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits


def spec(resource: str = "unused", **options: object) -> InstrumentSpec:
    return InstrumentSpec(name="relays", role="relay_box", driver="modbus-relay",
                          resource=resource, timeout_s=1.0, options=dict(options))


def driver(steps: list, **options: object):
    client = ReplayClient(steps)
    return get_driver("modbus-relay")(spec(**options), SafetyLimits(), client=client), client


# --------------------------------------------------------------------------- replay
def test_identify_from_device_identification() -> None:
    box, client = driver([("read_device_information", (3, 0),
                           device_info({0: b"Acme", 1: b"R8", 2: b"1.4", 5: b"RB-8",
                                        0x80: b"SN42"}))])
    assert box.identify() == Identity("Acme", "RB-8", "SN42", "1.4")
    client.assert_done()


def test_identify_falls_back_to_reading_the_coils() -> None:
    box, client = driver([("read_device_information", (3, 0), exception(0x2B, 1)),
                          ("read_coils", (16, 4), coils(False, False, True, False))],
                         channels=4, first_coil=16, maker="Acme", model="RB-4")
    assert box.identify() == Identity("Acme", "RB-4", "unknown", "unknown")
    client.assert_done()


def test_set_and_read_relay_use_the_right_coils() -> None:
    box, client = driver([("write_coil", (19, True), ok_coil()),
                          ("read_coils", (19, 1), coils(True))], channels=4, first_coil=16)
    box.set_relay(3, True)
    assert box.relay(3) is True
    client.assert_done()


def test_unknown_channel_sends_nothing() -> None:
    box, client = driver([], channels=4)
    with pytest.raises(InstrumentError, match=r"relay channel 4 does not exist \(0..3\)"):
        box.set_relay(4, True)
    client.assert_done()


def test_safe_state_opens_everything_and_checks() -> None:
    steps = [("write_coil", (n, False), ok_coil()) for n in range(3)]
    box, client = driver(steps + [("read_coils", (0, 3), coils(False, True, False))], channels=3)
    with pytest.raises(InstrumentError, match=r"relays \[1\] still closed") as info:
        box.safe_state()
    assert info.value.command == "read_coils 0 x3"
    client.assert_done()


def test_exception_response_on_write() -> None:
    box, _ = driver([("write_coil", (0, True), exception(5, 4))])
    with pytest.raises(InstrumentError) as info:
        box.set_relay(0, True)
    assert (info.value.instrument, info.value.command) == ("relays", "write_coil 0")
    assert info.value.reply == "exception 4 (server device failure)"


# --------------------------------------------------------------------------- twin
@pytest.fixture()
def twin(loop):
    relay = ModbusRelayTwin(SimpleRelays(count=4, closed=[False] * 4))
    loop.run(relay.start(), 5)
    yield relay
    loop.run(relay.stop(), 5)


def test_against_twin(twin: ModbusRelayTwin) -> None:
    box = get_driver("modbus-relay")(spec(twin.resource, channels=4), SafetyLimits())
    try:
        assert box.identify() == Identity("testbench", "SIM-RELAY-4", "RB-0001", "1.0")
        box.set_relay(1, True)
        box.set_relay(3, True)
        assert twin.port.closed == [False, True, False, True]
        assert [box.relay(n) for n in range(4)] == [False, True, False, True]
        twin.port.set_relay(0, True)  # the plant switched one itself
        assert box.relay(0) is True
        assert twin.energised
        box.safe_state()
        assert not twin.energised
    finally:
        box.close()


def test_twin_refuses_a_coil_it_does_not_have(twin: ModbusRelayTwin) -> None:
    box = get_driver("modbus-relay")(spec(twin.resource, channels=8), SafetyLimits())
    try:
        with pytest.raises(InstrumentError, match="exception 2"):
            box.set_relay(6, True)
    finally:
        box.close()
