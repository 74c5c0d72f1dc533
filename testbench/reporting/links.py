"""Links to evidence files from reports that may be moved or opened on another machine.

An HTML report links evidence relative to its own folder when both sit in the same tree
(copy the whole reports folder and the links still work), and with an absolute ``file://``
URI otherwise. Paths still relative (not resolved against a run folder) are kept as given.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import quote


def evidence_href(path: str, html_dir: Path | None) -> str:
    """The ``href`` for evidence file ``path`` in an HTML file written to ``html_dir``."""
    target = Path(path)
    if not target.is_absolute():
        return quote(PurePosixPath(*target.parts).as_posix())
    if html_dir is not None:
        base = Path(os.path.abspath(html_dir))
        try:
            common = Path(os.path.commonpath([base, target]))
        except ValueError:  # different drives
            common = Path(base.anchor)
        if common != Path(common.anchor):
            relative = os.path.relpath(target, base)
            return quote(PurePosixPath(*Path(relative).parts).as_posix())
    return target.as_uri()


def console_link(path: str) -> str:
    """A ``file://`` URI for terminals that open links (rich ``[link=...]`` markup)."""
    target = Path(path)
    return target.as_uri() if target.is_absolute() else path
