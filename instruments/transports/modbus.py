"""Modbus TCP over pymodbus (sync client): register and coil access with error mapping.

Every failure becomes an :class:`InstrumentError` naming the instrument, the command (e.g.
``write_register 500``) and the reply (an exception response, a short or odd reply), so a
broken instrument is reported as a bench error, never as a device failure.

Resources are ``host``, ``host:port`` or ``modbus-tcp://host:port`` (port 502 by default).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any, Literal

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from testbench.errors import InstrumentError

DEFAULT_PORT = 502

EXCEPTION_NAMES: dict[int, str] = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}

# Basic/regular object ids of Read Device Identification (FC 43 / MEI 14).
OBJ_VENDOR_NAME = 0x00
OBJ_PRODUCT_CODE = 0x01
OBJ_REVISION = 0x02
OBJ_PRODUCT_NAME = 0x04
OBJ_MODEL_NAME = 0x05
OBJ_SERIAL = 0x80  # first private object; testbench twins put the serial number there

WordOrder = Literal["big", "little"]


class _ConnectionLost(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_resource(resource: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``modbus-tcp://host:port`` -> (host, port)."""
    text = resource.strip()
    for prefix in ("modbus-tcp://", "modbus://", "tcp://"):
        text = text.removeprefix(prefix)
    text = text.rstrip("/")
    if not text:
        raise ValueError(f"empty Modbus resource {resource!r}")
    if text.startswith("["):  # [ipv6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest.lstrip(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"Modbus resource {resource!r}: port {port_text!r} is not a number") \
            from None
    return host, port


def is_exception_reply(error: InstrumentError) -> bool:
    """True when ``error`` came from a Modbus exception response (the device answered)."""
    return (error.reply or "").startswith("exception ")


def exception_text(code: int) -> str:
    """``exception 2 (illegal data address)``."""
    return f"exception {code} ({EXCEPTION_NAMES.get(code, 'unknown code')})"


