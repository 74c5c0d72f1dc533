"""ISO 15118 EVs under test: the bench plays the charger (a ``v2g_charger`` instrument, the
``iso15118`` package's SECC on the EV's PLC interface or a simulated lab's veth link).

Verdicts come only from the V2G messages on the link (decoded, timestamped, as the bench's
SECC recorded them; attached to every test) and the lab's EV entry (its declared protocols
and limits). Checks:

1. **Session completes on each protocol the EV supports** (DIN on DC chargers only; -20 AC
   is not applicable: the package's charger simulator cannot serve it, see REFERENCE.md).
2. **The EV offers its best protocol first**: with every protocol the charger supports
   offered, the negotiated protocol is the best both support, and the EV's
   supportedAppProtocolReq gives that one its highest priority (1).
3. **Charge parameters plausible and as declared**: -2 AC EVMaxCurrent / EVMinCurrent equal
   the lab EV's maximum / minimum current (within ``LIMIT_TOLERANCE``), EVMaxVoltage within
   ``PLAUSIBLE_VOLTAGE_V``, energy request > 0 and at most the battery; -20: maximum charge
   power at most the EV's maximum current at 230 V on its phases (+ tolerance).
4. **The EV follows the charger's schedule**: the bench offers ``SCHEDULE_FRACTION`` of the
   EV's maximum power; the EV's ChargingProfile (-2) / EVPowerProfile (-20) never asks more
   than the PMax / power in force at that time, nor (-2 DC) its CurrentDemand target power.
5. **The EV stops cleanly when the charger stops**: the bench answers the second
   charge-loop request with EVSENotification StopCharging; the EV's next request is
   PowerDeliveryReq(Stop) within ``STOP_NEXT_S`` (verify), it sends no further charge-loop
   request, and ends with SessionStop (positive SessionStopRes) within ``STOP_END_S``
   (verify). -2 / DIN only (the bench's SECC stops -20 sessions through its controller
   only for renegotiation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import numpy as np
import pytest

from suites.iso15118._support import attach, explain
from testbench.analysis import Recording, Series, save_evidence
from testbench.iso15118 import SessionResult, physical_value
from testbench.iso15118.messages import PROTOCOL_BY_NAMESPACE
from testbench.iso15118.resources import ordered, package_protocol

pytestmark = pytest.mark.requires("v2g_charger")

SESSION_TIMEOUT_WALL_S = 90.0
LIMIT_TOLERANCE = 0.02
"""Relative tolerance of announced vs declared limits (PhysicalValue rounding)."""
PLAUSIBLE_VOLTAGE_V = (100.0, 1000.0)
NOMINAL_VOLTAGE_V = 230.0
SCHEDULE_FRACTION = 0.5
"""The bench's schedule: this fraction of the EV's maximum power."""
POWER_TOLERANCE_W = 1.0
STOP_AFTER_LOOPS = 2
STOP_NEXT_S = 5.0
STOP_END_S = 10.0
LOOP_REQUESTS = ("ChargingStatusReq", "CurrentDemandReq", "AC_ChargeLoopReq",
                 "DC_ChargeLoopReq")


class Bay:
    """The bench's charger emulator at the EV's station, with the run's evidence folder."""

    def __init__(self, secc: Any, station: Any, folder: Path) -> None:
        self.secc = secc
        self.station = station
        self.folder = folder
        self.count = 0

    @property
    def ev(self) -> Any:
        return self.station.ev

    @property
    def current_type(self) -> str:
        return str(self.station.charger.current_type).upper()

    def protocols(self) -> list[str]:
        """Lab protocol names the EV supports at this charger, best first."""
        return [p for p in ordered(list(self.ev.iso15118))
                if not (p == "DIN" and self.current_type != "DC")]

    def run(self, **settings: Any) -> SessionResult:
        """One session with the EV, the bench offering ``settings``; evidence attached."""
        self.count += 1
        chosen = self.secc.settings(current_type=self.current_type, **settings)
        result: SessionResult = self.secc.run_session(chosen, self.folder / f"session-{self.count}",
                                                      SESSION_TIMEOUT_WALL_S)
        attach(result)
        return result


