"""ISO 15118 sessions between the pairing's EV (the bench's EV emulator) and the charger.

Each case runs a real session (EXI over the charger's V2G interface) and judges it from the
V2G message log and the OCPP messages the bench's central system received: the session
completes for each protocol both support and the best one is chosen; what the EV announced
reaches the operator (NotifyEVChargingNeeds); the operator's charging profiles are the
schedule the EV gets, also after a new profile (renegotiation); bidirectional sessions stay
within the negotiated discharge limit; Plug & Charge is authorised through OCPP; a charger
ends a session whose EV stalls (V2G_SECC_Sequence_Timeout).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import allure
import pytest

from suites.iso15118._support import WITHIN_S, explain
from testbench.iso15118 import Faults
from testbench.iso15118.consistency import (
    discharge_problems,
    ev_announced,
    ev_schedule,
    ev_soc_pct,
    needs_problems,
    operator_needs,
    reported_soc_pct,
    schedule_problems,
)
from testbench.procedures import ocpp, smart

SEQUENCE_TIMEOUT_LAB_S = 60.0
"""V2G_SECC_Sequence_Timeout (ISO 15118-2 / -20)."""

CLOSE_AFTER_STOP_S = 5.0
"""A stopping SECC closes TCP 5 s after its last message (ISO 15118 User Group practice,
[V2G20-1633])."""

PROFILE_PERIODS_A = ((0, 16.0), (1800, 10.0))
NEW_PROFILE_A = 8.0


def assert_completed(pair: Any, result: Any, protocol: str) -> None:
    assert not result.timed_out, "the session did not end in time: " + explain(result)
    assert result.protocol == protocol, (
        f"negotiated {result.protocol}, expected {protocol}: " + explain(result))
    assert result.completed, "no positive SessionStopRes: " + explain(result)
    assert result.errors() == [], explain(result)


def _lab_time(pair: Any, message: Any) -> float:
    return float(pair.clock.to_lab(message.t_wall_s))


def _time_tol_s(pair: Any) -> float:
    """Schedule step tolerance: 2 s (public suites) plus 1 wall second of processing."""
    return 2.0 + float(pair.clock.lab_duration(1.0))


def _exchange(result: Any, nth: int = 0) -> Any:
    found = [m for name in ("ChargeParameterDiscoveryRes", "ScheduleExchangeRes")
             for m in result.find(name) if m.fields.get("EVSEProcessing") == "Finished"]
    found.sort(key=lambda m: m.t_mono_s)
    return found[nth] if nth < len(found) else None


def _reference(book: smart.ProfileBook, pair: Any, at_s: float,
               horizon_s: float) -> list[tuple[float, float]]:
    ref = book.reference(1, at_s, horizon_s, unit="W")
    allure.attach(json.dumps([{"start_s": s, "end_s": e, "limit_w": p.limit}
                              for s, e, p in ref.segments()], indent=1),
                  name="reference schedule (W)", attachment_type=allure.attachment_type.JSON)
    return [(start, float(period.limit if period.limit is not None else 0.0))
            for start, _end, period in ref.segments()]


# ----------------------------------------------------------------------------- sessions
@pytest.mark.requires("iso15118")
@pytest.mark.parametrize("protocol", ["-20", "-2", "DIN"])
def test_session_completes_for_each_common_protocol(pair, protocol):
    """The EV offers one protocol the pairing supports; the session runs to SessionStop."""
    if protocol not in pair.common():
        pytest.skip(f"not applicable: {protocol} is not supported by both "
                    f"(EV {list(pair.ev.iso15118)}, charger {list(pair.spec.iso15118)})")
    result = pair.run(pair.settings(protocols=[protocol]))
    assert_completed(pair, result, pair.package_name(protocol))


@pytest.mark.requires("iso15118")
def test_best_common_protocol_is_negotiated(pair):
    """The EV offers everything it supports; the charger picks the best both support."""
    best = pair.common()[0]
    result = pair.run(pair.settings())
    assert_completed(pair, result, pair.package_name(best))


# ----------------------------------------------------------------------------- operator
@pytest.mark.requires("iso15118", "ocpp2")
def test_ev_charging_needs_reach_the_operator(pair, charger):
    """NotifyEVChargingNeeds carries what the EV announced in its charge parameters."""
    result = pair.run(pair.settings())
    assert_completed(pair, result, pair.package_name(pair.common()[0]))
    discovery = next((m for name in ("ChargeParameterDiscoveryReq", "ScheduleExchangeReq")
                      for m in result.find(name, sender="evcc")), None)
    assert discovery is not None, "the EV sent no charge parameters: " + explain(result)
    since_s = _lab_time(pair, discovery) - float(pair.clock.lab_duration(0.5))
    sent = [m for m in charger.messages("NotifyEVChargingNeeds")
            if m.direction == "in" and m.kind == "call" and m.lab_s >= since_s]
    assert sent, ("the charger sent no NotifyEVChargingNeeds after the EV's charge "
                  "parameters: " + explain(result))
    msg = sent[0]
    ev = ev_announced(result)
    told = operator_needs(msg.payload, msg.lab_s)
    allure.attach(json.dumps({"ev_iso15118": ev, "operator_ocpp": told,
                              "payload": msg.payload}, indent=1),
                  name="EV charge parameters vs NotifyEVChargingNeeds",
                  attachment_type=allure.attachment_type.JSON)
    protocol = result.protocol or ""
    if protocol.startswith("ISO_15118_20"):
        required: tuple[str, ...] = (("max_charge_power_w", "energy_wh")
                                     if charger.version == "2.1" else ())
    elif pair.current_type == "AC":
        required = ("max_current_a", "min_current_a", "max_voltage_v", "energy_wh")
    else:
        required = ("max_current_a", "max_voltage_v")
    problems = needs_problems(ev, told, integers=charger.version == "2.0.1",
                              departure_tol_s=5.0 + float(pair.clock.lab_duration(2.0)),
                              required=required)
    assert not problems, "NotifyEVChargingNeeds differs from the EV's charge parameters:\n" + \
        "\n".join(problems)


@pytest.mark.requires("iso15118", "ocpp2")
def test_ev_state_of_charge_reaches_the_meter_values(pair, charger):
    """The state of charge the EV sends over ISO 15118 (-20 DisplayParameters, -2 DC
    EVRESSSOC) is in the charger's meter values (measurand SoC)."""
    result = pair.run(pair.settings())
    assert_completed(pair, result, pair.package_name(pair.common()[0]))
    sent = ev_soc_pct(result)
    if not sent:
        pytest.skip(f"not applicable: {result.protocol} {pair.current_type} carries no state "
                    "of charge")
    status = charger.call("TriggerMessage", {"requestedMessage": "MeterValues",
                                             "evse": {"id": 1}}).get("status")
    assert status == "Accepted", f"TriggerMessage MeterValues answered {status}"
    msg = charger.expect("MeterValues", WITHIN_S)
    reported = reported_soc_pct(msg.payload.get("meterValue", []))
    allure.attach(json.dumps({"ev_sent_soc_pct": sent, "meter_values": msg.payload}, indent=1),
                  name="SoC: ISO 15118 vs MeterValues", attachment_type=allure.attachment_type.JSON)
    assert reported, (f"the EV sent its state of charge ({sent[-1]:g} %), the charger's meter "
                      f"values carry no SoC: {msg.payload}")
    assert abs(reported[0] - sent[-1]) <= 1.0, (
        f"meter values report SoC {reported[0]:g} %, the EV last sent {sent[-1]:g} %")


