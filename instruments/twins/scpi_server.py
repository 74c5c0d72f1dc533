"""A reusable asyncio SCPI instrument server for the simulated twins of SCPI instruments.

A twin subclasses :class:`ScpiTwin`, registers its commands with :meth:`ScpiTwin.command`
and is served on a TCP socket: ``\\n``-terminated lines, several program message units per
line joined with ``;``. The replies of the queries of one line are joined with ``;`` on one
reply line; a line without queries gets no reply.

Header patterns use SCPI notation: upper-case letters are the short form, the whole node
the long form, either matches case-insensitively (``:NUMeric:NORMal:VALue?`` matches
``:NUM:NORM:VAL?`` and ``:numeric:normal:value?``); ``[...]`` marks an optional node
(``[SOURce:]VOLTage[:LEVel]``); a trailing ``#`` on a node takes a numeric suffix
(``ITEM#`` matches ``ITEM7``; omitted means 1).

Compound rule (kept simple): a unit that starts with ``:`` is resolved from the root; a
unit without it is first tried relative to the path of the previous unit of the line
(``INST:COUP NONE;NSEL 2`` is ``INST:NSEL 2``), then from the root. Common (``*``)
commands never change the path.

IEEE 488.2: ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC``, ``*OPC?`` (``1``), ``*WAI``, ``*ESR?``
(bits 0 OPC, 2 QYE, 3 DDE, 4 EXE, 5 CME, 7 PON), ``*STB?``; ``SYSTem:ERRor[:NEXT]?`` is a
FIFO of 30 entries whose last entry becomes ``-350,"Queue overflow"`` when it overflows.
An unknown header queues ``-113,"Undefined header"`` (CME); a bad parameter
``-224,"Illegal parameter value"``; a number outside the instrument's range
``-222,"Data out of range"`` (EXE).

Fault hooks for tests: :attr:`ScpiTwin.garbage_replies` (replies become
:attr:`ScpiTwin.garbage_bytes`, not valid UTF-8 by default), :attr:`ScpiTwin.silent` (lines
are read and dropped, nothing is executed or answered), :meth:`ScpiTwin.disconnect` (drop
every client), :attr:`ScpiTwin.drop_on_request` (close a connection as soon as a line
arrives), :attr:`ScpiTwin.error_on_settings` (every line with a setting command also queues
``-200,"Execution error"``), :attr:`ScpiTwin.reply_delay_s`. :attr:`ScpiTwin.received`
records the lines received so a test can prove a command was never sent.

Time: a twin's own durations (update intervals, list dwell times) are instrument seconds;
in the simulated lab the instrument lives in lab time, so :attr:`ScpiTwin.time_scale` (lab
seconds per wall second, 1 by default) converts them with :meth:`ScpiTwin.wall_s`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Self

from testbench.aio import BackgroundLoop

log = logging.getLogger("testbench.sim.scpi")

ERROR_QUEUE_LENGTH = 30

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
    -203: "Command protected",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -350: "Queue overflow",
}

DEFAULT_GARBAGE = b"\xff\xfe\x80#?\x9c\xc3(\n"


class ScpiError(Exception):
    """Raised by a command handler to queue an SCPI error (code and message)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or SCPI_ERRORS.get(code, "Error")
        super().__init__(f"{code},{self.message}")


_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)$")


