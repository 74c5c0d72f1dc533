"""Charger -> operator consistency: what the EV said over ISO 15118 vs what OCPP carried.

Judged only from the two wire records: the V2G log of a session (:class:`SessionResult`,
the EV emulator's side is enough) and the OCPP messages the bench's central system
received. Each function returns a list of problems (empty: consistent), worded for a
test report.

* :func:`ev_announced` / :func:`operator_needs`: the EV's charge parameters, from
  (-2/DIN) ``ChargeParameterDiscoveryReq`` or (-20) ``*_ChargeParameterDiscoveryReq`` +
  ``ScheduleExchangeReq``, and from ``NotifyEVChargingNeeds``, as one vocabulary;
  :func:`needs_problems` compares them.
* :func:`ev_schedule` / :func:`schedule_problems`: the schedule the EV was offered vs the
  reference composite schedule of the operator's profiles.
* :func:`discharge_problems`: -20 BPT discharging stays within the negotiated limits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from testbench.iso15118.session import SessionResult, _as_list, physical_value

#: Quantities compared, with their unit (names as in this module's dicts).
QUANTITIES = {
    "max_current_a": "A", "min_current_a": "A", "max_voltage_v": "V", "energy_wh": "Wh",
    "max_power_w": "W", "max_charge_power_w": "W", "min_charge_power_w": "W",
    "max_discharge_power_w": "W", "min_discharge_power_w": "W", "departure_s": "s",
    "soc_pct": "%",
}


def _put(out: dict[str, float], key: str, node: Any) -> None:
    value = physical_value(node)
    if value is not None:
        out[key] = value


def ev_announced(result: SessionResult) -> dict[str, float]:
    """The EV's charge parameters as it sent them (first discovery of the session)."""
    out: dict[str, float] = {}
    req = result.first("ChargeParameterDiscoveryReq", sender="evcc")
    if req is not None:  # ISO 15118-2 / DIN
        ac = req.fields.get("AC_EVChargeParameter") or {}
        dc = req.fields.get("DC_EVChargeParameter") or {}
        _put(out, "energy_wh", ac.get("EAmount") or dc.get("EVEnergyRequest"))
        _put(out, "max_current_a", ac.get("EVMaxCurrent") or dc.get("EVMaximumCurrentLimit"))
        _put(out, "min_current_a", ac.get("EVMinCurrent"))
        _put(out, "max_voltage_v", ac.get("EVMaxVoltage") or dc.get("EVMaximumVoltageLimit"))
        _put(out, "max_power_w", dc.get("EVMaximumPowerLimit"))
        _put(out, "soc_pct", (dc.get("DC_EVStatus") or {}).get("EVRESSSOC"))
        departure = ac.get("DepartureTime", dc.get("DepartureTime"))
        if departure is not None:
            out["departure_s"] = float(departure)
        return out
    for name in ("AC_ChargeParameterDiscoveryReq", "DC_ChargeParameterDiscoveryReq"):
        req = result.first(name, sender="evcc")
        if req is None:
            continue
        params: dict[str, Any] = next(
            (v for k, v in req.fields.items() if k.endswith("CPDReqEnergyTransferMode")),
            {}) or {}
        _put(out, "max_charge_power_w", params.get("EVMaximumChargePower"))
        if name.startswith("DC"):  # OCPP dcChargingParameters.evMaxPower
            _put(out, "max_power_w", params.get("EVMaximumChargePower"))
        _put(out, "min_charge_power_w", params.get("EVMinimumChargePower"))
        _put(out, "max_discharge_power_w", params.get("EVMaximumDischargePower"))
        _put(out, "min_discharge_power_w", params.get("EVMinimumDischargePower"))
        _put(out, "max_current_a", params.get("EVMaximumChargeCurrent"))
        _put(out, "max_voltage_v", params.get("EVMaximumVoltage"))
    exchange = result.first("ScheduleExchangeReq", sender="evcc")
    if exchange is not None:
        mode = (exchange.fields.get("Scheduled_SEReqControlMode")
                or exchange.fields.get("Dynamic_SEReqControlMode") or {})
        _put(out, "energy_wh", mode.get("EVTargetEnergyRequest"))
        if mode.get("DepartureTime") is not None:
            out["departure_s"] = float(mode["DepartureTime"])
    return out


