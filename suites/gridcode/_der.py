"""Grid-code settings written to the charger over OCPP 2.1 SetDERControl (R block).

Each builder turns a parameter-set value into a SetDERControl request (camelCase, checked
against the OCPP 2.1 schema by the CSMS). Conventions used (verify against the OCPP 2.1
specification's DER use cases, R01-R04):

* curve x axes in % of the nominal voltage (VoltVar, VoltWatt) or of rated power (WattPF);
* VoltVar y in ``PctMaxVar`` with the var rating taken as the rated power (the parameter
  sets give Q in pu of S_rated), positive = injecting (over-excited), as IEEE 1547 volt-var;
* WattPF y a power factor, positive = absorbing (under-excited), as the OCPP 2.1 schema
  says (the parameter sets' signed cos phi is negative when under-excited: y = -cos phi);
* ``responseTime`` is the 90 % open-loop response time Tr; for a first-order response with
  time constant tau (``3 tau`` in the sets) Tr = tau x ln 10.

Where the charger is not OCPP 2.1 the suites skip: the lab then configures the unit to the
parameter set by other means (SunSpec, the manufacturer's tool), which is not automated.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest

from testbench.errors import DeviceFailure
from testbench.gridcode.params import Curve, GridCodeParameters

PRIORITY = 0
CONTROL_PREFIX = "testbench-gridcode"


def tr_from_three_tau_s(three_tau_s: float) -> float:
    """90 % response time Tr of a first-order response given as 3 tau."""
    return three_tau_s / 3.0 * math.log(10.0)


def require_21(station: Any, what: str) -> None:
    """Skip (not applicable) unless the charger speaks OCPP 2.1."""
    if station.charger.ocpp_version != "2.1":
        pytest.skip(f"not applicable: {what} is set over OCPP 2.1 SetDERControl and the "
                    f"charger speaks {station.charger.ocpp_version}; configure the unit to the "
                    "parameter set by other means and run the scenario by hand")


def require_known(params: GridCodeParameters, *paths: str) -> None:
    """Skip (not applicable) when the set does not know a value the scenario needs."""
    unknown = [params.value(p) for p in paths if not params.value(p).known]
    if unknown:
        pytest.skip(f"not applicable: parameter set {params.name!r} does not know "
                    + "; ".join(f"{v.path}{' (' + v.note + ')' if v.note else ''}"
                                for v in unknown))


def _points(curve: Curve, x_factor: float, y_of: Any) -> list[dict[str, float]]:
    return [{"x": round(x * x_factor, 4), "y": round(float(y_of(y)), 4)}
            for x, y in curve.points]


def volt_var(params: GridCodeParameters) -> dict[str, Any]:
    """Q(U) curve of the set, response time from ``q_u.three_tau_s``."""
    return _request("VoltVar", curve={
        "priority": PRIORITY, "yUnit": "PctMaxVar",
        "curveData": _points(params.q_u.curve, 100.0, lambda q: q * 100.0),
        "responseTime": round(tr_from_three_tau_s(float(params.q_u.three_tau_s)), 3)})


def watt_pf(params: GridCodeParameters) -> dict[str, Any]:
    """cos phi(P) curve of the set (x: export power in % of rated)."""
    return _request("WattPF", curve={
        "priority": PRIORITY, "yUnit": "Not_Applicable",
        "curveData": _points(params.cos_phi_p.curve, 100.0, lambda c: -c)})


def volt_watt(params: GridCodeParameters) -> dict[str, Any]:
    """P(U) curve of the set, response time from ``p_u.three_tau_s``."""
    return _request("VoltWatt", curve={
        "priority": PRIORITY, "yUnit": "PctMaxW",
        "curveData": _points(params.p_u.curve, 100.0, lambda p: p * 100.0),
        "responseTime": round(tr_from_three_tau_s(float(params.p_u.three_tau_s)), 3)})


def freq_watt(threshold_hz: float, droop_pct: float, nominal_hz: float,
              response_time_s: float) -> dict[str, Any]:
    """An over-frequency P(f) curve as a FreqWatt control: 100 % of rated up to
    ``threshold_hz``, falling along ``droop_pct`` (0 % at threshold + droop x f_n) and 0 %
    beyond (x in Hz, y in % of rated, ``PctMaxW``; axes (verify) against the OCPP 2.1 R
    use cases)."""
    zero_hz = threshold_hz + droop_pct / 100.0 * nominal_hz
    points = [(nominal_hz - 5.0, 100.0), (threshold_hz, 100.0), (zero_hz, 0.0),
              (max(zero_hz, nominal_hz + 5.0) + 0.1, 0.0)]
    return _request("FreqWatt", curve={
        "priority": PRIORITY, "yUnit": "PctMaxW",
        "curveData": [{"x": round(x, 4), "y": round(y, 4)} for x, y in points],
        "responseTime": round(response_time_s, 3)})


def fixed_pf(cos_phi: float, *, under_excited: bool) -> dict[str, Any]:
    """Fixed cos phi, absorbing (under-excited) or injecting."""
    key, kind = ("fixedPFAbsorb", "FixedPFAbsorb") if under_excited else ("fixedPFInject",
                                                                         "FixedPFInject")
    return _request(kind, **{key: {"priority": PRIORITY, "displacement": round(cos_phi, 4),
                                   "excitation": not under_excited}})


def fixed_var(q_pct_of_rated: float) -> dict[str, Any]:
    """Fixed Q in % of the var rating (= rated power), + injecting."""
    return _request("FixedVar", fixedVar={"priority": PRIORITY,
                                          "setpoint": round(q_pct_of_rated, 3),
                                          "unit": "PctMaxVar"})


def freq_droop(over_hz: float, under_hz: float, over_droop_pct: float, under_droop_pct: float,
               response_time_s: float) -> dict[str, Any]:
    """LFSM-O / LFSM-U settings as a FreqDroop control (droops per unit: 0.05 = 5 %, as
    IEEE 1547 kOF / kUF; verify against the OCPP 2.1 R use cases)."""
    return _request("FreqDroop", freqDroop={
        "priority": PRIORITY, "overFreq": round(over_hz, 4), "underFreq": round(under_hz, 4),
        "overDroop": round(over_droop_pct / 100.0, 5),
        "underDroop": round(under_droop_pct / 100.0, 5),
        "responseTime": round(response_time_s, 3)})


def _request(control_type: str, **setting: Any) -> dict[str, Any]:
    return {"isDefault": False, "controlId": f"{CONTROL_PREFIX}-{control_type}",
            "controlType": control_type, **setting}


def apply(charger: Any, request: dict[str, Any]) -> None:
    """Send the setting; skip (not applicable) when the charger does not support it."""
    try:
        answer = charger.call("SetDERControl", request)
    except Exception as error:  # noqa: BLE001 - a CALLERROR: the charger has no R block
        pytest.skip(f"not applicable: SetDERControl {request['controlType']} failed ({error})")
    status = answer.get("status")
    if status == "NotSupported":
        pytest.skip(f"not applicable: the charger does not support {request['controlType']} "
                    "(SetDERControl NotSupported)")
    if status != "Accepted":
        raise DeviceFailure(f"SetDERControl {request['controlType']} was answered {status!r}; "
                            f"a compliant unit accepts the parameter set's setting")


def clear(charger: Any) -> None:
    """Remove every DER control this suite set (whatever happened)."""
    with contextlib.suppress(Exception):
        charger.call("ClearDERControl", {"isDefault": False})
