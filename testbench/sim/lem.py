"""A simulated charger's Modbus TCP energy-management interface (the LEM side of the wall box).

One server per ``energy_manager`` instrument of the lab file (driver ``modbus-lem``), bound to
a charger connector, serving the register map the instrument names
(``instruments.drivers.modbus_lem.REGISTER_MAPS``): the lab's Modbus twin of the charger's
own interface, the same table the bench's driver reads.

- A write of the limit register (0, or the map's ``min_a``..``max_a``; the map's "no limit"
  value releases) caps the connector's power stage (:meth:`PowerStage.set_cap_a`): the
  charger then offers the lowest of its OCPP limit and this one (the map's ``max_a``, the
  device's rating, limits nothing). Values outside the range
  get exception 3 (illegal data value); writes of other registers exception 2.
- Reads of the actual currents, power and state come from the connector's outlet and pilot.

Fault personality ``ignores-modbus-limit`` (on the charger): the register is written and
read back, but the power stage never gets the limit.
"""

from __future__ import annotations

import logging
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from instruments.drivers.modbus_lem import LemRegisterMap, Register
from instruments.twins.modbus_server import ModbusTwin
from testbench.sim.plant import Plant, PowerStage

log = logging.getLogger("testbench.sim")

CAP_SOURCE = "modbus-lem"
"""Name of the LEM's cap on a power stage (``PowerStage.caps_a``)."""

IGNORES_LIMIT = "ignores-modbus-limit"


class LemTwin(ModbusTwin):
    """The charger's energy-management Modbus server for one connector."""

    def __init__(self, reg_map: LemRegisterMap, plant: Plant, stage: PowerStage,
                 charger: Any = None, conn: Any = None, word_order: str = "big") -> None:
        self.map = reg_map
        self.plant = plant
        self.stage = stage
        self.charger = charger
        self.conn = conn
        self.word_order = word_order
        self.inputs: dict[int, int] = {}
        self.applied_a: float | None = None
        holding = [r for r in self._registers() if r.kind == "holding"]
        low = min(r.address for r in holding)
        high = max(r.address + r.count for r in holding)
        super().__init__(coil_count=0, holding_start=low, holding_count=high - low,
                         identity={0x00: charger.spec.vendor if charger else "testbench",
                                   0x01: "LEM", 0x02: charger.spec.firmware if charger else "1.0",
                                   0x05: f"{charger.spec.model if charger else 'wallbox'} "
                                         f"energy-management interface",
                                   0x80: f"{stage.spec.id}-{stage.evse_id}"})
        self._write(reg_map.limit, None)

    def _registers(self) -> list[Register]:
        regs = [self.map.limit, *self.map.currents, self.map.power]
        return regs + ([self.map.state] if self.map.state is not None else [])

    # ------------------------------------------------------------------ register store
    def _write(self, register: Register, value: float | None) -> None:
        store = self.holding if register.kind == "holding" else self.inputs
        if value is None:  # the limit register at "no limit"
            raw = self.map.no_limit_raw
            words = [raw] if raw is not None else register.encode(self.map.max_a,
                                                                  self.word_order)
        else:
            words = register.encode(value, self.word_order)
        for n, word in enumerate(words):
            store[register.address + n] = word

    def _refresh(self) -> None:
        sample = self.plant.point_sample(self.stage, "output")
        currents = [p.current_a for p in sample.phases]
        for n, register in enumerate(self.map.currents):
            self._write(register, currents[n] if n < len(currents) else 0.0)
        self._write(self.map.power, sum(p.power_w for p in sample.phases))
        if self.map.state is not None:
            letter = "A"
            if self.charger is not None and self.conn is not None:
                letter = str(self.charger.pilot_state(self.conn))[:1] or "A"
            codes: dict[str, int] = {}
            for raw, state in self.map.state_codes.items():
                codes.setdefault(state, raw)
            self._write(self.map.state, float(codes.get(letter, 0)))

    # ------------------------------------------------------------------ ModbusTwin hooks
    def before_read(self, address: int, count: int) -> None:
        self._refresh()

    def on_write_registers(self, address: int, values: list[int]) -> ExcCodes | None:
        limit = self.map.limit
        if address != limit.address or len(values) != limit.count:
            return ExcCodes.ILLEGAL_ADDRESS
        if self.map.no_limit_raw is not None and limit.count == 1 \
                and values[0] == self.map.no_limit_raw:
            self._apply(None)
            return None
        value = limit.decode(values, self.word_order)
        if value < 0 or (0 < value < self.map.min_a - 1e-6) or value > self.map.max_a + 1e-6:
            return ExcCodes.ILLEGAL_VALUE
        # The map's maximum is the device's own rating: writing it limits nothing.
        self._apply(None if value >= self.map.max_a - 1e-6 else value)
        return None

    def _apply(self, limit_a: float | None) -> None:
        self.applied_a = limit_a
        if self.charger is not None and self.charger.has(IGNORES_LIMIT):
            log.info("%s: LEM limit %s A accepted, not applied (%s)", self.stage.spec.id,
                     limit_a, IGNORES_LIMIT)
            return
        log.info("%s connector %d: LEM limit %s A", self.stage.spec.id,
                 self.stage.connector_id, "none" if limit_a is None else f"{limit_a:g}")
        self.stage.set_cap_a(CAP_SOURCE, limit_a)

    # ------------------------------------------------------------------ input registers
    def _device(self) -> SimDevice:
        device = super()._device()
        inputs = [r for r in self._registers() if r.kind == "input"]
        if not inputs:
            return device
        low = min(r.address for r in inputs)
        high = max(r.address + r.count for r in inputs)
        coils, discrete, holding, _ = device.simdata  # type: ignore[misc]
        input_data = [SimData(low, count=high - low, values=0, datatype=DataType.REGISTERS)]
        return SimDevice(id=0, simdata=(coils, discrete, holding, input_data),  # type: ignore[arg-type]
                         action=self._action)

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], values: list[int] | list[bool] | None
                      ) -> ExcCodes | None:
        if function_code == 4 and self.fault is None:
            self._refresh()
            for a in range(address, address + count):
                registers[a - start_address] = self.inputs.get(a, 0) & 0xFFFF
            return None
        return await super()._action(function_code, start_address, address, count, registers,
                                     values)

    def describe(self) -> dict[str, Any]:
        """The safe-state file's view: the limit the charger holds from the LEM."""
        return {"charger": self.stage.spec.id, "evse": self.stage.evse_id,
                "connector": self.stage.connector_id, "register_map": self.map.name,
                "limit_a": self.applied_a}


