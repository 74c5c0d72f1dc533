"""Build the Allure HTML report with the Allure command-line tool, carrying history along.

``testbench run`` leaves ``<output>/allure-results`` (cleaned at every run). This module
turns it into ``<output>/allure-report`` with the tool when it is installed:

* Allure 2 (npm ``allure-commandline``, needs Java): the previous report's ``history``
  folder is copied into the results before ``allure generate``, which is how Allure 2 draws
  trends and per-test history across runs; ``executor.json`` names the build (run id).
* Allure 3 (npm ``allure``, needs Node.js): history lives in a JSON-lines file
  (``<output>/allure-history.jsonl``) given to ``allure generate`` through a config file.

Categories (device failure, instrument fault, timeout, bench error) and the environment
(lab, stations, firmware and software versions) are (re)written into the results first.
The tool is optional: without it, :func:`build_allure_report` says how to install it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbench.reporting.allure_env import write_categories, write_environment
from testbench.results.journal import JournalContent

INSTALL_HINT = (
    "install the Allure command-line tool, then run `testbench report` again: "
    "`npm install -g allure-commandline` (Allure 2, needs Java 8+) or "
    "`npm install -g allure` (Allure 3, needs Node.js 20+)"
)
HISTORY_FILE = "allure-history.jsonl"
VERSION_TIMEOUT_S = 60.0
GENERATE_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class AllureTool:
    """An installed Allure command line: its path and version."""

    path: str
    version: str

    @property
    def major(self) -> int:
        match = re.match(r"\s*(\d+)", self.version)
        return int(match.group(1)) if match else 0


@dataclass
class AllureBuild:
    """What :func:`build_allure_report` did. ``built`` is False when no report was made."""

    built: bool
    report_dir: Path
    message: str
    tool: AllureTool | None = None
    index: Path | None = None
    history_carried: bool = False
    command: list[str] = field(default_factory=list)


def find_allure(executable: str = "allure") -> AllureTool | None:
    """The Allure tool on PATH (or at ``executable``), or None when it is not installed."""
    path = shutil.which(executable)
    if path is None:
        return None
    try:
        done = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\d+\.\d+(?:\.\d+)?\S*", done.stdout + done.stderr)
    if done.returncode != 0 or match is None:
        return None
    return AllureTool(path=path, version=match.group(0))


def environment_from_journal(content: JournalContent) -> dict[str, str]:
    """Allure environment properties for one run: lab, run, host, stations, device versions."""
    run = content.run or {}
    props: dict[str, str] = {}
    for key, label in (
        ("lab", "Lab"),
        ("run_id", "Run id"),
        ("host", "Runner host"),
        ("mode", "Lab mode"),
        ("project_version", "testbench"),
    ):
        if run.get(key) not in (None, ""):
            props[label] = str(run[key])
    stations = sorted({r.station for r in content.records if r.station})
    if stations:
        props["Stations"] = ", ".join(stations)
    chargers = run.get("chargers")
    for cid, spec in sorted(chargers.items() if isinstance(chargers, dict) else ()):
        spec = spec if isinstance(spec, dict) else {}
        text = " ".join(str(spec[k]) for k in ("vendor", "model") if spec.get(k))
        props[f"Charger {cid}"] = (
            f"{text}, fw {spec.get('firmware', '?')}, OCPP {spec.get('ocpp_version', '?')}"
        ).lstrip(", ")
    evs = run.get("evs")
    for eid, spec in sorted(evs.items() if isinstance(evs, dict) else ()):
        spec = spec if isinstance(spec, dict) else {}
        text = " ".join(str(spec[k]) for k in ("make", "model") if spec.get(k))
        props[f"EV {eid}"] = f"{text}, sw {spec.get('software', '?')}".lstrip(", ")
    return props


def carry_history(results_dir: Path, report_dir: Path) -> bool:
    """Copy ``report_dir/history`` into ``results_dir/history`` (Allure 2); True if copied."""
    source = Path(report_dir) / "history"
    if not source.is_dir():
        return False
    target = Path(results_dir) / "history"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return True


def _build_order(report_dir: Path) -> int:
    trend = Path(report_dir) / "history" / "history-trend.json"
    try:
        entries = json.loads(trend.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 1
    return len(entries) + 1 if isinstance(entries, list) else 1


def write_executor(
    results_dir: Path, *, build_name: str, build_order: int, report_name: str
) -> Path:
    """``executor.json``: names the build so Allure's trend shows run ids."""
    path = Path(results_dir) / "executor.json"
    data: dict[str, Any] = {
        "name": "testbench",
        "type": "testbench",
        "buildName": build_name,
        "buildOrder": build_order,
        "reportName": report_name,
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def has_results(results_dir: Path) -> bool:
    """True when ``results_dir`` holds Allure result files."""
    folder = Path(results_dir)
    return folder.is_dir() and any(folder.glob("*-result.json"))


def build_allure_report(
    results_dir: Path,
    report_dir: Path,
    *,
    name: str = "testbench",
    build_name: str | None = None,
    environment: dict[str, str] | None = None,
    history_file: Path | None = None,
    tool: AllureTool | None = None,
    timeout_s: float = GENERATE_TIMEOUT_S,
) -> AllureBuild:
    """Generate the Allure HTML report of ``results_dir`` into ``report_dir``.

    Writes categories (and ``environment`` when given) into the results, carries the
    history of the previous report, then runs the tool (found on PATH unless ``tool``).
    Never raises for a missing tool or a failed generation: see ``AllureBuild.message``.
    """
    results_dir, report_dir = Path(results_dir), Path(report_dir)
    if not has_results(results_dir):
        return AllureBuild(
            built=False,
            report_dir=report_dir,
            message=f"no Allure results in {results_dir}: run `testbench run` first",
        )
    write_categories(results_dir)
    if environment:
        write_environment(results_dir, environment)
    tool = tool or find_allure()
    if tool is None:
        return AllureBuild(
            built=False,
            report_dir=report_dir,
            message=f"the Allure command-line tool is not installed; {INSTALL_HINT}",
        )
    history_file = history_file or report_dir.parent / HISTORY_FILE
    build = AllureBuild(built=False, report_dir=report_dir, message="", tool=tool)
    with tempfile.TemporaryDirectory(prefix="testbench-allure-") as tmp:
        if tool.major >= 3:
            config = Path(tmp) / "allurerc.json"
            config.write_text(
                json.dumps(
                    {"name": name, "output": str(report_dir), "historyPath": str(history_file)},
                    indent=2,
                ),
                encoding="utf-8",
            )
            build.history_carried = history_file.is_file()
            build.command = [tool.path, "generate", str(results_dir), "--config", str(config)]
        else:
            write_executor(
                results_dir,
                build_name=build_name or name,
                build_order=_build_order(report_dir),
                report_name=name,
            )
            build.history_carried = carry_history(results_dir, report_dir)
            build.command = [
                tool.path,
                "generate",
                str(results_dir),
                "-o",
                str(report_dir),
                "--clean",
            ]
        report_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                build.command,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired:
            build.message = f"`allure generate` did not finish within {timeout_s:g} s"
            return build
        except OSError as exc:
            build.message = f"cannot start {tool.path}: {exc}"
            return build
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        build.message = f"`allure generate` failed (exit {done.returncode}): " + (
            " / ".join(output[-3:]) if output else "no output"
        )
        return build
    index = report_dir / "index.html"
    build.built = index.is_file()
    build.index = index if build.built else None
    build.message = (
        f"Allure {tool.version} report: {index}"
        if build.built
        else f"`allure generate` finished but wrote no {index}"
    )
    return build
