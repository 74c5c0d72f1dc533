"""Yokogawa WT driver: command/response replay, then against its twin over pyvisa-py."""

from __future__ import annotations

import math
import time

import pytest
from scpi_replay import TIMEOUT, checked, q

from instruments.twins.ports import PhaseSample, StaticPoint
from instruments.twins.scpi_yokogawa import YokogawaWTTwin
from testbench.errors import InstrumentError

E = ":STAT:ERR?"
VALUES_1 = ("2.3012E+02,1.0000E+01,2.0000E+03,5.0000E+02,2.0616E+03,9.7014E-01,"
            "5.0000E+01,2.0000E+03,5.0000E+02,2.0616E+03,9.7014E-01,1.5000E+00")


def configure_dialogue_one_element() -> list:
    steps = [*checked(":COMM:HEAD OFF", E), *checked(":NUM:FORM ASC", E),
             *checked(":NUM:NORM:NUMB 12", E)]
    items = ["URMS,1", "IRMS,1", "P,1", "Q,1", "S,1", "LAMB,1", "FU,1",
             "P,SIGMA", "Q,SIGMA", "S,SIGMA", "LAMB,SIGMA", "WP,SIGMA"]
    for k, item in enumerate(items, start=1):
        steps += checked(f":NUM:NORM:ITEM{k} {item}", E)
    steps += checked(":STAT:FILT1 FALL", E)
    return steps


# --------------------------------------------------------------------------- replay
def test_identify(replay, replay_driver) -> None:
    replay.expect(q("*IDN?", "YOKOGAWA,WT1806-06,91K123456,F1.01"))
    identity = replay_driver("yokogawa-wt").identify()
    assert (identity.maker, identity.model, identity.firmware) == ("YOKOGAWA", "WT1806-06",
                                                                   "F1.01")


def test_identify_garbage_names_instrument_command_reply(replay, replay_driver) -> None:
    replay.expect(q("*IDN?", "WT?"))
    with pytest.raises(InstrumentError) as err:
        replay_driver("yokogawa-wt").identify()
    assert (err.value.instrument, err.value.command, err.value.reply) == (
        "yokogawa-wt-1", "*IDN?", "WT?")


def test_configure_then_read_one_element(replay, replay_driver) -> None:
    replay.expect(configure_dialogue_one_element(), q(":NUM:NORM:VAL?", VALUES_1))
    reading = replay_driver("yokogawa-wt", elements=1).read()
    (phase,) = reading.phases
    assert phase.voltage_v == pytest.approx(230.12)
    assert (phase.current_a, phase.power_w, phase.reactive_var) == (10.0, 2000.0, 500.0)
    assert phase.power_factor == pytest.approx(0.97014)
    assert reading.frequency_hz == 50.0
    assert reading.power_w == 2000.0
    assert reading.energy_wh == 1.5
    assert abs(reading.acquired_wall_s - time.time()) < 60


def test_read_tolerates_header_nan_and_no_data(replay, replay_driver) -> None:
    fields = VALUES_1.split(",")
    fields[5] = "NAN"        # LAMBda without apparent power
    fields[6] = "9.91E+37"   # FU: no data yet
    replay.expect(configure_dialogue_one_element(),
                  q(":NUM:NORM:VAL?", ":NUM:NORM:VAL " + ",".join(fields)))
    reading = replay_driver("yokogawa-wt", elements=1).read()
    assert math.isnan(reading.phases[0].power_factor)
    assert math.isnan(reading.frequency_hz)
    assert reading.phases[0].voltage_v == pytest.approx(230.12)


@pytest.mark.parametrize("reply", ["1,2,3", "A,B,C,D,E,F,G,H,I,J,K,L", ""])
def test_read_wrong_or_garbage_reply_is_instrument_error(replay, replay_driver,
                                                         reply: str) -> None:
    replay.expect(configure_dialogue_one_element(), q(":NUM:NORM:VAL?", reply))
    with pytest.raises(InstrumentError) as err:
        replay_driver("yokogawa-wt", elements=1).read()
    assert err.value.command == ":NUM:NORM:VAL?"
    assert err.value.reply == reply


def test_configure_error_queue_entry_names_the_command(replay, replay_driver) -> None:
    replay.expect(checked(":COMM:HEAD OFF", E, '113,"Undefined header"'))
    with pytest.raises(InstrumentError) as err:
        replay_driver("yokogawa-wt").read()
    assert err.value.command == ":COMM:HEAD OFF"
    assert err.value.reply == '113,"Undefined header"'
    assert "113" in str(err.value) and "yokogawa-wt-1" in str(err.value)


def test_wait_fresh_clears_then_polls_eesr(replay, replay_driver) -> None:
    replay.expect(configure_dialogue_one_element(),
                  q(":STAT:EESR?", "1"),        # stale event from before the call: cleared
                  q(":STAT:EESR?", "0"),
                  q(":STAT:EESR?", ":STAT:EESR 1"),
                  q(":NUM:NORM:VAL?", VALUES_1))
    reading = replay_driver("yokogawa-wt", elements=1, poll_interval_s=0.001).wait_fresh(5.0)
    assert reading.energy_wh == 1.5


