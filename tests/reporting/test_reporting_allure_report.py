"""`testbench report`'s Allure step: history carried between runs, Allure 2 and 3, no tool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from testbench.reporting.allure_report import (
    INSTALL_HINT,
    AllureTool,
    build_allure_report,
    environment_from_journal,
    find_allure,
)
from testbench.results.journal import read_journal

# A stand-in for the Allure command line: records its arguments, checks what Allure would
# read (history), and writes what it would write (index.html, history).
FAKE_ALLURE = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys
    from pathlib import Path
    VERSION = {version!r}
    args = sys.argv[1:]
    if args == ["--version"]:
        print(VERSION)
        sys.exit(0)
    log = Path(os.environ["FAKE_ALLURE_LOG"])
    entry = {{"args": args}}
    assert args[0] == "generate"
    results = Path(args[1])
    if VERSION.startswith("2"):
        report = Path(args[args.index("-o") + 1])
        carried = results / "history" / "history-trend.json"
        trend = json.loads(carried.read_text()) if carried.exists() else []
        entry["carried"] = len(trend)
        entry["executor"] = json.loads((results / "executor.json").read_text())
        trend.append({{"buildOrder": entry["executor"]["buildOrder"]}})
        (report / "history").mkdir(parents=True, exist_ok=True)
        (report / "history" / "history-trend.json").write_text(json.dumps(trend))
    else:
        config = json.loads(Path(args[args.index("--config") + 1]).read_text())
        report = Path(config["output"])
        history = Path(config["historyPath"])
        entry["carried"] = len(history.read_text().splitlines()) if history.exists() else 0
        with history.open("a") as handle:
            handle.write(json.dumps({{"name": config["name"]}}) + "\\n")
    entry["categories"] = [c["name"] for c in json.loads((results / "categories.json").read_text())]
    report.mkdir(parents=True, exist_ok=True)
    (report / "index.html").write_text("<html>report</html>")
    with log.open("a") as handle:
        handle.write(json.dumps(entry) + "\\n")
    """
)


def _fake_allure(tmp_path: Path, version: str) -> AllureTool:
    path = tmp_path / "bin" / "allure"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE_ALLURE.format(python=sys.executable, version=version))
    path.chmod(0o755)
    tool = find_allure(str(path))
    assert tool is not None and tool.version == version
    return tool


def _results(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "abc-result.json").write_text(json.dumps({"name": "t", "status": "passed"}))
    return folder


def _log(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def _log_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ALLURE_LOG", str(tmp_path / "log.jsonl"))


def test_allure2_history_is_carried_into_the_next_results(tmp_path: Path) -> None:
    tool = _fake_allure(tmp_path, "2.30.0")
    report = tmp_path / "reports" / "allure-report"
    first = build_allure_report(
        _results(tmp_path / "reports" / "allure-results"), report, build_name="run-1", tool=tool
    )
    assert first.built and not first.history_carried, first.message
    assert first.index == report / "index.html"
    # the next run cleans its results folder (pytest --clean-alluredir)
    shutil.rmtree(tmp_path / "reports" / "allure-results")
    second = build_allure_report(
        _results(tmp_path / "reports" / "allure-results"),
        report,
        build_name="run-2",
        tool=tool,
        environment={"Lab": "sim", "Stations": "st-1, st-2"},
    )
    assert second.built and second.history_carried
    log = _log(tmp_path)
    assert [e["carried"] for e in log] == [0, 1]
    assert [e["executor"]["buildName"] for e in log] == ["run-1", "run-2"]
    assert [e["executor"]["buildOrder"] for e in log] == [1, 2]
    assert log[1]["args"][-1] == "--clean"
    assert log[1]["categories"][:4] == [
        "Timeout",
        "Instrument fault",
        "Bench error",
        "Device failure",
    ]
    env = (tmp_path / "reports" / "allure-results" / "environment.properties").read_text()
    assert "Stations=st-1, st-2" in env


def test_allure3_history_file_grows(tmp_path: Path) -> None:
    tool = _fake_allure(tmp_path, "3.18.0")
    results = _results(tmp_path / "out" / "allure-results")
    report = tmp_path / "out" / "allure-report"
    for _ in range(2):
        build = build_allure_report(results, report, name="my lab", tool=tool)
        assert build.built, build.message
    assert [e["carried"] for e in _log(tmp_path)] == [0, 1]
    assert build.history_carried
    assert len((tmp_path / "out" / "allure-history.jsonl").read_text().splitlines()) == 2


def test_without_the_tool_it_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    build = build_allure_report(_results(tmp_path / "r"), tmp_path / "report")
    assert not build.built and build.tool is None
    assert INSTALL_HINT in build.message
    assert (tmp_path / "r" / "categories.json").is_file()  # still prepared for later


def test_no_results_means_nothing_to_build(tmp_path: Path) -> None:
    build = build_allure_report(tmp_path / "missing", tmp_path / "report")
    assert not build.built and "run `testbench run` first" in build.message


def test_a_failing_tool_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "allure"
    broken.write_text(
        f"#!{sys.executable}\nimport sys\n"
        "if sys.argv[1:] == ['--version']: print('2.1.0'); sys.exit(0)\n"
        "print('Could not read results', file=sys.stderr); sys.exit(3)\n"
    )
    broken.chmod(0o755)
    tool = find_allure(str(broken))
    assert tool is not None
    build = build_allure_report(_results(tmp_path / "r"), tmp_path / "report", tool=tool)
    assert not build.built and "failed (exit 3)" in build.message
    assert "Could not read results" in build.message


def test_environment_from_journal(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "results"))
    from store_scenario import write_run

    props = environment_from_journal(read_journal(write_run(tmp_path, 3)))
    assert props["Lab"] == "synthetic-lab" and props["Runner host"] == "runner-2"
    assert props["Stations"] == "st-2"
    assert props["Charger cp-1"] == "Voltiq W22, fw 1.1, OCPP 2.0.1"
    assert props["EV ev-b"] == "VW ID.3, sw 3.2"


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("allure") is None,
    reason="the Allure command-line tool is not installed (npm install -g allure)",
)
def test_real_allure_builds_a_report_with_history(tmp_path: Path) -> None:
    (tmp_path / "test_demo.py").write_text(
        "def test_ok():\n    assert True\n\ndef test_bad():\n    assert 1 == 2, 'current 16 A'\n"
    )
    results = tmp_path / "allure-results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:testbench",
            str(tmp_path / "test_demo.py"),
            f"--alluredir={results}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    report = tmp_path / "allure-report"
    first = build_allure_report(results, report, build_name="run-1")
    assert first.built, first.message
    second = build_allure_report(results, report, build_name="run-2")
    assert second.built and second.history_carried, second.message
    assert (report / "index.html").is_file()
