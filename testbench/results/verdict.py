"""The verdict of one test on one EV x charger pairing, and which verdict is "worst".

Severity order, worst first (used for a matrix cell's colour and a run's exit status)::

    failed  >  error  >  passed  >  skipped  >  not_run

* ``failed`` is worst: the device under test did wrong. That is what the matrix exists to show.
* ``error`` comes next and is always shown distinctly: the bench, an instrument or the lab
  set-up failed, so nothing is known about the device for that test. It must never be
  mistaken for a device failure, nor hidden behind a pass.
* ``passed`` outranks ``skipped``: a cell with passes and some not-applicable tests is green.
* ``skipped`` means not applicable (a capability the pairing or station lacks).
* ``not_run`` is planned but never executed (run aborted, deselected): no information.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    """Outcome of one test. The string value is what the journal and matrix.json store."""

    PASSED = "passed"
    FAILED = "failed"  # the device under test did wrong
    ERROR = "error"  # the bench / an instrument / the set-up failed; device not blamed
    SKIPPED = "skipped"  # not applicable: a required capability is missing
    NOT_RUN = "not_run"  # planned, never executed

    @property
    def severity(self) -> int:
        """Rank in the severity order: higher is worse (failed = 4 ... not_run = 0)."""
        return SEVERITY[self]

    @property
    def is_problem(self) -> bool:
        """True for verdicts a lab engineer must look at (failed, error)."""
        return self in (Verdict.FAILED, Verdict.ERROR)

    @classmethod
    def parse(cls, value: str) -> Verdict:
        """The verdict named ``value`` (case-insensitive); ValueError listing valid names."""
        try:
            return cls(value.strip().lower())
        except (ValueError, AttributeError):
            valid = ", ".join(v.value for v in cls)
            raise ValueError(f"unknown verdict {value!r}; expected one of: {valid}") from None


SEVERITY: dict[Verdict, int] = {
    Verdict.FAILED: 4,
    Verdict.ERROR: 3,
    Verdict.PASSED: 2,
    Verdict.SKIPPED: 1,
    Verdict.NOT_RUN: 0,
}

#: Verdicts from worst to best (the order used for counts in reports).
BY_SEVERITY: tuple[Verdict, ...] = tuple(sorted(Verdict, key=SEVERITY.__getitem__, reverse=True))


def worst_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of ``verdicts`` by the severity order; ``not_run`` when there are none."""
    found = Verdict.NOT_RUN
    for verdict in verdicts:
        if SEVERITY[verdict] > SEVERITY[found]:
            found = verdict
    return found
