"""CAN transport over python-can 4.x: one bus, frames in and out, errors as InstrumentError.

The channel spec is what python-can calls ``channel`` (``can0``, ``vcan0``, a virtual
channel name). With ``interface="socketcand"`` the spec is ``channel@host:port``: the bus
is served over TCP by a socketcand daemon (a Linux CAN gateway, or the simulated lab's
bridge), which is how a bench reaches a CAN bus in another process or on another host.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

import can

from testbench.errors import InstrumentError

SOCKETCAND_DEFAULT_PORT = 29536


def parse_socketcand(spec: str) -> tuple[str, str, int]:
    """``can0@host:port`` -> (channel, host, port); the port defaults to 29536."""
    channel, at, address = spec.partition("@")
    if not at or not channel or not address:
        raise ValueError(f"socketcand channel spec {spec!r} must look like can0@host:port")
    host, _, port_text = address.rpartition(":") if ":" in address else (address, "", "")
    try:
        port = int(port_text) if port_text else SOCKETCAND_DEFAULT_PORT
    except ValueError:
        raise ValueError(f"socketcand channel spec {spec!r}: port {port_text!r} is not a number") \
            from None
    return channel, host, port


def _socketcand_hello(instrument: str, host: str, port: int, timeout_s: float) -> None:
    """Check that a socketcand server answers ``< hi >`` (python-can would block forever)."""
    command = f"connect socketcand {host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            hello = sock.recv(64)
    except TimeoutError:
        raise InstrumentError(instrument, command, None,
                              f"no '< hi >' greeting within {timeout_s:g} s") from None
    except OSError as exc:
        raise InstrumentError(instrument, command, None,
                              f"cannot connect ({exc}); check that socketcand runs there and "
                              "the channel spec in lab.toml (channel@host:port)") from exc
    if hello.strip() != b"< hi >":
        raise InstrumentError(instrument, command, repr(hello[:40]),
                              "not a socketcand server (expected '< hi >')")


class CanTransport:
    """A python-can bus for one instrument; ``send`` is thread-safe.

    ``bus`` may be given for replay tests: any object with python-can's ``send``,
    ``recv`` and ``shutdown``.
    """

    def __init__(self, instrument: str, channel: str, interface: str = "socketcan",
                 bitrate: int | None = None, timeout_s: float = 5.0,
                 bus: Any | None = None) -> None:
        self.instrument = instrument
        self.channel = channel
        self.interface = interface
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        if bus is not None:
            self._bus = bus
            return
        kwargs: dict[str, Any] = {"interface": interface, "channel": channel}
        if bitrate is not None and interface not in ("virtual", "socketcand"):
            kwargs["bitrate"] = bitrate
        try:
            if interface == "socketcand":
                name, host, port = parse_socketcand(channel)
                _socketcand_hello(instrument, host, port, timeout_s)
                kwargs.update(channel=name, host=host, port=port)
            self._bus = can.Bus(**kwargs)
        except ValueError as exc:
            raise InstrumentError(instrument, f"open {interface}:{channel}", None, str(exc)) \
                from None
        except (can.CanError, OSError, ImportError, NotImplementedError) as exc:
            raise InstrumentError(
                instrument, f"open {interface}:{channel}", None,
                f"cannot open the CAN bus ({exc}). Check the interface and channel in "
                "lab.toml and that the adapter is up") from exc
        # python-can's socketcand bus hides a closed connection; keep its socket to notice.
        self._socket = getattr(self._bus, "_SocketCanDaemonBus__socket", None)

    def send(self, arbitration_id: int, data: bytes, extended: bool = True,
             command: str | None = None) -> None:
        """Send one frame (``command`` names it in errors)."""
        message = can.Message(arbitration_id=arbitration_id, data=data,
                              is_extended_id=extended)
        with self._lock:
            try:
                self._bus.send(message, timeout=self.timeout_s)
            except (can.CanError, OSError) as exc:
                raise InstrumentError(self.instrument,
                                      command or f"send 0x{arbitration_id:X}", None,
                                      f"frame not sent: {exc}") from exc

    def recv(self, timeout_s: float) -> can.Message | None:
        """The next frame, or None if none arrives within ``timeout_s``."""
        try:
            message = self._bus.recv(timeout_s)
        except (can.CanError, OSError) as exc:
            raise InstrumentError(self.instrument, "receive", None,
                                  f"CAN bus lost: {exc}") from exc
        if message is None and self._socket is not None and self._peer_closed():
            raise InstrumentError(self.instrument, "receive", None,
                                  "the socketcand server closed the connection")
        return message

    def _peer_closed(self) -> bool:
        assert self._socket is not None
        try:
            return self._socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):  # shutting a dead bus is fine
            self._bus.shutdown()
