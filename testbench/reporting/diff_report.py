"""A run or firmware diff for people: console (rich), Markdown, self-contained HTML, CSV, JSON.

Regressions come first with both verdicts and the new reason; a regression to *error*
is marked as a bench error (the device was not judged: re-run it). Unchanged tests are only
counted, not listed, unless asked.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from testbench import __version__
from testbench.reporting.exports import atomic_write_text, md_escape
from testbench.reporting.style import HTML_COLOURS, ICON, RICH_STYLE
from testbench.results.diff import CHANGE_ORDER, Change, Diff, DiffEntry
from testbench.results.verdict import Verdict

TITLE: dict[Change, str] = {
    Change.REGRESSION: "Regressions (passed before, failed or error now)",
    Change.FIX: "Fixes (failed or error before, passed now)",
    Change.CHANGED: "Still a problem, of another kind (failed <-> error)",
    Change.NEW: "Newly applicable (not judged before)",
    Change.DROPPED: "No longer judged (skipped, not run or missing now)",
    Change.UNCHANGED: "Unchanged",
}
CHANGE_STYLE: dict[Change, str] = {
    Change.REGRESSION: "bold red",
    Change.FIX: "bold green",
    Change.CHANGED: "magenta",
    Change.NEW: "cyan",
    Change.DROPPED: "yellow",
    Change.UNCHANGED: "dim",
}


def _verdict_text(verdict: Verdict | None) -> Text:
    if verdict is None:
        return Text("—", style="dim")
    return Text(f"{ICON[verdict]} {verdict.value}", style=RICH_STYLE[verdict])


def _header(diff: Diff) -> str:
    if diff.kind == "firmware":
        charger = diff.meta.get("charger", "")
        return f"Firmware diff of {charger}: {diff.before_label} -> {diff.after_label}"
    return f"Run diff: {diff.before_label} -> {diff.after_label}"


def _first_line(message: str) -> str:
    """The first line of a message (pytest's assertion detail follows on the next lines)."""
    stripped = message.strip()
    return stripped.splitlines()[0] if stripped else ""


def _note(entry: DiffEntry) -> str:
    if entry.change is Change.REGRESSION and entry.verdict_after() is Verdict.ERROR:
        return "bench error: device not judged, re-run"
    return ""


def render_diff(diff: Diff, *, show_unchanged: bool = False) -> RenderableType:
    """The diff as rich renderables: a summary line and one table per kind of change."""
    parts: list[RenderableType] = [Text(_header(diff), style="bold")]
    summary = Text()
    for i, change in enumerate(CHANGE_ORDER):
        if i:
            summary.append(", ")
        n = len(diff.of(change))
        summary.append(f"{change.value}: {n}", style=CHANGE_STYLE[change] if n else "dim")
    parts.append(summary)
    for change in CHANGE_ORDER:
        entries = diff.of(change)
        if not entries or (change is Change.UNCHANGED and not show_unchanged):
            continue
        table = Table(title=TITLE[change], title_style=CHANGE_STYLE[change], title_justify="left")
        table.add_column("EV")
        table.add_column("charger")
        table.add_column("test")
        table.add_column("before")
        table.add_column("after")
        table.add_column("reason now", overflow="fold")
        for entry in entries:
            name = Text()
            if entry.testcase_id:
                name.append(f"{entry.testcase_id} ", style="bold")
            name.append(entry.name)
            reason = Text(_first_line(entry.after.message if entry.after else ""), style="dim")
            note = _note(entry)
            if note:
                reason = Text(f"[{note}] ", style="magenta") + reason
            table.add_row(
                entry.ev,
                entry.charger,
                name,
                _verdict_text(entry.verdict_before()),
                _verdict_text(entry.verdict_after()),
                reason,
            )
        parts.append(table)
    if not diff.regressions:
        parts.append(Text(f"{ICON[Verdict.PASSED]} No regressions.", style="green"))
    return Group(*parts)


def print_diff(diff: Diff, console: Console | None = None, *, show_unchanged: bool = False) -> None:
    (console or Console()).print(render_diff(diff, show_unchanged=show_unchanged))


def render_diff_markdown(diff: Diff, *, show_unchanged: bool = False) -> str:
    """Markdown: title, counts, then a table per kind of change."""
    lines = [f"# {md_escape(_header(diff))}", ""]
    lines.append(", ".join(f"{c.value}: {len(diff.of(c))}" for c in CHANGE_ORDER) + ".")
    for change in CHANGE_ORDER:
        entries = diff.of(change)
        if not entries or (change is Change.UNCHANGED and not show_unchanged):
            continue
        lines += ["", f"## {TITLE[change]}", ""]
        lines.append("| EV | charger | test case | test | before | after | reason now |")
        lines.append("|---|---|---|---|---|---|---|")
        for e in entries:
            before = e.verdict_before()
            after = e.verdict_after()
            reason = _first_line(e.after.message if e.after else "")
            note = _note(e)
            reason = f"[{note}] {reason}".strip() if note else reason
            lines.append(
                "| "
                + " | ".join(
                    md_escape(x)
                    for x in (
                        e.ev,
                        e.charger,
                        e.testcase_id or "",
                        e.name,
                        before.value if before else "—",
                        after.value if after else "—",
                        reason,
                    )
                )
                + " |"
            )
    if not diff.regressions:
        lines += ["", "No regressions."]
    return "\n".join(lines) + "\n"


def render_diff_csv(diff: Diff) -> str:
    """CSV: one row per compared test (unchanged ones included)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        (
            "change",
            "ev",
            "charger",
            "testcase_id",
            "test",
            "name",
            "before",
            "after",
            "message_before",
            "message_after",
            "run_before",
            "run_after",
            "firmware_before",
            "firmware_after",
        )
    )
    for change in CHANGE_ORDER:
        for e in diff.of(change):
            b, a = e.before, e.after
            writer.writerow(
                (
                    change.value,
                    e.ev,
                    e.charger,
                    e.testcase_id or "",
                    e.test,
                    e.name,
                    b.verdict.value if b else "",
                    a.verdict.value if a else "",
                    b.message if b else "",
                    a.message if a else "",
                    (b.run_id or "") if b else "",
                    (a.run_id or "") if a else "",
                    (b.charger_firmware or "") if b else "",
                    (a.charger_firmware or "") if a else "",
                )
            )
    return out.getvalue()


def render_diff_html(diff: Diff, *, show_unchanged: bool = False) -> str:
    """A self-contained HTML page of the diff (inline CSS, no scripts)."""
    e = lambda value: escape(str(value), quote=True)
    css = [
        "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}",
        "table{border-collapse:collapse;margin-bottom:1.5em}",
        "th,td{border:1px solid #bbb;padding:.3em .5em;vertical-align:top;text-align:left}",
        "th{background:#f4f4f4}",
        "h2.regression{color:#8a0f0f}h2.fix{color:#135e13}",
    ]
    for verdict, (bg, fg) in HTML_COLOURS.items():
        css.append(f".v-{verdict.value}{{background:{bg};color:{fg}}}")
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(_header(diff))}</title>",
        f"<style>{''.join(css)}</style></head><body>",
        f"<h1>{e(_header(diff))}</h1>",
        f"<p>Generated {e(generated)} by testbench {e(__version__)} &middot; "
        + e(", ".join(f"{c.value}: {len(diff.of(c))}" for c in CHANGE_ORDER))
        + "</p>",
    ]
    for change in CHANGE_ORDER:
        entries = diff.of(change)
        if not entries or (change is Change.UNCHANGED and not show_unchanged):
            continue
        out.append(f'<h2 class="{change.value}">{e(TITLE[change])}</h2>')
        out.append(
            f'<table data-change="{change.value}"><thead><tr><th>EV</th><th>charger</th>'
            "<th>test</th><th>before</th><th>after</th><th>reason now</th></tr></thead><tbody>"
        )
        for entry in entries:
            cells = []
            for side in (entry.verdict_before(), entry.verdict_after()):
                cls = f' class="v-{side.value}"' if side else ""
                cells.append(f"<td{cls}>{e(side.value if side else '—')}</td>")
            name = (f"{entry.testcase_id} " if entry.testcase_id else "") + entry.name
            reason = entry.after.message if entry.after else ""
            note = _note(entry)
            out.append(
                f'<tr data-ev="{e(entry.ev)}" data-charger="{e(entry.charger)}" '
                f'data-test="{e(entry.test)}"><td>{e(entry.ev)}</td><td>{e(entry.charger)}</td>'
                f"<td>{e(name)}</td>{''.join(cells)}<td>"
                + (f"<b>{e(note)}</b> " if note else "")
                + f"{e(reason)}</td></tr>"
            )
        out.append("</tbody></table>")
    if not diff.regressions:
        out.append("<p>No regressions.</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write_diff(
    diff: Diff,
    *,
    html: Path | None = None,
    json_path: Path | None = None,
    csv_path: Path | None = None,
    markdown: Path | None = None,
) -> list[Path]:
    """Write the requested exports of ``diff``; returns the paths written."""
    written = []
    if html is not None:
        written.append(atomic_write_text(html, render_diff_html(diff)))
    if json_path is not None:
        text = json.dumps(diff.to_json(), indent=2, ensure_ascii=False) + "\n"
        written.append(atomic_write_text(json_path, text))
    if csv_path is not None:
        written.append(atomic_write_text(csv_path, render_diff_csv(diff)))
    if markdown is not None:
        written.append(atomic_write_text(markdown, render_diff_markdown(diff)))
    return written
