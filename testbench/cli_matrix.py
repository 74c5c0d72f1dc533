"""`testbench matrix`, `import`, `runs` and `report`: the results store on the command line.

* ``testbench import [PATH ...]`` brings run journals into the store (idempotent);
* ``testbench matrix`` shows the latest verdict per EV x charger and test (``--by-firmware``:
  per charger firmware), with filters, exports, a drill-down (``--cell``) and diffs
  (``--diff RUN_A RUN_B``, ``--diff-firmware CHARGER FW_A FW_B``; exit 1 on regressions);
* ``testbench runs`` lists the stored runs (ids for ``--diff``);
* ``testbench report`` writes the cross-run HTML matrix and builds the Allure report.

The store is ``--store`` (a path or postgresql:// URL), else ``$TESTBENCH_RESULTS_URL``,
else ``<output_dir of --lab>/results.db``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from testbench.errors import LabConfigError
from testbench.results.db import StoreError
from testbench.results.query import ResultFilter, parse_when
from testbench.results.store import STORE_ENV, ResultStore, open_store

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: `testbench report` writes the matrix of every stored run here, beside the run's matrix.html.
ALL_RUNS_MATRIX = "interop-matrix.html"


class UsageError(Exception):
    """A command-line problem; the message says what to change."""


# ------------------------------------------------------------------------ plumbing
def _output_dir(args: argparse.Namespace, *, required: bool) -> Path | None:
    """The lab's output folder from --lab, or None when no lab file is there (and not required)."""
    lab_path = Path(args.lab)
    if not lab_path.exists():
        if required:
            raise UsageError(
                f"no lab file {lab_path}; give --lab PATH (its output_dir holds the journals "
                "and results.db) or --store"
            )
        return None
    from testbench.lab.loader import load_lab

    try:
        return load_lab(lab_path.resolve()).output_dir
    except LabConfigError as exc:
        raise UsageError(str(exc)) from None


def _store_location(args: argparse.Namespace) -> tuple[str, Path | None]:
    """(store location, output folder or None) for the command's options."""
    if args.store:
        return args.store, _output_dir(args, required=False)
    configured = os.environ.get(STORE_ENV, "").strip()
    if configured:
        return configured, _output_dir(args, required=False)
    output = _output_dir(args, required=True)
    assert output is not None
    return str(output / "results.db"), output


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[ResultStore, Path | None]]:
    location, output = _store_location(args)
    store = open_store(location)
    try:
        yield store, output
    finally:
        store.close()


def _run_command(
    func: Callable[[argparse.Namespace, Console], int],
) -> Callable[[argparse.Namespace, Console], int]:
    """Turn usage and store errors into a red line and exit status 2."""

    def wrapper(args: argparse.Namespace, console: Console) -> int:
        try:
            return func(args, console)
        except (UsageError, ValueError) as exc:
            console.print(f"[bold red]usage error:[/] {escape(str(exc))}")
        except StoreError as exc:
            console.print(f"[bold red]results store error:[/] {escape(str(exc))}")
        return EXIT_USAGE

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lab",
        default="lab.toml",
        help="lab description whose output_dir holds the store (default: ./lab.toml)",
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="PATH|URL",
        help=f"results store: a SQLite file or postgresql://user@host/db "
        f"(default: ${STORE_ENV}, else <output_dir>/results.db)",
    )


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (repeat an option for alternatives)")
    group.add_argument("--suite", action="append", default=[], help="suite and its sub-suites")
    group.add_argument("--ev", action="append", default=[], help="EV id")
    group.add_argument("--charger", action="append", default=[], help="charger id")
    group.add_argument(
        "--firmware",
        action="append",
        default=[],
        metavar="FW|CHARGER=FW",
        help="charger firmware (CHARGER=FW limits only that charger)",
    )
    group.add_argument(
        "--since",
        default=None,
        metavar="WHEN",
        help="results from then on: YYYY-MM-DD[THH:MM], or 7d / 36h / 2w ago",
    )
    group.add_argument(
        "--until",
        default=None,
        metavar="WHEN",
        help="results up to then (a bare date includes that whole day)",
    )
    group.add_argument("--station", action="append", default=[], help="station id")
    group.add_argument("--lab-name", action="append", default=[], help="lab name (shared stores)")
    group.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN",
        help="run id, unique prefix, latest or latest~N",
    )


