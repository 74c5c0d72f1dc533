"""Results: verdicts, the run journal, the results store, the EV x charger matrix and diffs."""

from testbench.results.db import StoreError
from testbench.results.diff import Change, Diff, DiffEntry, compare
from testbench.results.drilldown import CellDetail, cell_detail
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
    latest_records,
    matrix_from_journals,
    write_matrix_json,
)
from testbench.results.query import ResultFilter, parse_when
from testbench.results.store import (
    ImportReport,
    ResultStore,
    RunInfo,
    import_run,
    open_store,
)
from testbench.results.verdict import SEVERITY, Verdict, worst_verdict

__all__ = [
    "SEVERITY",
    "Cell",
    "CellDetail",
    "Change",
    "ChargerColumn",
    "Diff",
    "DiffEntry",
    "EVRow",
    "Failure",
    "ImportReport",
    "Journal",
    "JournalContent",
    "Matrix",
    "ResultFilter",
    "ResultRecord",
    "ResultStore",
    "RunInfo",
    "StoreError",
    "Verdict",
    "build_matrix",
    "cell_detail",
    "compare",
    "find_journals",
    "import_run",
    "latest_records",
    "matrix_from_journals",
    "new_run_id",
    "open_store",
    "parse_when",
    "read_journal",
    "run_dir_for",
    "worst_verdict",
    "write_matrix_json",
]
