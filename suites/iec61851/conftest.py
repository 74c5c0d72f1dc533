"""Control-pilot suites: a CP timeline recorded around every test, kept as evidence.

The ``pilot`` fixture polls the station's EV emulator (and its power analyser, when the
station has one) in the background; after the test, pass or fail, the timeline is saved
as CSV, PNG and text (and the figures the test judged as JSON) and attached to Allure.
Charging profiles are cleared before and after each test.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import numpy as np
import pytest

from testbench.analysis import Series, save_evidence
from testbench.plugin.plugin import EVIDENCE_KEY
from testbench.procedures import pilot as cp
from testbench.procedures import smart

RATE_HZ = 5.0
"""Lab samples per second of the CP timeline."""


class PilotWatch:
    """The recorder and the evidence of one test."""

    def __init__(self, recorder: cp.PilotRecorder, folder: Path, title: str) -> None:
        self.recorder = recorder
        self.folder = folder
        self.title = title
        self.figures: dict[str, Any] = {}
        self.saved: list[Path] = []

    def finish(self) -> None:
        """Stop recording and keep the evidence (once; never raises)."""
        cp.stop_quietly(self.recorder)
        if self.saved:
            return
        try:
            self.save()
        except Exception as error:  # noqa: BLE001 - evidence must never hide the verdict
            with contextlib.suppress(Exception):
                self.folder.mkdir(parents=True, exist_ok=True)
                (self.folder / "cp-evidence-error.txt").write_text(str(error) + "\n")

    def save(self) -> None:
        """Write and attach the CP timeline (CSV, PNG, text) and the figures (JSON)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.saved = [self.folder / "cp-timeline.txt", self.folder / "cp-figures.json"]
        text = self.recorder.text()
        (self.folder / "cp-timeline.txt").write_text(text + "\n", encoding="utf-8")
        figures = json.dumps(self.figures, indent=2, default=str)
        (self.folder / "cp-figures.json").write_text(figures + "\n", encoding="utf-8")
        with contextlib.suppress(Exception):
            allure.attach(text, name="cp-timeline.txt",
                          attachment_type=allure.attachment_type.TEXT)
            allure.attach(figures, name="cp-figures", attachment_type=allure.attachment_type.JSON)
        if not self.recorder.snapshot():
            return
        timeline = self.recorder.timeline()
        channels = [c for c in ("pilot_v", "duty_pct", "current_a", "ev_current_a")
                    if c in timeline]
        duty = timeline["duty_pct"]
        allowed = [cp.current_for_duty_a(d) if p == 1.0 else None
                   for d, p in zip(duty.values, timeline["pwm"].values, strict=True)]
        allowed_a = np.array([np.nan if a is None else a for a in allowed], dtype=float)
        limits = [("allowed by duty", Series("allowed_a", "A", duty.t_lab_s, allowed_a))]
        self.saved += save_evidence(timeline, self.folder, "cp-timeline", plot=True,
                                    channels=channels, limits=limits, title=self.title)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Keep the CP timeline while the test's own report is open (Allure shows it there)."""
    yield
    watch = getattr(item, "funcargs", {}).get("pilot")
    if isinstance(watch, PilotWatch):
        watch.finish()


@pytest.fixture
def pilot(station: Any, charger: Any, clock: Any, bench: Any,
          request: pytest.FixtureRequest) -> Iterator[PilotWatch]:
    """A CP timeline recorder on the station's EV emulator (skips without one)."""
    emulator = station.ev_emulator
    if emulator is None:
        pytest.skip(f"not applicable: station {station.id} has no ev_emulator for "
                    f"{station.charger.id}")
    analyzer = station.instrument("power_analyzer") if station.has("power_analyzer") else None
    with contextlib.suppress(Exception):
        charger.call("ClearChargingProfile", smart.clear_request(charger))
    recorder = cp.PilotRecorder(emulator, clock, analyzer, rate_hz=RATE_HZ)
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    watch = PilotWatch(recorder, Path(bench.run_dir) / "evidence" / safe,
                       f"{station.ev.id} @ {station.charger.id}: control pilot")
    recorder.start()
    try:
        yield watch
    finally:
        watch.finish()
        run_dir = Path(bench.run_dir)
        item = request.node
        item.stash[EVIDENCE_KEY] = [*item.stash.get(EVIDENCE_KEY, []),
                                    *(str(p.relative_to(run_dir)) for p in watch.saved
                                      if p.exists())]
        with contextlib.suppress(Exception):
            charger.call("ClearChargingProfile", smart.clear_request(charger))
