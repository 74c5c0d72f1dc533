"""The grid-code suites run on national parameter sets chosen by the station's ``grid_code``.

For each set: the real ``testbench run suites/gridcode`` (LFSM-O and the protection suite:
trip values and times, frequency windows, reconnection) on a generated lab whose station
names the set, with a conformant bidirectional pair. Every check the set has values for
passes; a protection stage the set marks unknown is skipped with a reason naming the set and
the unknown value (never silently passed); a disabled stage, a band the set does not have, a
reconnection without an over-frequency stage are skipped as not applicable. Expectations
come from the set itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gridlab import V2G_EV, write_grid_lab

from testbench.gridcode.params import load_parameter_set

REPO = Path(__file__).resolve().parents[2]
SELECT = "test_lfsm_o or test_protection"
CHARGER = "v2g-ok"
STAGES = {"f-over-1": "81>", "f-over-2": "81>>", "f-under-1": "81<", "f-under-2": "81<<",
          "u-under-1": "27<", "u-under-2": "27<<", "u-over-1": "59>", "u-over-2": "59>>"}
LFSM_O_POINTS = ("discharging-100pct", "discharging-66pct", "discharging-20pct",
                 "charging-66pct", "charging-20pct")
MAINS_MIN_PU = 0.5  # as suites/gridcode/test_protection.py: below it a trip is not visible


def _key(test_id: str) -> str:
    """``...::test_x[ev@charger-point]`` -> ``ev@charger-point``; unparametrised tests by
    a short name (``reconnection``)."""
    if "[" in test_id and not test_id.endswith(f"[{V2G_EV}@{CHARGER}]"):
        return test_id.rsplit("[", 1)[-1].rstrip("]")
    return "reconnection" if "reconnection" in test_id else test_id


def with_grid_code(lab: Path, grid_code: str) -> Path:
    """Name the parameter set on the generated lab's station (``grid_code``)."""
    text = lab.read_text(encoding="utf-8")
    marker = '[[stations]]\nid = "bay"\n'
    assert marker in text, "the generated lab changed shape; update with_grid_code"
    lab.write_text(text.replace(marker, f'{marker}grid_code = "{grid_code}"\n'),
                   encoding="utf-8")
    return lab


def expected_protection(grid_code: str) -> dict[str, tuple[str, str]]:
    """Test id -> (verdict, text the skip reason must contain) from the set's values."""
    params = load_parameter_set(grid_code)
    expected: dict[str, tuple[str, str]] = {}
    for test_id, code in STAGES.items():
        value = params.protection.param(code)
        if not value.known:
            expected[test_id] = ("skipped", "unknown")
        elif not value.value.enabled:
            expected[test_id] = ("skipped", "no setting")
        elif (value.value.quantity == "voltage" and value.value.trips_below
              and value.value.threshold - 0.03 < MAINS_MIN_PU):
            expected[test_id] = ("skipped", "delivers nothing")
        else:
            expected[test_id] = ("passed", "")
    return expected


def expected_others(grid_code: str) -> dict[str, tuple[str, str]]:
    """Windows and reconnection: test id suffix -> (verdict, reason text)."""
    params = load_parameter_set(grid_code)
    bands = len(params.frequency_ranges.bands)
    expected = {f"band{i}": ("passed", "") if i < bands else ("skipped", "bands")
                for i in range(6)}
    over = [st for st in params.protection.enabled()
            if st.quantity == "frequency" and not st.trips_below]
    expected["reconnection"] = ("passed", "") if over else ("skipped", "no over-frequency")
    return expected


def test_expectations_cover_unknown_and_known_stages() -> None:
    """The sets chosen below exercise both paths: stages run, and stages marked unknown."""
    se = expected_protection("se")
    assert {v for v, _ in se.values()} >= {"passed", "skipped"}
    assert any(reason == "unknown" for _, reason in se.values())
    assert any(v == "passed" for v, _ in expected_protection("vde-4105").values())


@pytest.mark.slow
@pytest.mark.parametrize("grid_code", ["vde-4105", "se"])
def test_suites_run_on_a_national_parameter_set(grid_code: str, tmp_path: Path,
                                                testbench_cli) -> None:
    lab = with_grid_code(write_grid_lab(tmp_path / "lab.toml", {CHARGER: ()},
                                        time_scale=20.0), grid_code)
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", SELECT,
                           str(REPO / "suites" / "gridcode"), timeout_s=600)
    records = {_key(r["test_id"]): r for r in result.records()
               if r["charger"] == CHARGER and r["ev"] == V2G_EV}
    problems: list[str] = []
    expected = {f"{V2G_EV}@{CHARGER}-{p}": ("passed", "") for p in LFSM_O_POINTS}
    expected.update({f"{V2G_EV}@{CHARGER}-{t}": e
                     for t, e in expected_protection(grid_code).items()})
    others = expected_others(grid_code)
    expected.update({f"{V2G_EV}@{CHARGER}-{t}": e for t, e in others.items()
                     if t != "reconnection"})
    expected["reconnection"] = others["reconnection"]
    for test_id, (verdict, reason) in expected.items():
        record = records.get(test_id)
        if record is None:
            problems.append(f"{test_id}: no verdict")
            continue
        if record["verdict"] != verdict:
            problems.append(f"{test_id}: {record['verdict']}, expected {verdict}: "
                            f"{record['message']}")
        elif reason and (reason not in record["message"] or grid_code not in record["message"]
                         and reason == "unknown"):
            problems.append(f"{test_id}: skipped without naming {reason!r} and the set "
                            f"{grid_code!r}: {record['message']}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-3000:]
