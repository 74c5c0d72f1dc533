"""Chroma 61800 grid simulator driver: replay, then against its twin over pyvisa-py."""

from __future__ import annotations

import time

import pytest
from scpi_replay import checked, q

from instruments.twins.ports import SimpleGrid
from instruments.twins.scpi_chroma import ChromaGridTwin
from testbench.errors import BenchError, InstrumentError, SafetyLimitError

VOLT = "SOUR:VOLT:LEV:IMM:AMPL:AC"
MEAS = "FETC:VOLT:ACDC?;:FETC:CURR:AC?;:FETC:POW:AC?"


# --------------------------------------------------------------------------- replay
def test_identify(replay, replay_driver) -> None:
    replay.expect(q("*IDN?", "Chroma ATE,61845,61845000123,1.20"))
    assert replay_driver("chroma-61800").identify().model == "61845"


def test_settings_all_phases_and_one_phase(replay, replay_driver) -> None:
    replay.expect(
        checked(f"INST:COUP ALL;:{VOLT} 230"),
        checked(f"INST:COUP NONE;:INST:NSEL 2;:{VOLT} 207.5"),
        checked("SOUR:FREQ 50"),
        checked("INST:COUP ALL;:SOUR:CURR:LIM 16"),
        checked("INST:COUP ALL;:OUTP:SLEW:VOLT:AC 1"),
        checked("INST:COUP ALL;:OUTP:SLEW:FREQ 0.01"),
        checked("SOUR:PHAS:P3 120"),
    )
    driver = replay_driver("chroma-61800")
    driver.set_voltage_v(230.0)
    driver.set_voltage_v(207.5, phase=2)
    driver.set_frequency_hz(50.0)
    driver.set_current_limit_a(16.0)
    driver.set_slew(voltage_v_per_s=1000.0, frequency_hz_per_s=10.0)
    driver.set_phase_angle_deg(3, 120.0)


def test_single_phase_unit_sends_no_instrument_selection(replay, replay_driver) -> None:
    replay.expect(checked(f"{VOLT} 230"), q(f"{MEAS};:FETC:FREQ?", "230;10;2300;50"))
    driver = replay_driver("chroma-61800", phases=1)
    driver.set_voltage_v(230.0)
    assert driver.measure().voltage_v == (230.0,)


def test_output_relay_then_state_and_reverse(replay, replay_driver) -> None:
    replay.expect(checked("OUTP:REL ON"), checked("OUTP:STAT ON"),
                  checked("OUTP:STAT OFF"), checked("OUTP:REL OFF"))
    driver = replay_driver("chroma-61800")
    driver.output(True)
    driver.output(False)


def test_measure_per_phase(replay, replay_driver) -> None:
    replay.expect(
        q(f"INST:COUP NONE;:INST:NSEL 1;:{MEAS};:FETC:FREQ?", "230.1;10;2301;50.02"),
        q(f"INST:COUP NONE;:INST:NSEL 2;:{MEAS}", "+2.31E+02;1.1E+01;2.4E+03"),
        q(f"INST:COUP NONE;:INST:NSEL 3;:{MEAS}", "229;9;2000"),
    )
    reading = replay_driver("chroma-61800").measure()
    assert reading.voltage_v == (230.1, 231.0, 229.0)
    assert reading.current_a == (10.0, 11.0, 9.0)
    assert reading.power_w == (2301.0, 2400.0, 2000.0)
    assert reading.frequency_hz == 50.02


def test_measure_garbage_names_command_and_reply(replay, replay_driver) -> None:
    replay.expect(q(f"INST:COUP NONE;:INST:NSEL 1;:{MEAS};:FETC:FREQ?", "230;OVER;;"))
    with pytest.raises(InstrumentError) as err:
        replay_driver("chroma-61800").measure()
    assert err.value.reply == "230;OVER;;"
    assert err.value.command.endswith("FETC:FREQ?")


def test_list_program_and_start(replay, replay_driver) -> None:
    replay.expect(
        checked("TRIG OFF;:OUTP:MODE FIXED"), checked("LIST:COUN 1"), checked("LIST:BASE TIME"),
        checked("LIST:DWEL 1000,500"),
        checked("LIST:VOLT:AC:STAR 230,207"), checked("LIST:VOLT:AC:END 230,230"),
        checked("LIST:FREQ:STAR 50,49.5"), checked("LIST:FREQ:END 50,50"),
        checked("OUTP:MODE LIST"), checked("TRIG ON"),
    )
    replay_driver("chroma-61800").run_list([(1.0, 230.0, 50.0), (0.5, 207.0, 49.5, 230.0, 50.0)])