@dataclass
class Call:
    """One program message unit as a handler sees it."""

    header: str
    params: list[str]
    suffixes: tuple[int, ...]
    short_header: str
    long_header: str
    line_state: dict[str, Any] = field(default_factory=dict)

    @property
    def suffix(self) -> int:
        """The first numeric suffix (1 when the header has none)."""
        return self.suffixes[0] if self.suffixes else 1

    def param(self, index: int = 0) -> str:
        if index >= len(self.params):
            raise ScpiError(-109)
        return self.params[index]

    def number(self, index: int = 0, low: float | None = None, high: float | None = None,
              units: dict[str, float] | None = None) -> float:
        """Parameter ``index`` as a number; -224 if not a number, -222 outside [low, high].

        ``units`` maps accepted suffixes (upper case, e.g. ``{"MS": 1e-3, "S": 1}``) to
        multipliers; a bare number is always accepted. ``MIN``/``MAX`` give low/high.
        """
        text = self.param(index).strip()
        word = text.upper()
        if word in ("MIN", "MINIMUM") and low is not None:
            return low
        if word in ("MAX", "MAXIMUM") and high is not None:
            return high
        match = _NUMBER.match(text)
        if match is None:
            raise ScpiError(-224)
        value = float(match.group(1))
        unit = match.group(2).upper()
        if unit:
            if not units or unit not in units:
                raise ScpiError(-224)
            value *= units[unit]
        if not math.isfinite(value):
            raise ScpiError(-224)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ScpiError(-222)
        return value

    def numbers(self, low: float | None = None, high: float | None = None) -> list[float]:
        """Every parameter as a number (lists such as ``LIST:VOLT 230,207,230``)."""
        if not self.params:
            raise ScpiError(-109)
        return [self.number(i, low, high) for i in range(len(self.params))]

    def choice(self, index: int, *options: str) -> str:
        """Parameter ``index`` as one of ``options`` (SCPI short/long form), canonical upper."""
        text = self.param(index).strip().lower()
        for option in options:
            short, long_ = node_forms(option)
            if text in (short, long_):
                return option.upper()
        raise ScpiError(-224)

    def boolean(self, index: int = 0) -> bool:
        """``ON``/``OFF``/``1``/``0``."""
        word = self.choice(index, "ON", "OFF", "1", "0")
        return word in ("ON", "1")


Reply = str | None
Handler = Callable[[Call], Reply | Awaitable[Reply]]


@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    numeric: bool


@dataclass(frozen=True)
class _Command:
    nodes: tuple[_Node, ...]
    query: bool
    handler: Handler
    min_args: int
    max_args: int


def node_forms(node: str) -> tuple[str, str]:
    """``PROFile`` -> (``prof``, ``profile``); a node without lower case has one form."""
    short = "".join(ch for ch in node if not ch.islower())
    return short.lower(), node.lower()


def _expand(pattern: str) -> list[list[str]]:
    """Every node list a pattern with ``[...]`` optional parts stands for."""
    body = pattern.strip().lstrip(":")
    pieces: list[tuple[str, bool]] = []  # (text, optional)
    for match in re.finditer(r"\[([^\]]+)\]|([^\[\]]+)", body):
        if match.group(1) is not None:
            pieces.append((match.group(1), True))
        else:
            pieces.append((match.group(2), False))
    optional = [i for i, (_text, opt) in enumerate(pieces) if opt]
    variants: list[list[str]] = []
    for keep in itertools.product((True, False), repeat=len(optional)):
        kept = dict(zip(optional, keep, strict=True))
        text = "".join(t for i, (t, opt) in enumerate(pieces) if not opt or kept[i])
        nodes = [n for n in text.split(":") if n]
        if nodes and nodes not in variants:
            variants.append(nodes)
    return variants


def _split_header_node(node: str) -> tuple[str, int | None]:
    match = re.fullmatch(r"([A-Za-z_*]+?)(\d*)", node)
    if match is None:
        return node.lower(), None
    digits = match.group(2)
    return match.group(1).lower(), (int(digits) if digits else None)


def header_matches(pattern: str, header: str) -> tuple[int, ...] | None:
    """Whether ``header`` (as sent) matches ``pattern``; the numeric suffixes if it does.

    >>> header_matches(":NUMeric:NORMal:VALue?", ":num:norm:val?")
    ()
    >>> header_matches(":NUMeric[:NORMal]:ITEM#", "NUM:ITEM12")
    (12,)
    """
    query = pattern.strip().endswith("?")
    if header.strip().endswith("?") != query:
        return None
    nodes = [n for n in header.strip().rstrip("?").lstrip(":").split(":")]
    for variant in _expand(pattern.strip().rstrip("?")):
        suffixes = _match_nodes([_parse_node(n) for n in variant], nodes)
        if suffixes is not None:
            return suffixes
    return None


def _parse_node(text: str) -> _Node:
    numeric = text.endswith("#")
    short, long_ = node_forms(text.rstrip("#"))
    return _Node(short, long_, numeric)


