"""DER settings over OCPP 2.1 (R block): what was set is what the charger reports back, and
frequency-droop and frequency-watt settings change the measured LFSM-O response.

- **Read-back** (per control type: VoltVar, WattPF, VoltWatt, FixedPFAbsorb, FixedPFInject,
  FixedVar, FreqDroop, FreqWatt; values from the station's parameter set): SetDERControl, then
  GetDERControl for that controlId must be Accepted and the ReportDERControl that follows
  must list the control with the same type, isDefault, priority, curve points (x, y), yUnit
  and response time, or the same setpoint / displacement / excitation / droop values
  (numbers equal within ``READBACK_TOL``: a unit may store them in its own resolution).
  Judged from the wire only; no session needed.
- **FreqDroop follows** (discharging at rated power): a FreqDroop control with an LFSM-O
  droop of ``DROOP_FACTOR`` x the set's and the threshold ``THRESHOLD_STEP_HZ`` above it
  (both kept inside the ranges the set allows to be settled), then the LFSM-O step procedure
  of :mod:`suites.gridcode.test_lfsm` judged against the characteristic that was *set*
  (open loop at Tr, steady state on the new droop). A unit keeping the set's droop, or with
  a wrong droop, fails the steady state.
- **FreqWatt follows** (discharging at rated power): a P(f) curve from the set's LFSM-O
  threshold falling with ``DROOP_FACTOR`` x its droop (steeper than the unit's own LFSM-O,
  so the curve binds), then the same LFSM-O procedure judged against the curve. A unit that
  ignores the curve keeps its own, shallower response and fails the steady state.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import allure
import pytest

from suites.gridcode import _der
from suites.gridcode import _support as s
from suites.gridcode.test_lfsm import _lfsm
from testbench.csms import ExpectationFailed
from testbench.errors import DeviceFailure
from testbench.gridcode.params import GridCodeParameters, LfsmO

READBACK_TOL = 1e-3
"""Relative tolerance (of max(1, |value|)) for a number read back."""
REPORT_WITHIN_S = 10.0
DROOP_FACTOR = 0.6
DROOP_RANGE_PCT = (2.0, 12.0)
"""LFSM droop range a unit must allow to be set (EN 50549-1: 2-12 %)."""
THRESHOLD_STEP_HZ = 0.1
THRESHOLD_MAX_HZ = 50.5
"""Highest LFSM-O threshold EN 50549-1 lets the DSO set (50.2-50.5 Hz)."""
REQUEST_ID = 6201
CONTROLS = ["VoltVar", "WattPF", "VoltWatt", "FixedPFAbsorb", "FixedPFInject", "FixedVar",
            "FreqDroop", "FreqWatt"]


def _setting(kind: str, params: GridCodeParameters) -> dict[str, Any]:
    """The SetDERControl request of ``kind`` built from the set (skips when it is unknown)."""
    if kind == "VoltVar":
        _der.require_known(params, "q_u.curve", "q_u.three_tau_s")
        return _der.volt_var(params)
    if kind == "WattPF":
        _der.require_known(params, "cos_phi_p.curve")
        return _der.watt_pf(params)
    if kind == "VoltWatt":
        _der.require_known(params, "p_u.curve", "p_u.three_tau_s")
        return _der.volt_watt(params)
    if kind in ("FixedPFAbsorb", "FixedPFInject", "FixedVar"):
        _der.require_known(params, "cos_phi_fixed.min_under_excited",
                           "cos_phi_fixed.min_over_excited")
        under = kind != "FixedPFInject"
        cos_phi = float(params.cos_phi_fixed.min_under_excited if under
                        else params.cos_phi_fixed.min_over_excited)
        if kind == "FixedVar":
            return _der.fixed_var(-math.sin(math.acos(cos_phi)) * 100.0)
        return _der.fixed_pf(cos_phi, under_excited=under)
    if kind == "FreqWatt":
        return _freq_watt_request(params)[0]
    return _freq_droop_request(params)[0]


def _freq_watt_request(params: GridCodeParameters) -> tuple[dict[str, Any], float, float]:
    """(FreqWatt request, threshold Hz, droop %): the set's LFSM-O threshold with
    ``DROOP_FACTOR`` x its droop, so that the curve, not the unit's own LFSM-O, binds."""
    _der.require_known(params, "lfsm_o.threshold_hz", "lfsm_o.droop_pct",
                       "lfsm_o.response_time_s")
    o = params.lfsm_o
    droop = min(max(float(o.droop_pct) * DROOP_FACTOR, DROOP_RANGE_PCT[0]), DROOP_RANGE_PCT[1])
    threshold = float(o.threshold_hz)
    request = _der.freq_watt(threshold, droop, float(params.nominal.frequency_hz),
                             float(o.response_time_s))
    return request, threshold, droop