# --------------------------------------------------------------------------- hosting
def lem_problem(options: dict[str, object], charger_id: str | None,
                station_chargers: tuple[str, ...]) -> str | None:
    """What is wrong with an ``energy_manager`` entry for the simulated lab (None: fine)."""
    from instruments.drivers.modbus_lem import REGISTER_MAPS

    name = str(options.get("register_map", "testbench"))
    if name not in REGISTER_MAPS:
        return (f"options.register_map = {name!r} is unknown; fix: use one of "
                f"{', '.join(REGISTER_MAPS)}")
    if charger_id is None and len(station_chargers) != 1:
        return ("an energy manager at a station with several chargers must say whose interface "
                'it talks to; fix: add charger = "<id>"')
    return None


def build_lem(options: dict[str, object], charger_id: str, plant: Plant,
              chargers: dict[str, Any] | None) -> LemTwin:
    """The interface twin of ``charger_id`` (connector ``options.evse`` / ``connector``)."""
    from instruments.drivers.modbus_lem import register_map

    evse = int(options.get("evse", 1))  # type: ignore[call-overload]
    number = int(options.get("connector", 1))  # type: ignore[call-overload]
    stage = plant.stage(charger_id, evse, number)
    charger = (chargers or {}).get(charger_id)
    conn = charger.connector(evse, number) if charger is not None else None
    word_order = str(options.get("word_order", "big"))
    return LemTwin(register_map(str(options.get("register_map", "testbench")), options),
                   plant, stage, charger, conn, word_order)
