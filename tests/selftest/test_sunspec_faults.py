"""The SunSpec settings cases catch a charger whose SunSpec interface ignores writes (at the
meter) or drops the sign of what it stores (at the read-back), and a conformant pair passes.

Runs of the real ``testbench run suites/gridcode -k sunspec`` on a generated lab of
bidirectional 2.1 chargers, each with its own chroma-61800 grid emulator, a yokogawa-wt
analyser on its grid side and (but one) a ``sunspec-der`` instrument (role
``der_settings``) on its SunSpec Modbus interface: a conformant one passes every case; with
``sunspec-ignores-writes`` every value reads back (read-back passes) but Q never follows (the
meter cases, Q and the frequency droop, fail on the steady-state judgement); with ``sunspec-drops-sign`` the fixed Q and
the curve's negative Q points read back positive (both read-back cases fail); without a
``der_settings`` instrument the cases are skipped as not applicable.
"""

from __future__ import annotations

from pathlib import Path

import labgen
import pytest
from gridlab import V2G_EV
from labgen import ChargerEntry, free_port, write_lab

from testbench.lab.faults import CHARGER_FAULTS, SUNSPEC_FAULTS

REPO = Path(__file__).resolve().parents[2]
SUITES = str(REPO / "suites" / "gridcode")
READ_BACK = "test_sunspec_settings_read_back"
FIXED_PF = "test_sunspec_fixed_cos_phi_at_meter"
VOLT_VAR = "test_sunspec_volt_var_at_meter"
OCPP_BACK = "test_sunspec_reads_back_der_control"
DROOP = "test_sunspec_frequency_droop_at_meter"

# charger -> (faults, has SunSpec, test -> expected verdict and the text its message names)
CASES: dict[str, tuple[tuple[str, ...], bool, dict[str, tuple[str, str]]]] = {
    "v2g-ok": ((), True, {READ_BACK: ("passed", ""), FIXED_PF: ("passed", ""),
                          VOLT_VAR: ("passed", ""), OCPP_BACK: ("passed", ""),
                          DROOP: ("passed", "")}),
    "v2g-ssw": (("sunspec-ignores-writes",), True, {
        READ_BACK: ("passed", ""), FIXED_PF: ("failed", "judge_steady_state"),
        VOLT_VAR: ("failed", "judge_steady_state"), DROOP: ("failed", "judge_steady_state")}),
    "v2g-sign": (("sunspec-drops-sign",), True, {READ_BACK: ("failed", "read_back"),
                                                 OCPP_BACK: ("failed", "read_back")}),
    "v2g-nossp": ((), False, {READ_BACK: ("skipped", "der_settings"),
                              FIXED_PF: ("skipped", "der_settings"),
                              VOLT_VAR: ("skipped", "der_settings"),
                              OCPP_BACK: ("skipped", "der_settings"),
                              DROOP: ("skipped", "der_settings")}),
}


def test_sunspec_faults_are_in_the_catalogue_and_each_is_caught() -> None:
    assert set(SUNSPEC_FAULTS) <= set(CHARGER_FAULTS)
    caught = {f for faults, _, expected in CASES.values() for f in faults
              if any(v == "failed" for v, _ in expected.values())}
    assert caught == set(SUNSPEC_FAULTS)


def _lab(path: Path) -> Path:
    assert labgen.EVS.get(V2G_EV), "gridlab registers the bidirectional EV"
    chargers = [ChargerEntry(cid, "2.1", faults, extra={"bidirectional": True,
                                                        "iso15118": ["-2", "-20"]})
                for cid, (faults, _, _) in CASES.items()]
    instruments: list[dict[str, object]] = []
    for cid, (_, sunspec, _) in CASES.items():
        instruments += [
            {"name": f"grid-{cid}", "role": "grid_emulator", "driver": "chroma-61800",
             "resource": f"TCPIP::127.0.0.1::{free_port()}::SOCKET", "charger": cid},
            {"name": f"analyser-{cid}", "role": "power_analyzer", "driver": "yokogawa-wt",
             "resource": f"TCPIP::127.0.0.1::{free_port()}::SOCKET", "charger": cid,
             "options": {"point": "input"}}]
        if sunspec:
            instruments.append({"name": f"der-{cid}", "role": "der_settings",
                                "driver": "sunspec-der",
                                "resource": f"127.0.0.1:{free_port()}", "charger": cid})
    return write_lab(path, chargers, [V2G_EV], instruments=instruments, time_scale=10.0,
                     name="sunspec-selftest")


@pytest.mark.slow  # a full CLI run (20-30 s): CI runs it once with -m slow
def test_sunspec_settings_case_catches_ignored_writes(tmp_path: Path, testbench_cli) -> None:
    lab = _lab(tmp_path / "lab.toml")
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", "sunspec",
                           SUITES, timeout_s=600)
    verdicts = result.verdicts()
    problems = []
    for charger, (faults, _, expected) in CASES.items():
        for test, (want, text) in expected.items():
            record = verdicts.get((charger, V2G_EV, test))
            if record is None:
                problems.append(f"{charger}: {test} has no verdict")
                continue
            if record["verdict"] != want or text not in (record["message"] or ""):
                problems.append(f"{charger} ({faults}): {test} is {record['verdict']} "
                                f"({record['message']}), expected {want} naming {text!r}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-3000:]
