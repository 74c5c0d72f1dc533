"""Line-oriented serial transport over pyserial (``serial.serial_for_url``).

Resources are pyserial URLs: a device path (``/dev/ttyUSB0``, a pty such as
``/dev/pts/5``), ``socket://host:port`` (serial-over-TCP adapters and the simulated lab),
``rfc2217://host:port``. Every failure becomes an :class:`InstrumentError` naming the
instrument and the command.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import serial

from testbench.errors import InstrumentError

_POLL_S = 0.05


class SerialLine:
    """A serial line carrying ``\\n``-terminated text lines and single-byte commands.

    ``handle`` may be given for replay tests: an object with pyserial's ``read``,
    ``write``, ``in_waiting``, ``reset_input_buffer`` and ``close``.
    """

    def __init__(self, instrument: str, url: str, timeout_s: float = 5.0,
                 baudrate: int = 115200, handle: Any | None = None) -> None:
        self.instrument = instrument
        self.url = url
        self.timeout_s = timeout_s
        self._buffer = bytearray()
        self._write_lock = threading.Lock()
        if handle is not None:
            self._serial = handle
            return
        try:
            self._serial = serial.serial_for_url(url, baudrate=baudrate, timeout=_POLL_S,
                                                 write_timeout=timeout_s)
            self._serial.reset_input_buffer()  # drop lines queued before we opened
        except (serial.SerialException, OSError, ValueError) as exc:
            raise InstrumentError(
                instrument, f"open {url}", None,
                f"cannot open the serial line ({exc}). Check the cable / adapter and that the "
                "resource in lab.toml is the right device path or socket:// URL") from exc

    def write(self, data: bytes, command: str) -> None:
        """Send raw bytes (``command`` names them in errors)."""
        with self._write_lock:
            try:
                self._serial.write(data)
                flush = getattr(self._serial, "flush", None)
                if callable(flush):
                    flush()
            except serial.SerialTimeoutException as exc:
                raise InstrumentError(self.instrument, command, None,
                                      f"write not accepted within {self.timeout_s:g} s") from exc
            except (serial.SerialException, OSError) as exc:
                raise InstrumentError(self.instrument, command, None,
                                      f"serial line lost: {exc}") from exc

    def read_line(self, timeout_s: float, command: str = "read line") -> bytes | None:
        """The next line without its terminator, or None if none completes in ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline]).rstrip(b"\r")
                del self._buffer[: newline + 1]
                return line
            if len(self._buffer) > 4096:  # a device streaming without line ends
                line = bytes(self._buffer)
                self._buffer.clear()
                return line
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self._serial.read(max(1, int(getattr(self._serial, "in_waiting", 0)
                                                     or 0)))
            except (serial.SerialException, OSError) as exc:
                raise InstrumentError(self.instrument, command, None,
                                      f"serial line lost: {exc}") from exc
            if chunk:
                self._buffer.extend(chunk)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead line is fine
            self._serial.close()