def _freq_droop_request(params: GridCodeParameters) -> tuple[dict[str, Any], float, float]:
    """(FreqDroop request, LFSM-O threshold Hz, LFSM-O droop %) asked of the unit."""
    _der.require_known(params, "lfsm_o.threshold_hz", "lfsm_o.droop_pct",
                       "lfsm_o.response_time_s", "lfsm_u.threshold_hz", "lfsm_u.droop_pct")
    o, u = params.lfsm_o, params.lfsm_u
    droop = min(max(float(o.droop_pct) * DROOP_FACTOR, DROOP_RANGE_PCT[0]), DROOP_RANGE_PCT[1])
    threshold = min(float(o.threshold_hz) + THRESHOLD_STEP_HZ, THRESHOLD_MAX_HZ)
    request = _der.freq_droop(threshold, float(u.threshold_hz), droop, float(u.droop_pct),
                              float(o.response_time_s))
    return request, threshold, droop


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float) \
            or not isinstance(b, int | float):
        return bool(a == b)
    return abs(float(a) - float(b)) <= READBACK_TOL * max(1.0, abs(float(a)))


def differences(sent: Any, reported: Any, where: str = "") -> list[str]:
    """Every value of ``sent`` that ``reported`` lacks or has otherwise (lists by position)."""
    if isinstance(sent, dict):
        if not isinstance(reported, dict):
            return [f"{where or 'setting'}: reported {reported!r}, set {sent!r}"]
        out = []
        for key, value in sent.items():
            path = f"{where}.{key}" if where else key
            if key not in reported:
                out.append(f"{path}: missing from the report (set {value!r})")
            else:
                out += differences(value, reported[key], path)
        return out
    if isinstance(sent, list):
        if not isinstance(reported, list) or len(reported) != len(sent):
            return [f"{where}: reported {reported!r}, set {sent!r}"]
        return [d for i, (a, b) in enumerate(zip(sent, reported, strict=True))
                for d in differences(a, b, f"{where}[{i}]")]
    return [] if _close(sent, reported) else [f"{where}: reported {reported!r}, set {sent!r}"]


REPORT_FIELDS = {"FixedPFAbsorb": ("fixedPFAbsorb", "fixedPFAbsorb", "fixedPF"),
                 "FixedPFInject": ("fixedPFInject", "fixedPFInject", "fixedPF"),
                 "FixedVar": ("fixedVar", "fixedVar", "fixedVar"),
                 "FreqDroop": ("freqDroop", "freqDroop", "freqDroop")}
"""control type -> (ReportDERControl list, SetDERControl field, field in the list entry);
every other type is a curve (``curve`` list, ``curve`` field)."""


def readback_problems(sent: dict[str, Any], frames: list[dict[str, Any]]) -> list[str]:
    """What the ReportDERControl ``frames`` say otherwise than the SetDERControl ``sent``."""
    kind, control_id = sent["controlType"], sent["controlId"]
    listed, field, inner = REPORT_FIELDS.get(kind, ("curve", "curve", "curve"))
    entries = [e for f in frames for e in f.get(listed, []) if e.get("id") == control_id]
    if not entries:
        ids = sorted({str(e.get("id")) for f in frames for items in f.values()
                      if isinstance(items, list) for e in items if isinstance(e, dict)})
        return [(f"{kind} {control_id!r} is not in the report's {listed!r} list (it lists "
                 f"{ids or 'nothing'})")]
    entry = entries[0]
    problems = []
    if listed == "curve" and entry.get("curveType") != kind:
        problems.append(f"curveType: reported {entry.get('curveType')!r}, set {kind!r}")
    if entry.get("isDefault") != sent["isDefault"]:
        problems.append(f"isDefault: reported {entry.get('isDefault')!r}, set "
                        f"{sent['isDefault']!r}")
    return problems + differences(sent[field], entry.get(inner), inner)


