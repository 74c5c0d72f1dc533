"""One matrix cell in detail, for the console (rich) and as Markdown.

Problems first: each failed or errored test with its test-case id, reason, where and when
it ran, links to its evidence, and its earlier verdicts as a trail (oldest first).
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from testbench.reporting.exports import md_escape
from testbench.reporting.links import console_link
from testbench.reporting.style import ICON, RICH_STYLE, cell_summary
from testbench.results.drilldown import CellDetail, CellTest
from testbench.results.verdict import Verdict


def _trail(test: CellTest) -> Text:
    text = Text()
    for old in test.history[-12:]:
        text.append(ICON[old.verdict], style=RICH_STYLE[old.verdict])
    if test.history:
        text.append("→", style="dim")
    text.append(ICON[test.record.verdict], style=RICH_STYLE[test.record.verdict])
    return text


def _duration(seconds: float) -> str:
    return "?" if math.isnan(seconds) else f"{seconds:.1f} s"


def render_cell_detail(detail: CellDetail) -> RenderableType:
    """The cell as a table of tests (worst first), then each problem with its evidence."""
    head = Text(f"{detail.ev} × {detail.charger}", style="bold")
    head.append(f"  {cell_summary(detail.counts)}")
    if not detail.tests:
        return Group(head, Text("No results for this pairing with these filters.", style="yellow"))
    table = Table(show_lines=False)
    table.add_column("verdict")
    table.add_column("test case")
    table.add_column("test")
    table.add_column("fw", style="dim")
    table.add_column("run / station", style="dim")
    table.add_column("time", justify="right", style="dim")
    table.add_column("history")
    for test in detail.tests:
        r = test.record
        table.add_row(
            Text(f"{ICON[r.verdict]} {r.verdict.value}", style=RICH_STYLE[r.verdict]),
            r.testcase_id or "",
            r.name,
            r.charger_firmware or "",
            f"{r.run_id or ''}" + (f" / {r.station}" if r.station else ""),
            _duration(r.duration_s),
            _trail(test),
        )
    parts: list[RenderableType] = [head, table]
    problems = [t for t in detail.tests if t.record.verdict.is_problem]
    if problems:
        parts.append(Text("Why:", style="bold"))
    for test in problems:
        r = test.record
        line = Text("  ")
        line.append(ICON[r.verdict], style=RICH_STYLE[r.verdict])
        line.append(f" {r.testcase_id + ' ' if r.testcase_id else ''}{r.name}", style="bold")
        if r.verdict is Verdict.ERROR:
            line.append(" [bench error: the device was not judged]", style="magenta")
        parts.append(line)
        for message_line in r.message.strip().splitlines():
            parts.append(Text(f"    {message_line}", style=RICH_STYLE[r.verdict]))
        for path in r.evidence:
            exists = "" if Path(path).exists() else " [dim](not on this machine)[/dim]"
            parts.append(
                Text.from_markup(
                    f"    evidence: [link={console_link(path)}]{escape(path)}[/link]{exists}"
                )
            )
    return Group(*parts)


def print_cell_detail(detail: CellDetail, console: Console | None = None) -> None:
    (console or Console()).print(render_cell_detail(detail))


def render_cell_markdown(detail: CellDetail) -> str:
    """Markdown: a table of every test, then the reasons and evidence of the problems."""
    lines = [f"# {md_escape(detail.ev)} × {md_escape(detail.charger)}", ""]
    lines.append(md_escape(cell_summary(detail.counts)))
    lines += [
        "",
        "| verdict | test case | test | firmware | run | station | history |",
        "|---|---|---|---|---|---|---|",
    ]
    for test in detail.tests:
        r = test.record
        trail = "".join(ICON[h.verdict] for h in test.history) + ICON[r.verdict]
        lines.append(
            "| "
            + " | ".join(
                md_escape(x)
                for x in (
                    r.verdict.value,
                    r.testcase_id or "",
                    r.name,
                    r.charger_firmware or "",
                    r.run_id or "",
                    r.station or "",
                    trail,
                )
            )
            + " |"
        )
    problems = [t for t in detail.tests if t.record.verdict.is_problem]
    if problems:
        lines += ["", "## Why", ""]
    for test in problems:
        r = test.record
        kind = "FAILED" if r.verdict is Verdict.FAILED else "ERROR (bench; device not judged)"
        lines.append(
            f"- **{kind}** {md_escape(r.testcase_id or '')} {md_escape(r.name)}: "
            f"{md_escape(r.message)}"
        )
        for path in r.evidence:
            lines.append(f"  - evidence: `{path}`")
    return "\n".join(lines) + "\n"