def _filter(args: argparse.Namespace, store: ResultStore) -> ResultFilter:
    return ResultFilter(
        suites=list(getattr(args, "suite", [])),
        evs=list(getattr(args, "ev", [])),
        chargers=list(getattr(args, "charger", [])),
        firmware=list(getattr(args, "firmware", [])),
        since_wall_s=None if not getattr(args, "since", None) else parse_when(args.since),
        until_wall_s=None
        if not getattr(args, "until", None)
        else parse_when(args.until, end_of_day=True),
        stations=list(getattr(args, "station", [])),
        labs=list(getattr(args, "lab_name", [])),
        runs=[store.resolve_run(r) for r in getattr(args, "run", [])],
    )


def _wrote(console: Console, what: str, path: Path) -> None:
    console.print(f"{what}: {path}", highlight=False, soft_wrap=True)


def _unimported_hint(console: Console, store: ResultStore, output: Path | None) -> None:
    if output is None:
        return
    from testbench.results.journal import find_journals

    missing = [j for j in find_journals(output) if j.parent.name not in store.run_ids()]
    if missing:
        console.print(
            f"[yellow]note:[/] {len(missing)} run journal(s) under {escape(str(output))} are not in "
            f"the store; bring them in with `testbench import --lab ...`",
            soft_wrap=True,
        )


# ------------------------------------------------------------------------- import
@_run_command
def cmd_import(args: argparse.Namespace, console: Console) -> int:
    """Import run journals into the results store."""
    from testbench.results.store import journals_under

    with _opened(args) as (store, output):
        targets = [Path(p) for p in args.paths] or ([output] if output is not None else [])
        if not targets:
            raise UsageError("name the journals or folders to import, or give --lab")
        journals: list[Path] = []
        for target in targets:
            try:
                journals += journals_under(target)
            except FileNotFoundError as exc:
                raise UsageError(str(exc)) from None
        if not journals:
            console.print(f"no run journals under {', '.join(map(str, targets))}")
            return EXIT_OK
        totals = {"inserted": 0, "updated": 0, "unchanged": 0, "skipped": 0}
        failed = 0
        reports = []
        for journal in journals:
            report = store.import_journal(journal)
            reports.append(report)
            if not report.ok:
                failed += 1
                console.print(f"[bold red]✘[/] {escape(report.summary())}", soft_wrap=True)
                continue
            mark = "[green]✔[/]" if not report.problems else "[yellow]![/]"
            console.print(f"{mark} {escape(report.summary())}", soft_wrap=True)
            for problem in report.problems:
                console.print(f"    [yellow]skipped:[/] {escape(problem)}", soft_wrap=True)
            totals["inserted"] += report.inserted
            totals["updated"] += report.updated
            totals["unchanged"] += report.unchanged
            totals["skipped"] += len(report.problems)
        console.print(
            f"{len(journals)} journal(s) into {escape(store.location)}: {totals['inserted']} new, "
            f"{totals['updated']} changed, {totals['unchanged']} unchanged result(s); "
            f"{totals['skipped']} journal line(s) skipped"
            + (f"; [bold red]{failed} journal(s) not imported[/]" if failed else ""),
            soft_wrap=True,
        )
        if args.json:
            path = Path(args.json)
            from testbench.reporting.exports import atomic_write_text

            atomic_write_text(path, json.dumps([r.to_json() for r in reports], indent=2) + "\n")
            _wrote(console, "import report", path)
    return EXIT_FAILED if failed else EXIT_OK


