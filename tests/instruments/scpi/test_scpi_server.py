"""The SCPI twin server base: header matching, compound lines, IEEE 488.2, error queue, faults."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from instruments.twins.scpi_server import (
    Call,
    ScpiTwin,
    TwinThread,
    header_matches,
    split_units,
)


class DemoTwin(ScpiTwin):
    """A tiny instrument: a voltage setting (0..300 V) and per-phase selection."""

    def __init__(self) -> None:
        super().__init__("ACME,DEMO-1,0001,1.0")
        self.voltage_v = 0.0
        self.selected = 1
        self.command("[SOURce:]VOLTage[:LEVel]", self._set_voltage, 1)
        self.command("[SOURce:]VOLTage[:LEVel]?", lambda _c: f"{self.voltage_v:g}")
        self.command("INSTrument:COUPle", lambda c: None, 1)
        self.command("INSTrument:NSELect", self._nsel, 1)
        self.command("INSTrument:NSELect?", lambda _c: str(self.selected))
        self.command("CHANnel#:VALue?", lambda c: f"ch{c.suffix}")

    def _set_voltage(self, call: Call) -> None:
        self.voltage_v = call.number(0, 0.0, 300.0, units={"V": 1.0, "MV": 1e-3})

    def _nsel(self, call: Call) -> None:
        self.selected = int(call.number(0, 1, 3))


class LineClient:
    """A raw socket client speaking lines (no pyvisa), to see exactly what the twin sends."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        self.buffer = b""

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")

    def read_raw(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def ask(self, line: str) -> str:
        self.send(line)
        return self.read_raw().decode()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def demo() -> Iterator[tuple[DemoTwin, Callable[[], LineClient]]]:
    twin = DemoTwin()
    clients: list[LineClient] = []
    with TwinThread(twin) as running:
        def connect() -> LineClient:
            client = LineClient(running.port)
            clients.append(client)
            return client
        yield twin, connect
        for client in clients:
            client.close()


def test_header_matching_long_short_and_case() -> None:
    assert header_matches(":NUMeric:NORMal:VALue?", ":NUM:NORM:VAL?") == ()
    assert header_matches(":NUMeric:NORMal:VALue?", ":numeric:normal:value?") == ()
    assert header_matches(":NUMeric:NORMal:VALue?", "NUM:NORM:VAL?") == ()
    assert header_matches(":NUMeric:NORMal:VALue?", ":NUME:NORM:VAL?") is None  # no in-between
    assert header_matches(":NUMeric:NORMal:VALue?", ":NUM:NORM:VAL") is None  # not a query
    assert header_matches("[SOURce:]VOLTage[:LEVel]:AC", "source:volt:lev:ac") == ()
    assert header_matches("[SOURce:]VOLTage[:LEVel]:AC", "VOLT:AC") == ()
    assert header_matches(":NUMeric[:NORMal]:ITEM#", ":NUM:ITEM12") == (12,)
    assert header_matches(":NUMeric[:NORMal]:ITEM#", ":NUM:ITEM") == (1,)
    assert header_matches("UTRMS#?", "UTRMS1") is None


def test_split_units_keeps_quoted_semicolons() -> None:
    assert split_units('A 1;B "x;y";*OPC?') == ["A 1", 'B "x;y"', "*OPC?"]


def test_common_commands_and_compound_replies(demo) -> None:
    _twin, connect = demo
    client = connect()
    assert client.ask("*IDN?") == "ACME,DEMO-1,0001,1.0"
    assert client.ask("VOLT 12.5;*OPC?;:VOLT?") == "1;12.5"
    assert client.ask("*ESR?") == "128"  # power-on bit only, then cleared
    assert client.ask("*OPC;*ESR?") == "1"
    assert client.ask("source:voltage:level 230000mV;SOUR:VOLT:LEV?") == "230"


def test_compound_path_is_relative_to_previous_header(demo) -> None:
    _twin, connect = demo
    client = connect()
    assert client.ask("INST:COUP NONE;NSEL 3;NSEL?") == "3"
    assert client.ask("INST:COUP NONE;:INST:NSEL 2;:INST:NSEL?") == "2"
    assert client.ask("CHAN2:VAL?;CHAN3:VAL?") == "ch2;ch3"
    assert client.ask("SYST:ERR?") == '0,"No error"'


def test_unknown_header_and_bad_parameters_queue_errors(demo) -> None:
    twin, connect = demo
    client = connect()
    client.ask("*ESR?")
    client.send("BOGUS:CMD 1")
    client.send("VOLT twelve")
    client.send("VOLT 999")
    client.send("VOLT")
    assert client.ask("*ESR?") == str(32 | 16)  # CME and EXE
    assert client.ask("SYST:ERR?") == '-113,"Undefined header"'
    assert client.ask("SYST:ERR?") == '-224,"Illegal parameter value"'
    assert client.ask("SYST:ERR?") == '-222,"Data out of range"'
    assert client.ask("SYST:ERR:NEXT?") == '-109,"Missing parameter"'
    assert client.ask("SYST:ERR?") == '0,"No error"'
    assert twin.voltage_v == 0.0


def test_error_queue_overflows_into_350_and_cls_clears(demo) -> None:
    _twin, connect = demo
    client = connect()
    client.send(";".join(["NOPE"] * 35))
    entries = [client.ask("SYST:ERR?") for _ in range(31)]
    assert entries[:29] == ['-113,"Undefined header"'] * 29
    assert entries[29] == '-350,"Queue overflow"'
    assert entries[30] == '0,"No error"'
    client.send("NOPE;NOPE")
    client.send("*CLS")
    assert client.ask("SYST:ERR?;*ESR?") == '0,"No error";0'


def test_received_log_records_every_line(demo) -> None:
    twin, connect = demo
    client = connect()
    client.ask("VOLT 5;*OPC?")
    assert list(twin.received)[-1] == "VOLT 5;*OPC?"


def test_garbage_replies_are_not_text(demo) -> None:
    twin, connect = demo
    client = connect()
    twin.garbage_replies = True
    client.send("*IDN?")
    raw = client.read_raw()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    twin.garbage_replies = False
    assert client.ask("*IDN?") == "ACME,DEMO-1,0001,1.0"


def test_silent_twin_reads_but_never_answers_or_executes(demo) -> None:
    twin, connect = demo
    client = connect()
    twin.silent = True
    client.sock.settimeout(0.3)
    client.send("VOLT 7;*IDN?")
    with pytest.raises(TimeoutError):
        client.read_raw()
    assert twin.voltage_v == 0.0
    assert "VOLT 7;*IDN?" in twin.received


def test_disconnect_drops_clients_and_accepts_new_ones(demo) -> None:
    twin, connect = demo
    client = connect()
    assert client.ask("*OPC?") == "1"
    twin.disconnect()
    client.sock.settimeout(2.0)
    with pytest.raises(ConnectionError):
        client.read_raw()
    assert connect().ask("*OPC?") == "1"
