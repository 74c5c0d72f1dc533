"""The composite schedule: what limit the installed profiles impose on an EVSE at each moment.

Rules (OCPP 1.6 §3.13.1-3; OCPP 2.0.1 Part 2 K "Stacking charging profiles" and "Combining
charging profile purposes", as quoted by public implementations):

- Within a purpose the *leading* profile at time t is the one with the highest stackLevel
  among those valid at t (validFrom <= t < validTo; an absent validFrom counts from
  installation) whose schedule has a period at t. A higher stack level whose schedule has
  ended (duration), not begun, or lies outside its validity falls through to the lower one.
- A schedule starts at startSchedule (Absolute), at its latest recurrence at or before t
  (Recurring, counting from startSchedule: nothing before the first one), or at the
  transaction start (Relative; without a transaction: when the profile was installed,
  else the start of the requested window). The last period runs to ``duration`` or on.
- Per EVSE: the session limit is PriorityCharging (2.1, only while the transaction asked
  for it), else the transaction's TxProfile, else TxDefaultProfile (the EVSE's own first,
  falling through to station-wide evse 0 ones, see ``Rules``). It is capped, by taking the
  minimum, by ChargingStationMaxProfile (evse 0) and ChargingStationExternalConstraints
  (evse 0: station-wide; evse N: that EVSE). 2.1 LocalGeneration is added on top (verify).
- Whole station (evse 0): the sum over the EVSEs of each one's session limit capped by its
  own external constraints (its rating where nothing applies; one unlimited EVSE makes the
  sum unlimited), capped once by the station-wide profiles ("expected consumption for the
  grid connection"; 1.6: ChargePointMaxProfile "is the limit for all connectors combined").
- Nothing applies: the EVSE's rating ``Supply.evse_max_a`` or ``None`` (no limit).

Units: A is per phase, W the total of all phases; P = V * I * phases with ``Supply.voltage_v``
(default 230 V). The phases are those the composite period uses: the smallest numberPhases
stated by the periods that make it, else ``Supply.default_phases`` (3, as OCPP assumes).
Times are Unix seconds (lab time); offsets are seconds from the requested start.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from testbench.schedule.profiles import (
    InstalledProfile,
    Kind,
    Purpose,
    RateUnit,
    SchedulePeriod,
)

_SESSION_PURPOSES = (Purpose.TX_DEFAULT, Purpose.TX, Purpose.PRIORITY)
_MAX_BOUNDARIES = 200_000
_SAME_INSTANT_S = 1e-6


@dataclass(frozen=True)
class Supply:
    """What the reference needs to know about the charger's supply and rating."""

    voltage_v: float = 230.0
    default_phases: int = 3
    evse_max_a: float | None = None

    def __post_init__(self) -> None:
        if not self.voltage_v > 0:
            raise ValueError(f"Supply.voltage_v must be > 0, got {self.voltage_v}")
        if self.default_phases not in (1, 2, 3):
            raise ValueError(f"Supply.default_phases must be 1, 2 or 3, got {self.default_phases}")

    def convert(self, value: float, from_unit: RateUnit, to_unit: RateUnit,
                phases: int | None = None) -> float:
        """Convert a limit between A (per phase) and W (all phases): P = V * I * phases."""
        return convert_limit(value, from_unit, to_unit, phases or self.default_phases,
                             self.voltage_v)

    def rating(self, unit: RateUnit, phases: int | None = None) -> float | None:
        """The EVSE rating in ``unit``, or None when unknown (no limit)."""
        if self.evse_max_a is None:
            return None
        return self.convert(self.evse_max_a, "A", unit, phases)


def convert_limit(value: float, from_unit: RateUnit, to_unit: RateUnit, phases: int,
                  voltage_v: float = 230.0) -> float:
    """A (per phase) <-> W (sum of phases): P = voltage_v * I * phases."""
    if from_unit == to_unit:
        return value
    factor = voltage_v * phases
    return value * factor if from_unit == "A" else value / factor


