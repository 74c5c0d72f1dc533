"""The results store: every run's verdicts, merged across runs, stations, runners and labs.

SQLite by default (``<output_dir>/results.db``); a ``postgresql://`` URL for a lab-wide
database shared by several runners. The schema (:mod:`testbench.results.schema`) is the same
on both. The store is fed from run journals: :meth:`ResultStore.import_journal` is
idempotent (a run is keyed by its run id, a result by run id + test id, and unchanged rows
are not rewritten), so a journal can be imported during a run, again at its end, and again
by hand, and journals from many runners can be imported in any order.

The default store location comes from the ``TESTBENCH_RESULTS_URL`` environment variable
when set (the lab's shared database), else ``<output_dir>/results.db``.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from testbench.results.db import Database, StoreError, redact
from testbench.results.identity import canonical_test_id
from testbench.results.journal import JOURNAL_NAME, ResultRecord, read_journal
from testbench.results.query import ResultFilter
from testbench.results.schema import TABLE_NAMES, ensure_schema
from testbench.results.verdict import BY_SEVERITY, Verdict

__all__ = [
    "DEFAULT_STORE_NAME",
    "STORE_ENV",
    "ImportReport",
    "ResultStore",
    "RunInfo",
    "StoreError",
    "default_store_location",
    "import_run",
    "journals_under",
    "open_store",
]

DEFAULT_STORE_NAME = "results.db"
#: Environment variable naming the store (a path or a postgresql:// URL) for every command.
STORE_ENV = "TESTBENCH_RESULTS_URL"

_RESULT_COLUMNS = (
    "run_id",
    "test_id",
    "test_key",
    "name",
    "testcase_id",
    "suite",
    "station",
    "ev",
    "charger",
    "charger_firmware",
    "ev_software",
    "ocpp_version",
    "verdict",
    "duration_s",
    "message",
    "wall_s",
)
_RUN_COLUMNS = (
    "run_id",
    "lab",
    "stations",
    "host",
    "project_version",
    "mode",
    "started_wall_s",
    "ended_wall_s",
    "status",
    "journal_path",
    "run_dir",
    "problems",
    "imported_wall_s",
)


def default_store_location(output_dir: Path) -> str:
    """``$TESTBENCH_RESULTS_URL`` when set, else ``<output_dir>/results.db``."""
    configured = os.environ.get(STORE_ENV, "").strip()
    return configured or str(Path(output_dir) / DEFAULT_STORE_NAME)


def journals_under(path: Path) -> list[Path]:
    """The journals a path names: a journal file, a run folder, or every journal below a folder.

    For an output folder that is ``runs/*/journal.jsonl``; otherwise any ``journal.jsonl``
    below it. Oldest run id first. FileNotFoundError when the path does not exist.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such journal file or folder")
    if (path / JOURNAL_NAME).is_file():
        return [path / JOURNAL_NAME]
    return sorted(path.rglob(JOURNAL_NAME), key=lambda p: (p.parent.name, str(p)))


def _text(value: Any) -> str | None:
    """A string both engines accept: no NUL characters (PostgreSQL rejects them), valid UTF-8."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a \\ud800 escape in the JSON
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class RunInfo:
    """One run as the store knows it, with its verdict counts and device versions."""

    run_id: str
    lab: str | None
    stations: list[str]
    host: str | None
    project_version: str | None
    mode: str | None
    started_wall_s: float | None
    ended_wall_s: float | None
    status: str
    journal_path: str
    run_dir: str
    problems: list[str]
    imported_wall_s: float
    counts: dict[Verdict, int] = field(default_factory=dict)
    chargers: dict[str, str] = field(default_factory=dict)  # id -> firmware
    evs: dict[str, str] = field(default_factory=dict)  # id -> software

    @property
    def complete(self) -> bool:
        return self.status == "completed"

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "lab": self.lab,
            "stations": list(self.stations),
            "host": self.host,
            "project_version": self.project_version,
            "mode": self.mode,
            "started_wall_s": self.started_wall_s,
            "ended_wall_s": self.ended_wall_s,
            "status": self.status,
            "complete": self.complete,
            "journal": self.journal_path,
            "run_dir": self.run_dir,
            "problems": list(self.problems),
            "counts": {v.value: self.counts.get(v, 0) for v in BY_SEVERITY},
            "chargers": dict(self.chargers),
            "evs": dict(self.evs),
        }


@dataclass
class ImportReport:
    """What importing one journal did. ``error`` is set when nothing could be imported."""

    journal: Path
    store: str
    run_id: str | None = None
    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    run_changed: bool = False
    complete: bool = False
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the journal's readable results are in the store."""
        return self.error is None

    @property
    def changed(self) -> bool:
        """True when the import wrote anything."""
        return bool(self.inserted or self.updated or self.run_changed)

    def summary(self) -> str:
        """One line for the console: what was imported where, and how many lines were skipped."""
        if self.error is not None:
            return f"{self.journal}: not imported: {self.error}"
        state = "" if self.complete else " (run incomplete)"
        text = (
            f"run {self.run_id}{state}: {self.records} result(s), {self.inserted} new, "
            f"{self.updated} changed, {self.unchanged} already in {self.store}"
        )
        if self.problems:
            text += f"; {len(self.problems)} journal line(s) skipped"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "journal": str(self.journal),
            "store": self.store,
            "run_id": self.run_id,
            "records": self.records,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "run_changed": self.run_changed,
            "complete": self.complete,
            "problems": list(self.problems),
            "error": self.error,
        }


class ResultStore:
    """An open results store. Use :func:`open_store`; close it (or use ``with``)."""

    def __init__(self, db: Database) -> None:
        """Internal: use :func:`open_store` (the schema must exist)."""
        self.db = db

    @property
    def location(self) -> str:
        """Where the store is (password redacted)."""
        return self.db.location

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- import
    def import_journal(self, path: Path) -> ImportReport:
        """Import one run journal; importing it again changes nothing.

        Unreadable, truncated or invalid lines are skipped and listed in ``problems``; every
        other result is kept. Raises StoreError only when the store itself fails.
        """
        path = Path(path).resolve()
        report = ImportReport(journal=path, store=self.location)
        try:
            content = read_journal(path)
        except OSError as exc:
            report.error = f"cannot read the journal: {exc.strerror or exc}"
            return report
        report.problems = list(content.problems)
        header: Mapping[str, Any] = content.run or {}
        run_id = _text(content.run_id) or next(
            (r.run_id for r in content.records if r.run_id), None
        )
        run_id = run_id or path.parent.name
        report.run_id = run_id
        records = self._records_of(content.records, run_id, report)
        report.records = len(records)
        end = content.end
        status = (
            "incomplete"
            if end is None
            else ("aborted" if str(end.get("status", "completed")) == "aborted" else "completed")
        )
        report.complete = status == "completed"

        with self.db.transaction():
            existing_run = self._run_row(run_id)
            conflict = _identity_conflict(existing_run, header, run_id)
            if conflict:
                report.error = conflict
                return report
            stations = set(filter(None, (r.station for r in records)))
            if existing_run is not None:
                stations |= set(filter(None, str(existing_run["stations"]).split(",")))
            run_row = {
                "run_id": run_id,
                "lab": _text(header.get("lab")),
                "stations": ",".join(sorted(stations)),
                "host": _text(header.get("host")),
                "project_version": _text(header.get("project_version")),
                "mode": _text(header.get("mode")),
                "started_wall_s": _number(header.get("started_wall_s")),
                "ended_wall_s": None if end is None else _number(end.get("ended_wall_s")),
                "status": status,
                "journal_path": _text(str(path)),
                "run_dir": _text(str(path.parent)),
                "problems": _text("\n".join(content.problems)) or "",
                "imported_wall_s": time.time(),
            }
            if existing_run is not None:
                run_row = _merge_run(existing_run, run_row)
            report.run_changed = existing_run is None or any(
                run_row[k] != existing_run[k] for k in _RUN_COLUMNS
            )
            if report.run_changed:
                self._upsert(
                    "runs", _RUN_COLUMNS, ("run_id",), [run_row], keep=("imported_wall_s",)
                )
            self._import_devices(run_id, header, records)
            self._import_results(run_id, records, report)
        return report

    @staticmethod
    def _records_of(
        records: list[ResultRecord], run_id: str, report: ImportReport
    ) -> list[ResultRecord]:
        """The results of this run, one per test id (a repeated test id: the last line wins)."""
        by_test: dict[str, ResultRecord] = {}
        for record in records:
            if record.run_id not in (None, run_id):
                report.problems.append(
                    f"{report.journal}: result {record.test_id!r} names run {record.run_id!r} "
                    f"inside the journal of run {run_id!r}; stored under {run_id!r}"
                )
            by_test[record.test_id] = record
        return list(by_test.values())

    def _run_row(self, run_id: str) -> dict[str, Any] | None:
        rows = self.db.fetchall(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,)
        )
        return dict(zip(_RUN_COLUMNS, rows[0], strict=True)) if rows else None

    def _upsert(
        self,
        table: str,
        columns: tuple[str, ...],
        key: tuple[str, ...],
        rows: Iterable[Mapping[str, Any]],
        *,
        keep: tuple[str, ...] = (),
    ) -> None:
        updates = [c for c in columns if c not in key and c not in keep]
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT ({', '.join(key)}) DO "
            + (
                "UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updates)
                if updates
                else "NOTHING"
            )
        )
        self.db.executemany(sql, ([row[c] for c in columns] for row in rows))

    def _import_devices(
        self, run_id: str, header: Mapping[str, Any], records: list[ResultRecord]
    ) -> None:
        devices: dict[tuple[str, str, str], dict[str, Any]] = {}

        def add(kind: str, device_id: Any, version: Any, **info: Any) -> None:
            if not device_id:
                return
            key = (kind, _text(device_id) or "", _text(version) or "")
            found = devices.setdefault(
                key,
                {
                    "kind": key[0],
                    "device_id": key[1],
                    "version": key[2],
                    "vendor": None,
                    "model": None,
                    "ocpp_version": None,
                },
            )
            for name, value in info.items():
                if value is not None and found.get(name) is None:
                    found[name] = _text(value)

        chargers = header.get("chargers")
        if isinstance(chargers, Mapping):
            for cid, spec in chargers.items():
                spec = spec if isinstance(spec, Mapping) else {}
                add(
                    "charger",
                    cid,
                    spec.get("firmware"),
                    vendor=spec.get("vendor"),
                    model=spec.get("model"),
                    ocpp_version=spec.get("ocpp_version"),
                )
        evs = header.get("evs")
        if isinstance(evs, Mapping):
            for eid, spec in evs.items():
                spec = spec if isinstance(spec, Mapping) else {}
                add(
                    "ev",
                    eid,
                    spec.get("software"),
                    vendor=spec.get("make"),
                    model=spec.get("model"),
                )
        for record in records:
            add(
                "charger", record.charger, record.charger_firmware, ocpp_version=record.ocpp_version
            )
            add("ev", record.ev, record.ev_software)
        if not devices:
            return
        columns = ("kind", "device_id", "version", "vendor", "model", "ocpp_version")
        known = {
            row[:3]: row for row in self.db.fetchall(f"SELECT {', '.join(columns)} FROM devices")
        }
        changed = []
        for key, row in devices.items():
            old = known.get(key)
            if old is not None:
                # keep what is known; only fill in what was missing
                row = {**row, **{c: v for c, v in zip(columns, old, strict=True) if v is not None}}
            if old is None or tuple(row[c] for c in columns) != old:
                changed.append(row)
        self._upsert("devices", columns, columns[:3], changed)
        self.db.executemany(
            "INSERT INTO run_devices (run_id, kind, device_id, version) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, kind, device_id, version) DO NOTHING",
            ((run_id, *key) for key in devices),
        )

    def _import_results(
        self, run_id: str, records: list[ResultRecord], report: ImportReport
    ) -> None:
        existing = {
            row[1]: row
            for row in self.db.fetchall(
                f"SELECT {', '.join(_RESULT_COLUMNS)} FROM results WHERE run_id = ?", (run_id,)
            )
        }
        evidence: dict[str, list[str]] = defaultdict(list)
        for rid, test_id, path in self.db.fetchall(
            "SELECT run_id, test_id, path FROM evidence WHERE run_id = ? "
            "ORDER BY test_id, position",
            (run_id,),
        ):
            evidence[test_id].append(path)
        rows, files = [], []
        for record in records:
            row = _result_row(run_id, record)
            paths = [_text(p) or "" for p in record.evidence]
            old = existing.get(row[1])
            if old is None:
                report.inserted += 1
            elif tuple(old) != row or evidence.get(row[1], []) != paths:
                report.updated += 1
            else:
                report.unchanged += 1
                continue
            rows.append(dict(zip(_RESULT_COLUMNS, row, strict=True)))
            files.append((row[1], paths))
        self._upsert("results", _RESULT_COLUMNS, ("run_id", "test_id"), rows)
        for test_id, paths in files:
            self.db.execute(
                "DELETE FROM evidence WHERE run_id = ? AND test_id = ?", (run_id, test_id)
            )
            self.db.executemany(
                "INSERT INTO evidence (run_id, test_id, position, path) VALUES (?, ?, ?, ?)",
                ((run_id, test_id, n, p) for n, p in enumerate(paths)),
            )

    # ----------------------------------------------------------------- queries
    def results(
        self, filt: ResultFilter | None = None, *, absolute_evidence: bool = False
    ) -> list[ResultRecord]:
        """Every stored result the filter selects, oldest first.

        Evidence paths are as recorded (relative to the run folder) unless
        ``absolute_evidence``, which joins them to the run folder the journal was imported from.
        """
        where, params = (filt or ResultFilter()).where()
        columns = ", ".join(f"r.{c}" for c in _RESULT_COLUMNS)
        rows = self.db.fetchall(
            f"SELECT {columns}, u.run_dir FROM results r JOIN runs u ON u.run_id = r.run_id "
            f"WHERE {where} ORDER BY r.wall_s, r.run_id, r.test_id",
            params,
        )
        files: dict[tuple[str, str], list[str]] = defaultdict(list)
        for run_id, test_id, path in self.db.fetchall(
            "SELECT e.run_id, e.test_id, e.path FROM evidence e "
            "JOIN results r ON r.run_id = e.run_id AND r.test_id = e.test_id "
            f"JOIN runs u ON u.run_id = r.run_id WHERE {where} "
            "ORDER BY e.run_id, e.test_id, e.position",
            params,
        ):
            files[(run_id, test_id)].append(path)
        out = []
        for row in rows:
            data = dict(zip(_RESULT_COLUMNS, row[:-1], strict=True))
            paths = files.get((data["run_id"], data["test_id"]), [])
            if absolute_evidence:
                paths = [str(Path(row[-1]) / p) for p in paths]
            out.append(
                ResultRecord(
                    test_id=data["test_id"],
                    name=data["name"],
                    verdict=Verdict(data["verdict"]),
                    testcase_id=data["testcase_id"],
                    suite=data["suite"],
                    station=data["station"],
                    ev=data["ev"],
                    charger=data["charger"],
                    charger_firmware=data["charger_firmware"],
                    ev_software=data["ev_software"],
                    ocpp_version=data["ocpp_version"],
                    duration_s=float("nan") if data["duration_s"] is None else data["duration_s"],
                    message=data["message"],
                    evidence=list(paths),
                    wall_s=float(data["wall_s"]),
                    run_id=data["run_id"],
                )
            )
        return out

    def runs(self, run_ids: Iterable[str] | None = None) -> list[RunInfo]:
        """The stored runs (all, or those named), oldest start first."""
        wanted = None if run_ids is None else list(dict.fromkeys(run_ids))
        where, params = "1 = 1", []
        if wanted is not None:
            if not wanted:
                return []
            where = f"run_id IN ({', '.join('?' for _ in wanted)})"
            params = wanted
        rows = self.db.fetchall(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE {where} "
            "ORDER BY started_wall_s, run_id",
            params,
        )
        runs = {}
        for row in rows:
            data = dict(zip(_RUN_COLUMNS, row, strict=True))
            runs[data["run_id"]] = RunInfo(
                run_id=data["run_id"],
                lab=data["lab"],
                stations=[s for s in str(data["stations"]).split(",") if s],
                host=data["host"],
                project_version=data["project_version"],
                mode=data["mode"],
                started_wall_s=data["started_wall_s"],
                ended_wall_s=data["ended_wall_s"],
                status=data["status"],
                journal_path=data["journal_path"],
                run_dir=data["run_dir"],
                problems=[p for p in str(data["problems"]).split("\n") if p],
                imported_wall_s=data["imported_wall_s"],
            )
        if not runs:
            return []
        where_r = where.replace("run_id", "r.run_id", 1)
        for run_id, verdict, n in self.db.fetchall(
            f"SELECT r.run_id, r.verdict, count(*) FROM results r WHERE {where_r} "
            "GROUP BY r.run_id, r.verdict",
            params,
        ):
            if run_id in runs:
                runs[run_id].counts[Verdict(verdict)] = int(n)
        for run_id, kind, device_id, version in self.db.fetchall(
            f"SELECT run_id, kind, device_id, version FROM run_devices WHERE {where} "
            "ORDER BY run_id, kind, device_id, version",
            params,
        ):
            info = runs.get(run_id)
            if info is not None:
                (info.chargers if kind == "charger" else info.evs)[device_id] = version
        return list(runs.values())

    def run_ids(self) -> set[str]:
        """Every stored run id."""
        return {row[0] for row in self.db.fetchall("SELECT run_id FROM runs")}

    def resolve_run(self, text: str) -> str:
        """The run id that ``text`` names: an id, a unique prefix, ``latest`` or ``latest~N``.

        ValueError listing the candidates when none or several runs match.
        """
        text = text.strip()
        if text == "latest" or text.startswith("latest~"):
            back = 0
            if text != "latest":
                try:
                    back = int(text.removeprefix("latest~"))
                except ValueError:
                    raise ValueError(
                        f"run {text!r}: write latest~N with a whole number N"
                    ) from None
            ordered = [r.run_id for r in self.runs()]
            if back < 0 or back >= len(ordered):
                raise ValueError(
                    f"run {text!r}: the store {self.location} has {len(ordered)} run(s)"
                )
            return ordered[-1 - back]
        rows = self.db.fetchall(
            "SELECT run_id FROM runs WHERE run_id = ? OR substr(run_id, 1, ?) = ? ORDER BY run_id",
            (text, len(text), text),
        )
        ids = [r[0] for r in rows]
        if text in ids:
            return text
        if len(ids) == 1:
            return ids[0]
        if not ids:
            recent = [r.run_id for r in self.runs()][-5:]
            hint = f"; latest runs: {', '.join(recent)}" if recent else "; the store is empty"
            raise ValueError(f"no run {text!r} in {self.location}{hint} (see `testbench runs`)")
        raise ValueError(f"run {text!r} is ambiguous: {', '.join(ids)}; give more of the id")

    def firmware_versions(self, charger: str) -> list[str]:
        """Firmware versions with results for ``charger``, oldest first."""
        rows = self.db.fetchall(
            "SELECT charger_firmware, min(wall_s) FROM results WHERE charger = ? "
            "AND charger_firmware IS NOT NULL GROUP BY charger_firmware ORDER BY 2",
            (charger,),
        )
        return [str(r[0]) for r in rows]

    def devices(self) -> list[dict[str, Any]]:
        """Every known device version: kind, device_id, version, vendor, model, ocpp_version."""
        columns = ("kind", "device_id", "version", "vendor", "model", "ocpp_version")
        rows = self.db.fetchall(
            f"SELECT {', '.join(columns)} FROM devices ORDER BY kind, device_id, version"
        )
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, sorted: to compare two states of a store."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in TABLE_NAMES:
            rows = self.db.fetchall(f"SELECT * FROM {table}")
            out[table] = sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))
        return out


def _result_row(run_id: str, record: ResultRecord) -> tuple[Any, ...]:
    return (
        run_id,
        _text(record.test_id),
        _text(
            canonical_test_id(
                record.test_id, station=record.station, ev=record.ev, charger=record.charger
            )
        ),
        _text(record.name),
        _text(record.testcase_id),
        _text(record.suite) or "",
        _text(record.station),
        _text(record.ev),
        _text(record.charger),
        _text(record.charger_firmware),
        _text(record.ev_software),
        _text(record.ocpp_version),
        record.verdict.value,
        _number(record.duration_s),
        _text(record.message) or "",
        _number(record.wall_s) or 0.0,
    )


def _identity_conflict(
    existing: Mapping[str, Any] | None, header: Mapping[str, Any], run_id: str
) -> str | None:
    """Why a journal is a different run than the stored run with the same id, if it is."""
    if existing is None or not header:
        return None
    started, host = _number(header.get("started_wall_s")), _text(header.get("host"))
    old_started, old_host = existing["started_wall_s"], existing["host"]
    same_start = started is None or old_started is None or abs(started - old_started) < 1e-3
    same_host = host is None or old_host is None or host == old_host
    if same_start and same_host:
        return None
    return (
        f"run id {run_id!r} is already in the store for a different run (host {old_host}, "
        f"journal {existing['journal_path']}); this journal is from host {host}. Run ids must "
        "be unique: re-run with a new id, or use a separate store for this journal"
    )


def _merge_run(old: Mapping[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The stored run updated by ``new``: an older, incomplete copy never undoes an end."""
    merged = dict(new)
    merged["imported_wall_s"] = old["imported_wall_s"]
    if new["status"] == "incomplete" and old["status"] != "incomplete":
        merged["status"], merged["ended_wall_s"] = old["status"], old["ended_wall_s"]
    for column in ("lab", "host", "project_version", "mode", "started_wall_s"):
        if merged[column] is None:
            merged[column] = old[column]
    return merged


def open_store(
    location: str | Path | None = None, *, output_dir: Path | None = None
) -> ResultStore:
    """Open (creating when needed) the store at ``location``.

    ``location`` is a file path, a ``sqlite:///`` URL or a ``postgresql://`` URL; without
    one, :func:`default_store_location` of ``output_dir`` (default ``reports``) is used.
    Raises StoreError with the fix when it cannot be opened.
    """
    if location is None:
        location = default_store_location(Path(output_dir or "reports"))
    db = Database.connect(str(location))
    try:
        ensure_schema(db)
    except BaseException:
        db.close()
        raise
    return ResultStore(db)


def import_run(lab_output_dir: Path, journal: Path) -> ImportReport:
    """Import one run's journal into the lab's default store; never raises for store trouble.

    Called at the end of ``testbench run``. The store is ``$TESTBENCH_RESULTS_URL`` or
    ``<lab_output_dir>/results.db``. When the store cannot be reached the report's ``error``
    says so; the journal stays on disk and ``testbench import`` can bring it in later.
    """
    location = default_store_location(Path(lab_output_dir))
    try:
        with open_store(location) as store:
            return store.import_journal(Path(journal))
    except StoreError as exc:
        return ImportReport(
            journal=Path(journal),
            store=redact(location),
            error=f"{exc}. The journal is kept: import it later with `testbench import`",
        )


def iter_reports(store: ResultStore, paths: Iterable[Path]) -> Iterator[ImportReport]:
    """Import every journal under ``paths`` (see :func:`journals_under`), one report each."""
    for path in paths:
        for journal in journals_under(Path(path)):
            yield store.import_journal(journal)


def verdict_counts(records: Iterable[ResultRecord]) -> dict[Verdict, int]:
    """How many records have each verdict (worst first, zeros included)."""
    counts = Counter(r.verdict for r in records)
    return {v: counts.get(v, 0) for v in BY_SEVERITY}
