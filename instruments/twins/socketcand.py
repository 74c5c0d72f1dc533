"""A socketcand-protocol bridge: serves an in-process python-can channel over TCP.

The simulated lab runs in its own process, where python-can's ``virtual`` bus cannot
reach, and this machine has no ``vcan`` kernel module. socketcand (the Linux CAN-over-TCP
daemon, which python-can speaks as ``interface="socketcand"``) carries frames over a plain
TCP socket instead: the bench opens ``channel@127.0.0.1:PORT`` and sees the twins' bus.

Only raw mode is served: ``< hi >``, ``< open NAME >`` -> ``< ok >``, ``< rawmode >`` ->
``< ok >``, then ``< send ID LEN B0 B1 .. >`` from the client and
``< frame ID SECS.USECS HEXDATA >`` to it (ids with 8 hex digits are extended).
"""

from __future__ import annotations

import asyncio
import logging
import time

import can

log = logging.getLogger("testbench.sim.socketcand")


def frame_text(message: can.Message) -> bytes:
    """A received frame in socketcand's raw-mode syntax."""
    ident = (f"{message.arbitration_id & 0x1FFFFFFF:08X}" if message.is_extended_id
             else f"{message.arbitration_id & 0x7FF:03X}")
    stamp = message.timestamp or time.time()
    return f"< frame {ident} {stamp:.6f} {bytes(message.data).hex().upper()} >".encode("ascii")


def parse_send(command: str) -> can.Message | None:
    """``< send ID LEN B0 .. >`` -> message (None if malformed)."""
    parts = command.strip("<> ").split()
    if len(parts) < 3 or parts[0] != "send":
        return None
    try:
        ident, length = parts[1], int(parts[2], 16)
        data = bytes(int(b, 16) for b in parts[3:3 + length])
    except ValueError:
        return None
    if len(data) != length:
        return None
    return can.Message(arbitration_id=int(ident, 16), data=data, is_extended_id=len(ident) > 3)


class SocketcandServer:
    """Bridges TCP clients to the python-can channel ``bus_channel`` (``interface``)."""

    def __init__(self, bus_channel: str, interface: str = "virtual", name: str = "vcan0") -> None:
        self.bus_channel = bus_channel
        self.interface = interface
        self.name = name
        self.host = "127.0.0.1"
        self.tcp_port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def resource(self) -> str:
        """The channel spec a driver opens with ``interface="socketcand"``."""
        return f"{self.name}@{self.host}:{self.tcp_port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (port 0 picks a free one); returns the channel spec ``name@host:port``."""
        self._server = await asyncio.start_server(self._serve, host, port)
        self.host = host
        self.tcp_port = int(self._server.sockets[0].getsockname()[1])
        return self.resource

    async def stop(self) -> None:
        self.drop_clients()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def drop_clients(self) -> None:
        """Close every client connection (the ``disconnect`` fault)."""
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handshake(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> bool:
        writer.write(b"< hi >")
        for expected in ("open", "rawmode"):
            raw = await reader.readuntil(b">")
            words = raw.decode("ascii", errors="replace").strip("<> \r\n").split()
            if not words or words[0] != expected:
                writer.write(b"< error unexpected command >")
                return False
            if expected == "open" and (len(words) < 2 or words[1] != self.name):
                writer.write(f"< error no such bus {words[1:]} >".encode("ascii"))
                return False
            writer.write(b"< ok >")
            await writer.drain()
        await asyncio.sleep(0.05)  # python-can reads '< ok >' alone; keep frames apart
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        bus: can.BusABC | None = None
        notifier: can.Notifier | None = None
        try:
            if not await self._handshake(reader, writer):
                return
            bus = can.Bus(interface=self.interface, channel=self.bus_channel)
            loop = asyncio.get_running_loop()
            notifier = can.Notifier(bus, [lambda m: loop.call_soon_threadsafe(
                self._forward, writer, m)], timeout=0.05)
            while True:
                raw = await reader.readuntil(b">")
                message = parse_send(raw.decode("ascii", errors="replace").strip())
                if message is not None:
                    bus.send(message)
        except (asyncio.IncompleteReadError, ConnectionError, OSError,
                asyncio.LimitOverrunError):
            pass
        finally:
            if notifier is not None:
                notifier.stop()
            if bus is not None:
                bus.shutdown()
            self._writers.discard(writer)
            writer.close()

    def _forward(self, writer: asyncio.StreamWriter, message: can.Message) -> None:
        if writer in self._writers and not writer.is_closing():
            writer.write(frame_text(message))
