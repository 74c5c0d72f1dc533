"""Judging a session from its records: negotiated protocol, completion, sequence, schedules."""

from __future__ import annotations

import json

from testbench.iso15118.messages import V2GEvent, V2GMessage
from testbench.iso15118.session import SessionResult, best_common_protocol, physical_value

ISO2 = "urn:iso:15118:2:2013:MsgDef"
ISO20_DC = "urn:iso:std:iso:15118:-20:DC"


class Link:
    """Builds both sides' records of an exchange, 0.1 s per hop."""

    def __init__(self) -> None:
        self.t = 0.0
        self.items: list[V2GMessage | V2GEvent] = []

    def send(self, sender: str, name: str, fields: dict | None = None, *, both: bool = True) -> None:
        receiver = "secc" if sender == "evcc" else "evcc"
        self.t += 0.1
        self.items.append(V2GMessage(sender, "tx", name, ISO2, 1e9 + self.t, self.t, fields or {}))
        if both:
            self.items.append(V2GMessage(receiver, "rx", name, ISO2, 1e9 + self.t + 0.01,
                                         self.t + 0.01, fields or {}))

    def event(self, role: str, name: str, **data) -> None:
        self.t += 0.01
        self.items.append(V2GEvent(role, name, 1e9 + self.t, self.t, data))

    def result(self) -> SessionResult:
        return SessionResult(items=sorted(self.items, key=lambda i: i.t_mono_s))


