"""OCPP 2.1 ``FreqDroop`` DER control of a simulated bidirectional charger, mapped onto its
LFSM settings (:mod:`testbench.sim.gridcode`).

``SetDERControl`` with ``controlType = FreqDroop`` writes the LFSM-O and LFSM-U settings of
every power stage of the charger (the seam ``GridBehaviour.lfsm_settings``, also written by
SunSpec 711): ``overFreq`` -> ``lfsm_o.threshold_hz``, ``underFreq`` -> ``lfsm_u.threshold_hz``,
``overDroop`` / ``underDroop`` (per unit, IEEE 1547 ``kOF`` / ``kUF``: 0.05 = 5 %; verify
against the OCPP 2.1 R use cases) -> ``droop_pct``, ``responseTime`` (s, 90 % open loop;
0 keeps the unit's own) -> ``response_time_s``. The control is kept beside the reactive
ones (``ReactiveBehaviour.controls``) so ClearDERControl and GetDERControl see it; clearing
it returns the LFSM settings to the parameter set's (a value written over SunSpec meanwhile
goes with it: the unit has one setting); clearing other controls leaves them alone. A setting outside what a unit can do (a threshold on
the wrong side of nominal, a droop <= 0) is answered ``Rejected``. ``FreqWatt`` is an
export cap kept by :mod:`testbench.sim.reactive`.

Every control's ``isDefault`` is kept in its body (``is_default``) for the read-back
(:mod:`testbench.sim.der_report`).
"""

from __future__ import annotations

import logging
from typing import Any

from ocpp.routing import on  # type: ignore[import-untyped]

from testbench.sim.reactive import Control, DerControlHandlers, reactive_of

log = logging.getLogger("testbench.sim")

FREQ_DROOP = "FreqDroop"
LFSM_KEYS = ("threshold_hz", "droop_pct", "response_time_s")


def grids_of(sim: Any) -> list[Any]:
    """The grid behaviours (``GridBehaviour``) of every power stage of a simulated charger."""
    out = []
    for conn in getattr(sim, "connectors", []):
        grid = getattr(conn.stage, "grid", None)
        if grid is not None and getattr(grid, "reactive", None) is not None:
            out.append(grid)
    return out


def lfsm_values(freq_droop: dict[str, Any], nominal_hz: float
                ) -> dict[str, dict[str, float]] | None:
    """LFSM settings by mode from a FreqDroop body (snake_case keys); None when a value is
    missing or not physically meaningful."""
    try:
        over_hz = float(freq_droop["over_freq"])
        under_hz = float(freq_droop["under_freq"])
        over_pu = float(freq_droop["over_droop"])
        under_pu = float(freq_droop["under_droop"])
        tr_s = float(freq_droop["response_time"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (over_hz > nominal_hz > under_hz) or over_pu <= 0 or under_pu <= 0 or tr_s < 0:
        return None
    timing = {"response_time_s": tr_s} if tr_s > 0 else {}
    return {"lfsm_o": {"threshold_hz": over_hz, "droop_pct": over_pu * 100.0, **timing},
            "lfsm_u": {"threshold_hz": under_hz, "droop_pct": under_pu * 100.0, **timing}}


def set_freq_droop(grid: Any, control_id: str, body: dict[str, Any]) -> str:
    """Apply a FreqDroop control to one grid behaviour; returns the status to answer."""
    settings = getattr(grid, "lfsm_settings", None)
    if settings is None:
        return "NotSupported"
    values = lfsm_values(body.get("freq_droop") or {}, float(grid.nominal_hz))
    if values is None:
        return "Rejected"
    for mode, written in values.items():
        settings.setdefault(mode, {}).update(written)
    grid.reactive.controls[FREQ_DROOP] = Control(control_id, FREQ_DROOP, dict(body))
    log.info("DER control FreqDroop (%s) set: %s", control_id, values)
    return "Accepted"


def forget_freq_droop(grid: Any) -> None:
    """The FreqDroop control is gone: LFSM settings back to the parameter set's."""
    settings = getattr(grid, "lfsm_settings", None)
    if settings is None or FREQ_DROOP in grid.reactive.controls:
        return
    for mode in ("lfsm_o", "lfsm_u"):
        for key in LFSM_KEYS:
            settings.get(mode, {}).pop(key, None)


class FrequencyControlHandlers(DerControlHandlers):
    """Mixin for the 2.1 client in place of :class:`DerControlHandlers`: FreqDroop here,
    every other control type through the reactive handlers; ``isDefault`` kept."""

    @on("SetDERControl")
    def on_set_der_control(self, is_default: bool, control_id: str, control_type: str,
                           **kwargs: Any) -> Any:
        kind = str(control_type)
        if kind == FREQ_DROOP:
            grids = grids_of(self.sim)
            body = {**kwargs, "is_default": bool(is_default)}
            statuses = {set_freq_droop(g, control_id, body) for g in grids} or {"NotSupported"}
            status = "Accepted" if statuses == {"Accepted"} else min(statuses - {"Accepted"})
            return self._call_result.SetDERControl(status=status)
        answer = DerControlHandlers.on_set_der_control(self, is_default, control_id, kind,
                                                       **kwargs)
        if answer.status == "Accepted":
            for behaviour in reactive_of(self.sim):
                control = behaviour.controls.get(kind)
                if control is not None:
                    control.body["is_default"] = bool(is_default)
        return answer

    @on("ClearDERControl")
    def on_clear_der_control(self, is_default: bool, control_type: str | None = None,
                             control_id: str | None = None, **kwargs: Any) -> Any:
        grids = [g for g in grids_of(self.sim) if FREQ_DROOP in g.reactive.controls]
        answer = DerControlHandlers.on_clear_der_control(self, is_default, control_type,
                                                         control_id, **kwargs)
        for grid in grids:  # only where this clear removed a FreqDroop (SunSpec 711 stays)
            forget_freq_droop(grid)
        return answer


__all__ = ["FREQ_DROOP", "FrequencyControlHandlers", "forget_freq_droop", "grids_of",
           "lfsm_values", "set_freq_droop"]
