"""Keysight RP7900 driver: replay, then against its twin over pyvisa-py."""

from __future__ import annotations

import pytest
from scpi_replay import checked, q

from instruments.twins.ports import SimpleDC
from instruments.twins.scpi_keysight import KeysightRP7900Twin
from testbench.errors import InstrumentError, SafetyLimitError


# --------------------------------------------------------------------------- replay
def test_identify(replay, replay_driver) -> None:
    replay.expect(q("*IDN?", "Keysight Technologies,RP7931A,MY00000001,B.01.02.3000"))
    identity = replay_driver("keysight-rp7900").identify()
    assert (identity.model, identity.serial) == ("RP7931A", "MY00000001")


def test_voltage_priority_first_then_settings(replay, replay_driver) -> None:
    replay.expect(
        checked("SOUR:FUNC VOLT"), checked("SOUR:VOLT:LEV 200"),
        checked("SOUR:CURR:LIM 30"), checked("SOUR:CURR:LIM:NEG -20"),
        checked("SOUR:POW:LIM 10000"), checked("SOUR:POW:LIM:NEG -8000"),
        checked("SOUR:RES 0.1;:SOUR:RES:STAT 1"),
        checked("OUTP:STAT 1"),
    )
    driver = replay_driver("keysight-rp7900")
    driver.set_voltage_v(200.0)
    driver.set_current_limits_a(30.0, 20.0)
    driver.set_power_limits_w(10000.0, 8000.0)
    driver.set_internal_resistance_ohm(0.1)
    driver.output(True)


def test_measure(replay, replay_driver) -> None:
    replay.expect(q("MEAS:VOLT?", "+2.000000E+02"), q("MEAS:CURR?", "-1.500000E+01"))
    reading = replay_driver("keysight-rp7900").measure()
    assert (reading.voltage_v, reading.current_a, reading.power_w) == (200.0, -15.0, -3000.0)


def test_measure_garbage(replay, replay_driver) -> None:
    replay.expect(q("MEAS:VOLT?", "OVLD"))
    with pytest.raises(InstrumentError) as err:
        replay_driver("keysight-rp7900").measure()
    assert (err.value.command, err.value.reply) == ("MEAS:VOLT?", "OVLD")


def test_safe_state(replay, replay_driver) -> None:
    replay.expect(checked("OUTP:STAT 0", error_reply='+0,"No error"'))
    replay_driver("keysight-rp7900").safe_state()


def test_over_limit_sends_nothing(replay, replay_driver) -> None:
    driver = replay_driver("keysight-rp7900")
    with pytest.raises(SafetyLimitError):
        driver.set_power_limits_w(25000.0, 0.0)
    with pytest.raises(SafetyLimitError):
        driver.set_voltage_v(300.0)
    assert replay.sent == []


def test_current_priority_override(replay, replay_driver) -> None:
    replay.expect(checked("SOUR:FUNC VOLT"), checked("SOUR:CURR:LEV 12"),
                  checked("SOUR:CURR:LIM:NEG -3"))
    replay_driver("keysight-rp7900", commands={"source_current": "SOUR:CURR:LEV {value}"}
                  ).set_current_limits_a(12.0, 3.0)


def test_error_queue_entry(replay, replay_driver) -> None:
    replay.expect(checked("SOUR:FUNC VOLT", error_reply='-113,"Undefined header"'))
    with pytest.raises(InstrumentError) as err:
        replay_driver("keysight-rp7900").set_voltage_v(10.0)
    assert (err.value.command, err.value.reply) == ("SOUR:FUNC VOLT", '-113,"Undefined header"')


# --------------------------------------------------------------------------- twin
def test_twin_round_trip(run_twin, open_driver) -> None:
    dc = SimpleDC(load_ohm=10.0)
    twin = KeysightRP7900Twin(dc)
    driver = open_driver("keysight-rp7900", run_twin(twin))
    driver.set_voltage_v(100.0)
    driver.set_current_limits_a(30.0, 20.0)
    driver.set_power_limits_w(5000.0, 4000.0)
    driver.set_internal_resistance_ohm(0.2)
    assert twin.function == "VOLT"
    assert (dc.voltage_v, dc.source_limit_a, dc.sink_limit_a) == (100.0, 30.0, 20.0)
    assert (dc.source_limit_w, dc.sink_limit_w) == (5000.0, 4000.0)
    assert twin.current_limit_neg_a == -20.0 and twin.resistance_on
    driver.output(True)
    assert twin.output_on
    reading = driver.measure()
    assert (reading.voltage_v, reading.current_a, reading.power_w) == pytest.approx(
        (100.0, 10.0, 1000.0))
    driver.safe_state()
    assert not twin.output_on
