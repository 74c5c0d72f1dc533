"""Smart charging judged on the wire and, with a power analyser, at the meter.

Wire: every SetChargingProfile / ClearChargingProfile answer is checked, and the charger's
GetCompositeSchedule answer is compared with the bench's reference composite schedule
(``testbench.schedule``, +-2 s on instants, 0.1 A on limits). Meter (when the station has a
``power_analyzer``): during the session the measured current must be inside the reference
limit within ``smart.RESPONSE_S`` of every change of that limit and stay there
(+ the analyser's accuracy). Evidence: the profiles sent, the composite answer and the
reference (JSON), the recording (CSV) and measured vs allowed current (PNG).

Limits stay below the EVs' own maximum (16 A for the smallest in the lab examples), so a
charger that does not apply them shows on the analyser.
"""

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
WITHIN_S = 10.0
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
                ocpp.remote_stop(self.charger, self.started.transaction_id)
                ocpp.expect_transaction_ended(self.charger, WITHIN_S)
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


@pytest.fixture
def session(charger: Any, station: Any, clock: Any, bench: Any,
            request: pytest.FixtureRequest) -> Session:
    return Session(charger, station, clock, bench, request)


def _evidence_dir(bench: Any, request: pytest.FixtureRequest) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    return Path(bench.run_dir) / "evidence" / safe