@pytest.mark.requires("iso15118")
def test_operator_schedule_is_the_evs_schedule(pair, charger):
    """A TxDefaultProfile from the operator is the schedule the EV gets in the schedule
    exchange (-2 SAScheduleList / -20 ScheduleExchangeRes), step for step."""
    book = smart.ProfileBook(charger, max_current_a=pair.spec.max_current_a)
    t0 = pair.clock.now()
    request = smart.profile_request(charger, evse_id=1, profile_id=1501, stack_level=1,
                                    purpose="TxDefaultProfile", periods=PROFILE_PERIODS_A,
                                    start_s=t0)
    smart.expect_status(book.set(request, t0), "Accepted", "SetChargingProfile TxDefaultProfile")
    settings = pair.settings()
    result = pair.run(settings)
    assert_completed(pair, result, pair.package_name(pair.common()[0]))
    exchange = _exchange(result)
    assert exchange is not None, "no schedule exchange: " + explain(result)
    horizon = float(settings.ev.departure_time_s or 86400)
    reference = _reference(book, pair, _lab_time(pair, exchange), horizon)
    problems = schedule_problems(ev_schedule(result), reference, time_tol_s=_time_tol_s(pair))
    assert not problems, "the EV's schedule is not the operator's:\n" + "\n".join(problems)