@pytest.mark.requires("bidirectional", "ocpp21")
@pytest.mark.parametrize("kind", CONTROLS)
@s.skips_unknown_parameters
def test_der_control_read_back(kind, station, charger, clock, bench, request):
    """GetDERControl reports each DER control as SetDERControl set it."""
    _der.require_21(station, "DER read-back")
    params = s.params_of(station)
    sent = _setting(kind, params)
    try:
        _der.apply(charger, sent)
        get = {"requestId": REQUEST_ID, "controlId": sent["controlId"]}
        try:
            status = charger.call("GetDERControl", get).get("status")
        except Exception as error:
            raise DeviceFailure(f"der_readback: GetDERControl {get} failed ({error}); a unit "
                                "that accepts DER settings must report them") from error
        if status != "Accepted":
            raise DeviceFailure(f"der_readback: GetDERControl for {kind} "
                                f"{sent['controlId']!r} just set was answered {status!r}")
        frames = []
        while True:
            try:
                msg = charger.expect("ReportDERControl", REPORT_WITHIN_S, request_id=REQUEST_ID)
            except ExpectationFailed as error:
                raise DeviceFailure(f"der_readback: no ReportDERControl for requestId "
                                    f"{REQUEST_ID} within {REPORT_WITHIN_S:g} lab s after an "
                                    f"Accepted GetDERControl ({error})") from error
            frames.append(dict(msg.payload))
            if not msg.payload.get("tbc"):
                break
    finally:
        _der.clear(charger)
    allure.attach(json.dumps({"set": sent, "reported": frames}, indent=2),
                  name=f"{kind}: set vs reported", attachment_type=allure.attachment_type.JSON)
    problems = readback_problems(sent, frames)
    if problems:
        raise DeviceFailure(f"der_readback: {kind} reported otherwise than set: "
                            + "; ".join(problems))


def _with_lfsm_o(params: GridCodeParameters, threshold_hz: float, droop_pct: float,
                 source: str) -> GridCodeParameters:
    """``params`` with the LFSM-O threshold and droop a setting wrote (``source``)."""
    section = params.lfsm_o
    values = dict(section.__dict__["_values"])
    for name, value in (("threshold_hz", threshold_hz), ("droop_pct", droop_pct)):
        values[name] = dataclasses.replace(section.param(name), value=value, source=source)
    return dataclasses.replace(params, lfsm_o=LfsmO(params.name, values))


def _lfsm_o_after(kind: str, build: Callable[[GridCodeParameters], tuple[dict[str, Any], float,
                                                                       float]],
                  station: Any, charger: Any, clock: Any, bench: Any, request: Any) -> None:
    """Send the ``kind`` setting ``build`` makes from the set, then run the LFSM-O procedure
    (discharging at rated power) judged against the threshold and droop it set."""
    _der.require_21(station, kind)
    params = s.params_of(station)
    sent, threshold, droop = build(params)
    judged = _with_lfsm_o(params, threshold, droop, source=f"SetDERControl {kind} (this test)")
    try:
        _lfsm("lfsm_o", s.OperatingPoint(-1.0), station, charger, clock, bench, request,
              params=judged, setup=lambda: _der.apply(charger, sent),
              name=f"{kind} {droop:g} % from {threshold:g} Hz, LFSM-O")
    finally:
        _der.clear(charger)


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@s.skips_unknown_parameters
def test_freq_droop_setting_followed(station, charger, clock, bench, request):
    """After a FreqDroop setting, the measured LFSM-O response follows the new droop and
    threshold (discharging at rated power)."""
    _lfsm_o_after("FreqDroop", _freq_droop_request, station, charger, clock, bench, request)


@pytest.mark.requires("bidirectional", "grid_emulator", "power_analyzer")
@s.skips_unknown_parameters
def test_freq_watt_setting_followed(station, charger, clock, bench, request):
    """After a FreqWatt (P(f)) curve steeper than the unit's own LFSM-O, the measured
    over-frequency response (discharging at rated power) follows the curve: open loop at Tr
    and the steady state on the curve's droop."""
    _lfsm_o_after("FreqWatt", _freq_watt_request, station, charger, clock, bench, request)
