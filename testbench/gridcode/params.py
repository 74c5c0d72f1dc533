"""Named grid-code parameter sets (EN 50549 defaults, VDE-AR-N 4105, national choices).

A set is a TOML file in ``parameter_sets/``. Every parameter carries a *status*:

- ``confirmed``: as stated by the source named (a standard, a regulation, the project's
  reference facts);
- ``verify``: believed right but not checked against the primary document;
- ``example``: an illustrative test setting where the DSO chooses the value (a Q(U) curve,
  a P(U) curve): the device is tested for following the setting, whatever it is;
- ``unknown``: no value; reading it raises :class:`UnknownParameterError`;
- ``lab``: set by the lab (lab.toml overrides).

A national set ``inherits`` another (EN 50549 defaults) and overrides what it knows; an
inherited value is marked as such and gets at least the status ``inherited_status``
(default ``verify``: the national choice was not confirmed).

Suites read values through typed accessors and never hold literals::

    params = load_parameter_set("nl")
    params.lfsm_o.threshold_hz         # 50.2 (a float), or UnknownParameterError
    params.q_u.curve(1.05)              # Q in pu of S_rated at 1.05 Un
    params.protection["81<"].trip_time_s
    params.value("lfsm_o.droop_pct")   # the Value: status, source, note, inheritance
"""

from __future__ import annotations

import inspect
import itertools
import math
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

import numpy as np

from testbench.errors import BenchError

Status = Literal["confirmed", "lab", "verify", "example", "unknown"]
STATUSES: tuple[str, ...] = ("confirmed", "lab", "verify", "example", "unknown")
_RANK = {"confirmed": 0, "lab": 0, "verify": 1, "example": 2, "unknown": 3}

PARAMETER_SET_DIR = Path(__file__).with_name("parameter_sets")

PROTECTION_CODES: dict[str, str] = {
    "27<": "under-voltage stage 1",
    "27<<": "under-voltage stage 2",
    "59>": "over-voltage stage 1",
    "59>>": "over-voltage stage 2",
    "59avg": "over-voltage, 10-minute mean",
    "81<": "under-frequency stage 1",
    "81<<": "under-frequency stage 2",
    "81>": "over-frequency stage 1",
    "81>>": "over-frequency stage 2",
}


class ParameterSetError(BenchError, ValueError):
    """A parameter set is unknown, unreadable or malformed (names file, key and fix)."""


class UnknownParameterError(BenchError, LookupError):
    """A suite asked for a parameter the set does not know: the test cannot be judged."""


# ----------------------------------------------------------------------------- values
@dataclass(frozen=True)
class Value:
    """One parameter of a set, with where it comes from and how sure it is."""

    path: str
    value: Any
    status: Status
    source: str = ""
    note: str = ""
    inherited_from: str | None = None
    set_name: str = ""
    universal: bool = False  # not a national choice: inheriting keeps the status

    @property
    def known(self) -> bool:
        return self.status != "unknown"

    def get(self) -> Any:
        """The value; raises :class:`UnknownParameterError` when it is unknown."""
        if not self.known:
            hint = f" ({self.note})" if self.note else ""
            raise UnknownParameterError(
                f"grid-code parameter {self.path} of set {self.set_name!r} is unknown{hint}. "
                f"Fix: give it as a lab override (load_parameter_set(name, "
                f"{{\"{self.path}\": ...}}), from the station's grid-code settings in "
                "lab.toml) or in the set's TOML file with its source")
        return self.value

    def describe(self) -> str:
        where = f" inherited from {self.inherited_from}" if self.inherited_from else ""
        src = f"; source: {self.source}" if self.source else ""
        note = f"; {self.note}" if self.note else ""
        shown = "-" if not self.known else _show(self.value)
        return f"{self.path} = {shown} [{self.status}{where}]{src}{note}"


def _show(value: Any) -> str:
    if isinstance(value, Curve):
        return " ".join(f"({x:g}, {y:g})" for x, y in value.points)
    if isinstance(value, tuple) and value and isinstance(value[0], FrequencyBand):
        return ", ".join(str(b) for b in value)
    return str(value)


