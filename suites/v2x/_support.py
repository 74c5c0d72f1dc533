"""A V2X session for the suite: profile book, dynamic updates, recording, judging, evidence."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import allure
import numpy as np
import pytest

from testbench.analysis import BackgroundAcquisition, Recording, Series, save_evidence
from testbench.errors import DeviceFailure
from testbench.procedures import ocpp, smart, v2x
from testbench.schedule import CompositeSchedule

TOKEN = "LAB-V2X-1"
WITHIN_S = 10.0
RATE_HZ = 5.0
COMPOSITE_S = 300
EVSE = 1

BandsOf = Callable[[np.ndarray, np.ndarray, "V2xSession"], list[v2x.Band | None]]


class V2xSession:
    """One V2X transaction on EVSE 1: what was sent, what the charger answered, what the
    analyser measured; :meth:`finish` judges and keeps the evidence."""

    def __init__(self, charger: Any, station: Any, clock: Any, bench: Any, ev: Any,
                 request: pytest.FixtureRequest) -> None:
        self.charger, self.station, self.clock, self.ev = charger, station, clock, ev
        self.book = smart.ProfileBook(charger, float(station.charger.max_current_a))
        self.folder = _evidence_dir(bench, request)
        self.acquisition: BackgroundAcquisition | None = None
        self.started: ocpp.TransactionStart | None = None
        self.tx_start_s: float | None = None
        self.problems: list[str] = []
        self.figures: dict[str, Any] = {}
        self.answers: list[dict[str, Any]] = []
        self.pieces: list[tuple[float, CompositeSchedule]] = []  # before dynamic updates
        self.last_update_s = -math.inf
        self.delay_s = 0.0
        self.aborted = False  # a wire check failed: the meter is not judged, only recorded

    # -- limits of the pairing (lab file)
    @property
    def phases(self) -> int:
        return min(int(self.ev.phases), int(self.station.charger.phases))

    def watts(self, current_a: float) -> float:
        return current_a * 230.0 * self.phases

    @property
    def ev_min_w(self) -> float:
        return self.watts(float(self.ev.min_current_a))

    @property
    def max_w(self) -> float:
        return min(self.watts(min(float(self.ev.max_current_a),
                                  float(self.station.charger.max_current_a))),
                   float(self.station.charger.max_power_w))

    @property
    def measuring(self) -> bool:
        return self.acquisition is not None

    # -- the session
    def start(self, charging: bool = True) -> ocpp.TransactionStart:
        """Plug in, ask for energy, start recording, remote start, wait for Charging
        (``charging`` False: only for the transaction, e.g. when it starts Idle)."""
        self.station.plug_in()
        self.station.request_energy()
        if self.station.has("power_analyzer"):
            analyzer = self.station.instrument("power_analyzer")
            self.acquisition = BackgroundAcquisition(analyzer, self.clock, rate_hz=RATE_HZ,
                                                     max_seconds=900.0).start()
        assert ocpp.remote_start(self.charger, TOKEN) == "Accepted", \
            "charger rejected the remote start"
        self.started = ocpp.expect_transaction_started(self.charger, WITHIN_S)
        self.tx_start_s = self.book.started(EVSE, self.started).start_s
        if charging:
            ocpp.expect_charging(self.charger, WITHIN_S)
        return self.started

    def set(self, request: dict[str, Any], what: str, wanted: str = "Accepted") -> str:
        """SetChargingProfile; any other answer than ``wanted`` ends the case."""
        status = self.book.set(request, self.clock.now())
        self.expect(status, wanted, what)
        delay = request["chargingProfile"]["chargingSchedule"][0].get("randomizedDelay") or 0
        self.delay_s = max(self.delay_s, float(delay))
        return status

    def update(self, profile_id: int, **values: float) -> None:
        """Push new dynamic values; the reference changes from this moment on."""
        at_s = self.clock.now()
        status = v2x.update_dynamic(self.charger, profile_id, **values)
        self.book.sent.append({"update_dynamic": {"profile_id": profile_id, **values},
                               "status": status, "lab_s": at_s})
        self.expect(status, "Accepted", f"UpdateDynamicSchedule of profile {profile_id}")
        self.applied(profile_id, at_s, **values)

    def applied(self, profile_id: int, at_s: float, **values: float) -> None:
        """New dynamic values hold from lab time ``at_s`` (a push, or the bench's answer to
        a PullDynamicScheduleUpdate): the reference changes from that moment on."""
        origin = self.tx_start_s if self.tx_start_s is not None else at_s - 1.0
        self.pieces.append((self.last_update_s,
                            self.book.reference(EVSE, origin, at_s - origin + 5.0, "W")))
        self.last_update_s = at_s
        update = {{"discharge_limit": "dischargeLimit"}.get(k, k): v for k, v in values.items()}
        self.book.profiles.update_dynamic(profile_id, update)

    def expect(self, status: str, wanted: str, what: str) -> None:
        """Abort the case (its verdict is this problem) unless ``status`` is ``wanted``."""
        if status != wanted:
            self.fail(f"{what}: the charger answered {status!r}, expected {wanted!r}")

    def fail(self, message: str) -> None:
        """Abort the case with ``message`` as its verdict (the meter is then not judged)."""
        self.aborted = True
        self.problems.append(message)
        raise DeviceFailure(message)

    def check_composite(self, duration_s: int = COMPOSITE_S) -> None:
        """GetCompositeSchedule (in W) against the reference."""
        at_s = self.clock.now()
        problems, ref, answer = smart.composite_problems(self.book, EVSE, duration_s, at_s,
                                                         unit="W")
        self.answers.append({"at_lab_s": at_s, "answer": answer, "reference": [
            {"startPeriod": p.start_offset_s, "limit": p.limit, "setpoint": p.setpoint,
             "dischargeLimit": p.discharge_limit, "operationMode": p.operation_mode}
            for p in ref.periods]})
        self.problems += problems

    def finish(self, bands: BandsOf | None = None,
               extra: Callable[[np.ndarray, np.ndarray], list[str]] | None = None) -> None:
        """Stop recording, then the transaction; judge the meter; keep the evidence."""
        recording = None
        try:
            if self.acquisition is not None:
                with contextlib.suppress(Exception):
                    self.acquisition.stop()
                recording = self.acquisition.recording
            if self.started is not None:
                ocpp.stop_transaction(self.charger, self.started.transaction_id, WITHIN_S)
        finally:
            _save_json(self.folder, "v2x-profiles", self.book.sent)
            _save_json(self.folder, "v2x-composite", self.answers)
            if recording is not None:
                self._judge_meter(recording, bands or schedule_bands, extra)
            _save_json(self.folder, "v2x-figures", self.figures)
        if self.problems:
            raise DeviceFailure("; ".join(self.problems))

    # -- the meter
    def timeline(self, start_s: float, end_s: float) -> v2x.Timeline:
        line = v2x.Timeline()
        for from_s, ref in self.pieces:
            line.add(from_s, ref)
        line.add(self.last_update_s, self.book.reference(EVSE, start_s, end_s - start_s + 1.0,
                                                         "W"))
        return line

    def accuracy_w(self) -> float:
        return v2x.ACCURACY_W + self.max_w * v2x.ACCURACY_PCT / 100.0

    def _judge_meter(self, recording: Recording, bands_of: BandsOf,
                     extra: Callable[[np.ndarray, np.ndarray], list[str]] | None) -> None:
        if not len(recording) or "power_w" not in recording:
            self.problems.append("meter: the analyser recorded nothing")
            return
        series = recording.power_w
        t, p = series.t_lab_s, series.values
        bands = bands_of(t, p, self)
        problems, follow = v2x.follow_power(t, p, bands, delay_s=self.delay_s,
                                            judge_from_s=self.tx_start_s)
        if not self.aborted:
            self.problems += problems
            if extra is not None:
                self.problems += extra(t, p)
        self.figures.update(follow.figures(), accuracy_w=round(self.accuracy_w(), 1),
                            response_s=smart.RESPONSE_S, randomized_delay_s=self.delay_s)
        low = Series("allowed_low_w", "W", t, np.array(
            [np.nan if b is None or not math.isfinite(b.low_w) else b.low_w for b in bands]))
        high = Series("allowed_high_w", "W", t, np.array(
            [np.nan if b is None or not math.isfinite(b.high_w) else b.high_w for b in bands]))
        judged_low = Series("judged_low_w", "W", t, np.array(
            [np.nan if not math.isfinite(x) else x for x in follow.envelope_low_w]))
        judged_high = Series("judged_high_w", "W", t, np.array(
            [np.nan if not math.isfinite(x) else x for x in follow.envelope_high_w]))
        with contextlib.suppress(Exception):  # evidence must never hide the verdict
            save_evidence(recording, self.folder, "v2x-session", plot=True,
                          channels=["power_w"],
                          limits=[("schedule low", low), ("schedule high", high),
                                  ("judged low (+ response, delay)", judged_low),
                                  ("judged high (+ response, delay)", judged_high)],
                          title=f"{self.charger.id}: measured power vs schedule band")


def schedule_bands(t: np.ndarray, p: np.ndarray, session: V2xSession) -> list[v2x.Band | None]:
    """The band of the reference schedule at each sample (None before the transaction)."""
    start = session.tx_start_s if session.tx_start_s is not None else float(t[0])
    line = session.timeline(min(float(t[0]), start), float(t[-1]) + 1.0)
    accuracy = session.accuracy_w()
    out: list[v2x.Band | None] = []
    for x in t:
        period = line.period_at(float(x)) if x >= start else None
        out.append(None if period is None else v2x.band_of(
            period, ev_min_discharge_w=session.ev_min_w, accuracy_w=accuracy))
    return out


def _evidence_dir(bench: Any, request: pytest.FixtureRequest) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    return Path(bench.run_dir) / "evidence" / safe


def _save_json(folder: Path, name: str, data: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, default=str)
    (folder / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    with contextlib.suppress(Exception):
        allure.attach(text, name=name, attachment_type=allure.attachment_type.JSON)