def test_timeout_is_instrument_error(replay, replay_driver) -> None:
    replay.expect(q("*IDN?", TIMEOUT))
    with pytest.raises(InstrumentError, match="no reply within"):
        replay_driver("yokogawa-wt").identify()


def test_update_interval_sent_in_ms_and_range_checked(replay, replay_driver) -> None:
    replay.expect(configure_dialogue_one_element(), checked(":RATE 500MS", E))
    driver = replay_driver("yokogawa-wt", elements=1)
    driver.set_update_interval_s(0.5)
    with pytest.raises(InstrumentError, match="outside the instrument range") as err:
        driver.set_update_interval_s(0.01)
    assert err.value.command == ":RATE 10MS"


def test_integration_reset_start_stop(replay, replay_driver) -> None:
    replay.expect(configure_dialogue_one_element(),
                  q(":INTEG:STAT?", "START"), checked(":INTEG:STOP", E),
                  checked(":INTEG:RES", E), checked(":INTEG:STAR", E),
                  checked(":INTEG:STOP", E))
    driver = replay_driver("yokogawa-wt", elements=1)
    driver.start_integration()
    driver.stop_integration()


def test_safe_state_sends_nothing(replay, replay_driver) -> None:
    replay_driver("yokogawa-wt").safe_state()
    assert replay.sent == []


# --------------------------------------------------------------------------- twin
PHASES = (PhaseSample(230.0, 10.0, 2000.0, 500.0), PhaseSample(231.0, 11.0, 2100.0, -300.0),
          PhaseSample(229.0, 9.0, 1900.0, 0.0))


def test_twin_read_follows_the_point(run_twin, open_driver) -> None:
    twin = YokogawaWTTwin(StaticPoint(phases=PHASES, frequency_hz=49.9), rate_s=0.05)
    driver = open_driver("yokogawa-wt", run_twin(twin))
    assert driver.identify().maker == "YOKOGAWA"
    reading = driver.wait_fresh(5.0)
    assert not twin.header  # the driver turned headers off
    assert [p.voltage_v for p in reading.phases] == pytest.approx([230.0, 231.0, 229.0])
    assert [p.current_a for p in reading.phases] == pytest.approx([10.0, 11.0, 9.0])
    assert reading.phases[0].apparent_va == pytest.approx(math.hypot(2000, 500), rel=1e-4)
    assert reading.power_w == pytest.approx(6000.0)
    assert reading.reactive_var == pytest.approx(200.0)
    assert reading.frequency_hz == pytest.approx(49.9)
    assert reading.current_a == pytest.approx(11.0)


def test_twin_reply_headers_are_tolerated(run_twin, open_driver) -> None:
    twin = YokogawaWTTwin(StaticPoint(phases=PHASES), rate_s=0.05)
    driver = open_driver("yokogawa-wt", run_twin(twin))
    driver.wait_fresh(5.0)
    twin.header = True  # as if someone switched headers back on at the front panel
    assert driver.wait_fresh(5.0).power_w == pytest.approx(6000.0)


def test_twin_unwired_elements_give_nan_not_a_crash(run_twin, open_driver) -> None:
    point = StaticPoint(phases=(PhaseSample(230.0, 16.0, 3680.0),))
    driver = open_driver("yokogawa-wt", run_twin(YokogawaWTTwin(point, rate_s=0.05)))
    reading = driver.wait_fresh(5.0)
    assert reading.phases[0].power_factor == pytest.approx(1.0)
    assert reading.phases[1].voltage_v == 0.0
    assert math.isnan(reading.phases[1].power_factor)


def test_twin_no_data_before_first_update_is_nan(run_twin, open_driver) -> None:
    twin = YokogawaWTTwin(StaticPoint(), rate_s=20.0)
    driver = open_driver("yokogawa-wt", run_twin(twin))
    reading = driver.read()
    assert not twin.has_data
    assert all(math.isnan(p.voltage_v) for p in reading.phases)
    with pytest.raises(InstrumentError, match="no fresh data within 0.2 s"):
        driver.wait_fresh(0.2)


def test_twin_update_interval_and_integration(run_twin, open_driver) -> None:
    twin = YokogawaWTTwin(StaticPoint(phases=PHASES), rate_s=0.5)
    driver = open_driver("yokogawa-wt", run_twin(twin), update_interval_s=0.05)
    driver.start_integration()
    assert twin.rate_s == pytest.approx(0.05)
    assert twin.integ_state == "START"
    deadline = time.monotonic() + 5.0
    energy = 0.0
    while energy <= 0.05 and time.monotonic() < deadline:  # 6 kW: 0.05 Wh in 30 ms
        energy = driver.wait_fresh(5.0).energy_wh or 0.0
    assert energy > 0.05
    driver.stop_integration()
    frozen = driver.wait_fresh(5.0).energy_wh
    assert driver.wait_fresh(5.0).energy_wh == frozen
    driver.set_update_interval_s(0.1)
    assert twin.rate_s == pytest.approx(0.1)