@pytest.fixture
def bay(station: Any, bench: Any, request: pytest.FixtureRequest) -> Iterator[Bay]:
    """The bench's ISO 15118 charger emulator for the EV under test (made safe after)."""
    if not station.has("v2g_charger"):
        pytest.skip(f"not applicable: station {station.id} has no 'v2g_charger' instrument "
                    f"for charger {station.charger.id}")
    if not station.ev.iso15118:
        pytest.skip(f"not applicable: EV {station.ev.id} declares no ISO 15118 protocol")
    allure.dynamic.label("ev", station.ev.id)
    allure.dynamic.label("ev_software", station.ev.software)
    allure.dynamic.label("charger", station.charger.id)
    allure.dynamic.label("station", station.id)
    allure.dynamic.sub_suite(f"{station.ev.id} @ {station.charger.id}")
    instrument = station.instrument("v2g_charger")
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    folder = Path(bench.run_dir) / "evidence" / safe / "v2g"
    try:
        yield Bay(instrument, station, folder)
    finally:
        instrument.safe_state()


def _evidence(name: str, data: Any) -> None:
    allure.attach(json.dumps(data, indent=2, default=str), name=name,
                  attachment_type=allure.attachment_type.JSON)


def _ev_max_power_w(ev: Any) -> float:
    return float(ev.max_current_a) * NOMINAL_VOLTAGE_V * int(ev.phases or 3)


# ----------------------------------------------------------------------------- 1
def test_session_completes_on_each_protocol(bay: Bay) -> None:
    """For each protocol the EV supports, offered alone, the session runs to SessionStop."""
    protocols = [p for p in bay.protocols() if not (p == "-20" and bay.current_type == "AC")]
    if not protocols:
        pytest.skip("not applicable: the EV supports only -20 and the charger is AC (the "
                    "package's charger simulator cannot serve -20 AC)")
    problems = []
    for lab_name in protocols:
        expected = package_protocol(lab_name, bay.current_type)
        result = bay.run(protocols=[lab_name])
        if result.protocol != expected or not result.completed:
            problems.append(f"{lab_name}: negotiated {result.protocol}, completed "
                            f"{result.completed}; {explain(result)}")
    assert not problems, ("the EV's session did not complete on every protocol it supports:\n"
                          + "\n".join(problems))


# ----------------------------------------------------------------------------- 2
def test_ev_offers_best_protocol_first(bay: Bay) -> None:
    """With all the charger's protocols offered, the best common one is negotiated and is
    the EV's first choice."""
    charger_names = [p for p in ordered(list(bay.station.charger.iso15118 or bay.protocols()))
                     if not (p == "-20" and bay.current_type == "AC")]
    common = [p for p in bay.protocols() if p in charger_names]
    if not common:
        pytest.skip("not applicable: no protocol both the EV and the charger support")
    best = package_protocol(common[0], bay.current_type)
    result = bay.run(protocols=charger_names)
    offered = result.offered_protocols()
    _evidence("supportedAppProtocolReq", offered)
    assert result.protocol == best, (f"negotiated {result.protocol}, expected the best both "
                                     f"support: {best}; {explain(result)}")
    first = min(offered, key=lambda e: int(e.get("Priority", 99)), default={})
    namespace = str(first.get("ProtocolNamespace", ""))
    assert PROTOCOL_BY_NAMESPACE.get(namespace, namespace) == best, (
        f"the EV gave its highest priority to {namespace}, not to its best protocol {best} "
        f"(offered: {offered})")


# ----------------------------------------------------------------------------- 3
def _near(value: float | None, declared: float) -> bool:
    return value is not None and abs(value - declared) <= LIMIT_TOLERANCE * max(1.0, declared)


