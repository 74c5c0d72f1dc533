"""SCPI over pyvisa (pyvisa-py backend): line-terminated commands with error checking.

Every failure becomes an :class:`InstrumentError` naming the instrument, the command and
the reply, so a broken instrument is reported as a bench error, never as a device failure.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pyvisa

from testbench.errors import InstrumentError

_ERROR_REPLY = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')
_rm_lock = threading.Lock()
_resource_manager: Any = None


def resource_manager() -> Any:
    """One shared pyvisa-py resource manager per process."""
    global _resource_manager
    with _rm_lock:
        if _resource_manager is None:
            _resource_manager = pyvisa.ResourceManager("@py")
        return _resource_manager


class ScpiTransport:
    """A SCPI session to one instrument; thread-safe (one command at a time)."""

    def __init__(self, instrument: str, resource: str, timeout_s: float = 5.0,
                 termination: str = "\n") -> None:
        self.instrument = instrument
        self.resource = resource
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        try:
            self._session = resource_manager().open_resource(
                resource,
                read_termination=termination,
                write_termination=termination,
                timeout=int(timeout_s * 1000),
            )
        except Exception as exc:  # noqa: BLE001 - pyvisa raises many kinds
            raise InstrumentError(
                instrument, f"open {resource}", None,
                f"cannot connect ({exc}). Check that the instrument is powered, reachable "
                "and that the resource string in lab.toml is right",
            ) from exc

    def write(self, command: str) -> None:
        """Send a command that has no reply."""
        with self._lock:
            try:
                self._session.write(command)
            except Exception as exc:  # noqa: BLE001
                raise InstrumentError(self.instrument, command, None, f"write failed: {exc}") from exc

    def query(self, command: str) -> str:
        """Send a query and return its reply line (stripped)."""
        with self._lock:
            try:
                reply = self._session.query(command)
            except pyvisa.errors.VisaIOError as exc:
                problem = (
                    f"no reply within {self.timeout_s:g} s"
                    if exc.error_code == pyvisa.constants.StatusCode.error_timeout
                    else f"I/O error: {exc.description}"
                )
                raise InstrumentError(self.instrument, command, None, problem) from exc
            except UnicodeDecodeError as exc:
                raise InstrumentError(self.instrument, command, repr(exc.object[:40]),
                                      "reply is not text (garbage on the line)") from exc
            except Exception as exc:  # noqa: BLE001
                raise InstrumentError(self.instrument, command, None, f"query failed: {exc}") from exc
        return reply.strip()

    def query_float(self, command: str) -> float:
        """Query a single number; garbage replies raise InstrumentError."""
        reply = self.query(command)
        try:
            return float(reply)
        except ValueError:
            raise InstrumentError(self.instrument, command, reply, "expected a number") from None

    def check_errors(self, after_command: str) -> None:
        """Read the error queue (``SYST:ERR?``) until empty; raise on the first real entry."""
        for _ in range(32):
            reply = self.query("SYST:ERR?")
            match = _ERROR_REPLY.match(reply)
            if match is None:
                raise InstrumentError(self.instrument, "SYST:ERR?", reply,
                                      "unreadable error-queue reply")
            code = int(match.group(1))
            if code == 0:
                return
            raise InstrumentError(self.instrument, after_command, reply,
                                  f"instrument reported error {code}: {match.group(2)}")

    def write_checked(self, command: str) -> None:
        """Send a command, then check the error queue."""
        self.write(command)
        self.check_errors(command)

    def close(self) -> None:
        with self._lock:
            try:
                self._session.close()
            except Exception:  # noqa: BLE001 - closing a dead session is fine
                pass
