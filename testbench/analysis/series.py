"""Timestamped measurement series on numpy: one channel (:class:`Series`) or several sampled
together (:class:`Recording`).

Times are lab time (:class:`~testbench.clock.LabClock`), in seconds since the Unix epoch,
sorted ascending. Missing samples are NaN; every statistic ignores them, and a statistic
over a series with no valid sample raises :class:`NoDataError` rather than returning NaN
(a NaN maximum compares false with any limit and would let a check pass unseen).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from testbench.errors import BenchError

CSV_MAGIC = "testbench-recording v1"
TIME_COLUMN = "t_lab_s"
SCHEDULE_COLUMN = "scheduled_lab_s"

# Power units integrate_wh() accepts, with their factor to watts.
_POWER_UNITS_W = {"W": 1.0, "kW": 1e3, "MW": 1e6}


class NoDataError(BenchError, ValueError):
    """A statistic was asked of a series (or a window of it) with no valid sample."""


def _as_1d_float(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}")
    return array


def _check_time(t_lab_s: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(t_lab_s)):
        bad = int(np.flatnonzero(~np.isfinite(t_lab_s))[0])
        raise ValueError(f"{what}: timestamp #{bad} is {t_lab_s[bad]}; every sample needs a "
                         "finite time (mark missing values as NaN, not their time)")
    if t_lab_s.size > 1:
        back = np.flatnonzero(np.diff(t_lab_s) < 0)
        if back.size:
            i = int(back[0])
            raise ValueError(f"{what}: time goes backwards at sample #{i + 1} "
                             f"({t_lab_s[i]!r} -> {t_lab_s[i + 1]!r}); sort the samples by time")


def _window_mask(t_lab_s: np.ndarray, start_lab_s: float | None,
                 end_lab_s: float | None) -> np.ndarray:
    mask = np.ones(t_lab_s.shape, dtype=bool)
    if start_lab_s is not None:
        mask &= t_lab_s >= start_lab_s
    if end_lab_s is not None:
        mask &= t_lab_s <= end_lab_s
    return mask


def uniform_grid(start_lab_s: float, end_lab_s: float, rate_hz: float) -> np.ndarray:
    """Times ``start, start + 1/rate, ...`` up to and including ``end`` (within 1e-9 s)."""
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    if end_lab_s < start_lab_s:
        return np.empty(0)
    count = math.floor((end_lab_s - start_lab_s) * rate_hz + 1e-9) + 1
    return start_lab_s + np.arange(count) / rate_hz


def _interpolate(t_lab_s: np.ndarray, values: np.ndarray, at_lab_s: np.ndarray,
                 max_gap_s: float | None) -> np.ndarray:
    """Linear interpolation over the valid samples; NaN outside them and across long gaps."""
    valid = ~np.isnan(values)
    tv, vv = t_lab_s[valid], values[valid]
    out = np.full(at_lab_s.shape, np.nan)
    if tv.size == 0:
        return out
    inside = (at_lab_s >= tv[0]) & (at_lab_s <= tv[-1])
    out[inside] = np.interp(at_lab_s[inside], tv, vv)
    if max_gap_s is not None and tv.size > 1:
        right = np.clip(np.searchsorted(tv, at_lab_s, side="left"), 1, tv.size - 1)
        gap = tv[right] - tv[right - 1]
        exact = np.isin(at_lab_s, tv)
        out[inside & (gap > max_gap_s) & ~exact] = np.nan
    return out


@dataclass(frozen=True, eq=False)
class Series:
    """One measured quantity over lab time: ``values[i]`` was acquired at ``t_lab_s[i]``."""

    name: str
    unit: str
    t_lab_s: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        t = _as_1d_float(self.t_lab_s, f"series {self.name!r} t_lab_s")
        v = _as_1d_float(self.values, f"series {self.name!r} values")
        if t.shape != v.shape:
            raise ValueError(f"series {self.name!r}: {t.size} timestamps but {v.size} values")
        _check_time(t, f"series {self.name!r}")
        object.__setattr__(self, "t_lab_s", t)
        object.__setattr__(self, "values", v)

    # -- shape

    def __len__(self) -> int:
        return int(self.values.size)

    def __repr__(self) -> str:
        span = f", {self.duration_s:.3f} s" if len(self) else ""
        return f"Series({self.name!r} [{self.unit}], {len(self)} samples{span})"

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of the samples that are not NaN."""
        return ~np.isnan(self.values)

    @property
    def valid_count(self) -> int:
        return int(np.count_nonzero(self.valid))

    @property
    def start_lab_s(self) -> float:
        self._require_samples("start_lab_s")
        return float(self.t_lab_s[0])

    @property
    def end_lab_s(self) -> float:
        self._require_samples("end_lab_s")
        return float(self.t_lab_s[-1])

    @property
    def duration_s(self) -> float:
        """Lab seconds from the first to the last sample (0 for fewer than two)."""
        return float(self.t_lab_s[-1] - self.t_lab_s[0]) if len(self) > 1 else 0.0

    @property
    def t_rel_s(self) -> np.ndarray:
        """Sample times in lab seconds since the first sample."""
        return self.t_lab_s - self.t_lab_s[0] if len(self) else self.t_lab_s.copy()

    # -- selection

    def window(self, start_lab_s: float | None = None,
               end_lab_s: float | None = None) -> Series:
        """The samples with ``start_lab_s <= t <= end_lab_s`` (absolute lab time; None = open)."""
        mask = _window_mask(self.t_lab_s, start_lab_s, end_lab_s)
        return Series(self.name, self.unit, self.t_lab_s[mask], self.values[mask])

    def offset_window(self, from_s: float = 0.0, to_s: float | None = None) -> Series:
        """The samples between ``from_s`` and ``to_s`` lab seconds after the first sample."""
        if not len(self):
            return self
        t0 = float(self.t_lab_s[0])
        return self.window(t0 + from_s, None if to_s is None else t0 + to_s)

    def dropna(self) -> Series:
        """The series without its missing samples."""
        mask = self.valid
        return Series(self.name, self.unit, self.t_lab_s[mask], self.values[mask])

    # -- statistics (NaN-aware; NoDataError when nothing is valid)

    def mean(self) -> float:
        """Arithmetic mean of the valid samples (not time-weighted)."""
        return float(np.mean(self._valid_values("mean")))

    def time_mean(self) -> float:
        """Time-weighted mean (trapezoid integral over the valid samples / their span)."""
        t, v = self._valid_pairs("time_mean")
        if t.size < 2 or t[-1] == t[0]:
            return float(np.mean(v))
        return float(np.trapezoid(v, t) / (t[-1] - t[0]))

    def max(self) -> float:
        return float(np.max(self._valid_values("max")))

    def min(self) -> float:
        return float(np.min(self._valid_values("min")))

    def std(self) -> float:
        """Population standard deviation of the valid samples."""
        return float(np.std(self._valid_values("std")))

    def at(self, t_lab_s: float) -> float:
        """Value at a lab time, linearly interpolated between valid samples (NaN outside)."""
        return float(_interpolate(self.t_lab_s, self.values, np.array([t_lab_s]), None)[0])

    def integrate(self) -> float:
        """Trapezoid integral over lab time in ``unit * s``, across NaN gaps (interpolated)."""
        t, v = self._valid_pairs("integrate")
        return float(np.trapezoid(v, t)) if t.size > 1 else 0.0

    def integrate_wh(self) -> float:
        """Energy in Wh of a power series (unit W, kW or MW): trapezoid over lab time.

        Missing samples are bridged linearly (the trapezoid runs over the valid samples).
        """
        factor = _POWER_UNITS_W.get(self.unit)
        if factor is None:
            raise ValueError(f"integrate_wh() needs a power series (unit W, kW or MW); series "
                             f"{self.name!r} is in {self.unit!r}. Use integrate() for other units")
        return self.integrate() * factor / 3600.0

    # -- resampling

    def resample(self, rate_hz: float, start_lab_s: float | None = None,
                 end_lab_s: float | None = None, max_gap_s: float | None = None) -> Series:
        """Linear interpolation onto a uniform grid at ``rate_hz`` (lab time).

        The grid spans the series (or ``start_lab_s``..``end_lab_s``); points outside the
        valid samples, or inside a gap longer than ``max_gap_s``, are NaN.
        """
        if not len(self) and (start_lab_s is None or end_lab_s is None):
            return Series(self.name, self.unit, np.empty(0), np.empty(0))
        start = self.start_lab_s if start_lab_s is None else start_lab_s
        end = self.end_lab_s if end_lab_s is None else end_lab_s
        return self.resample_at(uniform_grid(start, end, rate_hz), max_gap_s)

    def resample_at(self, t_lab_s: Iterable[float] | np.ndarray,
                    max_gap_s: float | None = None) -> Series:
        """Linear interpolation at given (sorted) lab times; NaN as in :meth:`resample`."""
        at = _as_1d_float(t_lab_s, "resample times")
        return Series(self.name, self.unit, at,
                      _interpolate(self.t_lab_s, self.values, at, max_gap_s))

    # -- helpers

    def _require_samples(self, what: str) -> None:
        if not len(self):
            raise NoDataError(f"{what} of series {self.name!r}: the series has no samples")

    def _valid_pairs(self, what: str) -> tuple[np.ndarray, np.ndarray]:
        mask = self.valid
        if not mask.any():
            raise NoDataError(
                f"{what}() of series {self.name!r} [{self.unit}]: no valid sample among "
                f"{len(self)} (all missing or an empty window). Check the acquisition and the "
                "time window asked for")
        return self.t_lab_s[mask], self.values[mask]

    def _valid_values(self, what: str) -> np.ndarray:
        return self._valid_pairs(what)[1]