def operator_needs(payload: dict[str, Any], received_at_s: float) -> dict[str, float]:
    """A NotifyEVChargingNeeds request (camelCase) in the same vocabulary; ``departure_s``
    is the departure time relative to ``received_at_s`` (the message's lab time)."""
    needs = payload.get("chargingNeeds") or {}
    out: dict[str, float] = {}

    def put(key: str, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)

    ac = needs.get("acChargingParameters") or {}
    dc = needs.get("dcChargingParameters") or {}
    v2x = needs.get("v2xChargingParameters") or {}
    put("energy_wh", ac.get("energyAmount", dc.get("energyAmount",
                                                   v2x.get("evTargetEnergyRequest"))))
    put("max_current_a", ac.get("evMaxCurrent", dc.get("evMaxCurrent",
                                                       v2x.get("maxChargeCurrent"))))
    put("min_current_a", ac.get("evMinCurrent"))
    put("max_voltage_v", ac.get("evMaxVoltage", dc.get("evMaxVoltage", v2x.get("maxVoltage"))))
    put("max_power_w", dc.get("evMaxPower"))
    put("soc_pct", dc.get("stateOfCharge"))
    put("max_charge_power_w", v2x.get("maxChargePower"))
    put("min_charge_power_w", v2x.get("minChargePower"))
    put("max_discharge_power_w", v2x.get("maxDischargePower"))
    put("min_discharge_power_w", v2x.get("minDischargePower"))
    departure = needs.get("departureTime")
    if departure:
        stamp = datetime.fromisoformat(str(departure)).timestamp()
        out["departure_s"] = stamp - received_at_s
    return out


def needs_problems(ev: dict[str, float], operator: dict[str, float], *,
                   integers: bool = False, departure_tol_s: float = 10.0,
                   required: tuple[str, ...] = ()) -> list[str]:
    """Differences between what the EV announced and what the operator was told.

    Every quantity both carry must match (``integers``: OCPP 2.0.1 integer fields, so
    within 0.5 of the EV's value; else within 0.1 % or 0.01); ``departure_s`` within
    ``departure_tol_s``. ``required``: quantities the operator must have been told.
    """
    problems = []
    for key in sorted(set(ev) & set(operator)):
        want, got = ev[key], operator[key]
        unit = QUANTITIES.get(key, "")
        if key == "departure_s":
            tol = departure_tol_s
        else:
            tol = 0.5 if integers else max(0.01, abs(want) * 0.001)
        if abs(got - want) > tol:
            problems.append(f"{key}: the EV announced {want:g} {unit} over ISO 15118, the "
                            f"operator was told {got:g} {unit} (tolerance {tol:g})")
    if "soc_pct" in operator and "soc_pct" not in ev:
        problems.append(f"soc_pct: the operator was told {operator['soc_pct']:g} %, the EV sent "
                        "no state of charge with its charge parameters")
    for key in required:
        if key in ev and key not in operator:
            problems.append(f"{key}: the EV announced {ev[key]:g} {QUANTITIES.get(key, '')}, "
                            "NotifyEVChargingNeeds does not carry it")
    return problems


def ev_schedule(result: SessionResult, nth: int = 0) -> list[tuple[float, float]]:
    """The charging schedule offered to the EV as ``[(start_s, max_power_w)]``: -2/DIN
    PMaxSchedule of the ``nth`` ChargeParameterDiscoveryRes (renegotiation: 1, 2...), -20
    the ``nth`` ScheduleExchangeRes charging PowerSchedule."""
    found = [m for m in result.find("ChargeParameterDiscoveryRes")
             if m.fields.get("EVSEProcessing") == "Finished"]
    if found:
        if nth >= len(found):
            return []
        tuples = _as_list(found[nth].get("SAScheduleList", "SAScheduleTuple"))
        if not tuples:
            return []
        entries = _as_list(tuples[0].get("PMaxSchedule", {}).get("PMaxScheduleEntry"))
        return [(float(e.get("RelativeTimeInterval", {}).get("start", 0)),
                 physical_value(e.get("PMax")) or 0.0) for e in entries]
    found = [m for m in result.find("ScheduleExchangeRes")
             if m.fields.get("EVSEProcessing") == "Finished"]
    if nth >= len(found):
        return []
    tuples = _as_list(found[nth].get("Scheduled_SEResControlMode", "ScheduleTuple"))
    if not tuples:
        return []
    power = tuples[0].get("ChargingSchedule", {}).get("PowerSchedule", {})
    out, start = [], 0.0
    for e in _as_list(power.get("PowerScheduleEntries", {}).get("PowerScheduleEntry")):
        out.append((start, physical_value(e.get("Power")) or 0.0))
        start += float(e.get("Duration", 0))
    return out


