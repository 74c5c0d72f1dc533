"""Twin of a generic Modbus TCP relay box: coils 0..n-1 switch the relays of a RelayPort.

Coil n closed = relay n closed. The box answers Read Device Identification (FC 43/14).
"""

from __future__ import annotations

from pymodbus.constants import ExcCodes

from instruments.twins.modbus_server import ModbusTwin
from instruments.twins.ports import RelayPort, SimpleRelays


class ModbusRelayTwin(ModbusTwin):
    """A relay box twin serving ``port.channels()`` coils."""

    def __init__(self, port: RelayPort | None = None, serial: str = "RB-0001") -> None:
        self.port: RelayPort = port if port is not None else SimpleRelays()
        super().__init__(
            coil_count=self.port.channels(), holding_start=0, holding_count=16,
            identity={0x00: "testbench", 0x01: "SIM-RELAY", 0x02: "1.0",
                      0x05: f"SIM-RELAY-{self.port.channels()}", 0x80: serial})
        for channel in range(self.port.channels()):
            self.coils[channel] = self.port.relay(channel)

    def before_read_coils(self) -> None:
        for channel in range(self.port.channels()):
            self.coils[channel] = self.port.relay(channel)

    def on_write_coil(self, address: int, on: bool) -> ExcCodes | None:
        if not 0 <= address < self.port.channels():
            return ExcCodes.ILLEGAL_ADDRESS
        self.port.set_relay(address, on)
        return None

    @property
    def energised(self) -> bool:
        """True while any relay is closed."""
        return any(self.port.relay(c) for c in range(self.port.channels()))
