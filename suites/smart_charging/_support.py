"""Helpers shared by the smart-charging case files: the charging :class:`Session` (profile
book, recording, meter judgement, evidence), shared constants, evidence and profile layouts,
and the capability gate (what the charger reports about its smart charging)."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import allure
import numpy as np
import pytest

from testbench.analysis import BackgroundAcquisition, Recording, Series, save_evidence
from testbench.errors import DeviceFailure
from testbench.procedures import ocpp, smart

TOKEN = "LAB-SMART-1"
WITHIN_S = 30.0
"""Lab seconds the bench waits for a charger's message (a bound on waiting, not a judged
limit: generous, so a loaded machine running a time-scaled lab does not fail a case)."""
RATE_HZ = 5.0
COMPOSITE_S = 120
ACCURACY_A = 0.2
ACCURACY_PCT = 1.0


# ----------------------------------------------------------------------------- session
class Session:
    """One charging session with a profile book, recording when an analyser is present."""

    def __init__(self, charger: Any, station: Any, clock: Any, bench: Any,
                 request: pytest.FixtureRequest) -> None:
        self.charger, self.station, self.clock = charger, station, clock
        self.book = smart.ProfileBook(charger, float(station.charger.max_current_a))
        self.folder = _evidence_dir(bench, request)
        self.acquisition: BackgroundAcquisition | None = None
        self.started: ocpp.TransactionStart | None = None
        self.problems: list[str] = []
        self.figures: dict[str, Any] = {}
        self.answers: list[dict[str, Any]] = []

    def start(self, profile: dict[str, Any] | None = None) -> ocpp.TransactionStart:
        """Plug in, ask for energy, start recording, start the transaction (remote start,
        carrying ``profile`` when given), wait for Charging."""
        self.station.plug_in()
        self.station.request_energy()
        if self.station.has("power_analyzer"):
            analyzer = self.station.instrument("power_analyzer")
            self.acquisition = BackgroundAcquisition(analyzer, self.clock, rate_hz=RATE_HZ,
                                                     max_seconds=600.0).start()
        if profile is None:
            assert ocpp.remote_start(self.charger, TOKEN) == "Accepted", \
                "charger rejected the remote start"
        else:
            action = "RemoteStartTransaction" if ocpp.is_v16(self.charger) \
                else "RequestStartTransaction"
            request = smart.remote_start_request(self.charger, TOKEN, profile)
            at_s = self.clock.now()
            status = str(self.charger.call(action, request).get("status"))
            smart.expect_status(status, "Accepted", f"{action} with a TxProfile")
            self.book.remote_started(request, at_s)
        self.started = ocpp.expect_transaction_started(self.charger, WITHIN_S)
        self.book.started(1, self.started)
        ocpp.expect_charging(self.charger, WITHIN_S)
        return self.started

    def check_composite(self, evse_id: int = 1, duration_s: int = COMPOSITE_S) -> None:
        at_s = self.clock.now()
        problems, ref, answer = smart.composite_problems(self.book, evse_id, duration_s, at_s)
        self.answers.append({"at_lab_s": at_s, "answer": answer, "reference": [
            {"startPeriod": p.start_offset_s, "limit": p.limit,
             "numberPhases": p.number_phases} for p in ref.periods]})
        self.problems += problems

    def finish(self) -> None:
        """Stop the transaction and the recording; judge the meter; keep the evidence."""
        try:
            if self.started is not None:
                ocpp.stop_transaction(self.charger, self.started.transaction_id, WITHIN_S)
        finally:
            self._save_wire()
            if self.acquisition is not None:
                with contextlib.suppress(Exception):
                    self.acquisition.stop()
                self._judge_meter(self.acquisition.recording)
        _save_json(self.folder, "smart-figures", self.figures)
        if self.problems:
            raise DeviceFailure("; ".join(self.problems))

    def _save_wire(self) -> None:
        _save_json(self.folder, "smart-profiles", self.book.sent)
        _save_json(self.folder, "smart-composite", self.answers)

    def _judge_meter(self, recording: Recording) -> None:
        if not len(recording) or "current_a" not in recording:
            self.problems.append("meter: the analyser recorded nothing")
            return
        series = recording.current_a
        t = series.t_lab_s
        ref = self.book.reference(1, float(t[0]), max(1.0, float(t[-1] - t[0]) + 1.0))
        allowed = [ref.limit_at(float(x)) for x in t]
        peak = max((a for a in allowed if a is not None), default=0.0)
        accuracy = ACCURACY_A + peak * ACCURACY_PCT / 100.0
        tx_start = self.book.transactions[0].start_s if self.book.transactions else None
        problems, follow = smart.follow_problems(t, series.values, allowed,
                                                 accuracy_a=accuracy, start_s=tx_start)
        self.problems += problems
        self.figures.update(samples=follow.samples, judged=follow.judged, over=follow.over,
                            worst_excess_a=follow.worst_excess_a, accuracy_a=round(accuracy, 3),
                            response_s=smart.RESPONSE_S)
        limit = Series("allowed_a", "A", t, np.array([np.nan if a is None else a
                                                      for a in allowed]))
        with contextlib.suppress(Exception):  # evidence must never hide the verdict
            save_evidence(recording, self.folder, "smart-session", plot=True,
                          channels=["current_a"], limits=[("allowed (schedule)", limit)],
                          title=f"{self.charger.id}: measured current vs schedule limit")


def _evidence_dir(bench: Any, request: pytest.FixtureRequest) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    return Path(bench.run_dir) / "evidence" / safe


def _save_json(folder: Path, name: str, data: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, default=str)
    (folder / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    with contextlib.suppress(Exception):
        allure.attach(text, name=name, attachment_type=allure.attachment_type.JSON)


def profile(charger: Any, **kwargs: Any) -> dict[str, Any]:
    """A SetChargingProfile request (evse 1 unless ``evse_id`` is given)."""
    kwargs.setdefault("evse_id", 1)
    return smart.profile_request(charger, **kwargs)


def attach_json(name: str, data: Any) -> None:
    """Attach ``data`` as JSON evidence to the Allure report (never hides a verdict)."""
    with contextlib.suppress(Exception):
        allure.attach(json.dumps(data, indent=2, default=str), name=name,
                      attachment_type=allure.attachment_type.JSON)


def install(book: smart.ProfileBook, at_s: float, **profile: Any) -> None:
    """SetChargingProfile through ``book``; the charger must accept it (a precondition)."""
    request = smart.profile_request(book.charger, **profile)
    status = book.set(request, at_s)
    smart.expect_status(status, "Accepted",
                        f"SetChargingProfile {profile.get('purpose')} id "
                        f"{profile.get('profile_id')} on evse {profile.get('evse_id')} "
                        "(precondition)")


def raise_problems(problems: list[str]) -> None:
    """Fail with every problem found, one per line."""
    if problems:
        raise DeviceFailure("\n".join(problems))


def require_rate_unit(capability: smart.SmartCapability, unit: str) -> None:
    """Skip (not applicable) unless the charger reports rate unit ``unit``."""
    if unit not in capability.rate_units:
        pytest.skip(f"not applicable: charger reports rate units "
                    f"{', '.join(capability.rate_units)} only (no {unit})")
