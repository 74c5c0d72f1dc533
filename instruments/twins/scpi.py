"""A small SCPI instrument server: line framing, header matching, IEEE 488.2 basics.

``ScpiDevice`` holds what every SCPI instrument has (error queue, standard event status
register, ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC``/``*OPC?``, ``*ESR?``, ``SYST:ERR?``);
subclasses add device commands with :meth:`ScpiDevice.command`. ``ScpiServer`` serves one
device on a TCP socket: commands are ``\\n``-terminated lines, several commands may be
joined with ``;``, and the replies of the queries of one line are joined with ``;`` on one
reply line. Set commands produce no reply; a line with an unknown header queues
``-113,"Undefined header"`` and answers nothing for that command.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# SCPI parsing and number formatting are shared with the instrument twins' server base;
# nr3 and split_params are re-exported here for the station I/O box twin.
from instruments.twins.scpi_server import nr3, split_params, split_units  # noqa: F401

log = logging.getLogger("testbench.sim.scpi")

ERROR_QUEUE_LENGTH = 30

# Standard event status register bits (IEEE 488.2).
ESR_OPC = 1 << 0
ESR_QYE = 1 << 2
ESR_DDE = 1 << 3
ESR_EXE = 1 << 4
ESR_CME = 1 << 5
ESR_PON = 1 << 7

SCPI_ERRORS: dict[int, str] = {
    -100: "Command error",
    -102: "Syntax error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -200: "Execution error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -350: "Queue overflow",
}

Handler = Callable[[list[str]], str | None]


class ScpiError(Exception):
    """Raised by a command handler to queue an SCPI error (code and message)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or SCPI_ERRORS.get(code, "Error")
        super().__init__(f"{code},{self.message}")


@dataclass(frozen=True)
class _Command:
    nodes: tuple[tuple[str, str], ...]  # (short form, long form) per header node, lower case
    query: bool
    handler: Handler
    min_args: int
    max_args: int


def _node_forms(node: str) -> tuple[str, str]:
    """``PROFile`` -> (``prof``, ``profile``); a node without lower case has one form."""
    short = "".join(ch for ch in node if not ch.islower())
    return short.lower(), node.lower()


class ScpiDevice:
    """Base of a simulated SCPI instrument: error queue, event status, 488.2 commands."""

    def __init__(self, idn: str) -> None:
        self.idn = idn
        self._errors: deque[tuple[int, str]] = deque()
        self.last_request_s = time.monotonic()  # when a line last arrived (watchdog.py)
        self._esr = ESR_PON
        self._commands: list[_Command] = []
        self._common: dict[str, Handler] = {
            "*idn?": lambda _args: self.idn,
            "*rst": self._rst,
            "*cls": self._cls,
            "*opc": self._opc,
            "*opc?": lambda _args: "1",
            "*esr?": self._esr_query,
            "*wai": lambda _args: None,
        }
        self.command("SYSTem:ERRor?", self._error_query)
        self.command("SYSTem:ERRor:NEXT?", self._error_query)

    # -- registration

    def command(self, header: str, handler: Handler, args: int | tuple[int, int] = 0) -> None:
        """Register a device command, e.g. ``command("EV:PROFile", fn, args=1)``.

        Upper-case letters of each node form its short form; either form matches, case
        insensitive, with an optional leading ``:``. A trailing ``?`` makes it a query.
        ``args`` is the exact count or a (min, max) range of parameters.
        """
        query = header.endswith("?")
        nodes = tuple(_node_forms(n) for n in header.rstrip("?").lstrip(":").split(":"))
        low, high = (args, args) if isinstance(args, int) else args
        self._commands.append(_Command(nodes, query, handler, low, high))

    # -- error queue and status

    def push_error(self, code: int, message: str | None = None) -> None:
        """Queue an error; when the queue is full the newest entry becomes -350."""
        text = message or SCPI_ERRORS.get(code, "Error")
        if -199 <= code <= -100:
            self._esr |= ESR_CME
        elif -299 <= code <= -200:
            self._esr |= ESR_EXE
        elif -399 <= code <= -300 or code > 0:
            self._esr |= ESR_DDE
        elif -499 <= code <= -400:
            self._esr |= ESR_QYE
        if len(self._errors) >= ERROR_QUEUE_LENGTH:
            self._errors[-1] = (-350, SCPI_ERRORS[-350])
        else:
            self._errors.append((code, text))

    def _error_query(self, _args: list[str]) -> str:
        if not self._errors:
            return '0,"No error"'
        code, text = self._errors.popleft()
        return f'{code},"{text}"'

    def _esr_query(self, _args: list[str]) -> str:
        value, self._esr = self._esr, 0
        return str(value)

    def _cls(self, _args: list[str]) -> None:
        self._errors.clear()
        self._esr = 0

    def _opc(self, _args: list[str]) -> None:
        self._esr |= ESR_OPC

    def _rst(self, _args: list[str]) -> None:
        self.reset()

    def reset(self) -> None:
        """Device part of ``*RST``; subclasses override."""

    # -- execution

    def execute_line(self, line: str) -> str | None:
        """Execute one line; the reply line (without terminator), or None if no query."""
        replies: list[str] = []
        for unit in split_units(line):
            reply = self.execute(unit)
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def execute(self, unit: str) -> str | None:
        """Execute one program message unit (header plus parameters)."""
        match = re.match(r"^\s*(\S+)\s*(.*)$", unit)
        if match is None:
            return None
        header, rest = match.group(1), match.group(2)
        params = split_params(rest)
        try:
            if header.startswith("*"):
                handler = self._common.get(header.lower())
                if handler is None:
                    raise ScpiError(-113)
                if params:
                    raise ScpiError(-108)
                return handler(params)
            command = self._find(header)
            if command is None:
                raise ScpiError(-113)
            if len(params) < command.min_args:
                raise ScpiError(-109)
            if len(params) > command.max_args:
                raise ScpiError(-108)
            return command.handler(params)
        except ScpiError as err:
            log.info("%s: %r -> error %s", self.idn, unit, err)
            self.push_error(err.code, err.message)
            return None

    def _find(self, header: str) -> _Command | None:
        query = header.endswith("?")
        nodes = header.rstrip("?").lstrip(":").lower().split(":")
        for command in self._commands:
            if command.query != query or len(command.nodes) != len(nodes):
                continue
            if all(node in forms for node, forms in zip(nodes, command.nodes, strict=True)):
                return command
        return None


class ScpiServer:
    """Serves one :class:`ScpiDevice` on a TCP port (one line in, at most one line out)."""

    def __init__(self, device: ScpiDevice, host: str, port: int) -> None:
        self.device = device
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        """Bind and listen; returns the bound port (useful when asked for port 0).

        Raises OSError when the port is busy.
        """
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        """Stop listening and drop every client connection."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except TimeoutError:
                pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                self.device.last_request_s = time.monotonic()
                reply = self.device.execute_line(line)
                if reply is not None:
                    writer.write(reply.encode() + b"\n")
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # peer gone, or a line over the stream limit: drop the connection
        finally:
            self._writers.discard(writer)
            writer.close()
