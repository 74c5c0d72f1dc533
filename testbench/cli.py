"""The `testbench` command: run suites on a lab, check a lab, start the simulated lab."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.markup import escape

from testbench.errors import LabConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# What a plain `testbench run` covers: the interoperability core of every pairing. Longer
# campaigns (firmware updates, ...) run when named (`testbench run suites/firmware`) or with --all.
DEFAULT_SUITES = ("ocpp", "measured", "iec61851")


def _suites_dir() -> Path:
    import suites

    return Path(suites.__file__).resolve().parent


class _RunObserver:
    """Captures the pytest config of an in-process run so the CLI can read the bench state."""

    def __init__(self) -> None:
        self.config: pytest.Config | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from testbench.lab.loader import load_lab
    from testbench.results.journal import new_run_id

    lab_path = Path(args.lab).resolve()
    try:
        lab = load_lab(lab_path)
    except LabConfigError as exc:
        from testbench.lab.check import render_error

        console.print(render_error(exc))
        return EXIT_USAGE
    for flag, given, known in (("--station", args.station, lab.stations),
                               ("--ev", args.ev, lab.evs), ("--charger", args.charger, lab.chargers)):
        for value in given:
            if value not in known:
                console.print(f"[bold red]usage error:[/] {flag} {escape(value)}: not in {lab_path}; "
                              f"known: {escape(', '.join(known))}")
                return EXIT_USAGE
    run_id = new_run_id()
    if args.suites:
        targets = args.suites
    elif args.all:
        targets = [str(_suites_dir())]
    else:
        targets = [str(_suites_dir() / name) for name in DEFAULT_SUITES]
    for target in targets:
        if not Path(target.split("::")[0]).exists():
            console.print(f"[bold red]usage error:[/] no such suite path {target!r}")
            return EXIT_USAGE
    allure_dir = lab.output_dir / "allure-results"
    pytest_args = [
        *targets, "--lab", str(lab_path), "--run-id", run_id, "--testbench-live",
        "-p", "no:terminal", "-c", str(Path(__file__).parent / "plugin" / "pytest-run.ini"),
        "--rootdir", str(_suites_dir().parent),
        "--alluredir", str(allure_dir), "--clean-alluredir",
    ]
    for station in args.station:
        pytest_args += ["--station", station]
    for ev in args.ev:
        pytest_args += ["--ev", ev]
    for charger in args.charger:
        pytest_args += ["--charger", charger]
    if args.unattended:
        pytest_args.append("--unattended")
    if args.secrets:
        pytest_args += ["--secrets", args.secrets]
    if args.resume:
        previous = lab.output_dir / "runs" / args.resume / "journal.jsonl"
        if not previous.is_file():
            console.print(f"[bold red]usage error:[/] --resume {escape(args.resume)}: no journal at "
                          f"{escape(str(previous))}")
            return EXIT_USAGE
        pytest_args += ["--resume", args.resume]
    if args.k:
        pytest_args += ["-k", args.k]
    if args.workers:
        pytest_args += ["-n", str(args.workers)]
    pytest_args += args.pytest_args

    console.print(f"[bold]testbench run[/] {run_id} on lab [cyan]{lab.settings.name}[/] "
                  f"({lab.settings.mode}, time scale {lab.settings.time_scale:g}) from {lab_path}")
    observer = _RunObserver()
    try:
        code = pytest.main(pytest_args, plugins=[observer])
    except KeyboardInterrupt:
        code = pytest.ExitCode.INTERRUPTED
    return _finish(console, observer, lab, run_id, int(code), resumed_from=args.resume)


def _finish(console: Console, observer: _RunObserver, lab: Any, run_id: str, code: int,
            resumed_from: str | None = None) -> int:
    from testbench.plugin.plugin import BENCH_KEY

    bench = observer.config.stash.get(BENCH_KEY, None) if observer.config else None
    run_dir = lab.output_dir / "runs" / run_id
    journal = run_dir / "journal.jsonl"
    if bench is not None and bench.start_error is not None:
        console.print("[bold red]bench error:[/]", escape(str(bench.start_error)))
    if journal.exists():
        from testbench.reporting.matrix_console import render_failures, render_matrix
        from testbench.results.matrix import matrix_from_journals

        journals = [journal]
        if resumed_from:
            journals.insert(0, lab.output_dir / "runs" / resumed_from / "journal.jsonl")
        matrix = matrix_from_journals(journals)
        console.print(render_matrix(matrix))
        console.print(render_failures(matrix))
        imported = getattr(bench, "import_report", None) if bench is not None else None
        if imported is not None:
            console.print(escape(imported.summary()))
        console.print(f"journal: {journal}\nmatrix:  {lab.output_dir / 'matrix.html'} "
                      "(all runs: `testbench matrix`)\n"
                      f"allure:  {lab.output_dir / 'allure-results'} "
                      "(build the HTML report with `testbench report`)", highlight=False)
    if code == pytest.ExitCode.OK:
        return EXIT_OK
    if code == pytest.ExitCode.TESTS_FAILED:
        return EXIT_FAILED
    if code == pytest.ExitCode.INTERRUPTED:
        if bench is not None and (bench.start_error is not None or bench.collection_errors):
            return EXIT_USAGE
        journal_error = getattr(bench, "journal_error", None) if bench is not None else None
        if journal_error is not None:
            console.print(f"[bold red]stopped:[/] the journal could not be written "
                          f"({escape(str(journal_error))}); the verdicts before it are kept")
        else:
            console.print("[yellow]interrupted:[/] every verdict reached so far is in the "
                          "journal")
        return EXIT_INTERRUPTED
    if code == pytest.ExitCode.NO_TESTS_COLLECTED and resumed_from:
        console.print(f"nothing left to run: every test of {resumed_from} has a verdict")
        return EXIT_OK
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        console.print("[bold red]usage error:[/] no tests selected (check -k, --station, --ev, --charger)")
    elif code == pytest.ExitCode.USAGE_ERROR and (bench is None or bench.start_error is None):
        console.print("[bold red]usage error[/] (see the message above)")
    return EXIT_USAGE


def cmd_lab_check(args: argparse.Namespace, console: Console) -> int:
    from testbench.lab.check import run_lab_check

    return run_lab_check(Path(args.path), console)


def cmd_sim(args: argparse.Namespace, console: Console) -> int:
    # The simulated lab is its own program; the bench only ever starts it, never imports it.
    argv = [sys.executable, "-m", "testbench.sim", "--lab", str(args.lab)]
    if args.csms_url:
        argv += ["--csms-url", args.csms_url]
    if args.epoch is not None:
        argv += ["--epoch", repr(args.epoch)]
    os.execv(sys.executable, argv)
    return EXIT_USAGE  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="testbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run suites over every EV x charger pairing of the lab")
    run.add_argument("suites", nargs="*",
                     help=f"suite files or folders (default: {', '.join(DEFAULT_SUITES)})")
    run.add_argument("--all", action="store_true", help="run every suite, campaigns included")
    run.add_argument("--lab", default="lab.toml", help="lab description (default: ./lab.toml)")
    run.add_argument("--station", action="append", default=[])
    run.add_argument("--ev", action="append", default=[])
    run.add_argument("--charger", action="append", default=[])
    run.add_argument("-k", default=None, help="pytest -k expression selecting tests")
    run.add_argument("-n", "--workers", type=int, default=0, metavar="N",
                     help="run stations in parallel on N workers (simulated labs; one station "
                          "per worker at a time)")
    run.add_argument("--unattended", action="store_true", help="skip steps that need an operator")
    run.add_argument("--secrets", default=None, metavar="PATH",
                     help="charger credentials file outside the repository (default: $TESTBENCH_SECRETS)")
    run.add_argument("--resume", default=None, metavar="RUN_ID",
                     help="re-run only what has no verdict in that earlier run (after Ctrl-C or a crash)")
    run.set_defaults(func=cmd_run)

    lab = sub.add_parser("lab", help="lab description tools")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    check = lab_sub.add_parser("check", help="validate a lab.toml")
    check.add_argument("path", nargs="?", default="lab.toml")
    check.set_defaults(func=cmd_lab_check)

    sim = sub.add_parser("sim", help="run the simulated lab of a lab.toml (started automatically by runs)")
    sim.add_argument("--lab", default="lab.toml")
    sim.add_argument("--csms-url", default=None)
    sim.add_argument("--epoch", type=float, default=None)
    sim.set_defaults(func=cmd_sim)

    from testbench import cli_certify, cli_instruments
    from testbench.cli_matrix import register as register_results_commands

    cli_instruments.register(sub)
    register_results_commands(sub)
    cli_certify.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # everything after `--` goes to pytest untouched
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)
    args.pytest_args = extra
    console = Console(highlight=False)
    try:
        return int(args.func(args, console))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
