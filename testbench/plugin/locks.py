"""Instrument locks: one physical instrument is driven by one bench process at a time.

A lock is an exclusive ``fcntl.flock`` on a file per instrument resource in a lock folder
shared by every process of a host (the lab's ``<output_dir>/locks`` by default,
``$TESTBENCH_LOCK_DIR`` to share one folder between labs). The holder writes who it is
into the file, so a second acquirer fails with a message naming the holder. The OS drops
the lock when the holder's process dies (even killed with SIGKILL): no stale locks.

Every acquisition and release is also appended to ``<run_dir>/instrument-locks.jsonl``
(when a run folder is given), the evidence that two workers never held one instrument at
the same time.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Self

from testbench.errors import BenchError

LOCK_DIR_ENV = "TESTBENCH_LOCK_DIR"
LOCK_LOG_NAME = "instrument-locks.jsonl"


class InstrumentBusyError(BenchError):
    """The instrument is held by another bench process (the message names it)."""


def lock_dir_for(output_dir: Path) -> Path:
    """The lock folder: ``$TESTBENCH_LOCK_DIR`` or ``<output_dir>/locks``."""
    env = os.environ.get(LOCK_DIR_ENV)
    return Path(env) if env else Path(output_dir) / "locks"


def lock_file_name(resource: str) -> str:
    """A file name for ``resource`` (``TCPIP::127.0.0.1::5025::SOCKET`` ->
    ``TCPIP_127.0.0.1_5025_SOCKET.lock``)."""
    return re.sub(r"[^A-Za-z0-9.@-]+", "_", resource.strip()).strip("_")[:180] + ".lock"


def holder_text(what: str) -> str:
    """This process as a holder: ``pid 123 on host (what)``."""
    return f"pid {os.getpid()} on {socket.gethostname()} ({what})"


class InstrumentLock:
    """An exclusive lock on one instrument resource; :meth:`acquire`, then :meth:`release`."""

    def __init__(self, lock_dir: Path, resource: str, name: str, holder: str,
                 log_path: Path | None = None) -> None:
        self.path = Path(lock_dir) / lock_file_name(resource)
        self.resource = resource
        self.name = name
        self.holder = holder if holder.startswith("pid ") else holder_text(holder)
        self.log_path = log_path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock now or raise :class:`InstrumentBusyError` naming the holder."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                other = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise InstrumentBusyError(
                f"instrument {self.name!r} ({self.resource}) is in use by {other}; two bench "
                f"processes must never drive one instrument; fix: wait for that run to end, "
                f"or give the stations their own instruments (lock file {self.path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.holder}\n".encode(), 0)
        self._fd = fd
        self._log("acquired")

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        self._log("released")
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def _log(self, event: str) -> None:
        if self.log_path is None:
            return
        line = json.dumps({"event": event, "resource": self.resource, "name": self.name,
                           "holder": self.holder, "pid": os.getpid(),
                           "wall_s": time.time()}) + "\n"
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(line)
        except OSError:
            pass  # evidence only; the lock itself holds

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def overlapping_holds(log_path: Path) -> list[str]:
    """Intervals in a lock log where two holders had one resource at once (empty: never)."""
    events = [json.loads(line) for line in Path(log_path).read_text(encoding="utf-8").splitlines()
              if line.strip()]
    events.sort(key=lambda e: e["wall_s"])
    holding: dict[str, str] = {}
    problems: list[str] = []
    for event in events:
        resource, holder = event["resource"], event["holder"]
        if event["event"] == "acquired":
            if resource in holding and holding[resource] != holder:
                problems.append(f"{resource}: {holder} acquired while {holding[resource]} held it")
            holding[resource] = holder
        elif holding.get(resource) == holder:
            del holding[resource]
    return problems
