"""A simulated bidirectional charger's SunSpec Modbus TCP DER settings interface.

One server per ``der_settings`` instrument of the lab file (driver ``sunspec-der``), bound
to a charger connector whose power stage has grid-code behaviour
(:mod:`testbench.sim.gridcode`). The map, at base 40000 behind the ``SunS`` marker, holds
models 1 (common), 701 (DER AC measurement), 704 (DER AC controls), 705 (volt-var, 2 curves
of ``N_POINTS`` points: curve 1 the active one, read-only) and 711 (frequency droop, 2
controls: control 1 active, read-only), then the end block; point layouts are the driver's
(:mod:`instruments.drivers.sunspec_der`, from the public SunSpec model definitions).

Writes change the same settings as OCPP 2.1 SetDERControl (:func:`apply_settings`, one
function for both hooks):

* 704 ``PFWInjEna`` with ``PFWInj.PF`` / ``PFWInj.Ext`` -> fixed cos phi (``FixedPFInject`` /
  ``FixedPFAbsorb`` of :class:`testbench.sim.reactive.ReactiveBehaviour`); ``VarSetEna`` with
  ``VarSetPct`` (``VarSetMod`` VAR_MAX_PCT) -> fixed Q (``FixedVar``). Enabling both, or
  what the simulated unit does not model (``PFWAbsEna``, ``WMaxLimPctEna``, ``WSetEna``), is
  refused with exception 3 (illegal data value);
* 705 stored curve 2 adopted by ``AdptCrvReq`` = 2 (checked: 2..NPt active points, rising
  voltages; result in ``AdptCrvRslt``) becomes curve 1; ``Ena`` = 1 -> ``VoltVar`` with
  curve 1 (x V in % of nominal, y Q in % of the var rating, + injecting);
* 711 control 2 adopted by ``AdptCtlReq`` = 2 becomes control 1; ``Ena`` = 1 -> LFSM-O /
  LFSM-U of :class:`testbench.sim.gridcode.GridBehaviour` at threshold f_n +- ``DbOf`` /
  ``DbUf``, droop ``KOf`` / ``KUf`` x 100 %, response time ``RspTms``; ``Ena`` = 0 returns
  the unit to its parameter set (LFSM-O is mandatory under EN 50549: not switched off).

Writes of read-only points get exception 2 (illegal data address). Reads follow the unit:
a setting replaced or cleared over OCPP reads back disabled, and a reactive setting made over
OCPP (VoltVar, FixedPF*, FixedVar) reads back in 704 / 705 (curve 1) as enabled. Model 701
reports the connector's supply side (W, var + injecting; PF signed like W) (verify).

Fault personalities (on the charger): ``sunspec-ignores-writes``: writes are stored and
read back, but never reach the power stage; ``sunspec-drops-sign``: signed points (fixed Q,
the volt-var curve's Q) are stored, read back and applied without their sign.
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

from pymodbus.constants import ExcCodes

from instruments.drivers.sunspec_der import (
    ADOPT_COMPLETED,
    ADOPT_FAILED,
    ENABLED,
    END_ID,
    MARKER,
    UNDER_EXCITED,
    VAR_MAX_PCT,
    Point,
    decode,
    encode,
    layout,
    model_length,
)
from instruments.twins.modbus_server import ModbusTwin
from testbench.sim.plant import Plant, PowerStage

log = logging.getLogger("testbench.sim")

BASE = 40000
N_CURVES = 2
N_POINTS = 8
N_CONTROLS = 2
IGNORES_WRITES = "sunspec-ignores-writes"
DROPS_SIGN = "sunspec-drops-sign"
CONTROL_704 = "sunspec-704"
CONTROL_705 = "sunspec-705"
SCALE_FACTORS: dict[int, dict[str, int]] = {
    701: {"A_SF": -1, "V_SF": -1, "Hz_SF": -3, "W_SF": 0, "PF_SF": -3, "VA_SF": 0,
          "Var_SF": 0, "TotWh_SF": 0, "TotVarh_SF": 0},
    704: {"PF_SF": -3, "WMaxLimPct_SF": 0, "WSet_SF": 0, "WSetPct_SF": 0, "VarSet_SF": 0,
          "VarSetPct_SF": -1},
    705: {"V_SF": -1, "DeptRef_SF": -1, "RspTms_SF": -1},
    711: {"Db_SF": -3, "K_SF": -3, "RspTms_SF": -1},
}
UNSUPPORTED_704 = ("PFWAbsEna", "WMaxLimPctEna", "WSetEna")
COUNTS = {705: {"NCrv": N_CURVES, "NPt": N_POINTS}, 711: {"NCtl": N_CONTROLS}}


# ----------------------------------------------------------------------------- the hook
def apply_settings(stage: PowerStage, control_id: str, control_type: str | None,
                   body: dict[str, Any] | None = None) -> None:
    """Give the stage's grid behaviour a setting as SetDERControl would (``control_type``
    a reactive mode of :mod:`testbench.sim.reactive`, or ``"FreqDroop"`` with ``body`` the
    LFSM settings by mode), or take the setting ``control_id`` away (``control_type`` None).
    """
    grid = stage.grid
    if grid is None:
        return
    if control_type == "FreqDroop":
        grid.lfsm_settings = dict(body or {})
    elif control_type is None and control_id == "FreqDroop":
        grid.lfsm_settings = {}
    elif grid.reactive is not None:
        if control_type is None:
            grid.reactive.clear(control_id=control_id)
        else:
            grid.reactive.set_control(control_id, control_type, dict(body or {}))


class SunSpecTwin(ModbusTwin):
    """The charger's SunSpec DER settings server for one connector."""

    def __init__(self, plant: Plant, stage: PowerStage, charger: Any = None) -> None:
        self.plant = plant
        self.stage = stage
        self.charger = charger
        self.blocks: dict[int, int] = {}  # model id -> address of its ID register
        self.points: dict[int, dict[str, Point]] = {}
        self._owner: dict[int, tuple[int, Point]] = {}  # register -> (model, point)
        address = BASE + 2
        for model_id in (1, 701, 704, 705, 711):
            self.blocks[model_id] = address
            self.points[model_id] = layout(model_id, COUNTS.get(model_id))
            address += 2 + model_length(model_id, COUNTS.get(model_id))
        self.end = address
        super().__init__(coil_count=0, holding_start=BASE, holding_count=self.end + 2 - BASE,
                         identity=None)
        self._applied: dict[int, tuple[str | None, str]] = {}
        self._fill()

    # ------------------------------------------------------------------ register image
    def _fill(self) -> None:
        self.holding[BASE], self.holding[BASE + 1] = MARKER
        for model_id, start in self.blocks.items():
            for point in self.points[model_id].values():
                for n in range(point.size):
                    self._owner[start + point.offset + n] = (model_id, point)
                default = 0 if point.kind.startswith("str") or point.kind == "u64" else (
                    {"u16": 0xFFFF, "e16": 0xFFFF, "s16": -0x8000, "sf": -0x8000,
                     "pad": -0x8000, "u32": 0xFFFFFFFF, "bf32": 0xFFFFFFFF,
                     "s32": -0x80000000}[point.kind])
                self.store(model_id, point.name, default)
            self.store(model_id, "ID", model_id)
            self.store(model_id, "L", model_length(model_id, COUNTS.get(model_id)))
            for name, sf in SCALE_FACTORS.get(model_id, {}).items():
                self.store(model_id, name, sf)
        self.holding[self.end], self.holding[self.end + 1] = END_ID, 0
        spec = self.charger.spec if self.charger is not None else None
        self.store(1, "Mn", spec.vendor if spec else "testbench")
        self.store(1, "Md", spec.model if spec else "V2G charger")
        self.store(1, "Vr", spec.firmware if spec else "1.0")
        self.store(1, "SN", f"{self.stage.spec.id}-{self.stage.evse_id}")
        self.store(1, "DA", 1)
        self.store(701, "ACType", 2)
        for name in ("PFWInjEna", "PFWInjEnaRvrt", "PFWAbsEna", "PFWAbsEnaRvrt",
                     "WMaxLimPctEna", "WMaxLimPctEnaRvrt", "WSetEna", "WSetEnaRvrt",
                     "VarSetEna", "VarSetEnaRvrt", "AntiIslEna", "PFWInj.Ext", "PFWAbs.Ext"):
            self.store(704, name, 0)
        self.store(704, "PFWInj.PF", 1000)
        self.store(704, "PFWAbs.PF", 1000)
        self.store(704, "VarSetMod", VAR_MAX_PCT)
        self.store(704, "VarSetPct", 0)
        self._fill_curves()

    def _fill_curves(self) -> None:
        params = self.stage.grid.params if self.stage.grid is not None else None
        for name in ("Ena", "AdptCrvReq", "RvrtCrv"):
            self.store(705, name, 0)
        self.store(705, "AdptCrvRslt", ADOPT_COMPLETED)
        self.store(705, "NPt", N_POINTS)
        self.store(705, "NCrv", N_CURVES)
        points: list[tuple[float, float]] = []
        tr_s = 0.0
        if params is not None and params.value("q_u.curve").known:
            points = [(x * 100.0, y * 100.0) for x, y in params.q_u.curve.points][:N_POINTS]
            if params.value("q_u.three_tau_s").known:
                tr_s = float(params.q_u.three_tau_s) / 3.0 * math.log(10.0)
        for c in range(1, N_CURVES + 1):
            crv = f"Crv[{c}]"
            self.store(705, f"{crv}.ActPt", len(points))
            self.store(705, f"{crv}.DeptRef", VAR_MAX_PCT)
            self.store(705, f"{crv}.Pri", 1)
            self.store(705, f"{crv}.RspTms", round(tr_s * 10))
            self.store(705, f"{crv}.ReadOnly", 1 if c == 1 else 0)
            for n, (v, q) in enumerate(points, start=1):
                self.store(705, f"{crv}.Pt[{n}].V", round(v * 10))
                self.store(705, f"{crv}.Pt[{n}].Var", round(q * 10))
        for name in ("Ena", "AdptCtlReq", "RvrtCtl"):
            self.store(711, name, 0)
        self.store(711, "AdptCtlRslt", ADOPT_COMPLETED)
        self.store(711, "NCtl", N_CONTROLS)
        if params is None:
            return
        f_n = float(params.nominal.frequency_hz)
        for c in range(1, N_CONTROLS + 1):
            ctl = f"Ctl[{c}]"
            self.store(711, f"{ctl}.DbOf", round((float(params.lfsm_o.threshold_hz) - f_n) * 1000))
            self.store(711, f"{ctl}.DbUf", round((f_n - float(params.lfsm_u.threshold_hz)) * 1000))
            self.store(711, f"{ctl}.KOf", round(float(params.lfsm_o.droop_pct) * 10))
            self.store(711, f"{ctl}.KUf", round(float(params.lfsm_u.droop_pct) * 10))
            self.store(711, f"{ctl}.RspTms", round(float(params.lfsm_o.response_time_s) * 10))
            self.store(711, f"{ctl}.PMin", -100)
            self.store(711, f"{ctl}.ReadOnly", 1 if c == 1 else 0)

    def store(self, model_id: int, name: str, raw: int | str) -> None:
        """Store a point's raw value."""
        point = self.points[model_id][name]
        start = self.blocks[model_id] + point.offset
        for n, word in enumerate(encode(point.kind, raw)):
            self.holding[start + n] = word

    def load(self, model_id: int, name: str) -> int | str:
        """A point's raw value."""
        point = self.points[model_id][name]
        start = self.blocks[model_id] + point.offset
        return decode(point.kind, [self.holding.get(start + n, 0) for n in range(point.size)])

    def value(self, model_id: int, name: str) -> float:
        """A point's scaled value."""
        point = self.points[model_id][name]
        sf = int(self.load(model_id, point.sf)) if point.sf else 0
        return float(self.load(model_id, name)) * 10.0 ** sf

    @property
    def ignoring(self) -> bool:
        return self.charger is not None and self.charger.has(IGNORES_WRITES)

    # ------------------------------------------------------------------ reads
    def before_read(self, address: int, count: int) -> None:
        sample = self.plant.point_sample(self.stage, "input")
        p_inj = -sample.power_w
        q_inj = -sample.reactive_var
        s_va = math.hypot(p_inj, q_inj)
        pf = abs(p_inj) / s_va if s_va > 1.0 else 1.0
        volts = [ph.voltage_v for ph in sample.phases]
        self.store(701, "W", round(p_inj))
        self.store(701, "Var", round(q_inj))
        self.store(701, "VA", round(s_va))
        self.store(701, "PF", round(math.copysign(pf, p_inj if p_inj else 1.0) * 1000))
        self.store(701, "A", round(sum(ph.current_a for ph in sample.phases) * 10))
        self.store(701, "LNV", round((sum(volts) / len(volts) if volts else 0.0) * 10))
        self.store(701, "Hz", round(sample.frequency_hz * 1000))
        grid = self.stage.grid
        self.store(701, "St", 1)
        self.store(701, "ConnSt", 0 if grid is not None and grid.tripped else 1)
        for n, ph in enumerate(sample.phases[:3], start=1):
            self.store(701, f"WL{n}", round(-ph.power_w))
            self.store(701, f"VarL{n}", round(-ph.reactive_var))
            self.store(701, f"VL{n}", round(ph.voltage_v * 10))
        if not self.ignoring:
            self._sync_enables()

    def _sync_enables(self) -> None:
        """Enables read back what the unit does (a setting cleared over OCPP is off)."""
        reactive = self.stage.grid.reactive if self.stage.grid is not None else None
        if reactive is None:
            return
        ours = {c.control_id for c in reactive.controls.values()}
        if CONTROL_704 not in ours:
            self.store(704, "PFWInjEna", 0)
            self.store(704, "VarSetEna", 0)
            self._applied.pop(704, None)
        if CONTROL_705 not in ours:
            self.store(705, "Ena", 0)
            self._applied.pop(705, None)
        if self.stage.grid is not None and not self.stage.grid.lfsm_settings:
            self.store(711, "Ena", 0)  # cleared (e.g. ClearDERControl FreqDroop)
            self._applied.pop(711, None)
        mode = reactive.mode
        control = reactive.controls.get(mode) if mode is not None else None
        if control is not None and control.control_id not in (CONTROL_704, CONTROL_705):
            self._mirror(control.control_type, control.body)

    def _mirror(self, control_type: str, body: dict[str, Any]) -> None:
        """A reactive setting made over OCPP shows in 704 / 705 (one unit, one setting)."""
        sign = abs if self.charger is not None and self.charger.has(DROPS_SIGN) else (
            lambda v: v)
        if control_type == "VoltVar":
            curve = body.get("curve") or {}
            data = sorted((float(p["x"]), float(p["y"]))
                          for p in curve.get("curve_data", curve.get("curveData", [])))
            data = data[:N_POINTS]
            self.store(705, "Crv[1].ActPt", len(data))
            for n, (v, q) in enumerate(data, start=1):
                self.store(705, f"Crv[1].Pt[{n}].V", round(v * 10))
                self.store(705, f"Crv[1].Pt[{n}].Var", round(sign(q) * 10))
            tr = curve.get("response_time", curve.get("responseTime"))
            if tr is not None:
                self.store(705, "Crv[1].RspTms", round(float(tr) * 10))
            self.store(705, "Ena", ENABLED)
        elif control_type in ("FixedPFAbsorb", "FixedPFInject"):
            absorb = control_type == "FixedPFAbsorb"
            pf = body.get("fixed_pf_absorb" if absorb else "fixed_pf_inject",
                          body.get("fixedPFAbsorb" if absorb else "fixedPFInject")) or {}
            self.store(704, "PFWInj.PF", round(float(pf.get("displacement", 1.0)) * 1000))
            self.store(704, "PFWInj.Ext", UNDER_EXCITED if absorb else 0)
            self.store(704, "PFWInjEna", ENABLED)
        elif control_type == "FixedVar":
            var = body.get("fixed_var", body.get("fixedVar")) or {}
            self.store(704, "VarSetMod", VAR_MAX_PCT)
            self.store(704, "VarSetPct", round(sign(float(var.get("setpoint", 0.0))) * 10))
            self.store(704, "VarSetEna", ENABLED)

    # ------------------------------------------------------------------ writes
    def on_write_registers(self, address: int, values: list[int]) -> ExcCodes | None:
        touched: dict[int, set[str]] = {}
        for a in range(address, address + len(values)):
            owner = self._owner.get(a)
            if owner is None or not owner[1].writable or owner[1].name.startswith(
                    ("Crv[1].", "Ctl[1].")):
                return ExcCodes.ILLEGAL_ADDRESS
            touched.setdefault(owner[0], set()).add(owner[1].name)
        if self.charger is not None and self.charger.has(DROPS_SIGN):
            for model_id, names in touched.items():
                for name in names:
                    raw = self.load(model_id, name)
                    if self.points[model_id][name].kind in ("s16", "s32") and isinstance(
                            raw, int) and raw < 0 and raw not in (-0x8000, -0x80000000):
                        self.store(model_id, name, -raw)
        for model_id, names in touched.items():
            code = self._write(model_id, names)
            if code is not None:
                return code
        return None

    def _write(self, model_id: int, names: set[str]) -> ExcCodes | None:
        for name in names:
            if (name.endswith(("Ena", "EnaRvrt", ".Ext"))
                    and self.load(model_id, name) not in (0, 1)):
                return ExcCodes.ILLEGAL_VALUE
        if model_id == 704:
            return self._write_704()
        if model_id == 705 and "AdptCrvReq" in names:
            return self._adopt(705, "AdptCrvReq", "AdptCrvRslt", "Crv", N_CURVES,
                               self._curve_ok)
        if model_id == 711 and "AdptCtlReq" in names:
            return self._adopt(711, "AdptCtlReq", "AdptCtlRslt", "Ctl", N_CONTROLS,
                               self._control_ok)
        self._apply(model_id)
        return None

    def _write_704(self) -> ExcCodes | None:
        if any(self.load(704, n) == ENABLED for n in UNSUPPORTED_704):
            return ExcCodes.ILLEGAL_VALUE
        pf_on, var_on = self.load(704, "PFWInjEna") == ENABLED, self.load(704,
                                                                         "VarSetEna") == ENABLED
        if pf_on and var_on:
            return ExcCodes.ILLEGAL_VALUE
        if pf_on and not 0 < int(self.load(704, "PFWInj.PF")) <= 1000:
            return ExcCodes.ILLEGAL_VALUE
        if var_on and (self.load(704, "VarSetMod") != VAR_MAX_PCT
                       or not -1000 <= int(self.load(704, "VarSetPct")) <= 1000):
            return ExcCodes.ILLEGAL_VALUE
        self._apply(704)
        return None

    def _curve_ok(self, index: int) -> bool:
        crv = f"Crv[{index}]"
        n = int(self.load(705, f"{crv}.ActPt"))
        if not 2 <= n <= N_POINTS or self.load(705, f"{crv}.DeptRef") != VAR_MAX_PCT:
            return False
        volts = [int(self.load(705, f"{crv}.Pt[{k}].V")) for k in range(1, n + 1)]
        vars_ = [int(self.load(705, f"{crv}.Pt[{k}].Var")) for k in range(1, n + 1)]
        return (all(b > a for a, b in itertools.pairwise(volts)) and 0 < volts[0]
                and volts[-1] <= 2000 and all(-1000 <= q <= 1000 for q in vars_))

    def _control_ok(self, index: int) -> bool:
        ctl = f"Ctl[{index}]"
        return (0 <= int(self.load(711, f"{ctl}.DbOf")) <= 5000
                and 0 <= int(self.load(711, f"{ctl}.DbUf")) <= 5000
                and 1 <= int(self.load(711, f"{ctl}.KOf")) <= 1000
                and 1 <= int(self.load(711, f"{ctl}.KUf")) <= 1000)

    def _adopt(self, model_id: int, request: str, result: str, group: str, count: int,
               ok: Any) -> ExcCodes | None:
        index = int(self.load(model_id, request))
        if index == 0:
            return None
        if not 2 <= index <= count:
            return ExcCodes.ILLEGAL_VALUE
        if not ok(index):
            self.store(model_id, result, ADOPT_FAILED)
            return None
        prefix = f"{group}[{index}]."
        for name, point in self.points[model_id].items():
            if name.startswith(prefix) and point.writable:
                self.store(model_id, f"{group}[1]." + name[len(prefix):], self.load(model_id, name))
        self.store(model_id, result, ADOPT_COMPLETED)
        self.store(model_id, request, 0)
        self._applied.pop(model_id, None)
        self._apply(model_id)
        return None

    # ------------------------------------------------------------------ applying
    def _setting(self, model_id: int) -> tuple[str, str | None, dict[str, Any]]:
        """(control id, control type or None, body) the model's points ask for."""
        if model_id == 704:
            if self.load(704, "PFWInjEna") == ENABLED:
                under = self.load(704, "PFWInj.Ext") == UNDER_EXCITED
                key = "fixedPFAbsorb" if under else "fixedPFInject"
                return CONTROL_704, "FixedPFAbsorb" if under else "FixedPFInject", {
                    key: {"displacement": self.value(704, "PFWInj.PF"),
                          "excitation": not under}}
            if self.load(704, "VarSetEna") == ENABLED:
                return CONTROL_704, "FixedVar", {"fixedVar": {
                    "setpoint": self.value(704, "VarSetPct"), "unit": "PctMaxVar"}}
            return CONTROL_704, None, {}
        if model_id == 705:
            if self.load(705, "Ena") != ENABLED:
                return CONTROL_705, None, {}
            n = int(self.load(705, "Crv[1].ActPt"))
            data = [{"x": self.value(705, f"Crv[1].Pt[{k}].V"),
                     "y": self.value(705, f"Crv[1].Pt[{k}].Var")} for k in range(1, n + 1)]
            curve: dict[str, Any] = {"curveData": data, "yUnit": "PctMaxVar"}
            if self.value(705, "Crv[1].RspTms") > 0:
                curve["responseTime"] = self.value(705, "Crv[1].RspTms")
            return CONTROL_705, "VoltVar", {"curve": curve}
        if self.load(711, "Ena") != ENABLED:
            return "FreqDroop", None, {}
        f_n = float(self.stage.grid.nominal_hz) if self.stage.grid is not None else 50.0
        tr = self.value(711, "Ctl[1].RspTms")
        return "FreqDroop", "FreqDroop", {
            "lfsm_o": {"threshold_hz": f_n + self.value(711, "Ctl[1].DbOf"),
                       "droop_pct": self.value(711, "Ctl[1].KOf") * 100.0,
                       "response_time_s": tr},
            "lfsm_u": {"threshold_hz": f_n - self.value(711, "Ctl[1].DbUf"),
                       "droop_pct": self.value(711, "Ctl[1].KUf") * 100.0,
                       "response_time_s": tr}}

    def _apply(self, model_id: int) -> None:
        if model_id not in (704, 705, 711):
            return
        control_id, control_type, body = self._setting(model_id)
        key = (control_type, repr(body))
        if self._applied.get(model_id) == key:
            return
        self._applied[model_id] = key
        if self.ignoring:
            log.info("%s: SunSpec model %d written, not applied (%s)", self.stage.spec.id,
                     model_id, IGNORES_WRITES)
            return
        log.info("%s: SunSpec model %d -> %s", self.stage.spec.id, model_id,
                 control_type or f"{control_id} off")
        apply_settings(self.stage, control_id, control_type, body)

    def describe(self) -> dict[str, Any]:
        """The safe-state file's view: what the unit holds from SunSpec."""
        return {"charger": self.stage.spec.id, "evse": self.stage.evse_id,
                "connector": self.stage.connector_id, "base": BASE,
                "models": sorted(self.blocks),
                "applied": {m: k[0] for m, k in self._applied.items()}}


