"""Modbus TCP transport: resources, exception responses, silence, garbage, reconnects."""

from __future__ import annotations

import socket

import pytest
from modbus_replay import ReplayClient, exception, regs
from pymodbus.exceptions import ModbusIOException

from instruments.transports.modbus import ModbusTransport, parse_resource
from instruments.twins.modbus_relay import ModbusRelayTwin
from testbench.errors import InstrumentError


@pytest.mark.parametrize(("resource", "expected"), [
    ("10.0.0.5", ("10.0.0.5", 502)),
    ("10.0.0.5:1502", ("10.0.0.5", 1502)),
    ("modbus-tcp://ge.lab:503", ("ge.lab", 503)),
    ("[::1]:5020", ("::1", 5020)),
])
def test_resource_forms(resource: str, expected: tuple[str, int]) -> None:
    assert parse_resource(resource) == expected


def test_bad_port_is_a_clear_error() -> None:
    with pytest.raises(InstrumentError, match="port 'x' is not a number"):
        ModbusTransport("ge", "10.0.0.5:x")


def test_unreachable_instrument() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InstrumentError) as info:
        ModbusTransport("ge", f"127.0.0.1:{port}", timeout_s=1.0)
    assert info.value.instrument == "ge"
    assert "cannot connect" in info.value.problem


def test_exception_response_names_command_and_code() -> None:
    client = ReplayClient([("read_holding_registers", (500, 2), exception(3, 2))])
    mb = ModbusTransport("psb", "unused", client=client)
    with pytest.raises(InstrumentError) as info:
        mb.read_holding(500, 2)
    assert info.value.command == "read_holding_registers 500 x2"
    assert info.value.reply == "exception 2 (illegal data address)"


def test_short_reply_is_garbage() -> None:
    client = ReplayClient([("read_holding_registers", (121, 6), regs(1, 2))])
    mb = ModbusTransport("psb", "unused", client=client)
    with pytest.raises(InstrumentError, match="expected 6 16-bit registers"):
        mb.read_float32(121, 3)


def test_io_error_without_bytes_is_a_timeout() -> None:
    client = ReplayClient([("write_register", (500, 7), ModbusIOException("No response"))])
    mb = ModbusTransport("psb", "unused", timeout_s=0.3, client=client)
    with pytest.raises(InstrumentError, match=r"no reply within 0.3 s") as info:
        mb.write_register(500, 7)
    assert info.value.command == "write_register 500"


def test_register_value_out_of_range_is_not_sent() -> None:
    client = ReplayClient([])
    mb = ModbusTransport("psb", "unused", client=client)
    with pytest.raises(InstrumentError, match="does not fit a 16-bit register"):
        mb.write_register(500, 70000)
    client.assert_done()


def test_float_word_order() -> None:
    client = ReplayClient([("read_holding_registers", (121, 2), regs(0x0000, 0x43FA)),
                           ("write_registers", (10, [0x0000, 0x4366]), None)])
    mb = ModbusTransport("x", "unused", word_order="little", client=client)
    assert mb.read_float32(121) == [500.0]
    with pytest.raises(InstrumentError, match="no reply"):  # None reply = nothing came back
        mb.write_float32(10, 230.0)


@pytest.fixture()
def twin(loop):
    relay = ModbusRelayTwin()
    loop.run(relay.start(), 5)
    yield relay
    loop.run(relay.stop(), 5)


def test_silent_device_times_out(twin: ModbusRelayTwin) -> None:
    mb = ModbusTransport("rb", twin.resource, timeout_s=0.3)
    twin.set_fault("silent")
    with pytest.raises(InstrumentError, match=r"no reply within 0.3 s") as info:
        mb.write_coil(2, True)
    assert info.value.command == "write_coil 2"
    assert twin.port.relay(2) is False  # a silent device executes nothing
    mb.close()


def test_garbage_reply_is_shown(twin: ModbusRelayTwin) -> None:
    mb = ModbusTransport("rb", twin.resource, timeout_s=0.3)
    twin.set_fault("garbage")
    with pytest.raises(InstrumentError, match="garbage on the line") as info:
        mb.read_coils(0, 8)
    assert "garbage" in (info.value.reply or "")
    mb.close()


def test_reconnects_once_after_the_peer_closed(twin: ModbusRelayTwin) -> None:
    mb = ModbusTransport("rb", twin.resource, timeout_s=1.0)
    assert mb.read_coils(0, 8) == [False] * 8
    twin.set_fault("disconnect")
    with pytest.raises(InstrumentError, match="connection lost"):
        mb.read_coils(0, 8)
    twin.set_fault(None)
    assert mb.read_coils(0, 8) == [False] * 8
    mb.close()