def _save_json(folder: Path, name: str, data: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, default=str)
    (folder / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    with contextlib.suppress(Exception):
        allure.attach(text, name=name, attachment_type=allure.attachment_type.JSON)


def _profile(charger: Any, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("evse_id", 1)
    return smart.profile_request(charger, **kwargs)


# ----------------------------------------------------------------------------- cases
@pytest.mark.testcase(v16="TC_056_CS", v201="TC_K_01_CS", v21="TC_K_01_CS")  # (verify)
def test_tx_default_profile(session: Session, charger: Any, clock: Any) -> None:
    """A TxDefaultProfile set before the transaction limits it: 10 A, then 7 A after 30 s."""
    status = session.book.set(_profile(charger, profile_id=11, stack_level=0,
                                       purpose="TxDefaultProfile", kind="Relative",
                                       periods=[(0, 10.0), (30, 7.0)]), clock.now())
    smart.expect_status(status, "Accepted", "SetChargingProfile TxDefaultProfile")
    try:
        session.start()
        clock.sleep(5.0)
        session.check_composite()
        clock.sleep(55.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16="TC_057_CS", v201="TC_K_60_CS", v21="TC_K_60_CS")  # (verify)
def test_tx_profile(session: Session, charger: Any, clock: Any) -> None:
    """A TxProfile set during the transaction limits it (8 A), over a TxDefaultProfile (12 A)."""
    try:
        session.book.set(_profile(charger, profile_id=21, stack_level=0,
                                  purpose="TxDefaultProfile", kind="Relative",
                                  periods=[(0, 12.0)]), clock.now())
        started = session.start()
        clock.sleep(5.0)
        status = session.book.set(_profile(charger, profile_id=22, stack_level=1,
                                           purpose="TxProfile", kind="Relative",
                                           periods=[(0, 8.0)],
                                           transaction_id=started.transaction_id), clock.now())
        smart.expect_status(status, "Accepted", "SetChargingProfile TxProfile")
        clock.sleep(3.0)
        session.check_composite()
        clock.sleep(30.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16="TC_058_1_CS", v201="TC_K_02_CS", v21="TC_K_02_CS")  # (verify)
def test_tx_profile_without_transaction_rejected(charger: Any, clock: Any) -> None:
    """A TxProfile while no transaction runs is Rejected."""
    request = _profile(charger, profile_id=31, stack_level=0, purpose="TxProfile",
                       kind="Relative", periods=[(0, 8.0)],
                       transaction_id=None if ocpp.is_v16(charger) else "NO-SUCH-TX")
    status = str(charger.call("SetChargingProfile", request).get("status"))
    smart.expect_status(status, "Rejected", "SetChargingProfile TxProfile without a transaction")


@pytest.mark.testcase(v16="TC_058_2_CS", v201=None, v21=None)
def test_tx_profile_wrong_transaction_rejected(charger: Any, station: Any, clock: Any) -> None:
    """A TxProfile naming another transaction than the running one is Rejected."""
    station.plug_in()
    station.request_energy()
    assert ocpp.remote_start(charger, TOKEN) == "Accepted", "charger rejected the remote start"
    started = ocpp.expect_transaction_started(charger, WITHIN_S)
    wrong = str(int(started.transaction_id) + 1000) if ocpp.is_v16(charger) \
        else "WRONG-" + started.transaction_id[:20]
    request = _profile(charger, profile_id=32, stack_level=0, purpose="TxProfile",
                       kind="Relative", periods=[(0, 8.0)], transaction_id=wrong)
    status = str(charger.call("SetChargingProfile", request).get("status"))
    ocpp.remote_stop(charger, started.transaction_id)
    ocpp.expect_transaction_ended(charger, WITHIN_S)
    smart.expect_status(status, "Rejected",
                        f"SetChargingProfile TxProfile for transaction {wrong} while "
                        f"{started.transaction_id} runs")


@pytest.mark.testcase(v16="TC_066_CS", v201="TC_K_39_CS", v21="TC_K_39_CS")  # (verify)
def test_composite_schedule_three_purposes(session: Session, charger: Any,
                                           clock: Any) -> None:
    """Station maximum, TxDefault and TxProfile combine into the composite the charger reports."""
    now = clock.now()
    try:
        session.book.set(_profile(charger, evse_id=0, profile_id=41, stack_level=0,
                                  purpose="ChargingStationMaxProfile", kind="Absolute",
                                  start_s=now - 1, periods=[(0, 14.0), (60, 9.0)]), now)
        session.book.set(_profile(charger, profile_id=42, stack_level=0,
                                  purpose="TxDefaultProfile", kind="Relative",
                                  periods=[(0, 12.0)]), clock.now())
        started = session.start()
        status = session.book.set(_profile(charger, profile_id=43, stack_level=0,
                                           purpose="TxProfile", kind="Relative",
                                           periods=[(0, 11.0), (40, 6.0)],
                                           transaction_id=started.transaction_id), clock.now())
        smart.expect_status(status, "Accepted", "SetChargingProfile TxProfile")
        clock.sleep(2.0)
        session.check_composite()
        clock.sleep(50.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16="TC_067_CS", v201="TC_K_05_CS", v21="TC_K_05_CS")  # (verify)
def test_clear_charging_profile(session: Session, charger: Any, clock: Any) -> None:
    """Clearing a profile by id removes it from the composite; clearing it again is Unknown."""
    session.book.set(_profile(charger, profile_id=51, stack_level=0, purpose="TxDefaultProfile",
                              kind="Absolute", start_s=clock.now() - 1, periods=[(0, 9.0)]),
                     clock.now())
    session.check_composite()
    status = session.book.clear(smart.clear_request(charger, profile_id=51))
    smart.expect_status(status, "Accepted", "ClearChargingProfile of installed profile 51")
    session.check_composite()
    again = str(charger.call("ClearChargingProfile",
                             smart.clear_request(charger, profile_id=51)).get("status"))
    session.finish()
    smart.expect_status(again, "Unknown", "ClearChargingProfile of profile 51 already cleared")


@pytest.mark.requires("ocpp2")
@pytest.mark.testcase(v16=None, v201="TC_K_03_CS", v21="TC_K_03_CS")  # (verify)
def test_station_max_profile(session: Session, charger: Any, clock: Any) -> None:
    """A ChargingStationMaxProfile caps the EVSE's composite; on an EVSE it is Rejected."""
    now = clock.now()
    wrong = str(charger.call("SetChargingProfile", _profile(
        charger, evse_id=1, profile_id=61, stack_level=0, purpose="ChargingStationMaxProfile",
        kind="Absolute", start_s=now - 1, periods=[(0, 10.0)])).get("status"))
    status = session.book.set(_profile(charger, evse_id=0, profile_id=62, stack_level=0,
                                       purpose="ChargingStationMaxProfile", kind="Absolute",
                                       start_s=now - 1, periods=[(0, 10.0), (30, 8.0)]), now)
    smart.expect_status(status, "Accepted", "SetChargingProfile ChargingStationMaxProfile on evse 0")
    session.check_composite(evse_id=1)
    session.check_composite(evse_id=0)
    session.finish()
    smart.expect_status(wrong, "Rejected", "SetChargingProfile ChargingStationMaxProfile on evse 1")


@pytest.mark.requires("ocpp2")
@pytest.mark.testcase(v16=None, v201="TC_K_04_CS", v21="TC_K_04_CS")  # (verify)
def test_replace_profile(session: Session, charger: Any, clock: Any) -> None:
    """A profile sent again with the same id replaces the installed one."""
    for limit in (10.0, 6.0):
        status = session.book.set(_profile(charger, profile_id=71, stack_level=0,
                                           purpose="TxDefaultProfile", kind="Absolute",
                                           start_s=clock.now() - 1, periods=[(0, limit)]),
                                  clock.now())
        smart.expect_status(status, "Accepted", f"SetChargingProfile id 71 with {limit:g} A")
    session.check_composite()
    session.finish()


@pytest.mark.testcase(v16="TC_072_CS", v201="TC_K_70_CS", v21="TC_K_70_CS")  # (verify)
def test_stacking(session: Session, charger: Any, clock: Any) -> None:
    """Stack level 1 (6 A for 30 s) leads over stack level 0 (11 A), then falls through."""
    try:
        session.book.set(_profile(charger, profile_id=81, stack_level=0,
                                  purpose="TxDefaultProfile", kind="Relative",
                                  periods=[(0, 11.0)]), clock.now())
        session.book.set(_profile(charger, profile_id=82, stack_level=1,
                                  purpose="TxDefaultProfile", kind="Relative",
                                  periods=[(0, 6.0)], duration_s=30), clock.now())
        session.start()
        clock.sleep(3.0)
        session.check_composite()
        clock.sleep(50.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16="TC_082_CS", v201=None, v21=None)  # (verify)
def test_tx_default_profile_during_transaction(session: Session, charger: Any,
                                               clock: Any) -> None:
    """A TxDefaultProfile set while a transaction runs limits that transaction at once (8 A)."""
    try:
        session.start()
        clock.sleep(5.0)
        status = session.book.set(_profile(charger, profile_id=101, stack_level=0,
                                           purpose="TxDefaultProfile", kind="Relative",
                                           periods=[(0, 8.0)]), clock.now())
        smart.expect_status(status, "Accepted", "SetChargingProfile TxDefaultProfile")
        clock.sleep(2.0)
        session.check_composite()
        clock.sleep(25.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_10_CS", v21="TC_K_10_CS")  # (verify)
def test_tx_default_profile_all_evses(session: Session, charger: Any, clock: Any) -> None:
    """A TxDefaultProfile on evse (1.6: connector) 0 applies to every EVSE."""
    status = session.book.set(_profile(charger, evse_id=0, profile_id=111, stack_level=0,
                                       purpose="TxDefaultProfile", kind="Absolute",
                                       start_s=clock.now() - 1, periods=[(0, 9.0), (40, 7.0)]),
                              clock.now())
    smart.expect_status(status, "Accepted", "SetChargingProfile TxDefaultProfile on evse 0")
    session.check_composite(evse_id=1)
    session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_19_CS", v21="TC_K_19_CS")  # (verify)
def test_recurring_profile(session: Session, charger: Any, clock: Any) -> None:
    """A daily recurring profile that began an hour ago: its period change 30 s from now."""
    now = clock.now()
    status = session.book.set(_profile(charger, profile_id=121, stack_level=0,
                                       purpose="TxDefaultProfile", kind="Recurring",
                                       recurrency="Daily", start_s=now - 3600, periods=[(0, 10.0), (3630, 7.0),
                                                                    (3700, 12.0)]), now)
    smart.expect_status(status, "Accepted", "SetChargingProfile Recurring TxDefaultProfile")
    session.check_composite()
    session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_06_CS", v21="TC_K_06_CS")  # (verify)
def test_clear_by_criteria(session: Session, charger: Any, clock: Any) -> None:
    """Clearing by purpose and stack level removes only the profile they select."""
    now = clock.now()
    for profile_id, stack, limit in ((131, 0, 12.0), (132, 1, 7.0)):
        session.book.set(_profile(charger, profile_id=profile_id, stack_level=stack,
                                  purpose="TxDefaultProfile", kind="Absolute", start_s=now - 1,
                                  periods=[(0, limit)]), now)
    session.check_composite()
    criteria: dict[str, Any] = {"evse_id": 1, "purpose": "TxDefaultProfile", "stack_level": 1}
    status = session.book.clear(smart.clear_request(charger, **criteria))
    smart.expect_status(status, "Accepted", "ClearChargingProfile TxDefaultProfile stack level 1")
    session.check_composite()
    again = str(charger.call("ClearChargingProfile",
                             smart.clear_request(charger, **criteria)).get("status"))
    session.finish()
    smart.expect_status(again, "Unknown", "ClearChargingProfile of a stack level already cleared")


@pytest.mark.requires("ocpp2")
@pytest.mark.testcase(v16=None, v201="TC_K_29_CS", v21="TC_K_29_CS")  # (verify)
def test_get_charging_profiles(charger: Any, clock: Any) -> None:
    """GetChargingProfiles by purpose reports the selected profiles and only them."""
    now = clock.now()
    for request in (_profile(charger, profile_id=141, stack_level=0, purpose="TxDefaultProfile",
                             kind="Absolute", start_s=now - 1, periods=[(0, 10.0)]),
                    _profile(charger, evse_id=0, profile_id=142, stack_level=0,
                             purpose="ChargingStationMaxProfile", kind="Absolute",
                             start_s=now - 1, periods=[(0, 14.0)])):
        smart.expect_status(str(charger.call("SetChargingProfile", request).get("status")),
                            "Accepted", "SetChargingProfile")
    reply = charger.call("GetChargingProfiles", {
        "requestId": 7, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}})
    smart.expect_status(str(reply.get("status")), "Accepted", "GetChargingProfiles TxDefault")
    report = charger.expect("ReportChargingProfiles", WITHIN_S, request_id=7)
    ids = sorted(p.get("id") for p in report.payload.get("chargingProfile", []))
    if ids != [141]:
        raise DeviceFailure(f"ReportChargingProfiles for TxDefaultProfile listed profiles {ids}, "
                            "expected [141] (142 is a ChargingStationMaxProfile)")
    reply = charger.call("GetChargingProfiles", {"requestId": 8,
                                                 "chargingProfile": {"stackLevel": 5}})
    smart.expect_status(str(reply.get("status")), "NoProfiles",
                        "GetChargingProfiles for stack level 5 (none installed)")


@pytest.mark.testcase(v16="TC_059_CS", v201="TC_K_37_CS", v21="TC_K_37_CS")  # (verify)
def test_remote_start_with_tx_profile(session: Session, charger: Any, clock: Any) -> None:
    """A remote start carrying a TxProfile (9 A, 6 A after 30 s) limits the transaction."""
    profile = _profile(charger, profile_id=151, stack_level=0, purpose="TxProfile",
                       kind="Relative", periods=[(0, 9.0), (30, 6.0)])
    try:
        session.start(profile)
        clock.sleep(3.0)
        session.check_composite()
        clock.sleep(45.0)
    finally:
        session.finish()


@pytest.mark.testcase(v16=None, v201="TC_K_40_CS", v21="TC_K_40_CS")  # (verify)
def test_composite_schedule_in_watts(session: Session, charger: Any, clock: Any) -> None:
    """Profiles in A and in W combine; the composite asked for in W converts at 230 V."""
    now = clock.now()
    session.book.set(_profile(charger, evse_id=0, profile_id=161, stack_level=0,
                              purpose="ChargingStationMaxProfile", kind="Absolute", unit="W",
                              start_s=now - 1, periods=[(0, 8280.0), (45, 5520.0)]), now)
    session.book.set(_profile(charger, profile_id=162, stack_level=0, purpose="TxDefaultProfile",
                              kind="Absolute", start_s=now - 1, periods=[(0, 10.0)]), now)
    at_s = clock.now()
    problems, _ref, answer = smart.composite_problems(session.book, 1, COMPOSITE_S, at_s,
                                                      unit="W")
    session.answers.append({"at_lab_s": at_s, "unit": "W", "answer": answer})
    session.problems += problems
    session.check_composite()
    session.finish()
