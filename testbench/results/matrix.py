"""The EV x charger interoperability matrix, built from result records.

Rows are EVs, columns are chargers. For each (ev, charger, test_id) the latest verdict
(by ``wall_s``) wins, so a re-run of a test replaces its earlier verdict; a ``not_run``
record never replaces a real verdict. A :class:`Cell` counts its verdicts, knows its worst
verdict and lists its failures and errors with the reason.

Headers carry the charger firmware / EV software of the latest retained result; when the
retained results came from several versions, all of them are listed (``*_seen``) so a
mixed-firmware column is visible instead of silently blended. With ``by_firmware=True``
each charger firmware gets its own column (``cp-1 (1.2.0)``), oldest firmware first.

"The same test" is the test id without its pairing parameter
(:func:`~testbench.results.identity.canonical_test_id`), so a pairing tested again at another
station or in another lab replaces its older verdict.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbench.results.identity import canonical_test_id
from testbench.results.journal import ResultRecord, read_journal
from testbench.results.verdict import BY_SEVERITY, SEVERITY, Verdict, worst_verdict

MATRIX_SCHEMA = "testbench.matrix/1"
#: Row / column id used for results that involve no EV or no charger.
NO_DEVICE = "-"


def _zero_counts() -> dict[Verdict, int]:
    return {verdict: 0 for verdict in BY_SEVERITY}


@dataclass(frozen=True)
class Failure:
    """One failed or errored test in a cell, with the reason shown to the lab engineer."""

    test_id: str
    name: str
    testcase_id: str | None
    verdict: Verdict
    message: str
    station: str | None = None
    run_id: str | None = None
    wall_s: float = 0.0
    evidence: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "name": self.name,
            "testcase_id": self.testcase_id,
            "verdict": self.verdict.value,
            "message": self.message,
            "station": self.station,
            "run_id": self.run_id,
            "wall_s": self.wall_s,
            "evidence": list(self.evidence),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Failure:
        return cls(
            test_id=str(data["test_id"]),
            name=str(data["name"]),
            testcase_id=data.get("testcase_id"),
            verdict=Verdict.parse(str(data["verdict"])),
            message=str(data.get("message", "")),
            station=data.get("station"),
            run_id=data.get("run_id"),
            wall_s=float(data.get("wall_s", 0.0)),
            evidence=tuple(str(p) for p in data.get("evidence", ())),
        )


@dataclass
class Cell:
    """One EV x charger pairing: verdict counts, worst verdict, failures and errors."""

    ev: str
    charger: str
    counts: dict[Verdict, int] = field(default_factory=_zero_counts)
    failures: list[Failure] = field(default_factory=list)

    @property
    def worst(self) -> Verdict:
        """Worst verdict in the cell (``not_run`` for an empty cell)."""
        return worst_verdict(v for v, n in self.counts.items() if n > 0)

    @property
    def total(self) -> int:
        """Number of tests with a verdict in this cell."""
        return sum(self.counts.values())

    def count(self, verdict: Verdict) -> int:
        return self.counts.get(verdict, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "ev": self.ev,
            "charger": self.charger,
            "worst": self.worst.value,
            "total": self.total,
            "counts": {v.value: self.count(v) for v in BY_SEVERITY},
            "failures": [f.to_json() for f in self.failures],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cell:
        counts = _zero_counts()
        for name, n in dict(data.get("counts", {})).items():
            counts[Verdict.parse(name)] = int(n)
        return cls(
            ev=str(data["ev"]),
            charger=str(data["charger"]),
            counts=counts,
            failures=[Failure.from_json(f) for f in data.get("failures", ())],
        )


@dataclass
class EVRow:
    """A matrix row: the EV id and its software (latest, and every version seen)."""

    id: str
    software: str | None = None
    software_seen: list[str] = field(default_factory=list)


@dataclass
class ChargerColumn:
    """A matrix column: charger id, firmware (latest and every version seen), OCPP version.

    ``device`` is the charger id; it differs from ``id`` only in a by-firmware matrix, where
    ``id`` is :func:`firmware_column_id` of the charger and one firmware version.
    """

    id: str
    firmware: str | None = None
    firmware_seen: list[str] = field(default_factory=list)
    ocpp_version: str | None = None
    device: str = ""

    def __post_init__(self) -> None:
        if not self.device:
            self.device = self.id


def firmware_column_id(charger: str, firmware: str | None) -> str:
    """Column id of one charger firmware in a by-firmware matrix: ``cp-1 (1.2.0)``."""
    return f"{charger} ({firmware or 'unknown fw'})"


@dataclass
class Matrix:
    """The interoperability matrix. ``cells`` holds every row x column, empty ones included."""

    evs: list[EVRow]
    chargers: list[ChargerColumn]
    cells: dict[tuple[str, str], Cell]
    runs: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    generated_wall_s: float = field(default_factory=time.time)
    meta: dict[str, Any] = field(default_factory=dict)

    def cell(self, ev: str, charger: str) -> Cell:
        """The cell of ``ev`` x ``charger`` (an empty cell if the pairing has no results)."""
        found = self.cells.get((ev, charger))
        return found if found is not None else Cell(ev=ev, charger=charger)

    def ordered_cells(self) -> list[Cell]:
        """All cells, row by row, in column order."""
        return [self.cell(row.id, col.id) for row in self.evs for col in self.chargers]

    def problem_cells(self) -> list[Cell]:
        """Cells with at least one failed or errored test, row by row."""
        return [cell for cell in self.ordered_cells() if cell.failures]

    @property
    def totals(self) -> dict[Verdict, int]:
        """Verdict counts over the whole matrix."""
        totals = _zero_counts()
        for cell in self.cells.values():
            for verdict, n in cell.counts.items():
                totals[verdict] += n
        return totals

    @property
    def worst(self) -> Verdict:
        return worst_verdict(v for v, n in self.totals.items() if n > 0)

    def to_json(self) -> dict[str, Any]:
        """The matrix as a JSON-ready dict with a stable, versioned schema."""
        return {
            "schema": MATRIX_SCHEMA,
            "generated_wall_s": self.generated_wall_s,
            "verdict_order": [v.value for v in BY_SEVERITY],
            "worst": self.worst.value,
            "totals": {v.value: n for v, n in self.totals.items()},
            "evs": [
                {"id": r.id, "software": r.software, "software_seen": list(r.software_seen)}
                for r in self.evs
            ],
            "chargers": [
                {
                    "id": c.id,
                    "firmware": c.firmware,
                    "firmware_seen": list(c.firmware_seen),
                    "ocpp_version": c.ocpp_version,
                    "device": c.device,
                }
                for c in self.chargers
            ],
            "cells": [cell.to_json() for cell in self.ordered_cells()],
            "runs": [dict(run) for run in self.runs],
            "problems": list(self.problems),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Matrix:
        """Rebuild a matrix from :meth:`to_json` output; ValueError on another schema."""
        schema = data.get("schema")
        if schema != MATRIX_SCHEMA:
            raise ValueError(
                f"matrix JSON has schema {schema!r}, this testbench reads {MATRIX_SCHEMA!r}; "
                "rebuild it from the run journals (matrix_from_journals)"
            )
        evs = [
            EVRow(
                id=str(r["id"]),
                software=r.get("software"),
                software_seen=[str(s) for s in r.get("software_seen", ())],
            )
            for r in data.get("evs", ())
        ]
        chargers = [
            ChargerColumn(
                id=str(c["id"]),
                firmware=c.get("firmware"),
                firmware_seen=[str(s) for s in c.get("firmware_seen", ())],
                ocpp_version=c.get("ocpp_version"),
                device=str(c.get("device") or c["id"]),
            )
            for c in data.get("chargers", ())
        ]
        cells = {}
        for raw in data.get("cells", ()):
            cell = Cell.from_json(raw)
            cells[(cell.ev, cell.charger)] = cell
        return cls(
            evs=evs,
            chargers=chargers,
            cells=cells,
            runs=[dict(r) for r in data.get("runs", ())],
            problems=[str(p) for p in data.get("problems", ())],
            generated_wall_s=float(data.get("generated_wall_s", 0.0)),
            meta=dict(data.get("meta", {})),
        )


def supersedes(new: ResultRecord, old: ResultRecord) -> bool:
    """Whether ``new`` replaces ``old`` for the same test: later wins, ``not_run`` never does."""
    if new.verdict is Verdict.NOT_RUN and old.verdict is not Verdict.NOT_RUN:
        return False
    if old.verdict is Verdict.NOT_RUN and new.verdict is not Verdict.NOT_RUN:
        return True
    return new.wall_s >= old.wall_s


def _order(preferred: Sequence[str] | None, found: Iterable[str]) -> list[str]:
    ordered = list(dict.fromkeys(preferred or ()))
    ordered += sorted(set(found) - set(ordered))
    return ordered


def _column_of(record: ResultRecord, by_firmware: bool) -> str:
    charger = record.charger or NO_DEVICE
    if by_firmware and record.charger:
        return firmware_column_id(charger, record.charger_firmware)
    return charger


def record_key(record: ResultRecord, *, by_firmware: bool = False) -> tuple[str, str, str]:
    """(EV row, charger column, canonical test id): one verdict per key in the matrix."""
    return (
        record.ev or NO_DEVICE,
        _column_of(record, by_firmware),
        canonical_test_id(
            record.test_id, station=record.station, ev=record.ev, charger=record.charger
        ),
    )


def latest_records(
    records: Iterable[ResultRecord], *, by_firmware: bool = False
) -> list[ResultRecord]:
    """The verdict that counts per (EV, charger or charger firmware, test), oldest first.

    The latest record (by ``wall_s``) wins, except that ``not_run`` never replaces a real
    verdict.
    """
    latest: dict[tuple[str, str, str], ResultRecord] = {}
    for record in records:
        key = record_key(record, by_firmware=by_firmware)
        old = latest.get(key)
        if old is None or supersedes(record, old):
            latest[key] = record
    return sorted(latest.values(), key=lambda r: r.wall_s)


def build_matrix(
    records: Iterable[ResultRecord],
    *,
    evs: Sequence[str] | None = None,
    chargers: Sequence[str] | None = None,
    by_firmware: bool = False,
) -> Matrix:
    """Build the matrix from result records (any order, any number of runs).

    ``evs`` / ``chargers`` fix the row / column order and add rows or columns with no
    results yet (e.g. the lab inventory); ids found only in the records follow, sorted.
    ``by_firmware`` gives every charger firmware its own column (oldest first per charger).
    """
    kept = latest_records(records, by_firmware=by_firmware)  # oldest first: last one wins
    ev_ids = _order(evs, (r.ev or NO_DEVICE for r in kept))
    devices = _order(chargers, (r.charger or NO_DEVICE for r in kept))
    rows = {ev: EVRow(id=ev) for ev in ev_ids}
    cols: dict[str, ChargerColumn] = {}
    if by_firmware:
        first_seen: dict[str, float] = {}
        device_of: dict[str, str] = {}
        for record in kept:
            column = _column_of(record, True)
            first_seen[column] = min(first_seen.get(column, record.wall_s), record.wall_s)
            device_of[column] = record.charger or NO_DEVICE
        for device in devices:
            found = [c for c, d in device_of.items() if d == device]
            for column in sorted(found, key=lambda c: (first_seen[c], c)):
                cols[column] = ChargerColumn(id=column, device=device)
            if not found:  # an inventory charger without results
                cols[device] = ChargerColumn(id=device, device=device)
    else:
        cols = {ch: ChargerColumn(id=ch) for ch in devices}
    cells = {(ev, ch): Cell(ev=ev, charger=ch) for ev in ev_ids for ch in cols}

    for record in kept:
        ev, ch = record.ev or NO_DEVICE, _column_of(record, by_firmware)
        row, col = rows[ev], cols[ch]
        if record.ev_software:
            row.software = record.ev_software
            if record.ev_software not in row.software_seen:
                row.software_seen.append(record.ev_software)
        if record.charger_firmware:
            col.firmware = record.charger_firmware
            if record.charger_firmware not in col.firmware_seen:
                col.firmware_seen.append(record.charger_firmware)
        if record.ocpp_version:
            col.ocpp_version = record.ocpp_version
        cell = cells[(ev, ch)]
        cell.counts[record.verdict] += 1
        if record.verdict.is_problem:
            cell.failures.append(
                Failure(
                    test_id=record.test_id,
                    name=record.name,
                    testcase_id=record.testcase_id,
                    verdict=record.verdict,
                    message=record.message,
                    station=record.station,
                    run_id=record.run_id,
                    wall_s=record.wall_s,
                    evidence=tuple(record.evidence),
                )
            )
    for cell in cells.values():
        cell.failures.sort(key=lambda f: (-SEVERITY[f.verdict], f.name, f.test_id))
    return Matrix(evs=list(rows.values()), chargers=list(cols.values()), cells=cells)


def matrix_from_journals(
    paths: Iterable[Path],
    *,
    evs: Sequence[str] | None = None,
    chargers: Sequence[str] | None = None,
    by_firmware: bool = False,
) -> Matrix:
    """Build the matrix from run journals; unreadable lines go to ``Matrix.problems``.

    ``Matrix.runs`` lists each journal with its run id and whether the run completed
    (a crashed run still contributes every verdict it recorded).
    """
    records: list[ResultRecord] = []
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    for path in paths:
        path = Path(path)
        try:
            content = read_journal(path)
        except OSError as exc:
            problems.append(f"{path}: cannot read journal: {exc}")
            continue
        records.extend(content.records)
        problems.extend(content.problems)
        runs.append(
            {
                "run_id": content.run_id,
                "journal": str(path),
                "complete": content.complete,
                "records": len(content.records),
            }
        )
    matrix = build_matrix(records, evs=evs, chargers=chargers, by_firmware=by_firmware)
    matrix.runs = runs
    matrix.problems = problems
    return matrix


def write_matrix_json(matrix: Matrix, path: Path) -> Path:
    """Write ``matrix.to_json()`` to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(
        json.dumps(matrix.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(tmp, path)
    return path