@dataclass(frozen=True)
class Curve:
    """A piecewise-linear characteristic through ``points`` (x ascending), flat outside them.

    Callable on a float or an array. Two points with the same x make a vertical edge (used
    by ride-through envelopes); evaluated exactly there, the later point counts.
    """

    points: tuple[tuple[float, float], ...]
    x: str = "x"
    y: str = "y"

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a curve needs at least one point")
        xs = [p[0] for p in self.points]
        if any(b < a for a, b in itertools.pairwise(xs)):
            raise ValueError(f"curve points must be in ascending {self.x}: {xs}")

    @property
    def xs(self) -> np.ndarray:
        return np.array([p[0] for p in self.points], dtype=float)

    @property
    def ys(self) -> np.ndarray:
        return np.array([p[1] for p in self.points], dtype=float)

    def __call__(self, x: float | np.ndarray) -> Any:
        xs, ys = self.xs, self.ys
        arr = np.asarray(x, dtype=float)
        # Right-continuous at vertical edges: the last point with that x wins.
        idx = np.searchsorted(xs, arr, side="right")
        lo = np.clip(idx - 1, 0, xs.size - 1)
        hi = np.clip(idx, 0, xs.size - 1)
        span = xs[hi] - xs[lo]
        frac = np.where(span > 0, (arr - xs[lo]) / np.where(span > 0, span, 1.0), 0.0)
        out = np.where(np.isnan(arr), np.nan, ys[lo] + frac * (ys[hi] - ys[lo]))
        return float(out) if np.ndim(out) == 0 else out

    def scaled(self, x_factor: float = 1.0, y_factor: float = 1.0, x: str | None = None,
               y: str | None = None) -> Curve:
        """The same curve in other units (e.g. pu -> V with ``x_factor = U_n``)."""
        return Curve(tuple((px * x_factor, py * y_factor) for px, py in self.points),
                     x or self.x, y or self.y)


@dataclass(frozen=True)
class FrequencyBand:
    """Stay connected for at least ``min_duration_s`` while ``low_hz <= f <= high_hz``."""

    low_hz: float
    high_hz: float
    min_duration_s: float

    def __str__(self) -> str:
        d = "unlimited" if math.isinf(self.min_duration_s) else f"{self.min_duration_s:g} s"
        return f"{self.low_hz:g}-{self.high_hz:g} Hz: {d}"


@dataclass(frozen=True)
class ProtectionStage:
    """One interface-protection function: trip when beyond ``threshold`` for ``trip_time_s``.

    Frequency stages (81) have thresholds in Hz, voltage stages (27, 59) in pu of the
    nominal voltage; ``59avg`` acts on the 10-minute mean.
    """

    code: str
    threshold: float
    trip_time_s: float
    enabled: bool = True

    @property
    def quantity(self) -> Literal["frequency", "voltage"]:
        return "frequency" if self.code.startswith("81") else "voltage"

    @property
    def unit(self) -> str:
        return "Hz" if self.quantity == "frequency" else "pu"

    @property
    def trips_below(self) -> bool:
        return "<" in self.code

    @property
    def title(self) -> str:
        return PROTECTION_CODES[self.code]

    def __str__(self) -> str:
        if not self.enabled:
            return f"{self.code} disabled"
        return f"{self.code} {self.threshold:g} {self.unit} / {self.trip_time_s:g} s"

    def threshold_v(self, nominal_v: float) -> float:
        if self.quantity != "voltage":
            raise ValueError(f"stage {self.code} is a frequency stage; use threshold (Hz)")
        return self.threshold * nominal_v


# ----------------------------------------------------------------------------- sections
_KINDS = {"float": "number", "bool": "bool", "Curve": "curve",
          "tuple[FrequencyBand, ...]": "bands"}


class Section:
    """A group of parameters; attribute access returns the value or raises if unknown."""

    key: ClassVar[str] = ""
    axes: ClassVar[dict[str, tuple[str, str]]] = {}
    kinds: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kinds = {}
        for name, annotation in inspect.get_annotations(cls).items():
            text = str(annotation)
            if text.startswith("ClassVar"):
                continue
            kinds[name] = _KINDS[text]
        cls.kinds = kinds

    def __init__(self, set_name: str, values: Mapping[str, Value]) -> None:
        object.__setattr__(self, "_set_name", set_name)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values: dict[str, Value] = self.__dict__["_values"]
        if name not in values:
            raise AttributeError(f"grid-code section {self.key!r} has no parameter {name!r}; "
                                 f"it has {', '.join(sorted(values))}")
        return values[name].get()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"grid-code parameters are read-only ({self.key}.{name})")

    def param(self, name: str) -> Value:
        """The :class:`Value` of one parameter (status, source, note), known or not."""
        try:
            return cast(dict[str, Value], self.__dict__["_values"])[name]
        except KeyError:
            raise AttributeError(f"grid-code section {self.key!r} has no parameter "
                                 f"{name!r}") from None

    def params(self) -> Iterator[Value]:
        return iter(cast(dict[str, Value], self.__dict__["_values"]).values())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.__dict__['_set_name']!r}>"


