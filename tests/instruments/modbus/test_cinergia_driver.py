"""cinergia-geel driver: replay without a server, then against the twin over TCP."""

from __future__ import annotations

import pytest
from modbus_replay import ReplayClient, device_info, exception, ok_registers, regs

from instruments.contracts import Identity
from instruments.registry import get_driver
from instruments.twins.modbus_cinergia import CinergiaTwin
from instruments.twins.ports import SimpleGrid
from testbench.errors import InstrumentError, SafetyLimitError
from testbench.lab.model import InstrumentSpec, SafetyLimits

F230 = [0x4366, 0x0000]  # 230.0 as float32, high word first
F50 = [0x4248, 0x0000]
F16 = [0x4180, 0x0000]
ONE, ZERO = [0, 1], [0, 0]  # uint32 1 and 0
APPLY = [("write_registers", (17020, ONE), ok_registers()),
         ("write_registers", (17020, ZERO), ok_registers())]


def spec(resource: str = "unused", **options: object) -> InstrumentSpec:
    return InstrumentSpec(name="grid", role="grid_emulator", driver="cinergia-geel",
                          resource=resource, timeout_s=1.0, options=dict(options))


def driver(steps: list, limits: SafetyLimits | None = None, **options: object):
    client = ReplayClient(steps)
    return get_driver("cinergia-geel")(spec(**options), limits or SafetyLimits(),
                                       client=client), client


def state(value: int) -> tuple:
    return ("read_holding_registers", (16000, 2), regs(0, value))


# --------------------------------------------------------------------------- replay
def test_set_voltage_all_phases_then_apply() -> None:
    steps = [("write_registers", (18000 + 2 * n, F230), ok_registers()) for n in range(3)]
    grid, client = driver(steps + APPLY)
    grid.set_voltage_v(230.0)
    client.assert_done()


def test_setpoint_registers_are_options() -> None:
    grid, client = driver([("write_registers", (4102, F50), ok_registers()), *APPLY,
                           ("write_registers", (4110, F16), ok_registers()), *APPLY],
                          reg_frequency_hz=4102, reg_current_limit_a="0x100E")
    grid.set_frequency_hz(50.0)
    grid.set_current_limit_a(16.0)
    client.assert_done()


def test_over_limit_is_refused_before_anything_is_sent() -> None:
    grid, client = driver([], SafetyLimits(max_voltage_v=250.0, max_current_a=10.0))
    with pytest.raises(SafetyLimitError, match="exceeds the station limit 250 V") as info:
        grid.set_voltage_v(260.0, phase=2)
    assert info.value.command == "write_registers 18002 x2"
    with pytest.raises(SafetyLimitError, match="current 16 A"):
        grid.set_current_limit_a(16.0)
    client.assert_done()


def test_output_on_walks_the_state_machine() -> None:
    grid, client = driver([state(2), ("write_registers", (17000, ONE), ok_registers()),
                           state(4), ("write_registers", (17002, ONE), ok_registers()),
                           state(4), state(5)])
    grid.output(True)
    client.assert_done()


def test_output_on_in_alarm_is_refused() -> None:
    grid, client = driver([state(7)])
    with pytest.raises(InstrumentError, match="reset_alarm") as info:
        grid.output(True)
    assert info.value.reply == "state 7 (alarm)"
    client.assert_done()


def test_safe_state_switches_off_and_confirms() -> None:
    grid, client = driver([("write_registers", (17002, ZERO), ok_registers()),
                           ("write_registers", (17000, ZERO), ok_registers()), state(2)])
    grid.safe_state()
    client.assert_done()


def test_unknown_state_is_garbage() -> None:
    grid, _ = driver([state(99)])
    with pytest.raises(InstrumentError, match="unknown operating state") as info:
        grid.state()
    assert info.value.reply == "99"


