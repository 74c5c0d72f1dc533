"""Matrix exports for spreadsheets and documents: CSV (one row per test) and Markdown.

The CSV is "long": one row per EV x charger x test with the verdict that counts, so it
pivots in any spreadsheet; the cell it belongs to and that cell's worst verdict are on every
row. The Markdown has the matrix table (cell summaries, firmware in the headers) and the
list of failures and bench errors with their reasons.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from testbench.reporting.style import ICON, SHORT_LABEL, cell_summary
from testbench.results.identity import canonical_test_id
from testbench.results.journal import ResultRecord
from testbench.results.matrix import NO_DEVICE, Matrix, record_key
from testbench.results.verdict import BY_SEVERITY, Verdict

CSV_COLUMNS = (
    "ev",
    "charger",
    "charger_firmware",
    "ev_software",
    "ocpp_version",
    "cell_worst",
    "suite",
    "testcase_id",
    "test",
    "name",
    "verdict",
    "message",
    "station",
    "run_id",
    "time_utc",
    "duration_s",
    "evidence",
)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8) through a temp file and rename; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path


def _utc(wall_s: float) -> str:
    return datetime.fromtimestamp(wall_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_matrix_csv(
    matrix: Matrix, kept: Iterable[ResultRecord], *, by_firmware: bool = False
) -> str:
    """CSV text: a header row, then one row per kept record (``latest_records`` output)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    rows = []
    for record in kept:
        ev, column, _ = record_key(record, by_firmware=by_firmware)
        rows.append(
            (
                ev,
                record.charger or NO_DEVICE,
                record.charger_firmware or "",
                record.ev_software or "",
                record.ocpp_version or "",
                matrix.cell(ev, column).worst.value,
                record.suite,
                record.testcase_id or "",
                canonical_test_id(
                    record.test_id, station=record.station, ev=record.ev, charger=record.charger
                ),
                record.name,
                record.verdict.value,
                record.message,
                record.station or "",
                record.run_id or "",
                _utc(record.wall_s),
                "" if record.duration_s != record.duration_s else f"{record.duration_s:.3f}",
                " ".join(record.evidence),
            )
        )
    rows.sort(key=lambda r: (r[0], r[1], r[2], r[6], r[8]))
    writer.writerows(rows)
    return out.getvalue()


def write_matrix_csv(
    matrix: Matrix, kept: Iterable[ResultRecord], path: Path, *, by_firmware: bool = False
) -> Path:
    """Write :func:`render_matrix_csv` to ``path``."""
    return atomic_write_text(path, render_matrix_csv(matrix, kept, by_firmware=by_firmware))


def md_escape(text: object) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, one line)."""
    flat = " ".join(str(text).split())
    return flat.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def render_matrix_markdown(matrix: Matrix, title: str = "EV x charger interoperability") -> str:
    """Markdown text: title, scope, matrix table, legend, then failures and errors per cell."""
    lines = [f"# {md_escape(title)}", ""]
    generated = _utc(matrix.generated_wall_s).replace("T", " ").replace("Z", " UTC")
    totals = matrix.totals
    summary = ", ".join(f"{totals[v]} {v.value}" for v in BY_SEVERITY if totals[v])
    lines.append(f"Generated {generated}; {summary or 'no results'}.")
    filters = dict(matrix.meta.get("filters") or {})
    if matrix.meta.get("by_firmware"):
        lines.append("One column per charger firmware.")
    if filters:
        shown = "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in filters.items()
        )
        lines.append(f"Filters: {md_escape(shown)}.")
    lines.append("")
    header = ["EV \\ charger"]
    for col in matrix.chargers:
        label = "(no charger)" if col.device == NO_DEVICE else col.device
        extra = [f"fw {col.firmware}"] if col.firmware else []
        if len(col.firmware_seen) > 1:
            extra.append(f"mixed fw: {', '.join(col.firmware_seen)}")
        if col.ocpp_version:
            extra.append(f"OCPP {col.ocpp_version}")
        header.append(
            md_escape(label) + ("<br>" + "<br>".join(map(md_escape, extra)) if extra else "")
        )
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + [":---:"] * len(matrix.chargers)) + "|")
    for row in matrix.evs:
        label = "(no EV)" if row.id == NO_DEVICE else row.id
        if row.software:
            label = f"{md_escape(label)}<br>sw {md_escape(row.software)}"
        cells = [label]
        for col in matrix.chargers:
            cell = matrix.cell(row.id, col.id)
            cells.append(md_escape(cell_summary(cell.counts)))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Legend: "
        + ", ".join(f"{ICON[v]} {SHORT_LABEL[v]}" for v in BY_SEVERITY)
        + " (n/m: n of m tests)."
    )
    problem_cells = matrix.problem_cells()
    lines += ["", "## Failures and bench errors", ""]
    if not problem_cells:
        lines.append("None.")
    for cell in problem_cells:
        where = f"{cell.ev} × {cell.charger}"
        lines.append(f"### {md_escape(where)} — {md_escape(cell_summary(cell.counts))}")
        lines.append("")
        for failure in cell.failures:
            kind = "FAILED" if failure.verdict is Verdict.FAILED else "ERROR (bench)"
            tc = f"`{failure.testcase_id}` " if failure.testcase_id else ""
            line = f"- **{kind}** {tc}{md_escape(failure.name)}"
            if failure.message:
                line += f" — {md_escape(failure.message)}"
            if failure.run_id:
                line += f" (run {md_escape(failure.run_id)})"
            lines.append(line)
            for path in failure.evidence:
                lines.append(f"  - evidence: `{path}`")
        lines.append("")
    if matrix.problems:
        lines += ["## Journal lines skipped", ""]
        lines += [f"- {md_escape(p)}" for p in matrix.problems]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_matrix_markdown(
    matrix: Matrix, path: Path, title: str = "EV x charger interoperability"
) -> Path:
    """Write :func:`render_matrix_markdown` to ``path``."""
    return atomic_write_text(path, render_matrix_markdown(matrix, title))
