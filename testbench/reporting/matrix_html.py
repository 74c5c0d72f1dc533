"""A self-contained HTML page of the interoperability matrix (inline CSS, readable offline).

Every text that comes from results (ids, versions, messages) is escaped. Each cell carries
``data-ev``, ``data-charger`` and ``data-worst`` attributes (plus ``data-total`` and
``data-<verdict>`` counts) for scripts and tests. Failures and errors of a cell unfold from
a ``<details>`` element, with their reason and links to the evidence files.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from testbench import __version__
from testbench.reporting.links import evidence_href
from testbench.reporting.style import HTML_COLOURS, ICON, LABEL, cell_summary
from testbench.results.matrix import NO_DEVICE, Cell, ChargerColumn, EVRow, Matrix
from testbench.results.verdict import BY_SEVERITY, Verdict


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _css() -> str:
    rules = [
        "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em;color:#222}",
        "h1{font-size:1.4em;margin-bottom:.2em}",
        ".meta{color:#666;font-size:.9em;margin-bottom:1em}",
        "table.matrix{border-collapse:collapse}",
        "table.matrix th,table.matrix td{border:1px solid #bbb;padding:.4em .6em}",
        "table.matrix td,table.matrix tbody th{vertical-align:top}",
        "table.matrix thead th{background:#f4f4f4;text-align:center}",
        "table.matrix tbody th{background:#f4f4f4;text-align:left}",
        ".ver{display:block;font-weight:normal;font-size:.8em;color:#555}",
        ".mixed{display:block;font-weight:normal;font-size:.8em;color:#a15c00}",
        "td.cell{min-width:7em;text-align:center}",
        ".summary{font-weight:bold;font-size:1.1em;white-space:nowrap}",
        "details{text-align:left;margin-top:.3em;font-size:.85em}",
        "details ul{margin:.3em 0;padding-left:1.2em}",
        ".reason{color:#444;white-space:pre-line}",
        ".tc{font-family:ui-monospace,monospace}",
        ".legend span{display:inline-block;padding:.15em .5em;margin:.2em;border:1px solid #bbb}",
        ".problems{color:#a15c00}",
        ".runs{font-size:.85em;color:#444;margin-top:1em}",
        "a.evidence{margin-right:.6em}",
    ]
    for verdict, (background, text) in HTML_COLOURS.items():
        rules.append(f".v-{verdict.value}{{background:{background};color:{text}}}")
    return "\n".join(rules)


def _charger_th(col: ChargerColumn) -> str:
    name = "(no charger)" if col.device == NO_DEVICE else col.device
    parts = [f'<th scope="col" data-charger="{_e(col.id)}">{_e(name)}']
    if col.ocpp_version:
        parts.append(f'<span class="ver">OCPP {_e(col.ocpp_version)}</span>')
    if col.firmware:
        parts.append(f'<span class="ver">fw {_e(col.firmware)}</span>')
    if len(col.firmware_seen) > 1:
        parts.append(f'<span class="mixed">mixed fw: {_e(", ".join(col.firmware_seen))}</span>')
    parts.append("</th>")
    return "".join(parts)


def _ev_th(row: EVRow) -> str:
    name = "(no EV)" if row.id == NO_DEVICE else row.id
    parts = [f'<th scope="row" data-ev="{_e(row.id)}">{_e(name)}']
    if row.software:
        parts.append(f'<span class="ver">sw {_e(row.software)}</span>')
    if len(row.software_seen) > 1:
        parts.append(f'<span class="mixed">mixed sw: {_e(", ".join(row.software_seen))}</span>')
    parts.append("</th>")
    return "".join(parts)


def _cell_td(cell: Cell, html_dir: Path | None) -> str:
    worst = cell.worst
    counts = " ".join(f'data-{v.value.replace("_", "-")}="{cell.count(v)}"' for v in BY_SEVERITY)
    title = ", ".join(f"{cell.count(v)} {v.value}" for v in BY_SEVERITY if cell.count(v))
    opening = (
        f'<td class="cell v-{worst.value}" data-ev="{_e(cell.ev)}" '
        f'data-charger="{_e(cell.charger)}" data-worst="{worst.value}" '
        f'data-total="{cell.total}" {counts} title="{_e(title or "not run")}">'
    )
    parts = [opening, f'<span class="summary">{_e(cell_summary(cell.counts))}</span>']
    if cell.failures:
        n_failed = sum(1 for f in cell.failures if f.verdict is Verdict.FAILED)
        n_error = len(cell.failures) - n_failed
        label = ", ".join(
            f"{n} {text}" for n, text in ((n_failed, "failed"), (n_error, "bench error")) if n
        )
        parts.append(f"<details><summary>{_e(label)}</summary><ul>")
        for failure in cell.failures:
            item = [f'<li class="v-{failure.verdict.value}">{_e(ICON[failure.verdict])} ']
            if failure.testcase_id:
                item.append(f'<span class="tc">{_e(failure.testcase_id)}</span> ')
            item.append(f"<b>{_e(failure.name)}</b>")
            if failure.message:
                item.append(f'<div class="reason">{_e(failure.message)}</div>')
            if failure.evidence:
                item.append('<div class="reason">evidence: ')
                item.append(
                    "".join(
                        f'<a class="evidence" href="{_e(evidence_href(p, html_dir))}">'
                        f"{_e(Path(p).name)}</a>"
                        for p in failure.evidence
                    )
                )
                item.append("</div>")
            if failure.run_id:
                where = f"run {failure.run_id}" + (
                    f", station {failure.station}" if failure.station else ""
                )
                item.append(f'<div class="reason">{_e(where)}</div>')
            item.append("</li>")
            parts.append("".join(item))
        parts.append("</ul></details>")
    parts.append("</td>")
    return "".join(parts)


def _runs_block(runs: list[dict[str, Any]]) -> str:
    items = []
    for run in runs:
        parts = [str(run.get("run_id"))]
        for key in ("lab", "host"):
            if run.get(key):
                parts.append(f"{key} {run[key]}")
        if run.get("stations"):
            parts.append("station " + ", ".join(map(str, run["stations"])))
        if run.get("started_wall_s"):
            parts.append(
                datetime.fromtimestamp(float(run["started_wall_s"]), UTC).strftime(
                    "%Y-%m-%d %H:%M UTC"
                )
            )
        if not run.get("complete", True):
            parts.append("incomplete")
        items.append(f"<li>{_e(' · '.join(parts))}</li>")
    return (
        f'<details class="runs"><summary>{len(runs)} run(s)</summary><ul>'
        + "".join(items)
        + "</ul></details>"
    )


def render_matrix_html(
    matrix: Matrix,
    title: str = "EV x charger interoperability",
    *,
    html_dir: Path | None = None,
) -> str:
    """The whole HTML document as a string (no external resources, no scripts).

    ``html_dir`` is where the page will be written: evidence links are made relative to it
    when the evidence is in the same tree.
    """
    generated = datetime.fromtimestamp(matrix.generated_wall_s, UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )
    totals = matrix.totals
    total_text = ", ".join(f"{totals[v]} {v.value}" for v in BY_SEVERITY if totals[v])
    runs = ", ".join(
        str(r.get("run_id")) + ("" if r.get("complete", True) else " (incomplete)")
        for r in matrix.runs[:3]
    ) + (f" and {len(matrix.runs) - 3} more" if len(matrix.runs) > 3 else "")
    scope = []
    if matrix.meta.get("by_firmware"):
        scope.append("one column per charger firmware")
    for key, value in dict(matrix.meta.get("filters") or {}).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        scope.append(f"{key}: {shown}")
    if matrix.meta.get("store"):
        scope.append(f"store {matrix.meta['store']}")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>\n{_css()}\n</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<div class="meta">Generated {_e(generated)} by testbench {_e(__version__)}'
        f" &middot; {_e(total_text or 'no results')}"
        + (f" &middot; runs: {_e(runs)}" if runs else "")
        + "</div>",
    ]
    if scope:
        out.append(f'<div class="meta">{_e(" · ".join(scope))}</div>')
    out.append('<table class="matrix"><thead><tr><th scope="col">EV \\ charger</th>')
    out.extend(_charger_th(col) for col in matrix.chargers)
    out.append("</tr></thead><tbody>")
    for row in matrix.evs:
        out.append("<tr>" + _ev_th(row))
        out.extend(_cell_td(matrix.cell(row.id, col.id), html_dir) for col in matrix.chargers)
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append('<p class="legend">')
    out.extend(
        f'<span class="v-{v.value}">{_e(ICON[v])} {_e(LABEL[v])}</span>' for v in BY_SEVERITY
    )
    out.append("</p>")
    if matrix.problems:
        out.append(
            f'<div class="problems"><p>{len(matrix.problems)} journal line(s) could not '
            "be read and were skipped:</p><ul>"
        )
        out.extend(f"<li>{_e(p)}</li>" for p in matrix.problems)
        out.append("</ul></div>")
    if matrix.runs:
        out.append(_runs_block(matrix.runs))
    out.append("</body></html>\n")
    return "\n".join(out)


def write_matrix_html(
    matrix: Matrix, path: Path, title: str = "EV x charger interoperability"
) -> Path:
    """Write the self-contained HTML matrix to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(render_matrix_html(matrix, title, html_dir=path.parent), encoding="utf-8")
    os.replace(tmp, path)
    return path
