"""Test identity across stations, diff classification, date parsing and filter SQL."""

from __future__ import annotations

from datetime import datetime

import pytest

from testbench.results.diff import Change, classify, compare
from testbench.results.identity import canonical_test_id
from testbench.results.query import ResultFilter, parse_when
from testbench.results.verdict import Verdict

P, F, E, S, N = (Verdict.PASSED, Verdict.FAILED, Verdict.ERROR, Verdict.SKIPPED, Verdict.NOT_RUN)


@pytest.mark.parametrize(
    ("test_id", "expected"),
    [
        ("s/t.py::test_x[ev-a@cp-1]", "s/t.py::test_x"),
        ("s/t.py::test_x[st-2:ev-a@cp-1]", "s/t.py::test_x"),
        ("s/t.py::test_x[ev-a@cp-1-16A]", "s/t.py::test_x[16A]"),
        ("s/t.py::test_x[16A-ev-a@cp-1]", "s/t.py::test_x[16A]"),
        ("s/t.py::test_x[16A-st-2:ev-a@cp-1-3ph]", "s/t.py::test_x[16A-3ph]"),
        ("s/t.py::test_x[ev-b@cp-1]", "s/t.py::test_x[ev-b@cp-1]"),  # another pairing: kept
        ("s/t.py::test_x", "s/t.py::test_x"),
        ("s/t.py::TestA::test_x[ev-a@cp-1]", "s/t.py::TestA::test_x"),
        ("s/t[1].py::test_x[ev-a@cp-1]", "s/t[1].py::test_x"),
    ],
)
def test_canonical_test_id_drops_the_pairing(test_id: str, expected: str) -> None:
    assert canonical_test_id(test_id, station="st-2", ev="ev-a", charger="cp-1") == expected


def test_canonical_test_id_without_devices_is_the_test_id() -> None:
    assert canonical_test_id("t.py::test_x[ev-a@cp-1]") == "t.py::test_x[ev-a@cp-1]"


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (P, F, Change.REGRESSION),
        (P, E, Change.REGRESSION),
        (F, P, Change.FIX),
        (E, P, Change.FIX),
        (F, E, Change.CHANGED),
        (E, F, Change.CHANGED),
        (P, P, Change.UNCHANGED),
        (F, F, Change.UNCHANGED),
        (S, S, Change.UNCHANGED),
        (N, N, Change.UNCHANGED),
        (None, P, Change.NEW),
        (None, F, Change.NEW),
        (S, P, Change.NEW),
        (N, F, Change.NEW),
        (P, None, Change.DROPPED),
        (F, S, Change.DROPPED),
        (E, N, Change.DROPPED),
        (S, None, Change.UNCHANGED),
        (None, S, Change.UNCHANGED),
    ],
)
def test_classify(before: Verdict | None, after: Verdict | None, change: Change) -> None:
    assert classify(before, after) is change


def test_compare_takes_the_latest_verdict_per_side(make_record) -> None:  # type: ignore[no-untyped-def]
    before = [
        make_record(test_id="t[ev-a@cp-1]", verdict="failed", wall_s=1.0),
        make_record(test_id="t[ev-a@cp-1]", verdict="passed", wall_s=2.0),  # re-run: passed
        make_record(test_id="u[ev-a@cp-1]", verdict="passed", wall_s=1.0),
    ]
    after = [
        make_record(test_id="t[ev-a@cp-1]", verdict="passed", wall_s=3.0),
        make_record(test_id="u[ev-a@cp-1]", verdict="error", wall_s=3.0, message="bench"),
        make_record(test_id="u[ev-a@cp-1]", verdict="not_run", wall_s=4.0),  # never replaces
    ]
    diff = compare(before, after, kind="runs", before_label="a", after_label="b")
    assert [(e.test, e.change) for e in diff.entries] == [
        ("t", Change.UNCHANGED),
        ("u", Change.REGRESSION),
    ]
    assert diff.to_json()["counts"]["regression"] == 1
    assert diff.to_json()["entries"][1]["after"]["message"] == "bench"


def test_parse_when() -> None:
    day = datetime(2024, 5, 1).timestamp()
    assert parse_when("2024-05-01") == day
    assert parse_when("2024-05-01", end_of_day=True) == pytest.approx(day + 86400, abs=1e-3)
    assert parse_when("2024-05-01T14:30") == datetime(2024, 5, 1, 14, 30).timestamp()
    assert parse_when("2024-05-01T12:00Z") == 1714564800.0
    assert parse_when("2024-05-01T14:00+02:00") == 1714564800.0
    assert parse_when("36h", now_s=1_000_000.0) == 1_000_000.0 - 36 * 3600
    assert parse_when("2w", now_s=2_000_000.0) == 2_000_000.0 - 14 * 86400
    with pytest.raises(ValueError, match="YYYY-MM-DD.*7d"):
        parse_when("last tuesday")


def test_empty_filter_selects_everything() -> None:
    assert ResultFilter().where() == ("1 = 1", [])
    assert ResultFilter(evs=["a"]).describe() == {"evs": ["a"]}
