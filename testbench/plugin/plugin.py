"""The testbench pytest plugin: lab, pairings, fixtures, verdict journal, Allure labels.

Inert unless a test asks for a bench fixture (``pairing``, ``charger``, ``station``, ...):
the project's own tests run with it loaded and nothing starts.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import testbench
from testbench.errors import BenchError, LabConfigError
from testbench.lab.loader import load_lab
from testbench.lab.model import Lab, Pairing
from testbench.plugin.locks import holder_text
from testbench.plugin.scaleout import (
    RUN_ID_INPUT,
    group_by_station,
    plain_nodeid,
    refuse_parallel_real_lab,
    worker_lab,
)
from testbench.plugin.verdicts import PhaseOutcome, combine, describe, skip_reason
from testbench.redact import redact_text
from testbench.results.journal import Journal, ResultRecord, new_run_id

BENCH_KEY = pytest.StashKey["BenchSession"]()
PHASES_KEY = pytest.StashKey[list[PhaseOutcome]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("testbench", "EV charging interoperability bench")
    group.addoption("--lab", default=None, help="lab description (default: ./lab.toml)")
    group.addoption("--station", action="append", default=[], help="only this station (repeatable)")
    group.addoption("--ev", action="append", default=[], help="only this EV (repeatable)")
    group.addoption("--charger", action="append", default=[], help="only this charger (repeatable)")
    group.addoption("--unattended", action="store_true", default=False,
                    help="never ask the operator: skip steps that need one (default under CI)")
    group.addoption("--run-id", default=None, help="id of this run (default: generated)")
    group.addoption("--secrets", default=None, metavar="PATH",
                    help="charger credentials file outside the repository (default: $TESTBENCH_SECRETS)")
    group.addoption("--resume", default=None, metavar="RUN_ID",
                    help="skip the tests that already have a verdict in that run; run the rest")
    group.addoption("--testbench-live", action="store_true", default=False,
                    help="live rich progress and verdicts (used by `testbench run`)")
    group.addoption("--charger-firmware", action="append", default=[], metavar="CHARGER=VERSION",
                    help="the firmware a charger runs now, instead of lab.toml's (after an "
                         "update: used by `testbench certify`; repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "testcase(v16=None, v201=None, v21=None): certification "
                            "test-case id per OCPP version, recorded as an Allure label")
    config.addinivalue_line("markers", "requires(*needs): skip unless the station has these "
                            "instrument roles / the pairing these capabilities")
    session = BenchSession(config)
    config.stash[BENCH_KEY] = session
    workers = getattr(config.option, "numprocesses", None)
    if config.getoption("lab") and isinstance(workers, int) and workers > 1:
        refuse_parallel_real_lab(session.lab)
    config.pluginmanager.register(session, "testbench-session")
    config.pluginmanager.import_plugin("fixtures.bench")
    config.pluginmanager.import_plugin("fixtures.files")


class BenchSession:
    """Per-pytest-session state: the lab, the runtime, the journal."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._lab: Lab | None = None
        self.runtime: Any = None
        self.journal: Journal | None = None
        workerinput = getattr(config, "workerinput", {})
        self.run_id: str = (config.getoption("run_id") or workerinput.get(RUN_ID_INPUT)
                            or new_run_id())
        self.current_station: str | None = None
        self.session: pytest.Session | None = None
        self.journal_error: str | None = None
        self.running: pytest.Item | None = None  # the bench test in progress (not yet journaled)
        self.interrupted_test: str | None = None
        self.live: Any = None
        self.live_started = False
        self.bench_items = 0
        self.start_error: BaseException | None = None
        self.collection_errors: list[str] = []
        self.import_report: Any = None
        self._old_sigterm: Any = None

    # ------------------------------------------------------------------ the lab
    @property
    def lab_path(self) -> Path:
        return Path(self.config.getoption("lab") or "lab.toml").resolve()

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            try:
                lab = load_lab(self.lab_path)
            except LabConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
            self._lab = with_firmware(lab, self.config.getoption("charger_firmware") or [])
        return self._lab

    @property
    def run_dir(self) -> Path:
        return self.lab.output_dir / "runs" / self.run_id

    @property
    def unattended(self) -> bool:
        return bool(self.config.getoption("unattended") or os.environ.get("CI"))

    def pairings(self) -> list[Pairing]:
        opt = self.config.getoption
        stations, evs, chargers = opt("station"), opt("ev"), opt("charger")
        unknown = [s for s in stations if s not in self.lab.stations]
        if unknown:
            raise pytest.UsageError(f"--station {unknown[0]}: no such station in {self.lab.path}; "
                                    f"stations: {', '.join(self.lab.stations)}")
        for name, given, known in (("--ev", evs, self.lab.evs), ("--charger", chargers, self.lab.chargers)):
            missing = [g for g in given if g not in known]
            if missing:
                raise pytest.UsageError(f"{name} {missing[0]}: not in {self.lab.path}; "
                                        f"known: {', '.join(known)}")
        return [p for p in self.lab.pairings()
                if (not stations or p.station in stations) and (not evs or p.ev in evs)
                and (not chargers or p.charger in chargers)]

    def resumed_journal(self) -> Path | None:
        """The journal of the run named by --resume (UsageError if there is none)."""
        run_id = self.config.getoption("resume")
        if not run_id:
            return None
        path = self.lab.output_dir / "runs" / run_id / "journal.jsonl"
        if not path.is_file():
            raise pytest.UsageError(f"--resume {run_id}: no journal at {path}; "
                                    f"runs are in {self.lab.output_dir / 'runs'}")
        return path

    def resumed_verdicts(self) -> set[str]:
        """Test ids that already have a verdict in the resumed run."""
        path = self.resumed_journal()
        if path is None:
            return set()
        from testbench.results.journal import read_journal

        content = read_journal(path)
        return {r.test_id for r in content.records if r.verdict != "not_run"}

    # --------------------------------------------------------------- runtime
    def ensure_runtime(self) -> Any:
        """Start the bench on first use (central system, simulated lab, chargers connected)."""
        if self.start_error is not None:
            raise self.start_error
        if self.runtime is None:
            from testbench.plugin.runtime import BenchRuntime

            self.run_dir.mkdir(parents=True, exist_ok=True)
            secrets = self.config.getoption("secrets")
            worker = self.xdist_worker_id
            lab = worker_lab(self.lab) if worker else self.lab
            runtime = BenchRuntime(lab, self.run_dir, Path(secrets) if secrets else None,
                                   per_station=worker is not None,
                                   holder=holder_text(f"xdist worker {worker}, run {self.run_id}"
                                                      if worker else f"run {self.run_id}"))
            try:
                runtime.start()
            except BenchError as exc:
                runtime.close()
                self.start_error = exc
                # Nothing can run without the bench: stop the whole session with a usage error
                # rather than erroring every test with the same message.
                pytest.exit(f"bench could not start: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            except BaseException as exc:
                runtime.close()
                self.start_error = exc
                raise
            self.runtime = runtime
            if self.current_station is not None:
                # a station that cannot start errors its tests; the others still run
                runtime.enter_station(self.current_station)
        return self.runtime

    def ensure_journal(self) -> Journal:
        if self.journal is None:
            lab = self.lab
            self.journal = Journal.open(self.run_dir, {
                "run_id": self.run_id, "lab": lab.settings.name, "lab_path": str(lab.path),
                "mode": lab.settings.mode, "time_scale": lab.settings.time_scale,
                "host": socket.gethostname(), "project_version": testbench.__version__,
                "resumed_from": self.config.getoption("resume"),
                "chargers": {c.id: {"vendor": c.vendor, "model": c.model, "firmware": c.firmware,
                                    "ocpp_version": c.ocpp_version} for c in lab.chargers.values()},
                "evs": {e.id: {"make": e.make, "model": e.model, "software": e.software}
                        for e in lab.evs.values()},
            })
        return self.journal

    # ------------------------------------------------------------------ hooks
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: every worker writes into this run's folder."""
        node.workerinput[RUN_ID_INPUT] = self.run_id

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """``-n N`` on a lab: every test of a station goes to one worker (scaleout.py)."""
        if not config.getoption("lab") or config.getvalue("dist") not in ("load", "loadgroup"):
            return None
        from testbench.plugin.scaleout import station_scheduler

        return station_scheduler(config, log, self.pairings())

    @property
    def xdist_worker_id(self) -> str | None:
        workerinput = getattr(self.config, "workerinput", None)
        return None if workerinput is None else str(workerinput.get("workerid", "gw?"))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Per-station workers: switch the bench to this test's station first."""
        pairing = _pairing_of(item)
        if pairing is None:
            return
        self.running = item
        self.current_station = pairing.station
        if self.runtime is not None:
            try:
                self.runtime.enter_station(pairing.station)
            except BenchError as exc:
                raise BenchError(f"station {pairing.station} could not start: {exc}") from exc

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

        def _sigterm(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt("SIGTERM")

        try:
            self._old_sigterm = signal.signal(signal.SIGTERM, _sigterm)
        except ValueError:  # not the main thread
            self._old_sigterm = None
        if self.config.getoption("testbench_live") and not self.is_xdist_worker:
            from testbench.reporting.live import LiveConsole

            self.live = LiveConsole()
            if self.config.pluginmanager.hasplugin("dsession"):  # xdist controller: no collection here
                self.live.start(total=None)
                self.live_started = True

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = str(report.longrepr)
            self.collection_errors.append(text)
            if self.config.getoption("testbench_live"):  # pytest's own terminal output is off
                sys.stderr.write(f"collection error in {report.nodeid or 'session'}:\n{text}\n")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        resumed = self.resumed_verdicts()
        if resumed:
            done = [i for i in items if i.nodeid in resumed]
            if done:
                config.hook.pytest_deselected(items=done)
                items[:] = [i for i in items if i.nodeid not in resumed]
        bench = [i for i in items if _pairing_of(i) is not None]
        self.bench_items = len(bench)
        if not bench:
            return
        group_by_station(bench)
        order = {p: n for n, p in enumerate(self.pairings())}
        # campaign order: all tests of one pairing, then the next (fewer re-plugs on real benches)
        position = {id(item): n for n, item in enumerate(items)}
        items.sort(key=lambda i: (order.get(_pairing_of(i), -1), position[id(i)]))
        if self.live is not None and not self.live_started:
            self.live.start(total=self.bench_items)
            self.live_started = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        """``[lab] rerun_bench_errors = N``: a test whose only failure was the bench's own
        (a :class:`BenchError`, e.g. a sampling gap on a loaded machine) runs again, up to
        N times; its verdict is the last attempt's, and the message names the earlier
        bench errors. Device failures are never re-run."""
        if _pairing_of(item) is None or self.lab.settings.rerun_bench_errors <= 0:
            return None
        reruns = self.lab.settings.rerun_bench_errors
        from _pytest.runner import runtestprotocol

        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        earlier: list[str] = []
        for attempt in range(reruns + 1):
            item.stash[PHASES_KEY] = []
            item.stash[RERUNS_KEY] = list(earlier)
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
            phases = item.stash[PHASES_KEY]
            failed = [p for p in phases if p.outcome == "failed"]
            if attempt < reruns and failed and all(p.bench_error for p in failed):
                earlier.append(failed[0].message)
                sys.stderr.write(f"\ntestbench: {item.nodeid}: bench error, running it again "
                                 f"({attempt + 1}/{reruns}): {failed[0].message}\n")
                item._initrequest()  # type: ignore[attr-defined]  # fresh fixtures
                continue
            for report in reports:
                item.ihook.pytest_runtest_logreport(report=report)
            break
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if _pairing_of(item) is None:
            return report
        phases = item.stash.setdefault(PHASES_KEY, [])
        if report.skipped:
            phases.append(PhaseOutcome(report.when, "skipped", False, skip_reason(report.longrepr)))
        elif report.failed:
            exc = call.excinfo.value if call.excinfo is not None else Exception("failed")
            device_fault, message = describe(exc)
            bench_error = isinstance(exc, BenchError) and not isinstance(exc, LabConfigError)
            phases.append(PhaseOutcome(report.when, "failed", device_fault, message,
                                       bench_error=bench_error and not device_fault))
        else:
            phases.append(PhaseOutcome(report.when, "passed", False, ""))
        if report.when == "teardown":
            # The verdict travels with the report, so that under pytest-xdist the controller
            # (which sees every worker's reports) is the one process writing the journal.
            report.user_properties.append((RESULT_PROPERTY, self._result(item, phases).to_json()))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown" or self.is_xdist_worker:
            return
        if self.running is not None and self.running.nodeid == report.nodeid:
            self.running = None
        for name, value in report.user_properties:
            if name == RESULT_PROPERTY:
                record = ResultRecord.from_json(value)
                if not self._record(record):
                    return
                if self.live is not None:
                    self.live.on_result(record)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C / SIGTERM mid-test: the journal's end line names the test in progress (it
        has no verdict; ``--resume`` runs it again)."""
        item, self.running = self.running, None
        if item is None or self.is_xdist_worker:
            return
        pairing = _pairing_of(item)
        self.interrupted_test = plain_nodeid(item.nodeid, pairing.station if pairing else "")

    def _record(self, record: ResultRecord) -> bool:
        """Write a verdict to the journal; on a write failure (disk full, ...) say so, keep
        what is written, and stop the run (the instruments are made safe at its end)."""
        if self.journal_error is not None:
            return False
        try:
            self.ensure_journal().record(record)
        except OSError as exc:
            path = self.run_dir / "journal.jsonl"
            done = sum((self.journal.counts if self.journal else {}).values())
            self.journal_error = (
                f"cannot write the run journal {path}: {exc.strerror or exc}"
                f"{' (the disk is full)' if exc.errno == errno.ENOSPC else ''}; the verdict of "
                f"{record.test_id} ({record.verdict.value}) is lost, the {done} verdict(s) "
                "before it are kept; the run stops here and the instruments are made safe; "
                f"fix: free space under {path.parent}, then `testbench run --resume {self.run_id}`")
            sys.stderr.write(f"testbench: {self.journal_error}\n")
            if self.session is not None:
                self.session.shouldstop = self.journal_error
            return False
        return True

    @property
    def is_xdist_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    def _result(self, item: pytest.Item, phases: list[PhaseOutcome]) -> ResultRecord:
        pairing = _pairing_of(item)
        assert pairing is not None
        lab = self.lab
        charger, ev = lab.chargers[pairing.charger], lab.evs[pairing.ev]
        verdict, message = combine(phases)
        earlier = item.stash.get(RERUNS_KEY, [])
        if earlier:
            message = (f"{message} " if message else "") + (
                f"(run {len(earlier) + 1} times; earlier bench error(s): " + "; ".join(earlier)
                + ")")
        message = redact_text(message)
        started = item.stash.get(STARTED_KEY, time.time())
        record = ResultRecord(
            test_id=plain_nodeid(item.nodeid, pairing.station),
            name=getattr(item, "originalname", item.name),
            testcase_id=testcase_id(item, charger.ocpp_version),
            suite=_suite_of(item), station=pairing.station, ev=ev.id, charger=charger.id,
            charger_firmware=self._announced_firmware(charger.id) or charger.firmware,
            ev_software=ev.software,
            ocpp_version=charger.ocpp_version, verdict=verdict,
            duration_s=round(time.time() - started, 3), message=message,
            evidence=item.stash.get(EVIDENCE_KEY, []), wall_s=time.time(), run_id=self.run_id)
        return record

    def _announced_firmware(self, charger_id: str) -> str | None:
        """The firmware the charger announced in its last BootNotification this run (None:
        no boot seen, e.g. a real charger that kept its connection)."""
        csms = getattr(self.runtime, "csms", None)
        if csms is None:
            return None
        try:
            handle = csms.charger(charger_id)
            payload = handle.state.boot_payload
        except Exception:  # noqa: BLE001 - the inventory's firmware is the fallback
            return None
        if not payload:
            return None
        from testbench.procedures.ocpp import boot_identity

        firmware = boot_identity(handle, payload)[2]
        return str(firmware) if firmware else None

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        try:
            if self.runtime is not None:
                self.runtime.close()
        finally:
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
            if self.live is not None and self.live_started:
                self.live.finish()
            if self.journal is not None:
                self._finish_journal(session, exitstatus)

    def _finish_journal(self, session: pytest.Session, exitstatus: int) -> None:
        """End line, reports, store import; a write failure (disk full) is said, not raised."""
        assert self.journal is not None
        summary: dict[str, Any] = {"exitstatus": int(exitstatus),
                                   "interrupted": session.shouldstop is not False
                                   or int(exitstatus) == 2}
        if self.interrupted_test is not None:
            summary["interrupted_test"] = self.interrupted_test
        if self.journal_error is not None:
            summary["status"] = "aborted"
            summary["reason"] = self.journal_error
        steps = (("the journal's end line", lambda: self.journal.close(summary)),  # type: ignore[union-attr]
                 ("the matrix reports", lambda: self._write_reports(session)),
                 ("the results store import", self._import))
        for what, step in steps:
            try:
                step()
            except (OSError, sqlite3.Error) as exc:
                reason = getattr(exc, "strerror", None) or exc
                sys.stderr.write(f"testbench: cannot write {what}: {reason}; "
                                 f"the journal's verdict lines are kept\n")
                if self.journal_error is None:
                    self.journal_error = f"cannot write {what}: {exc}"

    def _import(self) -> None:
        from testbench.results.store import import_run

        assert self.journal is not None
        self.import_report = import_run(self.lab.output_dir, self.journal.path)

    def _write_reports(self, session: pytest.Session) -> None:
        import json

        from testbench.reporting.allure_env import write_categories, write_environment
        from testbench.reporting.matrix_html import write_matrix_html
        from testbench.results.matrix import matrix_from_journals

        lab = self.lab
        journals = [self.run_dir / "journal.jsonl"]
        resumed = self.resumed_journal()
        if resumed is not None:
            journals.insert(0, resumed)
        matrix = matrix_from_journals(journals)
        for folder in (self.run_dir, lab.output_dir):
            (folder / "matrix.json").write_text(json.dumps(matrix.to_json(), indent=2), encoding="utf-8")
            write_matrix_html(matrix, folder / "matrix.html",
                              title=f"{lab.settings.name}: interoperability matrix ({self.run_id})")
        allure_dir = getattr(self.config.option, "allure_report_dir", None)
        if allure_dir:
            props = {"lab": lab.settings.name, "mode": lab.settings.mode, "run_id": self.run_id,
                     "time_scale": str(lab.settings.time_scale),
                     "testbench": testbench.__version__}
            for c in lab.chargers.values():
                props[f"charger.{c.id}"] = f"{c.vendor} {c.model} fw {c.firmware} OCPP {c.ocpp_version}"
            for e in lab.evs.values():
                props[f"ev.{e.id}"] = f"{e.make} {e.model} sw {e.software}"
            Path(allure_dir).mkdir(parents=True, exist_ok=True)
            write_environment(Path(allure_dir), props)
            write_categories(Path(allure_dir))


RESULT_PROPERTY = "testbench_result"
STARTED_KEY = pytest.StashKey[float]()
EVIDENCE_KEY = pytest.StashKey[list[str]]()
RERUNS_KEY = pytest.StashKey[list[str]]()


def with_firmware(lab: Lab, overrides: list[str]) -> Lab:
    """``lab`` with the chargers' firmware replaced as ``CHARGER=VERSION`` says."""
    if not overrides:
        return lab
    import dataclasses

    chargers = dict(lab.chargers)
    for text in overrides:
        charger_id, sep, version = text.partition("=")
        if not sep or not version.strip():
            raise pytest.UsageError(f"--charger-firmware {text!r}: write CHARGER=VERSION, "
                                    "e.g. voltiq-w22=3.5.0")
        if charger_id not in chargers:
            raise pytest.UsageError(f"--charger-firmware {text!r}: no charger {charger_id!r} in "
                                    f"{lab.path}; chargers: {', '.join(chargers)}")
        chargers[charger_id] = dataclasses.replace(chargers[charger_id], firmware=version.strip())
    return dataclasses.replace(lab, chargers=chargers)


def _pairing_of(item: pytest.Item) -> Pairing | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get("pairing")
    return value if isinstance(value, Pairing) else None


def _suite_of(item: pytest.Item) -> str:
    parts = Path(item.nodeid.split("::")[0]).parts
    if "suites" in parts:
        parts = parts[parts.index("suites") + 1:]
    return "/".join(parts[:-1]) or Path(item.nodeid.split("::")[0]).stem


def testcase_id(item: pytest.Item, ocpp_version: str) -> str | None:
    """The certification test-case id of ``item`` for a charger speaking ``ocpp_version``."""
    marker = item.get_closest_marker("testcase")
    if marker is None:
        return None
    key = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}[ocpp_version]
    if marker.args:
        return str(marker.args[0])
    value = marker.kwargs.get(key)
    return None if value is None else str(value)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pairing" not in metafunc.fixturenames:
        return
    bench: BenchSession = metafunc.config.stash[BENCH_KEY]
    pairings = bench.pairings()
    several_stations = len({p.station for p in pairings}) > 1
    ids = [f"{p.station}:{p.id}" if several_stations else p.id for p in pairings]
    metafunc.parametrize("pairing", pairings, ids=ids)
