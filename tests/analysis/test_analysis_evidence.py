"""Plots and evidence files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from testbench.analysis import (
    Recording,
    Series,
    evidence,
    evidence_stem,
    plot_recording,
    save_evidence,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T0 = 1_700_000_000.0


def session() -> Recording:
    t = T0 + np.arange(100) / 10
    current = np.where(t - T0 < 5, 16.0, 10.0) + np.sin(np.arange(100)) * 0.1
    current[40] = np.nan
    return Recording(t, {"current_a": current, "voltage_v": np.full(100, 230.0),
                         "power_w": 3 * 230.0 * current},
                     {"current_a": "A", "voltage_v": "V", "power_w": "W"},
                     meta={"instrument": "pa1"})


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = plot_recording(session(), tmp_path / "plots" / "session.png")
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000


def test_plot_with_limits_as_numbers_and_series(tmp_path: Path) -> None:
    rec = session()
    allowed = Series("limit_a", "A", rec.t_lab_s, np.where(rec.t_lab_s - T0 < 5, 16.0, 10.0))
    path = plot_recording(rec, tmp_path / "limits.png", channels=["current_a", "power_w"],
                          limits=[("allowed", allowed), ("max 32 A", 32.0),
                                  ("site limit", 12000.0, "power_w")],
                          title="measured vs allowed")
    assert path.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="matches no plotted channel"):
        plot_recording(rec, tmp_path / "x.png", channels=["current_a"],
                       limits=[("x", 1.0, "frequency_hz")])
    with pytest.raises(KeyError, match="no channel 'nope'"):
        plot_recording(rec, tmp_path / "y.png", channels=["nope"])


def test_save_evidence_writes_csv_and_png(tmp_path: Path) -> None:
    paths = save_evidence(session(), tmp_path / "evidence", "AC session @ c16", plot=True)
    assert [p.name for p in paths] == ["AC_session_@_c16.csv", "AC_session_@_c16.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    back = Recording.from_csv(paths[0])
    assert back.channels == ("current_a", "voltage_v", "power_w")
    assert save_evidence(session(), tmp_path, "no-plot")[0].suffix == ".csv"


def test_evidence_is_attached_to_allure_only_when_allure_is_active(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import allure

    attached: list[tuple[str, str]] = []
    monkeypatch.setattr(allure.attach, "file",
                        lambda source, name=None, attachment_type=None, extension=None:
                        attached.append((source, name)))
    monkeypatch.setattr(evidence, "allure_active", lambda: False)
    save_evidence(session(), tmp_path, "quiet", plot=False)
    assert attached == []
    monkeypatch.setattr(evidence, "allure_active", lambda: True)
    paths = save_evidence(session(), tmp_path, "loud", plot=True)
    assert attached == [(str(paths[0]), "loud.csv"), (str(paths[1]), "loud.png")]


def test_evidence_stem_refuses_empty_names() -> None:
    assert evidence_stem("a/b c") == "a_b_c"
    with pytest.raises(ValueError, match="no usable characters"):
        evidence_stem("///")
