"""The outcome of one ISO 15118 session, judged only from the V2G messages that crossed the link.

A :class:`SessionResult` holds both sides' records (see :mod:`testbench.iso15118.messages`)
and answers what a suite asks: which protocol was negotiated, did the session complete, in
which order did the EV send its requests, what charge parameters and schedules were
exchanged, why did each side stop, how long did it take. It does not assert: suites do.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbench.iso15118.messages import (
    PROTOCOL_BY_NAMESPACE,
    V2GEvent,
    V2GMessage,
    merge,
    write_evidence,
)

SAP_REQ = "supportedAppProtocolReq"
SAP_RES = "supportedAppProtocolRes"

#: Charge-parameter messages per protocol family (request, response).
CHARGE_PARAMETER_MESSAGES = (
    ("ChargeParameterDiscoveryReq", "ChargeParameterDiscoveryRes"),
    ("AC_ChargeParameterDiscoveryReq", "AC_ChargeParameterDiscoveryRes"),
    ("DC_ChargeParameterDiscoveryReq", "DC_ChargeParameterDiscoveryRes"),
)


def physical_value(node: Any) -> float | None:
    """A number from a decoded value: -2/DIN PhysicalValue ``{"Value", "Multiplier"}`` or
    -20 RationalNumber ``{"Value", "Exponent"}`` (or a plain number)."""
    if isinstance(node, (int, float)):
        return float(node)
    if not isinstance(node, dict) or "Value" not in node:
        return None
    power = node.get("Multiplier", node.get("Exponent", 0)) or 0
    return float(node["Value"]) * 10.0 ** int(power)


def best_common_protocol(ev_offer: list[str] | tuple[str, ...],
                         charger_support: list[str] | tuple[str, ...]) -> str | None:
    """The protocol a conformant SECC picks: the EV's highest-priority one it supports."""
    return next((p for p in ev_offer if p in charger_support), None)


def _as_list(node: Any) -> list[Any]:
    if node is None:
        return []
    return list(node) if isinstance(node, list) else [node]


@dataclass(frozen=True)
class RoundTrip:
    """A request and its response as the requester (EVCC) saw them."""

    request: V2GMessage
    response: V2GMessage | None

    @property
    def duration_s(self) -> float | None:
        if self.response is None:
            return None
        return self.response.t_mono_s - self.request.t_mono_s


