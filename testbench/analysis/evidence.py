"""Save a recording as test evidence: CSV (and a PNG plot) on disk, attached to Allure."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from testbench.analysis.plots import Limit, plot_recording
from testbench.analysis.series import Recording

log = logging.getLogger("testbench.analysis")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]+")


def evidence_stem(name: str) -> str:
    """A file-name-safe form of ``name`` (``"current L1 @ c16"`` -> ``current_L1_@_c16``)."""
    stem = _UNSAFE.sub("_", name).strip("._")[:120]
    if not stem:
        raise ValueError(f"evidence name {name!r} has no usable characters; "
                         "use letters, digits, '-', '_' or '.'")
    return stem


def allure_active() -> bool:
    """True when an Allure listener is collecting this run (``--alluredir`` given)."""
    try:
        from allure_commons import plugin_manager
    except ImportError:
        return False
    return bool(plugin_manager.hook.attach_file.get_hookimpls())


def save_evidence(recording: Recording, folder: str | Path, name: str, plot: bool = False,
                  *, channels: Sequence[str] | None = None,
                  limits: Sequence[Limit] | None = None,
                  title: str | None = None) -> list[Path]:
    """Write ``<folder>/<name>.csv`` (and ``<name>.png`` when ``plot``); return the paths.

    When Allure is collecting the run, each file is attached to the current test (a no-op
    otherwise). ``channels``, ``limits`` and ``title`` go to
    :func:`~testbench.analysis.plots.plot_recording`. The CSV is written first, so a
    failing plot never loses the data.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = evidence_stem(name)
    paths = [recording.to_csv(folder / f"{stem}.csv")]
    if plot:
        paths.append(plot_recording(recording, folder / f"{stem}.png", channels=channels,
                                    limits=limits, title=title or name))
    if allure_active():
        _attach(paths, name)
    return paths


def _attach(paths: list[Path], name: str) -> None:
    import allure

    kinds = {".csv": allure.attachment_type.CSV, ".png": allure.attachment_type.PNG}
    for path in paths:
        try:
            allure.attach.file(str(path), name=f"{name}{path.suffix}",
                               attachment_type=kinds.get(path.suffix))
        except Exception as exc:  # noqa: BLE001 - evidence must never hide the verdict
            log.warning("could not attach %s to the Allure report: %s", path, exc)


__all__ = ["allure_active", "evidence_stem", "save_evidence"]