def schedule_problems(offered: list[tuple[float, float]], reference: list[tuple[float, float]],
                      *, time_tol_s: float, value_tol_w: float = 1.0) -> list[str]:
    """The schedule the EV was offered vs the reference ``[(start_s, limit_w)]`` (both
    relative to the schedule exchange): same steps, each start within ``time_tol_s``, each
    limit within ``value_tol_w`` or 0.5 %."""
    def merged(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for start, value in points:
            if out and abs(out[-1][1] - value) <= max(value_tol_w, abs(value) * 0.005):
                continue
            out.append((start, value))
        return out

    got, want = merged(offered), merged(reference)
    if not got:
        return ["the EV was offered no schedule"]
    problems = []
    if len(got) != len(want):
        problems.append(f"the EV was offered {len(got)} schedule steps {got}, the operator's "
                        f"profiles make {len(want)}: {want}")
    for n, ((g_start, g_value), (w_start, w_value)) in enumerate(zip(got, want)):
        if n and abs(g_start - w_start) > time_tol_s:
            problems.append(f"step {n}: starts at {g_start:g} s in the EV's schedule, at "
                            f"{w_start:g} s in the operator's (tolerance {time_tol_s:g} s)")
        if abs(g_value - w_value) > max(value_tol_w, abs(w_value) * 0.005):
            problems.append(f"step {n} (from {w_start:g} s): {g_value:g} W offered to the EV, "
                            f"{w_value:g} W allowed by the operator's profiles")
    return problems


def discharge_problems(result: SessionResult) -> list[str]:
    """-20 BPT: the discharge power the charger commanded or offered stays within what was
    negotiated (min of the EV's and the charger's maximum discharge power)."""
    req = next((m for n in ("AC_ChargeParameterDiscoveryReq", "DC_ChargeParameterDiscoveryReq")
                for m in result.find(n, sender="evcc")), None)
    res = next((m for n in ("AC_ChargeParameterDiscoveryRes", "DC_ChargeParameterDiscoveryRes")
                for m in result.find(n, sender="secc")), None)
    if req is None or res is None:
        return ["no -20 charge-parameter discovery in the session"]
    ev = next((v for k, v in req.fields.items() if k.startswith("BPT_")), None)
    evse = next((v for k, v in res.fields.items() if k.startswith("BPT_")), None)
    if ev is None or evse is None:
        return ["the session did not negotiate bidirectional power transfer (BPT)"]
    limits = [x for x in (physical_value(ev.get("EVMaximumDischargePower")),
                          physical_value(evse.get("EVSEMaximumDischargePower"))) if x is not None]
    if not limits:
        return ["neither side announced a maximum discharge power"]
    limit = min(abs(x) for x in limits)
    problems = []
    for m in result.find("ScheduleExchangeRes", sender="secc"):
        for tup in _as_list(m.get("Scheduled_SEResControlMode", "ScheduleTuple")):
            power = (tup.get("DischargingSchedule") or {}).get("PowerSchedule", {})
            for e in _as_list(power.get("PowerScheduleEntries", {}).get("PowerScheduleEntry")):
                value = physical_value(e.get("Power")) or 0.0
                if abs(value) > limit * 1.005:
                    problems.append(f"discharging schedule offers {abs(value):g} W, over the "
                                    f"negotiated maximum discharge power {limit:g} W")
    for m in result.messages:
        if m.sender != "secc" or not m.name.endswith("ChargeLoopRes"):
            continue
        mode = next((v for k, v in m.fields.items() if k.startswith("BPT_")), None) or {}
        for key in ("EVSETargetActivePower", "EVSETargetPower"):
            target = physical_value(mode.get(key))
            if target is not None and target < 0 and abs(target) > limit * 1.005:
                problems.append(f"{m.name}: {key} {target:g} W discharges over the negotiated "
                                f"maximum {limit:g} W")
    return problems


def ev_soc_pct(result: SessionResult) -> list[float]:
    """The states of charge the EV sent, in order: -20 DisplayParameters.PresentSOC of its
    charge-loop requests, -2/DIN DC_EVStatus.EVRESSSOC (AC -2 carries none)."""
    out = []
    for m in result.messages:
        if m.sender != "evcc" or m.direction != "tx" or not m.is_request:
            continue
        value = m.get("DisplayParameters", "PresentSOC")
        if value is None:
            value = m.get("DC_EVStatus", "EVRESSSOC")
        if isinstance(value, int | float):
            out.append(float(value))
    return out


def reported_soc_pct(meter_values: list[dict[str, Any]]) -> list[float]:
    """SoC sampled values of OCPP meterValue entries (camelCase)."""
    return [float(sv["value"]) for mv in meter_values for sv in mv.get("sampledValue", [])
            if sv.get("measurand") == "SoC"]
