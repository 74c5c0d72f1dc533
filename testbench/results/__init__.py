"""Results: verdicts, the append-only run journal and the EV x charger matrix."""

from testbench.results.journal import (
    Journal,
    JournalContent,
    ResultRecord,
    find_journals,
    new_run_id,
    read_journal,
    run_dir_for,
)
from testbench.results.matrix import (
    Cell,
    ChargerColumn,
    EVRow,
    Failure,
    Matrix,
    build_matrix,
    matrix_from_journals,
    write_matrix_json,
)
from testbench.results.verdict import SEVERITY, Verdict, worst_verdict

__all__ = [
    "SEVERITY",
    "Cell",
    "ChargerColumn",
    "EVRow",
    "Failure",
    "Journal",
    "JournalContent",
    "Matrix",
    "ResultRecord",
    "Verdict",
    "build_matrix",
    "find_journals",
    "matrix_from_journals",
    "new_run_id",
    "read_journal",
    "run_dir_for",
    "worst_verdict",
    "write_matrix_json",
]