class Nominal(Section):
    """Nominal values of the connection point (voltage phase to neutral)."""

    key = "nominal"
    voltage_v: float
    frequency_hz: float


class FrequencyRanges(Section):
    """Frequency ranges and minimum times the unit must stay connected (RfG Art. 13)."""

    key = "frequency_ranges"
    bands: tuple[FrequencyBand, ...]

    def min_duration_s(self, frequency_hz: float) -> float:
        """How long the unit must stay connected at ``frequency_hz`` (0 outside every band)."""
        return max((b.min_duration_s for b in self.bands
                    if b.low_hz <= frequency_hz <= b.high_hz), default=0.0)


class Rocof(Section):
    """Withstand capability against rate of change of frequency."""

    key = "rocof"
    immunity_hz_per_s: float
    window_s: float


class LfsmO(Section):
    """Limited frequency sensitive mode, over-frequency: power reduction above f1."""

    key = "lfsm_o"
    threshold_hz: float
    droop_pct: float
    intentional_delay_s: float
    response_time_s: float
    deactivation_threshold_hz: float
    deactivation_delay_s: float

    def delta_p_w(self, frequency_hz: float, p_ref_w: float, f_n_hz: float = 50.0) -> float:
        """Required change of active power at ``frequency_hz`` (negative: reduce)."""
        excess = max(0.0, frequency_hz - self.threshold_hz)
        return -p_ref_w * excess / (f_n_hz * self.droop_pct / 100.0)


class LfsmU(Section):
    """Limited frequency sensitive mode, under-frequency: power increase below f1."""

    key = "lfsm_u"
    threshold_hz: float
    droop_pct: float
    intentional_delay_s: float
    response_time_s: float
    charging_to_feed_in_allowed: bool

    def delta_p_w(self, frequency_hz: float, p_ref_w: float, f_n_hz: float = 50.0) -> float:
        """Required change of active power at ``frequency_hz`` (positive: increase)."""
        deficit = max(0.0, self.threshold_hz - frequency_hz)
        return p_ref_w * deficit / (f_n_hz * self.droop_pct / 100.0)


class UnderfrequencyReduction(Section):
    """Admissible active-power reduction at under-frequency (RfG Art. 13(4))."""

    key = "underfrequency_reduction"
    threshold_hz: float
    max_reduction_pct_per_hz: float


class QU(Section):
    """Reactive power as a function of voltage: Q in pu of S_rated, positive = over-excited
    (injecting, generator convention), against U in pu of nominal; first-order response."""

    key = "q_u"
    axes: ClassVar[dict[str, tuple[str, str]]] = {"curve": ("u_pu", "q_pu")}
    curve: Curve
    three_tau_s: float
    three_tau_min_s: float
    three_tau_max_s: float


class CosPhiP(Section):
    """Power factor as a function of active power: signed cos phi (negative = under-excited,
    absorbing reactive power) against P in pu of P_max."""

    key = "cos_phi_p"
    axes: ClassVar[dict[str, tuple[str, str]]] = {"curve": ("p_pu", "cos_phi")}
    curve: Curve
    settling_time_s: float


class CosPhiFixed(Section):
    """Fixed cos phi / fixed Q capability: the lowest cos phi the unit must reach."""

    key = "cos_phi_fixed"
    min_under_excited: float
    min_over_excited: float


class PU(Section):
    """Voltage-related active power reduction: P in pu of P_max against U in pu."""

    key = "p_u"
    axes: ClassVar[dict[str, tuple[str, str]]] = {"curve": ("u_pu", "p_pu")}
    curve: Curve
    three_tau_s: float


