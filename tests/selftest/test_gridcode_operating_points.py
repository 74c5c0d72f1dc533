"""The conformant bidirectional pair passes every operating point of the frequency, reactive
power and P(U) scenarios on the generated grid lab.

One run of the real ``testbench run suites/gridcode`` (LFSM-O, LFSM-U, Q(U), cos phi(P),
fixed cos phi / Q, P(U); time scale 10) with one conformant charger and the lab's
bidirectional EV (minimum current 6 A: every point, 20 % of 32 A = 6.4 A included, can be
reached). Every parametrised case must pass; none may skip. Wall time about 4 minutes on a
loaded 2-core machine (slow).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gridlab import V2G_EV, write_grid_lab

REPO = Path(__file__).resolve().parents[2]
CHARGER = "v2g-ok"
SELECT = "test_lfsm or test_q_u or test_cos_phi_p or test_fixed_cos_phi_and_q or test_p_u"
EXPECTED = {  # test function -> number of parametrised cases (operating points x modes)
    "test_lfsm_o": 5, "test_lfsm_u": 5, "test_q_u": 6, "test_cos_phi_p": 3,
    "test_fixed_cos_phi_and_q": 24, "test_p_u": 2,
}


@pytest.mark.slow
def test_conformant_pair_passes_every_operating_point(tmp_path: Path, testbench_cli) -> None:
    lab = write_grid_lab(tmp_path / "lab.toml", {CHARGER: ()})
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", SELECT,
                           str(REPO / "suites" / "gridcode"), timeout_s=1200)
    records = [r for r in result.records() if r["charger"] == CHARGER and r["ev"] == V2G_EV]
    counts: dict[str, int] = {}
    problems = []
    for record in records:
        function = record["test_id"].split("::")[-1].split("[")[0]
        if function not in EXPECTED:
            continue
        counts[function] = counts.get(function, 0) + 1
        if record["verdict"] != "passed":
            problems.append(f"{record['test_id']}: {record['verdict']}: {record['message']}")
    if counts != EXPECTED:
        problems.append(f"cases per scenario {counts}, expected {EXPECTED}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-3000:]
