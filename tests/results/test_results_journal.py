"""The run journal: complete fsynced lines, crash tolerance, thread safety, round trips."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from testbench.results.journal import (
    Journal,
    ResultRecord,
    find_journals,
    new_run_id,
    read_journal,
    run_dir_for,
)
from testbench.results.verdict import Verdict

MakeRecord = Callable[..., ResultRecord]


def _open(tmp_path: Path, run_id: str = "20250101-000000-abcd") -> Journal:
    return Journal.open(run_dir_for(tmp_path, run_id), {"lab": "sim-lab", "run_id": run_id})


def test_new_run_id_format_and_sortable() -> None:
    first = new_run_id()
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", first)
    assert new_run_id()[:15] >= first[:15]


def test_header_line_carries_run_info(tmp_path: Path) -> None:
    journal = _open(tmp_path)
    journal.close()
    header = json.loads(journal.path.read_text(encoding="utf-8").splitlines()[0])
    assert header["type"] == "run"
    assert header["run_id"] == "20250101-000000-abcd"
    assert header["lab"] == "sim-lab"
    for key in ("started_wall_s", "host", "project_version"):
        assert header[key]
    assert journal.path == tmp_path / "runs" / "20250101-000000-abcd" / "journal.jsonl"


def test_each_line_is_complete_while_journal_is_open(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    journal = _open(tmp_path)
    for i in range(3):
        journal.record(make_record(test_id=f"t{i}", verdict="failed", message=f"reason {i}"))
        content = read_journal(journal.path)  # read by another party while the run goes on
        assert content.problems == []
        assert [r.test_id for r in content.records] == [f"t{j}" for j in range(i + 1)]
        assert content.end is None and not content.complete
        assert journal.path.read_bytes().endswith(b"\n")
    journal.close({"exit_status": 1})
    content = read_journal(journal.path)
    assert content.complete
    assert content.end is not None
    assert content.end["counts"] == {"failed": 3}
    assert content.end["exit_status"] == 1
    assert content.records[2].run_id == "20250101-000000-abcd"


def test_each_record_is_one_write_and_fsynced_after_it(
    tmp_path: Path, make_record: MakeRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = _open(tmp_path)
    writes: list[bytes] = []
    synced_contents: list[bytes] = []
    real_write, real_fsync = os.write, os.fsync

    def spy_write(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    def spy_fsync(fd: int) -> None:
        real_fsync(fd)
        synced_contents.append(journal.path.read_bytes())

    monkeypatch.setattr(os, "write", spy_write)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    journal.record(make_record(test_id="a"))
    journal.record(make_record(test_id="b", message="ünïcode ✘"))

    assert len(writes) == 2, "each record must be a single write() of the whole line"
    for data in writes:
        assert data.endswith(b"\n") and data.count(b"\n") == 1
        assert json.loads(data)["type"] == "result"
    assert len(synced_contents) == 2, "each record must be fsynced"
    assert synced_contents[0].endswith(writes[0])
    assert synced_contents[1].endswith(writes[1])
    monkeypatch.undo()
    journal.close()


def test_truncated_and_garbage_lines_are_reported_and_skipped(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    journal = _open(tmp_path)
    for i in range(4):
        journal.record(make_record(test_id=f"t{i}"))
    journal.close()
    lines = journal.path.read_bytes().splitlines(keepends=True)
    # line 1 header, 2..5 results, 6 end: put garbage in the middle, cut a line at the end
    lines.insert(3, b"\x00\xffgarbage{not json\n")
    crashed = b"".join(lines[:-1]) + lines[-1][:25]  # the run died writing its last line
    journal.path.write_bytes(crashed)

    content = read_journal(journal.path)
    assert [r.test_id for r in content.records] == ["t0", "t1", "t2", "t3"]
    assert content.run is not None and content.run["lab"] == "sim-lab"
    assert content.end is None
    assert len(content.problems) == 2
    garbage, truncated = content.problems
    assert ":4:" in garbage and "not valid JSON" in garbage
    assert ":7:" in truncated and "truncated" in truncated


def test_bad_result_fields_and_unknown_types_are_problems(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    good = {"type": "result", "test_id": "x", "name": "n", "verdict": "passed", "future": 1}
    path.write_text(
        "\n".join(
            json.dumps(obj)
            for obj in (
                {"type": "run", "run_id": "r"},
                good,
                {"type": "result", "test_id": "y", "name": "n", "verdict": "broken"},
                {"type": "result", "name": "n", "verdict": "passed"},
                {"type": "heartbeat"},
                [1, 2],
            )
        )
        + "\n",
        encoding="utf-8",
    )
    content = read_journal(path)
    assert [r.test_id for r in content.records] == ["x"]
    assert len(content.problems) == 4
    assert "unknown verdict 'broken'" in content.problems[0]
    assert "test_id" in content.problems[1]
    assert "heartbeat" in content.problems[2]
    assert "JSON object" in content.problems[3]


def test_concurrent_records_never_interleave(tmp_path: Path, make_record: MakeRecord) -> None:
    journal = _open(tmp_path)
    long_message = "x" * 5000

    def worker(n: int) -> None:
        for i in range(40):
            journal.record(make_record(test_id=f"w{n}-{i}", message=long_message))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    journal.close()
    content = read_journal(journal.path)
    assert content.problems == []
    assert len(content.records) == 240
    assert len({r.test_id for r in content.records}) == 240
    assert content.end is not None and content.end["counts"] == {"passed": 240}


def test_journal_refuses_to_reuse_a_run(tmp_path: Path) -> None:
    _open(tmp_path).close()
    with pytest.raises(FileExistsError, match="new_run_id"):
        _open(tmp_path)


def test_record_after_close_is_an_error(tmp_path: Path, make_record: MakeRecord) -> None:
    journal = _open(tmp_path)
    journal.close()
    journal.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        journal.record(make_record())


def test_context_manager_marks_aborted_run(tmp_path: Path, make_record: MakeRecord) -> None:
    with pytest.raises(KeyboardInterrupt), _open(tmp_path) as journal:
        journal.record(make_record())
        raise KeyboardInterrupt
    content = read_journal(journal.path)
    assert content.end is not None
    assert content.end["status"] == "aborted"
    assert "KeyboardInterrupt" in content.end["reason"]
    assert len(content.records) == 1


def test_result_record_round_trip(make_record: MakeRecord) -> None:
    original = make_record(
        verdict=Verdict.ERROR,
        message="instrument 'pa': no reply",
        evidence=["evidence/trace.jsonl", "evidence/current.csv"],
        run_id="r1",
        testcase_id=None,
    )
    data = original.to_json()
    assert data["verdict"] == "error"
    assert ResultRecord.from_json(json.dumps(data)) == original
    assert ResultRecord.from_json(data) == original


def test_result_record_rejects_wrong_types(make_record: MakeRecord) -> None:
    data = make_record().to_json()
    data["duration_s"] = "fast"
    with pytest.raises(TypeError, match="duration_s"):
        ResultRecord.from_json(data)


def test_find_journals_sorted_by_run_id(tmp_path: Path) -> None:
    for run_id in ("20250102-000000-0002", "20250101-000000-0001"):
        _open(tmp_path, run_id).close()
    found = find_journals(tmp_path)
    assert [p.parent.name for p in found] == ["20250101-000000-0001", "20250102-000000-0002"]


def test_a_message_with_a_lone_surrogate_is_journaled(tmp_path: Path) -> None:
    odd = "bad frame \ud800 from the charger"
    with Journal.open(tmp_path / "r", {"lab": "L"}) as journal:
        journal.record(ResultRecord(test_id="t", name="t", verdict="failed", message=odd))
    content = read_journal(journal.path)
    assert content.problems == []
    assert [r.message for r in content.records] == [odd]
