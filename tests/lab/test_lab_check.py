"""``testbench lab check``: summary and exit codes."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from testbench.lab.check import check_lab, lab_warnings, render_check, run_lab_check


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None, force_terminal=False), out


def test_check_default_lab_counts(repo_root: Path) -> None:
    summary = check_lab(repo_root / "lab.toml")
    assert (summary.charger_count, summary.ev_count, summary.station_count,
            summary.instrument_count, summary.pairing_count) == (3, 3, 1, 19, 9)
    assert summary.warnings == ()
    assert {p.id for p in summary.pairings} == {
        f"{ev}@{charger}" for ev in ("ev-city", "ev-saloon", "ev-van")
        for charger in ("voltiq-w22", "amperia-hc11", "gridline-bx7")}


def test_render_shows_every_item(repo_root: Path) -> None:
    console, out = _console()
    console.print(render_check(check_lab(repo_root / "lab.toml")))
    text = out.getvalue()
    for word in ("voltiq-w22", "amperia-hc11", "gridline-bx7", "ev-city", "ev-saloon",
                 "ev-van", "sim-bay-1", "evio-voltiq", "TCPIP::127.0.0.1::47103::SOCKET",
                 "9 pairings", "3 chargers", "19 instruments"):
        assert word in text


def test_run_lab_check_ok(repo_root: Path) -> None:
    console, out = _console()
    assert run_lab_check(repo_root / "lab.toml", console) == 0
    assert "9 pairings" in out.getvalue()


def test_run_lab_check_error_lists_problems_without_traceback(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path]
) -> None:
    base_lab["chargers"][0]["phases"] = 2
    base_lab["evs"][0]["colour"] = "red"
    path = write_lab(base_lab)
    console, out = _console()
    assert run_lab_check(path, console) == 2
    text = out.getvalue()
    assert "Traceback" not in text
    assert str(path) in text and "2 problems" in text
    assert '[chargers[0] (id "c16")] phases' in text  # brackets survive rich markup
    assert "fix: write phases = 1 or phases = 3" in text
    assert '[evs[0] (id "ev1")] colour' in text


def test_run_lab_check_missing_file(tmp_path: Path) -> None:
    console, out = _console()
    assert run_lab_check(tmp_path / "missing.toml", console) == 2
    assert "not found" in out.getvalue()


def test_warnings_for_unset_password_env_missing_tls_and_unplaced_items(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base_lab["csms"].update(tls_cert="certs/none.pem", tls_key="certs/none.key")
    for charger in base_lab["chargers"]:
        charger.update(security_profile=2, password_env="TB_TEST_UNSET_PASSWORD")
    base_lab["evs"].append({"id": "ev-spare", "make": "M", "model": "X", "software": "1"})
    monkeypatch.delenv("TB_TEST_UNSET_PASSWORD", raising=False)
    summary = check_lab(write_lab(base_lab))
    text = "\n".join(summary.warnings)
    assert "TB_TEST_UNSET_PASSWORD" in text
    assert "certs/none.pem" in text and "certs/none.key" in text
    assert "'ev-spare' is at no station" in text
    monkeypatch.setenv("TB_TEST_UNSET_PASSWORD", "x")
    assert not any("TB_TEST_UNSET_PASSWORD" in w for w in lab_warnings(summary.lab))
