"""sunspec-der driver against the simulated charger's SunSpec DER interface (over TCP).

The twin (testbench.sim.sunspec) serves models 1, 701, 704, 705 and 711 at base 40000; the
grid behaviour of the power stage behind it shows whether a written setting reaches the
unit. A garbage and a short block map (a plain Modbus twin) must give clear errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from instruments.contracts import DerSettings, FrequencyDroop, VoltVarCurve
from instruments.drivers.sunspec_der import END_ID, MARKER, layout, model_length
from instruments.registry import get_driver
from instruments.twins.modbus_server import ModbusTwin
from testbench.aio import BackgroundLoop
from testbench.errors import InstrumentError
from testbench.gridcode.params import load_parameter_set
from testbench.lab.model import ChargerSpec, InstrumentSpec, SafetyLimits
from testbench.sim.gridcode import GridBehaviour
from testbench.sim.plant import Plant
from testbench.sim.sunspec import DROPS_SIGN, IGNORES_WRITES, SunSpecTwin

CHARGER = ChargerSpec(id="bx7", vendor="Gridline", model="BX7 V2G", firmware="0.9.3",
                      ocpp_version="2.1", max_current_a=32.0, max_power_w=22000.0,
                      bidirectional=True)
CURVE = VoltVarCurve(((92.0, 40.0), (97.0, 0.0), (103.0, 0.0), (108.0, -40.0)), 6.9)


class Clock:
    def now(self) -> float:
        return 1000.0


class FakeCharger:
    def __init__(self, faults: tuple[str, ...] = ()) -> None:
        self.spec = CHARGER
        self.faults = faults

    def has(self, fault: str) -> bool:
        return fault in self.faults


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop("sunspec-twins")
    yield background
    background.stop()


def _spec(port: int, **options: object) -> InstrumentSpec:
    return InstrumentSpec(name="der", role="der_settings", driver="sunspec-der",
                          resource=f"127.0.0.1:{port}", timeout_s=2.0, options=options)


class Rig:
    def __init__(self, loop: BackgroundLoop, faults: tuple[str, ...] = ()) -> None:
        self.plant = Plant(Clock())
        self.stage = self.plant.add_stage(CHARGER, 1, 1)
        self.grid = GridBehaviour(load_parameter_set("en50549-default"), 22000.0)
        self.stage.grid = self.grid
        self.twin = SunSpecTwin(self.plant, self.stage, FakeCharger(faults))
        self.loop = loop
        port = loop.run(self.twin.start("127.0.0.1", 0))
        self.der: DerSettings = get_driver("sunspec-der")(_spec(port), SafetyLimits())

    def close(self) -> None:
        self.der.close()
        self.loop.run(self.twin.stop())


@pytest.fixture
def rig(loop: BackgroundLoop) -> Iterator[Rig]:
    r = Rig(loop)
    yield r
    r.close()


def test_discovers_the_models_and_identifies(rig: Rig) -> None:
    assert rig.der.models() == [1, 701, 704, 705, 711]  # type: ignore[attr-defined]
    ident = rig.der.identify()
    assert (ident.maker, ident.model, ident.firmware) == ("Gridline", "BX7 V2G", "0.9.3")
    assert ident.serial == "bx7-1"
    assert rig.der.read_point(705, "NCrv") == 2
    assert rig.der.read_point(701, "TmpAmb") is None  # not implemented


def test_fixed_pf_written_read_back_and_applied(rig: Rig) -> None:
    rig.der.set_fixed_pf(0.93, under_excited=True)
    back = rig.der.read_fixed_pf()
    assert (back.pf, back.under_excited, back.enabled) == (0.93, True, True)
    assert rig.grid.reactive is not None and rig.grid.reactive.mode == "FixedPFAbsorb"
    body = rig.grid.reactive.controls["FixedPFAbsorb"].body
    assert body["fixedPFAbsorb"]["displacement"] == pytest.approx(0.93)
    rig.der.set_fixed_var_pct(-25.5)
    assert rig.der.read_fixed_var_pct() == (-25.5, True)
    assert rig.der.read_fixed_pf().enabled is False
    assert rig.grid.reactive.mode == "FixedVar"
    assert rig.grid.reactive.target_q_var(1.0, 10000.0) == pytest.approx(-0.255 * 22000.0)
    rig.der.safe_state()
    assert rig.grid.reactive.mode is None
    assert rig.der.read_fixed_var_pct() == (-25.5, False)


def test_volt_var_adopted_and_applied(rig: Rig) -> None:
    rig.der.set_volt_var(CURVE)
    curve, enabled = rig.der.read_volt_var()
    assert enabled and curve == CURVE
    reactive = rig.grid.reactive
    assert reactive is not None and reactive.mode == "VoltVar"
    assert reactive.target_q_var(1.10, 0.0) == pytest.approx(-0.40 * 22000.0)
    assert reactive.target_q_var(0.90, 0.0) == pytest.approx(0.40 * 22000.0)
    # cleared over OCPP (ClearDERControl): the enable reads back off
    reactive.clear()
    assert rig.der.read_volt_var()[1] is False


def test_freq_droop_adopted_and_applied(rig: Rig) -> None:
    droop = FrequencyDroop(0.3, 0.25, 0.08, 0.04, 1.5)
    before, _ = rig.der.read_freq_droop()
    assert before == FrequencyDroop(0.2, 0.2, 0.05, 0.05, 2.0)  # the set's values
    rig.der.set_freq_droop(droop)
    assert rig.der.read_freq_droop() == (droop, True)
    assert rig.grid.target_delta_w(50.25) == (0.0, None)  # inside the new dead band
    delta, mode = rig.grid.target_delta_w(50.8)
    assert mode == "lfsm_o" and delta == pytest.approx(22000.0 * 0.5 / (50.0 * 0.08))
    rig.der.write_point(711, "Ena", 0)
    assert rig.grid.target_delta_w(50.25)[1] == "lfsm_o"  # back to the set (50.2 Hz)
    rig.der.write_point(711, "Ena", 1)
    assert rig.grid.lfsm_settings["lfsm_o"]["threshold_hz"] == pytest.approx(50.3)
    rig.grid.lfsm_settings = {}  # cleared over OCPP (ClearDERControl FreqDroop)
    assert rig.der.read_freq_droop()[1] is False


def test_out_of_range_values_are_refused_before_sending(rig: Rig) -> None:
    requests = rig.twin.requests
    with pytest.raises(InstrumentError, match=r"power factor 1\.2"):
        rig.der.set_fixed_pf(1.2, under_excited=False)
    with pytest.raises(InstrumentError, match="-100..100"):
        rig.der.set_fixed_var_pct(150.0)
    with pytest.raises(InstrumentError, match="must increase"):
        rig.der.set_volt_var(VoltVarCurve(((103.0, 0.0), (97.0, 10.0))))
    with pytest.raises(InstrumentError, match="2..8 points"):
        rig.der.set_volt_var(VoltVarCurve(tuple((90.0 + n, 0.0) for n in range(9))))
    with pytest.raises(InstrumentError, match="read-only"):
        rig.der.write_point(701, "W", 100.0)
    with pytest.raises(InstrumentError, match="outside what a u16"):
        rig.der.write_point(704, "PFWInj.PF", 70.0)  # raw 70000 at SF -3
    with pytest.raises(InstrumentError, match="no point 'PF'.*PFWInj.PF"):
        rig.der.read_point(704, "PF")
    with pytest.raises(InstrumentError, match="no SunSpec model 103"):
        rig.der.read_point(103, "W")
    assert rig.twin.requests == requests  # nothing was written


def test_device_refusals_are_reported(rig: Rig) -> None:
    with pytest.raises(InstrumentError, match="exception 3"):
        rig.der.write_point(704, "WMaxLimPctEna", 1)  # not modelled by the unit
    with pytest.raises(InstrumentError, match="exception 2"):
        rig.der.write_point(705, "Crv[1].Pt[1].V", 95.0)  # the active curve is read-only
    rig.der.write_point(705, "Crv[2].ActPt", 1)  # a one-point curve cannot be adopted
    rig.der.write_point(705, "AdptCrvReq", 2)
    assert rig.der.read_point(705, "AdptCrvRslt") == 2  # FAILED
    with pytest.raises(InstrumentError, match="exception 3"):
        rig.der.write_point(705, "AdptCrvReq", 5)  # no such stored curve


def test_measurements_follow_the_power_stage(rig: Rig) -> None:
    m = rig.der.read_measurements()
    assert m.frequency_hz == pytest.approx(50.0)
    assert m.voltage_v == pytest.approx(230.0, abs=1.0)
    # idle: the stage's standby draw, reported as (negative) injection at unity PF
    assert m.power_w is not None and -50.0 < m.power_w <= 0.0
    assert m.pf is not None and abs(m.pf) == pytest.approx(1.0)
    assert m.reactive_var == 0.0


def test_ignores_writes_reads_back_but_does_not_apply(loop: BackgroundLoop) -> None:
    rig = Rig(loop, (IGNORES_WRITES,))
    try:
        rig.der.set_volt_var(CURVE)
        assert rig.der.read_volt_var() == (CURVE, True)
        assert rig.grid.reactive is not None and rig.grid.reactive.mode is None
    finally:
        rig.close()


def test_settings_made_over_ocpp_read_back_over_sunspec(rig: Rig) -> None:
    reactive = rig.grid.reactive
    assert reactive is not None
    reactive.set_control("ocpp-vv", "VoltVar", {"curve": {
        "curveData": [{"x": 95.0, "y": 30.0}, {"x": 105.0, "y": -30.0}],
        "responseTime": 4.6}})
    curve, on = rig.der.read_volt_var()
    assert on and curve == VoltVarCurve(((95.0, 30.0), (105.0, -30.0)), 4.6)
    reactive.set_control("ocpp-pf", "FixedPFInject", {"fixed_pf_inject": {"displacement": 0.95}})
    assert rig.der.read_volt_var()[1] is False
    back = rig.der.read_fixed_pf()
    assert (back.pf, back.under_excited, back.enabled) == (0.95, False, True)
    reactive.clear()
    assert rig.der.read_fixed_pf().enabled is False


def test_drops_sign_reads_back_what_it_applies(loop: BackgroundLoop) -> None:
    rig = Rig(loop, (DROPS_SIGN,))
    try:
        rig.der.set_fixed_var_pct(-20.0)
        assert rig.der.read_fixed_var_pct() == (20.0, True)
        assert rig.grid.reactive is not None
        assert rig.grid.reactive.target_q_var(1.0, 0.0) == pytest.approx(0.2 * 22000.0)
    finally:
        rig.close()


class MapTwin(ModbusTwin):
    """A plain register image at 40000 (for broken maps)."""

    def __init__(self, words: list[int]) -> None:
        super().__init__(coil_count=0, holding_start=40000, holding_count=len(words) + 4)
        for n, word in enumerate(words):
            self.holding[40000 + n] = word & 0xFFFF


def _driver_on(loop: BackgroundLoop, words: list[int]) -> tuple[Any, MapTwin]:
    twin = MapTwin(words)
    port = loop.run(twin.start("127.0.0.1", 0))
    return get_driver("sunspec-der")(_spec(port, base=40000), SafetyLimits()), twin


def _common() -> list[int]:
    return [1, model_length(1)] + [0] * model_length(1)


@pytest.mark.parametrize("words, match", [
    ([0xDEAD, 0xBEEF, 1, 66], "no 'SunS' marker"),
    ([*MARKER, 0, 0], "not a SunSpec block"),
    ([*MARKER, 704, 10, *([0] * 10), END_ID, 0], "shorter than its fixed part"),
    ([*MARKER, *_common(), 705, 40000], "not a SunSpec block"),
    ([*MARKER, 704, model_length(704), *([0] * model_length(704)), END_ID, 0],
     "no common model"),
])
def test_garbage_and_short_maps_are_clear_errors(loop: BackgroundLoop, words: list[int],
                                                 match: str) -> None:
    der, twin = _driver_on(loop, words)
    try:
        with pytest.raises(InstrumentError, match=match):
            der.models()
    finally:
        der.close()
        loop.run(twin.stop())


def test_a_short_curve_block_is_refused(loop: BackgroundLoop) -> None:
    fixed = layout(705)
    length = max(p.offset + p.size for p in fixed.values()) - 2
    block = [705, length] + [0] * length
    block[fixed["NCrv"].offset] = 2
    block[fixed["NPt"].offset] = 4
    der, twin = _driver_on(loop, [*MARKER, *_common(), *block, END_ID, 0])
    try:
        with pytest.raises(InstrumentError, match="only 13 registers long"):
            der.read_point(705, "Ena")
    finally:
        der.close()
        loop.run(twin.stop())


def test_layout_lengths_match_the_public_models() -> None:
    assert model_length(1) == 66 and model_length(701) == 153 and model_length(704) == 65
    assert model_length(705, {"NCrv": 1, "NPt": 1}) == 25
    assert model_length(711, {"NCtl": 1}) == 22
    assert layout(705, {"NCrv": 2, "NPt": 8})["Crv[2].Pt[1].V"].offset == 15 + 26 + 10
    assert layout(704)["PFWInj.PF"].offset == 59 and layout(711)["K_SF"].offset == 12
