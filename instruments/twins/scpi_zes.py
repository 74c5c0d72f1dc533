"""Twin of a ZES Zimmer LMG600/LMG670 power analyser (short command language).

The instrument starts in its SCPI language; ``*ZLANG SHORT`` switches to the ZES "short"
language the driver uses (``*ZLANG SCPI`` back). Every ``CYCL`` seconds a measuring cycle
ends and the values of the point are latched.

Short language served (case insensitive, channel suffix ``n`` = 1..channels):

    FRMT ASCii|PACKed (PACKed refused: ASCII only), CYCL <s> (0.01..60) (?),
    UAUTOn 0|1, IAUTOn 0|1, URNGn <V>, IRNGn <A>,
    INIM                 latch the values of the last completed cycle for this line
    ACTN                 wait for the end of the next cycle, then latch (verify)
    UTRMSn? ITRMSn? Pn? Sn? Qn? PFn? FCYCn? UDCn? IDCn?   -> NR3; queries of one line are
                         joined with ';'; PF with S = 0 is NaN
    ERRALL? (verify), ERR?, GTL
SCPI language served: ``SYSTem:ERRor[:NEXT]?``, ``SYSTem:ERRor:ALL?``, ``*ZLANG``. In the
short language the SCPI headers are undefined (-113) and vice versa.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from instruments.twins.ports import MeasuredPoint, PointSample
from instruments.twins.scpi_server import Call, Handler, ScpiError, ScpiTwin, nr3

CYCLE_MIN_S = 0.01
CYCLE_MAX_S = 60.0


class ZesLmgTwin(ScpiTwin):
    """An LMG600-family analyser with ``channels`` power channels measuring ``point``."""

    def __init__(self, point: MeasuredPoint, *, model: str = "LMG670",
                 serial: str = "12345", firmware: str = "4.101", channels: int = 3,
                 cycle_s: float = 0.5) -> None:
        super().__init__(f"ZES ZIMMER Electronic Systems GmbH,{model},{serial},{firmware}",
                         error_queries=())
        self.point = point
        self.channels = channels
        self.default_cycle_s = cycle_s
        self.cycles = 0
        self._cycle_done = asyncio.Event()
        self._cycle_changed = asyncio.Event()
        self.reset()
        c = self.command
        c("*ZLANG", self._zlang, 1)
        c("*ZLANG?", lambda _call: self.language)
        c("SYSTem:ERRor[:NEXT]?", self._scpi(lambda _call: self.pop_error()))
        c("SYSTem:ERRor:ALL?", self._scpi(lambda _call: self.pop_all_errors()))
        c("FRMT", self._short(self._set_format), 1)
        c("CYCL", self._short(self._set_cycle), 1)
        c("CYCL?", self._short(lambda _call: nr3(self.cycle_s)))
        c("UAUTO#", self._short(self._set_range_flag), 1)
        c("IAUTO#", self._short(self._set_range_flag), 1)
        c("URNG#", self._short(self._set_range), 1)
        c("IRNG#", self._short(self._set_range), 1)
        c("INIM", self._short(self._inim))
        c("ACTN", self._short(self._actn))
        for name in ("UTRMS", "ITRMS", "P", "S", "Q", "PF", "FCYC", "UDC", "IDC"):
            c(f"{name}#?", self._short(self._value_handler(name)))
        c("ERRALL?", self._short(lambda _call: self.pop_all_errors()))  # (verify)
        c("ERR?", self._short(lambda _call: self.pop_error()))
        c("GTL", lambda _call: None)

    def reset(self) -> None:
        self.language = "SCPI"
        self.cycle_s = self.default_cycle_s
        self.ascii = True
        self.autorange: dict[tuple[str, int], bool] = {}
        self.ranges: dict[tuple[str, int], float] = {}
        self._latest: PointSample | None = self.point.sample()
        if hasattr(self, "_cycle_changed"):
            self._cycle_changed.set()

    # ------------------------------------------------------------------ cycles
    async def on_start(self) -> None:
        self.spawn(self._cycle_loop())

    async def _cycle_loop(self) -> None:
        while True:
            self._cycle_changed.clear()
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                async with asyncio.timeout(self.wall_s(self.cycle_s)):
                    await self._cycle_changed.wait()
                continue
            except TimeoutError:
                pass
            self.end_cycle()

    def end_cycle(self) -> None:
        """End one measuring cycle now (normally driven by ``CYCL``)."""
        self._latest = self.point.sample()
        self.cycles += 1
        self._cycle_done.set()
        self._cycle_done = asyncio.Event()

    # ------------------------------------------------------------------ language gates
    def _short(self, handler: Handler) -> Handler:
        def gated(call: Call) -> Any:
            if self.language != "SHORT":
                raise ScpiError(-113)
            return handler(call)
        return gated

    def _scpi(self, handler: Handler) -> Handler:
        def gated(call: Call) -> Any:
            if self.language != "SCPI":
                raise ScpiError(-113)
            return handler(call)
        return gated

    def _zlang(self, call: Call) -> None:
        self.language = call.choice(0, "SHORT", "SCPI")

    # ------------------------------------------------------------------ handlers
    def _set_format(self, call: Call) -> None:
        if call.choice(0, "ASCii", "PACKed") != "ASCII":
            raise ScpiError(-224, "Illegal parameter value (twin supports ASCii only)")

    def _set_cycle(self, call: Call) -> None:
        self.cycle_s = call.number(0, CYCLE_MIN_S, CYCLE_MAX_S)
        self._cycle_changed.set()

    def _channel(self, call: Call) -> int:
        if not 1 <= call.suffix <= self.channels:
            raise ScpiError(-113)
        return call.suffix

    def _set_range_flag(self, call: Call) -> None:
        self.autorange[(call.header[0].upper(), self._channel(call))] = call.boolean()

    def _set_range(self, call: Call) -> None:
        self.ranges[(call.header[0].upper(), self._channel(call))] = call.number(0, 0, 10000)

    def _inim(self, call: Call) -> None:
        call.line_state["latched"] = self._latest

    async def _actn(self, call: Call) -> None:
        await self._cycle_done.wait()
        call.line_state["latched"] = self._latest

    def _value_handler(self, name: str) -> Callable[[Call], str]:
        def handler(call: Call) -> str:
            channel = self._channel(call)
            sample = call.line_state.get("latched") or self._latest
            return nr3(self.value(sample, name, channel), 5)
        return handler

    @staticmethod
    def value(sample: PointSample | None, name: str, channel: int) -> float:
        """One measured value of ``channel`` in ``sample`` (NaN where undefined)."""
        if sample is None:
            return math.nan
        if channel <= len(sample.phases):
            phase = sample.phases[channel - 1]
            u, i, p, q = phase.voltage_v, phase.current_a, phase.power_w, phase.reactive_var
        else:
            u = i = p = q = 0.0
        s = math.hypot(p, q)
        dc = sample.frequency_hz == 0
        return {
            "UTRMS": u, "ITRMS": i, "P": p, "S": s, "Q": q,
            "PF": p / s if s > 0 else math.nan,
            "FCYC": sample.frequency_hz if not dc else math.nan,
            "UDC": u if dc else 0.0, "IDC": i if dc else 0.0,
        }[name]