class Frt(Section):
    """Fault ride-through envelopes: U in pu against time since fault inception. The unit
    must stay connected while the voltage is above ``under_voltage`` (and, for swells,
    below ``over_voltage``)."""

    key = "frt"
    axes: ClassVar[dict[str, tuple[str, str]]] = {"under_voltage": ("t_s", "u_pu"), "over_voltage": ("t_s", "u_pu")}
    under_voltage: Curve
    over_voltage: Curve


class Reconnection(Section):
    """(Re)connection conditions: window, observation time, power ramp (% of P_n per min)."""

    key = "reconnection"
    voltage_min_pu: float
    voltage_max_pu: float
    frequency_min_hz: float
    frequency_max_hz: float
    observation_time_s: float
    ramp_pct_per_min: float
    first_connection_observation_time_s: float
    first_connection_ramp_pct_per_min: float

    def in_window(self, voltage_pu: float, frequency_hz: float) -> bool:
        return (self.voltage_min_pu <= voltage_pu <= self.voltage_max_pu
                and self.frequency_min_hz <= frequency_hz <= self.frequency_max_hz)


class Protection:
    """Interface protection stages by code (``27<``, ``27<<``, ``59>``, ``59>>``, ``59avg``,
    ``81<``, ``81<<``, ``81>``, ``81>>``)."""

    key = "protection"

    def __init__(self, set_name: str, stages: Mapping[str, Value]) -> None:
        self._set_name = set_name
        self._stages = dict(stages)

    def __getitem__(self, code: str) -> ProtectionStage:
        return cast(ProtectionStage, self.param(code).get())

    def stage(self, code: str) -> ProtectionStage:
        return self[code]

    def param(self, code: str) -> Value:
        try:
            return self._stages[code]
        except KeyError:
            raise KeyError(f"no protection stage {code!r}; stages are "
                           f"{', '.join(PROTECTION_CODES)}") from None

    def params(self) -> Iterator[Value]:
        return iter(self._stages.values())

    def enabled(self) -> list[ProtectionStage]:
        """The known, enabled stages (unknown ones are left out: see :meth:`param`)."""
        return [v.value for v in self._stages.values() if v.known and v.value.enabled]


SECTIONS: tuple[type[Section], ...] = (Nominal, FrequencyRanges, Rocof, LfsmO, LfsmU,
                                       UnderfrequencyReduction, QU, CosPhiP, CosPhiFixed, PU,
                                       Frt, Reconnection)


@dataclass(frozen=True)
class GridCodeParameters:
    """A loaded parameter set: typed sections plus what the set says about itself."""

    name: str
    title: str
    country: str
    synchronous_area: str
    inherits: str | None
    description: str
    sources: tuple[str, ...]
    path: Path
    nominal: Nominal
    frequency_ranges: FrequencyRanges
    rocof: Rocof
    lfsm_o: LfsmO
    lfsm_u: LfsmU
    underfrequency_reduction: UnderfrequencyReduction
    q_u: QU
    cos_phi_p: CosPhiP
    cos_phi_fixed: CosPhiFixed
    p_u: PU
    frt: Frt
    reconnection: Reconnection
    protection: Protection
    lab_overrides: tuple[str, ...] = field(default=())

    def values(self) -> list[Value]:
        """Every parameter of the set, in file order."""
        out: list[Value] = []
        for section in SECTIONS:
            out.extend(getattr(self, section.key).params())
        out.extend(self.protection.params())
        return out

    def value(self, path: str) -> Value:
        """One parameter by dotted path, e.g. ``lfsm_o.threshold_hz`` or ``protection.81<``."""
        section, _, name = path.partition(".")
        if section == "protection":
            return self.protection.param(name)
        if section not in {s.key for s in SECTIONS}:
            raise KeyError(f"no grid-code section {section!r}; sections are "
                           f"{', '.join(s.key for s in SECTIONS)}, protection")
        return cast(Section, getattr(self, section)).param(name)

    def unconfirmed(self) -> list[Value]:
        """The parameters a verdict should be read with care against (not confirmed)."""
        return [v for v in self.values() if v.status in ("verify", "example", "unknown")]

    def problems(self) -> list[str]:
        """Contradictions between known values: a frequency stage that trips where the unit
        must stay connected, an LFSM threshold beyond a trip threshold."""
        out: list[str] = []
        known = {v.path: v.value for v in self.values() if v.known}
        bands = known.get("frequency_ranges.bands", ())

        def must_stay_s(f_hz: float) -> float:
            return max((b.min_duration_s for b in bands if b.low_hz <= f_hz <= b.high_hz),
                       default=0.0)

        for code in ("81<", "81<<", "81>", "81>>"):
            stage = known.get(f"protection.{code}")
            if stage is None or not stage.enabled:
                continue
            beyond = stage.threshold - 1e-9 if stage.trips_below else stage.threshold + 1e-9
            stay = must_stay_s(beyond)
            if stay > stage.trip_time_s:
                out.append(f"{stage} trips where the unit must stay connected for "
                           f"{stay:g} s (frequency_ranges)")
            lfsm = known.get("lfsm_u.threshold_hz" if stage.trips_below
                             else "lfsm_o.threshold_hz")
            if lfsm is not None and (lfsm <= stage.threshold if stage.trips_below
                                     else lfsm >= stage.threshold):
                side = "LFSM-U" if stage.trips_below else "LFSM-O"
                out.append(f"{side} threshold {lfsm:g} Hz lies beyond the trip threshold {stage}")
        return out

    def describe(self) -> str:
        """A plain-text table of every parameter, for reports and the console."""
        head = f"{self.name}: {self.title}"
        if self.inherits:
            head += f" (inherits {self.inherits})"
        return "\n".join([head, *("  " + v.describe() for v in self.values())])


