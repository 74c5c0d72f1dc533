"""Driver for ZES Zimmer LMG600-family power analysers (LMG600, LMG670), SCPI socket front.

Resource: ``TCPIP::host::5025::SOCKET``. The LMG speaks SCPI and the ZES "short" language;
this driver switches to the short language once (``*ZLANG SHORT``, a common command both
languages accept) because its measured-value queries are compact and its ``INIM`` latch
makes every value of one line come from the same measuring cycle. Set-up: ``FRMT ASC``,
``UAUTOn 1;IAUTOn 1`` (autorange) per channel, ``CYCL <s>`` for the update interval.
A reading is one line ``INIM;UTRMS1?;ITRMS1?;P1?;S1?;Q1?;PF1?;FCYC1?;UTRMS2?;...`` whose
reply is ``;``-separated. ``wait_fresh`` uses ``ACTN`` instead of ``INIM`` (wait for the end
of the next cycle) (verify). Errors: ``ERRALL?`` after every setting (verify).

Energy is not read (``energy_wh`` is None); integration is not implemented.

Options: ``channels`` (default 3) or a list of channel numbers; ``cycle_min_s`` /
``cycle_max_s`` (default 0.01 / 60); ``autorange`` (default true); ``commands`` overrides of
the entries of ``ZesLmg.COMMANDS`` marked (verify).
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from typing import ClassVar

from instruments.contracts import Identity, PhaseReading, PowerAnalyzer, PowerReading
from instruments.driver_support import command_table, parse_identity
from instruments.registry import register_driver
from instruments.transports.scpi import ScpiTransport
from testbench.errors import BenchError, InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

_ERROR_REPLY = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*(,.*)?$')
_VALUES = ("UTRMS", "ITRMS", "P", "S", "Q", "PF", "FCYC")


class _LmgTransport(ScpiTransport):
    """SCPI transport with a configurable error query and a per-query timeout."""

    error_query = "ERRALL?"

    def check_errors(self, after_command: str) -> None:
        reply = self.query(self.error_query)
        match = _ERROR_REPLY.match(reply)
        if match is None:
            raise InstrumentError(self.instrument, self.error_query, reply,
                                  "unreadable error-queue reply")
        code = int(match.group(1))
        if code != 0:
            raise InstrumentError(self.instrument, after_command, reply,
                                  f"instrument reported error {code}: {match.group(2)}")

    def query_within(self, command: str, timeout_s: float) -> str:
        """``query`` with its own reply timeout (for queries that wait for a cycle)."""
        with self._lock:
            session = self._session
            previous = session.timeout
            session.timeout = int(timeout_s * 1000)
        try:
            return self.query(command)
        except InstrumentError:
            # a late reply must not be taken for the answer to the next query
            with contextlib.suppress(Exception):
                session.clear()
            raise
        finally:
            with self._lock:
                session.timeout = previous


def _number(text: str) -> float:
    word = text.strip().upper()
    if word in ("NAN", "-NAN", "+NAN"):
        return math.nan
    if word in ("INF", "+INF"):
        return math.inf
    if word == "-INF":
        return -math.inf
    return float(word)


@register_driver("zes-lmg600")
class ZesLmg(PowerAnalyzer):
    """A ZES Zimmer LMG600/670 power analyser."""

    COMMANDS: ClassVar[dict[str, str]] = {
        "language": "*ZLANG SHORT",
        "errors": "ERRALL?",   # (verify) short-language form of SYST:ERR:ALL?
        "fresh": "ACTN",       # (verify) wait for the next cycle before latching values
        "latch": "INIM",
    }

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits) -> None:
        self.name = spec.name
        self.limits = limits
        options = dict(spec.options)
        self._channels = _channels(spec.name, options.get("channels", 3))
        self._cycle_min_s = float(options.get("cycle_min_s", 0.01))  # type: ignore[arg-type]
        self._cycle_max_s = float(options.get("cycle_max_s", 60.0))  # type: ignore[arg-type]
        self._autorange = bool(options.get("autorange", True))
        self.commands = command_table(spec.name, self.COMMANDS, options.get("commands"))
        self._queries = ";".join(f"{v}{c}?" for c in self._channels for v in _VALUES)
        self.cycle_s: float | None = None  # last measuring cycle set through this driver
        self._configured = False
        self._lock = threading.RLock()
        self._scpi = _LmgTransport(spec.name, spec.resource, timeout_s=spec.timeout_s)
        self._scpi.error_query = self.commands["errors"]

    def identify(self) -> Identity:
        return parse_identity(self.name, self._scpi.query("*IDN?"))

    def configure(self) -> None:
        """Short language, ASCII output, autorange per channel; done once, lazily."""
        with self._lock:
            self._scpi.write_checked(self.commands["language"])
            self._scpi.write_checked("FRMT ASC")
            if self._autorange:
                for c in self._channels:
                    self._scpi.write_checked(f"UAUTO{c} 1;IAUTO{c} 1")
            self._configured = True

    def _ensure_configured(self) -> None:
        if not self._configured:
            self.configure()

    def read(self) -> PowerReading:
        with self._lock:
            self._ensure_configured()
            command = f"{self.commands['latch']};{self._queries}"
            reply = self._scpi.query(command)
            acquired = time.time()
        return self._reading(command, reply, acquired)

    def wait_fresh(self, timeout_s: float) -> PowerReading:
        with self._lock:
            self._ensure_configured()
            command = f"{self.commands['fresh']};{self._queries}"
            try:
                reply = self._scpi.query_within(command, timeout_s)
            except InstrumentError as err:
                raise InstrumentError(self.name, command, err.reply,
                                      f"no fresh data within {timeout_s:g} s ({err.problem}). "
                                      "Check the measuring cycle (CYCL) is shorter than the "
                                      "timeout") from err
            acquired = time.time()
        return self._reading(command, reply, acquired)

    def _reading(self, command: str, reply: str, acquired: float) -> PowerReading:
        fields = reply.split(";")
        expected = len(_VALUES) * len(self._channels)
        if len(fields) != expected:
            raise InstrumentError(self.name, command, reply,
                                  f"expected {expected} ';'-separated values, got {len(fields)}")
        try:
            values = [_number(f) for f in fields]
        except ValueError:
            raise InstrumentError(self.name, command, reply, "expected numbers") from None
        phases = []
        n = len(_VALUES)
        for index in range(len(self._channels)):
            u, i, p, s, q, pf, _f = values[index * n:(index + 1) * n]
            phases.append(PhaseReading(voltage_v=u, current_a=i, power_w=p, reactive_var=q,
                                       apparent_va=s, power_factor=pf))
        p_sum = sum(ph.power_w for ph in phases)
        s_sum = sum(ph.apparent_va for ph in phases)
        return PowerReading(
            phases=tuple(phases), power_w=p_sum,
            reactive_var=sum(ph.reactive_var for ph in phases), apparent_va=s_sum,
            power_factor=p_sum / s_sum if s_sum > 0 else math.nan,
            frequency_hz=values[n - 1], energy_wh=None, acquired_wall_s=acquired)

    def set_update_interval_s(self, interval_s: float) -> None:
        command = f"CYCL {interval_s:g}"
        if not self._cycle_min_s <= interval_s <= self._cycle_max_s:
            raise InstrumentError(
                self.name, command, None,
                f"refused before sending: measuring cycle {interval_s:g} s is outside the "
                f"instrument range {self._cycle_min_s:g} .. {self._cycle_max_s:g} s")
        with self._lock:
            self._ensure_configured()
            self._scpi.write_checked(command)
            self.cycle_s = interval_s

    def close(self) -> None:
        self._scpi.close()


def _channels(name: str, value: object) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return list(range(1, value + 1))
    if isinstance(value, list) and value and all(isinstance(v, int) and v >= 1 for v in value):
        return list(value)
    raise BenchError(f"instrument {name!r}: option channels = {value!r} must be a count "
                     "(e.g. 3) or a list of channel numbers; fix lab.toml")


