"""The energy-service scenarios catch the faults aimed at them and pass conformant chargers.

Each test runs the real `testbench run` (only the cases it judges) against a generated
simulated lab: a station with household load and PV behind a 16 A connection, a site
analyser, a power analyser and a Modbus energy manager (modbus-lem) per charger; for the
frequency service the grid-code lab (gridlab.py: bidirectional 2.1 chargers each behind
its own grid emulator).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gridlab import write_grid_lab
from labgen import ChargerEntry, free_port, write_lab

from testbench.analysis import Series
from testbench.lab.faults import CHARGER_FAULTS, ENERGY_SERVICE_FAULTS
from testbench.procedures import energy

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "suites" / "energy_services"
SITE = {"household_load_w": 4000.0, "pv_peak_w": 1000.0, "supply_max_current_a": 16.0}
EV = "ev-saloon"


def energy_lab(path: Path, chargers: list[ChargerEntry], time_scale: float = 20.0) -> Path:
    """One station with site load, a site analyser, and per charger an analyser and an LEM."""
    instruments: list[dict[str, object]] = [
        {"name": "site", "role": "site_analyzer", "driver": "yokogawa-wt",
         "resource": f"TCPIP::127.0.0.1::{free_port()}::SOCKET", "options": {"point": "site"}}]
    for entry in chargers:
        instruments.append({"name": f"lem-{entry.id}", "role": "energy_manager",
                            "driver": "modbus-lem", "resource": f"127.0.0.1:{free_port()}",
                            "charger": entry.id})
    write_lab(path, chargers, [EV], time_scale=time_scale, instruments=instruments,
              analyzers={c.id: "yokogawa-wt" for c in chargers}, name="energy-selftest")
    with path.open("a", encoding="utf-8") as lab:
        lab.write("\n  [stations.site]\n" + "".join(f"  {k} = {v!r}\n" for k, v in SITE.items()))
    return path


def judge(result, expected: dict[tuple[str, str], str]) -> list[str]:
    """Compare (charger, test) -> verdict with what the run journal says."""
    verdicts = result.verdicts()
    problems = []
    for (charger, test), wanted in expected.items():
        record = verdicts.get((charger, EV, test)) or next(
            (r for (c, _e, name), r in verdicts.items() if c == charger and name == test), None)
        if record is None:
            problems.append(f"{charger} {test}: no result")
        elif record["verdict"] != wanted:
            problems.append(f"{charger} {test}: {record['verdict']} (expected {wanted}): "
                            f"{record.get('message')}")
    return problems


def test_energy_service_faults_are_in_the_catalogue() -> None:
    assert set(ENERGY_SERVICE_FAULTS) <= set(CHARGER_FAULTS)
    assert {"ignores-modbus-limit", "slow-frequency-response",
            "no-frequency-response"} == set(ENERGY_SERVICE_FAULTS)


def test_settle_and_activation_checks_can_fail() -> None:
    t = np.arange(0.0, 60.0, 0.5)
    under = Series("i", "A", t, np.where(t < 10, 20.0, 14.0))
    assert energy.settle_problems(under, 16.0, start_s=0.0, response_s=20.0, accuracy=0.2,
                                  what="site")[0] == []
    late = Series("i", "A", t, np.where(t < 30, 20.0, 14.0))
    problems, figures = energy.settle_problems(late, 16.0, start_s=0.0, response_s=20.0,
                                               accuracy=0.2, what="site")
    assert problems and figures.over == 20 and figures.settled_after_s == 30.0
    power = Series("p", "W", t, np.where(t < 5, 0.0, np.maximum(-10000.0, -(t - 5) * 500.0)))
    fast = energy.activation(power, 5.0, 0.0, -10000.0, 1000.0)
    assert fast.full_s == pytest.approx(18.0, abs=0.6) and not energy.activation_problems(fast)
    slow = energy.activation(power, 5.0, 0.0, -10000.0, 1000.0, until_s=20.0)
    assert energy.activation_problems(slow)
    measured = energy.interval_energies_wh(Series("p", "W", t, np.full(t.size, 3600.0)),
                                           0.0, 20.0, 2)
    assert measured == pytest.approx([20.0, 20.0])


def test_lem_scenario_catches_ignores_modbus_limit(tmp_path: Path, testbench_cli) -> None:
    """Behind the meter under the Modbus LEM: a charger ignoring the register fails, a
    conformant one passes (operator control of both: the slow test below)."""
    chargers = [ChargerEntry("ok-16", "1.6"),
                ChargerEntry("lem-bad", "2.0.1", ("ignores-modbus-limit",))]
    lab = energy_lab(tmp_path / "lab.toml", chargers)
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(SUITE / "test_behind_the_meter.py"), "--", "-k", "modbus_lem",
                           timeout_s=300)
    assert len(result.records()) == 2, result.output[-2000:]
    problems = judge(result, {("ok-16", "test_site_limit_modbus_lem"): "passed",
                              ("lem-bad", "test_site_limit_modbus_lem"): "failed"})
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    message = result.verdicts()[("lem-bad", EV, "test_site_limit_modbus_lem")]["message"]
    assert "site import current: over the limit of 16 A" in message
    evidence = list((tmp_path / "reports" / "runs").glob("*/evidence/*/behind-the-meter-*.png"))
    assert len(evidence) == 2, evidence
    assert result.exit_code == 1


def test_frequency_service_catches_slow_and_missing_response(tmp_path: Path,
                                                             testbench_cli) -> None:
    """FCR-like full activation: a conformant 2.1 pair passes; a slow one (full activation
    after 90 s) and one not responding fail."""
    lab = write_grid_lab(tmp_path / "lab.toml", {
        "ok-fcr": (), "slow-fcr": ("slow-frequency-response",),
        "none-fcr": ("no-frequency-response",)}, time_scale=20.0)
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(SUITE / "test_frequency_containment.py"), timeout_s=300)
    test = "test_frequency_containment_full_activation"
    problems = judge(result, {("ok-fcr", test): "passed", ("slow-fcr", test): "failed",
                              ("none-fcr", test): "failed"})
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    for charger in ("slow-fcr", "none-fcr"):
        message = result.verdicts()[(charger, "ev-v2g", test)]["message"]
        assert "full activation" in message, message
    assert result.exit_code == 1


@pytest.mark.slow
def test_schedule_and_operator_checks_catch_smart_charging_faults(tmp_path: Path,
                                                                  testbench_cli) -> None:
    """Balance responsibility and operator control catch a charger overshooting its profile
    limit and one applying it late; the LEM path (not a profile) passes them."""
    chargers = [ChargerEntry("ok-16", "1.6"), ChargerEntry("ok-21", "2.1"),
                ChargerEntry("over-16", "1.6", ("overshoots-limit",)),
                ChargerEntry("late-201", "2.0.1", ("applies-limit-late",))]
    lab = energy_lab(tmp_path / "lab.toml", chargers)
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(SUITE / "test_balance_responsibility.py"),
                           str(SUITE / "test_behind_the_meter.py"), timeout_s=600)
    brp, op, lem = ("test_energy_schedule_per_interval", "test_site_limit_operator_control",
                    "test_site_limit_modbus_lem")
    expected = {(c, t): "passed" for c in ("ok-16", "ok-21") for t in (brp, op, lem)}
    expected.update({("over-16", brp): "failed", ("over-16", op): "failed",
                     ("over-16", lem): "passed", ("late-201", brp): "failed",
                     ("ok-16", op): "passed"})
    # late-201's other cases start while it still applies the previous case's limit (it
    # clears profiles late too): they may be skipped as not challenging the site.
    problems = judge(result, expected)
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    message = result.verdicts()[("over-16", EV, brp)]["message"]
    assert "energy schedule" in message and "intervals outside" in message


@pytest.mark.slow
@pytest.mark.parametrize("fault,verdict", [("", "passed"), ("overshoots-limit", "failed")])
def test_group_limit_check(fault: str, verdict: str, tmp_path: Path, testbench_cli) -> None:
    """Congestion management: three chargers under a group limit; one overshooting its
    share puts the group over it."""
    chargers = [ChargerEntry("g-16", "1.6"), ChargerEntry("g-201", "2.0.1"),
                ChargerEntry("g-last", "1.6", (fault,) if fault else ())]
    lab = energy_lab(tmp_path / "lab.toml", chargers)
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(SUITE / "test_congestion.py"), timeout_s=300)
    test = "test_group_limit_of_all_chargers"
    problems = judge(result, {("g-16", test): verdict, ("g-201", test): "skipped",
                              ("g-last", test): "skipped"})
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    if verdict == "failed":
        assert "group power: over the limit" in result.verdicts()[("g-16", EV, test)]["message"]
