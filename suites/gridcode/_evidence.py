"""Evidence of the voltage / reactive-power suites: CSV + PNG of the chosen channels with
the allowed values, and the table of measured vs required values (attached to Allure)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import allure

from testbench.analysis import Recording, save_evidence
from testbench.analysis.judgement import Judgement
from testbench.analysis.series import Series


def save(folder: Path, name: str, recording: Recording, extra: Sequence[Series],
         limits: Sequence[Any], title: str, judgements: Sequence[Judgement],
         channels: Sequence[str]) -> None:
    """Like ``_support.save`` with the plotted ``channels`` named (reactive power, voltage
    and RoCoF are not among the default plot channels)."""
    power = recording["power_w"]
    merged = Recording.from_series(power, *(s.resample_at(power.t_lab_s) for s in extra))
    save_evidence(merged, folder, name, plot=True, channels=list(channels),
                  limits=list(limits), title=title)
    rows = [j.as_row() for j in judgements]
    if rows:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
        (folder / f"{name}-table.csv").write_text(text, encoding="utf-8")
        allure.attach(text, name=f"{title}: measured vs required",
                      attachment_type=allure.attachment_type.CSV)
