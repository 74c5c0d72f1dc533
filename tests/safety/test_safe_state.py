"""However a run ends, every instrument twin ends de-energised.

Each case is a real `testbench run` of a one-test suite that energises the grid emulator,
the DC source and the relay box through the bench's drivers (and proves it by measuring),
then passes, fails an assert, raises, or sleeps until the run is interrupted with SIGINT
(Ctrl-C) or SIGTERM. The simulated lab's final state file must show every twin
de-energised, and that each energisable twin was energised during the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from safety_bench import ENERGISABLE, SIGNALS, Run, run, run_and_interrupt, write_lab, write_suite

ENDINGS = {
    "pass": ("", "passed"),
    "fail": ('assert False, "deliberate failure after energising"', "failed"),
    "raise": ('raise RuntimeError("deliberate exception after energising")', "error"),
}


def assert_everything_safe(result: Run) -> None:
    state = result.final_state()
    assert state["energised"] == [], f"still energised after the run: {state['energised']}"
    twins = result.twins()
    for name in ENERGISABLE:
        assert twins[name]["ever_energised"], f"{name} was never energised: the test proves nothing"
        assert not twins[name]["energised"], name
    assert twins["relays"]["state"] == {"closed": []}
    assert twins["grid"]["state"]["output_on"] is False
    assert twins["evio"]["state"]["ev_state"] == "A"


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_run_end_leaves_every_twin_safe(tmp_path: Path, ending: str) -> None:
    line, verdict = ENDINGS[ending]
    lab = write_lab(tmp_path)
    suite = write_suite(tmp_path, f'''
        def test_energise_then_{ending}(station):
            energise(station)
            station.plug_in()
            {line}
        ''')
    result = run(lab, suite)
    record = result.records()[f"test_energise_then_{ending}"]
    assert record["verdict"] == verdict, (record, result.output[-2000:])
    assert result.exit_code == (0 if ending == "pass" else 1), result.output[-2000:]
    assert_everything_safe(result)


@pytest.mark.parametrize("signal_name", list(SIGNALS))
def test_interrupted_run_leaves_every_twin_safe(tmp_path: Path, signal_name: str) -> None:
    lab = write_lab(tmp_path)
    marker = tmp_path / "energised.marker"
    suite = write_suite(tmp_path, f'''
        def test_energise_then_wait(station):
            energise(station)
            Path({str(marker)!r}).write_text("energised")
            time.sleep(120)
        ''')
    result = run_and_interrupt(lab, suite, marker, SIGNALS[signal_name])
    assert result.exit_code == 130, result.output[-2000:]
    assert "interrupted" in result.output.lower() and "Traceback" not in result.output
    # the bench stopped its simulated lab (stdin closed, then SIGTERM), after making it safe
    assert result.final_state()["reason"] in ("stdin closed", "SIGTERM")
    assert_everything_safe(result)
