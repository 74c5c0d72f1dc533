"""The HTML matrix as a browser shows it: headless Chromium reads the cells and takes a picture.

The page itself has no scripts. To read what the browser computed (colours, what a closed
``<details>`` hides), the test loads a copy of the page with a probe script appended that
writes its findings into the DOM, which ``--dump-dom`` prints. The screenshot is of the
unmodified page; its pixels must show the failed and passed colours.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from store_scenario import write_campaign

from testbench.cli_matrix import store_matrix
from testbench.reporting.matrix_html import write_matrix_html
from testbench.reporting.style import HTML_COLOURS
from testbench.results.query import ResultFilter
from testbench.results.store import open_store
from testbench.results.verdict import Verdict

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed, so the HTML matrix is not checked in a browser "
    "(install it: apt-get update && apt-get install -y chromium)",
)

PROBE = """<script>
(() => {
  const cells = [...document.querySelectorAll('td.cell')].map(td => ({
    ev: td.dataset.ev, charger: td.dataset.charger, worst: td.dataset.worst,
    summary: td.querySelector('.summary').textContent,
    background: getComputedStyle(td).backgroundColor,
    width: td.getBoundingClientRect().width,
  }));
  const headers = [...document.querySelectorAll('thead th[data-charger]')]
    .map(th => th.innerText.replace(/\\s+/g, ' ').trim());
  const details = document.querySelector('td.cell details');
  const item = details.querySelector('li');
  const visible = el => el.checkVisibility();
  const hiddenBefore = !visible(item);
  details.open = true;
  const shownAfter = visible(item) && item.getBoundingClientRect().height > 0;
  const links = [...details.querySelectorAll('a.evidence')].map(a => a.getAttribute('href'));
  const probe = document.createElement('pre');
  probe.id = 'probe';
  probe.textContent = JSON.stringify({cells, headers, hiddenBefore, shownAfter,
    reason: item.innerText, links});
  document.body.appendChild(probe);
})();
</script>"""


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class _Probe(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self._inside = False
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._inside = tag == "pre" and ("id", "probe") in attrs

    def handle_endtag(self, tag: str) -> None:
        self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.text += data


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _png_pixels(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes): width, height, pixels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[x] = (line[x] + pred) & 0xFF
        rows.append(line)
        previous = line
    pixels = [(row[x], row[x + 1], row[x + 2]) for row in rows for x in range(0, stride, channels)]
    return width, height, pixels


@pytest.fixture(scope="module")
def matrix_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    journals = write_campaign(root / "reports")
    with open_store(root / "reports" / "results.db") as store:
        for journal in journals:
            assert store.import_journal(journal).ok
        matrix, _ = store_matrix(store, ResultFilter())
    return write_matrix_html(
        matrix, root / "reports" / "html" / "matrix.html", title="Lab <matrix>"
    )


def test_chromium_reads_the_cells_colours_and_failures(matrix_page: Path, tmp_path: Path) -> None:
    probe_page = matrix_page.with_name("probe.html")
    html = matrix_page.read_text(encoding="utf-8")
    probe_page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = _chromium(tmp_path / "profile", "--dump-dom", probe_page.as_uri())
    parser = _Probe()
    parser.feed(done.stdout)
    assert parser.text, f"no probe output in the dumped DOM: {done.stdout[:500]}"
    seen = json.loads(parser.text)

    cells = {(c["ev"], c["charger"]): c for c in seen["cells"]}
    assert {k: c["worst"] for k, c in cells.items()} == {
        ("ev-a", "cp-1"): "failed",
        ("ev-a", "cp-2"): "passed",
        ("ev-b", "cp-1"): "passed",
        ("ev-b", "cp-2"): "passed",
        ("ev-c", "cp-1"): "failed",
        ("ev-c", "cp-2"): "failed",
    }
    assert cells[("ev-a", "cp-1")]["summary"] == "✘ 1/6"
    assert cells[("ev-b", "cp-2")]["summary"] == "✔ 5 (–1)"
    for cell in cells.values():  # coloured by worst verdict, as the browser computes it
        r, g, b = _rgb(HTML_COLOURS[Verdict(cell["worst"])][0])
        assert cell["background"] == f"rgb({r}, {g}, {b})"
        assert cell["width"] > 20
    assert seen["headers"] == ["cp-1 OCPP 2.0.1 fw 1.1", "cp-2 OCPP 1.6 fw 2.3"]
    # failures are folded away until the cell is expanded
    assert (seen["hiddenBefore"], seen["shownAfter"]) == (True, True)
    assert "TC_K_60_CS" in seen["reason"] and "15.9 A above the 10 A" in seen["reason"]
    (link,) = seen["links"]
    assert not link.startswith(("file:", "/"))  # relative: the reports folder can move
    assert (matrix_page.parent / unquote(link)).resolve().is_file()


def test_chromium_screenshot_shows_the_verdict_colours(matrix_page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "matrix.png"
    _chromium(
        tmp_path / "profile", "--window-size=1000,700", f"--screenshot={shot}", matrix_page.as_uri()
    )
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1000, 700)
    counts = {v: pixels.count(_rgb(HTML_COLOURS[v][0])) for v in (Verdict.FAILED, Verdict.PASSED)}
    # three red and three green cells of roughly 100 x 50 px each
    assert counts[Verdict.FAILED] > 3 * 2000, counts
    assert counts[Verdict.PASSED] > 3 * 2000, counts
    assert pixels.count(_rgb(HTML_COLOURS[Verdict.ERROR][0])) < counts[Verdict.FAILED]
