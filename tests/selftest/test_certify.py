"""`testbench certify` in the simulated lab: a regression fails it, a fix passes it, bad input
and a charger that never comes back end with a clear verdict in bounded time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from labgen import ChargerEntry, write_lab

REPO = Path(__file__).resolve().parents[2]
SUITES = [str(REPO / "suites" / "ocpp" / "test_boot.py"),
          str(REPO / "suites" / "ocpp" / "test_heartbeat.py")]


def certify(*args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "1", "COLUMNS": "160"}
    env.pop("TESTBENCH_SIM_FLASH_DIR", None)
    return subprocess.run([sys.executable, "-m", "testbench.cli_certify", *args],
                          capture_output=True, text=True, timeout=timeout_s, env=env,
                          check=False)


def image(path: Path, version: str, faults: str | None) -> Path:
    args = ["firmware-image", str(path), "--version", version]
    if faults is not None:
        args += ["--faults", faults]
    done = certify(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def campaign(lab: Path) -> dict:
    found = sorted((lab.parent / "reports" / "certify").glob("*/certify.json"))
    assert found, "no certify.json written"
    return json.loads(found[-1].read_text(encoding="utf-8"))


def diff_of(lab: Path) -> dict:
    found = sorted((lab.parent / "reports" / "certify").glob("*/diff.json"))
    assert found, "no diff.json written"
    return json.loads(found[-1].read_text(encoding="utf-8"))


def changes(diff: dict, change: str) -> set[str]:
    return {e["name"] for e in diff["entries"] if e["change"] == change}


def test_injected_regression_is_reported_and_fails(tmp_path: Path):
    lab = write_lab(tmp_path / "lab.toml", [ChargerEntry("amp", "2.0.1")], ["ev-saloon"],
                    time_scale=20.0)
    fw = image(tmp_path / "amp-1.13.0.fw", "1.13.0", "wrong-heartbeat-interval")
    done = certify("certify", "--lab", str(lab), "--charger", "amp", "--firmware", str(fw),
                   "--unattended", "--suites", *SUITES)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "NOT CERTIFIED" in out and "1 regression(s)" in out, out[-3000:]
    diff = diff_of(lab)
    assert changes(diff, "regression") == {"test_heartbeat_interval_honoured"}
    assert not changes(diff, "fix")
    assert changes(diff, "unchanged") == {"test_boot_accepted", "test_boot_pending_then_accepted"}
    assert (diff["before"], diff["after"]) == ("1.12.0", "1.13.0")
    summary = campaign(lab)
    assert summary["update"]["ok"] and summary["exit_status"] == 1
    assert summary["update"]["statuses"][:3] == ["Downloading", "Downloaded", "SignatureVerified"]
    # the after run is recorded under the firmware the charger announced
    after = lab.parent / "reports" / "runs" / summary["after_run"] / "journal.jsonl"
    firmware = {json.loads(line).get("charger_firmware")
                for line in after.read_text(encoding="utf-8").splitlines()
                if json.loads(line).get("type", "result") == "result"}
    assert firmware == {"1.13.0"}


def test_fixed_firmware_reports_the_fix_and_passes(tmp_path: Path):
    lab = write_lab(tmp_path / "lab.toml",
                    [ChargerEntry("volt", "1.6", ("wrong-heartbeat-interval",))], ["ev-saloon"],
                    time_scale=20.0)
    fw = image(tmp_path / "volt-3.5.0.fw", "3.5.0", "")
    done = certify("certify", "--lab", str(lab), "--charger", "volt", "--firmware", str(fw),
                   "--unattended", "--suites", *SUITES)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "CERTIFIED" in out and "NOT CERTIFIED" not in out, out[-3000:]
    diff = diff_of(lab)
    assert changes(diff, "fix") == {"test_heartbeat_interval_honoured"}
    assert not changes(diff, "regression")
    assert (diff["before"], diff["after"]) == ("3.4.1", "3.5.0")


def test_bad_input_is_refused_before_anything_runs(tmp_path: Path):
    lab = write_lab(tmp_path / "lab.toml", [ChargerEntry("amp", "2.0.1")], ["ev-saloon"])
    base = ["certify", "--lab", str(lab), "--charger", "amp", "--unattended"]
    missing = certify(*base, "--firmware", str(tmp_path / "nope.fw"))
    assert missing.returncode == 2 and "does not exist" in missing.stdout, missing.stdout
    garbage = tmp_path / "garbage.fw"
    garbage.write_bytes(os.urandom(1000))
    not_image = certify(*base, "--firmware", str(garbage))
    assert not_image.returncode == 2 and "not a simulated-lab firmware image" in not_image.stdout
    fw = image(tmp_path / "ok.fw", "1.13.0", None)
    (tmp_path / "sig.b64").write_text("this is not base64 !!!", encoding="ascii")
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nxx\n", encoding="ascii")
    bad_sig = certify(*base, "--firmware", str(fw), "--signature", str(tmp_path / "sig.b64"),
                      "--signing-cert", str(tmp_path / "cert.pem"))
    assert bad_sig.returncode == 2 and "unreadable signature" in bad_sig.stdout, bad_sig.stdout
    unknown = certify("certify", "--lab", str(lab), "--charger", "nobody", "--firmware", str(fw))
    assert unknown.returncode == 2 and "nobody" in unknown.stdout
    for done in (missing, not_image, bad_sig, unknown):
        assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "reports" / "runs").exists()  # nothing ran


@pytest.mark.slow  # a full CLI run (20-30 s): CI runs it once with -m slow
def test_charger_that_never_comes_back_ends_with_a_verdict_in_bounded_time(tmp_path: Path):
    lab = write_lab(tmp_path / "lab.toml",
                    [ChargerEntry("gone", "2.1", ("firmware-never-back-after-install",))],
                    ["ev-saloon"], time_scale=20.0)
    fw = image(tmp_path / "gone.fw", "1.0.0", None)
    started = time.monotonic()
    done = certify("certify", "--lab", str(lab), "--charger", "gone", "--firmware", str(fw),
                   "--unattended", "--suites", SUITES[0], "-k", "boot_accepted",
                   "--reboot-timeout-s", "60")
    elapsed = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "UPDATE FAILED" in out and "never came back" in out, out[-3000:]
    assert elapsed < 90, f"took {elapsed:.0f} s"
    summary = campaign(lab)
    assert not summary["update"]["ok"] and "after_run" not in summary
