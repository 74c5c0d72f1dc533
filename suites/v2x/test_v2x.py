"""OCPP 2.1 V2X (bidirectional power transfer) judged on the wire and at the meter.

Wire: every SetChargingProfile / UpdateDynamicSchedule answer, NotifyEVChargingNeeds and
PullDynamicScheduleUpdate requests, and GetCompositeSchedule (in W) against the bench's
reference (``testbench.schedule``: limits, setpoints, dischargeLimit, operationMode;
instants +-2 s, widened by randomizedDelay). Meter (when the station has a
``power_analyzer``): the signed outlet power must settle inside the schedule's band
(``testbench.procedures.v2x``) within the response time (+ randomizedDelay) of every change
and stay there. Evidence: profiles and answers, composite vs reference, figures (settle
times, delays) as JSON; the recording (CSV) and measured power vs allowed band (PNG).

Powers are in W for three phases at 230 V (690 W per ampere); they stay inside the
pairing's capabilities from the lab file (EV minimum current, charger and EV maximum).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from typing import Any

import allure
import numpy as np
import pytest

from suites.v2x._support import EVSE, WITHIN_S, V2xSession
from testbench.csms import ExpectationFailed
from testbench.errors import DeviceFailure
from testbench.procedures import smart, v2x

A = 690.0  # W per ampere per phase, three phases at 230 V

pytestmark = pytest.mark.requires("ocpp21", "bidirectional")


@pytest.fixture
def session(charger: Any, station: Any, clock: Any, bench: Any, ev: Any,
            request: pytest.FixtureRequest) -> V2xSession:
    return V2xSession(charger, station, clock, bench, ev, request)


def _tx_profile(session: V2xSession, profile_id: int, periods: list[dict[str, Any]],
                **kw: Any) -> dict[str, Any]:
    assert session.started is not None
    return v2x.profile_request(evse_id=EVSE, profile_id=profile_id, stack_level=1,
                               purpose="TxProfile", periods=periods,
                               transaction_id=session.started.transaction_id, **kw)


@pytest.fixture
def evse_sleep_support(charger: Any) -> v2x.EvseSleepSupport:
    """What the charger REPORTS about evseSleep (SmartChargingCtrlr.SupportsEvseSleep)."""
    support = v2x.reported_evse_sleep_support(charger)
    _attach("evse-sleep-support", support.evidence())
    return support


@pytest.fixture
def evse_sleep_supported(evse_sleep_support: v2x.EvseSleepSupport) -> v2x.EvseSleepSupport:
    """Gate: the case is for a charger that reports evseSleep support."""
    if not evse_sleep_support.supported:
        pytest.skip("not applicable: charger reports no evseSleep support "
                    f"(SmartChargingCtrlr.SupportsEvseSleep {evse_sleep_support.reported!r})")
    return evse_sleep_support


@pytest.fixture
def evse_sleep_unsupported(evse_sleep_support: v2x.EvseSleepSupport) -> v2x.EvseSleepSupport:
    """Gate: the case is for a charger that does not report evseSleep support."""
    if evse_sleep_support.supported:
        pytest.skip("not applicable: charger reports evseSleep support "
                    "(SmartChargingCtrlr.SupportsEvseSleep true)")
    return evse_sleep_support


def _attach(name: str, data: Any) -> None:
    with contextlib.suppress(Exception):  # evidence must never hide the verdict
        allure.attach(json.dumps(data, indent=2, default=str), name=name,
                      attachment_type=allure.attachment_type.JSON)


def _sleep_until(session: V2xSession, offset_s: float) -> None:
    """Sleep until ``offset_s`` lab seconds after the transaction started."""
    assert session.tx_start_s is not None
    session.clock.sleep(max(0.0, session.tx_start_s + offset_s - session.clock.now()))


# ----------------------------------------------------------------------------- K block
@pytest.mark.testcase(v21="TC_K_101_CS")  # (verify)
def test_operation_mode_change(session: V2xSession) -> None:
    """ChargingOnly 10 A, then CentralSetpoint -10 A (discharge) inside dischargeLimit
    -16 A, then ChargingOnly 16 A: the power follows each operation mode."""
    try:
        session.start()
        session.set(_tx_profile(session, 201, [
            v2x.period(0, limit=10 * A),
            v2x.period(40, mode="CentralSetpoint", setpoint=-10 * A, discharge_limit=-16 * A),
            v2x.period(80, mode="ChargingOnly", limit=16 * A)]),
            "SetChargingProfile TxProfile with operation modes")
        session.clock.sleep(2.0)
        session.check_composite()
        _sleep_until(session, 115.0)
    finally:
        session.finish()


@pytest.mark.testcase(v21="TC_K_102_CS")  # (verify)
def test_limit_at_soc(session: V2xSession, ev: Any) -> None:
    """limitAtSoC: 22 kW until the EV is 1 % fuller than it arrived, then 10 A; the crossing
    is estimated from the measured energy (efficiency between MIN_EFFICIENCY and 1)."""
    soc = int(ev.initial_soc_pct) + 1
    limit_w, soc_limit_w = min(32 * A, session.max_w), 10 * A
    try:
        session.start()
        session.set(_tx_profile(session, 211, [v2x.period(0, limit=limit_w)],
                                limit_at_soc=(soc, soc_limit_w)),
                    "SetChargingProfile TxProfile with limitAtSoC")
        session.clock.sleep(2.0)
        session.check_composite()
        hours = float(ev.battery_kwh) * 10.0 / limit_w  # 1 % at full power, h
        _sleep_until(session, hours * 3600.0 / v2x.MIN_EFFICIENCY + 90.0)
    finally:
        session.finish(bands=lambda t, p, s: _soc_bands(t, p, s, soc, soc_limit_w))


def _soc_bands(t: np.ndarray, p: np.ndarray, session: V2xSession, soc: float,
               soc_limit_w: float) -> list[v2x.Band | None]:
    ev = session.ev
    start = session.tx_start_s if session.tx_start_s is not None else float(t[0])
    since = t >= start
    crossing = {eff: v2x.soc_crossing_s(t[since], p[since], initial_soc_pct=ev.initial_soc_pct,
                                        battery_kwh=ev.battery_kwh, soc_pct=soc, efficiency=eff)
                for eff in (1.0, v2x.MIN_EFFICIENCY)}
    session.figures["soc_crossing_lab_s"] = {
        name: None if at is None else round(at - start, 1)
        for name, at in (("earliest", crossing[1.0]),
                         ("latest", crossing[v2x.MIN_EFFICIENCY]))}
    line = session.timeline(min(float(t[0]), start), float(t[-1]) + 1.0)
    accuracy = session.accuracy_w()
    below = np.nonzero(since & (p <= soc_limit_w + accuracy) & (t >= start + smart.RESPONSE_S))[0]
    session.figures["soc_limit_applied_lab_s"] = (None if not len(below)
                                                  else round(float(t[below[0]]) - start, 1))

    def base(x: float, cap: float | None) -> v2x.Band | None:
        period = line.period_at(x) if x >= start else None
        return None if period is None else v2x.band_of(
            period, ev_min_discharge_w=session.ev_min_w, accuracy_w=accuracy, soc_limit_w=cap)

    if crossing[v2x.MIN_EFFICIENCY] is None:
        session.problems.append(f"limitAtSoC: the measured energy never brought the EV to "
                                f"{soc} % (assumed efficiency {v2x.MIN_EFFICIENCY}); the case "
                                "is inconclusive")
    return v2x.soc_bands(t, base, crossing[1.0], crossing[v2x.MIN_EFFICIENCY], soc_limit_w)


def _randomized_delay_case(session: V2xSession, purpose: str) -> None:
    """22 kW, 10 A at +30 s, 20 A at +90 s, 10 A at +150 s under randomizedDelay 30 s."""
    bound_s = 30
    levels = [(0, min(32 * A, session.max_w)), (30, 10 * A), (90, 20 * A), (150, 10 * A)]
    periods = [v2x.period(s, limit=w) for s, w in levels]
    try:
        if purpose == "TxDefaultProfile":
            session.set(v2x.profile_request(evse_id=EVSE, profile_id=221, stack_level=0,
                                            purpose=purpose, periods=periods,
                                            randomized_delay_s=bound_s),
                        "SetChargingProfile TxDefaultProfile with randomizedDelay")
            session.start()
        else:
            session.start()
            session.set(_tx_profile(session, 222, periods, randomized_delay_s=bound_s),
                        "SetChargingProfile TxProfile with randomizedDelay")
        session.clock.sleep(2.0)
        session.check_composite()
        _sleep_until(session, 200.0)
    finally:
        def delays(t: np.ndarray, p: np.ndarray) -> list[str]:
            assert session.tx_start_s is not None
            changes = [(session.tx_start_s + s, w) for s, w in levels[1:]]
            tol = session.accuracy_w() + 10 * A * v2x.SETPOINT_TOL_PCT / 100.0
            seen = v2x.reach_delays(t, p, changes, tol)
            session.figures["randomized_delay_observed_s"] = [
                None if d is None else round(d, 2) for d in seen]
            return v2x.randomized_delay_problems(seen, bound_s)

        session.finish(extra=delays)


@pytest.mark.testcase(v21="TC_K_106_CS")  # (verify)
def test_randomized_delay_tx_default(session: V2xSession) -> None:
    """randomizedDelay on a TxDefaultProfile: each change within the bound, not instant."""
    _randomized_delay_case(session, "TxDefaultProfile")


@pytest.mark.testcase(v21="TC_K_112_CS")  # (verify)
def test_randomized_delay_tx_profile(session: V2xSession) -> None:
    """randomizedDelay on a TxProfile: each change within the bound, not instant."""
    _randomized_delay_case(session, "TxProfile")


@pytest.mark.testcase(v21=None)
def test_negative_limit_discharges(session: V2xSession) -> None:
    """A negative limit (2.1's backwards-compatible discharge limit) of -12 A is Accepted
    and discharges the EV at no more than 12 A and at least its minimum; +10 A at +35 s
    charges again."""
    try:
        session.start()
        session.set(_tx_profile(session, 231, [v2x.period(0, limit=-12 * A),
                                               v2x.period(35, limit=10 * A)]),
                    "SetChargingProfile TxProfile with a negative limit")
        session.clock.sleep(2.0)
        session.check_composite()
        _sleep_until(session, 65.0)
    finally:
        session.finish()


# ----------------------------------------------------------------------------- Q block
@pytest.mark.testcase(v21="TC_Q_101_CS")  # (verify)
def test_charging_needs_accepted(session: V2xSession, charger: Any) -> None:
    """NotifyEVChargingNeeds of a V2X session carries plausible v2xChargingParameters; the
    bench answers Accepted and sends a discharge setpoint of half the offered discharge
    power, which the charger then follows."""
    try:
        session.start()
        try:
            message = charger.expect("NotifyEVChargingNeeds", WITHIN_S)
        except ExpectationFailed as missing:
            session.fail(str(missing))
        limits = v2x.ChargingNeedsLimits(session.max_w, session.max_w)
        problems = v2x.charging_needs_problems(message.payload, limits, EVSE)
        answered = (message.reply or {}).get("status")
        session.figures["charging_needs"] = message.payload.get("chargingNeeds")
        if problems:
            session.fail("; ".join(problems))
        if answered != "Accepted":
            session.fail(f"the bench answered NotifyEVChargingNeeds {answered!r}, the case "
                         "needs Accepted")
        offered = float(message.payload["chargingNeeds"]["v2xChargingParameters"]
                        ["maxDischargePower"])
        setpoint = -max(session.ev_min_w + 2 * A, min(offered, session.max_w) / 2.0)
        session.set(_tx_profile(session, 241, [v2x.period(0, mode="CentralSetpoint",
                                                          setpoint=round(setpoint))]),
                    "SetChargingProfile after an Accepted NotifyEVChargingNeeds")
        session.clock.sleep(2.0)
        session.check_composite()
        session.clock.sleep(40.0)
    finally:
        session.finish()


@pytest.mark.testcase(v21="TC_Q_109_CS")  # (verify)
def test_central_setpoint_push(session: V2xSession) -> None:
    """A Dynamic CentralSetpoint profile (+12 A) updated by UpdateDynamicSchedule to -12 A,
    then to +8 A 30 s later: the power follows each pushed setpoint."""
    try:
        session.start()
        session.set(_tx_profile(session, 251, [v2x.period(0, mode="CentralSetpoint",
                                                          setpoint=12 * A)], kind="Dynamic"),
                    "SetChargingProfile Dynamic CentralSetpoint")
        session.clock.sleep(30.0)
        session.update(251, setpoint=-12 * A)
        session.clock.sleep(2.0)
        session.check_composite()
        session.clock.sleep(28.0)
        session.update(251, setpoint=8 * A)
        session.clock.sleep(30.0)
    finally:
        session.finish()


@pytest.mark.testcase(v21="TC_Q_110_CS")  # (verify)
def test_central_setpoint_pull(session: V2xSession, charger: Any) -> None:
    """A Dynamic CentralSetpoint profile with dynUpdateInterval 20 s: the charger sends
    PullDynamicScheduleUpdate for it every 20 s (+-3 s) and, while the bench answers with
    the values it set, keeps following its setpoint (-10 A); then the bench answers a pull
    with a new setpoint (+8 A) and the power follows it within the response time."""
    interval_s, tol_s, profile_id = 20, 3.0, 261
    new_setpoint_w = 8 * A
    try:
        session.start()
        charger.mark()
        session.set(_tx_profile(session, profile_id, [v2x.period(0, mode="CentralSetpoint",
                                                                 setpoint=-10 * A)],
                                kind="Dynamic", dyn_update_interval_s=interval_s),
                    "SetChargingProfile Dynamic with dynUpdateInterval")
        installed_s = session.clock.now()
        pulls = []
        for _ in range(2):
            try:
                pulls.append(charger.expect("PullDynamicScheduleUpdate", interval_s + WITHIN_S,
                                            charging_profile_id=profile_id))
            except ExpectationFailed as missing:
                session.fail(str(missing))
        times = [installed_s] + [m.lab_s for m in pulls]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        session.figures["pull_intervals_s"] = [round(g, 2) for g in gaps]
        bad = [g for g in gaps if abs(g - interval_s) > tol_s]
        if bad:
            session.problems.append(f"PullDynamicScheduleUpdate came after {gaps} s, expected "
                                    f"every {interval_s} s (+-{tol_s:g} s)")
        new_values = {"status": "Accepted", "scheduleUpdate": {"setpoint": new_setpoint_w}}
        charger.set_answer("PullDynamicScheduleUpdate", lambda request: (
            new_values if request.get("chargingProfileId") == profile_id else None))
        try:
            pulled = charger.expect("PullDynamicScheduleUpdate", interval_s + WITHIN_S,
                                    charging_profile_id=profile_id)
        except ExpectationFailed as missing:
            session.fail(str(missing))
        finally:
            charger.set_answer("PullDynamicScheduleUpdate", None)
        if pulled.reply != new_values:
            session.fail(f"the bench answered the pull with {pulled.reply}, the case needs "
                         f"{new_values} (answer errors: {charger.answer_errors()})")
        session.applied(profile_id, pulled.lab_s, setpoint=new_setpoint_w)
        session.figures["pulled_update"] = {"at_s": round(pulled.lab_s - installed_s, 2),
                                            "setpoint_w": new_setpoint_w}
        session.clock.sleep(2.0)
        session.check_composite()
        session.clock.sleep(smart.RESPONSE_S + 8.0)
    finally:
        session.finish()


@pytest.mark.requires("power_analyzer")  # the verdict is the meter's
@pytest.mark.testcase(v21="TC_Q_103_CS")  # (verify)
def test_charging_needs_rejected(session: V2xSession, charger: Any) -> None:
    """The bench answers NotifyEVChargingNeeds Rejected: the charger keeps the session
    charge-only. A TxProfile then asks for 10 A, a CentralSetpoint of -10 A at +15 s and a
    negative limit of -12 A at +35 s; the charger may accept or reject it (verify: what the
    2.1 spec requires of the answer), but the analyser must never see a discharge."""
    charger.set_answer("NotifyEVChargingNeeds", {"status": "Rejected"})
    try:
        session.start()
        try:
            message = charger.expect("NotifyEVChargingNeeds", WITHIN_S)
        except ExpectationFailed as missing:
            session.fail(str(missing))
        answered = (message.reply or {}).get("status")
        if answered != "Rejected":
            session.fail(f"the bench answered NotifyEVChargingNeeds {answered!r}, the case "
                         "needs Rejected")
        charger.set_answer("NotifyEVChargingNeeds", None)
        request = _tx_profile(session, 291, [
            v2x.period(0, limit=10 * A),
            v2x.period(15, mode="CentralSetpoint", setpoint=-10 * A, discharge_limit=-16 * A),
            v2x.period(35, limit=-12 * A)])
        status = session.book.set(request, session.clock.now())
        session.figures["profile_after_needs_rejected"] = status  # Accepted or Rejected (verify)
        _sleep_until(session, 55.0)
    finally:
        charger.set_answer("NotifyEVChargingNeeds", None)
        session.finish(bands=_charge_only_bands)


def _charge_only_bands(t: np.ndarray, p: np.ndarray,
                       session: V2xSession) -> list[v2x.Band | None]:
    """From the transaction start: any charging power, no discharge (0 - accuracy)."""
    start = session.tx_start_s if session.tx_start_s is not None else float(t[0])
    band = v2x.Band(-session.accuracy_w(), float("inf"),
                    "charge-only (charging needs answered Rejected)")
    return [band if x >= start else None for x in t]


# No catalogue id: the bench's own start-Idle variant of TC_Q_125_CS (without evseSleep).
def test_idle_from_transaction_start(session: V2xSession) -> None:
    """A TxDefaultProfile Idle for the first 30 s: the transaction starts without power
    flow, then charges at 16 A."""
    resume_s = 30.0
    try:
        session.set(v2x.profile_request(evse_id=EVSE, profile_id=281, stack_level=0,
                                        purpose="TxDefaultProfile",
                                        periods=[v2x.period(0, mode="Idle"),
                                                 v2x.period(int(resume_s), limit=16 * A)]),
                    "SetChargingProfile TxDefaultProfile starting Idle")
        session.start(charging=False)
        session.clock.sleep(2.0)
        session.check_composite()
        _sleep_until(session, 60.0)
    finally:
        session.finish(extra=lambda t, p: _resumed(session, t, p, resume_s))


def _resumed(session: V2xSession, t: np.ndarray, p: np.ndarray, resume_s: float) -> list[str]:
    """Power flows again (at least the EV's minimum) after the Idle period."""
    assert session.tx_start_s is not None
    after = p[t >= session.tx_start_s + resume_s + smart.RESPONSE_S]
    level = float(np.nanmedian(after)) if len(after) else float("nan")
    session.figures["after_idle_median_w"] = round(level, 1)
    if not level >= session.ev_min_w - session.accuracy_w():
        return [(f"meter: power did not resume after the Idle period (median {level:.0f} W, "
                f"the EV's minimum is {session.ev_min_w:.0f} W)")]
    return []


SLEEP = "evseSleep:"
"""Prefix of the evseSleep problems (TransactionEventRequest.evseSleep on the wire)."""


def _sleep_events(session: V2xSession, charger: Any, from_s: float,
                  to_s: float = float("inf")) -> list[Any]:
    """The transaction's TransactionEvents sent between lab times ``from_s`` and ``to_s``."""
    assert session.started is not None
    tx_id = session.started.transaction_id
    return [m for m in charger.messages("TransactionEvent", since_mark=False)
            if m.direction == "in" and m.kind == "call" and from_s <= m.lab_s <= to_s
            and (m.payload.get("transactionInfo") or {}).get("transactionId") == tx_id]


def _check_evse_sleep(session: V2xSession, charger: Any, idle_from_s: float,
                      asleep: bool) -> None:
    """During an Idle period that asks for evseSleep: the transaction's TransactionEvents
    since ``idle_from_s`` (lab time) must report evseSleep ``asleep``; without a spontaneous
    one the bench asks for one (TriggerMessage TransactionEvent) and judges that."""
    seen = _sleep_events(session, charger, idle_from_s)
    if asleep and any(v2x.evse_sleep_of(m.payload) for m in seen):
        reports = [True]
    else:
        charger.mark()
        try:
            status = charger.call("TriggerMessage", {"requestedMessage": "TransactionEvent",
                                                     "evse": {"id": EVSE}}).get("status")
        except DeviceFailure as error:  # a CALLERROR or no answer: judged by what was sent
            status = str(error)
        try:
            triggered = charger.expect("TransactionEvent", WITHIN_S,
                                       where=lambda p: p.get("triggerReason") == "Trigger")
            seen.append(triggered)
        except ExpectationFailed:
            if not seen:
                session.problems.append(
                    f"{SLEEP} no TransactionEvent of the transaction during the Idle period "
                    f"(TriggerMessage TransactionEvent answered {status!r})")
                return
        reports = [v2x.evse_sleep_of(m.payload) for m in seen]
    session.figures["evse_sleep_reported_in_idle"] = reports
    if asleep and not any(reports):
        session.problems.append(f"{SLEEP} no TransactionEvent reported evseSleep true during "
                                "the Idle period that asked for it (the charger reports "
                                "SmartChargingCtrlr.SupportsEvseSleep true)")
    if not asleep and any(reports):
        session.problems.append(f"{SLEEP} a TransactionEvent reported evseSleep true during "
                                "the Idle period, but the charger reports no evseSleep "
                                "support (expected false or absent)")


def _awake_after(session: V2xSession, charger: Any, from_s: float) -> None:
    """After the Idle period (plus the response time) no TransactionEvent says asleep."""
    late = [m for m in _sleep_events(session, charger, from_s) if v2x.evse_sleep_of(m.payload)]
    if late:
        session.problems.append(f"{SLEEP} still reported true {late[0].lab_s - from_s:.0f} s "
                                "after the Idle period ended (response time included)")


@pytest.mark.testcase(v21="TC_Q_125_CS")  # (verify): OCTT "Idle with EvseSleep"
def test_idle_operation_mode(session: V2xSession, charger: Any,
                             evse_sleep_supported: v2x.EvseSleepSupport) -> None:
    """Where the charger reports evseSleep support: 16 A, Idle with evseSleep from +25 s to
    +55 s (no power flow; a TransactionEvent reports evseSleep true, spontaneously or when
    the bench triggers one), then 16 A again (it resumes; evseSleep no longer true)."""
    idle_s, resume_s = 25.0, 55.0
    try:
        session.start()
        session.set(_tx_profile(session, 271, [v2x.period(0, limit=16 * A),
                                               v2x.period(int(idle_s), mode="Idle",
                                                          evse_sleep=True),
                                               v2x.period(int(resume_s), limit=16 * A)]),
                    "SetChargingProfile TxProfile with an Idle period asking for evseSleep true")
        session.clock.sleep(2.0)
        session.check_composite()
        assert session.tx_start_s is not None
        _sleep_until(session, idle_s + smart.RESPONSE_S)
        _check_evse_sleep(session, charger, session.tx_start_s + idle_s, asleep=True)
        _sleep_until(session, 85.0)
        _awake_after(session, charger, session.tx_start_s + resume_s + smart.RESPONSE_S)
    finally:
        session.finish(extra=lambda t, p: _resumed(session, t, p, resume_s))


@pytest.mark.testcase(v21="TC_Q_126_CS")  # (verify): OCTT "Idle with EvseSleep unsupported"
def test_idle_with_evse_sleep_unsupported(session: V2xSession, charger: Any,
                                          evse_sleep_unsupported: v2x.EvseSleepSupport
                                          ) -> None:
    """Where the charger reports no evseSleep support: 16 A, then Idle with evseSleep from
    +20 s to +45 s, then 16 A. The profile may be Accepted (OCTT: evseSleep reported false)
    or Rejected (libocpp, K01.FR.126) (verify); either way no TransactionEvent reports
    evseSleep true (one is triggered during the Idle period), the composite schedule follows
    what was accepted and so does the power (Accepted: none in Idle, then it resumes)."""
    idle_s, resume_s = 20.0, 45.0
    accepted = False
    try:
        session.start()
        request = _tx_profile(session, 311, [v2x.period(0, limit=16 * A),
                                             v2x.period(int(idle_s), mode="Idle",
                                                        evse_sleep=True),
                                             v2x.period(int(resume_s), limit=16 * A)])
        status = session.book.set(request, session.clock.now())
        session.figures["idle_evse_sleep_answer"] = status  # Accepted or Rejected (verify)
        if status not in ("Accepted", "Rejected"):
            session.fail(f"SetChargingProfile Idle with evseSleep: the charger answered "
                         f"{status!r}, expected 'Accepted' or 'Rejected'")
        accepted = status == "Accepted"
        session.clock.sleep(2.0)
        session.check_composite()
        assert session.tx_start_s is not None
        _sleep_until(session, idle_s + smart.RESPONSE_S)
        _check_evse_sleep(session, charger, session.tx_start_s + idle_s, asleep=False)
        _sleep_until(session, 70.0)
    finally:
        session.finish(extra=lambda t, p: _resumed(session, t, p, resume_s) if accepted else [])




IDLE_WITH_VALUES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("limit", {"limit": 10 * A}), ("dischargeLimit", {"discharge_limit": -10 * A}),
    ("setpoint", {"setpoint": 10 * A}))
"""TC_Q_127_CS: the values an Idle period must not carry, one profile each."""


@pytest.mark.testcase(v21="TC_Q_127_CS")  # (verify): OCTT "Idle - Charging profile validations"
def test_idle_profile_validations(session: V2xSession) -> None:
    """16 A; then TxProfiles whose Idle period carries a limit, a dischargeLimit or a setpoint
    (none is allowed in Idle) must each be Rejected, leave the composite schedule at 16 A
    and the power flowing at 16 A (the meter)."""
    try:
        session.start()
        session.set(_tx_profile(session, 301, [v2x.period(0, limit=16 * A)]),
                    "SetChargingProfile TxProfile 16 A")
        wrong = []
        for n, (name, values) in enumerate(IDLE_WITH_VALUES):
            request = v2x.profile_request(
                evse_id=EVSE, profile_id=302 + n, stack_level=2 + n, purpose="TxProfile",
                periods=[v2x.period(0, mode="Idle", **values)],
                transaction_id=session.started.transaction_id if session.started else None)
            status = session.book.set(request, session.clock.now())
            if status != "Rejected":
                wrong.append(f"Idle with a {name}: the charger answered {status!r}, "
                             "expected 'Rejected'")
        session.figures["idle_with_values_answers"] = [
            entry["status"] for entry in session.book.sent[-len(IDLE_WITH_VALUES):]]
        if wrong:
            session.fail("SetChargingProfile " + "; ".join(wrong))
        session.clock.sleep(2.0)
        session.check_composite()
        _sleep_until(session, 30.0)
    finally:
        session.finish()
