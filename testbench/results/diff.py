"""What changed between two runs, or between two firmware versions of one charger.

Each test present on either side is classified (``before`` -> ``after``):

* **regression**: passed -> failed or error (an error means the bench could not judge the
  device any more: it is listed, marked as a bench error, and must be re-run);
* **fix**: failed or error -> passed;
* **changed**: failed <-> error (still a problem, of another kind);
* **unchanged**: the same verdict on both sides;
* **new** (newly applicable): not run, skipped or absent before, judged now;
* **dropped**: judged before, skipped, not run or absent now.

For a run diff a test is (EV, charger, test); for a firmware diff of one charger it is
(EV, test), each side taking the latest verdict with that firmware over every run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from testbench.results.identity import canonical_test_id
from testbench.results.journal import ResultRecord
from testbench.results.matrix import NO_DEVICE, supersedes
from testbench.results.verdict import Verdict

_JUDGED = (Verdict.PASSED, Verdict.FAILED, Verdict.ERROR)


class Change(StrEnum):
    """How one test's verdict moved between the two sides of a diff."""

    REGRESSION = "regression"
    FIX = "fix"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    NEW = "new"
    DROPPED = "dropped"


#: Display order: what a firmware certifier asks first comes first.
CHANGE_ORDER: tuple[Change, ...] = (
    Change.REGRESSION,
    Change.FIX,
    Change.CHANGED,
    Change.NEW,
    Change.DROPPED,
    Change.UNCHANGED,
)


def classify(before: Verdict | None, after: Verdict | None) -> Change:
    """The :class:`Change` from ``before`` to ``after`` (None: the test is absent on that side)."""
    if after in _JUDGED:
        if before not in _JUDGED:
            return Change.NEW
        if before is after:
            return Change.UNCHANGED
        if before is Verdict.PASSED:
            return Change.REGRESSION
        if after is Verdict.PASSED:
            return Change.FIX
        return Change.CHANGED
    if before in _JUDGED:
        return Change.DROPPED
    return Change.UNCHANGED


@dataclass(frozen=True)
class DiffEntry:
    """One test compared: where it ran, what it is, its verdict on each side."""

    ev: str
    charger: str
    test: str
    change: Change
    before: ResultRecord | None
    after: ResultRecord | None

    @property
    def latest(self) -> ResultRecord:
        """The record that describes the test (``after`` when present)."""
        found = self.after or self.before
        assert found is not None
        return found

    @property
    def name(self) -> str:
        return self.latest.name

    @property
    def testcase_id(self) -> str | None:
        return self.latest.testcase_id

    def verdict_before(self) -> Verdict | None:
        return None if self.before is None else self.before.verdict

    def verdict_after(self) -> Verdict | None:
        return None if self.after is None else self.after.verdict

    def to_json(self) -> dict[str, Any]:
        def side(record: ResultRecord | None) -> dict[str, Any] | None:
            if record is None:
                return None
            return {
                "verdict": record.verdict.value,
                "message": record.message,
                "run_id": record.run_id,
                "test_id": record.test_id,
                "station": record.station,
                "charger_firmware": record.charger_firmware,
                "ev_software": record.ev_software,
                "wall_s": record.wall_s,
                "evidence": list(record.evidence),
            }

        return {
            "ev": self.ev,
            "charger": self.charger,
            "test": self.test,
            "name": self.name,
            "testcase_id": self.testcase_id,
            "suite": self.latest.suite,
            "change": self.change.value,
            "before": side(self.before),
            "after": side(self.after),
        }


@dataclass
class Diff:
    """The comparison of side A (before) with side B (after)."""

    kind: str  # "runs" | "firmware"
    before_label: str
    after_label: str
    entries: list[DiffEntry]
    meta: dict[str, Any] = field(default_factory=dict)

    def of(self, change: Change) -> list[DiffEntry]:
        """The entries with this change, sorted by EV, charger, test."""
        return [e for e in self.entries if e.change is change]

    @property
    def regressions(self) -> list[DiffEntry]:
        return self.of(Change.REGRESSION)

    @property
    def fixes(self) -> list[DiffEntry]:
        return self.of(Change.FIX)

    @property
    def counts(self) -> dict[Change, int]:
        return {c: len(self.of(c)) for c in CHANGE_ORDER}

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "testbench.diff/1",
            "kind": self.kind,
            "before": self.before_label,
            "after": self.after_label,
            "counts": {c.value: n for c, n in self.counts.items()},
            "entries": [e.to_json() for e in self.entries],
            "meta": dict(self.meta),
        }


def _latest(
    records: Iterable[ResultRecord], *, with_charger: bool
) -> dict[tuple[str, str, str], ResultRecord]:
    latest: dict[tuple[str, str, str], ResultRecord] = {}
    for record in records:
        test = canonical_test_id(
            record.test_id, station=record.station, ev=record.ev, charger=record.charger
        )
        key = (
            record.ev or NO_DEVICE,
            (record.charger or NO_DEVICE) if with_charger else "",
            test,
        )
        old = latest.get(key)
        if old is None or supersedes(record, old):
            latest[key] = record
    return latest


def compare(
    before: Iterable[ResultRecord],
    after: Iterable[ResultRecord],
    *,
    kind: str,
    before_label: str,
    after_label: str,
    charger: str | None = None,
) -> Diff:
    """Compare two sets of records (each reduced to its latest verdict per test).

    ``charger`` set: a firmware diff of that charger (tests keyed by EV and test only);
    otherwise tests are keyed by EV, charger and test.
    """
    with_charger = charger is None
    a = _latest(before, with_charger=with_charger)
    b = _latest(after, with_charger=with_charger)
    entries = []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key), b.get(key)
        change = classify(
            None if old is None else old.verdict, None if new is None else new.verdict
        )
        entries.append(
            DiffEntry(
                ev=key[0],
                charger=key[1] if with_charger else str(charger),
                test=key[2],
                change=change,
                before=old,
                after=new,
            )
        )
    meta: dict[str, Any] = {} if charger is None else {"charger": charger}
    return Diff(
        kind=kind, before_label=before_label, after_label=after_label, entries=entries, meta=meta
    )
