"""Live console: plain lines off a terminal, progress display on one."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from rich.console import Console

from testbench.reporting.live import LiveConsole
from testbench.results.journal import ResultRecord
from testbench.results.verdict import Verdict

MakeRecord = Callable[..., ResultRecord]
ANSI = re.compile(r"\x1b\[")


def _results(make_record: MakeRecord) -> list[ResultRecord]:
    return [
        make_record(name="test_boot", verdict="passed", duration_s=2.0),
        make_record(
            name="test_limit",
            verdict="failed",
            ev="ev-b",
            charger="cp-3",
            message="current 16.2 A above limit 10 A\nfull traceback here",
            duration_s=75.0,
        ),
        make_record(name="test_meter", verdict="error", message="instrument 'pa': no reply"),
        make_record(name="test_v2x", verdict="skipped", message="needs bidirectional charger"),
    ]


def test_plain_output_when_not_a_terminal(make_record: MakeRecord) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=80)
    live = LiveConsole(console)
    assert not live.live
    live.start(4)
    for result in _results(make_record):
        live.on_result(result)
    live.finish()
    text = out.getvalue()
    assert not ANSI.search(text), "no colour codes or cursor movement in CI logs"
    lines = text.splitlines()
    assert len(lines) == 5, lines  # one line per verdict (no wrapping) + summary
    assert lines[0].startswith("[1/4] ✔ PASSED") and "test_boot" in lines[0]
    assert "ev-b × cp-3" in lines[1] and "test_limit" in lines[1]
    assert "current 16.2 A above limit 10 A" in lines[1] and "traceback" not in text
    assert "1m15s" in lines[1]
    assert lines[2].startswith("[3/4] ! ERROR") and "no reply" in lines[2]
    assert "needs bidirectional charger" in lines[3]
    assert "4 test(s)" in lines[4]
    assert "1 passed, 1 failed, 1 error, 1 skipped" in lines[4]
    assert live.counts[Verdict.FAILED] == 1


def test_live_display_on_a_terminal(make_record: MakeRecord) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system="standard")
    with LiveConsole(console) as live:
        assert live.live
        live.start(4)
        for result in _results(make_record):
            live.on_result(result)
    text = ANSI.sub("", out.getvalue())
    for name in ("test_boot", "test_limit", "test_meter", "test_v2x"):
        assert name in text
    assert "4/4" in text  # the progress bar's counter
    assert "1 failed" in text


def test_results_without_start_are_still_printed(make_record: MakeRecord) -> None:
    out = io.StringIO()
    live = LiveConsole(Console(file=out, force_terminal=False, width=80))
    live.on_result(make_record(name="test_alone"))
    live.finish()
    assert "[1] ✔ PASSED" in out.getvalue() and "test_alone" in out.getvalue()
