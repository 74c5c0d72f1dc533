"""Live verdicts on the console while a run goes on.

On a terminal: one coloured line per verdict scrolling above a progress bar with live
counts. Not on a terminal (CI logs, pipes): plain lines with a ``[n/total]`` counter and no
animation or colour codes.
"""

from __future__ import annotations

import math
import threading
import time
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from testbench.reporting.style import ICON, RICH_STYLE
from testbench.results.journal import ResultRecord
from testbench.results.verdict import BY_SEVERITY, Verdict

#: Longest reason shown on a live line (the full message is in the journal and reports).
MAX_REASON_CHARS = 160
_COUNTED = (Verdict.PASSED, Verdict.FAILED, Verdict.ERROR, Verdict.SKIPPED)


def _short_reason(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else ""
    if len(first) > MAX_REASON_CHARS:
        first = first[: MAX_REASON_CHARS - 1] + "…"
    return first


def _pairing(record: ResultRecord) -> str:
    if record.ev and record.charger:
        return f"{record.ev} × {record.charger}"
    return record.ev or record.charger or "-"


def _format_duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class LiveConsole:
    """Prints each verdict as it is known, with a progress bar on a terminal.

    ``live`` forces (True) or forbids (False) the animated display; by default it is used
    only when the console is an interactive terminal. Safe to call from several threads.
    """

    def __init__(self, console: Console | None = None, *, live: bool | None = None) -> None:
        self.console = console or Console()
        if live is None:
            live = self.console.is_terminal and not self.console.is_dumb_terminal
        self.live = live
        self.counts: dict[Verdict, int] = {v: 0 for v in BY_SEVERITY}
        self.total: int | None = None
        self._done = 0
        self._lock = threading.RLock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started_s: float | None = None

    def start(self, total: int | None) -> None:
        """Begin a run of ``total`` tests (None when unknown)."""
        with self._lock:
            self.total = total
            self._started_s = time.monotonic()
            if self.live and self._progress is None:
                self._progress = Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[counts]}"),
                    TimeElapsedColumn(),
                    console=self.console,
                )
                self._task = self._progress.add_task(
                    "testing", total=total, counts=self._counts_markup()
                )
                self._progress.start()

    def on_result(self, record: ResultRecord) -> None:
        """Show one verdict line and update the counts."""
        with self._lock:
            if self._started_s is None:
                self.start(None)
            self._done += 1
            self.counts[record.verdict] = self.counts.get(record.verdict, 0) + 1
            line = self._line(record)
            if self._progress is not None and self._task is not None:
                self._progress.console.print(line, highlight=False)
                self._progress.update(self._task, advance=1, counts=self._counts_markup())
            else:
                self.console.print(line, highlight=False, soft_wrap=True)

    def finish(self) -> None:
        """Stop the progress display and print a one-line summary."""
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
                self._task = None
            elapsed = 0.0 if self._started_s is None else time.monotonic() - self._started_s
            summary = Text(f"{self._done} test(s) in {_format_duration(elapsed)}: ")
            summary.append_text(self._counts_text())
            self.console.print(summary, highlight=False, soft_wrap=not self.live)

    def _line(self, record: ResultRecord) -> Text:
        line = Text()
        if not self.live:
            width = len(str(self.total)) if self.total else 1
            of = f"/{self.total}" if self.total else ""
            line.append(f"[{self._done:>{width}}{of}] ")
        style = RICH_STYLE[record.verdict]
        line.append(f"{ICON[record.verdict]} {record.verdict.value.upper():<7}", style=style)
        line.append(f" {_pairing(record)}", style="cyan")
        line.append("  ")
        if record.testcase_id:
            line.append(f"{record.testcase_id} ", style="bold")
        line.append(record.name)
        line.append(f"  ({_format_duration(record.duration_s)})", style="dim")
        if record.verdict is not Verdict.PASSED:
            reason = _short_reason(record.message)
            if reason:
                line.append(" — ")
                line.append(reason, style=style if record.verdict.is_problem else "dim")
        return line

    def _counts_text(self) -> Text:
        text = Text()
        for i, verdict in enumerate(_COUNTED):
            if i:
                text.append(", ")
            n = self.counts.get(verdict, 0)
            text.append(f"{n} {verdict.value}", style=RICH_STYLE[verdict] if n else "dim")
        return text

    def _counts_markup(self) -> str:
        return self._counts_text().markup

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()
