"""Grid-code settings written through the charger's SunSpec Modbus interface (models 704,
705, 711), read back, and proven at the meter.

Needs an instrument with role ``der_settings`` (driver ``sunspec-der``) for the charger;
without one the cases are not applicable. Values come from the station's parameter set.

- **Read back**: fixed cos phi (704 ``PFWInj``), fixed Q (704 ``VarSetPct``), the set's
  volt-var curve (705) and frequency droop (711: dead bands f1 - f_n, droop / 100, response
  time) are written and read back; each must equal what was written to within half a step
  of the point's scale factor (the device's own SF), and be enabled.
- **Fixed cos phi at the meter**: discharging at rated power, the set's
  ``cos_phi_fixed.min_under_excited`` written over 704; after the settling time the power
  analyser's Q lies on Q(P) = -|P| tan(acos cos phi) at the measured P (MRA band, as the
  voltage/reactive suite judges fixed cos phi).
- **Volt-var at the meter**: discharging at half power, the set's Q(U) curve written over
  705; one voltage step from nominal to the high end of the curve, held 3 Tr; the
  steady-state Q (after 2 Tr) lies on the curve at the measured voltage.

- **Frequency droop at the meter**: discharging at rated power, a 711 droop with the
  LFSM-O threshold and droop the OCPP FreqDroop case asks for (0.6 x the set's droop, the
  threshold 0.1 Hz higher; so a unit keeping the set's characteristic fails); the LFSM-O
  procedure then judges open loop at Tr and the steady state on the written droop.
- **SetDERControl read back over SunSpec** (OCPP 2.1 chargers): the set's volt-var curve
  sent over OCPP shows as 705's active curve, enabled; after ClearDERControl, disabled.

A unit that accepts and reads back the writes but does not apply them passes the read-back
and fails at the meter.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
from typing import Any

import allure
import numpy as np
import pytest

from instruments.contracts import FrequencyDroop, VoltVarCurve
from suites.gridcode import _der, _evidence
from suites.gridcode import _support as s
from suites.gridcode import test_voltage_reactive as vr
from suites.gridcode.test_der_settings import _freq_droop_request, _with_lfsm_o
from suites.gridcode.test_lfsm import _lfsm
from testbench.analysis.judgement import Judgement
from testbench.analysis.mra import MRA, judge_steady_state
from testbench.analysis.reactive import generator_q, q_for_cos_phi
from testbench.analysis.response import steady_state
from testbench.analysis.series import Series
from testbench.errors import DeviceFailure
from testbench.gridcode.params import GridCodeParameters
from testbench.gridcode.stimulus import voltage_steps

ROLE = "der_settings"
METER = ("bidirectional", ROLE, "grid_emulator", "power_analyzer")
FIXED_Q_PCT = -20.0
"""Fixed Q written in the read-back case (% of the var rating, under-excited)."""


def _der_of(station: Any) -> Any:
    der = station.instrument(ROLE)
    if der is None:
        pytest.skip(f"not applicable: station {station.id} has no {ROLE!r} instrument for "
                    f"charger {station.charger.id}")
    return der


def _volt_var_curve(params: GridCodeParameters) -> VoltVarCurve:
    return VoltVarCurve(tuple((round(x * 100.0, 3), round(y * 100.0, 3))
                              for x, y in params.q_u.curve.points),
                        round(_der.tr_from_three_tau_s(float(params.q_u.three_tau_s)), 3))


def _droop(params: GridCodeParameters) -> FrequencyDroop:
    f_n = float(params.nominal.frequency_hz)
    return FrequencyDroop(round(float(params.lfsm_o.threshold_hz) - f_n, 4),
                          round(f_n - float(params.lfsm_u.threshold_hz), 4),
                          float(params.lfsm_o.droop_pct) / 100.0,
                          float(params.lfsm_u.droop_pct) / 100.0,
                          float(params.lfsm_o.response_time_s))


def _step(der: Any, model_id: int, sf_point: str) -> float:
    """Half the resolution of points scaled by ``sf_point`` (what rounding may change)."""
    sf = der.read_point(model_id, sf_point)
    return 0.5 * 10.0 ** float(sf if sf is not None else 0)


def _same(what: str, written: float, read: float | None, tol: float) -> Judgement:
    ok = read is not None and abs(read - written) <= tol + 1e-9
    return Judgement(ok, math.nan if read is None else read, (written - tol, written + tol),
                     math.nan if read is None else tol - abs(read - written),
                     f"{what}: wrote {written:g}, read back {read!r} (allowed +-{tol:g}, half "
                     "the point's scale-factor step)", "read_back")


def _enabled(what: str, on: bool) -> Judgement:
    return Judgement(on, float(on), (1.0, 1.0), 0.0 if on else -1.0,
                     f"{what}: the enable reads back {'on' if on else 'off'} after it was "
                     "written on", "read_back_enabled")


def _attach_table(judgements: list[Judgement], title: str) -> None:
    rows = [j.as_row() for j in judgements]
    if rows:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        allure.attach(buffer.getvalue(), name=f"{title}: written vs read back",
                      attachment_type=allure.attachment_type.CSV)


def _end(der: Any, station: Any, charger: Any, params: GridCodeParameters) -> None:
    with contextlib.suppress(Exception):
        der.safe_state()
    vr._end(station, charger, params)


@pytest.mark.requires(ROLE)
def test_sunspec_settings_read_back(station, charger, bench, request):
    """704 fixed cos phi and fixed Q, 705 volt-var, 711 frequency droop: written over SunSpec
    and read back exactly (to the point's scale factor)."""
    der = _der_of(station)
    params = s.params_of(station)
    _der.require_known(params, "cos_phi_fixed.min_under_excited", "q_u.curve",
                       "q_u.three_tau_s", "lfsm_o.threshold_hz", "lfsm_o.droop_pct",
                       "lfsm_o.response_time_s", "lfsm_u.threshold_hz", "lfsm_u.droop_pct")
    models = der.models()
    missing = [m for m in (704, 705, 711) if m not in models]
    if len(missing) == 3:
        pytest.skip(f"not applicable: the SunSpec map offers none of 704/705/711 ({models})")
    judgements: list[Judgement] = []
    try:
        if 704 in models:
            pf = float(params.cos_phi_fixed.min_under_excited)
            der.set_fixed_pf(pf, under_excited=True)
            back = der.read_fixed_pf()
            judgements += [_same("704 PFWInj.PF", pf, back.pf, _step(der, 704, "PF_SF")),
                           _enabled("704 PFWInjEna", back.enabled),
                           _enabled("704 PFWInj.Ext under-excited", back.under_excited)]
            der.set_fixed_var_pct(FIXED_Q_PCT)
            pct, on = der.read_fixed_var_pct()
            judgements += [_same("704 VarSetPct", FIXED_Q_PCT, pct,
                                 _step(der, 704, "VarSetPct_SF")),
                           _enabled("704 VarSetEna", on)]
        if 705 in models:
            curve = _volt_var_curve(params)
            der.set_volt_var(curve)
            back_curve, on = der.read_volt_var()
            v_tol, q_tol = _step(der, 705, "V_SF"), _step(der, 705, "DeptRef_SF")
            judgements.append(_enabled("705 Ena", on))
            judgements.append(Judgement(
                len(back_curve.points) == len(curve.points), len(back_curve.points),
                (len(curve.points), len(curve.points)), 0.0,
                f"705 active curve has {len(back_curve.points)} points, "
                f"{len(curve.points)} written", "read_back"))
            for n, ((v, q), (bv, bq)) in enumerate(zip(curve.points, back_curve.points,
                                                       strict=False), start=1):
                judgements += [_same(f"705 Crv[1].Pt[{n}].V", v, bv, v_tol),
                               _same(f"705 Crv[1].Pt[{n}].Var", q, bq, q_tol)]
            judgements.append(_same("705 Crv[1].RspTms", float(curve.response_time_s or 0.0),
                                    back_curve.response_time_s,
                                    _step(der, 705, "RspTms_SF")))
        if 711 in models:
            droop = _droop(params)
            der.set_freq_droop(droop)
            back_droop, on = der.read_freq_droop()
            judgements.append(_enabled("711 Ena", on))
            for name, sf in (("db_of_hz", "Db_SF"), ("db_uf_hz", "Db_SF"), ("k_of", "K_SF"),
                             ("k_uf", "K_SF"), ("response_time_s", "RspTms_SF")):
                judgements.append(_same(f"711 Ctl[1].{name}", getattr(droop, name),
                                        getattr(back_droop, name), _step(der, 711, sf)))
            der.write_point(711, "Ena", 0)
    finally:
        with contextlib.suppress(Exception):
            der.safe_state()
    _attach_table(judgements, f"SunSpec read-back {station.charger.id} ({params.name})")
    s.verdict(judgements)


@pytest.mark.requires("ocpp21", ROLE)
def test_sunspec_reads_back_der_control(station, charger, bench, request):
    """The set's volt-var curve sent over OCPP 2.1 SetDERControl reads back over SunSpec 705
    (one unit, one setting), and reads back disabled once ClearDERControl removed it."""
    der = _der_of(station)
    params = s.params_of(station)
    _der.require_known(params, "q_u.curve", "q_u.three_tau_s")
    if 705 not in der.models():
        pytest.skip("not applicable: the SunSpec map has no model 705 (volt-var)")
    curve = _volt_var_curve(params)
    judgements: list[Judgement] = []
    try:
        _der.apply(charger, _der.volt_var(params))
        back_curve, on = der.read_volt_var()
        v_tol, q_tol = _step(der, 705, "V_SF"), _step(der, 705, "DeptRef_SF")
        judgements.append(_enabled("705 Ena after SetDERControl VoltVar", on))
        judgements.append(Judgement(
            len(back_curve.points) == len(curve.points), len(back_curve.points),
            (len(curve.points), len(curve.points)), 0.0,
            f"705 active curve has {len(back_curve.points)} points, SetDERControl sent "
            f"{len(curve.points)}", "read_back"))
        for n, ((v, q), (bv, bq)) in enumerate(zip(curve.points, back_curve.points,
                                                   strict=False), start=1):
            judgements += [_same(f"705 Crv[1].Pt[{n}].V", v, bv, v_tol),
                           _same(f"705 Crv[1].Pt[{n}].Var", q, bq, q_tol)]
        _der.clear(charger)
        off = not der.read_volt_var()[1]
        judgements.append(Judgement(off, float(not off), (0.0, 0.0), 0.0 if off else -1.0,
                                    "705 Ena after ClearDERControl reads "
                                    f"{'off' if off else 'on'}", "read_back_cleared"))
    finally:
        _der.clear(charger)
        with contextlib.suppress(Exception):
            der.safe_state()
    _attach_table(judgements, f"SetDERControl read back over SunSpec {station.charger.id}")
    s.verdict(judgements)


@pytest.mark.requires(*METER)
def test_sunspec_fixed_cos_phi_at_meter(station, charger, clock, bench, request):
    """Fixed cos phi written over SunSpec 704 takes effect: Q at the grid-side analyser."""
    der = _der_of(station)
    params = s.params_of(station)
    _der.require_known(params, "cos_phi_fixed.min_under_excited", "cos_phi_p.settling_time_s")
    if 704 not in der.models():
        pytest.skip("not applicable: the SunSpec map has no model 704 (DER AC controls)")
    cos_phi = float(params.cos_phi_fixed.min_under_excited)
    settling = float(params.cos_phi_p.settling_time_s)
    try:
        grid, analyzer, rated, _p0 = vr._begin(station, charger, clock, params,
                                               s.OperatingPoint(-1.0))
        der.set_fixed_pf(cos_phi, under_excited=True)
        t_set = clock.now()
        recording, _run = s.record_stimulus(analyzer, grid, clock,
                                            vr._hold_program(params, 2.0 * settling + 2.0),
                                            tail_s=0.5)
    finally:
        _end(der, station, charger, params)

    def required(p_export_w: Any) -> Any:
        return np.vectorize(lambda p: q_for_cos_phi(p, -cos_phi))(
            np.asarray(p_export_w, dtype=float))

    what = f"fixed cos phi {cos_phi:g} under-excited (SunSpec 704)"
    judgements = vr._judge_pq(recording, rated, t_set + settling, required, what)
    q = generator_q(recording["reactive_var"])
    req = Series("required Q", "var", q.t_lab_s,
                 np.asarray(required(-recording["power_w"].values)))
    _evidence.save(s.evidence_dir(bench, request), "sunspec-fixed-pf", recording, [q],
                   [("required Q", req, "var")], vr._title(what, station, params), judgements,
                   ["power_w", "reactive_gen_var"])
    s.verdict(judgements)


@pytest.mark.requires(*METER)
def test_sunspec_volt_var_at_meter(station, charger, clock, bench, request):
    """The set's volt-var curve written over SunSpec 705 takes effect: at one voltage step
    the steady-state Q at the analyser lies on the curve."""
    der = _der_of(station)
    params = s.params_of(station)
    _der.require_known(params, "q_u.curve", "q_u.three_tau_s")
    if 705 not in der.models():
        pytest.skip("not applicable: the SunSpec map has no model 705 (volt-var)")
    v_n, f_n = float(params.nominal.voltage_v), float(params.nominal.frequency_hz)
    tr = _der.tr_from_three_tau_s(float(params.q_u.three_tau_s))
    u_high, _u_low = vr._q_u_levels(params)
    program = voltage_steps([v_n, u_high * v_n, v_n], [1.0, 3.0 * tr, 1.0], f_n,
                            name="volt-var voltage step")
    try:
        grid, analyzer, rated, _p0 = vr._begin(station, charger, clock, params,
                                               s.OperatingPoint(-0.5))
        der.set_volt_var(_volt_var_curve(params))
        held = der_curve_text(der)
        clock.sleep(s.SETTLE_S)
        recording, run = s.record_stimulus(analyzer, grid, clock, program, tail_s=0.5)
    finally:
        _end(der, station, charger, params)

    mra = MRA()
    q = generator_q(recording["reactive_var"])
    u_pu = Series("voltage", "pu", recording.t_lab_s, recording["voltage_v"].values / v_n)
    t_high = s.measured_step_s(recording, "voltage_v", v_n, u_high * v_n)
    t_back = s.measured_step_s(recording, "voltage_v", u_high * v_n, v_n, t_high)
    required = vr._q_required(params.q_u.curve, rated)
    u_ss = steady_state(u_pu, t_high, tr, until_lab_s=t_back)
    q_ss = steady_state(q, t_high, tr, until_lab_s=t_back)
    judgements = [judge_steady_state(u_ss, q_ss, required, mra.v_pct_nom / 100.0,
                                     mra.power(rated), x_name="voltage", x_unit="pu",
                                     y_name="Q (over-excited +)", y_unit="var")]
    t = q.t_lab_s
    req = Series("required Q", "var", t, np.asarray(required(u_pu.values)))
    stim = Series("voltage_v", "V", t, np.asarray(run.voltage_reference()(t)))
    _evidence.save(s.evidence_dir(bench, request), "sunspec-volt-var", recording, [q, stim],
                   [("required Q at the measured U", req, "var")],
                   vr._title("volt-var (SunSpec 705)", station, params)
                   + f": {v_n:g} -> {u_high * v_n:.1f} -> {v_n:g} V", judgements,
                   ["voltage_v", "power_w", "reactive_gen_var"])
    if not judgements[0].passed:
        raise DeviceFailure(f"volt-var written over SunSpec 705 (read back {held}) was not "
                            "followed: "
                            f"judge_steady_state: {judgements[0].explanation}")


def der_curve_text(der: Any) -> str:
    """The active volt-var curve as the device reports it (for the failure message)."""
    try:
        curve, on = der.read_volt_var()
    except Exception as error:  # noqa: BLE001 - a message, never the verdict
        return f"unreadable: {error}"
    return f"{'enabled' if on else 'disabled'}, points {list(curve.points)}"


@pytest.mark.requires(*METER)
@s.skips_unknown_parameters
def test_sunspec_frequency_droop_at_meter(station, charger, clock, bench, request):
    """A frequency droop written over SunSpec 711 takes effect: the measured LFSM-O
    response (discharging at rated power) follows the written threshold and droop."""
    der = _der_of(station)
    if 711 not in der.models():
        pytest.skip("not applicable: the SunSpec map has no model 711 (frequency droop)")
    params = s.params_of(station)
    _sent, threshold_hz, droop_pct = _freq_droop_request(params)
    f_n = float(params.nominal.frequency_hz)
    written = dataclasses.replace(_droop(params), db_of_hz=round(threshold_hz - f_n, 4),
                                  k_of=droop_pct / 100.0)
    judged = _with_lfsm_o(params, threshold_hz, droop_pct, source="SunSpec 711 (this test)")
    try:
        _lfsm("lfsm_o", s.OperatingPoint(-1.0), station, charger, clock, bench, request,
              params=judged, setup=lambda: der.set_freq_droop(written),
              name=f"SunSpec 711 droop {droop_pct:g} % from {threshold_hz:g} Hz, LFSM-O")
    finally:
        with contextlib.suppress(Exception):
            der.set_freq_droop(_droop(params))  # the set's characteristic back