# -------------------------------------------------------------------------- runs
@_run_command
def cmd_runs(args: argparse.Namespace, console: Console) -> int:
    """List the runs in the store."""
    from testbench.reporting.style import ICON, RICH_STYLE
    from testbench.results.verdict import BY_SEVERITY

    with _opened(args) as (store, _output):
        runs = store.runs()
        if args.lab_name:
            runs = [r for r in runs if r.lab in args.lab_name]
        if args.since:
            since = parse_when(args.since)
            runs = [r for r in runs if (r.started_wall_s or 0) >= since]
        if args.until:
            until = parse_when(args.until, end_of_day=True)
            runs = [r for r in runs if (r.started_wall_s or 0) <= until]
        if args.json:
            from testbench.reporting.exports import atomic_write_text

            atomic_write_text(
                Path(args.json), json.dumps([r.to_json() for r in runs], indent=2) + "\n"
            )
            _wrote(console, "runs", Path(args.json))
        table = Table(title=f"Runs in {store.location}", title_justify="left")
        for column in (
            "run id",
            "lab",
            "station",
            "host",
            "started",
            "status",
            "verdicts",
            "charger firmware",
        ):
            table.add_column(column)
        for run in runs:
            counts = Text()
            for verdict in BY_SEVERITY:
                n = run.counts.get(verdict, 0)
                if n:
                    counts.append(f"{ICON[verdict]}{n} ", style=RICH_STYLE[verdict])
            started = (
                datetime.fromtimestamp(run.started_wall_s).strftime("%Y-%m-%d %H:%M")
                if run.started_wall_s
                else "?"
            )
            table.add_row(
                run.run_id,
                run.lab or "",
                ", ".join(run.stations),
                run.host or "",
                started,
                run.status + (f" ({len(run.problems)} line(s) skipped)" if run.problems else ""),
                counts,
                ", ".join(f"{c} {fw}" for c, fw in sorted(run.chargers.items())),
            )
        console.print(table)
        if not runs:
            console.print(
                "no runs stored yet: `testbench run` imports each run, "
                "`testbench import` brings in older journals"
            )
    return EXIT_OK


# ------------------------------------------------------------------------ matrix
def _exports_requested(args: argparse.Namespace) -> bool:
    return any((args.html, args.json, args.csv, args.markdown))


@_run_command
def cmd_matrix(args: argparse.Namespace, console: Console) -> int:
    """Show the interoperability matrix of the stored results (or a drill-down or a diff)."""
    with _opened(args) as (store, output):
        filt = _filter(args, store)
        if args.diff or args.diff_firmware:
            return _matrix_diff(args, console, store, filt)
        if args.cell:
            return _matrix_cell(args, console, store, filt)
        return _matrix_view(args, console, store, filt, output)


def _lab_order(args: argparse.Namespace) -> tuple[list[str] | None, list[str] | None]:
    lab_path = Path(args.lab)
    if not lab_path.exists():
        return None, None
    from testbench.lab.loader import load_lab

    try:
        lab = load_lab(lab_path.resolve())
    except LabConfigError:
        return None, None
    return list(lab.evs), list(lab.chargers)


def store_matrix(
    store: ResultStore,
    filt: ResultFilter,
    *,
    by_firmware: bool = False,
    evs: list[str] | None = None,
    chargers: list[str] | None = None,
) -> tuple[Any, list[Any]]:
    """(matrix, kept records) of the stored results the filter selects."""
    from testbench.results.matrix import build_matrix, latest_records

    records = store.results(filt, absolute_evidence=True)
    kept = latest_records(records, by_firmware=by_firmware)
    found_evs = {r.ev for r in kept}
    found_chargers = {r.charger for r in kept}
    matrix = build_matrix(
        kept,
        evs=[e for e in evs or () if e in found_evs],
        chargers=[c for c in chargers or () if c in found_chargers],
        by_firmware=by_firmware,
    )
    runs = store.runs({r.run_id for r in kept if r.run_id})
    matrix.runs = [r.to_json() for r in runs]
    matrix.problems = [p for r in runs for p in r.problems]
    matrix.meta = {"store": store.location, "filters": filt.describe(), "by_firmware": by_firmware}
    return matrix, kept


