"""One matrix cell in detail: which tests, their verdicts and reasons, evidence and history.

For every test of the EV x charger pairing the latest verdict is shown (per charger
firmware when asked), with the message, evidence files and the test's earlier verdicts
(oldest first), so a lab engineer sees at once whether a failure is new, steady or flaky.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from testbench.results.identity import canonical_test_id
from testbench.results.journal import ResultRecord
from testbench.results.matrix import NO_DEVICE, latest_records
from testbench.results.verdict import BY_SEVERITY, SEVERITY, Verdict


@dataclass
class CellTest:
    """One test in a cell: the verdict that counts and every verdict it had before."""

    test: str
    record: ResultRecord
    history: list[ResultRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {
            "test": self.test,
            "test_id": r.test_id,
            "name": r.name,
            "testcase_id": r.testcase_id,
            "suite": r.suite,
            "verdict": r.verdict.value,
            "message": r.message,
            "station": r.station,
            "run_id": r.run_id,
            "charger_firmware": r.charger_firmware,
            "ev_software": r.ev_software,
            "ocpp_version": r.ocpp_version,
            "duration_s": None if r.duration_s != r.duration_s else r.duration_s,
            "wall_s": r.wall_s,
            "evidence": list(r.evidence),
            "history": [
                {
                    "verdict": h.verdict.value,
                    "run_id": h.run_id,
                    "charger_firmware": h.charger_firmware,
                    "wall_s": h.wall_s,
                }
                for h in self.history
            ],
        }


@dataclass
class CellDetail:
    """Every test of one EV x charger pairing, worst verdict first."""

    ev: str
    charger: str
    tests: list[CellTest]
    by_firmware: bool = False

    @property
    def counts(self) -> dict[Verdict, int]:
        counts = {v: 0 for v in BY_SEVERITY}
        for test in self.tests:
            counts[test.record.verdict] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "testbench.cell/1",
            "ev": self.ev,
            "charger": self.charger,
            "by_firmware": self.by_firmware,
            "counts": {v.value: n for v, n in self.counts.items()},
            "tests": [t.to_json() for t in self.tests],
        }


def cell_detail(
    records: Iterable[ResultRecord], ev: str, charger: str, *, by_firmware: bool = False
) -> CellDetail:
    """The detail of ``ev`` x ``charger`` from any records (others are ignored)."""
    mine = [r for r in records if (r.ev or NO_DEVICE) == ev and (r.charger or NO_DEVICE) == charger]
    history: dict[str, list[ResultRecord]] = defaultdict(list)
    for record in sorted(mine, key=lambda r: r.wall_s):
        history[
            canonical_test_id(
                record.test_id, station=record.station, ev=record.ev, charger=record.charger
            )
        ].append(record)
    tests = []
    for record in latest_records(mine, by_firmware=by_firmware):
        test = canonical_test_id(
            record.test_id, station=record.station, ev=record.ev, charger=record.charger
        )
        tests.append(
            CellTest(
                test=test, record=record, history=[h for h in history[test] if h is not record]
            )
        )
    tests.sort(
        key=lambda t: (
            -SEVERITY[t.record.verdict],
            t.record.testcase_id or "~",
            t.record.name,
            t.test,
            t.record.charger_firmware or "",
        )
    )
    return CellDetail(ev=ev, charger=charger, tests=tests, by_firmware=by_firmware)