class ModbusTransport:
    """A Modbus TCP session to one instrument; thread-safe (one request at a time).

    ``client`` may be given for replay tests: any object with pymodbus' sync client
    methods (``read_holding_registers``, ``write_register``, ...) returning PDUs.
    """

    def __init__(self, instrument: str, resource: str, timeout_s: float = 5.0,
                 device_id: int = 1, word_order: WordOrder = "big",
                 client: Any | None = None) -> None:
        self.instrument = instrument
        self.resource = resource
        self.timeout_s = timeout_s
        self.device_id = device_id
        self.word_order: WordOrder = word_order
        self._lock = threading.Lock()
        self._received = bytearray()
        if client is not None:
            self._client = client
            return
        try:
            host, port = parse_resource(resource)
        except ValueError as exc:
            raise InstrumentError(instrument, f"open {resource}", None,
                                  f"{exc}; write it as host:port in lab.toml") from None
        self._client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0,
                                       reconnect_delay=0.0, trace_packet=self._trace)
        try:
            connected = self._client.connect()
        except Exception as exc:  # noqa: BLE001 - pymodbus raises several kinds
            connected, why = False, str(exc)
        else:
            why = "connection refused or timed out"
        if not connected:
            self._client.close()
            raise InstrumentError(
                instrument, f"open {resource}", None,
                f"cannot connect to Modbus TCP {host}:{port} ({why}). Check that the "
                "instrument is powered, reachable, and that the resource in lab.toml is right")

    # ------------------------------------------------------------------ core
    def _reconnect(self) -> None:
        with contextlib.suppress(Exception):  # the resend reports the failure
            self._client.close()
            self._client.connect()

    def _request(self, command: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(*args, device_id=self.device_id, **kwargs)
        except ModbusIOException as exc:
            if self._received:
                raise InstrumentError(
                    self.instrument, command, repr(bytes(self._received[:48])),
                    "reply is not a valid Modbus TCP frame for this request (garbage on "
                    "the line)") from exc
            text = str(exc)
            if "timeout" in text.lower() or "no response" in text.lower():
                raise InstrumentError(self.instrument, command, None,
                                      f"no reply within {self.timeout_s:g} s") from exc
            raise InstrumentError(self.instrument, command, None, f"I/O error: {text}") from exc
        except (ConnectionException, OSError) as exc:
            raise _ConnectionLost(str(exc)) from exc
        except ModbusException as exc:
            raise InstrumentError(self.instrument, command, None, f"Modbus error: {exc}") from exc
        except Exception as exc:
            raise InstrumentError(self.instrument, command, None,
                                  f"request failed: {exc}") from exc

    def _trace(self, sending: bool, data: bytes) -> bytes:
        """Keep the raw bytes received for the current request (to show garbage replies)."""
        if sending:
            self._received.clear()
        elif len(self._received) < 256:
            self._received.extend(data)
        return data

    def _call(self, command: str, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                reply = self._request(command, method, *args, **kwargs)
            except _ConnectionLost as lost:
                # The peer closed the connection since the last request (instrument
                # restarted, network blip): reconnect once and resend.
                self._reconnect()
                try:
                    reply = self._request(command, method, *args, **kwargs)
                except _ConnectionLost as again:
                    raise InstrumentError(self.instrument, command, None,
                                          f"connection lost: {again.reason}") from lost
        if reply is None:
            raise InstrumentError(self.instrument, command, None,
                                  f"no reply within {self.timeout_s:g} s")
        is_error = getattr(reply, "isError", None)
        if callable(is_error) and is_error():
            code = int(getattr(reply, "exception_code", 0) or 0)
            raise InstrumentError(self.instrument, command, exception_text(code),
                                  "the instrument refused the request (Modbus exception "
                                  "response); check the register map and the device state")
        return reply

    def _registers(self, command: str, reply: Any, count: int) -> list[int]:
        registers = list(getattr(reply, "registers", None) or [])
        if len(registers) < count or any(not 0 <= r <= 0xFFFF for r in registers):
            raise InstrumentError(self.instrument, command, repr(registers),
                                  f"expected {count} 16-bit registers (garbage reply)")
        return registers[:count]

    def _bits(self, command: str, reply: Any, count: int) -> list[bool]:
        bits = list(getattr(reply, "bits", None) or [])
        if len(bits) < count:
            raise InstrumentError(self.instrument, command, repr(bits),
                                  f"expected {count} coil states (garbage reply)")
        return [bool(b) for b in bits[:count]]

    # ------------------------------------------------------------------ registers
    def read_holding(self, address: int, count: int = 1) -> list[int]:
        """Read ``count`` holding registers (FC 3)."""
        command = f"read_holding_registers {address} x{count}"
        reply = self._call(command, "read_holding_registers", address, count=count)
        return self._registers(command, reply, count)

    def read_input(self, address: int, count: int = 1) -> list[int]:
        """Read ``count`` input registers (FC 4)."""
        command = f"read_input_registers {address} x{count}"
        reply = self._call(command, "read_input_registers", address, count=count)
        return self._registers(command, reply, count)

    def write_register(self, address: int, value: int) -> None:
        """Write one holding register (FC 6)."""
        if not 0 <= value <= 0xFFFF:
            raise InstrumentError(self.instrument, f"write_register {address}", None,
                                  f"value {value} does not fit a 16-bit register; nothing sent")
        self._call(f"write_register {address}", "write_register", address, value)

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Write consecutive holding registers (FC 16)."""
        self._call(f"write_registers {address} x{len(values)}", "write_registers", address,
                   list(values))

    def read_float32(self, address: int, count: int = 1) -> list[float]:
        """Read ``count`` IEEE-754 float32 values, two registers each."""
        registers = self.read_holding(address, 2 * count)
        values = ModbusTcpClient.convert_from_registers(
            registers, ModbusTcpClient.DATATYPE.FLOAT32, word_order=self.word_order)
        return [float(v) for v in (values if isinstance(values, list) else [values])]

    def write_float32(self, address: int, value: float) -> None:
        """Write one float32 over two registers (FC 16)."""
        registers = ModbusTcpClient.convert_to_registers(
            float(value), ModbusTcpClient.DATATYPE.FLOAT32, word_order=self.word_order)
        self._call(f"write_registers {address} x2", "write_registers", address, registers)

    def read_uint32(self, address: int) -> int:
        """Read one unsigned 32-bit value over two registers."""
        registers = self.read_holding(address, 2)
        return int(ModbusTcpClient.convert_from_registers(
            registers, ModbusTcpClient.DATATYPE.UINT32, word_order=self.word_order))

    def write_uint32(self, address: int, value: int) -> None:
        """Write one unsigned 32-bit value over two registers (FC 16)."""
        registers = ModbusTcpClient.convert_to_registers(
            int(value), ModbusTcpClient.DATATYPE.UINT32, word_order=self.word_order)
        self._call(f"write_registers {address} x2", "write_registers", address, registers)

    def read_string(self, address: int, count: int) -> str:
        """Read an ASCII string packed two characters per register (NULs stripped)."""
        registers = self.read_holding(address, count)
        raw = b"".join(r.to_bytes(2, "big") for r in registers)
        return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()

    # ------------------------------------------------------------------ coils
    def read_coils(self, address: int, count: int = 1) -> list[bool]:
        """Read ``count`` coils (FC 1)."""
        command = f"read_coils {address} x{count}"
        reply = self._call(command, "read_coils", address, count=count)
        return self._bits(command, reply, count)

    def write_coil(self, address: int, on: bool) -> None:
        """Write one coil (FC 5)."""
        self._call(f"write_coil {address}", "write_coil", address, bool(on))

    # ------------------------------------------------------------------ identification
    def read_device_identification(self, read_code: int = 0x03) -> dict[int, str]:
        """Read Device Identification (FC 43 / MEI 14): object id -> text.

        ``read_code`` 3 (extended) also returns the private objects (0x80..), where
        testbench twins put the serial number; 1 is basic, 2 regular.
        """
        command = "read_device_information (FC 43/14)"
        reply = self._call(command, "read_device_information", read_code=read_code, object_id=0)
        info = getattr(reply, "information", None)
        if not isinstance(info, dict) or OBJ_VENDOR_NAME not in info:
            raise InstrumentError(self.instrument, command, repr(info),
                                  "no vendor name in the device identification (garbage reply)")
        out: dict[int, str] = {}
        for key, value in info.items():
            if isinstance(value, list):
                value = value[0] if value else b""
            out[int(key)] = (value.decode("ascii", errors="replace")
                             if isinstance(value, bytes) else str(value))
        return out

    def close(self) -> None:
        with self._lock, contextlib.suppress(Exception):  # closing a dead session is fine
            self._client.close()


def identity_fields(info: dict[int, str]) -> tuple[str, str, str, str]:
    """(maker, model, serial, firmware) from Read Device Identification objects."""
    maker = info.get(OBJ_VENDOR_NAME, "").strip() or "unknown"
    model = (info.get(OBJ_MODEL_NAME) or info.get(OBJ_PRODUCT_NAME)
             or info.get(OBJ_PRODUCT_CODE) or "unknown").strip()
    serial = info.get(OBJ_SERIAL, "").strip() or "unknown"
    firmware = info.get(OBJ_REVISION, "").strip() or "unknown"
    return maker, model, serial, firmware


def option_int(instrument: str, options: dict[str, object], key: str, default: int) -> int:
    """An integer option from lab.toml (InstrumentError naming the key if it is not one)."""
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InstrumentError(instrument, f"option {key}", repr(value),
                              f"option {key!r} must be an integer (lab.toml options)")
    try:
        return int(value, 0) if isinstance(value, str) else int(value)
    except ValueError:
        raise InstrumentError(instrument, f"option {key}", repr(value),
                              f"option {key!r} must be an integer (lab.toml options)") from None


def option_word_order(instrument: str, options: dict[str, object]) -> WordOrder:
    """The ``word_order`` option: ``big`` (high word first, default) or ``little``."""
    value = str(options.get("word_order", "big"))
    if value not in ("big", "little"):
        raise InstrumentError(instrument, "option word_order", repr(value),
                              "option 'word_order' must be 'big' or 'little'")
    return value  # type: ignore[return-value]