@dataclass(frozen=True)
class Timings:
    """Where the time of a session went (wall seconds)."""

    jvm_start_s: dict[str, float]
    discovery_s: float | None
    session_s: float | None
    round_trip_median_s: float | None
    round_trip_max_s: float | None
    responder_median_s: float | None
    messages: int

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class SessionResult:
    """Everything recorded during one EVCC x SECC session (either side may be missing)."""

    items: list[V2GMessage | V2GEvent]
    workdir: Path | None = None
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_records(cls, *streams: list[V2GMessage | V2GEvent], **kwargs: Any) -> SessionResult:
        return cls(items=merge(*streams), **kwargs)

    # ------------------------------------------------------------------ selection
    @property
    def messages(self) -> list[V2GMessage]:
        """Every recorded message, both sides, in time order."""
        return [i for i in self.items if isinstance(i, V2GMessage)]

    @property
    def events(self) -> list[V2GEvent]:
        return [i for i in self.items if isinstance(i, V2GEvent)]

    def seen_by(self, role: str) -> list[V2GMessage]:
        """The messages one side recorded (sent and received), in order."""
        return [m for m in self.messages if m.role == role]

    def find(self, name: str, *, sender: str | None = None, role: str | None = None) -> list[V2GMessage]:
        """Messages called ``name``; by default each message once (as its sender recorded it,
        or as the receiver did when the sender's record is missing)."""
        found = [m for m in self.messages if m.name == name
                 and (sender is None or m.sender == sender) and (role is None or m.role == role)]
        if role is not None:
            return found
        sent = [m for m in found if m.direction == "tx"]
        return sent if sent else found

    def first(self, name: str, **kwargs: Any) -> V2GMessage | None:
        found = self.find(name, **kwargs)
        return found[0] if found else None

    def event(self, name: str, role: str | None = None) -> V2GEvent | None:
        return next((e for e in self.events if e.name == name
                     and (role is None or e.role == role)), None)

    # ------------------------------------------------------------------ verdict material
    def sequence(self, sender: str = "evcc") -> list[str]:
        """Names of the messages ``sender`` sent, in order (``"evcc"``: the requests)."""
        own = [m for m in self.messages if m.sender == sender and m.direction == "tx"]
        if not own:  # only the peer's records exist (e.g. a real device on the other side)
            own = [m for m in self.messages if m.sender == sender]
        return [m.name for m in own]

    def offered_protocols(self) -> list[dict[str, Any]]:
        """The EV's AppProtocol entries from supportedAppProtocolReq (with priority)."""
        req = self.first(SAP_REQ)
        entries = req.fields.get("AppProtocol", []) if req else []
        return [dict(e) for e in entries] if isinstance(entries, list) else [dict(entries)]

    @property
    def protocol(self) -> str | None:
        """The negotiated protocol (``ISO_15118_2``, ``ISO_15118_20_DC``...), None if none."""
        res = self.first(SAP_RES)
        if res is None or not str(res.response_code or "").startswith("OK"):
            return None
        schema_id = res.fields.get("SchemaID")
        for entry in self.offered_protocols():
            if entry.get("SchemaID") == schema_id:
                ns = str(entry.get("ProtocolNamespace", ""))
                return PROTOCOL_BY_NAMESPACE.get(ns, ns)
        return None

    @property
    def completed(self) -> bool:
        """The EV got a positive SessionStopRes: the session ran to its normal end."""
        res = [m for m in self.find("SessionStopRes") if m.sender == "secc"]
        return any(str(m.response_code or "").startswith("OK") for m in res)

    def stop_reasons(self) -> dict[str, str]:
        """Why each side ended its session (the package's own words), by role."""
        out: dict[str, str] = {}
        for e in self.events:
            if e.name in ("session_stop", "gave_up", "crashed") and e.role not in out:
                out[e.role] = str(e.data.get("reason") or e.data.get("error") or e.name)
        return out

    def errors(self) -> list[str]:
        """Failures seen on the link: undecodable messages, non-OK response codes, crashes."""
        out = []
        recorded = {m.sender for m in self.messages if m.direction == "tx"}
        for m in self.messages:
            if m.error:
                out.append(f"{m.role} could not decode a message: {m.error}")
            code = m.response_code
            # each message once: as its sender recorded it, or as received when the sender
            # has no records (a real device, or the EV emulator alone)
            once = m.direction == "tx" or m.sender not in recorded
            if once and code and not code.startswith(("OK", "WARNING")):
                out.append(f"{m.sender} sent {m.name} with ResponseCode {code}")
        for e in self.events:
            if e.name in ("gave_up", "crashed"):
                out.append(f"{e.role} {e.name}: {e.data.get('reason') or e.data.get('error')}")
        return out

    def round_trips(self) -> list[RoundTrip]:
        """Each EVCC request with the response that followed it, as the EVCC recorded them."""
        ev = [m for m in self.seen_by("evcc")]
        trips: list[RoundTrip] = []
        for n, m in enumerate(ev):
            if m.direction != "tx" or not m.is_request:
                continue
            expected = m.name[:-3] + "Res"
            response = next((r for r in ev[n + 1:] if r.direction == "rx"
                             and r.name == expected), None)
            trips.append(RoundTrip(m, response))
        return trips

    def charge_parameters(self) -> dict[str, dict[str, Any]]:
        """``{"ev": <request fields>, "evse": <response fields>}`` of the charge-parameter
        discovery (the first one; -2 and DIN ``ChargeParameterDiscovery`` or -20
        ``AC_/DC_ChargeParameterDiscovery``)."""
        for req_name, res_name in CHARGE_PARAMETER_MESSAGES:
            req, res = self.first(req_name), self.first(res_name)
            if req or res:
                return {"ev": dict(req.fields) if req else {},
                        "evse": dict(res.fields) if res else {}}
        return {"ev": {}, "evse": {}}

    def schedules(self) -> list[dict[str, Any]]:
        """The schedules the charger offered: -2 ``SAScheduleTuple`` entries of
        ChargeParameterDiscoveryRes, or -20 ScheduleExchangeRes (scheduled or dynamic)."""
        res = self.first("ChargeParameterDiscoveryRes")
        if res is not None:
            tuples = res.get("SAScheduleList", "SAScheduleTuple", default=[])
            return list(tuples) if isinstance(tuples, list) else [tuples]
        res = self.first("ScheduleExchangeRes")
        if res is not None:
            scheduled = res.get("Scheduled_SEResControlMode", "ScheduleTuple", default=None)
            if scheduled is not None:
                return list(scheduled) if isinstance(scheduled, list) else [scheduled]
            dynamic = res.get("Dynamic_SEResControlMode")
            return [dynamic] if dynamic is not None else []
        return []

    def pmax_schedule(self) -> list[dict[str, float | None]]:
        """-2/DIN: the first offered SAScheduleTuple's PMaxSchedule as
        ``[{"start_s", "duration_s", "max_power_w"}]``."""
        tuples = self.schedules()
        if not tuples or "PMaxSchedule" not in tuples[0]:
            return []
        out = []
        for entry in _as_list(tuples[0]["PMaxSchedule"].get("PMaxScheduleEntry")):
            interval = entry.get("RelativeTimeInterval", {})
            out.append({"start_s": float(interval.get("start", 0)),
                        "duration_s": (float(interval["duration"]) if "duration" in interval
                                       else None),
                        "max_power_w": physical_value(entry.get("PMax"))})
        return out

    def power_schedule(self, discharging: bool = False) -> list[dict[str, float | None]]:
        """-20 scheduled mode: the first ScheduleTuple's charging (or discharging)
        PowerSchedule as ``[{"start_s", "duration_s", "power_w"}]``."""
        tuples = self.schedules()
        key = "DischargingSchedule" if discharging else "ChargingSchedule"
        if not tuples or key not in tuples[0]:
            return []
        entries = tuples[0][key].get("PowerSchedule", {}).get("PowerScheduleEntries", {})
        out, start = [], 0.0
        for entry in _as_list(entries.get("PowerScheduleEntry")):
            duration = float(entry.get("Duration", 0))
            out.append({"start_s": start, "duration_s": duration,
                        "power_w": physical_value(entry.get("Power"))})
            start += duration
        return out

    def ev_charging_profile(self) -> list[dict[str, float | None]]:
        """What the EV planned in PowerDeliveryReq(Start): -2 ChargingProfile entries
        ``[{"start_s", "max_power_w"}]`` or -20 EVPowerProfile ``[{"start_s", "power_w"}]``."""
        for req in self.find("PowerDeliveryReq", sender="evcc"):
            if req.fields.get("ChargeProgress") != "Start":
                continue
            if "ChargingProfile" in req.fields:
                return [{"start_s": float(e.get("ChargingProfileEntryStart", 0)),
                         "max_power_w": physical_value(e.get("ChargingProfileEntryMaxPower"))}
                        for e in _as_list(req.fields["ChargingProfile"].get("ProfileEntry"))]
            profile = req.fields.get("EVPowerProfile")
            if profile:
                out, start = [], 0.0
                for e in _as_list(profile.get("EVPowerProfileEntries", {})
                                  .get("EVPowerProfileEntry")):
                    out.append({"start_s": start, "power_w": physical_value(e.get("Power"))})
                    start += float(e.get("Duration", 0))
                return out
        return []

    def bpt_channel(self) -> str | None:
        """-20 BPT: the BPT_ChannelSelection of the EV's final PowerDeliveryReq(Start)."""
        chosen = None
        for req in self.find("PowerDeliveryReq", sender="evcc"):
            if req.fields.get("ChargeProgress") == "Start" and "BPT_ChannelSelection" in req.fields:
                chosen = str(req.fields["BPT_ChannelSelection"])
        return chosen

    def timings(self) -> Timings:
        """JVM start per side, discovery, session and message round-trip durations."""
        jvm = {e.role: float(e.data.get("jvm_start_s", 0.0)) for e in self.events
               if e.name == "codec_ready"}
        sdp_req = self.event("sdp_request", "evcc")
        sdp_res = self.event("sdp_response", "evcc")
        discovery = (sdp_res.t_mono_s - sdp_req.t_mono_s) if sdp_req and sdp_res else None
        first = self.first(SAP_REQ)
        stop_res = [m for m in self.find("SessionStopRes") if m.role == "evcc"] or \
            self.find("SessionStopRes")
        last = stop_res[-1] if stop_res else (self.messages[-1] if self.messages else None)
        session = (last.t_mono_s - first.t_mono_s) if first and last else None
        trips = [t.duration_s for t in self.round_trips() if t.duration_s is not None]
        responder = self._responder_times()
        return Timings(
            jvm_start_s=jvm, discovery_s=discovery, session_s=session,
            round_trip_median_s=statistics.median(trips) if trips else None,
            round_trip_max_s=max(trips) if trips else None,
            responder_median_s=statistics.median(responder) if responder else None,
            messages=len({(m.sender, m.t_mono_s) for m in self.messages if m.direction == "tx"}))

    def _responder_times(self) -> list[float]:
        """SECC time from reading a request to sending its response (decode+logic+encode)."""
        secc = self.seen_by("secc")
        out = []
        for n, m in enumerate(secc):
            if m.direction == "rx" and m.is_request:
                nxt = next((r for r in secc[n + 1:] if r.direction == "tx"), None)
                if nxt is not None and nxt.name == m.name[:-3] + "Res":
                    out.append(nxt.t_mono_s - m.t_mono_s)
        return out

    # ------------------------------------------------------------------ evidence
    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what the session report shows)."""
        return {
            "protocol": self.protocol, "completed": self.completed,
            "timed_out": self.timed_out, "exit_codes": self.exit_codes,
            "evcc_sequence": self.sequence("evcc"), "stop_reasons": self.stop_reasons(),
            "errors": self.errors(), "timings": self.timings().as_dict(),
            "charge_parameters": self.charge_parameters(), "schedules": self.schedules(),
            "notes": self.notes,
        }

    def as_text(self, width: int = 160) -> str:
        """A readable message log: time since the first message, direction, name, content
        (each message once, as its sender recorded it; events in brackets)."""
        start = self.items[0].t_mono_s if self.items else 0.0
        lines = []
        for item in self.items:
            at = f"{item.t_mono_s - start:8.3f} s"
            if isinstance(item, V2GEvent):
                detail = ", ".join(f"{k}={v}" for k, v in item.data.items())
                lines.append(f"{at}  [{item.role} {item.name}] {detail}"[:width])
            elif item.direction == "tx" or not any(
                    m.direction == "tx" and m.sender == item.sender for m in self.messages):
                arrow = "EV  -> EVSE" if item.sender == "evcc" else "EVSE -> EV "
                body = json.dumps(item.fields, separators=(",", ":"), default=str)
                lines.append(f"{at}  {arrow}  {item.name}  {body}"[:width])
        return "\n".join(lines)

    def write_evidence(self, folder: Path) -> list[Path]:
        """Write ``v2g.jsonl`` (every message and event, time-ordered), ``v2g.txt`` (readable
        log) and ``session.json`` (summary)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        log = write_evidence(self.items, folder / "v2g.jsonl")
        text = folder / "v2g.txt"
        text.write_text(self.as_text() + "\n", encoding="utf-8")
        summary = folder / "session.json"
        summary.write_text(json.dumps(self.summary(), indent=2, default=str) + "\n",
                           encoding="utf-8")
        return [log, text, summary]