# ----------------------------------------------------------------------------- loading
def list_parameter_sets(search_dirs: Sequence[Path | str] = ()) -> list[str]:
    """Names of the parameter sets available (built-in, plus those in ``search_dirs``)."""
    names = {p.stem for d in (*map(Path, search_dirs), PARAMETER_SET_DIR)
             for p in Path(d).glob("*.toml")}
    return sorted(names)


def load_parameter_set(name: str, overrides: Mapping[str, Any] | None = None, *,
                       search_dirs: Sequence[Path | str] = ()) -> GridCodeParameters:
    """Load the set ``name`` (a built-in name, a name in ``search_dirs``, or a TOML path).

    ``overrides`` (from lab.toml) replace values and get status ``lab``: either dotted
    keys (``{"lfsm_o.threshold_hz": 50.5}``, ``{"protection.81>": {...}}``) or nested
    tables (``{"lfsm_o": {"threshold_hz": 50.5}}``); values take the same forms as in a
    set file.
    """
    dirs = tuple(map(Path, search_dirs))
    values, meta = _resolve(name, dirs, ())
    applied: list[str] = []
    for path, raw in _flatten_overrides(overrides or {}).items():
        if path not in values:
            raise ParameterSetError(f"lab override {path!r}: no such grid-code parameter. "
                                    f"Known: {_known_paths()}")
        values[path] = _lab_value(path, raw, values[path], meta["name"])
        applied.append(path)
    return _build(meta, values, tuple(applied))


def _known_paths() -> str:
    paths = [f"{s.key}.{n}" for s in SECTIONS for n in s.kinds]
    return ", ".join([*paths, *(f"protection.{c}" for c in PROTECTION_CODES)])


def _find(name: str, dirs: tuple[Path, ...]) -> Path:
    candidate = Path(name)
    if candidate.suffix == ".toml":
        if candidate.is_file():
            return candidate
        raise ParameterSetError(f"grid-code parameter set file {name} does not exist")
    for d in (*dirs, PARAMETER_SET_DIR):
        path = d / f"{name}.toml"
        if path.is_file():
            return path
    raise ParameterSetError(f"unknown grid-code parameter set {name!r}; known sets: "
                            f"{', '.join(list_parameter_sets(dirs))}. Fix the station's "
                            "grid code in lab.toml or add a TOML file")


_TOP_KEYS = {"name", "title", "country", "synchronous_area", "inherits", "description",
             "sources", "default_status", "inherited_status", "inherited_note"}


