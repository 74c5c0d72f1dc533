"""The run journal: an append-only JSONL file written the moment each verdict is known.

Layout: ``<reports>/runs/<run-id>/journal.jsonl``, one JSON object per line:

* first line ``{"type": "run", "run_id", "lab", "started_wall_s", "host", "project_version",
  "journal_schema", ...}``
* one ``{"type": "result", ...ResultRecord fields}`` line per verdict
* last line ``{"type": "end", "run_id", "ended_wall_s", "counts", ...}``; missing when the
  run crashed, and then everything before it still counts.

Each line is encoded completely, then written with one ``write()``, flushed and fsynced, so
a crash can cut at most the line being written; :func:`read_journal` reports such a line in
``problems`` and keeps everything else.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from testbench import __version__
from testbench.results.verdict import Verdict

JOURNAL_NAME = "journal.jsonl"
JOURNAL_SCHEMA = 1


def new_run_id() -> str:
    """A new run id, sortable by start time: ``YYYYmmdd-HHMMSS-<4 hex>`` (UTC)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def run_dir_for(reports_dir: Path, run_id: str) -> Path:
    """The folder of one run's output: ``<reports_dir>/runs/<run_id>``."""
    return Path(reports_dir) / "runs" / run_id


def find_journals(reports_dir: Path) -> list[Path]:
    """Every ``runs/*/journal.jsonl`` under ``reports_dir``, oldest run id first."""
    return sorted((Path(reports_dir) / "runs").glob(f"*/{JOURNAL_NAME}"))


@dataclass(kw_only=True)
class ResultRecord:
    """One verdict of one test on one EV x charger pairing (one journal line).

    ``message`` is a short reason a lab engineer understands (empty on a pass);
    ``evidence`` holds paths relative to the run folder (traces, series, plots);
    ``wall_s`` is when the verdict was known (Unix seconds, wall clock). ``ev`` or
    ``charger`` is None for a test that does not involve one.
    """

    test_id: str
    name: str
    verdict: Verdict
    testcase_id: str | None = None
    suite: str = ""
    station: str | None = None
    ev: str | None = None
    charger: str | None = None
    charger_firmware: str | None = None
    ev_software: str | None = None
    ocpp_version: str | None = None
    duration_s: float = 0.0
    message: str = ""
    evidence: list[str] = field(default_factory=list)
    wall_s: float = field(default_factory=time.time)
    run_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.verdict, Verdict):
            self.verdict = Verdict.parse(str(self.verdict))

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (verdict as its string value)."""
        data = asdict(self)
        data["verdict"] = self.verdict.value
        if not math.isfinite(self.duration_s):
            data["duration_s"] = None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> ResultRecord:
        """Rebuild a record from :meth:`to_json` output (a dict or a JSON string).

        Unknown keys (written by a newer testbench) are ignored. Raises ValueError (missing
        field, unknown verdict) or TypeError (wrong type) naming the field.
        """
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, Mapping):
            raise TypeError(f"a result must be a JSON object, got {type(data).__name__}")
        missing = [key for key in ("test_id", "name", "verdict") if key not in data]
        if missing:
            raise ValueError(f"result without required field(s) {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        kwargs = {key: value for key, value in data.items() if key in known}
        for key in ("test_id", "name"):
            if not isinstance(kwargs[key], str):
                raise TypeError(f"result field {key!r} must be a string, got {kwargs[key]!r}")
        kwargs["verdict"] = Verdict.parse(str(kwargs["verdict"]))
        for key in ("duration_s", "wall_s"):
            if key in kwargs:
                value = kwargs[key]
                if value is None:
                    kwargs[key] = math.nan if key == "duration_s" else 0.0
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    kwargs[key] = float(value)
                else:
                    raise TypeError(f"result field {key!r} must be a number, got {value!r}")
        evidence = kwargs.get("evidence", [])
        if not isinstance(evidence, list):
            raise TypeError(f"result field 'evidence' must be a list, got {evidence!r}")
        kwargs["evidence"] = [str(item) for item in evidence]
        return cls(**kwargs)


def _encode_line(obj: Mapping[str, Any]) -> bytes:
    """One complete journal line: compact JSON, UTF-8, newline-terminated."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)
    # A lone surrogate (e.g. from a "\ud800" escape in a device's frame) cannot be UTF-8:
    # write it as the JSON escape it came from, so the line is valid and reads back the same.
    return (text + "\n").encode("utf-8", "backslashreplace")


