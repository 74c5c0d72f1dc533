"""Recording CSV round trip: channels, units, missing values, schedule and meta survive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from testbench.analysis import Recording

T0 = 1_795_790_878.7779398


def sample_recording() -> Recording:
    rng = np.random.default_rng(7)
    t = T0 + np.cumsum(rng.uniform(0.09, 0.11, 50))
    current = rng.normal(16.0, 0.1, 50)
    current[[3, 17]] = np.nan
    return Recording(
        t, {"current_l1_a": current, "power_w": rng.normal(11000, 50, 50),
            "power_factor": np.full(50, 0.99)},
        {"current_l1_a": "A", "power_w": "W", "power_factor": "1"},
        scheduled_lab_s=t - rng.uniform(0, 0.002, 50),
        meta={"instrument": "pa1", "rate_hz": 10.0, "missed_deadlines": 0})


def test_round_trip_is_exact(tmp_path: Path) -> None:
    rec = sample_recording()
    path = rec.to_csv(tmp_path / "sub" / "rec.csv")
    back = Recording.from_csv(path)
    assert back.channels == rec.channels
    assert back.units == rec.units
    assert np.array_equal(back.t_lab_s, rec.t_lab_s)
    assert np.array_equal(back.scheduled_lab_s, rec.scheduled_lab_s)
    for name in rec.channels:
        assert np.array_equal(back.columns[name], rec.columns[name], equal_nan=True)
    assert back.meta == rec.meta


def test_header_names_channels_with_units(tmp_path: Path) -> None:
    path = sample_recording().to_csv(tmp_path / "rec.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "# testbench-recording v1"
    assert lines[1].startswith("# meta {")
    assert lines[2] == ("t_lab_s [s],scheduled_lab_s [s],current_l1_a [A],power_w [W],"
                        "power_factor [1]")
    assert ",nan," in lines[3 + 3]  # the missing sample #3


def test_round_trip_without_schedule_and_empty(tmp_path: Path) -> None:
    rec = Recording(np.empty(0), {"power_w": np.empty(0)}, {"power_w": "W"})
    back = Recording.from_csv(rec.to_csv(tmp_path / "empty.csv"))
    assert len(back) == 0 and back.channels == ("power_w",) and back.scheduled_lab_s is None


def test_plain_csv_with_unit_headers_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("t_lab_s [s],current_a [A],note\n1.0,16.0,3\n2.0,,4\n")
    with pytest.raises(ValueError, match="not a number"):
        Recording.from_csv(path)
    path.write_text("t_lab_s [s],current_a [A],count\n1.0,16.0,3\n2.0,nan,4\n")
    rec = Recording.from_csv(path)
    assert rec.units == {"current_a": "A", "count": ""}
    assert rec.current_a.mean() == 16.0


def test_csv_errors_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("current_a [A]\n1.0\n")
    with pytest.raises(ValueError, match="no 't_lab_s' column"):
        Recording.from_csv(path)
    path.write_text("t_lab_s [s],current_a [A]\n1.0,2.0,3.0\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: 3 cells for 2 columns"):
        Recording.from_csv(path)
    path.write_text("# only comments\n")
    with pytest.raises(ValueError, match="no header row"):
        Recording.from_csv(path)