@dataclass(frozen=True)
class Transaction:
    """A transaction running on an EVSE (1.6: connector), started at ``start_s``.

    ``priority_charging``: the driver asked for priority charging (2.1), so a
    PriorityCharging profile replaces the TxProfile / TxDefaultProfile.
    """

    evse_id: int
    start_s: float
    transaction_id: str | int | None = None
    priority_charging: bool = False


@dataclass(frozen=True)
class Rules:
    """Interpretation choices where the specifications leave room and chargers differ.

    - ``tx_default_without_transaction``: TxDefaultProfiles shape the composite of an EVSE
      with no transaction ("what a transaction starting now would get"), as OCTT TC_056
      expects; False follows implementations that report only the station limits.
    - ``evse_tx_default_first``: an EVSE's own TxDefaultProfile leads over station-wide
      (evse 0) ones whatever their stack levels (1.6 §3.13.1: "replaced only for that
      specific connector"); False stacks both by stack level (EVSE-specific wins a tie).
    - ``rating_caps_profiles``: ``Supply.evse_max_a`` also caps profile limits, not only
      stretches where no profile applies.
    - ``local_generation_adds``: a 2.1 LocalGeneration limit is added on top of the
      composite (verify against the 2.1 text); False ignores it.
    """

    tx_default_without_transaction: bool = True
    evse_tx_default_first: bool = True
    rating_caps_profiles: bool = False
    local_generation_adds: bool = True


@dataclass(frozen=True)
class CompositePeriod:
    """One step of a composite schedule, from ``start_offset_s`` to the next step."""

    start_offset_s: float
    limit: float | None
    number_phases: int | None = None
    phase_to_use: int | None = None
    discharge_limit: float | None = None
    setpoint: float | None = None
    operation_mode: str | None = None  # 2.1, of the leading session period (None: not stated)

    def same_step(self, other: CompositePeriod) -> bool:
        """True when both steps say the same (so adjacent ones merge)."""
        return (self.limit, self.number_phases, self.phase_to_use, self.discharge_limit,
                self.setpoint, self.operation_mode) == (
                    other.limit, other.number_phases, other.phase_to_use,
                    other.discharge_limit, other.setpoint, other.operation_mode)


@dataclass(frozen=True)
class CompositeSchedule:
    """The reference composite over [start_s, start_s + duration_s) for one EVSE (0: station).

    ``limit`` None in a period means no limit (no profile and no rating). Adjacent equal
    periods are merged; the first period starts at offset 0.
    """

    evse_id: int
    start_s: float
    duration_s: float
    unit: RateUnit
    periods: tuple[CompositePeriod, ...]
    supply: Supply = field(default_factory=Supply)
    randomized_delay_s: int = 0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def segments(self) -> list[tuple[float, float, CompositePeriod]]:
        """(start offset, end offset, period) for each period, ends included."""
        ends = [p.start_offset_s for p in self.periods[1:]] + [self.duration_s]
        return [(p.start_offset_s, end, p) for p, end in zip(self.periods, ends, strict=True)]

    def period_at(self, t_s: float) -> CompositePeriod:
        """The period in force at Unix time ``t_s`` (the window end belongs to the last one)."""
        offset = t_s - self.start_s
        if offset < -_SAME_INSTANT_S or offset > self.duration_s + _SAME_INSTANT_S:
            raise ValueError(
                f"t = {t_s:.3f} is outside the schedule window [{self.start_s:.3f}, "
                f"{self.end_s:.3f}]: compute a composite that covers the moment to judge")
        starts = [p.start_offset_s for p in self.periods]
        index = max(0, bisect.bisect_right(starts, offset + _SAME_INSTANT_S / 10) - 1)
        return self.periods[index]

    def limit_at(self, t_s: float) -> float | None:
        """The limit in force at Unix time ``t_s`` (None: no limit)."""
        return self.period_at(t_s).limit

    def max_limit_between(self, t0_s: float, t1_s: float) -> float | None:
        """The highest limit in force anywhere in [t0_s, t1_s] (None if unlimited there)."""
        if t1_s < t0_s:
            raise ValueError(f"t1_s ({t1_s}) is before t0_s ({t0_s})")
        first = self.period_at(t0_s)
        self.period_at(t1_s)
        limits = [first.limit] + [p.limit for p in self.periods
                                  if t0_s - self.start_s < p.start_offset_s <= t1_s - self.start_s]
        if any(limit is None for limit in limits):
            return None
        return max(limit for limit in limits if limit is not None)

    def in_unit(self, unit: RateUnit) -> CompositeSchedule:
        """The same schedule expressed in ``unit`` (periods converted with their phases)."""
        if unit == self.unit:
            return self

        def conv(value: float | None, phases: int | None) -> float | None:
            return None if value is None else self.supply.convert(value, self.unit, unit, phases)

        periods = tuple(replace(p, limit=conv(p.limit, p.number_phases),
                                discharge_limit=conv(p.discharge_limit, p.number_phases),
                                setpoint=conv(p.setpoint, p.number_phases))
                        for p in self.periods)
        return replace(self, unit=unit, periods=periods)


