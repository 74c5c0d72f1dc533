"""Driver for Yokogawa WT series power analysers (WT5000, WT1800, WT3000, WT1600, WT500).

Talks SCPI over pyvisa (``TCPIP::host::port::SOCKET``, or ``TCPIP::host::INSTR`` on units
with VXI-11). On first use it turns reply headers off, selects ASCII numeric output and
programs the numeric list: per element URMS, IRMS, P, Q, S, LAMBda, then FU of the first
element and the sigma totals P, Q, S, LAMBda and WP (energy). A reading is one
``:NUM:NORM:VAL?`` query; ``NAN`` fields and the 9.91E+37 "no data" marker become NaN.

Options (``[[stations.instruments]] options``):
    elements         number of elements wired (1..n) or a list of element numbers; default 3
    sigma_element    the sigma element name in ITEM commands; default "SIGMA"
    update_interval_s  sent as ``:RATE`` when the instrument is first configured
    rate_min_s / rate_max_s  the model's update interval range; default 0.05 / 20 (WT500: 0.1)
    poll_interval_s  EESR poll period of ``wait_fresh``; default from the update interval
    commands         overrides of the entries of ``YokogawaWT.COMMANDS`` marked (verify)

Error queue: ``:STATus:ERRor?`` (Yokogawa codes are positive, e.g. ``113,"Undefined
header"``), read after every setting command.
"""

from __future__ import annotations

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

NO_DATA_THRESHOLD = 9.9e37
_ERROR_REPLY = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')
_HEADER = re.compile(r"^\s*(:?[A-Za-z][A-Za-z0-9:]*)\s+(\S.*)$")
_PER_ELEMENT = ("URMS", "IRMS", "P", "Q", "S", "LAMB")
_SIGMA = ("P", "Q", "S", "LAMB", "WP")


class _WtTransport(ScpiTransport):
    """SCPI transport whose error queue is ``:STATus:ERRor?``."""

    error_query = ":STAT:ERR?"

    def check_errors(self, after_command: str) -> None:
        reply = strip_header(self.query(self.error_query))
        match = _ERROR_REPLY.match(reply)
        if match is None:
            raise InstrumentError(self.instrument, self.error_query, reply,
                                  "unreadable error-queue reply")
        code = int(match.group(1))
        if code != 0:
            raise InstrumentError(self.instrument, after_command, reply,
                                  f"instrument reported error {code}: {match.group(2)}")


def strip_header(reply: str) -> str:
    """Drop a reply header (``:NUM:NORM:VAL 2.3E+02,...`` -> ``2.3E+02,...``) if present."""
    match = _HEADER.match(reply)
    if match is None or match.group(1).upper() in ("NAN", "INF"):
        return reply.strip()
    return match.group(2).strip()


def parse_number(text: str) -> float:
    """One NR3 field: ``NAN`` and 9.91E+37 (no data) -> NaN; ``INF``/``-INF`` kept."""
    word = text.strip().upper()
    if word in ("NAN", "NAN.", ""):
        return math.nan
    if word in ("INF", "+INF"):
        return math.inf
    if word == "-INF":
        return -math.inf
    value = float(word)  # ValueError on garbage
    return math.nan if abs(value) >= NO_DATA_THRESHOLD else value


