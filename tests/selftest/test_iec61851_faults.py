"""The control-pilot checks catch the faults aimed at them and pass conformant devices.

Two runs, side by side, of the real `testbench run suites/iec61851` on generated simulated
labs (time scale 20, a power analyser on every charger):

* charger faults, with a conformant EV: conformant 1.6 and 2.0.1 chargers pass all five
  cases; ``slow-contactor``, ``wrong-duty-cycle`` and ``ignores-state-e`` fail the cases
  (and checks) meant for them (only those cases run for them);
* EV faults, on a conformant 1.6 charger (sequence and duty-cycle cases): a basic AC EV
  (single phase, no ISO 15118, 8 A minimum) passes, and so does one that takes 2 s to follow
  a new duty cycle; ``ignores-duty-cycle`` and
  ``slow-to-follow-duty`` fail the EV-current check (not the duty check), and
  ``never-requests-energy`` fails the state sequence.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import labgen
import pytest
from labgen import ChargerEntry, write_lab

from instruments.contracts import PilotReading
from testbench.lab.faults import CHARGER_FAULTS, EV_FAULTS, IEC61851_EV_FAULTS, IEC61851_FAULTS
from testbench.procedures import pilot as cp

REPO = Path(__file__).resolve().parents[2]
SUITE = str(REPO / "suites" / "iec61851")
SEQ, DUTY, FOLLOW, CONTACTOR = "state sequence:", "duty cycle:", "EV current:", "contactor:"
OCPP, POWER = "OCPP:", "power still at the outlet"
CHECKS = (SEQ, DUTY, FOLLOW, CONTACTOR, OCPP, POWER)
SEQUENCE, DUTY_CASE = "test_state_sequence", "test_duty_cycle_matches_limit"
CONTACTOR_CASE, E_CASE, F_CASE = ("test_contactor_timing", "test_state_e_stops_charging",
                                  "test_state_f_on_diode_fault")
CASES = (SEQUENCE, DUTY_CASE, CONTACTOR_CASE, E_CASE, F_CASE)
# fault -> {case: (checks that must be in the failure, checks that must not)}; absent: passes
CHARGER_EXPECTED: dict[str, dict[str, tuple[set[str], set[str]]]] = {
    "slow-contactor": {CONTACTOR_CASE: ({CONTACTOR}, set()), E_CASE: ({CONTACTOR}, set()),
                       F_CASE: ({CONTACTOR}, set())},
    "wrong-duty-cycle": {DUTY_CASE: ({DUTY}, {FOLLOW})},
    "ignores-state-e": {E_CASE: ({CONTACTOR, OCPP, POWER}, set()),
                        F_CASE: ({CONTACTOR, OCPP, POWER}, set())},
}
EV_EXPECTED: dict[str, dict[str, tuple[set[str], set[str]]]] = {
    "ignores-duty-cycle": {DUTY_CASE: ({FOLLOW}, {DUTY})},
    "slow-to-follow-duty": {DUTY_CASE: ({FOLLOW}, {DUTY})},
    "never-requests-energy": {SEQUENCE: ({SEQ}, set()), DUTY_CASE: (set(), set())},
}
EV_CASES = (SEQUENCE, DUTY_CASE)
BASIC_EV = {"make": "Plain", "model": "Basic AC", "software": "1.0", "phases": 1,
            "min_current_a": 8.0, "max_current_a": 32.0, "battery_kwh": 40.0}
EVS = {"ev-basic": (), "ev-follows-in-2s": (), "ev-nofollow": ("ignores-duty-cycle",),
       "ev-slowfollow": ("slow-to-follow-duty",), "ev-lazy": ("never-requests-energy",)}
CHARGERS = [ChargerEntry("ok-16", "1.6"), ChargerEntry("ok-201", "2.0.1"),
            ChargerEntry("slow-16", "1.6", ("slow-contactor",)),
            ChargerEntry("duty-201", "2.0.1", ("wrong-duty-cycle",)),
            ChargerEntry("e-21", "2.1", ("ignores-state-e",))]


def test_iec61851_faults_are_in_the_catalogue() -> None:
    assert set(CHARGER_EXPECTED) == set(IEC61851_FAULTS) <= set(CHARGER_FAULTS)
    assert set(IEC61851_EV_FAULTS) <= set(EV_EXPECTED) <= set(EV_FAULTS)


def _judge(verdicts: dict, charger: str, ev: str, cases: tuple[str, ...],
           expected: dict[str, tuple[set[str], set[str]]]) -> list[str]:
    problems = []
    for case in cases:
        record = verdicts.get((charger, ev, case))
        if record is None:
            problems.append(f"{ev} @ {charger} {case}: no result")
            continue
        message = record.get("message") or ""
        caught = {check for check in CHECKS if check in message}
        if case not in expected:
            if record["verdict"] != "passed":
                problems.append(f"{ev} @ {charger} {case}: {record['verdict']}, expected passed: "
                                f"{message}")
            continue
        must, must_not = expected[case]
        if record["verdict"] != "failed" or not must <= caught or caught & must_not:
            problems.append(f"{ev} @ {charger} {case}: {record['verdict']} with checks "
                            f"{sorted(caught)} (expected failed by {sorted(must)}, not by "
                            f"{sorted(must_not)}): {message}")
    return problems


def test_each_control_pilot_check_catches_its_fault(tmp_path: Path, testbench_cli,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for ev_id in EVS:
        monkeypatch.setitem(labgen.EVS, ev_id, BASIC_EV)
    monkeypatch.setitem(labgen.EVS, "ev-follows-in-2s", {**BASIC_EV, "duty_follow_s": 2.0})
    labs = {}
    for part in ("chargers", "evs"):  # two labs (and report folders), run side by side
        (tmp_path / part).mkdir()
        labs[part] = write_lab(tmp_path / part / "lab.toml", CHARGERS, ["ev-saloon", *EVS],
                               time_scale=20.0, name=f"iec61851-{part}",
                               ev_faults={ev: list(faults) for ev, faults in EVS.items()},
                               analyzers={c.id: "yokogawa-wt" for c in CHARGERS})
    # the conformant chargers run every case; a faulty one the cases its fault is for
    charger_cases = ("ok-16 or ok-201 or (slow-16 and (contactor or state_e or state_f)) "
                     "or (duty-201 and duty_cycle) or (e-21 and (state_e or state_f))")
    with ThreadPoolExecutor(max_workers=2) as pool:
        charger_run = pool.submit(testbench_cli, "run", "--lab", str(labs["chargers"]),
                                  "--unattended", "--ev", "ev-saloon", SUITE, "--",
                                  "-k", charger_cases, timeout_s=400)
        ev_run = pool.submit(testbench_cli, "run", "--lab", str(labs["evs"]), "--unattended",
                             "--charger", "ok-16", *[a for ev in EVS for a in ("--ev", ev)],
                             SUITE, "--", "-k", "sequence or duty_cycle", timeout_s=400)
        chargers, evs = charger_run.result(), ev_run.result()

    verdicts = chargers.verdicts()
    problems = []
    for entry in CHARGERS:
        expected = CHARGER_EXPECTED[entry.faults[0]] if entry.faults else {}
        cases = tuple(expected) if entry.faults else CASES
        problems += _judge(verdicts, entry.id, "ev-saloon", cases, expected)
    runs = len(verdicts)
    assert runs == 2 * len(CASES) + sum(map(len, CHARGER_EXPECTED.values())), sorted(verdicts)
    assert not problems, "\n".join(problems) + "\n" + chargers.output[-2000:]
    reports = tmp_path / "chargers" / "reports"
    timelines = list((reports / "runs").glob("*/evidence/*/cp-timeline.png"))
    assert len(timelines) == runs, timelines
    attached = [json.loads(p.read_text(encoding="utf-8")) for p in
                (reports / "allure-results").glob("*-result.json")]
    assert sum({"cp-timeline.png", "cp-timeline.csv", "cp-timeline.txt"}
               <= {a["name"] for a in r.get("attachments", [])} for r in attached) == runs

    verdicts = evs.verdicts()
    problems = []
    for ev_id, faults in EVS.items():
        expected = EV_EXPECTED[faults[0]] if faults else {}
        problems += _judge(verdicts, "ok-16", ev_id, EV_CASES, expected)
    assert len(verdicts) == len(EVS) * len(EV_CASES), sorted(verdicts)
    assert not problems, "\n".join(problems) + "\n" + evs.output[-2000:]
    assert evs.exit_code == chargers.exit_code == 1


# ----------------------------------------------------------------------------- the checks
def _samples(rows: list[tuple[float, str, float, float]]) -> list[cp.PilotSample]:
    return [cp.PilotSample(t, state, duty, None, 0.0, current, 230.0)
            for t, state, duty, current in rows]


def test_duty_mapping_round_trips() -> None:
    for current_a in (6.0, 10.0, 16.0, 32.0, 51.0, 63.0, 80.0):
        assert cp.current_for_duty_a(cp.duty_for_current_pct(current_a)) == \
            pytest.approx(current_a)
    assert cp.duty_for_current_pct(10.0) == pytest.approx(16.667, abs=1e-3)
    assert cp.current_for_duty_a(5.0) is None and cp.current_for_duty_a(100.0) is None


def test_sequence_and_duty_checks() -> None:
    good = _samples([(0, "A1", 100, 0), (1, "B1", 100, 0), (2, "B2", 26.7, 0),
                     (3, "C2", 26.7, 16), (4, "B2", 26.7, 0), (5, "A1", 100, 0)])
    assert cp.sequence_problems(good, ["A", "B", "C", "B", "A"]) == []
    lazy = [s for s in good if s.state != "C2"]
    assert cp.sequence_problems(lazy, ["A", "B", "C", "B", "A"]) == [
        "state sequence: the pilot went A -> B -> A, expected A -> B -> C -> B -> A"]
    window = cp.Window(2.0, 4.0, 16.0, cp.duty_for_current_pct(16.0))
    assert cp.duty_problems(good, [window])[0] == []
    high = _samples([(2, "B2", 29.3, 0), (3, "C2", 29.3, 17.6)])
    problems, figures = cp.duty_problems(high, [window])
    assert problems and figures[0]["error_pct"] == pytest.approx(2.63, abs=0.01)


def test_follow_check_judges_after_the_follow_time() -> None:
    # duty drops from 16 A to 10 A at t=10; the EV follows 3 s later (inside 5 s)
    rows = [(t / 2, "C2", 26.7 if t < 20 else 16.7, 16.0 if t < 26 else 10.0)
            for t in range(60)]
    problems, figures = cp.follow_problems(_samples(rows), accuracy_a=0.3)
    assert problems == [] and figures["judged"] > 0
    late = [(t / 2, "C2", 26.7 if t < 20 else 16.7, 16.0 if t < 46 else 10.0)
            for t in range(60)]
    problems, figures = cp.follow_problems(_samples(late), accuracy_a=0.3)
    # over from 5 s after the change (t=15) until it follows (t=23): 16 samples at 2 Hz
    assert problems and figures["over"] == 16
    assert figures["worst_excess_a"] == pytest.approx(6.0, abs=0.02)


# ----------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_conformant_pairs_pass_every_case(tmp_path: Path, testbench_cli,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Conformant 1.6, 2.0.1 and 2.1 chargers with a single-phase, a three-phase and a basic
    AC EV (8 A minimum) pass every control-pilot case."""
    monkeypatch.setitem(labgen.EVS, "ev-basic", BASIC_EV)
    chargers = [ChargerEntry("ok-16", "1.6"), ChargerEntry("ok-201", "2.0.1"),
                ChargerEntry("ok-21", "2.1")]
    evs = ["ev-city", "ev-saloon", "ev-basic"]
    lab = write_lab(tmp_path / "lab.toml", chargers, evs, time_scale=20.0,
                    analyzers={"ok-16": "yokogawa-wt", "ok-201": "zes-lmg600",
                               "ok-21": "yokogawa-wt"})
    result = testbench_cli("run", "--lab", str(lab), "--unattended", SUITE, timeout_s=900)
    records = result.records()
    bad = [f"{r['ev']} @ {r['charger']} {r['name']}: {r['verdict']}: {r.get('message')}"
           for r in records if r["verdict"] != "passed"]
    assert len(records) == len(chargers) * len(evs) * len(CASES), len(records)
    assert not bad, "\n".join(bad) + "\n" + result.output[-2000:]
    assert result.exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("time_scale", [4.0, 20.0])
