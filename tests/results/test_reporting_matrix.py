"""Console and HTML renderings of the matrix."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from testbench.reporting.matrix_console import render_failures, render_matrix
from testbench.reporting.matrix_html import write_matrix_html
from testbench.results.journal import ResultRecord
from testbench.results.matrix import Matrix, build_matrix

MakeRecord = Callable[..., ResultRecord]
EVIL = "<script>alert('x')</script> & \"quoted\""


@pytest.fixture
def matrix(make_record: MakeRecord) -> Matrix:
    return build_matrix(
        [
            make_record(test_id="t1", ev="ev-a", charger="cp-1", verdict="passed"),
            make_record(test_id="t2", ev="ev-a", charger="cp-1", verdict="skipped"),
            make_record(
                test_id="t1",
                ev="ev-a",
                charger="cp-2",
                verdict="failed",
                message=EVIL,
                charger_firmware="2.0<beta>",
            ),
            make_record(
                test_id="t1",
                ev="ev-b",
                charger="cp-1",
                verdict="error",
                message="instrument 'pa': no reply",
                testcase_id="TC_K_01_CS",
            ),
            make_record(
                test_id="t1",
                ev="ev-b",
                charger="cp-2",
                verdict="skipped",
                charger_firmware="2.0<beta>",
            ),
        ]
    )


class _Cells(HTMLParser):
    """Collects the data-* attributes of every matrix cell and every tag used."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], dict[str, str]] = {}
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        data = {k: v or "" for k, v in attrs}
        if tag == "td" and "data-worst" in data:
            self.cells[(data["data-ev"], data["data-charger"])] = data


def _parse(html: str) -> _Cells:
    parser = _Cells()
    parser.feed(html)
    return parser


def test_html_cells_carry_worst_verdict(tmp_path: Path, matrix: Matrix) -> None:
    path = write_matrix_html(matrix, tmp_path / "out" / "matrix.html", title="Lab <A>")
    html = path.read_text(encoding="utf-8")
    cells = _parse(html).cells
    assert {key: c["data-worst"] for key, c in cells.items()} == {
        ("ev-a", "cp-1"): "passed",
        ("ev-a", "cp-2"): "failed",
        ("ev-b", "cp-1"): "error",
        ("ev-b", "cp-2"): "skipped",
    }
    assert cells[("ev-a", "cp-1")]["data-passed"] == "1"
    assert cells[("ev-a", "cp-1")]["data-skipped"] == "1"
    assert cells[("ev-a", "cp-1")]["data-total"] == "2"
    assert "<title>Lab &lt;A&gt;</title>" in html


def test_html_escapes_messages_and_versions(tmp_path: Path, matrix: Matrix) -> None:
    html = write_matrix_html(matrix, tmp_path / "m.html", title="t").read_text(encoding="utf-8")
    parsed = _parse(html)
    assert "script" not in parsed.tags
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in html
    assert "fw 2.0&lt;beta&gt;" in html
    assert "<details>" in html and "instrument &#x27;pa&#x27;: no reply" in html


def test_html_is_self_contained(tmp_path: Path, matrix: Matrix) -> None:
    html = write_matrix_html(matrix, tmp_path / "m.html", title="t").read_text(encoding="utf-8")
    parsed = _parse(html)
    assert not parsed.tags & {"link", "script", "img", "iframe"}
    assert "http://" not in html and "https://" not in html and "@import" not in html
    assert "<style>" in html


def _render(renderable: object) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_console_matrix_shows_names_versions_and_counts(matrix: Matrix) -> None:
    text = _render(render_matrix(matrix))
    for name in ("ev-a", "ev-b", "cp-1", "cp-2", "OCPP 2.0.1", "fw 1.0.0", "sw 2.3"):
        assert name in text
    assert "✘ 1/1" in text
    assert "! 1/1" in text
    assert "✔ 1" in text
    assert "– 1" in text
    assert "bench error" in text  # legend


def test_console_cell_colours_follow_worst_verdict(matrix: Matrix) -> None:
    console = Console(record=True, width=160, force_terminal=True, color_system="truecolor")
    console.print(render_matrix(matrix))
    html = console.export_html(inline_styles=True)
    # red for the failing cell, magenta for the errored one
    assert "✘ 1/1" in html and "! 1/1" in html
    failed_span = html.split("✘ 1/1")[0].rsplit("<span", 1)[1]
    error_span = html.split("! 1/1")[0].rsplit("<span", 1)[1]
    assert "color: #800000" in failed_span or "color: #ff0000" in failed_span
    assert "color: #800080" in error_span or "color: #ff00ff" in error_span


def test_console_failures_list_reasons(matrix: Matrix) -> None:
    text = _render(render_failures(matrix))
    assert "ev-a × cp-2" in text and "ev-b × cp-1" in text
    assert EVIL in text
    assert "TC_K_01_CS" in text and "instrument 'pa': no reply" in text
    assert "ev-a × cp-1" not in text


def test_console_failures_when_all_good(make_record: MakeRecord) -> None:
    text = _render(render_failures(build_matrix([make_record()])))
    assert "No failures" in text