def _matrix_view(
    args: argparse.Namespace,
    console: Console,
    store: ResultStore,
    filt: ResultFilter,
    output: Path | None,
) -> int:
    from testbench.reporting.exports import write_matrix_csv, write_matrix_markdown
    from testbench.reporting.matrix_console import render_failures, render_matrix
    from testbench.reporting.matrix_html import write_matrix_html
    from testbench.results.matrix import write_matrix_json

    evs, chargers = _lab_order(args)
    matrix, kept = store_matrix(
        store, filt, by_firmware=args.by_firmware, evs=evs, chargers=chargers
    )
    title = "EV x charger interoperability" + (" by charger firmware" if args.by_firmware else "")
    if not args.quiet:
        if not kept:
            console.print(f"no results in {escape(store.location)} for these filters")
        else:
            console.print(render_matrix(matrix, title=title))
            console.print(render_failures(matrix))
            console.print(
                f"{len(kept)} test verdict(s) from {len(matrix.runs)} run(s) in "
                f"{escape(store.location)}",
                soft_wrap=True,
                style="dim",
            )
        _unimported_hint(console, store, output)
    if args.html:
        _wrote(console, "HTML", write_matrix_html(matrix, Path(args.html), title=title))
    if args.json:
        _wrote(console, "JSON", write_matrix_json(matrix, Path(args.json)))
    if args.csv:
        path = write_matrix_csv(matrix, kept, Path(args.csv), by_firmware=args.by_firmware)
        _wrote(console, "CSV", path)
    if args.markdown:
        _wrote(console, "Markdown", write_matrix_markdown(matrix, Path(args.markdown), title))
    return EXIT_OK


def _matrix_cell(
    args: argparse.Namespace, console: Console, store: ResultStore, filt: ResultFilter
) -> int:
    from testbench.reporting.cell_report import render_cell_detail, render_cell_markdown
    from testbench.reporting.exports import atomic_write_text, write_matrix_csv
    from testbench.reporting.matrix_html import write_matrix_html
    from testbench.results.drilldown import cell_detail
    from testbench.results.matrix import build_matrix, latest_records

    ev, charger = args.cell
    records = store.results(
        filt.with_condition("r.ev = ? AND r.charger = ?", ev, charger), absolute_evidence=True
    )
    if not records:
        known = store.results(filt)
        evs = sorted({r.ev for r in known if r.ev})
        chargers = sorted({r.charger for r in known if r.charger})
        raise UsageError(
            f"no results for {ev} x {charger} with these filters; EVs with results: "
            f"{', '.join(evs) or 'none'}; chargers: {', '.join(chargers) or 'none'}"
        )
    detail = cell_detail(records, ev, charger, by_firmware=args.by_firmware)
    if not args.quiet:
        console.print(render_cell_detail(detail))
    if args.json:
        text = json.dumps(detail.to_json(), indent=2, ensure_ascii=False) + "\n"
        _wrote(console, "JSON", atomic_write_text(Path(args.json), text))
    if args.markdown:
        _wrote(
            console,
            "Markdown",
            atomic_write_text(Path(args.markdown), render_cell_markdown(detail)),
        )
    if args.html or args.csv:
        kept = latest_records(records, by_firmware=args.by_firmware)
        matrix = build_matrix(kept, by_firmware=args.by_firmware)
        matrix.meta = {
            "store": store.location,
            "filters": filt.describe(),
            "by_firmware": args.by_firmware,
        }
        matrix.runs = [r.to_json() for r in store.runs({r.run_id for r in kept if r.run_id})]
        if args.html:
            _wrote(
                console,
                "HTML",
                write_matrix_html(matrix, Path(args.html), title=f"{ev} x {charger}"),
            )
        if args.csv:
            _wrote(
                console,
                "CSV",
                write_matrix_csv(matrix, kept, Path(args.csv), by_firmware=args.by_firmware),
            )
    return EXIT_OK


