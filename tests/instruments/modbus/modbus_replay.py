"""Command/response replay for Modbus drivers: a fake pymodbus client with a script.

Each step is ``(method, args, reply)``: the driver must call ``method(*args,
device_id=1)`` next, and gets ``reply`` (a real pymodbus PDU, or an exception to raise).
"""

from __future__ import annotations

from typing import Any

from pymodbus.pdu import ExceptionResponse
from pymodbus.pdu.bit_message import ReadCoilsResponse, WriteSingleCoilResponse
from pymodbus.pdu.mei_message import ReadDeviceInformationResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterResponse,
)

Step = tuple[str, tuple[Any, ...], Any]


def regs(*values: int) -> ReadHoldingRegistersResponse:
    return ReadHoldingRegistersResponse(registers=list(values))


def coils(*values: bool) -> ReadCoilsResponse:
    return ReadCoilsResponse(bits=list(values))


def ok_register() -> WriteSingleRegisterResponse:
    return WriteSingleRegisterResponse()


def ok_registers() -> WriteMultipleRegistersResponse:
    return WriteMultipleRegistersResponse()


def ok_coil() -> WriteSingleCoilResponse:
    return WriteSingleCoilResponse()


def device_info(info: dict[int, bytes]) -> ReadDeviceInformationResponse:
    return ReadDeviceInformationResponse(read_code=3, information=info)


def exception(function_code: int, code: int) -> ExceptionResponse:
    return ExceptionResponse(function_code, code)


class ReplayClient:
    """Plays the instrument's side of a recorded dialogue; fails on any other call."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = list(steps)
        self.closed = False

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        assert kwargs.pop("device_id", None) == 1, f"{method}: unit id must be 1"
        for key in ("count", "read_code", "object_id"):
            if key in kwargs:
                args = (*args, kwargs.pop(key))
        assert not kwargs, f"unexpected keyword arguments {kwargs}"
        assert self.steps, f"unexpected request {method}{args}: the script is finished"
        want_method, want_args, reply = self.steps.pop(0)
        assert (method, args) == (want_method, want_args), \
            f"expected {want_method}{want_args}, got {method}{args}"
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._call(method, *args, **kwargs)

    def close(self) -> None:
        self.closed = True

    def assert_done(self) -> None:
        assert not self.steps, f"requests not made: {self.steps}"
