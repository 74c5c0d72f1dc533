"""SetDERControl requests built from parameter sets: valid OCPP 2.1 and faithful to the set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import ocpp
import pytest

from suites.gridcode import _der
from testbench.gridcode.params import (
    UnknownParameterError,
    list_parameter_sets,
    load_parameter_set,
)

SCHEMA = json.loads((Path(ocpp.__file__).parent / "v21" / "schemas" /
                     "SetDERControlRequest.json").read_text(encoding="utf-8"))


def valid(request: dict) -> dict:
    jsonschema.validate(request, SCHEMA)
    return request


@pytest.mark.parametrize("name", list_parameter_sets())
def test_every_known_curve_of_every_set_makes_a_valid_request(name: str) -> None:
    params = load_parameter_set(name)
    builders = {"q_u.curve": _der.volt_var, "cos_phi_p.curve": _der.watt_pf,
                "p_u.curve": _der.volt_watt}
    built = 0
    for path, build in builders.items():
        if params.value(path).known:
            try:
                valid(build(params))
                built += 1
            except UnknownParameterError:  # an unknown response time of a known curve
                pass
    assert built >= 1 or all(not params.value(p).known for p in builders)


def test_volt_var_carries_the_curve_in_percent_and_the_90_percent_time() -> None:
    params = load_parameter_set("en50549-default")
    request = valid(_der.volt_var(params))
    assert request["controlType"] == "VoltVar" and request["isDefault"] is False
    points = [(p["x"], p["y"]) for p in request["curve"]["curveData"]]
    assert points[0] == (90.0, 43.6) and points[-1] == (110.0, -43.6)
    # 3 tau = 10 s: Tr (90 %) = tau ln 10 = 7.675 s
    assert request["curve"]["responseTime"] == pytest.approx(10.0 / 3.0 * math.log(10.0),
                                                             abs=1e-3)


def test_watt_pf_sends_absorbing_as_positive() -> None:
    params = load_parameter_set("en50549-default")
    request = valid(_der.watt_pf(params))
    assert request["curve"]["curveData"][-1] == {"x": 100.0, "y": 0.9}  # 0.90 under-excited


def test_fixed_settings() -> None:
    absorb = valid(_der.fixed_pf(0.9, under_excited=True))
    assert absorb["controlType"] == "FixedPFAbsorb"
    assert absorb["fixedPFAbsorb"]["displacement"] == 0.9
    inject = valid(_der.fixed_pf(0.95, under_excited=False))
    assert inject["controlType"] == "FixedPFInject" and inject["fixedPFInject"]["excitation"]
    var = valid(_der.fixed_var(-43.589))
    assert var["fixedVar"] == {"priority": 0, "setpoint": -43.589, "unit": "PctMaxVar"}


def test_a_scenario_needing_an_unknown_value_is_skipped_with_the_value_named() -> None:
    params = load_parameter_set("en50549-default", {"q_u.three_tau_s": "unknown"})
    with pytest.raises(pytest.skip.Exception, match=r"does not know q_u\.three_tau_s"):
        _der.require_known(params, "q_u.curve", "q_u.three_tau_s")
    _der.require_known(params, "q_u.curve")  # known: no skip
