"""Schema checks: decimal-exact multipleOf in 1.6, problem classes, frame parsing limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbench.csms import frames, schemas
from testbench.csms.errorcodes import error_code


def _profile_16(limit: float) -> dict[str, object]:
    return {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}}


def test_v16_decimal_limits_validate_exactly() -> None:
    # 21.4 is not a multiple of 0.1 in binary floating point; the spec means decimals.
    assert schemas.check("1.6", "SetChargingProfile", "request", _profile_16(21.4)) is None
    problem = schemas.check("1.6", "SetChargingProfile", "request", _profile_16(21.45))
    assert problem is not None and problem.problem == "property"


@pytest.mark.parametrize("payload, problem", [
    ({}, "occurrence"),
    ({"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": 5}}, "type"),
    ({"reason": "PowerUp", "chargingStation": {"model": "M" * 30, "vendorName": "V"}},
     "type"),
    ({"reason": "Bored", "chargingStation": {"model": "M", "vendorName": "V"}}, "property"),
    ({"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}, "x": 1},
     "format"),
])
def test_problem_classes(payload: dict[str, object], problem: str) -> None:
    found = schemas.check("2.0.1", "BootNotification", "request", payload)
    assert found is not None and found.problem == problem
    assert found.description.startswith("BootNotification request: at ")


def test_unknown_action_has_no_schema() -> None:
    assert not schemas.has_schema("1.6", "TransactionEvent", "request")
    found = schemas.check("1.6", "TransactionEvent", "request", {})
    assert found is not None and found.problem == "not_implemented"


def test_error_code_spellings_per_version() -> None:
    assert error_code("1.6", "format") == "FormationViolation"
    assert error_code("2.0.1", "format") == "FormatViolation"
    assert error_code("2.1", "occurrence") == "OccurrenceConstraintViolation"
    assert error_code("1.6", "occurrence") == "OccurenceConstraintViolation"
    assert error_code("2.0.1", "bad_type_id") == "MessageTypeNotSupported"


def test_callerror_descriptions_are_clipped_to_255_chars() -> None:
    text = frames.encode_error("id", "GenericError", "x" * 1000)
    assert len(frames.parse(text, "2.0.1").error_description) == 255  # type: ignore[union-attr]


def test_frame_parse_never_raises_on_odd_input() -> None:
    odd = ["", "null", "[null]", "[2, null]", "[true, \"a\", \"B\", {}]", "[3, \"a\", 5]",
           "[4, \"a\"]", "[2, \"a\", 7, {}]", "\"text\"", "[2, \"a\", \"\", {}]", "1e400",
           "[5, \"a\", \"E\", \"d\", {}]", "[6, \"a\", \"X\", {}]"]
    for text in odd:
        result = frames.parse(text, "2.0.1")
        assert isinstance(result, frames.FrameProblem), text


def test_nan_is_not_json() -> None:
    result = frames.parse('[2, "a", "Heartbeat", {"x": NaN}]', "1.6")
    assert isinstance(result, frames.FrameProblem) and result.problem == "not_json"


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=5)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json.map(json.dumps), st.text(max_size=40),
                 st.tuples(st.sampled_from([2, 3, 4, 5, 6, 7]), _json, _json, _json)
                 .map(lambda t: json.dumps(list(t)))),
       st.sampled_from(["1.6", "2.0.1", "2.1"]))
def test_frame_parse_is_total(text: str, version: str) -> None:
    result = frames.parse(text, version)
    assert isinstance(result, frames.Frame | frames.FrameProblem)
    if isinstance(result, frames.FrameProblem) and result.reply_code is not None:
        assert isinstance(result.unique_id, str)
