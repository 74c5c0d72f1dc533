"""Which results to look at: filters by suite, EV, charger, firmware, date, lab, station, run.

A filter turns into one portable SQL ``WHERE`` clause over the ``results`` table (alias
``r``). Dates accept ``2024-05-01``, ``2024-05-01T14:30``, ISO times with an offset, or a
span back from now (``36h``, ``7d``, ``2w``); a date without a time means the start of that
day for ``since`` and the end of that day for ``until``, in local time unless an offset is
given.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdw])\s*$", re.IGNORECASE)
_SPAN_S = {"h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_when(text: str, *, end_of_day: bool = False, now_s: float | None = None) -> float:
    """Unix seconds for a date, a date-time or a span back from now (see module docstring).

    ``end_of_day`` makes a bare date mean the end of that day (for an inclusive ``until``).
    Raises ValueError naming the accepted forms.
    """
    text = text.strip()
    span = _SPAN.match(text)
    if span:
        now = time.time() if now_s is None else now_s
        return now - float(span.group(1)) * _SPAN_S[span.group(2).lower()]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"cannot read the date {text!r}; use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][+HH:MM] "
            "or a span back from now such as 36h, 7d, 2w"
        ) from None
    # A naive time is local time (the lab's wall clock): .timestamp() treats it so.
    if end_of_day and _DATE_ONLY.match(text):
        return (moment + timedelta(days=1)).timestamp() - 1e-6
    return moment.timestamp()


@dataclass
class ResultFilter:
    """Conditions on results; an empty filter selects everything.

    Within one field the values are alternatives (OR); different fields all apply (AND).
    ``firmware`` entries are ``FW`` (any charger with that firmware) or ``CHARGER=FW``
    (that charger only at that firmware; other chargers unaffected). ``suites`` match a
    suite and its sub-suites (``ocpp`` matches ``ocpp/smart_charging``).
    """

    suites: Sequence[str] = ()
    evs: Sequence[str] = ()
    chargers: Sequence[str] = ()
    firmware: Sequence[str] = ()
    since_wall_s: float | None = None
    until_wall_s: float | None = None
    labs: Sequence[str] = ()
    stations: Sequence[str] = ()
    runs: Sequence[str] = ()
    extra: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def where(self) -> tuple[str, list[Any]]:
        """``(sql, params)`` for ``WHERE`` over ``results r`` joined to ``runs u``."""
        clauses: list[str] = []
        params: list[Any] = []

        def any_of(column: str, values: Sequence[str]) -> None:
            if values:
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)

        if self.suites:
            parts = []
            for suite in self.suites:
                suite = suite.strip("/")
                parts.append("(r.suite = ? OR substr(r.suite, 1, ?) = ?)")
                params.extend([suite, len(suite) + 1, suite + "/"])
            clauses.append("(" + " OR ".join(parts) + ")")
        any_of("r.ev", self.evs)
        any_of("r.charger", self.chargers)
        plain = [fw for fw in self.firmware if "=" not in fw]
        any_of("r.charger_firmware", plain)
        for entry in self.firmware:
            if "=" in entry:
                charger, fw = (part.strip() for part in entry.split("=", 1))
                clauses.append("(r.charger IS NULL OR r.charger <> ? OR r.charger_firmware = ?)")
                params.extend([charger, fw])
        if self.since_wall_s is not None:
            clauses.append("r.wall_s >= ?")
            params.append(self.since_wall_s)
        if self.until_wall_s is not None:
            clauses.append("r.wall_s <= ?")
            params.append(self.until_wall_s)
        any_of("u.lab", self.labs)
        any_of("r.station", self.stations)
        any_of("r.run_id", self.runs)
        for sql, extra_params in self.extra:
            clauses.append(f"({sql})")
            params.extend(extra_params)
        return (" AND ".join(clauses) or "1 = 1"), params

    def describe(self) -> dict[str, Any]:
        """The filters that are set, for report headers and JSON exports."""
        out: dict[str, Any] = {}
        for name in ("suites", "evs", "chargers", "firmware", "labs", "stations", "runs"):
            values = list(getattr(self, name))
            if values:
                out[name] = values
        if self.since_wall_s is not None:
            out["since"] = _iso(self.since_wall_s)
        if self.until_wall_s is not None:
            out["until"] = _iso(self.until_wall_s)
        return out

    def with_condition(self, sql: str, *params: Any) -> ResultFilter:
        """A copy with one more raw condition over ``r.``/``u.`` columns (``?`` placeholders)."""
        copy = ResultFilter(**{**self.__dict__, "extra": [*self.extra, (sql, params)]})
        return copy


def _iso(wall_s: float) -> str:
    return datetime.fromtimestamp(wall_s).astimezone().isoformat(timespec="seconds")