def test_contactor_verdicts_do_not_depend_on_the_time_scale(
        tmp_path: Path, testbench_cli, time_scale: float) -> None:
    """At 4x and 20x real time the conformant charger passes the contactor timing and the
    slow one fails it, with the same measured delays (the emulator's timer, in lab time)."""
    chargers = [ChargerEntry("ok-16", "1.6"), ChargerEntry("slow-16", "1.6", ("slow-contactor",))]
    lab = write_lab(tmp_path / "lab.toml", chargers, ["ev-saloon"], time_scale=time_scale,
                    analyzers={c.id: "yokogawa-wt" for c in chargers})
    result = testbench_cli("run", "--lab", str(lab), "--unattended", SUITE, "--",
                           "-k", "contactor", timeout_s=600)
    verdicts = result.verdicts()
    assert verdicts[("ok-16", "ev-saloon", CONTACTOR_CASE)]["verdict"] == "passed", result.output
    slow = verdicts[("slow-16", "ev-saloon", CONTACTOR_CASE)]
    assert slow["verdict"] == "failed" and CONTACTOR in (slow.get("message") or "")
    for charger, close_s, open_s in (("ok-16", 1.0, 0.0), ("slow-16", 5.0, 1.0)):
        figures = next((tmp_path / "reports" / "runs").glob(
            f"*/evidence/*contactor*{charger}*/cp-figures.json"))
        delays = [s["delay_s"] for s in json.loads(figures.read_text())["switchings"]]
        # the simulated lab's timers jitter by milliseconds of wall time on a busy machine:
        # up to 20 ms wall is allowed (0.4 lab s at 20x)
        tol_s = max(0.1, 0.02 * time_scale)
        assert delays[0::2] == [pytest.approx(close_s, abs=tol_s)] * 2, (charger, delays)
        assert delays[1::2] == [pytest.approx(open_s, abs=tol_s)] * 2, (charger, delays)


