"""Ametek / California Instruments RS-MX driver: replay, then against its twin over pyvisa-py."""

from __future__ import annotations

import time

import pytest
from scpi_replay import checked, q

from instruments.twins.ports import SimpleGrid
from instruments.twins.scpi_ametek import AmetekRsTwin
from testbench.errors import InstrumentError, SafetyLimitError

MEAS = "MEAS:VOLT:AC?;:MEAS:CURR:AC?;:MEAS:POW:AC?"
STOP = "ABOR;:VOLT:MODE FIX;:FREQ:MODE FIX"


# --------------------------------------------------------------------------- replay
def test_identify_and_garbage(replay, replay_driver) -> None:
    replay.expect(q("*IDN?", "AMETEK Programmable Power,RS90-3Pi,HK1,2.41"), q("*IDN?", ""))
    driver = replay_driver("ametek-rsmx")
    assert driver.identify().model == "RS90-3Pi"
    with pytest.raises(InstrumentError, match="maker,model,serial,firmware"):
        driver.identify()


def test_settings(replay, replay_driver) -> None:
    replay.expect(
        checked("INST:COUP ALL;:VOLT:AC 230"),
        checked("INST:COUP NONE;:INST:NSEL 2;:VOLT:AC 207"),
        checked("FREQ 50"),
        checked("INST:COUP ALL;:CURR 16"),
        checked("INST:COUP ALL;:VOLT:SLEW 1000"),
        checked("FREQ:SLEW 10"),
        checked("INST:COUP NONE;:INST:NSEL 3;:PHAS 120"),
        checked("OUTP ON"),
    )
    driver = replay_driver("ametek-rsmx")
    driver.set_voltage_v(230.0)
    driver.set_voltage_v(207.0, phase=2)
    driver.set_frequency_hz(50.0)
    driver.set_current_limit_a(16.0)
    driver.set_slew(voltage_v_per_s=1000.0, frequency_hz_per_s=10.0)
    driver.set_phase_angle_deg(3, 120.0)
    driver.output(True)


def test_measure(replay, replay_driver) -> None:
    replay.expect(q(f"INST:COUP NONE;:INST:NSEL 1;:{MEAS};:MEAS:FREQ?", "230;10;2300;50"),
                  q(f"INST:COUP NONE;:INST:NSEL 2;:{MEAS}", "231;11;2541"),
                  q(f"INST:COUP NONE;:INST:NSEL 3;:{MEAS}", "229;0;0"))
    reading = replay_driver("ametek-rsmx").measure()
    assert reading.voltage_v == (230.0, 231.0, 229.0)
    assert reading.power_w == (2300.0, 2541.0, 0.0)
    assert reading.frequency_hz == 50.0


def test_list_program(replay, replay_driver) -> None:
    replay.expect(checked(STOP), checked("LIST:COUN 1"), checked("LIST:DWEL 1,0.5"),
                  checked("LIST:VOLT 230,207"), checked("LIST:FREQ 50,49.5"),
                  checked("VOLT:MODE LIST;:FREQ:MODE LIST"), checked("INIT"), checked("TRIG"))
    replay_driver("ametek-rsmx").run_list([(1.0, 230.0, 50.0), (0.5, 207.0, 49.5)])


def test_list_refuses_ramps_and_over_limit_before_sending(replay, replay_driver) -> None:
    driver = replay_driver("ametek-rsmx")
    with pytest.raises(InstrumentError, match="ramped steps"):
        driver.program_list([(1.0, 207.0, 50.0, 230.0, 50.0)])
    with pytest.raises(SafetyLimitError):
        driver.program_list([(1.0, 230.0, 50.0), (1.0, 253.0, 50.0)])
    assert replay.sent == []


def test_over_limit_sends_nothing(replay, replay_driver) -> None:
    with pytest.raises(SafetyLimitError) as err:
        replay_driver("ametek-rsmx").set_voltage_v(253.0, phase=1)
    assert err.value.command == "VOLT:AC 253"
    assert replay.sent == []


def test_safe_state_off(replay, replay_driver) -> None:
    replay.expect(checked("OUTP OFF"), checked(STOP))
    replay_driver("ametek-rsmx").safe_state()


def test_error_queue_entry(replay, replay_driver) -> None:
    replay.expect(checked("OUTP ON", error_reply='-221,"Settings conflict"'))
    with pytest.raises(InstrumentError) as err:
        replay_driver("ametek-rsmx").output(True)
    assert (err.value.command, err.value.reply) == ("OUTP ON", '-221,"Settings conflict"')


# --------------------------------------------------------------------------- twin
def test_twin_settings_measure_and_safe_state(run_twin, open_driver) -> None:
    grid = SimpleGrid(load_ohm=46.0)
    twin = AmetekRsTwin(grid)
    driver = open_driver("ametek-rsmx", run_twin(twin))
    driver.set_voltage_v(230.0)
    driver.set_voltage_v(220.0, phase=2)
    driver.set_frequency_hz(50.0)
    driver.set_current_limit_a(20.0)
    driver.set_phase_angle_deg(3, 120.0)
    driver.set_slew(voltage_v_per_s=100.0, frequency_hz_per_s=1.0)
    assert grid.voltage_v == [230.0, 220.0, 230.0]
    assert grid.angle_deg[2] == 120.0
    assert (grid.slew_v_per_s, grid.slew_hz_per_s) == (100.0, 1.0)
    driver.output(True)
    assert twin.output_on
    reading = driver.measure()
    assert reading.voltage_v == pytest.approx((230.0, 220.0, 230.0))
    assert reading.current_a == pytest.approx((5.0, 220.0 / 46.0, 5.0))
    driver.safe_state()
    assert not twin.output_on


def test_twin_list_mode(run_twin, open_driver) -> None:
    grid = SimpleGrid()
    twin = AmetekRsTwin(grid)
    driver = open_driver("ametek-rsmx", run_twin(twin))
    driver.run_list([(0.03, 200.0, 50.0), (0.03, 215.0, 50.5)])
    deadline = time.monotonic() + 5.0
    while twin.steps_run < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert twin.steps_run == 2
    assert grid.voltage_v == [215.0] * 3 and grid.frequency_hz == 50.5
    driver.stop_list()
    assert not twin.list_running
