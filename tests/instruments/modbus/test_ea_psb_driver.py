"""ea-psb-modbus driver: replay without a server, then against the twin over TCP."""

from __future__ import annotations

import pytest
from modbus_replay import ReplayClient, device_info, exception, ok_coil, ok_register, regs

from instruments.contracts import Identity
from instruments.registry import get_driver
from instruments.twins.modbus_ea_psb import EaPsbTwin
from instruments.twins.ports import SimpleDC
from testbench.errors import InstrumentError, SafetyLimitError
from testbench.lab.model import InstrumentSpec, SafetyLimits

# Nominal 500 V, 60 A, 30 kW as float32 (high word first).
NOMINALS = ("read_holding_registers", (121, 6), regs(0x43FA, 0, 0x4270, 0, 0x46EA, 0x6000))
REMOTE = ("write_coil", (402, True), ok_coil())
LIMITS = SafetyLimits(max_voltage_v=800.0, max_current_a=100.0, max_power_w=50000.0)


def spec(resource: str = "unused", timeout_s: float = 1.0) -> InstrumentSpec:
    return InstrumentSpec(name="battery", role="dc_source", driver="ea-psb-modbus",
                          resource=resource, timeout_s=timeout_s)


def driver(steps: list, limits: SafetyLimits = LIMITS):
    client = ReplayClient([NOMINALS, *steps])
    return get_driver("ea-psb-modbus")(spec(), limits, client=client), client


# --------------------------------------------------------------------------- replay
def test_nominals_are_read_at_open() -> None:
    psb, client = driver([])
    assert (psb.nominal_v, psb.nominal_a, psb.nominal_w) == (500.0, 60.0, 30000.0)
    client.assert_done()


def test_voltage_is_scaled_to_0xcccc_after_taking_remote() -> None:
    psb, client = driver([REMOTE, ("write_register", (500, 0x6666), ok_register()),
                          ("write_register", (500, 0xCCCC), ok_register())])
    psb.set_voltage_v(250.0)
    psb.set_voltage_v(500.0)  # remote is taken once
    client.assert_done()


def test_current_and_power_limits_source_and_sink() -> None:
    psb, client = driver([REMOTE,
                          ("write_register", (501, 0x6666), ok_register()),
                          ("write_register", (499, 0x3333), ok_register()),
                          ("write_register", (502, 0x6666), ok_register()),
                          ("write_register", (498, 0x0000), ok_register())])
    psb.set_current_limits_a(30.0, 15.0)
    psb.set_power_limits_w(15000.0, 0.0)
    client.assert_done()


def test_over_station_limit_is_refused_and_nothing_sent() -> None:
    psb, client = driver([], SafetyLimits(max_voltage_v=400.0, max_current_a=20.0))
    with pytest.raises(SafetyLimitError, match="voltage 450 V exceeds the station limit 400 V"):
        psb.set_voltage_v(450.0)
    with pytest.raises(SafetyLimitError) as info:
        psb.set_current_limits_a(10.0, 25.0)
    assert info.value.command == "write_register 499"
    client.assert_done()


def test_over_nominal_is_refused_and_nothing_sent() -> None:
    psb, client = driver([])
    with pytest.raises(InstrumentError, match=r"outside the unit's range 0..510 V"):
        psb.set_voltage_v(520.0)
    client.assert_done()


def test_measure_uses_the_sink_bit_for_the_sign() -> None:
    psb, client = driver([
        ("read_holding_registers", (507, 3), regs(0x6666, 0x1999, 0x0A3D)),
        ("read_holding_registers", (505, 2), regs(0, (1 << 12) | (1 << 7))),
    ])
    reading = psb.measure()
    assert reading.voltage_v == pytest.approx(250.0, abs=0.01)
    assert reading.current_a == pytest.approx(-7.5, abs=0.01)
    assert reading.power_w == pytest.approx(-1500.0, abs=1.0)
    client.assert_done()


def test_output_off_is_confirmed() -> None:
    psb, client = driver([REMOTE, ("write_coil", (405, False), ok_coil()),
                          ("read_holding_registers", (505, 2), regs(0, 1 << 7))])
    with pytest.raises(InstrumentError, match="did not switch off"):
        psb.safe_state()
    client.assert_done()


def test_identify_falls_back_to_nominals() -> None:
    psb, _ = driver([("read_device_information", (3, 0), exception(0x2B, 1)), NOMINALS])
    assert psb.identify() == Identity("Elektro-Automatik", "PSB 500 V / 60 A / 30000 W",
                                      "unknown", "unknown")


def test_identify_from_device_identification() -> None:
    psb, _ = driver([("read_device_information", (3, 0),
                      device_info({0: b"EA", 5: b"PSB 10080-120", 2: b"KE 3"}))])
    assert psb.identify() == Identity("EA", "PSB 10080-120", "unknown", "KE 3")


def test_garbage_nominals_fail_at_open() -> None:
    client = ReplayClient([("read_holding_registers", (121, 6), regs(0, 0, 0, 0, 0, 0))])
    with pytest.raises(InstrumentError, match="nominal U/I/P must be positive"):
        get_driver("ea-psb-modbus")(spec(), LIMITS, client=client)
    assert client.closed


# --------------------------------------------------------------------------- twin
@pytest.fixture()
def twin(loop):
    unit = EaPsbTwin(SimpleDC(load_ohm=40.0))
    loop.run(unit.start(), 5)
    yield unit
    loop.run(unit.stop(), 5)


def test_twin_session(twin: EaPsbTwin) -> None:
    psb = get_driver("ea-psb-modbus")(spec(twin.resource), LIMITS)
    try:
        assert psb.identify() == Identity("Elektro-Automatik", "PSB 10500-60", "PSB-0001",
                                          "KE 3.10")
        psb.set_voltage_v(400.0)
        psb.set_current_limits_a(8.0, 4.0)
        psb.set_power_limits_w(10000.0, 5000.0)
        assert twin.port.sink_limit_a == pytest.approx(4.0, abs=0.01)
        psb.output(True)
        assert twin.energised
        reading = psb.measure()
        assert reading.voltage_v == pytest.approx(400.0, abs=0.05)
        assert reading.current_a == pytest.approx(8.0, abs=0.01)  # limited: 400 V / 40 ohm = 10 A
        psb.safe_state()
        assert not twin.energised
        assert psb.measure().voltage_v == 0.0
    finally:
        psb.close()


def test_twin_refuses_output_without_remote(twin: EaPsbTwin) -> None:
    psb = get_driver("ea-psb-modbus")(spec(twin.resource), LIMITS)
    try:
        psb._mb.write_coil(402, False)  # an operator took local control
        with pytest.raises(InstrumentError) as info:
            psb._mb.write_coil(405, True)
        assert info.value.reply == "exception 3 (illegal data value)"
        assert not twin.energised
    finally:
        psb.close()


def test_twin_garbage_reply(twin: EaPsbTwin) -> None:
    psb = get_driver("ea-psb-modbus")(spec(twin.resource, timeout_s=0.3), LIMITS)
    twin.set_fault("garbage")
    try:
        with pytest.raises(InstrumentError, match="garbage on the line") as info:
            psb.measure()
        assert info.value.command == "read_holding_registers 507 x3"
    finally:
        psb.close()