def test_list_over_limit_sends_nothing(replay, replay_driver) -> None:
    with pytest.raises(SafetyLimitError, match="exceeds the station limit 250 V"):
        replay_driver("chroma-61800").program_list([(1.0, 230.0, 50.0), (1.0, 240, 50, 264, 50)])
    assert replay.sent == []


def test_setpoints_over_limit_send_nothing(replay, replay_driver) -> None:
    driver = replay_driver("chroma-61800")
    with pytest.raises(SafetyLimitError) as err:
        driver.set_voltage_v(260.0)
    assert err.value.command == f"{VOLT} 260" and err.value.instrument == "chroma-61800-1"
    with pytest.raises(SafetyLimitError):
        driver.set_current_limit_a(40.0)
    assert replay.sent == []


def test_error_queue_entry_names_command_and_reply(replay, replay_driver) -> None:
    replay.expect(checked("SOUR:FREQ 2000", error_reply='-222,"Data out of range"'))
    with pytest.raises(InstrumentError) as err:
        replay_driver("chroma-61800").set_frequency_hz(2000.0)
    assert (err.value.command, err.value.reply) == ("SOUR:FREQ 2000", '-222,"Data out of range"')


def test_safe_state_off_tries_every_step(replay, replay_driver) -> None:
    replay.expect(checked("OUTP:STAT OFF", error_reply='-200,"Execution error"'),
                  checked("OUTP:REL OFF"), checked("TRIG OFF;:OUTP:MODE FIXED"))
    with pytest.raises(InstrumentError, match="OUTP:STAT OFF"):
        replay_driver("chroma-61800").safe_state()


def test_safe_state_nominal(replay, replay_driver) -> None:
    replay.expect(checked("TRIG OFF;:OUTP:MODE FIXED"), checked(f"INST:COUP ALL;:{VOLT} 230"),
                  checked("SOUR:FREQ 50"), checked("OUTP:REL ON"), checked("OUTP:STAT ON"))
    replay_driver("chroma-61800", safe_state="nominal").safe_state()


def test_command_overrides(replay, replay_driver) -> None:
    replay.expect(checked("SOUR:PHAS 240"))
    replay_driver("chroma-61800", commands={"phase_angle": "SOUR:PHAS {value}"}
                  ).set_phase_angle_deg(3, 240.0)
    with pytest.raises(BenchError, match="unknown command override"):
        replay_driver("chroma-61800", commands={"voltgae": "X"})


# --------------------------------------------------------------------------- twin
def test_twin_settings_reach_the_grid_and_measure(run_twin, open_driver) -> None:
    grid = SimpleGrid(load_ohm=23.0)
    twin = ChromaGridTwin(grid)
    driver = open_driver("chroma-61800", run_twin(twin))
    assert driver.identify().maker == "Chroma ATE"
    driver.set_voltage_v(230.0)
    driver.set_voltage_v(207.0, phase=3)
    driver.set_frequency_hz(50.0)
    driver.set_current_limit_a(16.0)
    driver.set_slew(voltage_v_per_s=500.0)
    driver.set_phase_angle_deg(2, -120.0)
    assert grid.voltage_v == [230.0, 230.0, 207.0]
    assert grid.current_limit_a == 16.0
    assert grid.slew_v_per_s == pytest.approx(500.0)
    assert not twin.output_on
    driver.output(True)
    assert twin.output_on and twin.relay and twin.state
    reading = driver.measure()
    assert reading.voltage_v == pytest.approx((230.0, 230.0, 207.0))
    assert reading.current_a == pytest.approx((10.0, 10.0, 9.0))
    assert reading.frequency_hz == pytest.approx(50.0)
    driver.safe_state()
    assert not twin.output_on and not twin.relay


def test_twin_list_mode_runs_the_steps(run_twin, open_driver) -> None:
    grid = SimpleGrid()
    twin = ChromaGridTwin(grid)
    driver = open_driver("chroma-61800", run_twin(twin))
    driver.run_list([(0.05, 200.0, 50.0), (0.05, 210.0, 49.0, 220.0, 51.0)])
    deadline = time.monotonic() + 5.0
    while twin.steps_run < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert twin.steps_run == 2
    assert grid.voltage_v == [220.0, 220.0, 220.0]
    assert grid.frequency_hz == pytest.approx(51.0)


def test_twin_nominal_safe_state_leaves_230_v_50_hz_on(run_twin, open_driver) -> None:
    grid = SimpleGrid(voltage_v=[0.0, 0.0, 0.0])
    twin = ChromaGridTwin(grid)
    driver = open_driver("chroma-61800", run_twin(twin), safe_state="nominal")
    driver.safe_state()
    assert twin.output_on
    assert grid.voltage_v == [230.0, 230.0, 230.0] and grid.frequency_hz == 50.0