# ----------------------------------------------------------------------------- public entry


def composite_schedule(profiles: Iterable[InstalledProfile], *, evse_id: int, start_s: float,
                       duration_s: float, unit: RateUnit = "A",
                       transactions: Iterable[Transaction] = (), supply: Supply | None = None,
                       evse_ids: Sequence[int] = (), rules: Rules | None = None,
                       ) -> CompositeSchedule:
    """The reference composite schedule for ``evse_id`` (0: whole station) over a window.

    ``evse_ids`` lists the station's EVSEs for the whole-station composite (default: those
    named by profiles and transactions).
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    if unit not in ("A", "W"):
        raise ValueError(f"unit must be 'A' or 'W', got {unit!r}")
    model = _Model(profiles, transactions, supply or Supply(), rules or Rules(), evse_ids,
                   fallback_anchor_s=start_s)
    end_s = start_s + duration_s
    points = [start_s] + [b for b in model.boundaries(start_s, end_s) if b > start_s]
    periods: list[CompositePeriod] = []
    for i, t in enumerate(points):
        nxt = points[i + 1] if i + 1 < len(points) else end_s
        step = model.value(evse_id, (t + nxt) / 2.0, unit, offset_s=t - start_s)
        if periods and periods[-1].same_step(step):
            continue
        periods.append(step)
    return CompositeSchedule(evse_id=evse_id, start_s=start_s, duration_s=duration_s, unit=unit,
                             periods=tuple(periods), supply=model.supply,
                             randomized_delay_s=model.randomized_delay_s())


def limit_at(profiles: Iterable[InstalledProfile], *, evse_id: int, t_s: float,
             unit: RateUnit = "A", transactions: Iterable[Transaction] = (),
             supply: Supply | None = None, evse_ids: Sequence[int] = (),
             rules: Rules | None = None, relative_start_s: float | None = None) -> float | None:
    """The limit at one instant, evaluated directly from the profiles (no schedule built).

    ``relative_start_s`` anchors Relative profiles that have neither a transaction nor an
    installation time (a composite uses its window start); None ignores such profiles.
    """
    model = _Model(profiles, transactions, supply or Supply(), rules or Rules(), evse_ids,
                   fallback_anchor_s=relative_start_s)
    return model.value(evse_id, t_s, unit, offset_s=0.0).limit


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class _Lead:
    profile: InstalledProfile
    period: SchedulePeriod

    @property
    def unit(self) -> RateUnit:
        return self.profile.profile.schedule.unit


class _Model:
    """The installed profiles and station state; evaluates limits and their change instants."""

    def __init__(self, profiles: Iterable[InstalledProfile], transactions: Iterable[Transaction],
                 supply: Supply, rules: Rules, evse_ids: Sequence[int],
                 fallback_anchor_s: float | None) -> None:
        self.profiles = list(profiles)
        self.supply = supply
        self.rules = rules
        self.fallback_anchor_s = fallback_anchor_s
        self.transactions: dict[int, Transaction] = {}
        for tx in transactions:
            if tx.evse_id <= 0:
                raise ValueError(f"transaction on evse {tx.evse_id}: transactions run on EVSE 1+")
            if tx.evse_id in self.transactions:
                raise ValueError(f"two transactions on evse {tx.evse_id}: give one per EVSE")
            self.transactions[tx.evse_id] = tx
        named = {p.evse_id for p in self.profiles if p.evse_id > 0} | set(self.transactions)
        self.evse_ids = tuple(sorted(set(evse_ids) or named))

    # -- one profile

    def _relative_anchor(self, item: InstalledProfile, evse_id: int) -> float | None:
        if item.purpose in _SESSION_PURPOSES and evse_id in self.transactions:
            return self.transactions[evse_id].start_s
        if item.installed_at_s is not None:
            return item.installed_at_s
        return self.fallback_anchor_s

    def _anchor(self, item: InstalledProfile, evse_id: int, t: float) -> float | None:
        """Start of the schedule occurrence in force at ``t`` (None: none has begun)."""
        sched = item.profile.schedule
        kind = item.profile.kind
        if kind is Kind.RECURRING:
            first = sched.start_schedule_s
            recurrency = item.profile.recurrency
            if first is None or recurrency is None or t < first:
                return None
            period_s = recurrency.period_s
            return first + math.floor((t - first) / period_s) * period_s
        if sched.start_schedule_s is not None and kind is not Kind.RELATIVE:
            return sched.start_schedule_s
        if kind is Kind.DYNAMIC:
            return item.installed_at_s if item.installed_at_s is not None \
                else self.fallback_anchor_s
        # Relative, or a 1.6 Absolute without startSchedule ("relative to start of charging")
        return self._relative_anchor(item, evse_id)

    def _valid(self, item: InstalledProfile, t: float) -> bool:
        prof = item.profile
        valid_from = prof.valid_from_s if prof.valid_from_s is not None else item.installed_at_s
        if valid_from is not None and t < valid_from:
            return False
        return prof.valid_to_s is None or t < prof.valid_to_s

    def period_of(self, item: InstalledProfile, evse_id: int, t: float) -> SchedulePeriod | None:
        """The period of ``item`` in force at ``t`` for ``evse_id``, if valid and defined."""
        if not self._valid(item, t):
            return None
        anchor = self._anchor(item, evse_id, t)
        if anchor is None or t < anchor:
            return None
        sched = item.profile.schedule
        offset = t - anchor
        if sched.duration_s is not None and offset >= sched.duration_s:
            return None
        starts = [p.start_period_s for p in sched.periods]
        index = bisect.bisect_right(starts, offset) - 1
        return sched.periods[index] if index >= 0 else None

    def _leading(self, items: Iterable[InstalledProfile], evse_id: int, t: float) -> _Lead | None:
        """Highest stack level with a period at ``t``; a tie goes to the EVSE-specific
        profile, then to the one installed later."""
        best: _Lead | None = None
        best_key = (-1, -1)
        for item in items:
            period = self.period_of(item, evse_id, t)
            if period is None:
                continue
            key = (item.stack_level, 1 if item.evse_id > 0 else 0)
            if key >= best_key:
                best, best_key = _Lead(item, period), key
        return best

    def _of(self, purpose: Purpose, evse_ids: tuple[int, ...]) -> list[InstalledProfile]:
        return [p for p in self.profiles if p.purpose is purpose and p.evse_id in evse_ids]

    # -- one EVSE, one station

    def _session_lead(self, evse_id: int, t: float) -> _Lead | None:
        tx = self.transactions.get(evse_id)

        def matches(item: InstalledProfile) -> bool:
            wanted = item.profile.transaction_id
            return tx is not None and (wanted is None or wanted == str(tx.transaction_id))

        if tx is not None and tx.priority_charging:
            lead = self._leading([p for p in self._of(Purpose.PRIORITY, (evse_id, 0))
                                  if matches(p)], evse_id, t)
            if lead is not None:
                return lead
        lead = self._leading([p for p in self._of(Purpose.TX, (evse_id,)) if matches(p)],
                             evse_id, t)
        if lead is not None or (tx is None and not self.rules.tx_default_without_transaction):
            return lead
        own = self._of(Purpose.TX_DEFAULT, (evse_id,))
        station = self._of(Purpose.TX_DEFAULT, (0,))
        if self.rules.evse_tx_default_first:
            return self._leading(own, evse_id, t) or self._leading(station, evse_id, t)
        return self._leading(own + station, evse_id, t)

    def _caps(self, evse_id: int, t: float, station_wide: bool = True) -> list[_Lead]:
        leads = []
        if station_wide:
            leads += [self._leading(self._of(Purpose.STATION_MAX, (0,)), evse_id, t),
                      self._leading(self._of(Purpose.EXTERNAL, (0,)), evse_id, t)]
        if evse_id > 0:
            leads.append(self._leading(self._of(Purpose.EXTERNAL, (evse_id,)), evse_id, t))
        return [lead for lead in leads if lead is not None]

    def _combine(self, leads: list[_Lead], unit: RateUnit, offset_s: float,
                 extra: list[CompositePeriod], generation: _Lead | None,
                 session: _Lead | None, use_rating: bool) -> CompositePeriod:
        """Minimum of the leading periods' limits (and of ``extra`` ones, already in
        ``unit``), with the rating where nothing limits, plus local generation."""
        stated = [lead.period.number_phases for lead in leads if lead.period.number_phases]
        stated += [p.number_phases for p in extra if p.number_phases]
        phases = min(stated) if stated else None
        conv_phases = phases or self.supply.default_phases

        def conv(value: float, lead: _Lead) -> float:
            return self.supply.convert(value, lead.unit, unit, conv_phases)

        limits = [conv(lead.period.limit, lead) for lead in leads if lead.period.limit is not None]
        limits += [p.limit for p in extra if p.limit is not None]
        limit: float | None = min(limits) if limits else None
        rating = self.supply.rating(unit, conv_phases) if use_rating else None
        if limit is None:
            limit = rating
        elif rating is not None and self.rules.rating_caps_profiles:
            limit = min(limit, rating)
        if (generation is not None and self.rules.local_generation_adds and limit is not None
                and generation.period.limit is not None):
            limit += conv(generation.period.limit, generation)
        discharges = [conv(lead.period.discharge_limit, lead) for lead in leads
                      if lead.period.discharge_limit is not None]
        discharges += [p.discharge_limit for p in extra if p.discharge_limit is not None]
        discharge = max(discharges) if discharges else None
        setpoint = None
        if session is not None and session.period.setpoint is not None:
            setpoint = conv(session.period.setpoint, session)
        elif extra and all(p.setpoint is not None for p in extra):
            setpoint = sum(p.setpoint for p in extra if p.setpoint is not None)
        if setpoint is not None:
            if limit is not None:
                setpoint = min(setpoint, limit)
            if discharge is not None:
                setpoint = max(setpoint, discharge)
        phase_to_use = next((lead.period.phase_to_use for lead in leads
                             if lead.period.phase_to_use is not None
                             and lead.period.number_phases == phases), None)
        mode = session.period.operation_mode if session is not None else None
        return CompositePeriod(start_offset_s=offset_s, limit=limit, number_phases=phases,
                               phase_to_use=phase_to_use, discharge_limit=discharge,
                               setpoint=setpoint, operation_mode=mode)

    def evse_value(self, evse_id: int, t: float, unit: RateUnit, offset_s: float,
                   station_caps: bool = True) -> CompositePeriod:
        """One EVSE; without ``station_caps`` when it is a term of the station's sum (the
        station-wide caps then bound the sum once)."""
        session = self._session_lead(evse_id, t)
        leads = ([session] if session is not None else []) + self._caps(evse_id, t,
                                                                        station_caps)
        generation = self._leading(self._of(Purpose.LOCAL_GENERATION, (evse_id,)), evse_id, t)
        return self._combine(leads, unit, offset_s, [], generation, session, use_rating=True)

    def station_value(self, t: float, unit: RateUnit, offset_s: float) -> CompositePeriod:
        caps = [lead for lead in (self._leading(self._of(Purpose.STATION_MAX, (0,)), 0, t),
                                  self._leading(self._of(Purpose.EXTERNAL, (0,)), 0, t))
                if lead is not None]
        per_evse = [self.evse_value(e, t, unit, offset_s, station_caps=False)
                    for e in self.evse_ids]
        extra: list[CompositePeriod] = []
        if per_evse:
            limits = [p.limit for p in per_evse]
            discharges = [p.discharge_limit for p in per_evse]
            setpoints = [p.setpoint for p in per_evse]
            phases = [p.number_phases for p in per_evse if p.number_phases]
            extra.append(CompositePeriod(
                start_offset_s=offset_s,
                limit=None if None in limits else sum(x for x in limits if x is not None),
                number_phases=max(phases) if phases else None,
                discharge_limit=None if None in discharges
                else sum(x for x in discharges if x is not None),
                setpoint=None if None in setpoints else sum(x for x in setpoints if x is not None)))
        generation = self._leading(self._of(Purpose.LOCAL_GENERATION, (0,)), 0, t)
        # No EVSE known: the station is bounded by its caps alone.
        return self._combine(caps, unit, offset_s, extra, generation, None, use_rating=False)

    def value(self, evse_id: int, t: float, unit: RateUnit, offset_s: float) -> CompositePeriod:
        if evse_id < 0:
            raise ValueError(f"evse_id must be 0 (whole station) or an EVSE id, got {evse_id}")
        if evse_id == 0:
            return self.station_value(t, unit, offset_s)
        return self.evse_value(evse_id, t, unit, offset_s)

    # -- change instants

    def _anchor_candidates(self, item: InstalledProfile) -> set[float]:
        found = {tx.start_s for tx in self.transactions.values()}
        if item.installed_at_s is not None:
            found.add(item.installed_at_s)
        if self.fallback_anchor_s is not None:
            found.add(self.fallback_anchor_s)
        if item.profile.schedule.start_schedule_s is not None:
            found.add(item.profile.schedule.start_schedule_s)
        return found

    def boundaries(self, t0: float, t1: float) -> list[float]:
        """Every instant in (t0, t1) at which some limit may change, sorted, deduplicated."""
        points: set[float] = {tx.start_s for tx in self.transactions.values()}
        for item in self.profiles:
            prof = item.profile
            sched = prof.schedule
            for moment in (prof.valid_from_s, prof.valid_to_s, item.installed_at_s):
                if moment is not None:
                    points.add(moment)
            offsets = [p.start_period_s for p in sched.periods]
            if sched.duration_s is not None:
                offsets.append(sched.duration_s)
            if prof.kind is Kind.RECURRING:
                first, recurrency = sched.start_schedule_s, prof.recurrency
                if first is None or recurrency is None:
                    continue
                step = recurrency.period_s
                k = max(0, math.floor((t0 - first) / step))
                if (t1 - first) / step - k > _MAX_BOUNDARIES:
                    raise ValueError("window too long for the recurring profiles: ask for a "
                                     "shorter composite")
                anchors: Iterable[float] = [first + i * step for i in range(k, math.floor((t1 - first) / step) + 1)]
            else:
                anchors = self._anchor_candidates(item)
            for anchor in anchors:
                points.add(anchor)
                points.update(anchor + off for off in offsets)
            if len(points) > _MAX_BOUNDARIES:
                raise ValueError("too many schedule changes in the window: ask for a shorter one")
        inside = sorted(p for p in points if t0 < p < t1)
        kept: list[float] = []
        for p in inside:
            if not kept or p - kept[-1] > _SAME_INSTANT_S:
                kept.append(p)
        return kept

    def randomized_delay_s(self) -> int:
        return max((p.profile.schedule.randomized_delay_s for p in self.profiles), default=0)
