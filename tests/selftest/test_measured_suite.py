"""The measured suite's checks catch the faults aimed at them, and pass a conformant charger.

One run of the real `testbench run suites/measured` against a simulated lab with a power
analyser on every charger: conformant chargers on 1.6 and 2.1 (one WT, one LMG), a meter
that over-reports energy on 1.6 (whole-Wh register) and 2.0.1, and a charger that delivers
15 % over its max_current_a. The chargers offer 12 A to a 16 A EV, so the over-current is
within what the EV would draw and shows on the analyser.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labgen import ChargerEntry, free_port, write_lab

from testbench.lab.faults import CHARGER_FAULTS

REPO = Path(__file__).resolve().parents[2]
TEST = "test_ac_session_energy_and_current"
MEASURED_FAULTS = {
    "meter-overreports-energy": "energy:",
    "exceeds-max-current": "current:",
}
LIMIT = {"max_current_a": 12.0, "max_power_w": 8280.0}


def test_measured_faults_are_in_the_catalogue() -> None:
    assert set(MEASURED_FAULTS) <= set(CHARGER_FAULTS)


def test_each_measured_check_catches_its_fault_and_passes_a_conformant_charger(
        tmp_path: Path, testbench_cli) -> None:
    chargers = [
        ChargerEntry("ok-16", "1.6", extra=LIMIT),
        ChargerEntry("ok-21", "2.1", extra=LIMIT),
        ChargerEntry("over-16", "1.6", ("meter-overreports-energy",), extra=LIMIT),
        ChargerEntry("over-201", "2.0.1", ("meter-overreports-energy",), extra=LIMIT),
        ChargerEntry("exceeds-201", "2.0.1", ("exceeds-max-current",), extra=LIMIT),
        ChargerEntry("supply-side", "2.0.1", extra=LIMIT),
    ]
    analyzers = {"ok-16": "yokogawa-wt", "ok-21": "zes-lmg600", "over-16": "zes-lmg600",
                 "over-201": "yokogawa-wt", "exceeds-201": "yokogawa-wt"}
    on_supply = {"name": "analyser-supply-side", "role": "power_analyzer", "driver": "yokogawa-wt",
                 "resource": f"TCPIP::127.0.0.1::{free_port()}::SOCKET", "charger": "supply-side",
                 "options": {"point": "input"}}
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-saloon"], analyzers=analyzers,
                    instruments=[on_supply])
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(REPO / "suites" / "measured"), timeout_s=300)
    verdicts = result.verdicts()
    assert len(verdicts) == len(chargers), result.output[-3000:]
    problems = []
    skipped = verdicts[("supply-side", "ev-saloon", TEST)]
    assert skipped["verdict"] == "skipped" and "input" in skipped["message"], skipped
    for entry in chargers[:-1]:
        record = verdicts[(entry.id, "ev-saloon", TEST)]
        message = record["message"]
        if not entry.faults:
            if record["verdict"] != "passed":
                problems.append(f"{entry.id}: {record['verdict']}: {message}")
            continue
        caught_by = MEASURED_FAULTS[entry.faults[0]]
        others = [m for m in MEASURED_FAULTS.values() if m != caught_by]
        if record["verdict"] != "failed" or caught_by not in message or any(
                o in message for o in others):
            problems.append(f"{entry.id} ({entry.faults[0]}): {record['verdict']}: {message}")
    assert not problems, "\n".join(problems)
    assert result.exit_code == 1, result.output[-2000:]

    over = verdicts[("over-201", "ev-saloon", TEST)]["message"]
    assert "OCPP register" in over and "analyser measured" in over and "tolerance" in over
    exceeds = verdicts[("exceeds-201", "ev-saloon", TEST)]["message"]
    assert "13." in exceeds and "12 A" in exceeds  # 12 A x 1.15 measured, the maximum named

    # evidence: the recording, its plot and the figures, for every test
    evidence = sorted(p.parent for p in (tmp_path / "reports" / "runs").glob(
        "*/evidence/*/ac-session.csv"))
    assert len(evidence) == len(chargers) - 1
    for folder in evidence:
        names = {p.name for p in folder.iterdir()}
        assert {"ac-session.csv", "ac-session.png", "ac-session-figures.json"} <= names, names
    figures = {folder.name: json.loads((folder / "ac-session-figures.json").read_text())
               for folder in evidence}
    for name, values in figures.items():
        if "ok-" in name:
            assert abs(values["difference_wh"]) < values["tolerance_wh"] / 2, (name, values)
            assert values["peak_current_a"] <= values["allowed_current_a"], (name, values)
        if "over-" in name:  # 10 % over (+- the whole-Wh register of 1.6): beyond tolerance
            assert values["difference_wh"] > values["tolerance_wh"], (name, values)
            assert abs(values["difference_wh"] - 0.10 * values["measured_wh"]) < 2.0, values


@pytest.mark.slow
def test_measured_faults_do_not_trip_the_ocpp_suites(tmp_path: Path, testbench_cli) -> None:
    """Exactly its check: the two measured faults pass every OCPP suite test."""
    chargers = [ChargerEntry("over-16", "1.6", ("meter-overreports-energy",)),
                ChargerEntry("exceeds-201", "2.0.1", ("exceeds-max-current",))]
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-city"])
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(REPO / "suites" / "ocpp"), timeout_s=600)
    failing = [r for r in result.records() if r["verdict"] != "passed"]
    assert not failing, [(r["charger"], r["name"], r["message"]) for r in failing]
    assert result.exit_code == 0, result.output[-2000:]
