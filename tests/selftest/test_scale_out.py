"""Scale-out: a 4-station simulated lab with `-n 2`, and instrument locks.

The run is the user's command (`testbench run --lab ... -- -n 2`) on a copy of
labs/four-stations-sim.toml. Every station's tests must run in one worker, each worker
starting only the part of the simulated lab of the station it runs, the journal written
once by the controller; the lock log proves no instrument was ever held by two workers.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from testbench.lab.model import Pairing
from testbench.plugin.locks import (
    LOCK_LOG_NAME,
    InstrumentBusyError,
    InstrumentLock,
    overlapping_holds,
)
from testbench.plugin.scaleout import plain_nodeid, station_of

ROOT = Path(__file__).resolve().parents[2]
FOUR = ROOT / "labs" / "four-stations-sim.toml"


def _lab_copy(folder: Path) -> Path:
    text = re.sub(r"(?m)^output_dir\s*=.*$", f'output_dir = "{folder / "reports"}"',
                  FOUR.read_text(encoding="utf-8"))
    path = folder / "four.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(lab: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    runs = lab.parent / "reports" / "runs"
    before = set(runs.glob("*")) if runs.exists() else set()
    proc = subprocess.run([sys.executable, "-m", "testbench.cli", "run", "--lab", str(lab),
                           "--unattended", *extra], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, "CI": "1", "COLUMNS": "160"}, check=False)
    new = sorted(set(runs.glob("*")) - before)
    assert len(new) == 1, f"{new}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc, new[0]


def test_four_stations_with_two_workers(tmp_path: Path) -> None:
    lab = _lab_copy(tmp_path)
    proc, run_dir = _run(lab, "-k", "heartbeat or boot", "--", "-n", "2")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    lines = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "run" and lines[-1]["type"] == "end"
    results = [x for x in lines if x["type"] == "result"]
    assert {r["station"] for r in results} == {"bay-1", "bay-2", "bay-3", "bay-4"}
    assert all(r["verdict"] in ("passed", "skipped") for r in results), results
    ids = [r["test_id"] for r in results]
    assert len(ids) == len(set(ids)) and not any(i.endswith(("@bay-1", "@bay-2")) for i in ids)
    # each worker started only its station's part of the simulated lab
    for station, charger in (("bay-1", "voltiq-w22"), ("bay-2", "amperia-hc11"),
                             ("bay-3", "gridline-bx7"), ("bay-4", "voltiq-w7")):
        log = (run_dir / f"sim-{station}.log").read_text(encoding="utf-8")
        connected = set(re.findall(r"(\S+): connected to ws://", log))
        assert connected == {charger}, (station, connected)
    assert not (run_dir / "sim.log").exists(), "a worker started the whole simulated lab"
    # instruments: each held by one worker, never by two at once
    lock_log = run_dir / LOCK_LOG_NAME
    events = [json.loads(x) for x in lock_log.read_text().splitlines()]
    holders: dict[str, set[str]] = {}
    for event in events:
        holders.setdefault(event["resource"], set()).add(event["holder"])
    assert len(holders) == 4 and all(len(h) == 1 for h in holders.values()), holders
    assert {h for hs in holders.values() for h in hs} == {
        h for hs in holders.values() for h in hs if "xdist worker gw" in h}
    assert len({h for hs in holders.values() for h in hs}) == 2, "both workers took stations"
    assert overlapping_holds(lock_log) == []


def test_second_acquirer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    resource = "TCPIP::127.0.0.1::5025::SOCKET"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f'''
        import sys, time
        from pathlib import Path
        from testbench.plugin.locks import InstrumentLock
        lock = InstrumentLock(Path({str(tmp_path)!r}), {resource!r}, "grid",
                              "xdist worker gw0, run R1")
        lock.acquire()
        print("held", flush=True)
        time.sleep(60)
        ''')], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        second = InstrumentLock(tmp_path, resource, "grid", "xdist worker gw1, run R1")
        with pytest.raises(InstrumentBusyError) as refused:
            second.acquire()
        message = str(refused.value)
        assert f"pid {holder.pid}" in message and "xdist worker gw0" in message
        assert "grid" in message and resource in message
        assert not second.held
        holder.kill()  # a killed holder leaves no stale lock
        holder.wait(10)
        second.acquire()
        assert second.held
        second.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_overlap_detector_and_station_of(tmp_path: Path) -> None:
    log = tmp_path / "locks.jsonl"
    log.write_text("\n".join(json.dumps(e) for e in [
        {"event": "acquired", "resource": "r", "holder": "a", "wall_s": 1.0},
        {"event": "acquired", "resource": "r", "holder": "b", "wall_s": 2.0},
        {"event": "released", "resource": "r", "holder": "a", "wall_s": 3.0},
    ]) + "\n")
    assert overlapping_holds(log) == ["r: b acquired while a held it"]
    pairings = [Pairing(station="bay-1", ev="ev-city", charger="w22"),
                Pairing(station="bay-10", ev="ev-city", charger="w22b")]
    assert station_of("s/t.py::test_x[bay-1:ev-city@w22]", pairings) == "bay-1"
    assert station_of("s/t.py::test_x[bay-10:ev-city@w22b-TxProfile]", pairings) == "bay-10"
    assert station_of("s/t.py::test_y", pairings) is None
    assert plain_nodeid("t.py::x[bay-1:e@c]@bay-1", "bay-1") == "t.py::x[bay-1:e@c]"


@pytest.mark.slow
def test_two_runners_merge_into_one_matrix_without_loss_or_duplication(tmp_path: Path) -> None:
    """Two runners (hosts) each run one station of the lab; their journals and
    allure-results merge: one store, one matrix, every result once."""
    journals: list[Path] = []
    allure: list[Path] = []
    for runner, station in (("runner-a", "bay-1"), ("runner-b", "bay-2")):
        folder = tmp_path / runner
        folder.mkdir()
        proc, run_dir = _run(_lab_copy(folder), "--station", station, "-k", "heartbeat or boot")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        journals.append(run_dir / "journal.jsonl")
        allure.append(folder / "reports" / "allure-results")
    results = [[json.loads(x) for x in j.read_text().splitlines() if '"type":"result"' in x]
               for j in journals]
    assert {r["station"] for r in results[0]} == {"bay-1"}
    assert {r["station"] for r in results[1]} == {"bay-2"}
    store = tmp_path / "merged.db"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "testbench.cli", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, "COLUMNS": "200"})

    first = cli("import", *map(str, journals), "--store", str(store))
    assert first.returncode == 0, first.stdout + first.stderr
    total = len(results[0]) + len(results[1])
    assert f"{total} new" in first.stdout, first.stdout
    again = cli("import", *map(str, journals), "--store", str(store))
    assert "0 new" in again.stdout and f"{total} unchanged" in again.stdout, again.stdout
    matrix = cli("matrix", "--store", str(store), "--json", str(tmp_path / "m.json"), "-q")
    assert matrix.returncode == 0, matrix.stdout + matrix.stderr
    cells = json.loads((tmp_path / "m.json").read_text())["cells"]
    merged = {(c["ev"], c["charger"]): c["total"] for c in cells if c["total"]}
    expected: dict[tuple[str, str], int] = {}
    for record in results[0] + results[1]:
        key = (record["ev"], record["charger"])
        expected[key] = expected.get(key, 0) + 1
    assert merged == expected
    # allure-results of both runners merge by copying into one folder (uuid file names)
    names = [{p.name for p in folder.glob("*-result.json")} for folder in allure]
    assert names[0] and names[1] and not names[0] & names[1]


@pytest.mark.slow
def test_a_station_that_cannot_start_errors_only_its_tests(tmp_path: Path) -> None:
    lab = _lab_copy(tmp_path)
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 47202))  # bay-2's station I/O box port
    holder.listen(1)
    try:
        proc, run_dir = _run(lab, "-k", "heartbeat", "--", "-n", "2")
    finally:
        holder.close()
    results = [json.loads(x) for x in (run_dir / "journal.jsonl").read_text().splitlines()
               if '"type":"result"' in x]
    by_station = {r["station"]: r for r in results}
    assert by_station["bay-2"]["verdict"] == "error"
    assert "station bay-2 could not start" in by_station["bay-2"]["message"]
    assert "47202" in by_station["bay-2"]["message"]
    assert all(r["verdict"] == "passed" for r in results if r["station"] != "bay-2"), results
    assert proc.returncode == 1


def test_parallel_workers_on_a_real_lab_are_a_usage_error(tmp_path: Path) -> None:
    from testbench.lab.loader import load_lab
    from testbench.plugin.scaleout import refuse_parallel_real_lab

    text = _lab_copy(tmp_path).read_text(encoding="utf-8")
    text = re.sub(r'(?m)^mode = "sim"', 'mode = "real"', text)
    text = re.sub(r"(?m)^time_scale = .*$", "time_scale = 1.0", text)
    text = re.sub(r"(?m)^port = 0.*$", "port = 47999", text)
    real = tmp_path / "real.toml"
    real.write_text(text, encoding="utf-8")
    with pytest.raises(pytest.UsageError, match="one station per runner"):
        refuse_parallel_real_lab(load_lab(real))
    refuse_parallel_real_lab(load_lab(_lab_copy(tmp_path)))  # a simulated lab may