def _resolve(name: str, dirs: tuple[Path, ...],
             chain: tuple[str, ...]) -> tuple[dict[str, Value], dict[str, Any]]:
    path = _find(name, dirs)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ParameterSetError(f"{path}: not valid TOML ({exc})") from None
    where = str(path)
    set_name = data.get("name")
    if set_name != path.stem:
        raise ParameterSetError(f"{where}: name = {set_name!r} must match the file name "
                                f"{path.stem!r}")
    if set_name in chain:
        raise ParameterSetError(f"{where}: inheritance loop {' -> '.join((*chain, set_name))}")
    section_keys = {s.key for s in SECTIONS} | {"protection"}
    unknown = sorted(set(data) - _TOP_KEYS - section_keys)
    if unknown:
        raise ParameterSetError(f"{where}: unknown key(s) {unknown}; top-level keys are "
                                f"{sorted(_TOP_KEYS)} and sections {sorted(section_keys)}")
    default_status = _status(data.get("default_status", ""), where, "default_status")
    parent = str(data.get("inherits") or "")
    parent_values: dict[str, Value] = {}
    parent_meta: dict[str, Any] = {}
    if parent:
        parent_values, parent_meta = _resolve(str(parent), dirs, (*chain, set_name))
    inherited_status = _status(data.get("inherited_status", "verify"), where,
                               "inherited_status")
    inherited_note = str(data.get("inherited_note", ""))
    values: dict[str, Value] = {}
    for section in SECTIONS:
        table = data.get(section.key, {})
        if not isinstance(table, dict):
            raise ParameterSetError(f"{where}: [{section.key}] must be a table")
        extra = sorted(set(table) - set(section.kinds))
        if extra:
            raise ParameterSetError(f"{where}: [{section.key}] has unknown parameter(s) "
                                    f"{extra}; known: {sorted(section.kinds)}")
        for pname, kind in section.kinds.items():
            p = f"{section.key}.{pname}"
            if pname in table:
                axes = section.axes.get(pname, ("x", "y"))
                values[p] = _leaf(p, kind, table[pname], default_status, set_name, where, axes)
            elif p in parent_values:
                values[p] = _inherit(parent_values[p], parent, inherited_status, inherited_note,
                                     set_name)
            else:
                raise ParameterSetError(
                    f"{where}: [{section.key}] {pname} is missing. A set without 'inherits' "
                    f"must list every parameter; write {pname} = \"unknown\" if not known")
    stages = data.get("protection", {})
    if not isinstance(stages, dict):
        raise ParameterSetError(f"{where}: [protection] must be a table of stages")
    extra = sorted(set(stages) - set(PROTECTION_CODES))
    if extra:
        raise ParameterSetError(f"{where}: [protection] has unknown stage(s) {extra}; stages "
                                f"are {list(PROTECTION_CODES)} (quote them: [protection.\"81<\"])")
    for code in PROTECTION_CODES:
        p = f"protection.{code}"
        if code in stages:
            values[p] = _stage(p, code, stages[code], default_status, set_name, where, None)
        elif p in parent_values:
            values[p] = _inherit(parent_values[p], parent, inherited_status, inherited_note,
                                 set_name)
        else:
            raise ParameterSetError(f"{where}: [protection.\"{code}\"] is missing; a set "
                                    "without 'inherits' must list every stage (status = "
                                    "\"unknown\" if not known, enabled = false if not used)")
    sources = data.get("sources", [])
    meta = {
        "name": set_name,
        "title": str(data.get("title", set_name)),
        "country": str(data.get("country", parent_meta.get("country", ""))),
        "synchronous_area": str(data.get("synchronous_area",
                                         parent_meta.get("synchronous_area", ""))),
        "inherits": parent or None,
        "description": str(data.get("description", "")),
        "sources": tuple(str(s) for s in sources),
        "path": path,
    }
    return values, meta


def _status(raw: Any, where: str, key: str) -> Status:
    if raw not in STATUSES:
        raise ParameterSetError(f"{where}: {key} = {raw!r}; status must be one of "
                                f"{', '.join(STATUSES)}")
    return cast(Status, raw)


def _inherit(parent: Value, parent_name: str, inherited_status: Status, note: str,
             set_name: str) -> Value:
    if parent.universal:
        return replace(parent, inherited_from=parent.inherited_from or parent_name,
                       set_name=set_name)
    status = parent.status if _RANK[parent.status] >= _RANK[inherited_status] \
        else inherited_status
    notes = "; ".join(n for n in (parent.note, note) if n)
    return replace(parent, status=status, note=notes,
                   inherited_from=parent.inherited_from or parent_name, set_name=set_name)


