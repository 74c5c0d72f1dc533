"""Simulated control pilot (in process, no central system): duty cycle, the EV following it,
contactor timing, states E and F, and the IEC 61851 fault personalities, read through the
station I/O box twin (SCPI) the bench's driver talks to."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from instruments.twins.evio import EvIoTwin
from testbench.clock import LabClock
from testbench.lab.model import ChargerSpec, EVSpec
from testbench.sim.ev_personality import current_from_duty_a
from testbench.sim.evio_port import ConnectorIo
from testbench.sim.v16 import Charger16

SCALE = 50.0  # lab seconds per wall second


def _charger(faults: tuple[str, ...] = (), ev_faults: tuple[str, ...] = (),
             ev_min_a: float = 6.0) -> Charger16:
    spec = ChargerSpec(id="cp", vendor="V", model="M", firmware="1", ocpp_version="1.6",
                       max_current_a=32.0, max_power_w=22000.0, faults=faults)
    ev = EVSpec(id="ev", make="E", model="V", software="1", phases=1, min_current_a=ev_min_a,
                max_current_a=32.0, faults=ev_faults)
    return Charger16(spec, {"ev": ev}, LabClock(scale=SCALE))


def _run(body: Callable[[Charger16, EvIoTwin, LabClock], Awaitable[None]],
         **kwargs: Any) -> None:
    async def main() -> None:
        charger = _charger(**kwargs)
        box = EvIoTwin(ConnectorIo(charger, charger.connectors[0]))
        await body(charger, box, charger.clock)

    asyncio.run(main())


async def _charging(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
    """Plug in (B), transaction started (B2), EV asks for energy (C2), contactor closed."""
    box.execute_line("EV:PROF ev;CP:STAT B")
    conn = charger.connectors[0]
    charger.start_transaction(conn, "TOKEN", "ISO14443", trigger="Authorized")
    assert box.execute_line("CP:STAT?") == "B2"
    box.execute_line("CP:STAT C")
    await clock.asleep(6.0)


def _delay(box: EvIoTwin) -> tuple[float, int]:
    delay, state = (box.execute_line("MEAS:CONT:DEL?") or "").split(",")
    return float(delay), int(state)


def _limit(charger: Charger16, limit_a: float | None) -> None:
    charger.connectors[0].stage.set_limit_a(limit_a)


def test_duty_mapping_of_the_ev() -> None:
    assert current_from_duty_a(53.3) == pytest.approx(31.98)
    assert current_from_duty_a(9.0) == 6.0
    assert current_from_duty_a(90.0) == pytest.approx(65.0)
    assert current_from_duty_a(96.5) == 80.0
    assert current_from_duty_a(5.0) == current_from_duty_a(100.0) == 0.0


def test_conformant_sequence_duty_and_contactor() -> None:
    async def body(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
        await _charging(charger, box, clock)
        assert box.execute_line("MEAS:PIL?") == "C2,53.3,1,3.200000E+01"
        delay, state = _delay(box)
        assert state == 1 and 0.8 <= delay <= 1.5, delay  # closes about 1 lab s after C2
        _limit(charger, 10.0)
        await clock.asleep(2.0)
        assert box.execute_line("CP:DUTY?") == "16.7"
        assert float(box.execute_line("MEAS:CURR?") or "nan") == pytest.approx(10.0)
        box.execute_line("CP:STAT B")
        delay, state = _delay(box)
        assert state == 0 and delay < 0.05
        assert box.execute_line("MEAS:PIL?") == "B2,16.7,0,0.000000E+00"
        box.execute_line("CP:STAT A")
        assert box.execute_line("CP:STAT?") == "A1"

    _run(body)


def test_ev_below_its_minimum_pauses() -> None:
    async def body(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
        await _charging(charger, box, clock)
        _limit(charger, 7.0)
        await clock.asleep(2.0)
        assert box.execute_line("CP:STAT?;CP:DUTY?;MEAS:CURR?") == "C2;11.7;0.000000E+00"
        _limit(charger, 12.0)
        await clock.asleep(3.0)
        assert float(box.execute_line("MEAS:CURR?") or "nan") == pytest.approx(12.0)

    _run(body, ev_min_a=8.0)


def test_state_e_and_diode_fault_stop_a_conformant_charger() -> None:
    async def body(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
        conn = charger.connectors[0]
        await _charging(charger, box, clock)
        box.execute_line("CP:STAT E")
        assert box.execute_line("CP:STAT?;MEAS:CONT?") == "E;0"
        assert conn.tx is None and charger.connector_status(conn) == "Faulted"
        box.execute_line("CP:STAT B")
        await _charging(charger, box, clock)
        box.execute_line("CP:DIOD:SHOR 1")
        assert box.execute_line("CP:STAT?;MEAS:CONT?;CP:DIOD:SHOR?") == "F;0;1"
        assert _delay(box)[0] < 0.05
        assert conn.tx is None and charger.connector_status(conn) == "Faulted"
        box.execute_line("*RST")
        assert box.execute_line("CP:STAT?;CP:DIOD:SHOR?") == "A1;0"
        assert charger.connector_status(conn) == "Available"

    _run(body)


def test_charger_faults() -> None:
    async def slow(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
        await _charging(charger, box, clock)
        assert box.execute_line("MEAS:CONT?") == "1"
        assert 4.8 <= _delay(box)[0] <= 5.6
        box.execute_line("CP:STAT B")
        assert box.execute_line("MEAS:CONT?") == "1"  # still closed
        await clock.asleep(2.0)
        delay, state = _delay(box)
        assert state == 0 and 0.9 <= delay <= 1.5, delay

    async def duty(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
        await _charging(charger, box, clock)
        _limit(charger, 10.0)
        await clock.asleep(2.0)
        assert box.execute_line("CP:DUTY?") == "18.3"  # 16.7 % x 1.1
        assert float(box.execute_line("MEAS:CURR?") or "nan") == pytest.approx(11.0)

    async def ignores_e(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
        conn = charger.connectors[0]
        await _charging(charger, box, clock)
        box.execute_line("CP:STAT E")
        assert box.execute_line("CP:STAT?;MEAS:CONT?") == "E;1"
        assert conn.tx is not None and charger.connector_status(conn) == "Charging"
        box.execute_line("CP:STAT C;CP:DIOD:SHOR 1")
        assert box.execute_line("CP:STAT?;MEAS:CONT?") == "C2;1"

    _run(slow, faults=("slow-contactor",))
    _run(duty, faults=("wrong-duty-cycle",))
    _run(ignores_e, faults=("ignores-state-e",))


def test_ev_faults_and_follow_delay() -> None:
    async def ignores(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
        await _charging(charger, box, clock)
        _limit(charger, 10.0)
        await clock.asleep(3.0)
        assert box.execute_line("CP:DUTY?") == "16.7"
        assert float(box.execute_line("MEAS:CURR?") or "nan") == pytest.approx(32.0)

    async def slow(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
        await _charging(charger, box, clock)
        _limit(charger, 10.0)
        await clock.asleep(4.0)
        assert float(box.execute_line("MEAS:CURR?") or "nan") == pytest.approx(32.0)
        await clock.asleep(8.0)
        assert float(box.execute_line("MEAS:CURR?") or "nan") == pytest.approx(10.0)

    async def conformant(charger: Charger16, box: EvIoTwin, clock: LabClock) -> None:
        await _charging(charger, box, clock)
        _limit(charger, 10.0)
        await clock.asleep(2.0)
        assert float(box.execute_line("MEAS:CURR?") or "nan") == pytest.approx(10.0)

    _run(ignores, ev_faults=("ignores-duty-cycle",))
    _run(slow, ev_faults=("slow-to-follow-duty",))
    _run(conformant)
