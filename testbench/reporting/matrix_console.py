"""The interoperability matrix on the console (rich): EV rows x charger columns."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from testbench.reporting.style import ICON, RICH_STYLE, SHORT_LABEL, cell_summary
from testbench.results.matrix import NO_DEVICE, Cell, ChargerColumn, EVRow, Matrix
from testbench.results.verdict import BY_SEVERITY, Verdict


def _charger_header(col: ChargerColumn) -> Text:
    text = Text("(no charger)" if col.device == NO_DEVICE else col.device, style="bold")
    if col.ocpp_version:
        text.append(f"\nOCPP {col.ocpp_version}", style="cyan")
    if col.firmware:
        text.append(f"\nfw {col.firmware}", style="dim")
    if len(col.firmware_seen) > 1:
        text.append(f"\nmixed fw: {', '.join(col.firmware_seen)}", style="yellow")
    return text


def _ev_header(row: EVRow) -> Text:
    text = Text("(no EV)" if row.id == NO_DEVICE else row.id, style="bold")
    if row.software:
        text.append(f"\nsw {row.software}", style="dim")
    if len(row.software_seen) > 1:
        text.append(f"\nmixed sw: {', '.join(row.software_seen)}", style="yellow")
    return text


def render_cell(cell: Cell) -> Text:
    """A cell as coloured text: ``✔ 9`` green, ``✘ 2/9`` red, ``! 1/9`` magenta, ``– 9`` dim."""
    return Text(cell_summary(cell.counts), style=RICH_STYLE[cell.worst])


def render_legend() -> Text:
    """One line explaining the cell icons."""
    legend = Text()
    for i, verdict in enumerate(BY_SEVERITY):
        if i:
            legend.append("   ")
        legend.append(ICON[verdict], style=RICH_STYLE[verdict])
        legend.append(f" {SHORT_LABEL[verdict]}")
    legend.append("   (n/m: n of m tests)", style="dim")
    return legend


def render_matrix(matrix: Matrix, title: str = "EV x charger interoperability") -> Table:
    """The matrix as a rich Table with a legend caption."""
    table = Table(title=title, caption=render_legend(), show_lines=True, caption_justify="left")
    table.add_column(Text("EV \\ charger", style="bold"), no_wrap=True)
    for col in matrix.chargers:
        table.add_column(_charger_header(col), justify="center")
    for row in matrix.evs:
        table.add_row(
            _ev_header(row), *(render_cell(matrix.cell(row.id, col.id)) for col in matrix.chargers)
        )
    return table


def render_failures(matrix: Matrix) -> RenderableType:
    """Every failing or erroring cell with its tests and reasons, then unreadable journal lines."""
    cells = matrix.problem_cells()
    parts: list[RenderableType] = []
    if not cells:
        parts.append(Text(f"{ICON[Verdict.PASSED]} No failures or errors.", style="green"))
    for cell in cells:
        head = Text()
        head.append(f"{cell.ev} × {cell.charger}", style="bold")
        head.append(f"  {cell_summary(cell.counts)}", style=RICH_STYLE[cell.worst])
        parts.append(head)
        for failure in cell.failures:
            line = Text("  ")
            line.append(ICON[failure.verdict], style=RICH_STYLE[failure.verdict])
            line.append(" ")
            if failure.testcase_id:
                line.append(f"{failure.testcase_id} ", style="cyan")
            line.append(failure.name)
            if failure.verdict is Verdict.ERROR:
                line.append(" [bench error]", style="magenta")
            if failure.message:
                line.append(" — ")
                line.append(failure.message.strip().splitlines()[0], style="dim")
            parts.append(line)
    if matrix.problems:
        parts.append(
            Text(f"{len(matrix.problems)} journal line(s) could not be read:", style="yellow")
        )
        parts.extend(Text(f"  {p}", style="yellow") for p in matrix.problems)
    return Group(*parts)


def print_matrix(matrix: Matrix, console: Console | None = None) -> None:
    """Print the matrix table and then the failure list."""
    console = console or Console()
    console.print(render_matrix(matrix))
    console.print(render_failures(matrix))
