"""The voltage, reactive-power, ride-through and RoCoF suites catch each voltage fault
personality and pass a conformant pair.

Runs of the real ``testbench run suites/gridcode`` on a generated lab (bidirectional 2.1
chargers + a bidirectional EV, a chroma-61800 grid emulator and a yokogawa-wt power analyser
on the grid side of each charger; parameter set en50549-default), each on a subset chosen
with ``-k``. The default run judges fixed Q and under-voltage ride-through; the slow run the
Q(U) curve, P(U), cos phi(P), over-voltage ride-through and RoCoF withstand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gridlab import V2G_EV, write_grid_lab
from test_gridcode_der_readback import CAUGHT_HERE as READBACK_FAULTS

from testbench.lab.faults import CHARGER_FAULTS, GRIDCODE_VOLTAGE_FAULTS

REPO = Path(__file__).resolve().parents[2]
SUITES = str(REPO / "suites" / "gridcode")

FIXED_Q = "test_fixed_cos_phi_and_q[discharging-100pct-q-over]"
UVRT = "test_under_voltage_ride_through[discharging-100pct]"
Q_U = "test_q_u[discharging-66pct]"
P_U = "test_p_u[discharging-100pct]"
COS_PHI = "test_cos_phi_p[discharging-100pct]"
OVRT = "test_over_voltage_ride_through[discharging-100pct]"
ROCOF = "test_rocof_withstand[discharging-100pct]"

Cases = dict[str, tuple[tuple[str, ...], dict[str, str | None]]]
# charger -> (faults, test -> the check its failure must name, or None: passes)
FAST: Cases = {
    "v2g-ok": ((), {FIXED_Q: None, UVRT: None}),
    "v2g-noq": (("no-reactive-power",), {FIXED_Q: "judge_steady_state", UVRT: None}),
    "v2g-frt": (("trips-in-ride-through",), {FIXED_Q: None,
                                             UVRT: "stays_connected_in_ride_through"}),
}
SLOW: Cases = {
    "v2g-ok": ((), {Q_U: None, P_U: None, COS_PHI: None, OVRT: None, ROCOF: None}),
    "v2g-vv": (("wrong-volt-var",), {Q_U: "judge_steady_state", P_U: None}),
    "v2g-frt": (("trips-in-ride-through",), {OVRT: "stays_connected_in_ride_through",
                                             ROCOF: "stays_connected_at_rocof"}),
}


def _subset(cases: Cases) -> str:
    """A ``-k`` expression selecting exactly the tests named in ``cases``."""
    names = sorted({test for _, expected in cases.values() for test in expected})
    parts = []
    for name in names:
        func, _, param = name.partition("[")
        parts.append(f"({func} and {param.rstrip(']')})" if param else func)
    return " or ".join(parts)


def test_voltage_faults_are_in_the_catalogue_and_each_is_caught_somewhere() -> None:
    assert set(GRIDCODE_VOLTAGE_FAULTS) <= set(CHARGER_FAULTS)
    faults = {f for cases in (FAST, SLOW, QU_SIGN) for fs, _ in cases.values() for f in fs}
    faults |= set(READBACK_FAULTS)  # proven in test_gridcode_der_readback.py
    assert faults == set(GRIDCODE_VOLTAGE_FAULTS)


def _check(result, cases: Cases) -> None:
    verdicts = result.verdicts()
    problems = []
    for charger, (faults, expected) in cases.items():
        for test, check in expected.items():
            # the journal names a test by its function: one parameter of each is selected
            record = verdicts.get((charger, V2G_EV, test.split("[")[0]))
            if record is None:
                problems.append(f"{charger} ({faults}): {test} has no verdict; have "
                                f"{sorted(k[2] for k in verdicts if k[0] == charger)}")
                continue
            want = "passed" if check is None else "failed"
            if record["verdict"] != want:
                problems.append(f"{charger} ({faults}): {test} is {record['verdict']}, expected "
                                f"{want}: {record['message']}")
            elif check is not None and check not in record["message"]:
                problems.append(f"{charger}: {test} failed for another reason than {check}: "
                                f"{record['message']}")
    assert not problems, "\n".join(problems) + "\n" + result.output[-3000:]


def _run(tmp_path: Path, cases: Cases, testbench_cli) -> None:
    lab = write_grid_lab(tmp_path / "lab.toml", {cid: f for cid, (f, _) in cases.items()})
    result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k", _subset(cases),
                           SUITES, timeout_s=600)
    _check(result, cases)


@pytest.mark.slow  # a full CLI run (20-30 s): CI runs it once with -m slow
def test_fixed_q_and_ride_through_catch_their_faults(tmp_path: Path, testbench_cli) -> None:
    _run(tmp_path, FAST, testbench_cli)


@pytest.mark.slow
def test_q_u_p_u_cos_phi_ovrt_and_rocof_catch_their_faults(tmp_path: Path,
                                                           testbench_cli) -> None:
    _run(tmp_path, SLOW, testbench_cli)


QU_SIGN: Cases = {"v2g-qus": (("qu-wrong-sign",), {Q_U: "judge_steady_state"})}


def test_q_u_catches_the_wrong_sign(tmp_path: Path, testbench_cli) -> None:
    """Q(U) injecting where the curve absorbs fails the Q(U) case (own lab, one charger)."""
    _run(tmp_path, QU_SIGN, testbench_cli)


SCALE_CASES: Cases = {
    "v2g-ok": ((), {UVRT: None, OVRT: None}),
    "v2g-frt": (("trips-in-ride-through",), {UVRT: "stays_connected_in_ride_through",
                                             OVRT: "stays_connected_in_ride_through"}),
}


@pytest.mark.slow
def test_ride_through_verdicts_do_not_depend_on_the_time_scale(tmp_path: Path,
                                                               testbench_cli) -> None:
    verdicts = {}
    for scale in (1.0, 10.0):
        folder = tmp_path / f"scale{scale:g}"
        folder.mkdir()
        lab = write_grid_lab(folder / "lab.toml",
                             {cid: f for cid, (f, _) in SCALE_CASES.items()}, time_scale=scale)
        result = testbench_cli("run", "--lab", str(lab), "--unattended", "-k",
                               _subset(SCALE_CASES), SUITES, timeout_s=900)
        _check(result, SCALE_CASES)
        verdicts[scale] = {key: r["verdict"] for key, r in result.verdicts().items()}
    assert verdicts[1.0] == verdicts[10.0]