class _Clock:
    """A lab clock that only moves when slept on."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def wall_duration(self, seconds: float) -> float:
        return seconds


class _NoTimerEmulator:
    """An emulator with an outlet sense but no contactor timer: the contactor closes at
    ``closes_at`` lab s."""

    def __init__(self, clock: _Clock, closes_at: float, sense: bool = True) -> None:
        self.clock, self.closes_at, self.sense = clock, closes_at, sense

    def contactor_delay_s(self) -> tuple[float | None, bool]:
        raise NotImplementedError("no timer")

    def pilot_reading(self) -> Any:
        live = self.clock.now() >= self.closes_at
        return PilotReading("C2", 53.3, live if self.sense else None, 16.0 if live else 0.0)


def test_contactor_timed_by_polling_without_an_emulator_timer() -> None:
    clock = _Clock()
    rec = cp.PilotRecorder(_NoTimerEmulator(clock, closes_at=1001.2), clock, rate_hz=20.0)
    assert cp.contactor_view(rec) == "emulator outlet sense, polled"
    switching = cp.watch_switching(rec, 1000.0, True, 3.0, "closing", watch_s=10.0)
    assert switching.ok and switching.delay_s == pytest.approx(1.2, abs=0.06)
    assert "polling" in switching.method
    late = cp.PilotRecorder(_NoTimerEmulator(clock, closes_at=clock.t + 4.0), clock)
    switching = cp.watch_switching(late, clock.t, True, 3.0, "closing", watch_s=10.0)
    assert not switching.ok and "took 4.0" in (switching.problem() or "")
    blind = cp.PilotRecorder(_NoTimerEmulator(clock, 0.0, sense=False), clock)
    assert cp.contactor_view(blind) is None


def test_power_flow_is_judged_on_what_was_seen() -> None:
    rows = [(10.0, "C2", 53.3, 0.0), (10.5, "C2", 53.3, 0.0), (15.5, "C2", 53.3, 16.0)]
    # a polling gap from 0.5 s to 5.5 s: flow first seen at 5.5 s, last seen dead at 0.5 s
    assert cp.power_flow_after_s(_samples(rows), 10.0) == (5.5, 0.5)
    late = [*rows[:2], (14.5, "C2", 53.3, 0.0), (15.5, "C2", 53.3, 16.0)]
    assert cp.power_flow_after_s(_samples(late), 10.0) == (5.5, 4.5)
    assert cp.power_flow_after_s(_samples(rows[:2]), 10.0) == (None, 0.5)


def test_outlet_judged_dead_only_on_readings_asked_for_after_the_deadline() -> None:
    # a reading asked for before the deadline but answered after it (a slow reply) may show
    # the outlet as it was: it is not judged; one asked for after the deadline is
    stale = cp.PilotSample(10.4, "F", 100.0, True, 0.0, 16.0, 230.0, asked_lab_s=9.9)
    dead = cp.PilotSample(10.6, "F", 100.0, False, 0.0, 0.0, 0.0, asked_lab_s=10.5)
    assert cp.outlet_dead_problems([stale, dead], 10.0, "state F") == []
    live = cp.PilotSample(10.8, "F", 100.0, True, 0.0, 16.0, 230.0, asked_lab_s=10.7)
    assert cp.outlet_dead_problems([stale, dead, live], 10.0, "state F")
