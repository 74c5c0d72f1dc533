"""ZES Zimmer LMG600 driver: command/response replay, then against its twin over pyvisa-py."""

from __future__ import annotations

import math

import pytest
from scpi_replay import TIMEOUT, checked, q

from instruments.twins.ports import PhaseSample, StaticPoint
from instruments.twins.scpi_zes import ZesLmgTwin
from testbench.errors import InstrumentError

E = "ERRALL?"
QUERIES_1 = "UTRMS1?;ITRMS1?;P1?;S1?;Q1?;PF1?;FCYC1?"
REPLY_1 = "2.30000E+02;1.00000E+01;2.20000E+03;2.30000E+03;6.70000E+02;9.56522E-01;5.00000E+01"


def configure_one_channel() -> list:
    return [*checked("*ZLANG SHORT", E), *checked("FRMT ASC", E),
            *checked("UAUTO1 1;IAUTO1 1", E)]


# --------------------------------------------------------------------------- replay
def test_identify(replay, replay_driver) -> None:
    replay.expect(q("*IDN?", "ZES ZIMMER Electronic Systems GmbH,LMG670,12345,4.101"))
    assert replay_driver("zes-lmg600").identify().model == "LMG670"


def test_configure_and_read_one_channel(replay, replay_driver) -> None:
    replay.expect(configure_one_channel(), q(f"INIM;{QUERIES_1}", REPLY_1))
    reading = replay_driver("zes-lmg600", channels=1).read()
    (phase,) = reading.phases
    assert (phase.voltage_v, phase.current_a, phase.power_w) == (230.0, 10.0, 2200.0)
    assert (phase.apparent_va, phase.reactive_var) == (2300.0, 670.0)
    assert phase.power_factor == pytest.approx(0.956522)
    assert reading.frequency_hz == 50.0
    assert reading.power_factor == pytest.approx(2200 / 2300)
    assert reading.energy_wh is None


def test_wait_fresh_uses_actn(replay, replay_driver) -> None:
    replay.expect(configure_one_channel(), q(f"ACTN;{QUERIES_1}", REPLY_1))
    assert replay_driver("zes-lmg600", channels=1).wait_fresh(3.0).power_w == 2200.0


def test_wait_fresh_timeout_clears_input_and_restores_timeout(replay, replay_driver) -> None:
    replay.expect(configure_one_channel(), q(f"ACTN;{QUERIES_1}", TIMEOUT))
    driver = replay_driver("zes-lmg600", channels=1)
    with pytest.raises(InstrumentError, match="no fresh data within 0.5 s") as err:
        driver.wait_fresh(0.5)
    assert err.value.command == f"ACTN;{QUERIES_1}"
    assert replay.cleared == 1
    assert replay.sessions[0].timeout == 2000


@pytest.mark.parametrize("reply", ["1;2;3", "230;10;x;2300;0;1;50", "ERR"])
def test_bad_reply_is_instrument_error(replay, replay_driver, reply: str) -> None:
    replay.expect(configure_one_channel(), q(f"INIM;{QUERIES_1}", reply))
    with pytest.raises(InstrumentError) as err:
        replay_driver("zes-lmg600", channels=1).read()
    assert (err.value.command, err.value.reply) == (f"INIM;{QUERIES_1}", reply)


def test_nan_fields_become_nan(replay, replay_driver) -> None:
    replay.expect(configure_one_channel(), q(f"INIM;{QUERIES_1}", "0;0;0;0;0;NaN;NAN"))
    reading = replay_driver("zes-lmg600", channels=1).read()
    assert math.isnan(reading.phases[0].power_factor) and math.isnan(reading.frequency_hz)


def test_error_queue_entry_names_command_and_reply(replay, replay_driver) -> None:
    replay.expect(checked("*ZLANG SHORT", E, '-113,"Undefined header"'))
    with pytest.raises(InstrumentError) as err:
        replay_driver("zes-lmg600").read()
    assert (err.value.command, err.value.reply) == ("*ZLANG SHORT", '-113,"Undefined header"')


def test_cycle_range_checked_before_sending(replay, replay_driver) -> None:
    replay.expect(configure_one_channel(), checked("CYCL 0.2", E))
    driver = replay_driver("zes-lmg600", channels=1)
    driver.set_update_interval_s(0.2)
    with pytest.raises(InstrumentError, match="outside the instrument range"):
        driver.set_update_interval_s(120.0)


# --------------------------------------------------------------------------- twin
PHASES = (PhaseSample(230.0, 10.0, 2000.0, 500.0), PhaseSample(231.0, 11.0, 2100.0, -300.0),
          PhaseSample(229.0, 9.0, 1900.0, 0.0))


def test_twin_read_follows_the_point(run_twin, open_driver) -> None:
    twin = ZesLmgTwin(StaticPoint(phases=PHASES, frequency_hz=50.1), cycle_s=0.05)
    driver = open_driver("zes-lmg600", run_twin(twin))
    assert driver.identify().model == "LMG670"
    reading = driver.read()
    assert twin.language == "SHORT"
    assert all(twin.autorange[(kind, c)] for kind in "UI" for c in (1, 2, 3))
    assert [p.voltage_v for p in reading.phases] == pytest.approx([230.0, 231.0, 229.0])
    assert reading.power_w == pytest.approx(6000.0)
    assert reading.phases[1].reactive_var == pytest.approx(-300.0)
    assert reading.frequency_hz == pytest.approx(50.1)


def test_twin_wait_fresh_waits_for_a_new_cycle(run_twin, open_driver) -> None:
    twin = ZesLmgTwin(StaticPoint(phases=PHASES), cycle_s=0.05)
    driver = open_driver("zes-lmg600", run_twin(twin))
    driver.set_update_interval_s(0.05)
    before = twin.cycles
    driver.wait_fresh(5.0)
    assert twin.cycles > before


def test_twin_cycle_and_timeout(run_twin, open_driver) -> None:
    twin = ZesLmgTwin(StaticPoint(), cycle_s=0.05)
    driver = open_driver("zes-lmg600", run_twin(twin))
    driver.set_update_interval_s(30.0)
    assert twin.cycle_s == 30.0
    with pytest.raises(InstrumentError, match="no fresh data"):
        driver.wait_fresh(0.2)
