"""Grid-code parameter sets: built-in sets load, say where each value comes from, inherit
with honest statuses, refuse malformed files, and never let a suite read an unknown value."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from testbench.gridcode.params import (
    PROTECTION_CODES,
    SECTIONS,
    STATUSES,
    Curve,
    GridCodeParameters,
    ParameterSetError,
    UnknownParameterError,
    list_parameter_sets,
    load_parameter_set,
)

BUILT_IN = ["en50549-default", "fr", "hu", "nl", "no", "se", "vde-4105"]


def test_the_built_in_sets_are_listed():
    assert list_parameter_sets() == BUILT_IN


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_set_loads_consistently_and_says_where_values_come_from(name):
    params = load_parameter_set(name)
    assert isinstance(params, GridCodeParameters) and params.name == name
    assert params.problems() == []
    values = params.values()
    assert len(values) == sum(len(s.kinds) for s in SECTIONS) + len(PROTECTION_CODES)
    for v in values:
        assert v.status in STATUSES
        assert v.set_name == name
        if v.known:
            # Never invented silently: a known value names a source or explains itself.
            assert v.source or v.note, f"{name}: {v.path} has neither source nor note"
    assert params.describe().startswith(name)


def test_typed_accessors_give_plain_values():
    p = load_parameter_set("en50549-default")
    assert p.lfsm_o.threshold_hz == 50.2 and isinstance(p.lfsm_o.threshold_hz, float)
    assert p.lfsm_o.droop_pct == 5.0
    assert p.lfsm_u.charging_to_feed_in_allowed is True
    assert p.nominal.voltage_v == 230.0 and p.nominal.frequency_hz == 50.0
    assert p.q_u.curve(1.05) == pytest.approx(-0.218)
    assert p.q_u.curve(0.95) == pytest.approx(0.218)
    assert p.q_u.curve(1.0) == 0.0
    assert p.frequency_ranges.min_duration_s(48.0) == 1800.0
    assert math.isinf(p.frequency_ranges.min_duration_s(50.0))
    assert p.frequency_ranges.min_duration_s(46.0) == 0.0
    stage = p.protection["81<"]
    assert (stage.threshold, stage.trip_time_s, stage.unit, stage.trips_below) == \
        (47.5, 2.0, "Hz", True)
    assert p.protection.stage("27<").threshold_v(230.0) == pytest.approx(184.0)
    assert str(p.protection["59>>"]) == "59>> 1.25 pu / 0.1 s"
    assert p.reconnection.in_window(1.0, 50.0) and not p.reconnection.in_window(1.0, 50.2)


def test_lfsm_delta_p_follows_the_droop():
    p = load_parameter_set("en50549-default")
    assert p.lfsm_o.delta_p_w(50.7, 10000.0) == pytest.approx(-2000.0)  # 0.5 Hz / 2.5 Hz
    assert p.lfsm_o.delta_p_w(50.1, 10000.0) == 0.0
    assert p.lfsm_u.delta_p_w(49.3, 10000.0) == pytest.approx(2000.0)


def test_reading_an_unknown_value_is_a_clear_bench_error():
    p = load_parameter_set("fr")
    with pytest.raises(UnknownParameterError, match=r"protection\.81< of set 'fr' is unknown"):
        p.protection["81<"]
    assert not p.protection.param("81<").known
    with pytest.raises(AttributeError, match="has no parameter 'threshold'; it has"):
        p.lfsm_o.threshold  # noqa: B018 - a typo must not read as a value
    with pytest.raises(AttributeError, match="read-only"):
        p.lfsm_o.threshold_hz = 51.0  # type: ignore[misc]
    with pytest.raises(KeyError, match="no protection stage"):
        p.protection["81<<<"]


def test_national_sets_inherit_the_defaults_marked_for_verification():
    nl = load_parameter_set("nl")
    v = nl.lfsm_o.param("threshold_hz")
    assert nl.lfsm_o.threshold_hz == 50.2
    assert (v.status, v.inherited_from) == ("verify", "en50549-default")
    assert "EN 50549 default assumed for NL" in v.note
    # A universal value (not a national choice) keeps its status.
    assert nl.nominal.param("voltage_v").status == "confirmed"
    # Example test settings stay examples; the national frequency ranges are confirmed.
    assert nl.q_u.param("curve").status == "example"
    assert nl.frequency_ranges.param("bands").status == "confirmed"
    assert nl.frequency_ranges.param("bands").inherited_from is None
    assert nl.inherits == "en50549-default" and nl.country == "NL"


def test_nordic_sets_and_their_own_values():
    for name in ("se", "no"):
        p = load_parameter_set(name)
        assert p.synchronous_area == "Nordic"
        assert p.lfsm_o.param("threshold_hz").status == "verify"
        assert p.lfsm_o.param("threshold_hz").inherited_from is None
    vde = load_parameter_set("vde-4105")
    assert vde.protection["81<"].trip_time_s == 0.1
    assert not vde.protection["81<<"].enabled
    assert [s.code for s in vde.protection.enabled()] == ["27<", "27<<", "59>>", "59avg",
                                                          "81<", "81>"]


def test_unconfirmed_lists_what_a_verdict_depends_on_with_care():
    paths = {v.path for v in load_parameter_set("en50549-default").unconfirmed()}
    assert "lfsm_o.response_time_s" in paths and "protection.59>" in paths
    assert "lfsm_o.threshold_hz" not in paths


def test_unknown_set_names_the_known_ones():
    with pytest.raises(ParameterSetError, match="unknown grid-code parameter set 'xx'.*nl"):
        load_parameter_set("xx")


def test_lab_overrides_replace_values_and_are_marked_lab():
    p = load_parameter_set("fr", {
        "lfsm_o.threshold_hz": 50.3,
        "lfsm_o": {"droop_pct": {"value": 7.0, "source": "Enedis test plan"}},
        "protection.81<": {"threshold_hz": 47.5, "trip_time_s": 0.5},
    })
    assert p.lfsm_o.threshold_hz == 50.3 and p.lfsm_o.droop_pct == 7.0
    assert p.lfsm_o.param("threshold_hz").status == "lab"
    assert p.lfsm_o.param("droop_pct").source == "Enedis test plan"
    assert p.protection["81<"].trip_time_s == 0.5
    assert p.protection.param("81<").status == "lab"
    assert set(p.lab_overrides) == {"lfsm_o.threshold_hz", "lfsm_o.droop_pct", "protection.81<"}
    # A partial stage override keeps the rest of the stage.
    vde = load_parameter_set("vde-4105", {"protection.81>": {"trip_time_s": 0.2}})
    assert (vde.protection["81>"].threshold, vde.protection["81>"].trip_time_s) == (51.5, 0.2)
    with pytest.raises(ParameterSetError, match="no such grid-code parameter"):
        load_parameter_set("nl", {"lfsm_o.treshold_hz": 50.3})
    with pytest.raises(ParameterSetError, match="dotted parameter path"):
        load_parameter_set("nl", {"threshold_hz": 50.3})
    with pytest.raises(ParameterSetError, match="not a grid frequency"):
        load_parameter_set("nl", {"lfsm_o.threshold_hz": 5.03})


def test_problems_catch_a_protection_stage_inside_the_stay_connected_range():
    p = load_parameter_set("nl", {"protection.81<": {"threshold_hz": 48.0, "trip_time_s": 2.0},
                                  "protection.81>": {"threshold_hz": 50.1, "trip_time_s": 0.1}})
    problems = p.problems()
    assert any("81< 48 Hz / 2 s trips where" in x for x in problems)
    assert any("LFSM-O threshold 50.2 Hz lies beyond the trip threshold 81> 50.1" in x
               for x in problems)


# ----------------------------------------------------------------------------- curves
def test_curve_interpolates_is_flat_outside_and_right_continuous_at_edges():
    c = Curve(((0.0, 0.15), (0.25, 0.15), (3.0, 0.85)), "t_s", "u_pu")
    assert c(-1.0) == 0.15 and c(10.0) == 0.85
    assert c(1.625) == pytest.approx(0.5)
    np.testing.assert_allclose(c(np.array([0.0, 0.25, 3.0])), [0.15, 0.15, 0.85])
    edge = Curve(((0.0, 1.25), (0.1, 1.25), (0.1, 1.1), (1.0, 1.1)))
    assert edge(0.1) == 1.1 and edge(0.0999) == 1.25
    assert math.isnan(edge(math.nan))
    volts = c.scaled(y_factor=230.0, y="u_v")
    assert volts(1.625) == pytest.approx(115.0) and volts.y == "u_v"
    with pytest.raises(ValueError, match="ascending"):
        Curve(((1.0, 0.0), (0.5, 1.0)))


# ----------------------------------------------------------------------------- bad files
BASE = (Path(__file__).resolve().parents[2] / "testbench" / "gridcode" / "parameter_sets"
        / "en50549-default.toml").read_text(encoding="utf-8")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_set_in_a_lab_folder_or_by_path(tmp_path):
    write(tmp_path, "lab-x", 'name = "lab-x"\ninherits = "vde-4105"\ndefault_status = "lab"\n'
                             '[lfsm_o]\nthreshold_hz = 50.4\n')
    p = load_parameter_set("lab-x", search_dirs=[tmp_path])
    assert p.lfsm_o.threshold_hz == 50.4 and p.lfsm_o.param("threshold_hz").status == "lab"
    assert p.protection["81<"].trip_time_s == 0.1  # from vde-4105
    assert p.protection.param("81<").inherited_from == "vde-4105"
    assert p.lfsm_o.param("droop_pct").inherited_from == "en50549-default"
    assert "lab-x" in list_parameter_sets([tmp_path])
    assert load_parameter_set(str(tmp_path / "lab-x.toml")).name == "lab-x"


@pytest.mark.parametrize(("text", "message"), [
    (BASE.replace('threshold_hz = { value = 50.2, source = "EN 50549-1 (reference facts)", '
                  'note = "settable 50.2-50.5 Hz" }\n', ""),
     r"\[lfsm_o\] threshold_hz is missing"),
    (BASE.replace("[rocof]", "[rocof]\nimmunity = 2.0"), r"unknown parameter\(s\) \['immunity'\]"),
    (BASE.replace('default_status = "confirmed"', 'default_status = "sure"'),
     "status must be one of"),
    (BASE.replace('value = 49.8', 'value = 4.98'), "not a grid frequency"),
    (BASE.replace('name = "en50549-default"', 'name = "other"'), "must match the file name"),
    (BASE.replace('[protection."81<<"]\nthreshold_hz', '[protection."81<<"]\nthreshold_pu'),
     "takes threshold_hz, not threshold_pu"),
    (BASE.replace('[protection."59>"]\nstatus = "unknown"\n', ""),
     r'\[protection."59>"\] is missing'),
    (BASE + '\n[protection."82<"]\nthreshold_hz = 47.0\ntrip_time_s = 1.0\n',
     r"unknown stage\(s\) \['82<'\]"),
    (BASE + "\nextra = 1\n", r"unknown key\(s\) \['extra'\]"),
    (BASE.replace("[[0.90, 0.436],", "[[0.90],"), "expected points"),
    (BASE.replace('{ low_hz = 47.5, high_hz = 48.5, min_duration_s = 1800 }',
                  '{ low_hz = 48.5, high_hz = 47.5, min_duration_s = 1800 }'),
     "low_hz < high_hz"),
    (BASE.replace("threshold_pu = 0.80", "threshold_pu = 80"), "outside 0..2"),
    ("name = 'en50549-default'\n[[", "not valid TOML"),
])
def test_malformed_sets_are_refused_with_where_and_how(tmp_path, text, message):
    write(tmp_path, "en50549-default", text)
    with pytest.raises(ParameterSetError, match=message):
        load_parameter_set("en50549-default", search_dirs=[tmp_path])


def test_inheritance_loops_are_refused(tmp_path):
    write(tmp_path, "a", 'name = "a"\ninherits = "b"\ndefault_status = "verify"\n')
    write(tmp_path, "b", 'name = "b"\ninherits = "a"\ndefault_status = "verify"\n')
    with pytest.raises(ParameterSetError, match="inheritance loop a -> b -> a"):
        load_parameter_set("a", search_dirs=[tmp_path])