# --------------------------------------------------------------------------- hosting
def sunspec_problem(charger_id: str | None, station_chargers: tuple[str, ...],
                    bidirectional: dict[str, bool]) -> str | None:
    """What is wrong with a ``sunspec-der`` entry for the simulated lab (None: fine)."""
    if charger_id is None and len(station_chargers) != 1:
        return ("a SunSpec DER interface at a station with several chargers must say whose "
                'it is; fix: add charger = "<id>"')
    cid = charger_id or station_chargers[0]
    if not bidirectional.get(cid, False):
        return (f"charger {cid!r} is not bidirectional: the simulated lab gives only "
                "bidirectional chargers grid-code behaviour and a SunSpec DER interface; fix: "
                "remove the instrument or set bidirectional = true")
    return None


def build_sunspec(options: dict[str, object], charger_id: str, plant: Plant,
                  chargers: dict[str, Any] | None) -> SunSpecTwin:
    """The SunSpec twin of ``charger_id`` (connector ``options.evse`` / ``connector``)."""
    evse = int(options.get("evse", 1))  # type: ignore[call-overload]
    number = int(options.get("connector", 1))  # type: ignore[call-overload]
    stage = plant.stage(charger_id, evse, number)
    return SunSpecTwin(plant, stage, (chargers or {}).get(charger_id))