_LEAF_KEYS = {"value", "points", "status", "source", "note", "universal"}


def _leaf(path: str, kind: str, raw: Any, default_status: Status, set_name: str, where: str,
          axes: tuple[str, str]) -> Value:
    status, source, note = default_status, "", ""
    if raw == "unknown":
        return Value(path, None, "unknown", set_name=set_name)
    if isinstance(raw, dict):
        extra = sorted(set(raw) - _LEAF_KEYS)
        if extra:
            raise ParameterSetError(f"{where}: {path}: unknown key(s) {extra} in the table; "
                                    f"use {sorted(_LEAF_KEYS)}")
        status = _status(raw.get("status", default_status), where, f"{path}.status")
        source, note = str(raw.get("source", "")), str(raw.get("note", ""))
        universal = raw.get("universal", False)
        if not isinstance(universal, bool):
            raise ParameterSetError(f"{where}: {path}: universal must be true or false")
        raw = raw.get("points", raw.get("value"))
        if status == "unknown":
            return Value(path, None, "unknown", source, note, set_name=set_name)
        if raw is None:
            raise ParameterSetError(f"{where}: {path}: no value; give value = ... or "
                                    "status = \"unknown\"")
    else:
        universal = False
    try:
        value = _convert(path, kind, raw, axes)
    except (TypeError, ValueError) as exc:
        raise ParameterSetError(f"{where}: {path}: {exc}") from None
    return Value(path, value, status, source, note, set_name=set_name, universal=universal)


def _convert(path: str, kind: str, raw: Any, axes: tuple[str, str]) -> Any:
    name = path.rsplit(".", 1)[-1]
    if kind == "bool":
        if not isinstance(raw, bool):
            raise TypeError(f"expected true or false, got {raw!r}")
        return raw
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise TypeError(f"expected a number, got {raw!r}")
        value = float(raw)
        _check_range(name, value)
        return value
    if kind == "curve":
        if not isinstance(raw, list) or not all(isinstance(p, list) and len(p) == 2
                                                for p in raw):
            raise TypeError(f"expected points = [[{axes[0]}, {axes[1]}], ...], got {raw!r}")
        return Curve(tuple((float(x), float(y)) for x, y in raw), *axes)
    if kind == "bands":
        if not isinstance(raw, list):
            raise TypeError(f"expected a list of {{low_hz, high_hz, min_duration_s}}, "
                            f"got {raw!r}")
        bands = []
        for band in raw:
            if not isinstance(band, dict) or set(band) != {"low_hz", "high_hz",
                                                           "min_duration_s"}:
                raise TypeError(f"band {band!r} needs exactly low_hz, high_hz, min_duration_s")
            duration = band["min_duration_s"]
            seconds = math.inf if duration == "unlimited" else float(duration)
            if float(band["low_hz"]) >= float(band["high_hz"]) or seconds < 0:
                raise ValueError(f"band {band!r}: low_hz < high_hz and a duration >= 0 needed")
            bands.append(FrequencyBand(float(band["low_hz"]), float(band["high_hz"]), seconds))
        return tuple(bands)
    raise AssertionError(kind)


def _check_range(name: str, value: float) -> None:
    if name.endswith("_hz") and "_per_" not in name and not 40.0 <= value <= 70.0:
        raise ValueError(f"{value:g} Hz is not a grid frequency (40..70 Hz)")
    if name.endswith(("_s", "_pct", "_per_s", "_per_hz", "_per_min")) and value < 0:
        raise ValueError(f"{value:g} must be >= 0")
    if name.endswith("_pu") and not 0.0 <= value <= 2.0:
        raise ValueError(f"{value:g} pu is outside 0..2")
    if name.startswith("min_") and not 0.0 < value <= 1.0:
        raise ValueError(f"cos phi {value:g} is outside 0..1")


_STAGE_KEYS = {"threshold_hz", "threshold_pu", "trip_time_s", "enabled", "status", "source",
               "note"}


