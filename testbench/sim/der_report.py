"""OCPP 2.1 read-back of DER controls: ``GetDERControl`` answered, then one
``ReportDERControl`` listing the selected controls, of a simulated bidirectional charger.

The controls are the ones ``SetDERControl`` left in force (``ReactiveBehaviour.controls`` of
the charger's first power stage: reactive modes, VoltWatt, FreqDroop); a request selects by
``controlId``, ``controlType`` and ``isDefault`` (every criterion given must hold). Answer
``Accepted`` when one matches (then the report follows), else ``NotFound``. Each control is
reported as it was set (curve, fixed PF, fixed var, droop; camelCase), ``isSuperseded``
false (the unit keeps one control per type: the last set wins).

Fault ``der-report-differs``: the report is not what was set -- every number of a curve's
points and of a setpoint or droop is reported ``DIFFERS_FACTOR`` times its value, a
displacement divided by it (the unit's behaviour is unchanged).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from ocpp.routing import after, on  # type: ignore[import-untyped]

from testbench.sim.reactive import Control, reactive_of

FAULT = "der-report-differs"
DIFFERS_FACTOR = 1.2
CURVE_TYPES = frozenset({"FreqWatt", "HFMustTrip", "HFMayTrip", "HVMustTrip", "HVMomCess",
                         "HVMayTrip", "LFMustTrip", "LVMustTrip", "LVMomCess", "LVMayTrip",
                         "PowerMonitoringMustTrip", "VoltVar", "VoltWatt", "WattPF", "WattVar"})
# control type -> (report list key, key of the setting in the body (snake), in the report)
SETTINGS = {"FixedPFAbsorb": ("fixedPFAbsorb", "fixed_pf_absorb", "fixedPF"),
            "FixedPFInject": ("fixedPFInject", "fixed_pf_inject", "fixedPF"),
            "FixedVar": ("fixedVar", "fixed_var", "fixedVar"),
            "FreqDroop": ("freqDroop", "freq_droop", "freqDroop"),
            "LimitMaxDischarge": ("limitMaxDischarge", "limit_max_discharge",
                                  "limitMaxDischarge"),
            "EnterService": ("enterService", "enter_service", "enterService"),
            "Gradients": ("gradient", "gradient", "gradient")}
SCALED = frozenset({"y", "setpoint", "displacement", "overDroop", "underDroop", "pctMaxDischarge"})


@dataclass
class ReportDERControl:
    """The 2.1 ReportDERControl CALL with camelCase fields: the ocpp package would turn
    ``fixed_pf_absorb`` into ``fixedPfAbsorb``, which the schema rejects."""

    requestId: int
    curve: list[dict[str, Any]] | None = None
    fixedPFAbsorb: list[dict[str, Any]] | None = None
    fixedPFInject: list[dict[str, Any]] | None = None
    fixedVar: list[dict[str, Any]] | None = None
    freqDroop: list[dict[str, Any]] | None = None
    limitMaxDischarge: list[dict[str, Any]] | None = None
    enterService: list[dict[str, Any]] | None = None
    gradient: list[dict[str, Any]] | None = None
    tbc: bool | None = None


def camel(data: Any) -> Any:
    """snake_case keys (as the ocpp package hands a handler its request) back to camelCase."""
    if isinstance(data, dict):
        return {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k): camel(v)
                for k, v in data.items()}
    if isinstance(data, list):
        return [camel(v) for v in data]
    return data


def _scaled(data: Any, factor: float) -> Any:
    """``data`` with every number under a key of SCALED multiplied by ``factor`` (a
    displacement divided, so it stays a power factor)."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in SCALED and isinstance(value, int | float) and not isinstance(value, bool):
                value = value / factor if key == "displacement" else value * factor
            out[key] = _scaled(value, factor)
        return out
    if isinstance(data, list):
        return [_scaled(v, factor) for v in data]
    return data


def selected(controls: dict[str, Control], control_id: str | None, control_type: str | None,
             is_default: bool | None) -> list[Control]:
    """The controls a GetDERControl request selects."""
    return [c for c in controls.values()
            if (control_id is None or c.control_id == control_id)
            and (control_type is None or c.control_type == control_type)
            and (is_default is None or bool(c.body.get("is_default", False)) == is_default)]


def report_entries(controls: list[Control], differs: bool = False) -> dict[str, list[Any]]:
    """ReportDERControl fields (camelCase) listing ``controls``."""
    fields: dict[str, list[Any]] = {}
    for control in sorted(controls, key=lambda c: (c.control_type, c.control_id)):
        head = {"id": control.control_id, "isDefault": bool(control.body.get("is_default", False)),
                "isSuperseded": False}
        if control.control_type in CURVE_TYPES:
            setting = camel(copy.deepcopy(control.body.get("curve") or {}))
            entry = {**head, "curveType": control.control_type, "curve": setting}
            fields.setdefault("curve", []).append(entry)
            continue
        if control.control_type not in SETTINGS:
            continue
        key, body_key, inner = SETTINGS[control.control_type]
        setting = camel(copy.deepcopy(control.body.get(body_key) or {}))
        fields.setdefault(key, []).append({**head, inner: setting})
    return _scaled(fields, DIFFERS_FACTOR) if differs else fields


class DerReportHandlers:
    """Mixin for the 2.1 client: GetDERControl and the ReportDERControl that follows."""

    sim: Any
    _call_result: Any

    def _der_controls(self) -> dict[str, Control]:
        behaviours = reactive_of(self.sim)
        return behaviours[0].controls if behaviours else {}

    @on("GetDERControl")
    def on_get_der_control(self, request_id: int, control_id: str | None = None,
                           control_type: str | None = None, is_default: bool | None = None,
                           **_: Any) -> Any:
        found = selected(self._der_controls(), control_id,
                         None if control_type is None else str(control_type), is_default)
        return self._call_result.GetDERControl(status="Accepted" if found else "NotFound")

    @after("GetDERControl")
    def after_get_der_control(self, request_id: int, control_id: str | None = None,
                              control_type: str | None = None, is_default: bool | None = None,
                              **_: Any) -> None:
        found = selected(self._der_controls(), control_id,
                         None if control_type is None else str(control_type), is_default)
        if not found:
            return
        fields = report_entries(found, differs=self.sim.has(FAULT))
        report: dict[str, Any] = {"requestId": int(request_id), **fields}
        self.sim.post(ReportDERControl(**report))


__all__ = ["DIFFERS_FACTOR", "FAULT", "DerReportHandlers", "ReportDERControl", "camel",
           "report_entries", "selected"]
