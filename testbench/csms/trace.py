"""Raw, timestamped frame trace per charger: ``<trace_dir>/<charger_id>.jsonl``.

One JSON object per line: ``{"wall_s", "lab_s", "dir": "in"|"out", "charger", "frame"}``
for every websocket text frame exactly as sent or received, and ``"dir": "event"`` lines
(``"event": "connected" | "closed" | "refused" | "call_timeout" | ...``) for what happens to
the connection. Appending is cheap (memory only); a flusher task writes to disk every
``flush_interval_s`` (and ``close()`` writes the rest). Recent entries stay in memory for
``ChargerTrace.since()``, bounded in number and bytes.

Secrets are redacted before anything is kept (``testbench.redact``): a frame holding a
password or private key is stored redacted with ``"redacted": true``; every other frame
exactly as it crossed the wire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import IO, Any

from testbench.clock import LabClock
from testbench.redact import redact_frame, redact_text

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def default_max_open_files() -> int:
    """Trace files kept open at once: a quarter of the process's file limit, 64..4096."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 256
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(64, min(4096, soft // 4))


def trace_file_name(charger_id: str) -> str:
    """File name of a charger's trace (characters unsafe in file names become '_')."""
    return _UNSAFE.sub("_", charger_id) + ".jsonl"


class ChargerTrace:
    """The trace of one charger (all its connections)."""

    def __init__(self, store: TraceStore, charger_id: str, recent: int,
                 recent_bytes: int = 16 * 2**20) -> None:
        self.charger_id = charger_id
        self.path = store.trace_dir / trace_file_name(charger_id)
        self._store = store
        self._clock = store.clock
        self._lock = threading.Lock()
        self._recent: deque[tuple[int, dict[str, Any]]] = deque(maxlen=recent)  # (bytes, e)
        self._recent_bytes = 0
        self._max_recent_bytes = recent_bytes
        self._pending: list[dict[str, Any]] = []

    def frame(self, direction: str, data: str | bytes, wall_s: float | None = None) -> None:
        """Record one websocket frame (``direction`` "in" or "out")."""
        wall = time.time() if wall_s is None else wall_s
        entry: dict[str, Any] = {"wall_s": wall, "lab_s": self._clock.to_lab(wall),
                                 "dir": direction, "charger": self.charger_id}
        text, redacted = redact_frame(data)
        entry["frame"] = text
        if isinstance(data, bytes):
            entry["binary"] = True
        if redacted:
            entry["redacted"] = True
        self._append(entry)

    def event(self, name: str, **fields: Any) -> None:
        """Record a connection event (connected, closed, refused, ...)."""
        wall = time.time()
        safe = {k: redact_text(v) if isinstance(v, str) else v for k, v in fields.items()}
        entry = {"wall_s": wall, "lab_s": self._clock.to_lab(wall), "dir": "event",
                 "charger": self.charger_id, "event": name, **safe}
        self._append(entry)

    def _append(self, entry: dict[str, Any]) -> None:
        size = len(entry.get("frame", "")) + 200  # rough: the frame plus the entry's fields
        with self._lock:
            if len(self._recent) == self._recent.maxlen:
                self._recent_bytes -= self._recent[0][0]
            self._recent.append((size, entry))
            self._recent_bytes += size
            while self._recent_bytes > self._max_recent_bytes and len(self._recent) > 1:
                self._recent_bytes -= self._recent.popleft()[0]
            if not self._pending:
                self._store._mark_dirty(self)
            self._pending.append(entry)

    @property
    def recent_size(self) -> tuple[int, int]:
        """(entries, approximate bytes) kept in memory for ``since()``."""
        with self._lock:
            return len(self._recent), self._recent_bytes

    def since(self, wall_s: float) -> list[dict[str, Any]]:
        """Entries kept in memory with ``wall_s`` at or after the given wall time."""
        with self._lock:
            entries = list(self._recent)
        return [dict(e) for _, e in entries if e["wall_s"] >= wall_s]

    def take_pending(self) -> list[dict[str, Any]]:
        with self._lock:
            pending, self._pending = self._pending, []
        return pending


class TraceStore:
    """All charger traces of one central system, with a shared periodic flusher."""

    def __init__(self, trace_dir: Path, clock: LabClock, recent_per_charger: int = 5000,
                 flush_interval_s: float = 0.2, max_open_files: int | None = None,
                 recent_bytes_per_charger: int = 16 * 2**20) -> None:
        self.trace_dir = Path(trace_dir)
        self.clock = clock
        self.flush_interval_s = flush_interval_s
        self._recent = recent_per_charger
        self._recent_bytes = recent_bytes_per_charger
        self._max_open = max(1, max_open_files or default_max_open_files())
        self._traces: dict[str, ChargerTrace] = {}
        self._dirty: dict[str, ChargerTrace] = {}
        self._dirty_lock = threading.Lock()
        self._files: OrderedDict[str, IO[str]] = OrderedDict()
        self._started: set[str] = set()  # files truncated once in this run
        self._io_lock = threading.Lock()
        self._failed: set[str] = set()

    def for_charger(self, charger_id: str) -> ChargerTrace:
        trace = self._traces.get(charger_id)
        if trace is None:
            trace = self._traces[charger_id] = ChargerTrace(self, charger_id, self._recent,
                                                            self._recent_bytes)
        return trace

    def _mark_dirty(self, trace: ChargerTrace) -> None:
        with self._dirty_lock:
            self._dirty[trace.charger_id] = trace

    async def run_flusher(self) -> None:
        """Flush every ``flush_interval_s`` until cancelled (a failed flush is logged)."""
        try:
            while True:
                await asyncio.sleep(self.flush_interval_s)
                try:
                    self.flush()
                except Exception:  # keep flushing: the next entries may be writable
                    log.exception("OCPP trace flush failed")
        except asyncio.CancelledError:
            self.flush()
            raise

    def flush(self) -> None:
        """Write every pending entry to its file."""
        with self._dirty_lock:
            dirty, self._dirty = self._dirty, {}
        if not dirty:
            return
        with self._io_lock:
            for trace in dirty.values():
                entries = trace.take_pending()
                if entries:
                    self._write(trace, entries)

    def _write(self, trace: ChargerTrace, entries: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":"),
                                  default=str) + "\n"
                       for e in entries)
        try:
            handle = self._handle(trace)
            handle.write(text)
            handle.flush()
        except OSError as exc:
            if trace.charger_id not in self._failed:
                self._failed.add(trace.charger_id)
                log.error("cannot write OCPP trace %s: %s", trace.path, exc)

    def _handle(self, trace: ChargerTrace) -> IO[str]:
        handle = self._files.get(trace.charger_id)
        if handle is not None:
            self._files.move_to_end(trace.charger_id)
            return handle
        while len(self._files) >= self._max_open:
            _, oldest = self._files.popitem(last=False)
            oldest.close()
        self.trace_dir.mkdir(parents=True, exist_ok=True)
        mode = "a" if trace.charger_id in self._started else "w"
        handle = open(trace.path, mode, encoding="utf-8",  # noqa: SIM115 - kept open (LRU)
                      errors="backslashreplace")
        self._started.add(trace.charger_id)
        self._files[trace.charger_id] = handle
        return handle

    def close(self) -> None:
        """Write what is pending and close every file."""
        self.flush()
        with self._io_lock:
            for handle in self._files.values():
                try:
                    handle.close()
                except OSError:
                    pass
            self._files.clear()
