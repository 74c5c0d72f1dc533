"""SCPI over pyvisa (pyvisa-py backend): line-terminated commands with error checking.

Every failure becomes an :class:`InstrumentError` naming the instrument, the command and
the reply, so a broken instrument is reported as a bench error, never as a device failure.
"""

from __future__ import annotations

import re
import socket
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

    error_query = "SYST:ERR?"

    def __init__(self, instrument: str, resource: str, timeout_s: float = 5.0,
                 termination: str = "\n", error_query: str | None = None) -> None:
        self.instrument = instrument
        self.resource = resource
        self.timeout_s = timeout_s
        self.termination = termination
        if error_query is not None:
            self.error_query = error_query
        self._lock = threading.Lock()
        self._stale = False
        self._session = self._open()

    def _open(self) -> Any:
        try:
            session = resource_manager().open_resource(
                self.resource,
                read_termination=self.termination,
                write_termination=self.termination,
                timeout=int(self.timeout_s * 1000),
            )
        except Exception as exc:
            raise InstrumentError(
                self.instrument, f"open {self.resource}", None,
                f"cannot connect ({exc}). Check that the instrument is powered, reachable "
                "and that the resource string in lab.toml is right",
            ) from exc
        _no_delay(session)
        return session

    def _fresh_session(self) -> Any:
        """After a timeout a late reply may still arrive: start over on a new connection."""
        if self._stale:
            try:
                self._session.close()
            except Exception:
                pass
            self._session = self._open()
            self._stale = False
        return self._session

    def write(self, command: str) -> None:
        """Send a command that has no reply."""
        with self._lock:
            try:
                self._fresh_session().write(command)
            except Exception as exc:
                raise InstrumentError(self.instrument, command, None, f"write failed: {exc}") from exc

    def query(self, command: str) -> str:
        """Send a query and return its reply line (stripped)."""
        with self._lock:
            try:
                reply = self._fresh_session().query(command)
            except pyvisa.errors.VisaIOError as exc:
                self._stale = True
                problem = (
                    f"no reply within {self.timeout_s:g} s"
                    if exc.error_code == pyvisa.constants.StatusCode.error_timeout
                    else f"I/O error: {exc.description}"
                )
                raise InstrumentError(self.instrument, command, None, problem) from exc
            except UnicodeDecodeError as exc:
                raise InstrumentError(self.instrument, command, repr(exc.object[:40]),
                                      "reply is not text (garbage on the line)") from exc
            except Exception as exc:
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
        """Drain the error queue; raise naming every entry if there was any.

        The whole queue is read so that later commands are not blamed for old errors.
        """
        entries: list[str] = []
        for _ in range(40):  # queues hold about 30 entries, then "Queue overflow"
            reply = self.query(self.error_query)
            match = _ERROR_REPLY.match(reply)
            if match is None:
                raise InstrumentError(self.instrument, self.error_query, reply,
                                      "unreadable error-queue reply")
            if int(match.group(1)) == 0:
                break
            entries.append(reply)
        if entries:
            raise InstrumentError(self.instrument, after_command, "; ".join(entries),
                                  f"instrument reported {len(entries)} error(s)")

    def write_checked(self, command: str) -> None:
        """Send a command, then check the error queue."""
        self.write(command)
        self.check_errors(command)

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        with self._lock:
            try:
                self._session.close()
            except Exception:
                pass


def _no_delay(session: Any) -> None:
    """Disable Nagle on raw SOCKET sessions: SCPI is many tiny request/reply exchanges."""
    try:
        sock = session.visalib.sessions[session.session].interface
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except Exception:
        pass
