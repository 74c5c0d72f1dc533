"""cp-serial driver: replay without a device, then against the twin over a pty and TCP."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import pytest

from instruments.contracts import Identity
from instruments.registry import get_driver
from instruments.twins.serial_cp import SerialCpTwin, SimplePilot
from testbench.aio import BackgroundLoop
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

A = b'{"state":"A","ev":"A","duty":100.0,"cp_high_v":12.0,"cp_low_v":12.0,"fw":"1.2"}\n'
B = b'{"state":"B","ev":"B","duty":53.3,"cp_high_v":8.9,"cp_low_v":-11.9}\n'
C = b'{"state":"C","ev":"C","duty":53.3,"cp_high_v":5.9,"cp_low_v":-11.9}\n'


class ReplaySerial:
    """The simulator's side of a recorded dialogue: lines sent at open and per command."""

    def __init__(self, initial: list[bytes], reactions: dict[bytes, list[bytes]]) -> None:
        self.written: list[bytes] = []
        self._pending = bytearray(b"".join(initial))
        self._reactions = reactions
        self._lock = threading.Lock()

    def write(self, data: bytes) -> int:
        with self._lock:
            self.written.append(bytes(data))
            self._pending.extend(b"".join(self._reactions.get(bytes(data), [])))
        return len(data)

    @property
    def in_waiting(self) -> int:
        return len(self._pending)

    def read(self, size: int) -> bytes:
        with self._lock:
            chunk = bytes(self._pending[:size])
            del self._pending[:size]
        if not chunk:
            time.sleep(0.01)
        return chunk

    def close(self) -> None:
        pass


def spec(resource: str = "/dev/ttyUSB0", timeout_s: float = 1.0) -> InstrumentSpec:
    return InstrumentSpec(name="cp-box", role="ev_emulator", driver="cp-serial",
                          resource=resource, timeout_s=timeout_s)


def driver(initial: list[bytes], reactions: dict[bytes, list[bytes]],
           timeout_s: float = 1.0):
    handle = ReplaySerial(initial, reactions)
    return get_driver("cp-serial")(spec(timeout_s=timeout_s), SafetyLimits(),
                                   handle=handle), handle


# --------------------------------------------------------------------------- replay
def test_identify_from_a_status_line() -> None:
    ev, _ = driver([A], {})
    try:
        assert ev.identify() == Identity("open hardware", "serial CP-state EV simulator",
                                         "/dev/ttyUSB0", "1.2")
    finally:
        ev.close()


def test_plug_in_and_charge_send_single_characters() -> None:
    ev, handle = driver([A], {b"B": [B], b"C": [C]})
    try:
        ev.plug_in("ev-1")
        assert ev.ev_id == "ev-1"
        assert ev.cp_state() == "B2"
        ev.request_energy()
        assert (ev.cp_state(), ev.duty_cycle_pct()) == ("C2", 53.3)
        assert ev.cp_voltages_v() == (5.9, -11.9)
        assert handle.written == [b"B", b"C"]
        assert math.isnan(ev.current_a())
    finally:
        ev.close()


def test_state_without_pwm_is_state_1() -> None:
    ev, _ = driver([A], {})
    try:
        assert ev.cp_state() == "A1"
    finally:
        ev.close()


def test_unconfirmed_command_names_command_and_last_line() -> None:
    ev, handle = driver([A], {b"C": [A]}, timeout_s=0.5)
    try:
        with pytest.raises(InstrumentError, match="state C not confirmed") as info:
            ev.set_cp_state("C")
        assert info.value.command == "'C'"
        assert '"state": "A"' in (info.value.reply or "")
        assert handle.written == [b"C"]
    finally:
        ev.close()


def test_garbage_line_is_reported_with_the_line() -> None:
    ev, _ = driver([A], {b"B": [b"\xff\xfeB?? duty\n"]})
    try:
        with pytest.raises(InstrumentError, match="not a status line") as info:
            ev.set_cp_state("B")
        assert "duty" in (info.value.reply or "")
    finally:
        ev.close()


def test_silent_device() -> None:
    ev, _ = driver([], {}, timeout_s=0.3)
    try:
        with pytest.raises(InstrumentError, match=r"no status line within 0.3 s") as info:
            ev.identify()
        assert info.value.reply is None
    finally:
        ev.close()


def test_cp_short_is_refused_and_nothing_sent() -> None:
    ev, handle = driver([A], {})
    try:
        with pytest.raises(InstrumentError, match="only A, B, C or D"):
            ev.set_cp_state("E")
        assert handle.written == []
    finally:
        ev.close()


def test_safe_state_unplugs() -> None:
    ev, handle = driver([B], {b"A": [A]})
    try:
        ev.safe_state()
        assert handle.written == [b"A"]
    finally:
        ev.close()


# --------------------------------------------------------------------------- twin
@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop("serial-twins")
    yield background
    background.stop()


@pytest.fixture(params=["pty", "tcp"])
def twin(request: pytest.FixtureRequest, loop: BackgroundLoop) -> Iterator[SerialCpTwin]:
    simulator = SerialCpTwin(SimplePilot(duty_pct=26.7), interval_s=0.1)
    loop.run(simulator.start(request.param), 5)
    yield simulator
    loop.run(simulator.stop(), 5)


def test_twin_session(twin: SerialCpTwin) -> None:
    ev = get_driver("cp-serial")(spec(twin.resource), SafetyLimits())
    try:
        assert ev.identify().model == "SIM-CP-SERIAL"
        assert ev.cp_state() == "A1"
        ev.plug_in("ev-1")
        assert twin.energised and twin.pilot.ev_state == "B"
        ev.request_energy()
        assert ev.cp_state() == "C2"
        assert ev.duty_cycle_pct() == pytest.approx(26.7)
        assert ev.cp_voltages_v() == (6.0, -12.0)
        ev.safe_state()
        assert not twin.energised
        assert twin.commands == ["B", "C", "A"]
    finally:
        ev.close()


def test_twin_garbage_and_silence(twin: SerialCpTwin) -> None:
    ev = get_driver("cp-serial")(spec(twin.resource, timeout_s=0.5), SafetyLimits())
    try:
        twin.set_fault("garbage")
        with pytest.raises(InstrumentError, match="not a status line"):
            ev.set_cp_state("B")
        twin.set_fault("silent")
        time.sleep(0.2)
        with pytest.raises(InstrumentError, match="not confirmed"):
            ev.set_cp_state("C")
        assert twin.pilot.ev_state != "C"  # a silent box ignored the command
    finally:
        ev.close()


def test_twin_disconnect(twin: SerialCpTwin) -> None:
    ev = get_driver("cp-serial")(spec(twin.resource, timeout_s=0.5), SafetyLimits())
    try:
        ev.cp_state()
        twin.set_fault("disconnect")
        time.sleep(0.3)
        with pytest.raises(InstrumentError, match="serial line lost"):
            ev.set_cp_state("B")
    finally:
        ev.close()