def test_measure_decodes_floats() -> None:
    grid, client = driver([
        ("read_holding_registers", (26094, 6), regs(*F230, *F230, *F230)),
        ("read_holding_registers", (26106, 6), regs(*F16, *F16, *F16)),
        ("read_holding_registers", (26120, 6), regs(0x4566, 0x0000, 0, 0, 0, 0)),
        ("read_holding_registers", (26100, 2), regs(*F50)),
    ])
    reading = grid.measure()
    assert reading.voltage_v == (230.0, 230.0, 230.0)
    assert reading.current_a == (16.0, 16.0, 16.0)
    assert reading.power_w == (3680.0, 0.0, 0.0)
    assert reading.frequency_hz == 50.0
    client.assert_done()


def test_identify_without_device_identification() -> None:
    grid, client = driver([("read_device_information", (3, 0), exception(0x2B, 1)), state(2)],
                          model="GE&EL 20")
    assert grid.identify() == Identity("Cinergia", "GE&EL 20", "unknown", "unknown")
    client.assert_done()


def test_identify_from_device_identification() -> None:
    grid, _ = driver([("read_device_information", (3, 0),
                       device_info({0: b"Cinergia", 2: b"3.0", 5: b"GE&EL 50"}))])
    assert grid.identify() == Identity("Cinergia", "GE&EL 50", "unknown", "3.0")


# --------------------------------------------------------------------------- twin
@pytest.fixture()
def twin(loop):
    emulator = CinergiaTwin(SimpleGrid(load_ohm=23.0))
    loop.run(emulator.start(), 5)
    yield emulator
    loop.run(emulator.stop(), 5)


@pytest.fixture()
def grid(twin: CinergiaTwin):
    emulator = get_driver("cinergia-geel")(spec(twin.resource), SafetyLimits())
    yield emulator
    emulator.close()


def test_twin_session(twin: CinergiaTwin, grid) -> None:
    assert grid.identify() == Identity("Cinergia", "GE&EL 50 (twin)", "GE-0001", "2.1")
    grid.set_voltage_v(207.0)
    grid.set_frequency_hz(49.5)
    grid.set_current_limit_a(20.0)
    assert not twin.energised
    grid.output(True)
    assert twin.energised and grid.state() == 5
    reading = grid.measure()
    assert reading.voltage_v == pytest.approx((207.0,) * 3)
    assert reading.current_a == pytest.approx((9.0,) * 3)  # 207 V / 23 ohm
    assert reading.frequency_hz == pytest.approx(49.5)
    grid.set_voltage_v(230.0, phase=3)
    assert grid.measure().voltage_v == pytest.approx((207.0, 207.0, 230.0))
    grid.safe_state()
    assert not twin.energised and grid.state() == 2


def test_twin_refuses_voltage_over_its_rating(twin: CinergiaTwin, grid) -> None:
    with pytest.raises(InstrumentError) as info:
        grid.set_voltage_v(400.0)  # within the station limit (480 V), over the 300 V rating
    assert info.value.command == "write_registers 18000 x2"
    assert info.value.reply == "exception 3 (illegal data value)"
    assert twin.port.voltage_v == [230.0, 230.0, 230.0]


def test_twin_alarm_and_reset(twin: CinergiaTwin, grid) -> None:
    grid.output(True)
    twin.trip_alarm()
    assert not twin.energised
    with pytest.raises(InstrumentError, match="alarm"):
        grid.output(True)
    grid.reset_alarm()
    grid.output(True)
    assert twin.energised
    grid.safe_state()
    assert not twin.energised


def test_twin_silent_gives_timeout(twin: CinergiaTwin) -> None:
    grid = get_driver("cinergia-geel")(
        InstrumentSpec("grid", "grid_emulator", "cinergia-geel", twin.resource, timeout_s=0.3),
        SafetyLimits())
    twin.set_fault("silent")
    try:
        with pytest.raises(InstrumentError, match="no reply within 0.3 s") as info:
            grid.measure()
        assert info.value.command == "read_holding_registers 26094 x6"
    finally:
        grid.close()