def _matrix_diff(
    args: argparse.Namespace, console: Console, store: ResultStore, filt: ResultFilter
) -> int:
    from testbench.reporting.diff_report import render_diff, write_diff
    from testbench.results.diff import compare

    if args.diff and args.diff_firmware:
        raise UsageError("give either --diff RUN_A RUN_B or --diff-firmware CHARGER FW_A FW_B")
    if args.diff:
        run_a, run_b = (store.resolve_run(r) for r in args.diff)
        before = store.results(dataclasses.replace(filt, runs=[run_a]), absolute_evidence=True)
        after = store.results(dataclasses.replace(filt, runs=[run_b]), absolute_evidence=True)
        diff = compare(before, after, kind="runs", before_label=run_a, after_label=run_b)
    else:
        charger, fw_a, fw_b = args.diff_firmware
        versions = store.firmware_versions(charger)
        for fw in (fw_a, fw_b):
            if fw not in versions:
                raise UsageError(
                    f"charger {charger} has no results with firmware {fw!r}; firmware with "
                    f"results: {', '.join(versions) or 'none'}"
                )
        side = "r.charger = ? AND r.charger_firmware = ?"
        before = store.results(filt.with_condition(side, charger, fw_a), absolute_evidence=True)
        after = store.results(filt.with_condition(side, charger, fw_b), absolute_evidence=True)
        diff = compare(
            before, after, kind="firmware", before_label=fw_a, after_label=fw_b, charger=charger
        )
    diff.meta.update({"store": store.location, "filters": filt.describe()})
    if not args.quiet:
        console.print(render_diff(diff, show_unchanged=args.show_unchanged))
    for path in write_diff(
        diff,
        html=Path(args.html) if args.html else None,
        json_path=Path(args.json) if args.json else None,
        csv_path=Path(args.csv) if args.csv else None,
        markdown=Path(args.markdown) if args.markdown else None,
    ):
        _wrote(console, "diff", path)
    return EXIT_FAILED if diff.regressions else EXIT_OK


# ------------------------------------------------------------------------ report
@_run_command
def cmd_report(args: argparse.Namespace, console: Console) -> int:
    """Write the cross-run HTML matrix and build the Allure report."""
    from testbench.reporting.allure_report import build_allure_report, environment_from_journal
    from testbench.reporting.matrix_html import write_matrix_html
    from testbench.results.journal import find_journals, read_journal

    output = _output_dir(args, required=not (args.results and args.report_dir))
    results_dir = Path(args.results) if args.results else Path(output or ".") / "allure-results"
    report_dir = Path(args.report_dir) if args.report_dir else Path(output or ".") / "allure-report"

    if not args.no_matrix and output is not None:
        try:
            location = (
                args.store or os.environ.get(STORE_ENV, "").strip() or str(output / "results.db")
            )
            with open_store(location) as store:
                evs, chargers = _lab_order(args)
                matrix, kept = store_matrix(store, ResultFilter(), evs=evs, chargers=chargers)
                if kept:
                    path = write_matrix_html(
                        matrix,
                        output / ALL_RUNS_MATRIX,
                        title="EV x charger interoperability (all stored runs)",
                    )
                    _wrote(console, "matrix of all stored runs", path)
                else:
                    console.print(f"no results in {escape(store.location)} yet")
        except StoreError as exc:
            console.print(f"[yellow]matrix not written:[/] {escape(str(exc))}", soft_wrap=True)

    environment, build_name = None, None
    journals = find_journals(output) if output is not None else []
    if journals:
        content = read_journal(journals[-1])
        environment = environment_from_journal(content) or None
        build_name = content.run_id
    build = build_allure_report(
        results_dir, report_dir, name=args.name, build_name=build_name, environment=environment
    )
    if build.built:
        carried = " (history carried from the previous report)" if build.history_carried else ""
        console.print(f"[green]✔[/] {escape(build.message)}{carried}", soft_wrap=True)
        return EXIT_OK
    if build.tool is None:
        console.print(
            f"[yellow]Allure report not built:[/] {escape(build.message)}", soft_wrap=True
        )
        return EXIT_OK
    console.print(f"[bold red]Allure report failed:[/] {escape(build.message)}", soft_wrap=True)
    return EXIT_FAILED