@dataclass(frozen=True, eq=False)
class Recording:
    """Several channels sampled together at ``t_lab_s`` (one row per acquisition).

    ``columns`` maps channel name to values, ``units`` channel name to unit. When samples
    were taken on a schedule, ``scheduled_lab_s`` holds each sample's deadline (the
    acquisition jitter is ``t_lab_s - scheduled_lab_s``). ``meta`` carries free-form facts
    about the acquisition (instrument, rate, clock scale, missed deadlines ...).

    A channel is reached as ``recording["power_w"]`` or ``recording.power_w`` (a
    :class:`Series`).
    """

    t_lab_s: np.ndarray
    columns: Mapping[str, np.ndarray]
    units: Mapping[str, str]
    scheduled_lab_s: np.ndarray | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = _as_1d_float(self.t_lab_s, "recording t_lab_s")
        _check_time(t, "recording")
        cols: dict[str, np.ndarray] = {}
        for name, values in self.columns.items():
            if name in (TIME_COLUMN, SCHEDULE_COLUMN):
                raise ValueError(f"channel name {name!r} is reserved for the time columns")
            if "," in name or "[" in name or not name.strip():
                raise ValueError(f"channel name {name!r} is not usable in CSV; "
                                 "use letters, digits and underscores")
            v = _as_1d_float(values, f"channel {name!r}")
            if v.shape != t.shape:
                raise ValueError(f"channel {name!r} has {v.size} values for {t.size} timestamps")
            cols[name] = v
        missing = [n for n in cols if n not in self.units]
        if missing:
            raise ValueError(f"channels {missing} have no unit; give one in units "
                             "('' or '1' for dimensionless)")
        sched = None
        if self.scheduled_lab_s is not None:
            sched = _as_1d_float(self.scheduled_lab_s, "scheduled_lab_s")
            if sched.shape != t.shape:
                raise ValueError(f"scheduled_lab_s has {sched.size} entries for "
                                 f"{t.size} timestamps")
        object.__setattr__(self, "t_lab_s", t)
        object.__setattr__(self, "columns", cols)
        object.__setattr__(self, "units", {n: self.units[n] for n in cols})
        object.__setattr__(self, "scheduled_lab_s", sched)
        object.__setattr__(self, "meta", dict(self.meta))

    @classmethod
    def from_series(cls, *series: Series, meta: Mapping[str, Any] | None = None) -> Recording:
        """Put series sharing the same timestamps into one recording."""
        if not series:
            raise ValueError("from_series() needs at least one series")
        t = series[0].t_lab_s
        for s in series[1:]:
            if s.t_lab_s.shape != t.shape or not np.array_equal(s.t_lab_s, t):
                raise ValueError(f"series {s.name!r} is not sampled at the same times as "
                                 f"{series[0].name!r}; resample_at() one onto the other first")
        return cls(t, {s.name: s.values for s in series}, {s.name: s.unit for s in series},
                   meta=meta or {})

    # -- access

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def __len__(self) -> int:
        return int(self.t_lab_s.size)

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> Series:
        try:
            values = self.columns[name]
        except KeyError:
            raise KeyError(f"no channel {name!r} in this recording; it has "
                           f"{', '.join(self.columns) or 'no channels'}") from None
        return Series(name, self.units[name], self.t_lab_s, values)

    def __getattr__(self, name: str) -> Series:
        columns = self.__dict__.get("columns")
        if columns is not None and name in columns:
            return self[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute or channel {name!r}")

    def __repr__(self) -> str:
        span = f", {self.duration_s:.3f} s" if len(self) > 1 else ""
        return f"Recording({len(self)} samples{span}, channels={list(self.columns)})"

    @property
    def start_lab_s(self) -> float:
        if not len(self):
            raise NoDataError("start_lab_s of an empty recording")
        return float(self.t_lab_s[0])

    @property
    def end_lab_s(self) -> float:
        if not len(self):
            raise NoDataError("end_lab_s of an empty recording")
        return float(self.t_lab_s[-1])

    @property
    def duration_s(self) -> float:
        return float(self.t_lab_s[-1] - self.t_lab_s[0]) if len(self) > 1 else 0.0

    @property
    def jitter_s(self) -> np.ndarray:
        """Per-sample lateness ``t_lab_s - scheduled_lab_s`` (lab s); empty without a schedule."""
        if self.scheduled_lab_s is None:
            return np.empty(0)
        return self.t_lab_s - self.scheduled_lab_s

    def achieved_rate_hz(self) -> float:
        """Samples per lab second actually acquired (NaN for fewer than two samples)."""
        return (len(self) - 1) / self.duration_s if self.duration_s > 0 else math.nan

    # -- selection

    def window(self, start_lab_s: float | None = None,
               end_lab_s: float | None = None) -> Recording:
        """The rows with ``start_lab_s <= t <= end_lab_s`` (absolute lab time)."""
        return self._rows(_window_mask(self.t_lab_s, start_lab_s, end_lab_s))

    def offset_window(self, from_s: float = 0.0, to_s: float | None = None) -> Recording:
        """The rows between ``from_s`` and ``to_s`` lab seconds after the first row."""
        if not len(self):
            return self
        t0 = float(self.t_lab_s[0])
        return self.window(t0 + from_s, None if to_s is None else t0 + to_s)

    def select(self, *channels: str) -> Recording:
        """A recording with only the named channels."""
        for name in channels:
            self[name]  # raises a KeyError naming the channels there are
        return Recording(self.t_lab_s, {n: self.columns[n] for n in channels},
                         {n: self.units[n] for n in channels}, self.scheduled_lab_s, self.meta)

    def resample(self, rate_hz: float, start_lab_s: float | None = None,
                 end_lab_s: float | None = None, max_gap_s: float | None = None) -> Recording:
        """Every channel linearly interpolated onto one uniform grid (see Series.resample)."""
        if not len(self) and (start_lab_s is None or end_lab_s is None):
            return Recording(np.empty(0), {n: np.empty(0) for n in self.columns}, self.units,
                             meta=self.meta)
        start = self.start_lab_s if start_lab_s is None else start_lab_s
        end = self.end_lab_s if end_lab_s is None else end_lab_s
        grid = uniform_grid(start, end, rate_hz)
        cols = {n: _interpolate(self.t_lab_s, v, grid, max_gap_s) for n, v in self.columns.items()}
        return Recording(grid, cols, self.units, meta={**self.meta, "resampled_hz": rate_hz})

    def _rows(self, mask: np.ndarray) -> Recording:
        sched = None if self.scheduled_lab_s is None else self.scheduled_lab_s[mask]
        return Recording(self.t_lab_s[mask], {n: v[mask] for n, v in self.columns.items()},
                         self.units, sched, self.meta)

    # -- CSV

    def to_csv(self, path: str | Path) -> Path:
        """Write the recording as CSV: ``#`` comment lines (format, meta as JSON), then a
        header row of ``name [unit]`` cells, then one row per sample. Missing values are
        written ``nan``; floats are written exactly (shortest round-trip form)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        names = [TIME_COLUMN] + ([SCHEDULE_COLUMN] if self.scheduled_lab_s is not None else [])
        arrays = [self.t_lab_s] + ([self.scheduled_lab_s] if self.scheduled_lab_s is not None
                                   else [])
        units = ["s"] * len(names)
        for name, values in self.columns.items():
            names.append(name)
            arrays.append(values)
            units.append(self.units[name])
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(f"# {CSV_MAGIC}\n")
            fh.write(f"# meta {json.dumps(self.meta, sort_keys=True, default=str)}\n")
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow([f"{n} [{u}]" for n, u in zip(names, units, strict=True)])
            rows = np.column_stack(arrays) if arrays[0].size else np.empty((0, len(arrays)))
            writer.writerows([[repr(x) for x in row] for row in rows.tolist()])
        return path

    @classmethod
    def from_csv(cls, path: str | Path) -> Recording:
        """Read a CSV written by :meth:`to_csv` (a plain CSV with a ``t_lab_s`` column and
        ``name [unit]`` headers is accepted too)."""
        path = Path(path)
        meta: dict[str, Any] = {}
        header: list[str] | None = None
        rows: list[list[str]] = []
        with path.open(encoding="utf-8", newline="") as fh:
            for lineno, line in enumerate(fh, start=1):
                if line.startswith("#"):
                    if line.startswith("# meta "):
                        try:
                            meta = json.loads(line[len("# meta "):])
                        except json.JSONDecodeError as exc:
                            raise ValueError(f"{path}:{lineno}: unreadable meta line ({exc})") \
                                from None
                    continue
                if not line.strip():
                    continue
                cells = next(csv.reader([line]))
                if header is None:
                    header = cells
                elif len(cells) != len(header):
                    raise ValueError(f"{path}:{lineno}: {len(cells)} cells for "
                                     f"{len(header)} columns")
                else:
                    rows.append(cells)
        if header is None:
            raise ValueError(f"{path}: no header row; is this a recording CSV?")
        names, units = zip(*(_parse_header_cell(c) for c in header), strict=True)
        if TIME_COLUMN not in names:
            raise ValueError(f"{path}: no {TIME_COLUMN!r} column (columns: {list(names)})")
        try:
            data = np.array(rows, dtype=float).reshape(len(rows), len(names))
        except ValueError as exc:
            raise ValueError(f"{path}: a cell is not a number ({exc})") from None
        by_name = {n: data[:, i] for i, n in enumerate(names)}
        t = by_name.pop(TIME_COLUMN)
        sched = by_name.pop(SCHEDULE_COLUMN, None)
        unit_of = dict(zip(names, units, strict=True))
        return cls(t, by_name, {n: unit_of[n] for n in by_name}, sched, meta)


def _parse_header_cell(cell: str) -> tuple[str, str]:
    cell = cell.strip()
    if cell.endswith("]") and "[" in cell:
        name, _, unit = cell[:-1].partition("[")
        return name.strip(), unit.strip()
    return cell, ""


__all__ = ["NoDataError", "Recording", "Series", "uniform_grid"]