@register_driver("yokogawa-wt")
class YokogawaWT(PowerAnalyzer):
    """A Yokogawa WT series power analyser on SCPI."""

    COMMANDS: ClassVar[dict[str, str]] = {
        "integration_state": ":INTEG:STAT?",  # (verify) reply wording RESet|STARt|STOP
    }

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits) -> None:
        self.name = spec.name
        self.limits = limits
        options = dict(spec.options)
        self._elements = _elements(spec.name, options.get("elements", 3))
        self._sigma = str(options.get("sigma_element", "SIGMA"))
        self._rate_min_s = float(options.get("rate_min_s", 0.05))  # type: ignore[arg-type]
        self._rate_max_s = float(options.get("rate_max_s", 20.0))  # type: ignore[arg-type]
        rate = options.get("update_interval_s")
        self._initial_rate_s = None if rate is None else float(rate)  # type: ignore[arg-type]
        self._rate_s = self._initial_rate_s
        poll = options.get("poll_interval_s")
        self._poll_s = None if poll is None else float(poll)  # type: ignore[arg-type]
        self.commands = command_table(spec.name, self.COMMANDS, options.get("commands"))
        self.items = [(fn, str(e)) for e in self._elements for fn in _PER_ELEMENT]
        self.items.append(("FU", str(self._elements[0])))
        self.items.extend((fn, self._sigma) for fn in _SIGMA)
        self._configured = False
        self._lock = threading.RLock()
        self._scpi = _WtTransport(spec.name, spec.resource, timeout_s=spec.timeout_s)

    # ------------------------------------------------------------------ set-up
    def identify(self) -> Identity:
        return parse_identity(self.name, self._scpi.query("*IDN?"))

    def configure(self) -> None:
        """Headers off, ASCII, the numeric item list, status filter; done once, lazily."""
        with self._lock:
            checked = self._scpi.write_checked
            checked(":COMM:HEAD OFF")
            checked(":NUM:FORM ASC")
            checked(f":NUM:NORM:NUMB {len(self.items)}")
            for k, (fn, element) in enumerate(self.items, start=1):
                checked(f":NUM:NORM:ITEM{k} {fn},{element}")
            checked(":STAT:FILT1 FALL")
            if self._initial_rate_s is not None:
                self._send_rate(self._initial_rate_s)
            self._configured = True

    def _ensure_configured(self) -> None:
        if not self._configured:
            self.configure()

    # ------------------------------------------------------------------ reading
    def read(self) -> PowerReading:
        with self._lock:
            self._ensure_configured()
            command = ":NUM:NORM:VAL?"
            reply = self._scpi.query(command)
            acquired = time.time()
            values = self._parse_values(command, reply)
        return self._reading(values, acquired)

    def read_raw(self) -> tuple[float, str]:
        """One measurement query, undecoded (acquisition loops decode after the run)."""
        with self._lock:
            self._ensure_configured()
            reply = self._scpi.query(":NUM:NORM:VAL?")
            return time.time(), reply

    def decode(self, raw: tuple[float, str]) -> PowerReading:
        acquired, reply = raw
        return self._reading(self._parse_values(":NUM:NORM:VAL?", reply), acquired)

    def _parse_values(self, command: str, reply: str) -> list[float]:
        fields = strip_header(reply).split(",")
        if len(fields) != len(self.items):
            raise InstrumentError(self.name, command, reply,
                                  f"expected {len(self.items)} comma-separated values, "
                                  f"got {len(fields)}")
        try:
            return [parse_number(f) for f in fields]
        except ValueError:
            raise InstrumentError(self.name, command, reply,
                                  "expected NR3 numbers, NAN or 9.91E+37") from None

    def _reading(self, values: list[float], acquired: float) -> PowerReading:
        n = len(_PER_ELEMENT)
        phases = []
        for index in range(len(self._elements)):
            u, i, p, q, s, pf = values[index * n:(index + 1) * n]
            phases.append(PhaseReading(voltage_v=u, current_a=i, power_w=p, reactive_var=q,
                                       apparent_va=s, power_factor=pf))
        f, p_sum, q_sum, s_sum, pf_sum, wp = values[len(self._elements) * n:]
        return PowerReading(phases=tuple(phases), power_w=p_sum, reactive_var=q_sum,
                            apparent_va=s_sum, power_factor=pf_sum, frequency_hz=f,
                            energy_wh=wp, acquired_wall_s=acquired)

    def wait_fresh(self, timeout_s: float) -> PowerReading:
        """Clear the UPD event, poll ``:STAT:EESR?`` until bit 0 (UPD) is set, then read."""
        with self._lock:
            self._ensure_configured()
            deadline = time.monotonic() + timeout_s
            self._eesr()  # reading clears: only an update after this call counts
            poll_s = self._poll_s or max(0.001, min(0.01, (self._rate_s or 0.2) / 20))
            while True:
                value, reply = self._eesr()
                if value & 1:
                    return self.read()
                if time.monotonic() >= deadline:
                    raise InstrumentError(
                        self.name, ":STAT:EESR?", reply,
                        f"no fresh data within {timeout_s:g} s (UPD bit never set). Check the "
                        "update interval (:RATE) is shorter than the timeout")
                time.sleep(poll_s)

    def _eesr(self) -> tuple[int, str]:
        command = ":STAT:EESR?"
        reply = self._scpi.query(command)
        try:
            return int(float(strip_header(reply))), reply
        except ValueError:
            raise InstrumentError(self.name, command, reply,
                                  "expected the extended event register as an integer") from None

    # ------------------------------------------------------------------ settings
    def set_update_interval_s(self, interval_s: float) -> None:
        with self._lock:
            self._ensure_configured()
            self._send_rate(interval_s)

    def _send_rate(self, interval_s: float) -> None:
        command = f":RATE {round(interval_s * 1000)}MS"
        if not self._rate_min_s <= interval_s <= self._rate_max_s:
            raise InstrumentError(
                self.name, command, None,
                f"refused before sending: update interval {interval_s:g} s is outside the "
                f"instrument range {self._rate_min_s:g} .. {self._rate_max_s:g} s")
        self._scpi.write_checked(command)
        self._rate_s = interval_s

    def start_integration(self) -> None:
        """Stop a running integration, reset it and start it."""
        with self._lock:
            self._ensure_configured()
            state_query = self.commands["integration_state"]
            state = strip_header(self._scpi.query(state_query)).upper()
            if state.startswith("STAR"):
                self._scpi.write_checked(":INTEG:STOP")
            self._scpi.write_checked(":INTEG:RES")
            self._scpi.write_checked(":INTEG:STAR")

    def stop_integration(self) -> None:
        with self._lock:
            self._scpi.write_checked(":INTEG:STOP")

    def close(self) -> None:
        self._scpi.close()


def _elements(name: str, value: object) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return list(range(1, value + 1))
    if isinstance(value, list) and value and all(isinstance(v, int) and v >= 1 for v in value):
        return list(value)
    raise BenchError(f"instrument {name!r}: option elements = {value!r} must be a count "
                     "(e.g. 3) or a list of element numbers (e.g. [1, 2, 3]); fix lab.toml")


