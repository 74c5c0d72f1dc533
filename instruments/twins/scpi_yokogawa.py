"""Twin of a Yokogawa WT series power analyser (WT5000/WT1800/WT3000/WT1600/WT500).

Measures a :class:`~instruments.twins.ports.MeasuredPoint`: every ``:RATE`` it takes a
sample, computes the numeric items and raises the UPD event in ``:STATus:EESR?`` (bit 0,
through transition filter 1, which is ``NEVer`` after ``*RST`` as on the instrument).

Command set served (long or short form, case insensitive):

    :COMMunicate:HEADer ON|OFF (?), :COMMunicate:VERBose ON|OFF (?)
    :NUMeric:FORMat ASCii (?)                FLOat is refused (-224): the twin has no binary
    :NUMeric[:NORMal]:NUMBer <1..255> (?)
    :NUMeric[:NORMal]:ITEM<k> NONE|<fn>[,<element>] (?)
        fn: URMS IRMS UDC IDC P S Q LAMBda PHI FU FI WP WPP WPM TIME
        element: 1..elements or SIGMA (SIGM)
    :NUMeric[:NORMal]:VALue? [<k>]           CSV of NR3; NAN for NONE items and for values
                                             that do not exist (LAMBda with S = 0, FU with
                                             no voltage); 9.91E+37 until the first update
    :RATE <t> (50MS .. 20S; bare numbers are seconds) (?)
    :STATus:FILTer<x> RISE|FALL|BOTH|NEVer (?), :STATus:EESR? (read clears),
    :STATus:CONDition?, :STATus:ERRor? (positive codes, e.g. 113,"Undefined header")
    :INTEGrate:STARt|STOP|RESet, :INTEGrate:STATe? (RESet|STARt|STOP)

With ``:COMMunicate:HEADer ON`` (the state after ``*RST``) query replies carry the short
header (``:NUM:NORM:VAL 2.3012E+02,...``), or the long one with ``:COMM:VERB ON``.
"""

from __future__ import annotations

import asyncio
import math

from instruments.twins.ports import MeasuredPoint, PointSample
from instruments.twins.scpi_server import Call, ScpiError, ScpiTwin

NO_DATA = 9.91e37
FUNCTIONS = ("URMS", "IRMS", "UDC", "IDC", "P", "S", "Q", "LAMBda", "PHI", "FU", "FI",
             "WP", "WPP", "WPM", "TIME")
RATE_MIN_S = 0.05
RATE_MAX_S = 20.0
_TIME_UNITS = {"MS": 1e-3, "S": 1.0, "US": 1e-6}
_DEFAULT_ITEMS = [("URMS", "1"), ("IRMS", "1"), ("P", "1"), ("S", "1"), ("Q", "1"),
                  ("LAMBDA", "1"), ("PHI", "1"), ("FU", "1"), ("FI", "1")]