def test_charge_parameters_match_declared_limits(bay: Bay) -> None:
    """The EV's charge-parameter discovery is plausible and matches its lab entry."""
    ev = bay.ev
    protocols = [p for p in bay.protocols() if not (p == "-20" and bay.current_type == "AC")]
    if not protocols:
        pytest.skip("not applicable: no protocol the bench's charger can serve for this EV")
    result = bay.run(protocols=[protocols[0]])
    params = result.charge_parameters()["ev"]
    _evidence("EV charge parameters", {"announced": params, "declared": {
        "max_current_a": ev.max_current_a, "min_current_a": ev.min_current_a,
        "battery_kwh": ev.battery_kwh, "phases": ev.phases}})
    assert params, f"the EV sent no charge-parameter discovery; {explain(result)}"
    problems = []
    ac = params.get("AC_EVChargeParameter")
    if ac is not None:
        max_a, min_a = physical_value(ac.get("EVMaxCurrent")), physical_value(ac.get("EVMinCurrent"))
        volts, energy = physical_value(ac.get("EVMaxVoltage")), physical_value(ac.get("EAmount"))
        if not _near(max_a, ev.max_current_a):
            problems.append(f"EVMaxCurrent {max_a} A, declared maximum {ev.max_current_a} A")
        if not _near(min_a, ev.min_current_a):
            problems.append(f"EVMinCurrent {min_a} A, declared minimum {ev.min_current_a} A")
        if volts is None or not PLAUSIBLE_VOLTAGE_V[0] <= volts <= PLAUSIBLE_VOLTAGE_V[1]:
            problems.append(f"EVMaxVoltage {volts} V outside {PLAUSIBLE_VOLTAGE_V}")
        if energy is None or not 0 < energy <= ev.battery_kwh * 1000.0:
            problems.append(f"EAmount {energy} Wh not within (0, {ev.battery_kwh * 1000:.0f}]")
    dc = params.get("DC_EVChargeParameter")
    if dc is not None:
        volts = physical_value(dc.get("EVMaximumVoltageLimit"))
        if volts is None or not PLAUSIBLE_VOLTAGE_V[0] <= volts <= PLAUSIBLE_VOLTAGE_V[1]:
            problems.append(f"EVMaximumVoltageLimit {volts} V outside {PLAUSIBLE_VOLTAGE_V}")
    power = physical_value(params.get("EVMaximumChargePower"))
    if power is not None and power > _ev_max_power_w(ev) * (1 + LIMIT_TOLERANCE):
        problems.append(f"EVMaximumChargePower {power} W above the declared "
                        f"{_ev_max_power_w(ev):.0f} W")
    assert not problems, ("the EV's charge parameters do not match its declared limits: "
                          + "; ".join(problems) + f"\nV2G log: {result.workdir}/v2g.txt")


# ----------------------------------------------------------------------------- 4
def _limit_at(schedule: list[dict[str, Any]], t_s: float, key: str) -> float | None:
    limit = None
    for entry in schedule:
        if float(entry["start_s"]) <= t_s:
            limit = entry.get(key)
    return limit


def _plot_profile(bay: Bay, profile: list[dict[str, Any]], schedule: list[dict[str, Any]],
                  key: str) -> None:
    """CSV + PNG: the EV's planned power vs the schedule in force, at each step."""
    starts = {float(e["start_s"] or 0) for e in [*profile, *schedule]}
    times = sorted(starts | {s - 1.0 for s in starts if s >= 1.0})  # steps, not ramps
    if len(times) < 2:
        return
    asked = [_limit_at([{"start_s": e["start_s"] or 0,
                         "w": e.get("max_power_w", e.get("power_w"))} for e in profile], t, "w")
             for t in times]
    allowed = [_limit_at(schedule, t, key) for t in times]
    as_array = lambda values: np.array([np.nan if v is None else abs(float(v))
                                        for v in values])
    recording = Recording(np.array(times), {"ev_profile_w": as_array(asked)},
                          {"ev_profile_w": "W"})
    save_evidence(recording, bay.folder, "ev-profile-vs-schedule", plot=True,
                  channels=["ev_profile_w"],
                  limits=[("schedule (charger)", Series("schedule_w", "W", np.array(times),
                                                         as_array(allowed)))],
                  title="EV charging profile vs the charger's schedule")


