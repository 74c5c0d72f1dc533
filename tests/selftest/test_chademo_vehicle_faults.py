"""The CHAdeMO vehicle checks catch the EV faults aimed at them and pass a conformant vehicle.

One real `testbench run suites/chademo/test_chademo_vehicle.py` against a generated simulated
lab (the example labs/chademo-ev-sim.toml with five vehicles, each at its own station with
its own CAN bus and the bench as the charger): a conformant vehicle and one per CHAdeMO EV
fault personality.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from labgen import free_port

from testbench.lab.faults import CHADEMO_EV_FAULTS, EV_FAULTS

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "suites" / "chademo" / "test_chademo_vehicle.py"
TESTS = ("test_startup_sequence", "test_request_within_available_current",
         "test_stops_on_charger_malfunction", "test_normal_stop_on_stop_control")
# EV id -> (faults, {test: text the failure message must contain})
EVS = {
    "ev-ok": ((), {}),
    "ev-greedy": (("chademo-requests-above-available",),
                  {"test_request_within_available_current": "above the available 80 A"}),
    "ev-deaf": (("chademo-ignores-charger-fault",),
                {"test_stops_on_charger_malfunction": "did not stop"}),
    "ev-eager": (("chademo-enables-before-charger",),
                 {"test_startup_sequence": "charging enabled before the charger sent"}),
    "ev-alarmed": (("chademo-faults-on-normal-stop",),
                   {"test_normal_stop_on_stop_control": "flagged a fault during a normal stop"}),
}


def _lab(path: Path) -> Path:
    text = (REPO / "labs" / "chademo-ev-sim.toml").read_text(encoding="utf-8")
    head, _, _ = text.partition("[[chargers]]")
    head = re.sub(r'output_dir = ".*"', 'output_dir = "reports"', head)
    parts = [head]
    for number, (ev, (faults, _)) in enumerate(EVS.items(), start=1):
        listed = ", ".join(f'"{f}"' for f in faults)
        parts.append(f"""
[[chargers]]
id = "bench-dc-{number}"
vendor = "Testbench"
model = "CHAdeMO emulator"
firmware = "1.0"
ocpp_version = "1.6"
current_type = "DC"
max_current_a = 125.0
max_power_w = 50000.0

[[evs]]
id = "{ev}"
make = "Kibo"
model = "Hatch 40"
software = "4.2"
max_current_a = 125.0
battery_kwh = 40.0
faults = [{listed}]

[[stations]]
id = "dc-ev-bay-{number}"
chargers = ["bench-dc-{number}"]
evs = ["{ev}"]

  [[stations.instruments]]
  name = "chademo-charger-{number}"
  role = "chademo_charger"
  driver = "chademo-charger"
  resource = "chademo{number}@127.0.0.1:{free_port()}"
  options = {{ interface = "socketcand", period_s = 0.01 }}
""")
    path.write_text("".join(parts), encoding="utf-8")
    return path


def test_chademo_ev_faults_are_in_the_catalogue() -> None:
    faults = {f for faults, _ in EVS.values() for f in faults}
    assert faults == set(CHADEMO_EV_FAULTS) <= set(EV_FAULTS)


@pytest.mark.slow  # a full CLI run (20-30 s): CI runs it once with -m slow
def test_each_chademo_vehicle_check_catches_its_fault(tmp_path: Path, testbench_cli) -> None:
    lab = _lab(tmp_path / "lab.toml")
    result = testbench_cli("run", "--lab", str(lab), "--unattended", str(SUITE), timeout_s=240)
    verdicts = result.verdicts()
    assert len(verdicts) == len(EVS) * len(TESTS), (sorted(verdicts), result.output[-3000:])
    problems = []
    for number, (ev, (_, expected)) in enumerate(EVS.items(), start=1):
        for test in TESTS:
            record = verdicts[(f"bench-dc-{number}", ev, test)]
            message = record.get("message") or ""
            wanted = expected.get(test)
            verdict = "failed" if wanted else "passed"
            if record["verdict"] != verdict or (wanted and wanted not in message):
                problems.append(f"{ev} {test}: {record['verdict']} (expected {verdict}"
                                f"{', with ' + repr(wanted) if wanted else ''}): {message}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    assert result.exit_code == 1, result.output[-2000:]
    runs = tmp_path / "reports" / "runs"
    logs = list(runs.glob("*/evidence/*/request-vs-available-can.log"))
    assert len(logs) == len(EVS), logs
    assert re.search(r"can 108#", logs[0].read_text(encoding="utf-8"))
    assert len(list(runs.glob("*/evidence/*/request-vs-available.png"))) == len(EVS)
