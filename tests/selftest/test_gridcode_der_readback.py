"""DER settings over OCPP 2.1: the read-back case catches a charger reporting its controls
otherwise than they were set, the FreqDroop case a unit whose LFSM-O response does not
follow the droop that was set, and the FreqWatt case a unit ignoring a P(f) curve; a
conformant pair passes all.

Runs of the real ``testbench run suites/gridcode/test_der_settings.py`` on a generated grid
lab (:mod:`gridlab`: bidirectional 2.1 chargers, a bidirectional EV, grid emulator and
analyser per charger; parameter set en50549-default).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gridlab import V2G_EV, write_grid_lab

from testbench.lab.faults import CHARGER_FAULTS, GRIDCODE_VOLTAGE_FAULTS

REPO = Path(__file__).resolve().parents[2]
SUITE = str(REPO / "suites" / "gridcode" / "test_der_settings.py")
READBACK = "test_der_control_read_back"
DROOP = "test_freq_droop_setting_followed"
FREQ_WATT = "test_freq_watt_setting_followed"
CONTROLS = ("VoltVar", "WattPF", "VoltWatt", "FixedPFAbsorb", "FixedPFInject", "FixedVar",
            "FreqDroop", "FreqWatt")
CAUGHT_HERE = ("der-report-differs", "ignores-freq-watt")
"""Grid-code voltage faults proven here (the rest in test_gridcode_voltage_faults.py)."""


def _records(result, charger: str, test: str) -> dict[str, dict]:
    """Parameter (the text after the pairing in the test id) -> journal record."""
    prefix = f"{V2G_EV}@{charger}"
    out = {}
    for record in result.records():
        if record["charger"] != charger or f"::{test}[" not in record["test_id"]:
            continue
        param = record["test_id"].rsplit("[", 1)[-1].rstrip("]")
        out[param.removeprefix(prefix).lstrip("-") or test] = record
    return out


def test_readback_fault_is_in_the_catalogue() -> None:
    assert set(CAUGHT_HERE) <= set(GRIDCODE_VOLTAGE_FAULTS) <= set(CHARGER_FAULTS)


def test_read_back_catches_a_report_that_differs(tmp_path: Path, testbench_cli) -> None:
    lab = write_grid_lab(tmp_path / "lab.toml", {"v2g-ok": (), "v2g-rep": ("der-report-differs",)})
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", READBACK, SUITE,
                           timeout_s=600)
    problems = []
    for charger, want in (("v2g-ok", "passed"), ("v2g-rep", "failed")):
        records = _records(result, charger, READBACK)
        if set(records) != set(CONTROLS):
            problems.append(f"{charger}: verdicts for {sorted(records)}, expected {CONTROLS}")
        for control, record in records.items():
            if record["verdict"] != want:
                problems.append(f"{charger} {control}: {record['verdict']}, expected {want}: "
                                f"{record['message']}")
            elif want == "failed" and "der_readback" not in record["message"]:
                problems.append(f"{charger} {control}: failed for another reason: "
                                f"{record['message']}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-3000:]


# charger -> (faults, test -> the check its failure must name; None: must pass)
FOLLOWED: dict[str, tuple[tuple[str, ...], dict[str, str | None]]] = {
    "v2g-ok": ((), {DROOP: None, FREQ_WATT: None}),
    "v2g-droop": (("wrong-droop",), {DROOP: "judge_steady_state"}),
    "v2g-fw": (("ignores-freq-watt",), {FREQ_WATT: "judge_steady_state", DROOP: None}),
}


@pytest.mark.slow
def test_freq_droop_and_freq_watt_settings_are_followed_and_faults_caught(
        tmp_path: Path, testbench_cli) -> None:
    lab = write_grid_lab(tmp_path / "lab.toml", {c: f for c, (f, _) in FOLLOWED.items()})
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k",
                           f"{DROOP} or {FREQ_WATT}", SUITE, timeout_s=600)
    verdicts = result.verdicts()
    problems = []
    for charger, test, check in ((c, t, k) for c, (_, ts) in FOLLOWED.items()
                                 for t, k in ts.items()):
        record = verdicts.get((charger, V2G_EV, test))
        if record is None:
            problems.append(f"{charger}: no verdict for {test}")
            continue
        want = "passed" if check is None else "failed"
        if record["verdict"] != want:
            problems.append(f"{charger} {test}: {record['verdict']}, expected {want}: "
                            f"{record['message']}")
        elif check is not None and check not in record["message"]:
            problems.append(f"{charger} {test}: failed for another reason than {check}: "
                            f"{record['message']}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-3000:]