def _sap(link: Link, offer: list[tuple[str, int]], chosen: int | None) -> None:
    link.send("evcc", "supportedAppProtocolReq", {"AppProtocol": [
        {"ProtocolNamespace": ns, "SchemaID": sid, "Priority": n + 1}
        for n, (ns, sid) in enumerate(offer)]})
    if chosen is None:
        link.send("secc", "supportedAppProtocolRes", {"ResponseCode": "Failed_NoNegotiation"})
    else:
        link.send("secc", "supportedAppProtocolRes",
                  {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": chosen})


def _pmax(value: int, multiplier: int = 0) -> dict:
    return {"Value": value, "Multiplier": multiplier, "Unit": "W"}


def complete_iso2_ac() -> Link:
    link = Link()
    link.event("evcc", "codec_ready", jvm_start_s=1.5)
    link.event("evcc", "sdp_request", remaining=50)
    link.event("evcc", "sdp_response")
    _sap(link, [(ISO20_DC, 1), (ISO2, 2)], 2)
    for req in ("SessionSetup", "ServiceDiscovery", "PaymentServiceSelection", "Authorization"):
        link.send("evcc", f"{req}Req")
        link.send("secc", f"{req}Res", {"ResponseCode": "OK"})
    link.send("evcc", "ChargeParameterDiscoveryReq", {"AC_EVChargeParameter": {
        "EVMaxCurrent": {"Value": 20, "Multiplier": 0, "Unit": "A"}}})
    link.send("secc", "ChargeParameterDiscoveryRes", {
        "ResponseCode": "OK", "SAScheduleList": {"SAScheduleTuple": [{"SAScheduleTupleID": 1,
            "PMaxSchedule": {"PMaxScheduleEntry": [
                {"PMax": _pmax(11000), "RelativeTimeInterval": {"start": 0}},
                {"PMax": _pmax(74, 2), "RelativeTimeInterval": {"start": 1800, "duration": 5400}}]}}]},
        "AC_EVSEChargeParameter": {"EVSEMaxCurrent": {"Value": 16, "Multiplier": 0, "Unit": "A"}}})
    link.send("evcc", "PowerDeliveryReq", {"ChargeProgress": "Start", "ChargingProfile": {"ProfileEntry": [
        {"ChargingProfileEntryStart": 0, "ChargingProfileEntryMaxPower": _pmax(11000)},
        {"ChargingProfileEntryStart": 1800, "ChargingProfileEntryMaxPower": _pmax(7400)},
        {"ChargingProfileEntryStart": 7200, "ChargingProfileEntryMaxPower": _pmax(0)}]}})
    link.send("secc", "PowerDeliveryRes", {"ResponseCode": "OK"})
    link.send("evcc", "ChargingStatusReq")
    link.send("secc", "ChargingStatusRes", {"ResponseCode": "OK"})
    link.send("evcc", "SessionStopReq", {"ChargingSession": "Terminate"})
    link.send("secc", "SessionStopRes", {"ResponseCode": "OK"})
    link.event("secc", "session_stop", reason="EV requested to terminate the communication session")
    link.event("evcc", "session_stop", reason="Communication session terminated")
    return link


def test_a_complete_session_reports_protocol_sequence_and_reasons():
    result = complete_iso2_ac().result()
    assert result.protocol == "ISO_15118_2"
    assert result.completed
    assert result.sequence("evcc") == [
        "supportedAppProtocolReq", "SessionSetupReq", "ServiceDiscoveryReq",
        "PaymentServiceSelectionReq", "AuthorizationReq", "ChargeParameterDiscoveryReq",
        "PowerDeliveryReq", "ChargingStatusReq", "SessionStopReq"]
    assert result.sequence("secc")[-1] == "SessionStopRes"
    assert result.stop_reasons() == {
        "secc": "EV requested to terminate the communication session",
        "evcc": "Communication session terminated"}
    assert result.errors() == []


def test_a_session_without_a_positive_session_stop_is_not_complete():
    link = complete_iso2_ac()
    link.items = [i for i in link.items if not (isinstance(i, V2GMessage) and i.name == "SessionStopRes")]
    assert not link.result().completed
    link.send("secc", "SessionStopRes", {"ResponseCode": "FAILED"})
    result = link.result()
    assert not result.completed
    assert "secc sent SessionStopRes with ResponseCode FAILED" in result.errors()


def test_failed_negotiation_has_no_protocol():
    link = Link()
    _sap(link, [(ISO2, 1)], None)
    assert link.result().protocol is None


def test_the_negotiated_protocol_is_found_by_schema_id_not_position():
    link = Link()
    _sap(link, [(ISO2, 7), (ISO20_DC, 3)], 3)
    assert link.result().protocol == "ISO_15118_20_DC"


def test_best_common_protocol_follows_the_ev_priority():
    assert best_common_protocol(["ISO_15118_20_DC", "ISO_15118_2"],
                                ["DIN_SPEC_70121", "ISO_15118_2", "ISO_15118_20_DC"]) == "ISO_15118_20_DC"
    assert best_common_protocol(["ISO_15118_20_DC", "ISO_15118_2"], ["ISO_15118_2"]) == "ISO_15118_2"
    assert best_common_protocol(["ISO_15118_20_AC"], ["ISO_15118_2"]) is None


def test_schedule_parameters_and_the_ev_profile_are_read_as_numbers():
    result = complete_iso2_ac().result()
    assert result.pmax_schedule() == [
        {"start_s": 0.0, "duration_s": None, "max_power_w": 11000.0},
        {"start_s": 1800.0, "duration_s": 5400.0, "max_power_w": 7400.0}]
    assert [e["max_power_w"] for e in result.ev_charging_profile()] == [11000.0, 7400.0, 0.0]
    params = result.charge_parameters()
    assert physical_value(params["evse"]["AC_EVSEChargeParameter"]["EVSEMaxCurrent"]) == 16.0
    assert physical_value(params["ev"]["AC_EVChargeParameter"]["EVMaxCurrent"]) == 20.0


def test_physical_values_of_both_generations():
    assert physical_value({"Value": 32000, "Multiplier": -3, "Unit": "A"}) == 32.0
    assert physical_value({"Value": 11, "Exponent": 3}) == 11000.0
    assert physical_value(5) == 5.0
    assert physical_value({"Unit": "A"}) is None


def test_round_trips_pair_each_request_with_its_response():
    result = complete_iso2_ac().result()
    trips = result.round_trips()
    assert len(trips) == 9
    assert all(t.response is not None and t.response.name == t.request.name[:-3] + "Res" for t in trips)
    assert all(abs(t.duration_s - 0.11) < 1e-6 for t in trips)
    timings = result.timings()
    assert timings.jvm_start_s == {"evcc": 1.5}
    assert timings.discovery_s is not None and timings.session_s is not None
    assert timings.session_s > 1.0


def test_a_missing_response_is_a_round_trip_without_answer():
    link = Link()
    _sap(link, [(ISO2, 1)], 1)
    link.send("evcc", "SessionSetupReq")
    link.event("evcc", "session_stop", reason="TimeoutError occurred. Waited for 2.0 s")
    result = link.result()
    assert result.round_trips()[-1].response is None
    assert result.stop_reasons()["evcc"].startswith("TimeoutError")
    assert not result.completed


def test_only_one_side_recorded_still_gives_the_sequence():
    link = Link()
    link.send("evcc", "supportedAppProtocolReq", {"AppProtocol": []}, both=False)
    link.send("evcc", "SessionSetupReq", both=False)
    assert link.result().sequence("evcc") == ["supportedAppProtocolReq", "SessionSetupReq"]
    assert link.result().sequence("secc") == []


def test_summary_and_evidence_are_written(tmp_path):
    result = complete_iso2_ac().result()
    paths = result.write_evidence(tmp_path)
    summary = json.loads((tmp_path / "session.json").read_text())
    assert [p.name for p in paths] == ["v2g.jsonl", "v2g.txt", "session.json"]
    text = (tmp_path / "v2g.txt").read_text()
    assert "EV  -> EVSE  SessionSetupReq" in text and "EVSE -> EV   SessionStopRes" in text
    assert text.count("SessionStopRes") == 1  # each message once
    assert summary["protocol"] == "ISO_15118_2" and summary["completed"] is True
    lines = (tmp_path / "v2g.jsonl").read_text().splitlines()
    assert len(lines) == len(result.items)
