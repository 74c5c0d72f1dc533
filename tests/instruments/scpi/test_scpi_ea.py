"""EA PSB 10000 / PSI 9000 SCPI driver: replay, then against its twin over pyvisa-py."""

from __future__ import annotations

import time

import pytest
from scpi_replay import checked, q, w

from instruments.twins.ports import SimpleDC
from instruments.twins.scpi_ea import EaPsbTwin
from testbench.errors import InstrumentError, SafetyLimitError


# --------------------------------------------------------------------------- replay
def test_identify(replay, replay_driver) -> None:
    replay.expect(q("*IDN?", "EA Elektro-Automatik,PSB 10080-120,2100000001,V3.02"))
    assert replay_driver("ea-psb-scpi").identify().model == "PSB 10080-120"


def test_remote_first_then_settings(replay, replay_driver) -> None:
    replay.expect(
        checked("SYST:LOCK ON"), checked("SOUR:VOLT 48.5"),
        checked("SOUR:CURR 20"), checked("SINK:CURR 10"),
        checked("SOUR:POW 5000"), checked("SINK:POW 3000"),
        checked("SOUR:RES 0.05"),
        checked("OUTP ON"),
        w("SYST:LOCK OFF"),
    )
    driver = replay_driver("ea-psb-scpi")
    driver.set_voltage_v(48.5)
    driver.set_current_limits_a(20.0, 10.0)
    driver.set_power_limits_w(5000.0, 3000.0)
    driver.set_internal_resistance_ohm(0.05)
    driver.output(True)
    driver.close()


@pytest.mark.parametrize(("reply", "expected"), [
    ("48.00 V, 10.50 A, 504.00 W", (48.0, 10.5, 504.0)),
    ("47.90 V, -5.00 A, -239.50 W", (47.9, -5.0, -239.5)),
    ("48000 mV, 500 mA, 0.024 kW", (48.0, 0.5, 24.0)),
    ("48.00V,10.50A,504.00W", (48.0, 10.5, 504.0)),
])
def test_measure_parses_units(replay, replay_driver, reply: str, expected) -> None:
    replay.expect(q("MEAS:ARR?", reply))
    reading = replay_driver("ea-psb-scpi").measure()
    assert (reading.voltage_v, reading.current_a, reading.power_w) == pytest.approx(expected)


@pytest.mark.parametrize("reply", ["48.00, 10.50, 504.00", "48.00 V, 10.50 W, 504.00 A",
                                   "48.00 V", "48.00 V, 10.50 A, 504.00 W, 1 X", "?? V, 1 A, 1 W"])
def test_measure_rejects_garbage(replay, replay_driver, reply: str) -> None:
    replay.expect(q("MEAS:ARR?", reply))
    with pytest.raises(InstrumentError) as err:
        replay_driver("ea-psb-scpi").measure()
    assert (err.value.instrument, err.value.command, err.value.reply) == (
        "ea-psb-scpi-1", "MEAS:ARR?", reply)


def test_safe_state_takes_remote_then_switches_off(replay, replay_driver) -> None:
    replay.expect(checked("SYST:LOCK ON"), checked("OUTP OFF"))
    replay_driver("ea-psb-scpi").safe_state()


def test_over_limit_and_negative_send_nothing(replay, replay_driver) -> None:
    driver = replay_driver("ea-psb-scpi")
    with pytest.raises(SafetyLimitError) as err:
        driver.set_current_limits_a(20.0, 40.0)
    assert err.value.command == "SINK:CURR 40"
    with pytest.raises(SafetyLimitError):
        driver.set_voltage_v(400.0)
    with pytest.raises(InstrumentError, match=">= 0"):
        driver.set_power_limits_w(-1.0, 0.0)
    assert replay.sent == []


def test_psi_without_sink(replay, replay_driver) -> None:
    replay.expect(checked("SYST:LOCK ON"), checked("SOUR:CURR 20"))
    driver = replay_driver("ea-psb-scpi", sink=False)
    driver.set_current_limits_a(20.0, 0.0)
    with pytest.raises(InstrumentError, match="no sink"):
        driver.set_current_limits_a(20.0, 5.0)


def test_error_queue_entry(replay, replay_driver) -> None:
    replay.expect(checked("SYST:LOCK ON"),
                  checked("SOUR:VOLT 100", error_reply='-222,"Data out of range"'))
    with pytest.raises(InstrumentError) as err:
        replay_driver("ea-psb-scpi").set_voltage_v(100.0)
    assert (err.value.command, err.value.reply) == ("SOUR:VOLT 100", '-222,"Data out of range"')


# --------------------------------------------------------------------------- twin
def test_twin_round_trip(run_twin, open_driver) -> None:
    dc = SimpleDC(load_ohm=40.0)
    twin = EaPsbTwin(dc)
    driver = open_driver("ea-psb-scpi", run_twin(twin))
    assert driver.identify().maker == "EA Elektro-Automatik"
    driver.set_voltage_v(48.0)
    assert twin.remote
    driver.set_current_limits_a(20.0, 10.0)
    driver.set_power_limits_w(2000.0, 1000.0)
    driver.set_internal_resistance_ohm(0.05)
    assert (dc.voltage_v, dc.source_limit_a, dc.sink_limit_a) == (48.0, 20.0, 10.0)
    assert (dc.source_limit_w, dc.sink_limit_w) == (2000.0, 1000.0)
    assert twin.resistance_ohm == 0.05
    driver.output(True)
    assert twin.output_on
    reading = driver.measure()
    assert (reading.voltage_v, reading.current_a, reading.power_w) == pytest.approx(
        (48.0, 1.2, 57.6))
    driver.safe_state()
    assert not twin.output_on
    driver.close()
    deadline = time.monotonic() + 5.0  # the twin handles the last write after close returns
    while twin.remote and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not twin.remote


def test_twin_refuses_settings_without_remote(run_twin, open_driver) -> None:
    twin = EaPsbTwin(SimpleDC())
    driver = open_driver("ea-psb-scpi", run_twin(twin),
                         commands={"remote": "SYST:LOCK OFF"})  # a misconfigured lab
    with pytest.raises(InstrumentError, match="-203"):
        driver.output(True)
    assert not twin.output_on