@pytest.mark.requires("iso15118")
def test_new_profile_renegotiates_the_schedule(pair, charger):
    """A profile sent during an ISO 15118-2 session makes the charger renegotiate
    (EVSENotification ReNegotiation) and offer the new limits."""
    if "-2" not in pair.common():
        pytest.skip("not applicable: renegotiation is judged on ISO 15118-2")
    book = smart.ProfileBook(charger, max_current_a=pair.spec.max_current_a)
    t0 = pair.clock.now()
    first = smart.profile_request(charger, evse_id=1, profile_id=1601, stack_level=1,
                                  purpose="TxDefaultProfile", periods=PROFILE_PERIODS_A,
                                  start_s=t0)
    smart.expect_status(book.set(first, t0), "Accepted", "SetChargingProfile (first)")
    pair.plug_in()
    run = pair.start(pair.settings(protocols=["-2"], charge_loop_cycles=80))
    assert run.wait_for_message("ChargingStatusRes", 60.0), \
        "the session never reached the charge loop: " + explain(run.stop())
    t1 = pair.clock.now()
    second = smart.profile_request(charger, evse_id=1, profile_id=1602, stack_level=2,
                                   purpose="TxDefaultProfile", periods=((0, NEW_PROFILE_A),),
                                   start_s=t1)
    smart.expect_status(book.set(second, t1), "Accepted", "SetChargingProfile (new)")
    result = pair.finish(run)
    assert_completed(pair, result, "ISO_15118_2")
    asked = [m for m in result.find("ChargingStatusRes", sender="secc")
             if m.get("AC_EVSEStatus", "EVSENotification") == "ReNegotiation"]
    assert asked, ("the charger never asked the EV to renegotiate after the new profile: "
                   + explain(result))
    again = _exchange(result, 1)
    assert again is not None, "no second schedule exchange after ReNegotiation: " + explain(result)
    reference = _reference(book, pair, _lab_time(pair, again),
                           float(pair.settings().ev.departure_time_s or 86400))
    problems = schedule_problems(ev_schedule(result, 1), reference, time_tol_s=_time_tol_s(pair))
    assert not problems, "the renegotiated schedule is not the operator's:\n" + \
        "\n".join(problems)


@pytest.mark.requires("iso15118", "bidirectional")
def test_bidirectional_session_stays_within_discharge_limits(pair):
    """-20 BPT: the discharging schedule and charge-loop targets respect the negotiated
    maximum discharge power."""
    if "-20" not in pair.common():
        pytest.skip("not applicable: BPT needs ISO 15118-20 on both sides")
    settings = pair.settings(protocols=["-20"], bidirectional=True)
    settings = replace(settings, ev=replace(settings.ev, bpt_discharge=True))
    result = pair.run(settings)
    assert_completed(pair, result, pair.package_name("-20"))
    assert result.bpt_channel() == "Discharge", "the EV did not discharge: " + explain(result)
    problems = discharge_problems(result)
    assert not problems, "\n".join(problems)


