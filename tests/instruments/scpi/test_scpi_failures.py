"""Every SCPI driver against its twin: garbage, silence, error-queue entries, over-limit
setpoints and lost connections give an InstrumentError naming instrument, command and
reply; refused setpoints never reach the wire; safe_state leaves the twin de-energised."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from instruments.twins.ports import SimpleDC, SimpleGrid, StaticPoint
from instruments.twins.scpi_ametek import AmetekRsTwin
from instruments.twins.scpi_chroma import ChromaGridTwin
from instruments.twins.scpi_ea import EaPsbTwin
from instruments.twins.scpi_keysight import KeysightRP7900Twin
from instruments.twins.scpi_server import ScpiTwin
from instruments.twins.scpi_yokogawa import YokogawaWTTwin
from instruments.twins.scpi_zes import ZesLmgTwin
from testbench.errors import InstrumentError, SafetyLimitError

Action = Callable[[Any], object]


@dataclass
class Case:
    """How to exercise one driver against its twin."""

    driver: str
    twin: Callable[[], ScpiTwin]
    query: Action                      # a measurement query
    instrument_refuses: Action          # within station limits, outside the instrument's
    over_limit: Action | None = None    # beyond the station limits (conftest.LIMITS)
    over_limit_value: str = ""
    energise: Action | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.driver


def _energise_grid(d: Any) -> None:
    d.set_voltage_v(120.0)
    d.output(True)


def _energise_dc(d: Any) -> None:
    d.set_voltage_v(48.0)
    d.output(True)


CASES = [
    Case("yokogawa-wt", lambda: YokogawaWTTwin(StaticPoint(), rate_s=0.05),
         query=lambda d: d.read(), instrument_refuses=lambda d: d.set_update_interval_s(0.02),
         options={"rate_min_s": 0.01}),
    Case("zes-lmg600", lambda: ZesLmgTwin(StaticPoint(), cycle_s=0.05),
         query=lambda d: d.read(), instrument_refuses=lambda d: d.set_update_interval_s(0.005),
         options={"cycle_min_s": 0.001}),
    Case("chroma-61800", lambda: ChromaGridTwin(SimpleGrid(), voltage_max_v=150.0),
         query=lambda d: d.measure(), instrument_refuses=lambda d: d.set_voltage_v(200.0),
         over_limit=lambda d: d.set_voltage_v(260.0), over_limit_value="260",
         energise=_energise_grid),
    Case("ametek-rsmx", lambda: AmetekRsTwin(SimpleGrid(), voltage_max_v=150.0),
         query=lambda d: d.measure(), instrument_refuses=lambda d: d.set_voltage_v(200.0),
         over_limit=lambda d: d.set_current_limit_a(33.0), over_limit_value="33",
         energise=_energise_grid),
    Case("ea-psb-scpi", lambda: EaPsbTwin(SimpleDC(), nominal_voltage_v=80.0),
         query=lambda d: d.measure(), instrument_refuses=lambda d: d.set_voltage_v(100.0),
         over_limit=lambda d: d.set_current_limits_a(20.0, 40.0), over_limit_value="40",
         energise=_energise_dc),
    Case("keysight-rp7900", lambda: KeysightRP7900Twin(SimpleDC(), rated_voltage_v=160.0),
         query=lambda d: d.measure(), instrument_refuses=lambda d: d.set_voltage_v(200.0),
         over_limit=lambda d: d.set_power_limits_w(30000.0, 0.0), over_limit_value="30000",
         energise=_energise_dc),
]


LIMITED = [c for c in CASES if c.over_limit is not None]


@pytest.fixture(params=CASES, ids=str)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture
def rig(case: Case, run_twin, open_driver) -> Callable[..., tuple[ScpiTwin, Any]]:
    def build(timeout_s: float = 2.0) -> tuple[ScpiTwin, Any]:
        twin = case.twin()
        driver = open_driver(case.driver, run_twin(twin), timeout_s=timeout_s, **case.options)
        return twin, driver
    return build


def test_garbage_bytes_reply(case: Case, rig) -> None:
    twin, driver = rig()
    twin.garbage_replies = True
    with pytest.raises(InstrumentError) as err:
        driver.identify()
    assert err.value.instrument == f"{case.driver}-1"
    assert err.value.command == "*IDN?"
    assert err.value.reply and "not text" in err.value.problem


def test_garbage_text_reply_to_a_measurement(case: Case, rig) -> None:
    twin, driver = rig()
    case.query(driver)  # set-up done, one good reading
    twin.garbage_bytes = b"#NONSENSE\n"
    twin.garbage_replies = True
    with pytest.raises(InstrumentError) as err:
        case.query(driver)
    assert err.value.reply == "#NONSENSE"
    assert err.value.command.endswith("?")
    assert case.driver in str(err.value) and "#NONSENSE" in str(err.value)


def test_silent_instrument_times_out(case: Case, rig) -> None:
    twin, driver = rig(timeout_s=0.3)
    twin.silent = True
    with pytest.raises(InstrumentError, match=r"no reply within 0.3 s") as err:
        driver.identify()
    assert (err.value.instrument, err.value.command, err.value.reply) == (
        f"{case.driver}-1", "*IDN?", None)


def test_error_queue_entry(case: Case, rig) -> None:
    twin, driver = rig()
    with pytest.raises(InstrumentError) as err:
        case.instrument_refuses(driver)
    assert err.value.reply is not None and "222" in err.value.reply
    assert "out of range" in err.value.reply.lower()
    assert err.value.command in twin.received or any(
        err.value.command in line for line in twin.received)
    assert twin.error_count == 0  # the driver read the entry out of the queue


@pytest.mark.parametrize("case", LIMITED, ids=str)
def test_over_limit_never_reaches_the_twin(case: Case, rig) -> None:
    assert case.over_limit is not None
    twin, driver = rig()
    with pytest.raises(SafetyLimitError, match="refused before sending") as err:
        case.over_limit(driver)
    assert err.value.instrument == f"{case.driver}-1"
    assert case.over_limit_value in err.value.command
    driver.identify()  # the connection is alive and in step
    assert not any(case.over_limit_value in line for line in twin.received)
    assert list(twin.received) == ["*IDN?"]


def test_safe_state_leaves_the_twin_de_energised(case: Case, rig) -> None:
    twin, driver = rig()
    if case.energise is None:
        driver.safe_state()  # an analyser energises nothing; must not fail
        return
    case.energise(driver)
    assert twin.output_on
    driver.safe_state()
    assert not twin.output_on
    driver.safe_state()  # repeatable
    assert not twin.output_on


def test_dropped_connection_is_instrument_error(case: Case, rig) -> None:
    twin, driver = rig(timeout_s=1.0)
    driver.identify()
    twin.disconnect()
    with pytest.raises(InstrumentError) as err:
        driver.identify()
    assert err.value.command == "*IDN?"
