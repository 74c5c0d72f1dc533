"""Driver for a charger's Modbus TCP energy-management interface: the bench plays the local
energy manager (LEM / HEMS) that writes the charger's current limit.

Wall boxes with a Modbus interface expose one writable holding register for the current
limit (in A, 0.1 A or mA depending on the maker) and read-only registers for the actual
current, power and charging state. Which registers, formats and scales a charger uses is a
table here (:data:`REGISTER_MAPS`), picked in lab.toml and overridable register by register::

    [[stations.instruments]]
    name = "lem-voltiq"
    role = "energy_manager"
    driver = "modbus-lem"
    resource = "192.168.10.21:502"
    charger = "voltiq-w22"
    options = { register_map = "heidelberg-energy-control", device_id = 1 }

Options: ``register_map`` (a key of :data:`REGISTER_MAPS`, default ``"testbench"``),
``device_id`` (unit id, default 1), ``word_order`` (``big``/``little``, 32-bit values),
``limit_register`` / ``limit_format`` / ``limit_scale`` (override the limit register),
``release_a`` (what :meth:`ModbusLem.release` writes when the map has no "no limit" value;
default: the charger's max_current_a is not known here, so the map's ``max_a``).

The maps of real devices are from public manuals and integrations and marked (verify): check
them against the manual of the firmware under test before trusting a verdict.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from instruments.contracts import Identity, LemReading, LocalEnergyManager
from instruments.registry import register_driver
from instruments.transports.modbus import (
    ModbusTransport,
    identity_fields,
    is_exception_reply,
    option_int,
    option_word_order,
)
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

RegisterKind = Literal["holding", "input"]
RegisterFormat = Literal["u16", "s16", "u32", "s32", "float32"]
FORMATS: tuple[str, ...] = ("u16", "s16", "u32", "s32", "float32")


@dataclass(frozen=True)
class Register:
    """One value: address, function (holding: FC 3/6/16, input: FC 4), format, scale.

    Engineering value = raw x ``scale`` (e.g. 0.1 for a register in 0.1 A)."""

    address: int
    kind: RegisterKind = "holding"
    fmt: RegisterFormat = "u16"
    scale: float = 1.0

    @property
    def count(self) -> int:
        """Registers the value occupies."""
        return 2 if self.fmt in ("u32", "s32", "float32") else 1

    def encode(self, value: float, word_order: str = "big") -> list[int]:
        """Raw registers for an engineering ``value`` (rounded to the register's step)."""
        raw = value / self.scale
        if self.fmt == "float32":
            data = struct.pack(">f", raw)
        elif self.fmt == "u32":
            data = struct.pack(">I", max(0, min(0xFFFFFFFF, round(raw))))
        elif self.fmt == "s32":
            data = struct.pack(">i", max(-0x80000000, min(0x7FFFFFFF, round(raw))))
        elif self.fmt == "s16":
            data = struct.pack(">h", max(-0x8000, min(0x7FFF, round(raw))))
        else:
            data = struct.pack(">H", max(0, min(0xFFFF, round(raw))))
        words = [int.from_bytes(data[n:n + 2], "big") for n in range(0, len(data), 2)]
        return words[::-1] if word_order == "little" and len(words) == 2 else words

    def decode(self, words: list[int], word_order: str = "big") -> float:
        """The engineering value of raw registers."""
        words = list(words[:self.count])
        if word_order == "little" and len(words) == 2:
            words = words[::-1]
        data = b"".join(int(w & 0xFFFF).to_bytes(2, "big") for w in words)
        code = {"float32": ">f", "u32": ">I", "s32": ">i", "s16": ">h", "u16": ">H"}[self.fmt]
        return float(struct.unpack(code, data)[0]) * self.scale

    def raw_of(self, value: float) -> int:
        """The integer raw value of ``value`` (formats of one register)."""
        return round(value / self.scale)


@dataclass(frozen=True)
class LemRegisterMap:
    """A charger family's energy-management registers.

    ``limit`` is the writable current limit (A per phase after scaling); ``no_limit_raw``
    the raw value meaning "no limit from the LEM" (None: release writes ``max_a``);
    ``min_a``/``max_a`` the range the charger accepts besides 0 (0 pauses charging);
    ``currents`` the actual current of L1..L3, ``power`` the actual active power (W),
    ``state`` the charging state with ``state_codes`` raw -> IEC 61851 state letter.
    """

    name: str
    description: str
    limit: Register
    currents: tuple[Register, ...]
    power: Register
    state: Register | None = None
    state_codes: dict[int, str] = field(default_factory=dict)
    no_limit_raw: int | None = None
    min_a: float = 6.0
    max_a: float = 32.0


REGISTER_MAPS: dict[str, LemRegisterMap] = {
    "testbench": LemRegisterMap(
        name="testbench",
        description="the simulated lab's generic map: limit in 0.1 A at holding 1000 "
                    "(0xFFFF = no limit), currents L1-L3 in 0.1 A at input 1002-1004, "
                    "power in W (s32, - discharging) at input 1006, state at input 1010 (1=A ... 6=F)",
        limit=Register(1000, "holding", "u16", 0.1),
        currents=(Register(1002, "input", "u16", 0.1), Register(1003, "input", "u16", 0.1),
                  Register(1004, "input", "u16", 0.1)),
        power=Register(1006, "input", "s32", 1.0),
        state=Register(1010, "input", "u16"),
        state_codes={1: "A", 2: "B", 3: "C", 4: "D", 5: "E", 6: "F"},
        no_limit_raw=0xFFFF, min_a=6.0, max_a=80.0),
    # Heidelberg Energy Control: Modbus RTU (reached over an RTU/TCP gateway), register
    # layout v1.0.7 (verify): 261 max current 0.1 A (0 or 60..160), input 6..8 currents
    # 0.1 A, 14 power W, 5 charging state (2/3 A, 4/5 B, 6/7 C, 9 E, 10 F).
    "heidelberg-energy-control": LemRegisterMap(
        name="heidelberg-energy-control",
        description="Heidelberg Energy Control (verify): limit 0.1 A at holding 261, "
                    "currents at input 6-8 (0.1 A), power at input 14 (W), state at input 5",
        limit=Register(261, "holding", "u16", 0.1),
        currents=(Register(6, "input", "u16", 0.1), Register(7, "input", "u16", 0.1),
                  Register(8, "input", "u16", 0.1)),
        power=Register(14, "input", "u16", 1.0),
        state=Register(5, "input", "u16"),
        state_codes={2: "A", 3: "A", 4: "B", 5: "B", 6: "C", 7: "C", 8: "C", 9: "E",
                     10: "F", 11: "F"},
        min_a=6.0, max_a=16.0),
    # Alfen Eve (NG9xx) "Active load balancing: Modbus slave", socket 1 = unit id 1
    # (verify): 1210 max current float32 A (refresh within the validity time 1208, else the
    # safe current 1212 applies), currents L1-L3 float32 at 320/322/324, real power sum
    # float32 at 344; the Mode 3 state is a string (1201, not read here).
    "alfen-eve": LemRegisterMap(
        name="alfen-eve",
        description="Alfen Eve (verify): limit float32 A at holding 1210, currents float32 at "
                    "320/322/324, power float32 at 344",
        limit=Register(1210, "holding", "float32", 1.0),
        currents=(Register(320, "holding", "float32"), Register(322, "holding", "float32"),
                  Register(324, "holding", "float32")),
        power=Register(344, "holding", "float32"),
        min_a=6.0, max_a=32.0),
}
"""Register maps by name (lab.toml ``options.register_map``)."""


def register_map(name: str, options: dict[str, object] | None = None,
                 instrument: str = "energy manager") -> LemRegisterMap:
    """The map ``name`` with the limit-register overrides of ``options`` applied."""
    base = REGISTER_MAPS.get(name)
    if base is None:
        raise InstrumentError(instrument, "option register_map", repr(name),
                              f"unknown register map; use one of {', '.join(REGISTER_MAPS)} "
                              "(instruments/drivers/modbus_lem.py) or add the device's map there")
    options = options or {}
    limit = base.limit
    if "limit_register" in options:
        limit = replace(limit, address=option_int(instrument, options, "limit_register", 0))
    if "limit_format" in options:
        fmt = str(options["limit_format"])
        if fmt not in FORMATS:
            raise InstrumentError(instrument, "option limit_format", repr(fmt),
                                  f"use one of {', '.join(FORMATS)}")
        limit = replace(limit, fmt=fmt)  # type: ignore[arg-type]
    if "limit_scale" in options:
        scale = options["limit_scale"]
        if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
            raise InstrumentError(instrument, "option limit_scale", repr(scale),
                                  "limit_scale must be a positive number (e.g. 0.1 for 0.1 A)")
        limit = replace(limit, scale=float(scale))
    return replace(base, limit=limit) if limit != base.limit else base


@register_driver("modbus-lem")
class ModbusLem(LocalEnergyManager):
    """The bench as local energy manager of one charger over Modbus TCP."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits, *,
                 client: Any | None = None) -> None:
        self.name = spec.name
        self.limits = limits
        options = dict(spec.options)
        self.map = register_map(str(options.get("register_map", "testbench")), options,
                                spec.name)
        self._word_order = option_word_order(spec.name, options)
        release = options.get("release_a", self.map.max_a)
        if isinstance(release, bool) or not isinstance(release, int | float) or release < 0:
            raise InstrumentError(spec.name, "option release_a", repr(release),
                                  "release_a must be a current in A >= 0")
        self._release_a = float(release)
        self._mb = ModbusTransport(spec.name, spec.resource, timeout_s=spec.timeout_s,
                                   device_id=option_int(spec.name, options, "device_id", 1),
                                   word_order=self._word_order, client=client)

    # ------------------------------------------------------------------ registers
    def _read(self, register: Register) -> float:
        if register.kind == "input":
            words = self._mb.read_input(register.address, register.count)
        else:
            words = self._mb.read_holding(register.address, register.count)
        return register.decode(words, self._word_order)

    def _write_raw(self, register: Register, words: list[int]) -> None:
        if register.kind != "holding":
            raise InstrumentError(self.name, f"write {register.address}", None,
                                  "the limit must be a holding register; fix the register map")
        if len(words) == 1:
            self._mb.write_register(register.address, words[0])
        else:
            self._mb.write_registers(register.address, words)

    # ------------------------------------------------------------------ contract
    def identify(self) -> Identity:
        """Read Device Identification; chargers without it: prove the map by reading it."""
        try:
            return Identity(*identity_fields(self._mb.read_device_identification()))
        except InstrumentError as exc:
            if not is_exception_reply(exc):
                raise
        self._read(self.map.limit)
        return Identity("unknown", f"Modbus LEM interface ({self.map.name})", "unknown",
                        "unknown")

    def set_current_limit_a(self, limit_a: float) -> None:
        """Write the current limit (A per phase); 0 pauses charging. Checked against the
        map's range and the station's current limit before anything is sent."""
        command = f"write limit {self.map.limit.address}"
        if not math.isfinite(limit_a) or limit_a < 0:
            raise InstrumentError(self.name, command, None,
                                  f"limit {limit_a!r} A is not a current >= 0; nothing sent")
        if limit_a > self.limits.max_current_a:
            raise InstrumentError(self.name, command, None,
                                  f"limit {limit_a:g} A exceeds the station's max_current_a "
                                  f"{self.limits.max_current_a:g} A; nothing sent")
        if 0 < limit_a < self.map.min_a or limit_a > self.map.max_a:
            raise InstrumentError(self.name, command, None,
                                  f"limit {limit_a:g} A is outside what a {self.map.name} "
                                  f"accepts (0 or {self.map.min_a:g}..{self.map.max_a:g} A); "
                                  "nothing sent")
        self._write_raw(self.map.limit, self.map.limit.encode(limit_a, self._word_order))

    def read_current_limit_a(self) -> float | None:
        """The limit the charger holds (None: the map's "no limit" value; maps without one
        read back what :meth:`release` wrote)."""
        register = self.map.limit
        words = (self._mb.read_holding(register.address, register.count))
        if (self.map.no_limit_raw is not None and register.count == 1
                and words[0] == self.map.no_limit_raw):
            return None
        return round(register.decode(words, self._word_order), 3)

    def release(self) -> None:
        """Take the LEM's limit away (the map's "no limit" value, else ``release_a``)."""
        register = self.map.limit
        if self.map.no_limit_raw is not None and register.count == 1:
            self._write_raw(register, [self.map.no_limit_raw])
        else:
            self._write_raw(register, register.encode(self._release_a, self._word_order))

    def read(self) -> LemReading:
        """Actual current per phase, power and charging state as the charger reports them."""
        currents = tuple(round(self._read(r), 3) for r in self.map.currents)
        power = round(self._read(self.map.power), 1)
        state = None
        if self.map.state is not None:
            raw = int(self._read(self.map.state))
            state = self.map.state_codes.get(raw, f"?{raw}")
        return LemReading(currents, power, state)

    def close(self) -> None:
        self._mb.close()