def test_ev_follows_the_schedule(bay: Bay) -> None:
    """What the EV asks for never exceeds the schedule the charger sent."""
    protocols = [p for p in bay.protocols() if not (p == "-20" and bay.current_type == "AC")]
    if not protocols:
        pytest.skip("not applicable: no protocol the bench's charger can serve for this EV")
    limit_w = round(_ev_max_power_w(bay.ev) * SCHEDULE_FRACTION)
    result = bay.run(protocols=[protocols[0]], schedule=[(0, float(limit_w))])
    schedule = result.pmax_schedule() or result.power_schedule()
    key = "max_power_w" if result.pmax_schedule() else "power_w"
    profile = result.ev_charging_profile()
    asked: list[dict[str, Any]] = []
    for entry in profile:
        value = entry.get("max_power_w", entry.get("power_w"))
        allowed = _limit_at(schedule, float(entry["start_s"] or 0), key)
        asked.append({"what": "charging profile", "start_s": entry["start_s"],
                      "asked_w": value, "allowed_w": allowed})
    for req in result.find("CurrentDemandReq", sender="evcc"):
        amps = physical_value(req.fields.get("EVTargetCurrent"))
        volts = physical_value(req.fields.get("EVTargetVoltage"))
        if amps is not None and volts is not None:
            asked.append({"what": "CurrentDemand target", "start_s": None,
                          "asked_w": amps * volts, "allowed_w": limit_w})
    _evidence("schedule vs EV request", {"schedule": schedule, "asked": asked})
    _plot_profile(bay, profile, schedule, key)
    assert schedule, f"the bench's schedule is not in the V2G log; {explain(result)}"
    assert profile, f"the EV sent no charging profile (PowerDeliveryReq Start); {explain(result)}"
    above = [a for a in asked if a["asked_w"] is not None and a["allowed_w"] is not None
             and abs(a["asked_w"]) > abs(a["allowed_w"]) + POWER_TOLERANCE_W]
    assert not above, ("the EV asked above the schedule the charger sent: "
                       + "; ".join(f"{a['what']} at {a['start_s']} s: {a['asked_w']:.0f} W "
                                   f"> {a['allowed_w']:.0f} W" for a in above)
                       + f"\nV2G log: {result.workdir}/v2g.txt")


# ----------------------------------------------------------------------------- 5
def _notification(message: Any) -> str | None:
    for status in ("AC_EVSEStatus", "DC_EVSEStatus", "EVSEStatus"):
        value = message.get(status, "EVSENotification")
        if value is not None:
            return str(value)
    return None


def test_ev_stops_when_the_charger_stops(bay: Bay) -> None:
    """EVSENotification StopCharging -> PowerDelivery(Stop) next, then SessionStop."""
    protocols = [p for p in bay.protocols() if p in ("-2", "DIN")]
    if not protocols:
        pytest.skip("not applicable: the bench's charger stops only -2 / DIN sessions")
    result = bay.run(protocols=[protocols[0]], stop_after_loops=STOP_AFTER_LOOPS)
    stop = next((m for m in result.seen_by("secc") if m.direction == "tx"
                 and _notification(m) == "StopCharging"), None)
    assert stop is not None, (f"the bench never told the EV to stop (the EV left the charge "
                              f"loop first?); {explain(result)}")
    after = [m for m in result.seen_by("secc") if m.direction == "rx"
             and m.t_mono_s > stop.t_mono_s]
    names = [m.name for m in after]
    _evidence("EV requests after StopCharging", [
        {"name": m.name, "after_s": round(m.t_mono_s - stop.t_mono_s, 3),
         "fields": m.fields} for m in after])
    assert after, f"the EV sent nothing after StopCharging; {explain(result)}"
    first = after[0]
    assert first.name == "PowerDeliveryReq" and first.fields.get("ChargeProgress") == "Stop", (
        f"after StopCharging the EV sent {first.name} {first.fields}, not PowerDeliveryReq "
        f"(Stop); requests after the stop: {names}")
    delay_s = first.t_mono_s - stop.t_mono_s
    assert delay_s <= STOP_NEXT_S, (f"PowerDeliveryReq(Stop) came {delay_s:.2f} s after "
                                    f"StopCharging (limit {STOP_NEXT_S} s)")
    loops = [n for n in names if n in LOOP_REQUESTS]
    assert not loops, f"the EV kept charging after StopCharging: {loops}"
    end = next((m for m in after if m.name == "SessionStopReq"), None)
    assert end is not None and result.completed, (f"the EV did not end the session with "
                                                  f"SessionStop: {names}; {explain(result)}")
    assert end.t_mono_s - stop.t_mono_s <= STOP_END_S, (
        f"SessionStopReq came {end.t_mono_s - stop.t_mono_s:.2f} s after StopCharging "
        f"(limit {STOP_END_S} s)")
