"""Driver for a generic Modbus TCP relay box: relay n is coil ``first_coil + n``.

Options (lab.toml): ``channels`` (default 8), ``first_coil`` (default 0), ``device_id``
(unit id, default 1), ``maker`` / ``model`` (shown when the box has no Read Device
Identification).
"""

from __future__ import annotations

from typing import Any

from instruments.contracts import Identity, RelayBox
from instruments.registry import register_driver
from instruments.transports.modbus import (
    ModbusTransport,
    identity_fields,
    is_exception_reply,
    option_int,
)
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits


@register_driver("modbus-relay")
class ModbusRelayBox(RelayBox):
    """Relays (contactors, plug connect) switched by Modbus coils."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits, *,
                 client: Any | None = None) -> None:
        self.name = spec.name
        self.limits = limits
        options = dict(spec.options)
        self._channels = option_int(spec.name, options, "channels", 8)
        self._first = option_int(spec.name, options, "first_coil", 0)
        self._maker = str(options.get("maker", "generic"))
        self._model = str(options.get("model", "Modbus TCP relay box"))
        if self._channels < 1:
            raise InstrumentError(spec.name, "option channels", repr(self._channels),
                                  "a relay box needs at least one channel")
        self._mb = ModbusTransport(spec.name, spec.resource, timeout_s=spec.timeout_s,
                                   device_id=option_int(spec.name, options, "device_id", 1),
                                   client=client)

    def identify(self) -> Identity:
        """Read Device Identification (FC 43/14); boxes without it: read the coils."""
        try:
            return Identity(*identity_fields(self._mb.read_device_identification()))
        except InstrumentError as exc:
            if not is_exception_reply(exc):
                raise
        self._mb.read_coils(self._first, self._channels)
        return Identity(self._maker, self._model, "unknown", "unknown")

    def _check(self, channel: int, command: str) -> None:
        if not 0 <= channel < self._channels:
            raise InstrumentError(self.name, command, None,
                                  f"relay channel {channel} does not exist (0..{self._channels - 1})")

    def set_relay(self, channel: int, closed: bool) -> None:
        self._check(channel, f"write_coil {self._first + channel}")
        self._mb.write_coil(self._first + channel, closed)

    def relay(self, channel: int) -> bool:
        self._check(channel, f"read_coils {self._first + channel} x1")
        return self._mb.read_coils(self._first + channel, 1)[0]

    def channels(self) -> int:
        return self._channels

    def safe_state(self) -> None:
        """Open every relay, then read the coils back to prove it."""
        for channel in range(self._channels):
            self._mb.write_coil(self._first + channel, False)
        states = self._mb.read_coils(self._first, self._channels)
        closed = [n for n, on in enumerate(states) if on]
        if closed:
            raise InstrumentError(self.name, f"read_coils {self._first} x{self._channels}",
                                  repr(states), f"relays {closed} still closed after opening")

    def close(self) -> None:
        self._mb.close()
