"""The simulated lab connects with profiles 2 and 3: password and client certificate from
the secrets file, server certificate checked against [csms] tls_ca."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pki import LabPki
from security_helpers import SecureBench

from testbench.lab.loader import load_lab
from testbench.secrets import SECRETS_ENV, Secrets

REPO = Path(__file__).resolve().parents[2]
SIM_PASSWORD = "sim-p2-password-from-file"


def _lab(folder: Path, pki: LabPki) -> Path:
    text = f'''
[lab]
name = "sim-tls"
mode = "sim"
time_scale = 10.0

[csms]
host = "127.0.0.1"
port = 0
tls_cert = "{pki.server.cert}"
tls_key = "{pki.server.key}"
tls_ca = "{pki.ca.path}"

[[chargers]]
id = "p3"
vendor = "Testco"
model = "M3"
firmware = "1.0"
ocpp_version = "2.0.1"
security_profile = 3

[[chargers]]
id = "p2"
vendor = "Testco"
model = "M2"
firmware = "1.0"
ocpp_version = "1.6"
security_profile = 2
password_env = "TB_SEC_TEST_SIM_UNSET_PASSWORD"

[[evs]]
id = "ev"
make = "Testmake"
model = "E"
software = "1.0"

[[stations]]
id = "bay"
chargers = ["p3", "p2"]
evs = ["ev"]
'''
    path = folder / "lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _secrets(folder: Path, pki: LabPki) -> Path:
    cert = pki.clients["p3"]
    path = folder / "secrets.toml"
    path.write_text(f'[chargers.p3]\nclient_cert = "{cert.cert}"\nclient_key = "{cert.key}"\n\n'
                    f'[chargers.p2]\npassword = "{SIM_PASSWORD}"\n', encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def test_simulated_chargers_connect_with_profiles_2_and_3(
        make_secure_bench: Callable[..., SecureBench], pki: LabPki, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TB_SEC_TEST_SIM_UNSET_PASSWORD", raising=False)
    lab = load_lab(_lab(tmp_path, pki))
    private = tmp_path / "private"
    private.mkdir()
    secrets_path = _secrets(private, pki)
    bench = make_secure_bench(
        lab.csms, lab.chargers, secrets=Secrets.load(secrets_path), base_dir=lab.path.parent)
    base_url = bench.url("_").rsplit("/", 1)[0]
    log_path = tmp_path / "sim.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "testbench.sim", "--lab", str(lab.path), "--csms-url",
             base_url, "--epoch", repr(bench.clock.epoch)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO,
            env={**os.environ, SECRETS_ENV: str(secrets_path), "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        first = proc.stdout.readline().strip() if ready else ""
        assert first.startswith("SIM READY"), first + log_path.read_text(encoding="utf-8")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                bench.csms.charger(c).state.accepted for c in ("p2", "p3")):
            time.sleep(0.1)
        sim_log = log_path.read_text(encoding="utf-8")
        for cid in ("p2", "p3"):
            assert bench.csms.charger(cid).state.accepted, (cid, sim_log[-3000:])
        tls = [e for e in bench.events_of("p3") if e["event"] == "tls"]
        assert tls and tls[0]["client_cn"] == "p3"
        assert bench.csms.charger("p2").state.last_refusal is None
        assert SIM_PASSWORD not in sim_log
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
