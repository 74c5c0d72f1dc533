"""Twin of the serial CP-state EV simulator: single-character commands, JSON status lines.

Reached over a pty pair (``start(transport="pty")`` returns the slave path the driver
opens) or a TCP socket (``start(transport="tcp")`` returns a ``socket://`` URL). Commands
``A``..``D`` select the EV-side CP resistor on a :class:`PilotLine`; a status line is
printed every ``interval_s``:

    {"state": "B", "ev": "B", "duty": 26.7, "cp_high_v": 9.0, "cp_low_v": -12.0,
     "fw": "0.3", "device": "SIM-CP-SERIAL"}

Faults: ``silent`` (no lines, commands ignored), ``garbage`` (lines that are not JSON),
``disconnect`` (the pty master / TCP connections are closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import tty
from dataclasses import dataclass
from typing import Protocol

from instruments.twins.lifecycle import stop_task

FAULTS = ("silent", "garbage", "disconnect")
FIRMWARE = "0.3"
_TOP_V = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0, "F": -12.0}


class PilotLine(Protocol):
    """The control pilot of one connector, as the EV side sees it."""

    def set_ev_state(self, state: str) -> None:
        """Select the EV-side resistor: A (open), B, C, D (or E: CP short)."""

    def pilot_state(self) -> str:
        """Line state, e.g. ``A1``, ``B2`` (2 = PWM on), ``E``, ``F``."""

    def duty_cycle_pct(self) -> float:
        """PWM duty cycle the charger applies (100 without PWM)."""


@dataclass
class SimplePilot:
    """A charger that offers ``duty_pct`` PWM whenever an EV is plugged (tests, stand-alone)."""

    duty_pct: float = 26.7  # 16 A
    ev_state: str = "A"

    def set_ev_state(self, state: str) -> None:
        self.ev_state = state

    def pilot_state(self) -> str:
        if self.ev_state in ("E", "F"):
            return self.ev_state
        return self.ev_state + ("1" if self.ev_state == "A" else "2")

    def duty_cycle_pct(self) -> float:
        return 100.0 if self.ev_state == "A" else self.duty_pct


def status_line(pilot: PilotLine, ev_state: str) -> bytes:
    """One JSON status line for the pilot's current state."""
    line_state = pilot.pilot_state()
    letter = line_state[0]
    duty = pilot.duty_cycle_pct()
    pwm = line_state.endswith("2")
    top = _TOP_V.get(letter, 0.0)
    status = {"state": letter, "ev": ev_state, "duty": round(duty, 1), "cp_high_v": top,
              "cp_low_v": -12.0 if pwm or letter == "F" else top, "fw": FIRMWARE,
              "device": "SIM-CP-SERIAL"}
    return (json.dumps(status) + "\r\n").encode("ascii")


class SerialCpTwin:
    """The serial CP simulator twin on a pty or a TCP socket."""

    def __init__(self, pilot: PilotLine | None = None, interval_s: float = 1.0) -> None:
        self.pilot: PilotLine = pilot if pilot is not None else SimplePilot()
        self.interval_s = interval_s
        self.ev_state = "A"
        self.fault: str | None = None
        self.commands: list[str] = []
        self.resource = ""
        self._master: int | None = None
        self._slave: int | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_request_s = time.monotonic()  # watchdog.py: last byte or open port

    @property
    def energised(self) -> bool:
        """True while the emulated EV is plugged (any resistor other than A)."""
        return self.ev_state != "A"

    def safe_state(self) -> None:
        """Watchdog safe state: EV unplugged (resistor A)."""
        self.ev_state = "A"
        self.pilot.set_ev_state("A")
        self._emit()

    # ------------------------------------------------------------------ behaviour
    def _command(self, data: bytes) -> None:
        self.last_request_s = time.monotonic()
        if self.fault in ("silent", "disconnect"):
            return
        for char in data.decode("ascii", errors="replace"):
            if char in "ABCD":
                self.commands.append(char)
                self.ev_state = char
                self.pilot.set_ev_state(char)
                self._emit()  # answer a command promptly with a fresh status line

    def _line(self) -> bytes | None:
        if self.fault in ("silent", "disconnect"):
            return None
        if self.fault == "garbage":
            return b"\xff\xfe{state: B?? duty=\x00\r\n"
        return status_line(self.pilot, self.ev_state)

    def _emit(self) -> None:
        line = self._line()
        if line is None:
            return
        if self._master is not None:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._master, line)
        for writer in list(self._writers):
            writer.write(line)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self._writers:  # a serial port held open (DTR) keeps the watchdog fed
                self.last_request_s = time.monotonic()
            self._emit()

    def set_fault(self, fault: str | None) -> None:
        """Switch a fault on (``silent``, ``garbage``, ``disconnect``) or off (None)."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown serial twin fault {fault!r}; known: {', '.join(FAULTS)}")
        self.fault = fault
        if fault == "disconnect" and self._loop is not None:
            self._loop.call_soon_threadsafe(self._disconnect)

    def _disconnect(self) -> None:
        if self._master is not None and self._loop is not None:
            self._loop.remove_reader(self._master)
            os.close(self._master)
            self._master = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    # ------------------------------------------------------------------ pty
    def _on_pty_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 256)
        except OSError:
            return
        self._command(data)

    async def _start_pty(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: bytes pass as they are
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        assert self._loop is not None
        self._loop.add_reader(master, self._on_pty_readable)
        return os.ttyname(slave)

    # ------------------------------------------------------------------ tcp
    async def _serve_client(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while data := await reader.read(256):
                self._command(data)
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _start_tcp(self, host: str, port: int) -> str:
        self._server = await asyncio.start_server(self._serve_client, host, port)
        bound = self._server.sockets[0].getsockname()[1]
        return f"socket://{host}:{bound}"

    # ------------------------------------------------------------------ lifecycle
    async def start(self, transport: str = "pty", host: str = "127.0.0.1", port: int = 0) -> str:
        """Start on a pty (``transport="pty"``) or TCP socket (``"tcp"``); returns the resource."""
        self._loop = asyncio.get_running_loop()
        if transport == "pty":
            self.resource = await self._start_pty()
        elif transport == "tcp":
            self.resource = await self._start_tcp(host, port)
        else:
            raise ValueError(f"serial twin transport must be 'pty' or 'tcp', not {transport!r}")
        self._ticker = asyncio.create_task(self._tick())
        return self.resource

    async def stop(self) -> None:
        """Stop printing, close the pty pair or the socket server."""
        await stop_task(self._ticker)
        self._ticker = None
        self._disconnect()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