class YokogawaWTTwin(ScpiTwin):
    """A WT series power analyser measuring ``point``.

    ``elements`` is the number of input elements fitted; elements beyond the point's
    phases see no signal. ``rate_s`` is the update interval after start and ``*RST``.
    """

    def __init__(self, point: MeasuredPoint, *, model: str = "WT1806-06",
                 serial: str = "91T000001", firmware: str = "F1.01",
                 elements: int = 3, rate_s: float = 0.5) -> None:
        super().__init__(f"YOKOGAWA,{model},{serial},{firmware}",
                         error_queries=(":STATus:ERRor?",))
        self.point = point
        self.elements = elements
        self.default_rate_s = rate_s
        self.updates = 0
        self._rate_changed = asyncio.Event()
        self.reset()
        c = self.command
        c(":COMMunicate:HEADer", self._set_header, 1)
        c(":COMMunicate:HEADer?", lambda call: self._reply(call, "1" if self.header else "0"))
        c(":COMMunicate:VERBose", self._set_verbose, 1)
        c(":COMMunicate:VERBose?", lambda call: self._reply(call, "1" if self.verbose else "0"))
        c(":NUMeric:FORMat", self._set_format, 1)
        c(":NUMeric:FORMat?", lambda call: self._reply(call, "ASCII"))
        c(":NUMeric[:NORMal]:NUMBer", self._set_number, 1)
        c(":NUMeric[:NORMal]:NUMBer?", lambda call: self._reply(call, str(self.number)))
        c(":NUMeric[:NORMal]:ITEM#", self._set_item, (1, 3))
        c(":NUMeric[:NORMal]:ITEM#?", self._get_item)
        c(":NUMeric[:NORMal]:VALue?", self._values, (0, 1))
        c(":RATE", self._set_rate, 1)
        c(":RATE?", lambda call: self._reply(call, f"{self.rate_s:.1E}"))
        c(":STATus:FILTer#", self._set_filter, 1)
        c(":STATus:FILTer#?", lambda call: self._reply(call, self.filters.get(call.suffix, "NEVER")))
        c(":STATus:EESR?", self._eesr_query)
        c(":STATus:CONDition?", lambda call: self._reply(call, "0"))
        c(":INTEGrate:STARt", self._integ_start)
        c(":INTEGrate:STOP", self._integ_stop)
        c(":INTEGrate:RESet", self._integ_reset)
        c(":INTEGrate:STATe?", lambda call: self._reply(call, self.integ_state))

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self.header = True
        self.verbose = False
        self.number = 15
        self.items: list[tuple[str, str] | None] = [None] * 255
        for k, item in enumerate(_DEFAULT_ITEMS):
            self.items[k] = item
        self.rate_s = self.default_rate_s
        self.filters: dict[int, str] = {}
        self.eesr = 0
        self.integ_state = "RESET"
        self.energy_wh = [0.0] * (self.elements + 1)       # WP per element, index 0 unused
        self.energy_pos_wh = [0.0] * (self.elements + 1)
        self.energy_neg_wh = [0.0] * (self.elements + 1)
        self.integ_time_s = 0.0
        self._sample: PointSample | None = None
        self._last_lab_s: float | None = None
        if hasattr(self, "_rate_changed"):
            self._rate_changed.set()

    def format_error(self, code: int, text: str) -> str:
        return f'{abs(code)},"{text}"'

    @property
    def has_data(self) -> bool:
        """Whether a first update has completed (before it every value is 9.91E+37)."""
        return self._sample is not None

    # ------------------------------------------------------------------ updates
    async def on_start(self) -> None:
        self.spawn(self._update_loop())

    async def _update_loop(self) -> None:
        while True:
            self._rate_changed.clear()
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                async with asyncio.timeout(self.wall_s(self.rate_s)):
                    await self._rate_changed.wait()
                continue  # rate changed: start a new interval
            except TimeoutError:
                pass
            self.update()

    def update(self) -> None:
        """Take one measurement now (normally driven by the update interval)."""
        sample = self.point.sample()
        if self.integ_state == "START" and self._last_lab_s is not None and self._sample:
            dt_h = max(0.0, sample.lab_s - self._last_lab_s) / 3600.0
            for element in range(1, self.elements + 1):
                p0 = self._element(self._sample, element)[2]
                p1 = self._element(sample, element)[2]
                e = 0.5 * (p0 + p1) * dt_h
                self.energy_wh[element] += e
                if e >= 0:
                    self.energy_pos_wh[element] += e
                else:
                    self.energy_neg_wh[element] += e
            self.integ_time_s += max(0.0, sample.lab_s - self._last_lab_s)
        self._sample = sample
        self._last_lab_s = sample.lab_s
        self.updates += 1
        if self.filters.get(1, "NEVER") != "NEVER":
            self.eesr |= 1

    # ------------------------------------------------------------------ values
    @staticmethod
    def _element(sample: PointSample, element: int) -> tuple[float, float, float, float]:
        if element <= len(sample.phases):
            phase = sample.phases[element - 1]
            return phase.voltage_v, phase.current_a, phase.power_w, phase.reactive_var
        return 0.0, 0.0, 0.0, 0.0

    def value(self, function: str, element: str) -> float:
        """The value of one numeric item now (NaN where the instrument shows no value)."""
        sample = self._sample
        if sample is None:
            return NO_DATA
        if element == "SIGMA":
            elements = list(range(1, self.elements + 1))
        else:
            elements = [int(element)]
        rows = [self._element(sample, e) for e in elements]
        u = sum(r[0] for r in rows) / len(rows)
        i = sum(r[1] for r in rows) / len(rows)
        p = sum(r[2] for r in rows)
        q = sum(r[3] for r in rows)
        s = sum(math.hypot(r[2], r[3]) for r in rows)
        dc = sample.frequency_hz == 0
        if function == "URMS":
            return u
        if function == "IRMS":
            return i
        if function == "UDC":
            return u if dc else 0.0
        if function == "IDC":
            return i if dc else 0.0
        if function == "P":
            return p
        if function == "Q":
            return q
        if function == "S":
            return s
        if function == "LAMBDA":
            return p / s if s > 0 else math.nan
        if function == "PHI":
            return math.degrees(math.acos(max(-1.0, min(1.0, p / s)))) if s > 0 else math.nan
        if function == "FU":
            return sample.frequency_hz if abs(u) > 1.0 and not dc else math.nan
        if function == "FI":
            return sample.frequency_hz if abs(i) > 0.01 and not dc else math.nan
        if function in ("WP", "WPP", "WPM"):
            store = {"WP": self.energy_wh, "WPP": self.energy_pos_wh,
                     "WPM": self.energy_neg_wh}[function]
            return sum(store[e] for e in elements)
        if function == "TIME":
            return self.integ_time_s
        return math.nan

    @staticmethod
    def _format(value: float) -> str:
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        if value == NO_DATA:
            return "9.91E+37"
        return f"{value:.4E}"

    # ------------------------------------------------------------------ handlers
    def _reply(self, call: Call, text: str) -> str:
        if not self.header:
            return text
        return f"{call.long_header if self.verbose else call.short_header} {text}"

    def _set_header(self, call: Call) -> None:
        self.header = call.boolean()

    def _set_verbose(self, call: Call) -> None:
        self.verbose = call.boolean()

    def _set_format(self, call: Call) -> None:
        if call.choice(0, "ASCii", "FLOat") != "ASCII":
            raise ScpiError(-224, "Illegal parameter value (twin supports ASCii only)")

    def _set_number(self, call: Call) -> None:
        self.number = int(call.number(0, 1, 255))

    def _set_item(self, call: Call) -> None:
        k = call.suffix
        if not 1 <= k <= 255:
            raise ScpiError(-113)
        function = call.choice(0, "NONE", *FUNCTIONS)
        if function == "NONE":
            self.items[k - 1] = None
            return
        element = "1"
        if len(call.params) >= 2:
            text = call.param(1).strip().upper()
            if text in ("SIGMA", "SIGM"):
                element = "SIGMA"
            else:
                element = str(int(call.number(1, 1, self.elements)))
        self.items[k - 1] = (function, element)

    def _get_item(self, call: Call) -> str:
        item = self.items[call.suffix - 1] if 1 <= call.suffix <= 255 else None
        return self._reply(call, "NONE" if item is None else f"{item[0]},{item[1]}")

    def _values(self, call: Call) -> str:
        if call.params:
            k = int(call.number(0, 1, 255))
            indices = [k - 1]
        else:
            indices = list(range(self.number))
        fields: list[str] = []
        for index in indices:
            item = self.items[index]
            if item is None:
                fields.append("NAN")
            elif self._sample is None:
                fields.append("9.91E+37")
            else:
                fields.append(self._format(self.value(*item)))
        return self._reply(call, ",".join(fields))

    def _set_rate(self, call: Call) -> None:
        self.rate_s = call.number(0, RATE_MIN_S, RATE_MAX_S, units=_TIME_UNITS)
        self._rate_changed.set()

    def _set_filter(self, call: Call) -> None:
        if not 1 <= call.suffix <= 16:
            raise ScpiError(-113)
        self.filters[call.suffix] = call.choice(0, "RISE", "FALL", "BOTH", "NEVer")

    def _eesr_query(self, call: Call) -> str:
        value, self.eesr = self.eesr, 0
        return self._reply(call, str(value))

    def _integ_start(self, _call: Call) -> None:
        if self.integ_state == "START":
            raise ScpiError(-221, "Settings conflict (integration already running)")
        self.integ_state = "START"

    def _integ_stop(self, _call: Call) -> None:
        if self.integ_state == "START":
            self.integ_state = "STOP"

    def _integ_reset(self, _call: Call) -> None:
        self.integ_state = "RESET"
        n = self.elements + 1
        self.energy_wh, self.energy_pos_wh, self.energy_neg_wh = [0.0] * n, [0.0] * n, [0.0] * n
        self.integ_time_s = 0.0
