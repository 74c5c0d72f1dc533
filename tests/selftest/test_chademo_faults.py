"""The CHAdeMO checks catch the faults aimed at them and pass a conformant charger.

One real `testbench run suites/chademo` against a generated simulated lab (the example
labs/chademo-sim.toml with three chargers, each at its own station with its own CAN bus):
a conformant charger and one per CHAdeMO fault personality.
"""

from __future__ import annotations

import re
from pathlib import Path

from labgen import free_port

from testbench.lab.faults import CHADEMO_FAULTS, CHARGER_FAULTS

REPO = Path(__file__).resolve().parents[2]
TESTS = ("test_parameter_exchange", "test_current_follows_request", "test_normal_stop",
         "test_battery_incompatibility")
# charger id -> (faults, {test: text the failure message must contain})
CHARGERS = {
    "dc-ok": ((), {}),
    "dc-over": (("chademo-overcurrent",), {"test_current_follows_request": "did not settle"}),
    "dc-nostop": (("chademo-ignores-stop",), {"test_normal_stop": "was not 0 within"}),
}


def _lab(path: Path) -> Path:
    text = (REPO / "labs" / "chademo-sim.toml").read_text(encoding="utf-8")
    head, _, _ = text.partition("[[chargers]]")
    head = re.sub(r'output_dir = ".*"', 'output_dir = "reports"', head)
    head = head.replace("time_scale = 10.0", "time_scale = 20.0")
    parts = [head]
    for number, (charger, (faults, _)) in enumerate(CHARGERS.items(), start=1):
        listed = ", ".join(f'"{f}"' for f in faults)
        parts.append(f"""
[[chargers]]
id = "{charger}"
vendor = "Rapido"
model = "Q50 CHAdeMO"
firmware = "2.1.0"
ocpp_version = "1.6"
current_type = "DC"
max_current_a = 125.0
max_power_w = 50000.0
faults = [{listed}]
""")
    parts.append("""
[[evs]]
id = "ev-hatch-dc"
make = "Kibo"
model = "Hatch 40"
software = "4.2"
max_current_a = 125.0
battery_kwh = 40.0
""")
    for number, charger in enumerate(CHARGERS, start=1):
        parts.append(f"""
[[stations]]
id = "dc-bay-{number}"
chargers = ["{charger}"]
evs = ["ev-hatch-dc"]

  [[stations.instruments]]
  name = "chademo-ev-{number}"
  role = "chademo_ev"
  driver = "chademo-ev"
  resource = "chademo{number}@127.0.0.1:{free_port()}"
  options = {{ interface = "socketcand", period_s = 0.01 }}
""")
    path.write_text("".join(parts), encoding="utf-8")
    return path


def test_chademo_faults_are_in_the_catalogue() -> None:
    faults = {f for faults, _ in CHARGERS.values() for f in faults}
    assert faults == set(CHADEMO_FAULTS) <= set(CHARGER_FAULTS)


def test_each_chademo_check_catches_its_fault(tmp_path: Path, testbench_cli) -> None:
    lab = _lab(tmp_path / "lab.toml")
    result = testbench_cli("run", "--lab", str(lab), "--unattended",
                           str(REPO / "suites" / "chademo" / "test_chademo_session.py"),
                           timeout_s=300)
    verdicts = result.verdicts()
    assert len(verdicts) == len(CHARGERS) * len(TESTS), (sorted(verdicts), result.output[-3000:])
    problems = []
    for charger, (_, expected) in CHARGERS.items():
        for test in TESTS:
            record = verdicts[(charger, "ev-hatch-dc", test)]
            message = record.get("message") or ""
            wanted = expected.get(test)
            verdict = "failed" if wanted else "passed"
            if record["verdict"] != verdict or (wanted and wanted not in message):
                problems.append(f"{charger} {test}: {record['verdict']} (expected {verdict}"
                                f"{', with ' + repr(wanted) if wanted else ''}): {message}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-2000:]
    assert result.exit_code == 1, result.output[-2000:]
    logs = list((tmp_path / "reports" / "runs").glob("*/evidence/*/current-steps-can.log"))
    assert len(logs) == len(CHARGERS), logs
    assert re.search(r"can 109#", logs[0].read_text(encoding="utf-8"))
