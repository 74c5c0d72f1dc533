"""A broken instrument or a refused setpoint is a bench error, named, and the run goes on.

One real `testbench run` of a suite whose tests, in order: ask the grid emulator for more
than the station's voltage limit; read an analyser that answers garbage; read one that never
answers; switch on a DC source whose error queue fills; close a relay of a box that answers
Modbus exceptions; and finally do ordinary work that must still pass. Each failing test must
be an *error* verdict (the bench, not the device) naming the instrument, the command and the
reply (or the limit), and the over-limit setpoint must never reach the twin.
"""

from __future__ import annotations

from pathlib import Path

from safety_bench import LIMIT_VOLTAGE_V, run, write_lab, write_suite

SUITE = '''
    def test_over_limit_setpoint_is_refused(station):
        station.instrument("grid_emulator").set_voltage_v(500.0)

    def test_garbage_reply(station):
        station.instrument("analyzer_garbage").read()

    def test_silent_instrument(station):
        station.instrument("analyzer_silent").read()

    def test_error_queue_entry(station):
        station.instrument("dc_errq").output(True)

    def test_modbus_exception(station):
        station.instrument("relays_exc").set_relay(0, True)

    def test_the_run_goes_on(station):
        energise(station)
    '''

# test -> (instrument, texts its message must hold: the command, the reply or the limit)
EXPECTED = {
    "test_over_limit_setpoint_is_refused": ("grid", [
        "SafetyLimitError", "setpoint 'SOUR:VOLT", "500 V", f"limit {LIMIT_VOLTAGE_V:g} V",
        "refused before sending"]),
    "test_garbage_reply": ("analyzer-garbage", ["command ':", "reply", "not text"]),
    "test_silent_instrument": ("analyzer-silent", ["command ':", "no reply"]),
    "test_error_queue_entry": ("dc-errq", ["command '", "-200", "Execution error"]),
    "test_modbus_exception": ("relays-exc", ["command 'write_coil 0'", "exception 4"]),
}


def test_instrument_failures_are_bench_errors_and_the_run_goes_on(tmp_path: Path) -> None:
    lab = write_lab(tmp_path)
    result = run(lab, write_suite(tmp_path, SUITE))
    records = result.records()
    assert set(records) == {*EXPECTED, "test_the_run_goes_on"}, result.output[-3000:]
    for test, (instrument, texts) in EXPECTED.items():
        record = records[test]
        message = record["message"]
        assert record["verdict"] == "error", (test, record)
        assert f"instrument {instrument!r}" in message, (test, message)
        for text in texts:
            assert text in message, (test, text, message)
    assert records["test_the_run_goes_on"]["verdict"] == "passed", records["test_the_run_goes_on"]
    assert result.exit_code == 1, result.output[-2000:]  # errors make the run fail

    # nothing over the limit reached the grid emulator; what the bench sent later did
    grid = result.twins()["grid"]
    sent = [line.upper() for line in grid["received"]]
    assert sent, "the grid emulator twin received nothing at all"
    assert not [line for line in sent if "500" in line], sent
    assert any("230" in line for line in sent), sent
    assert result.final_state()["energised"] == []
