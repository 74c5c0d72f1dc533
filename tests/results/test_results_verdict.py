"""Verdict severity order: failed > error > passed > skipped > not_run."""

from __future__ import annotations

import pytest

from testbench.results.verdict import BY_SEVERITY, Verdict, worst_verdict


def test_severity_order_is_failed_error_passed_skipped_not_run() -> None:
    assert [v.value for v in BY_SEVERITY] == ["failed", "error", "passed", "skipped", "not_run"]


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([], Verdict.NOT_RUN),
        ([Verdict.SKIPPED, Verdict.PASSED], Verdict.PASSED),
        ([Verdict.PASSED, Verdict.ERROR, Verdict.SKIPPED], Verdict.ERROR),
        ([Verdict.ERROR, Verdict.FAILED, Verdict.PASSED], Verdict.FAILED),
        ([Verdict.NOT_RUN, Verdict.SKIPPED], Verdict.SKIPPED),
    ],
)
def test_worst_verdict(verdicts: list[Verdict], expected: Verdict) -> None:
    assert worst_verdict(verdicts) is expected


def test_error_is_distinct_from_failed() -> None:
    assert Verdict.FAILED.severity > Verdict.ERROR.severity > Verdict.PASSED.severity
    assert Verdict.ERROR.is_problem and Verdict.FAILED.is_problem
    assert not Verdict.SKIPPED.is_problem


def test_parse_is_case_insensitive_and_names_valid_values() -> None:
    assert Verdict.parse(" Failed ") is Verdict.FAILED
    with pytest.raises(ValueError, match="expected one of: passed, failed"):
        Verdict.parse("broken")