def _match_nodes(pattern: list[_Node] | tuple[_Node, ...], nodes: list[str]) -> tuple[int, ...] | None:
    if len(pattern) != len(nodes):
        return None
    suffixes: list[int] = []
    for want, got in zip(pattern, nodes, strict=True):
        name, number = _split_header_node(got)
        if name not in (want.short, want.long):
            return None
        if want.numeric:
            suffixes.append(1 if number is None else number)
        elif number is not None:
            return None
    return tuple(suffixes)


def split_params(text: str) -> list[str]:
    """Split a parameter list on commas (outside quotes); strip quotes and blanks."""
    params: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                current.append(ch)
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            params.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    last = "".join(current).strip()
    if last or params:
        params.append(last)
    return params


def split_units(line: str) -> list[str]:
    """Split one line into program message units on ``;`` (outside quotes)."""
    units: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for ch in line:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            current.append(ch)
        elif ch == ";":
            units.append("".join(current))
            current = []
        else:
            current.append(ch)
    units.append("".join(current))
    return [u.strip() for u in units if u.strip()]


def nr3(value: float, digits: int = 6) -> str:
    """A number as SCPI NR3 (``2.300000E+02``); NaN as ``NAN``, infinities as ``INF``."""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return f"{value:.{digits}E}"


class ScpiTwin:
    """Base of a simulated SCPI instrument served over TCP (see the module docstring)."""

    def __init__(self, idn: str, *,
                 error_queries: tuple[str, ...] = ("SYSTem:ERRor[:NEXT]?",)) -> None:
        self.idn = idn
        self.garbage_replies = False
        self.garbage_bytes = DEFAULT_GARBAGE
        self.silent = False
        self.drop_on_request = False
        self.error_on_settings = False
        self.reply_delay_s = 0.0
        self.time_scale = 1.0
        self.received: deque[str] = deque(maxlen=2000)
        self.last_request_s = time.monotonic()  # when a line last arrived (watchdog.py)
        self._errors: deque[tuple[int, str]] = deque()
        self._esr = ESR_PON
        self._commands: list[_Command] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.command("*IDN?", lambda _c: self.idn)
        self.command("*RST", self._rst)
        self.command("*CLS", self._cls)
        self.command("*OPC", self._opc)
        self.command("*OPC?", lambda _c: "1")
        self.command("*WAI", lambda _c: None)
        self.command("*ESR?", self._esr_query)
        self.command("*STB?", self._stb_query)
        for pattern in error_queries:
            self.command(pattern, self._error_query)

    # ------------------------------------------------------------------ registration
    def command(self, pattern: str, handler: Handler, args: int | tuple[int, int] = 0) -> None:
        """Register a command (see the module docstring for the pattern notation).

        ``args`` is the exact parameter count or a (min, max) range; -109/-108 otherwise.
        A handler returns the reply text (queries), None (settings), or an awaitable of
        either; it raises :class:`ScpiError` to queue an error.
        """
        query = pattern.strip().endswith("?")
        low, high = (args, args) if isinstance(args, int) else args
        for variant in _expand(pattern.strip().rstrip("?")):
            nodes = tuple(_parse_node(n) for n in variant)
            self._commands.append(_Command(nodes, query, handler, low, high))

    # ------------------------------------------------------------------ status and errors
    def push_error(self, code: int, message: str | None = None) -> None:
        """Queue an error and set its event status bit; overflow ends in -350."""
        text = message or SCPI_ERRORS.get(code, "Error")
        if -199 <= code <= -100:
            self._esr |= ESR_CME
        elif -299 <= code <= -200:
            self._esr |= ESR_EXE
        elif -499 <= code <= -400:
            self._esr |= ESR_QYE
        else:
            self._esr |= ESR_DDE
        if len(self._errors) >= ERROR_QUEUE_LENGTH:
            self._errors[-1] = (-350, SCPI_ERRORS[-350])
        else:
            self._errors.append((code, text))

    def format_error(self, code: int, text: str) -> str:
        """How this model prints an error-queue entry; subclasses may override."""
        return f'{code},"{text}"'

    def pop_error(self) -> str:
        """The oldest error-queue entry (``0,"No error"`` when empty), removed."""
        if not self._errors:
            return self.format_error(0, "No error")
        code, text = self._errors.popleft()
        return self.format_error(code, text)

    def pop_all_errors(self) -> str:
        """Every queued entry, comma-separated (``SYST:ERR:ALL?`` style), queue emptied."""
        if not self._errors:
            return self.format_error(0, "No error")
        entries = [self.format_error(code, text) for code, text in self._errors]
        self._errors.clear()
        return ",".join(entries)

    @property
    def error_count(self) -> int:
        return len(self._errors)

    def _error_query(self, _call: Call) -> str:
        return self.pop_error()

    def _esr_query(self, _call: Call) -> str:
        value, self._esr = self._esr, 0
        return str(value)

    def _stb_query(self, _call: Call) -> str:
        stb = (1 << 2 if self._errors else 0) | (1 << 5 if self._esr else 0)
        return str(stb)

    def _cls(self, _call: Call) -> None:
        self._errors.clear()
        self._esr = 0

    def _opc(self, _call: Call) -> None:
        self._esr |= ESR_OPC

    def _rst(self, _call: Call) -> None:
        self.reset()

    def reset(self) -> None:
        """The device part of ``*RST``; subclasses de-energise and restore defaults."""

    def wall_s(self, instrument_s: float) -> float:
        """Wall seconds an instrument duration takes (see :attr:`time_scale`)."""
        return instrument_s / self.time_scale

    # ------------------------------------------------------------------ execution
    async def execute_line(self, line: str) -> str | None:
        """Execute one line; the reply line (without terminator), or None if no query."""
        replies: list[str] = []
        path: list[str] = []
        state: dict[str, Any] = {}
        setting = False
        for unit in split_units(line):
            reply, path = await self._execute_unit(unit, path, state)
            if reply is not None:
                replies.append(reply)
            header = unit.split(None, 1)[0] if unit.split() else ""
            setting = setting or not header.endswith("?")
        if setting and self.error_on_settings:
            self.push_error(-200, "Execution error (simulated instrument fault)")
        return ";".join(replies) if replies else None

    async def _execute_unit(self, unit: str, path: list[str],
                            state: dict[str, Any]) -> tuple[str | None, list[str]]:
        match = re.match(r"^\s*(\S+)\s*(.*)$", unit)
        if match is None:
            return None, path
        header, rest = match.group(1), match.group(2)
        params = split_params(rest)
        query = header.endswith("?")
        nodes = header.rstrip("?").lstrip(":").split(":")
        candidates = [nodes]
        if header.startswith("*"):
            new_path = path
        else:
            if path and not header.startswith(":"):
                candidates.insert(0, path + nodes)
            new_path = path
        try:
            for candidate in candidates:
                found = self._find(candidate, query)
                if found is None:
                    continue
                command, suffixes = found
                if not header.startswith("*"):
                    new_path = candidate[:-1]
                if len(params) < command.min_args:
                    raise ScpiError(-109)
                if len(params) > command.max_args:
                    raise ScpiError(-108)
                short = ":" + ":".join(
                    n.short.upper() + (str(s) if n.numeric else "")
                    for n, s in zip(command.nodes, _pad(command.nodes, suffixes), strict=True))
                long_ = ":" + ":".join(
                    n.long.upper() + (str(s) if n.numeric else "")
                    for n, s in zip(command.nodes, _pad(command.nodes, suffixes), strict=True))
                call = Call(header, params, suffixes, short, long_, state)
                result = command.handler(call)
                if inspect.isawaitable(result):
                    result = await result
                return result, new_path
            raise ScpiError(-113)
        except ScpiError as err:
            log.info("%s: %r -> error %s", self.idn, unit, err)
            self.push_error(err.code, err.message)
            return None, new_path

    def _find(self, nodes: list[str], query: bool) -> tuple[_Command, tuple[int, ...]] | None:
        for command in self._commands:
            if command.query != query:
                continue
            suffixes = _match_nodes(command.nodes, nodes)
            if suffixes is not None:
                return command, suffixes
        return None

    # ------------------------------------------------------------------ serving
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port``; returns the bound port (port 0 picks a free one)."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._serve, host, port)
        self.host = host
        self.port = self._server.sockets[0].getsockname()[1]
        await self.on_start()
        log.info("%s listening on %s:%d", self.idn, host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening, stop background activity and drop every client."""
        await self.on_stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        self._drop_clients()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except TimeoutError:
                pass
            self._server = None

    @property
    def resource(self) -> str:
        """The VISA resource string of this twin (after :meth:`start`)."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    async def on_start(self) -> None:
        """Hook: start background activity (use :meth:`spawn`)."""

    async def on_stop(self) -> None:
        """Hook: called first in :meth:`stop`."""

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned by the twin (cancelled by :meth:`stop`)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def disconnect(self) -> None:
        """Drop every client connection (fault hook); safe from any thread."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._drop_clients()
        else:
            loop.call_soon_threadsafe(self._drop_clients)

    def _drop_clients(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        sock = writer.get_extra_info("socket")
        _tune(sock, socket.TCP_NODELAY)
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                # ACK at once: a client that writes a command and then a query (two small
                # segments) would otherwise wait for the delayed ACK (Nagle), ~40 ms each.
                _tune(sock, getattr(socket, "TCP_QUICKACK", None))
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                self.received.append(line)
                self.last_request_s = time.monotonic()
                if self.drop_on_request:
                    break
                if self.silent:
                    continue
                reply = await self.execute_line(line)
                if reply is None:
                    continue
                if self.reply_delay_s > 0:
                    await asyncio.sleep(self.reply_delay_s)
                data = self.garbage_bytes if self.garbage_replies else reply.encode() + b"\n"
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # peer gone, or a line over the stream limit: drop the connection
        finally:
            self._writers.discard(writer)
            writer.close()


def _tune(sock: Any, option: int | None) -> None:
    if sock is None or option is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, option, 1)
    except OSError:
        pass


def _pad(nodes: tuple[_Node, ...], suffixes: tuple[int, ...]) -> list[int]:
    out: list[int] = []
    it = iter(suffixes)
    for node in nodes:
        out.append(next(it) if node.numeric else 0)
    return out


class TwinThread:
    """Runs a twin on its own background event loop, for synchronous tests and tools.

    >>> with TwinThread(twin) as running:      # doctest: +SKIP
    ...     driver = open_driver(running.resource)
    """

    def __init__(self, twin: ScpiTwin, host: str = "127.0.0.1", port: int = 0) -> None:
        self.twin = twin
        self.host = host
        self.port = port
        self._loop: BackgroundLoop | None = None
        self._lock = threading.Lock()

    def start(self, timeout_s: float = 5.0) -> int:
        """Start the loop and the twin; returns the bound port."""
        with self._lock:
            if self._loop is None:
                self._loop = BackgroundLoop(name=f"twin-{type(self.twin).__name__}")
                self.port = self._loop.run(self.twin.start(self.host, self.port), timeout_s)
        return self.port

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the twin and its loop (idempotent)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            loop.run(self.twin.stop(), timeout_s)
        finally:
            loop.stop(timeout_s)

    def call(self, fn: Callable[..., Any], *args: Any, timeout_s: float = 5.0) -> Any:
        """Run ``fn(*args)`` on the twin's loop thread and return its result."""
        if self._loop is None:
            raise RuntimeError("twin thread not started")

        async def _run() -> Any:
            result = fn(*args)
            return await result if inspect.isawaitable(result) else result

        return self._loop.run(_run(), timeout_s)

    @property
    def resource(self) -> str:
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


__all__ = [
    "DEFAULT_GARBAGE",
    "ERROR_QUEUE_LENGTH",
    "ESR_CME",
    "ESR_DDE",
    "ESR_EXE",
    "ESR_OPC",
    "ESR_PON",
    "ESR_QYE",
    "SCPI_ERRORS",
    "Call",
    "ScpiError",
    "ScpiTwin",
    "TwinThread",
    "header_matches",
    "node_forms",
    "nr3",
    "split_params",
    "split_units",
]