def _fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (POSIX); a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Journal:
    """An open run journal. Thread-safe; every line is on disk when a call returns.

    Use :meth:`open`, then :meth:`record` per verdict and :meth:`close` at the end (or use
    it as a context manager: an exception leaves an ``end`` line with ``status="aborted"``).
    """

    def __init__(self, path: Path, run_id: str, fd: int) -> None:
        """Internal: use :meth:`Journal.open`."""
        self.path = path
        self.run_id = run_id
        self._fd: int | None = fd
        self._lock = threading.Lock()
        self._counts: Counter[Verdict] = Counter()

    @classmethod
    def open(cls, run_dir: Path, run_info: Mapping[str, Any]) -> Journal:
        """Create ``run_dir/journal.jsonl`` and write its ``run`` header line.

        ``run_info`` should carry at least ``lab``; ``run_id`` defaults to the folder name,
        ``started_wall_s``/``host``/``project_version`` are filled in when absent. Refuses
        to append to an existing journal (a run id is used once).
        """
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / JOURNAL_NAME
        header: dict[str, Any] = {
            "run_id": run_dir.name,
            "lab": None,
            "started_wall_s": time.time(),
            "host": socket.gethostname(),
            "project_version": __version__,
            "journal_schema": JOURNAL_SCHEMA,
        }
        header.update(run_info)
        header["type"] = "run"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags, 0o644)
        except FileExistsError:
            raise FileExistsError(
                f"run journal {path} already exists; every run needs its own run id "
                "(use new_run_id() and a fresh run folder)"
            ) from None
        journal = cls(path, str(header["run_id"]), fd)
        journal._write({"type": "run", **{k: v for k, v in header.items() if k != "type"}})
        _fsync_dir(run_dir)
        return journal

    @property
    def closed(self) -> bool:
        return self._fd is None

    @property
    def counts(self) -> dict[Verdict, int]:
        """Verdicts recorded so far, per verdict."""
        with self._lock:
            return dict(self._counts)

    def record(self, result: ResultRecord) -> None:
        """Append one verdict line (stamping this run's id when the record has none)."""
        if result.run_id is None:
            result = replace(result, run_id=self.run_id)
        line = {"type": "result", **result.to_json()}
        with self._lock:
            self._write_locked(line)
            self._counts[result.verdict] += 1

    def close(self, summary: Mapping[str, Any] | None = None) -> None:
        """Write the ``end`` line (with verdict counts and ``summary``) and close. Idempotent."""
        with self._lock:
            if self._fd is None:
                return
            end: dict[str, Any] = {
                "type": "end",
                "run_id": self.run_id,
                "ended_wall_s": time.time(),
                "counts": {v.value: n for v, n in self._counts.items()},
                "status": "completed",
            }
            end.update(summary or {})
            end["type"] = "end"
            try:
                self._write_locked(end)
            finally:
                os.close(self._fd)
                self._fd = None

    def _write(self, obj: Mapping[str, Any]) -> None:
        with self._lock:
            self._write_locked(obj)

    def _write_locked(self, obj: Mapping[str, Any]) -> None:
        if self._fd is None:
            raise ValueError(f"run journal {self.path} is closed; cannot record after close()")
        data = _encode_line(obj)
        # Unbuffered fd: one write() syscall for the whole line (nothing to flush), looping
        # only if the OS accepts a short write; then fsync so the line survives a crash.
        start = os.lseek(self._fd, 0, os.SEEK_END)
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError:
            # Disk full (ENOSPC), quota, I/O error: cut back to the last whole line, so
            # no journal line is ever partial, and let the caller say what happened.
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                pass
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.close({"status": "aborted", "reason": f"{type(exc).__name__}: {exc}"})


@dataclass
class JournalContent:
    """What :func:`read_journal` found: header, records, end marker and any problems.

    ``end`` is None when the run did not finish (crash, kill); ``problems`` lists
    ``"<path>:<line>: <reason>"`` for every line that was skipped.
    """

    path: Path
    run: dict[str, Any] | None
    records: list[ResultRecord]
    end: dict[str, Any] | None
    problems: list[str]

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else self.run.get("run_id")

    @property
    def complete(self) -> bool:
        """True when the run wrote its end marker."""
        return self.end is not None


def read_journal(path: Path) -> JournalContent:
    """Read a journal, keeping every good line and reporting each bad one in ``problems``.

    Never raises for bad content (only for an unreadable file): a truncated last line,
    garbage or a line with missing fields is skipped and described.
    """
    path = Path(path)
    raw = path.read_bytes()
    content = JournalContent(path=path, run=None, records=[], end=None, problems=[])
    lines = raw.split(b"\n")
    last_terminated = raw.endswith(b"\n")
    if last_terminated:
        lines.pop()  # the empty piece after the final newline
    for index, chunk in enumerate(lines, start=1):
        unterminated = index == len(lines) and not last_terminated
        where = f"{path}:{index}"
        if not chunk.strip():
            continue  # blank lines carry nothing
        try:
            obj = json.loads(chunk.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if unterminated:
                content.problems.append(
                    f"{where}: truncated last line ({len(chunk)} bytes, no newline); "
                    "the run was probably killed while writing it; skipped"
                )
            else:
                content.problems.append(f"{where}: not valid JSON ({exc}); skipped")
            continue
        _take_line(content, obj, where)
    if content.run is None:
        content.problems.append(f"{path}: no 'run' header line; run information unknown")
    return content


def _take_line(content: JournalContent, obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        content.problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
        return
    kind = obj.get("type")
    if kind == "result":
        try:
            content.records.append(ResultRecord.from_json(obj))
        except (ValueError, TypeError) as exc:
            content.problems.append(f"{where}: bad result line: {exc}; skipped")
    elif kind == "run":
        if content.run is not None:
            content.problems.append(f"{where}: second 'run' header; ignored")
        else:
            content.run = obj
    elif kind == "end":
        if content.end is not None:
            content.problems.append(f"{where}: second 'end' line; the last one is kept")
        content.end = obj
    else:
        content.problems.append(
            f"{where}: unknown line type {kind!r} (written by a newer testbench?); skipped"
        )