@pytest.mark.requires("iso15118", "ocpp2")
def test_plug_and_charge_is_authorised_through_the_operator(pair, charger):
    """Plug & Charge (-2 over TLS, else -20): the charger sends Authorize with the contract's
    eMAID and certificate hash data, and the operator's Accepted starts the transaction."""
    protocol = next((p for p in ("-2", "-20") if p in pair.common()), None)
    if protocol is None:
        pytest.skip("not applicable: Plug & Charge needs ISO 15118-2 or -20 on both sides")
    pair.plug_in(card=False)
    result = pair.finish(pair.start(pair.settings(protocols=[protocol],
                                                  use_tls=protocol == "-2")))
    assert_completed(pair, result, pair.package_name(protocol))
    emaid = None
    if protocol == "-2":
        selected = result.first("PaymentServiceSelectionReq", sender="evcc")
        assert selected is not None and selected.fields.get("SelectedPaymentOption") == \
            "Contract", "the EV did not choose Plug & Charge (Contract): " + explain(result)
        details = result.first("PaymentDetailsReq", sender="evcc")
        assert details is not None, "no PaymentDetailsReq: " + explain(result)
        emaid = str(details.fields.get("eMAID"))
    else:
        auth = result.first("AuthorizationReq", sender="evcc")
        assert auth is not None and auth.fields.get("SelectedAuthorizationService") == "PnC", \
            "the EV did not choose Plug & Charge (PnC): " + explain(result)
    calls = [m for m in charger.messages("Authorize") if m.direction == "in"
             and m.kind == "call" and (m.payload.get("idToken") or {}).get("type") == "eMAID"]
    assert calls, "the charger accepted the contract without asking the operator (no Authorize)"
    payload = calls[0].payload
    if emaid is not None:
        assert payload["idToken"]["idToken"] == emaid, \
            f"Authorize for {payload['idToken']}, the EV's contract is {emaid}"
    assert payload.get("iso15118CertificateHashData"), \
        f"Authorize carries no iso15118CertificateHashData: {payload}"
    started = ocpp.expect_transaction_started(charger, WITHIN_S)
    token = started.message.payload.get("idToken") or {}
    assert token == payload["idToken"], (
        f"the transaction started with {token}, not the authorised contract {payload['idToken']}")


@pytest.mark.requires("iso15118")
def test_charger_ends_a_session_whose_ev_stalls(pair):
    """An EV that stops sending requests: the charger ends the session (closes the
    connection) after V2G_SECC_Sequence_Timeout (60 s) and its 5 s closing delay, not later."""
    stall_wall_s = float(pair.clock.wall_duration(SEQUENCE_TIMEOUT_LAB_S * 1.6))
    protocol = "-2" if "-2" in pair.common() else pair.common()[0]
    settings = pair.settings(protocols=[protocol],
                             faults=Faults(response_delays_s={"PowerDeliveryReq": stall_wall_s},
                                           timeout_scale=pair.emulator.timeout_scale))
    result = pair.run(settings)
    stall = result.event("fault_delay", "evcc")
    assert stall is not None, "the EV never reached the stall: " + explain(result)
    assert not result.completed, "the stalled session completed normally: " + explain(result)
    closed = result.event("peer_closed", "evcc")
    assert closed is not None, "the charger never closed the connection: " + explain(result)
    waited_lab_s = float(pair.clock.lab_duration(closed.t_mono_s - stall.t_mono_s))
    limit_lab_s = (SEQUENCE_TIMEOUT_LAB_S * 1.1 + CLOSE_AFTER_STOP_S
                   + float(pair.clock.lab_duration(1.0)))
    allure.attach(json.dumps({"stalled_before": stall.data.get("message"),
                              "session_end_after_lab_s": waited_lab_s,
                              "limit_lab_s": limit_lab_s,
                              "ev_stop_reason": closed.data.get("reason")}, indent=1),
                  name="sequence timeout", attachment_type=allure.attachment_type.JSON)
    assert waited_lab_s <= limit_lab_s, (
        f"the charger ended the stalled session {waited_lab_s:.1f} lab s after the EV "
        f"stopped sending, over V2G_SECC_Sequence_Timeout ({SEQUENCE_TIMEOUT_LAB_S:g} s, limit "
        f"{limit_lab_s:.1f} s): " + explain(result))

