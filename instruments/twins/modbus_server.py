"""A Modbus TCP twin server on pymodbus: register map, read/write hooks, fault injection.

Subclasses declare their coils and holding registers and react to requests:

* ``before_read(address, count)`` refreshes ``self.holding`` (measurements) before a read;
* ``on_write_registers(address, values)`` / ``on_write_coil(address, on)`` drive the port
  and may refuse a write by returning a :class:`pymodbus.constants.ExcCodes` (the client
  then gets a Modbus exception response).

Faults (``set_fault``): ``"silent"`` (requests are neither executed nor answered),
``"garbage"`` (replies are replaced by bytes that are not a Modbus reply), ``"disconnect"``
(open connections are closed and new requests drop the connection), ``"exception"`` (every
request is answered with exception 4, server device failure, and not executed). ``None``
clears.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.device import DeviceInformationFactory, ModbusDeviceIdentification
from pymodbus.pdu.mei_message import (
    ReadDeviceInformationRequest,
    ReadDeviceInformationResponse,
)
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

log = logging.getLogger("testbench.sim.modbus")

FAULTS = ("silent", "garbage", "disconnect", "exception")
_COIL_FCS = {1, 5, 15}
_REGISTER_FCS = {3, 6, 16}
GARBAGE = b"\xde\xad\xbe\xef garbage \xff\x00"


class ModbusTwin:
    """Base of Modbus TCP instrument twins (one device, any unit id)."""

    def __init__(self, *, coil_count: int, holding_start: int, holding_count: int,
                 identity: dict[int, str] | None = None) -> None:
        self.coils: dict[int, bool] = {n: False for n in range(coil_count)}
        self.holding: dict[int, int] = {}
        self.fault: str | None = None
        self.requests = 0
        self.last_request_s = time.monotonic()  # when a request last arrived (watchdog.py)
        self._identity = identity
        self._identity_object = 0
        self._coil_count = coil_count
        self._holding = (holding_start, holding_count)
        self._server: ModbusTcpServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.host = "127.0.0.1"
        self.tcp_port = 0

    # ------------------------------------------------------------------ subclass hooks
    def before_read(self, address: int, count: int) -> None:
        """Refresh ``self.holding`` for a read of ``count`` registers at ``address``."""

    def before_read_coils(self) -> None:
        """Refresh ``self.coils`` before a coil read."""

    def on_write_registers(self, address: int, values: list[int]) -> ExcCodes | None:
        """Apply a register write (already stored in ``self.holding``); return a code to refuse."""
        return None

    def on_write_coil(self, address: int, on: bool) -> ExcCodes | None:
        """Apply a coil write; return a code to refuse."""
        return None

    # ------------------------------------------------------------------ helpers
    def set_uint32(self, address: int, value: int, word_order: str = "big") -> None:
        regs = _to_registers(int(value), "I", word_order)
        self.holding[address], self.holding[address + 1] = regs

    def set_float32(self, address: int, value: float, word_order: str = "big") -> None:
        regs = _to_registers(float(value), "f", word_order)
        self.holding[address], self.holding[address + 1] = regs

    def get_float32(self, address: int, word_order: str = "big") -> float:
        return float(_from_registers([self.holding.get(address, 0),
                                      self.holding.get(address + 1, 0)], "f", word_order))

    def get_uint32(self, address: int, word_order: str = "big") -> int:
        return int(_from_registers([self.holding.get(address, 0),
                                    self.holding.get(address + 1, 0)], "I", word_order))

    def set_string(self, address: int, count: int, text: str) -> None:
        raw = text.encode("ascii")[: 2 * count].ljust(2 * count, b"\x00")
        for n in range(count):
            self.holding[address + n] = int.from_bytes(raw[2 * n: 2 * n + 2], "big")

    # ------------------------------------------------------------------ faults
    def set_fault(self, fault: str | None) -> None:
        """Switch a fault on (``silent``, ``garbage``, ``disconnect``) or off (None)."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown Modbus twin fault {fault!r}; known: {', '.join(FAULTS)}")
        self.fault = fault
        if fault == "disconnect" and self._loop is not None:
            self._loop.call_soon_threadsafe(self._drop_connections)

    def _drop_connections(self) -> None:
        if self._server is None:
            return
        for connection in list(self._server.active_connections.values()):
            connection.close()

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self.last_request_s = time.monotonic()
        if self.fault == "disconnect":
            if self._loop is not None:
                self._loop.call_soon(self._drop_connections)
            return b"" if sending else data
        if sending and self.fault == "silent":
            return b""
        if sending and self.fault == "garbage":
            return GARBAGE
        return data

    # ------------------------------------------------------------------ pymodbus action
    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], values: list[int] | list[bool] | None
                      ) -> ExcCodes | None:
        if self.fault in ("silent", "disconnect"):
            return ExcCodes.DEVICE_BUSY  # nothing executed; the reply is dropped anyway
        if self.fault == "exception":
            return ExcCodes.DEVICE_FAILURE
        if function_code in _COIL_FCS:
            return self._coil_action(start_address, address, registers, values)
        if function_code in _REGISTER_FCS:
            return self._register_action(start_address, address, count, registers, values)
        return None

    def _coil_action(self, start_address: int, address: int, registers: list[int],
                     values: list[int] | list[bool] | None) -> ExcCodes | None:
        if values is not None:
            self.requests += 1
            for n, value in enumerate(values):
                if address + n not in self.coils:
                    return ExcCodes.ILLEGAL_ADDRESS
                code = self.on_write_coil(address + n, bool(value))
                if code is not None:
                    return code
                self.coils[address + n] = bool(value)
            return None
        self.before_read_coils()
        bits = SimUtils.registersToBits(registers)
        base = start_address * 16
        for coil, state in self.coils.items():
            if 0 <= coil - base < len(bits):
                bits[coil - base] = state
        registers[:] = SimUtils.bitsToRegisters(bits)[: len(registers)]
        return None

    def _register_action(self, start_address: int, address: int, count: int,
                         registers: list[int], values: list[int] | list[bool] | None
                         ) -> ExcCodes | None:
        if values is not None:
            self.requests += 1
            old = {a: self.holding.get(a, 0) for a in range(address, address + len(values))}
            for n, value in enumerate(values):
                self.holding[address + n] = int(value)
            code = self.on_write_registers(address, [int(v) for v in values])
            if code is not None:
                self.holding.update(old)
            return code
        self.before_read(address, count)
        for a in range(address, address + count):
            registers[a - start_address] = self.holding.get(a, 0) & 0xFFFF
        return None

    # ------------------------------------------------------------------ lifecycle
    def _device(self) -> SimDevice:
        start, count = self._holding
        coils = [SimData(0, count=max(16, self._coil_count), values=False,
                         datatype=DataType.BITS)]
        discrete = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        holding = [SimData(start, count=count, values=0, datatype=DataType.REGISTERS)]
        inputs = [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)]
        return SimDevice(id=0, simdata=(coils, discrete, holding, inputs), action=self._action)

    def _identification(self) -> ModbusDeviceIdentification | None:
        if self._identity is None:
            return None
        return ModbusDeviceIdentification(info=dict(self._identity))

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        """Answer Read Device Identification with this twin's identity.

        pymodbus keeps the identity in a process-wide singleton (``ModbusControlBlock``):
        with several twins in one process every one would answer with the last identity.
        """
        if not sending and isinstance(pdu, ReadDeviceInformationRequest):
            self._identity_object = pdu.object_id
        identity = self._identification()
        if sending and identity is not None and isinstance(pdu, ReadDeviceInformationResponse):
            pdu.information = DeviceInformationFactory.get(
                _OwnIdentity(identity), pdu.read_code, self._identity_object)
        return pdu

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the bound port."""
        self._loop = asyncio.get_running_loop()
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        self._server = ModbusTcpServer([self._device()], address=(host, port),
                                       identity=self._identification(),
                                       trace_packet=self._trace_packet,
                                       trace_pdu=self._trace_pdu)
        await self._server.serve_forever(background=True)
        self.host = host
        self.tcp_port = int(self._server.transport.sockets[0].getsockname()[1])
        log.info("%s listening on %s:%d", type(self).__name__, host, self.tcp_port)
        return self.tcp_port

    @property
    def resource(self) -> str:
        """The resource string a driver uses to reach this twin (``host:port``)."""
        return f"{self.host}:{self.tcp_port}"

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._server is not None:
            self._drop_connections()
            await self._server.shutdown()
            self._server = None


class _OwnIdentity:
    """What ``DeviceInformationFactory`` reads from a control block: just the identity."""

    def __init__(self, identity: ModbusDeviceIdentification) -> None:
        self.Identity = identity


_KINDS = {"f": ModbusTcpClient.DATATYPE.FLOAT32, "I": ModbusTcpClient.DATATYPE.UINT32}


def _to_registers(value: float, kind: str, word_order: str) -> list[int]:
    """Encode a 32-bit value into two registers (pymodbus' own converter)."""
    return list(ModbusTcpClient.convert_to_registers(value, _KINDS[kind],
                                                     word_order=word_order))  # type: ignore[arg-type]


def _from_registers(registers: Iterable[int], kind: str, word_order: str) -> float | int:
    return ModbusTcpClient.convert_from_registers(list(registers), _KINDS[kind],
                                                  word_order=word_order)  # type: ignore[arg-type,return-value]
