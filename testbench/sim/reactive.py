"""Reactive power and voltage-related active power of a simulated bidirectional charger.

One :class:`ReactiveBehaviour` per power stage with grid-code behaviour
(:mod:`testbench.sim.gridcode`), built from the station's parameter set. It is switched to
a mode by OCPP 2.1 ``SetDERControl`` (:class:`DerControlHandlers`, the R block); until then
the unit runs at unity power factor with no P(U) limit. Modes (mutually exclusive, the last
one set wins):

* ``VoltVar`` -- Q(U): curve x = voltage in % of nominal, y = Q in % of the var rating
  (``PctMaxVar``; the var rating is taken as the rated power), positive = over-excited
  (injecting, generator convention, as IEEE 1547 volt-var);
* ``WattPF`` -- cos phi(P): x = export power in % of rated (``PctMaxW``), y = power factor,
  positive = absorbing reactive power (under-excited), as the OCPP 2.1 schema says;
  interpolated in "distance from unity" so that a curve 1.0 -> 0.90 passes 0.95 midway;
* ``FixedPFAbsorb`` / ``FixedPFInject`` -- fixed cos phi (``displacement``), under- or
  over-excited;
* ``FixedVar`` -- fixed Q, ``setpoint`` in % of the var rating, positive = injecting.

``VoltWatt`` (P(U)) is independent of them: the export (discharging) power is capped at
curve(U) x rated, x = voltage in % of nominal, y in % of rated (``PctMaxW``).
``FreqWatt`` (P(f)) likewise caps the export at curve(f) x rated, x = frequency in Hz
(verify against the OCPP 2.1 R use cases), y in % of rated (``PctMaxW``); with both, the
lower cap holds. The unit's own LFSM still acts: the export is the lower of the two.

Dynamics: first-order; tau = the curve's ``responseTime`` (90 %, "Tr") / ln 10, else the
set's ``three_tau_s`` / 3 (Q(U), P(U)) or ``cos_phi_p.settling_time_s`` / 3 (cos phi(P),
fixed values). Reactive power flows only while the stage delivers (contactor closed, supply
usable, not tripped); the converter is rated for cos phi 0.90 at rated power, so Q does not
limit P.

Sign at the measuring points: the plant reports reactive power like active power, + import
(absorbing, under-excited), so a measuring point reads ``-q_var`` of this module.

Faults: ``wrong-volt-var`` (the Q(U) response is half the curve's: slopes and limits
halved), ``no-reactive-power`` (accepts every Q setting and delivers none), ``qu-wrong-sign``
(the Q(U) response has the opposite sign: injects where the curve absorbs),
``ignores-freq-watt`` (accepts a FreqWatt curve and reports it, but never caps by it).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ocpp.routing import on  # type: ignore[import-untyped]

from instruments.twins.ports import PhaseSample, PointSample
from testbench.gridcode.params import Curve, GridCodeParameters

if TYPE_CHECKING:
    from testbench.sim.plant import PowerStage

log = logging.getLogger("testbench.sim")

REACTIVE_MODES = ("VoltVar", "WattPF", "FixedPFAbsorb", "FixedPFInject", "FixedVar")
EXPORT_CAPS = ("VoltWatt", "FreqWatt")
SUPPORTED = (*REACTIVE_MODES, *EXPORT_CAPS)
WRONG_VOLT_VAR_FACTOR = 0.5
SETTLED_VAR = 0.5
SETTLED_W = 0.5
DEFAULT_RESPONSE_S = 10.0
LN10 = math.log(10.0)


def _get(body: dict[str, Any], snake: str, camel: str, default: Any = None) -> Any:
    return body.get(snake, body.get(camel, default))


def _curve_points(curve: dict[str, Any]) -> list[tuple[float, float]]:
    data = _get(curve, "curve_data", "curveData", [])
    return sorted((float(p["x"]), float(p["y"])) for p in data)


def distance_from_unity(cos_phi_signed: float) -> float:
    """Signed cos phi (- under-excited) as a continuous coordinate: 0 at unity."""
    return math.copysign(1.0 - abs(cos_phi_signed), cos_phi_signed)


def q_for_pf(p_w: float, cos_phi_signed: float) -> float:
    """Q (generator convention) for |P| at a signed cos phi (- = under-excited)."""
    c = max(1e-6, min(1.0, abs(cos_phi_signed)))
    q = abs(p_w) * math.tan(math.acos(c))
    return q if cos_phi_signed > 0 else -q


@dataclass
class Control:
    """One DER control set by SetDERControl."""

    control_id: str
    control_type: str
    body: dict[str, Any]


@dataclass
class ReactiveBehaviour:
    """Q and the P(U) export cap of one power stage (see the module docstring)."""

    params: GridCodeParameters
    rated_w: float
    faults: tuple[str, ...] = ()
    controls: dict[str, Control] = field(default_factory=dict)
    q_var: float = 0.0
    export_cap_w: float = math.inf
    _mode: str | None = None
    _q_target_var: float = 0.0
    _cap_target_w: float = math.inf

    # ------------------------------------------------------------------ settings
    def set_control(self, control_id: str, control_type: str, body: dict[str, Any]) -> str:
        """Apply a SetDERControl; returns the status to answer."""
        if control_type not in SUPPORTED:
            return "NotSupported"
        if control_type in REACTIVE_MODES:
            for other in REACTIVE_MODES:
                self.controls.pop(other, None)
            self._mode = control_type
        self.controls[control_type] = Control(control_id, control_type, dict(body))
        log.info("DER control %s (%s) set", control_type, control_id)
        return "Accepted"

    def clear(self, control_id: str | None = None, control_type: str | None = None) -> str:
        """ClearDERControl by id, by type, or everything; returns the status to answer."""
        doomed = [k for k, c in self.controls.items()
                  if (control_id is None or c.control_id == control_id)
                  and (control_type is None or c.control_type == control_type)]
        for key in doomed:
            del self.controls[key]
            if key == self._mode:
                self._mode = None
        if not any(kind in self.controls for kind in EXPORT_CAPS):
            self.export_cap_w = math.inf
        return "Accepted" if doomed else "NotFound"

    @property
    def mode(self) -> str | None:
        return self._mode

    # ------------------------------------------------------------------ characteristics
    def _curve(self, control_type: str) -> Curve | None:
        control = self.controls.get(control_type)
        if control is None:
            return None
        points = _curve_points(control.body.get("curve") or {})
        return Curve(tuple(points)) if points else None

    def _tau_s(self, control_type: str, default_three_tau_s: float) -> float:
        control = self.controls.get(control_type)
        curve = (control.body.get("curve") or {}) if control else {}
        tr = _get(curve, "response_time", "responseTime")
        if tr is not None and float(tr) > 0:
            return float(tr) / LN10
        return max(1e-3, default_three_tau_s / 3.0)

    def target_q_var(self, u_pu: float, p_export_w: float) -> float:
        """Required Q (generator convention, var) at ``u_pu`` and the export power."""
        mode = self._mode
        if mode is None or "no-reactive-power" in self.faults:
            return 0.0
        control = self.controls[mode]
        if mode == "VoltVar":
            curve = self._curve(mode)
            if curve is None:
                return 0.0
            q = float(curve(u_pu * 100.0)) / 100.0 * self.rated_w
            q = -q if "qu-wrong-sign" in self.faults else q  # injects where it should absorb
            return q * WRONG_VOLT_VAR_FACTOR if "wrong-volt-var" in self.faults else q
        if mode == "WattPF":
            curve = self._curve(mode)
            if curve is None:
                return 0.0
            p_pct = max(0.0, p_export_w) / self.rated_w * 100.0
            # y: + absorbing -> signed cos phi (- under-excited) is -y; interpolate the
            # distance from unity, not the cos phi itself
            dist = Curve(tuple((x, distance_from_unity(-y)) for x, y in curve.points))
            d = float(dist(p_pct))
            cos_phi = math.copysign(1.0 - abs(d), d) if d != 0 else 1.0
            return q_for_pf(p_export_w, cos_phi)
        if mode in ("FixedPFAbsorb", "FixedPFInject"):
            key = "fixed_pf_absorb" if mode == "FixedPFAbsorb" else "fixed_pf_inject"
            camel = "fixedPFAbsorb" if mode == "FixedPFAbsorb" else "fixedPFInject"
            pf = _get(control.body, key, camel) or {}
            displacement = float(pf.get("displacement", 1.0))
            sign = -1.0 if mode == "FixedPFAbsorb" else 1.0
            return q_for_pf(p_export_w, sign * displacement)
        if mode == "FixedVar":
            var = _get(control.body, "fixed_var", "fixedVar") or {}
            return float(var.get("setpoint", 0.0)) / 100.0 * self.rated_w
        return 0.0

    def target_export_cap_w(self, u_pu: float, f_hz: float | None = None) -> float:
        """The cap on export power (W) at ``u_pu`` and ``f_hz``: the lower of the P(U)
        (VoltWatt) and P(f) (FreqWatt) curves; inf without either control."""
        return min(self._cap_by("VoltWatt", u_pu * 100.0), self._cap_by("FreqWatt", f_hz))

    def _cap_by(self, control_type: str, x: float | None) -> float:
        curve = self._curve(control_type)
        if curve is None or x is None or (control_type == "FreqWatt"
                                          and "ignores-freq-watt" in self.faults):
            return math.inf
        return max(0.0, float(curve(x)) / 100.0 * self.rated_w)

    def _cap_tau_s(self, u_pu: float, f_hz: float) -> float:
        """The time constant of the binding cap (FreqWatt: the set's LFSM-O Tr)."""
        if self._cap_by("FreqWatt", f_hz) < self._cap_by("VoltWatt", u_pu * 100.0):
            return self._tau_s("FreqWatt", self._seconds("lfsm_o.response_time_s") * 3.0
                               / LN10)
        return self._tau_s("VoltWatt", self._seconds("p_u.three_tau_s"))

    def _seconds(self, path: str) -> float:
        """A response time of the set; ``DEFAULT_RESPONSE_S`` where the set does not know it
        (the unit then answers as a typical converter would)."""
        value = self.params.value(path)
        return float(value.value) if value.known else DEFAULT_RESPONSE_S

    def _reactive_tau_s(self) -> float:
        if self._mode == "VoltVar":
            return self._tau_s("VoltVar", self._seconds("q_u.three_tau_s"))
        if self._mode == "WattPF":
            return self._tau_s("WattPF", self._seconds("cos_phi_p.settling_time_s"))
        return max(1e-3, self._seconds("cos_phi_p.settling_time_s") / 3.0)

    # ------------------------------------------------------------------ integration
    def advance(self, dt_s: float, stage: PowerStage, operating: bool) -> None:
        """Move Q and the P(U) cap towards their targets for ``dt_s`` lab seconds."""
        volts = [stage.node.phase_voltage_v(n) for n in range(stage.node.phases)]
        u_pu = max(volts) / stage.node.nominal_voltage_v if volts else 0.0
        f_hz = float(stage.node.frequency_hz)
        cap_target = self.target_export_cap_w(u_pu, f_hz)
        self._cap_target_w = cap_target
        if math.isinf(cap_target):
            self.export_cap_w = math.inf
        else:
            if math.isinf(self.export_cap_w):
                self.export_cap_w = max(cap_target, self.rated_w)
            tau = self._cap_tau_s(u_pu, f_hz)
            self.export_cap_w = cap_target + (self.export_cap_w - cap_target) * math.exp(
                -dt_s / tau)
        if not operating:
            self.q_var = self._q_target_var = 0.0
            return
        p_export_w = -stage.output_power_w()
        target = self.target_q_var(u_pu, p_export_w)
        self._q_target_var = target
        tau = self._reactive_tau_s()
        self.q_var = target + (self.q_var - target) * math.exp(-dt_s / tau)
        if abs(self.q_var - target) < 1e-3:
            self.q_var = target

    def busy(self) -> bool:
        """Whether a response is still moving (the plant then integrates finely)."""
        cap_moving = not math.isinf(self.export_cap_w) and abs(
            self.export_cap_w - self._cap_target_w) > SETTLED_W
        return cap_moving or abs(self.q_var - self._q_target_var) > SETTLED_VAR

    def phase_reactive_var(self, phases: int, active_phases: int) -> list[float]:
        """Reactive power per phase as measuring points read it (+ import = absorbing)."""
        n = max(1, min(phases, active_phases))
        return [-self.q_var / n if i < n else 0.0 for i in range(phases)]

    def describe(self) -> dict[str, object]:
        return {"mode": self._mode, "q_var": round(self.q_var, 1),
                "export_cap_w": None if math.isinf(self.export_cap_w)
                else round(self.export_cap_w, 1), "controls": sorted(self.controls)}


def _stage_reactive(stage: PowerStage, phases: int) -> list[float] | None:
    grid = stage.grid
    reactive = grid.reactive if grid is not None else None
    if reactive is None or reactive.q_var == 0.0:
        return None
    count = phases if stage.dc else max(1, stage._phases)
    return reactive.phase_reactive_var(phases, count)


def _add_reactive(sample: PointSample, per_phase_var: list[float]) -> PointSample:
    phases = []
    for phase, q in zip(sample.phases, per_phase_var, strict=True):
        v = phase.voltage_v
        if v <= 0 or q == 0.0:
            phases.append(phase)
            continue
        q_total = phase.reactive_var + q
        phases.append(PhaseSample(v, math.hypot(phase.power_w, q_total) / v, phase.power_w,
                                  q_total))
    return PointSample(sample.lab_s, tuple(phases), sample.frequency_hz,
                       sample.energy_import_wh, sample.energy_export_wh)


def with_reactive(sample: PointSample, stage: PowerStage, where: str) -> PointSample:
    """``sample`` of a measuring point with the stage's reactive power on its phases
    (+ import = absorbing) and the RMS currents grown to match; DC outlets carry none."""
    if where == "output" and stage.dc:
        return sample
    per_phase = _stage_reactive(stage, len(sample.phases))
    return sample if per_phase is None else _add_reactive(sample, per_phase)


def with_node_reactive(sample: PointSample, stages: list[PowerStage]) -> PointSample:
    """A grid node's ``sample`` with the reactive power of the stages it feeds."""
    total = [0.0] * len(sample.phases)
    for stage in stages:
        per_phase = _stage_reactive(stage, len(sample.phases))
        if per_phase is not None:
            total = [a + b for a, b in zip(total, per_phase, strict=True)]
    return _add_reactive(sample, total) if any(total) else sample


# ----------------------------------------------------------------------------- OCPP 2.1
def reactive_of(sim: Any) -> list[ReactiveBehaviour]:
    """The reactive behaviours of every power stage of a simulated charger."""
    out = []
    for conn in getattr(sim, "connectors", []):
        grid = getattr(conn.stage, "grid", None)
        if grid is not None and getattr(grid, "reactive", None) is not None:
            out.append(grid.reactive)
    return out


class DerControlHandlers:
    """Mixin for the 2.1 client: SetDERControl and ClearDERControl (R block)."""

    sim: Any
    _call_result: Any

    @on("SetDERControl")
    def on_set_der_control(self, is_default: bool, control_id: str, control_type: str,
                           **kwargs: Any) -> Any:
        behaviours = reactive_of(self.sim)
        if not behaviours:
            return self._call_result.SetDERControl(status="NotSupported")
        statuses = {b.set_control(control_id, str(control_type), kwargs) for b in behaviours}
        status = "Accepted" if statuses == {"Accepted"} else statuses.pop()
        return self._call_result.SetDERControl(status=status)

    @on("ClearDERControl")
    def on_clear_der_control(self, is_default: bool, control_type: str | None = None,
                             control_id: str | None = None, **_: Any) -> Any:
        behaviours = reactive_of(self.sim)
        statuses = {b.clear(control_id, None if control_type is None else str(control_type))
                    for b in behaviours}
        status = "Accepted" if "Accepted" in statuses else "NotFound"
        return self._call_result.ClearDERControl(status=status)


__all__ = ["REACTIVE_MODES", "SUPPORTED", "Control", "DerControlHandlers",
           "ReactiveBehaviour", "distance_from_unity", "q_for_pf", "reactive_of",
           "with_node_reactive", "with_reactive"]