def _stage(path: str, code: str, raw: Any, default_status: Status, set_name: str, where: str,
           base: ProtectionStage | None) -> Value:
    if not isinstance(raw, dict):
        raise ParameterSetError(f"{where}: {path}: a stage is a table (threshold_hz or "
                                "threshold_pu, trip_time_s, enabled, status, source, note)")
    extra = sorted(set(raw) - _STAGE_KEYS)
    if extra:
        raise ParameterSetError(f"{where}: {path}: unknown key(s) {extra}; "
                                f"use {sorted(_STAGE_KEYS)}")
    status = _status(raw.get("status", default_status), where, f"{path}.status")
    source, note = str(raw.get("source", "")), str(raw.get("note", ""))
    if status == "unknown":
        return Value(path, None, "unknown", source, note, set_name=set_name)
    unit_key = "threshold_hz" if code.startswith("81") else "threshold_pu"
    wrong = "threshold_pu" if unit_key == "threshold_hz" else "threshold_hz"
    if wrong in raw:
        raise ParameterSetError(f"{where}: {path}: stage {code} takes {unit_key}, not {wrong}")
    enabled = raw.get("enabled", True if base is None else base.enabled)
    threshold = raw.get(unit_key, None if base is None else base.threshold)
    trip = raw.get("trip_time_s", None if base is None else base.trip_time_s)
    if not isinstance(enabled, bool):
        raise ParameterSetError(f"{where}: {path}: enabled must be true or false")
    if threshold is None or trip is None:
        if enabled:
            raise ParameterSetError(f"{where}: {path}: give {unit_key} and trip_time_s, or "
                                    "enabled = false, or status = \"unknown\"")
        threshold, trip = math.nan, math.nan
    try:
        if enabled:
            _check_range(unit_key, float(threshold))
            _check_range("trip_time_s", float(trip))
    except (TypeError, ValueError) as exc:
        raise ParameterSetError(f"{where}: {path}: {exc}") from None
    stage = ProtectionStage(code, float(threshold), float(trip), enabled)
    return Value(path, stage, status, source, note, set_name=set_name)


def _flatten_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    sections = {s.key for s in SECTIONS} | {"protection"}
    for key, raw in overrides.items():
        if "." in key:
            flat[key] = raw
        elif key in sections and isinstance(raw, dict):
            for name, leaf in raw.items():
                flat[f"{key}.{name}"] = leaf
        else:
            raise ParameterSetError(f"lab override {key!r}: use a dotted parameter path "
                                    f"(\"lfsm_o.threshold_hz\") or a section table "
                                    f"({', '.join(sorted(sections))})")
    return flat


def _lab_value(path: str, raw: Any, current: Value, set_name: str) -> Value:
    where = "lab.toml override"
    if path.startswith("protection."):
        code = path.split(".", 1)[1]
        raw = {"status": "lab", **raw} if isinstance(raw, dict) else raw
        base = current.value if current.known else None
        value = _stage(path, code, raw, "lab", set_name, where, base)
    else:
        section = next(s for s in SECTIONS if path.startswith(s.key + "."))
        name = path.split(".", 1)[1]
        value = _leaf(path, section.kinds[name], raw, "lab", set_name, where,
                      section.axes.get(name, ("x", "y")))
    return replace(value, source=value.source or "lab.toml", inherited_from=None)


def _build(meta: dict[str, Any], values: dict[str, Value],
           applied: tuple[str, ...]) -> GridCodeParameters:
    name = meta["name"]
    sections = {
        s.key: s(name, {p.split(".", 1)[1]: v for p, v in values.items()
                        if p.startswith(s.key + ".")})
        for s in SECTIONS
    }
    protection = Protection(name, {p.split(".", 1)[1]: v for p, v in values.items()
                                   if p.startswith("protection.")})
    return GridCodeParameters(**meta, **sections, protection=protection,  # type: ignore[arg-type]
                              lab_overrides=applied)


__all__ = [
    "PARAMETER_SET_DIR",
    "PROTECTION_CODES",
    "PU",
    "QU",
    "STATUSES",
    "CosPhiFixed",
    "CosPhiP",
    "Curve",
    "FrequencyBand",
    "FrequencyRanges",
    "Frt",
    "GridCodeParameters",
    "LfsmO",
    "LfsmU",
    "Nominal",
    "ParameterSetError",
    "Protection",
    "ProtectionStage",
    "Reconnection",
    "Rocof",
    "Section",
    "Status",
    "UnderfrequencyReduction",
    "UnknownParameterError",
    "Value",
    "list_parameter_sets",
    "load_parameter_set",
]