# ---------------------------------------------------------------------- register
def register(subparsers: Any) -> None:
    """Add the ``import``, ``matrix``, ``runs`` and ``report`` commands to ``testbench``.

    ``subparsers`` is the object returned by ``parser.add_subparsers(...)``; each command
    sets ``func(args, console) -> int`` like the other testbench commands.
    """
    imp = subparsers.add_parser(
        "import",
        help="import run journals into the results store (idempotent)",
        description="Import run journals into the results store. Importing a journal again "
        "changes nothing; a corrupted or truncated line is reported and skipped.",
    )
    imp.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="journal files, run folders or output folders (default: the lab's)",
    )
    _add_store_options(imp)
    imp.add_argument(
        "--json", default=None, metavar="PATH", help="write the import reports as JSON"
    )
    imp.set_defaults(func=cmd_import)

    mat = subparsers.add_parser(
        "matrix",
        help="interoperability matrix over every stored run, drill-down and diffs",
        description="The latest verdict per EV x charger pairing and test over every stored "
        "run. Exit status 1 in diff mode when there are regressions.",
    )
    _add_store_options(mat)
    _add_filters(mat)
    mat.add_argument(
        "--by-firmware",
        action="store_true",
        help="one column per charger firmware instead of per charger",
    )
    mode = mat.add_argument_group("drill-down and diffs")
    mode.add_argument(
        "--cell",
        nargs=2,
        metavar=("EV", "CHARGER"),
        default=None,
        help="every test of one pairing: verdicts, reasons, evidence, history",
    )
    mode.add_argument(
        "--diff",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        default=None,
        help="regressions, fixes and changes from run A to run B",
    )
    mode.add_argument(
        "--diff-firmware",
        nargs=3,
        metavar=("CHARGER", "FW_A", "FW_B"),
        default=None,
        help="regressions and fixes of a charger from FW_A to FW_B",
    )
    mode.add_argument("--show-unchanged", action="store_true", help="list unchanged tests in diffs")
    out = mat.add_argument_group("exports")
    out.add_argument("--html", default=None, metavar="PATH", help="self-contained HTML page")
    out.add_argument("--json", default=None, metavar="PATH", help="JSON")
    out.add_argument("--csv", default=None, metavar="PATH", help="CSV, one row per test")
    out.add_argument("--markdown", default=None, metavar="PATH", help="Markdown")
    out.add_argument("-q", "--quiet", action="store_true", help="no console output but file paths")
    mat.set_defaults(func=cmd_matrix)

    runs = subparsers.add_parser("runs", help="list the runs in the results store")
    _add_store_options(runs)
    runs.add_argument("--lab-name", action="append", default=[], help="only runs of this lab")
    runs.add_argument("--since", default=None, metavar="WHEN", help="runs started from then on")
    runs.add_argument("--until", default=None, metavar="WHEN", help="runs started up to then")
    runs.add_argument("--json", default=None, metavar="PATH", help="write the list as JSON")
    runs.set_defaults(func=cmd_runs)

    rep = subparsers.add_parser(
        "report",
        help="HTML matrix of all stored runs and the Allure report (with history)",
        description="Writes <output_dir>/interop-matrix.html from the results store and builds "
        "<output_dir>/allure-report with the Allure command-line tool when it is installed, "
        "carrying the previous report's history so trends show.",
    )
    _add_store_options(rep)
    rep.add_argument(
        "--results",
        default=None,
        metavar="DIR",
        help="Allure results folder (default: <output_dir>/allure-results)",
    )
    rep.add_argument(
        "--report-dir",
        default=None,
        metavar="DIR",
        help="Allure report folder (default: <output_dir>/allure-report)",
    )
    rep.add_argument("--name", default="testbench", help="report name shown by Allure")
    rep.add_argument("--no-matrix", action="store_true", help="only build the Allure report")
    rep.set_defaults(func=cmd_report)
