"""Invariants of the reference composite, checked on random profile sets (hypothesis).

All generated instants are whole seconds after T0 and samples are taken at half seconds,
so no sample sits on a schedule boundary.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedule_helpers import T0, answer

from testbench.schedule import (
    ChargingProfile,
    ChargingSchedule,
    InstalledProfile,
    Kind,
    Purpose,
    Recurrency,
    SchedulePeriod,
    Transaction,
    compare_composite,
    composite_schedule,
    limit_at,
)

WINDOW_S = 7200
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
TX = Transaction(evse_id=1, start_s=T0 - 500, transaction_id="T1")


@st.composite
def installed(draw, purpose: Purpose, evse_id: int, pid: int, stack: int | None = None,
              unit: str = "A") -> InstalledProfile:
    kinds = [Kind.ABSOLUTE, Kind.RECURRING] + ([] if purpose is Purpose.STATION_MAX
                                               else [Kind.RELATIVE])
    kind = draw(st.sampled_from(kinds))
    offsets = sorted(draw(st.sets(st.integers(1, 4000), max_size=4)))
    limits = draw(st.lists(st.integers(0, 40), min_size=len(offsets) + 1,
                           max_size=len(offsets) + 1))
    periods = tuple(SchedulePeriod(start, float(limit) if unit == "A" else limit * 690.0)
                    for start, limit in zip([0, *offsets], limits, strict=True))
    start = None if kind is Kind.RELATIVE else T0 + draw(st.integers(-5000, 5000))
    recurrency = draw(st.sampled_from(list(Recurrency))) if kind is Kind.RECURRING else None
    if recurrency is Recurrency.DAILY:
        start = T0 + draw(st.integers(-86_000, 5000))
    duration = draw(st.one_of(st.none(), st.integers(1, 6000)))
    valid_from = draw(st.one_of(st.none(), st.integers(-3000, 6000).map(lambda s: T0 + s)))
    valid_to = draw(st.one_of(st.none(), st.integers(1, 8000).map(
        lambda s: (valid_from if valid_from is not None else T0 - 3000) + s)))
    prof = ChargingProfile(
        id=pid, stack_level=draw(st.integers(0, 8)) if stack is None else stack,
        purpose=purpose, kind=kind, recurrency=recurrency,
        schedules=(ChargingSchedule(unit=unit, periods=periods,  # type: ignore[arg-type]
                                    start_schedule_s=start, duration_s=duration),),
        valid_from_s=valid_from, valid_to_s=valid_to,
        transaction_id="T1" if purpose is Purpose.TX else None)
    return InstalledProfile(prof, evse_id, installed_at_s=None)


@st.composite
def station(draw) -> list[InstalledProfile]:
    """Station maxima (A or W), station-wide and EVSE 1/2 defaults, a TxProfile on EVSE 1."""
    items = [draw(installed(Purpose.STATION_MAX, 0, 1, unit=draw(st.sampled_from("AW"))))]
    pid = 2
    for purpose, evse in [(Purpose.TX_DEFAULT, 0), (Purpose.TX_DEFAULT, 1),
                          (Purpose.TX_DEFAULT, 2), (Purpose.TX, 1),
                          (Purpose.EXTERNAL, 1)]:
        for _ in range(draw(st.integers(0, 2))):
            items.append(draw(installed(purpose, evse, pid)))
            pid += 1
    return items


def samples(schedule_start: float, count: int = 60) -> list[float]:
    return [schedule_start + k * (WINDOW_S // count) + 0.5 for k in range(count)]


@SETTINGS
@given(items=station(), evse=st.sampled_from([0, 1, 2]), unit=st.sampled_from("AW"))
def test_composite_never_exceeds_the_station_maximum(items, evse, unit):
    caps = [i for i in items if i.purpose is Purpose.STATION_MAX]
    ref = composite_schedule(items, evse_id=evse, start_s=T0, duration_s=WINDOW_S, unit=unit,
                             transactions=[TX], evse_ids=(1, 2))
    for t in samples(T0):
        cap = limit_at(caps, evse_id=0, t_s=t, unit=unit)
        got = ref.limit_at(t)
        if cap is not None:
            assert got is not None and got <= cap + 1e-9, (t - T0, got, cap)


@SETTINGS
@given(data=st.data())
def test_removing_lower_stack_levels_never_changes_what_a_higher_one_covers(data):
    count = data.draw(st.integers(2, 5))
    levels = data.draw(st.lists(st.integers(0, 20), min_size=count, max_size=count,
                                unique=True))
    defaults = [data.draw(installed(Purpose.TX_DEFAULT, 1, 10 + i, stack=level))
                for i, level in enumerate(levels)]
    cap = data.draw(installed(Purpose.STATION_MAX, 0, 1))
    chosen = data.draw(st.sampled_from(defaults))
    kept = [d for d in defaults if d.stack_level >= chosen.stack_level]

    def ref(items):
        return composite_schedule([cap, *items], evse_id=1, start_s=T0, duration_s=WINDOW_S,
                                  transactions=[TX])

    alone = composite_schedule([chosen], evse_id=1, start_s=T0, duration_s=WINDOW_S,
                               transactions=[TX])
    full, reduced = ref(defaults), ref(kept)
    for t in samples(T0):
        if alone.limit_at(t) is not None:  # the chosen profile has a period at t
            assert full.limit_at(t) == reduced.limit_at(t), t - T0


@SETTINGS
@given(items=station(), evse=st.sampled_from([0, 1, 2]), unit=st.sampled_from("AW"))
def test_limit_at_agrees_with_the_period_list(items, evse, unit):
    ref = composite_schedule(items, evse_id=evse, start_s=T0, duration_s=WINDOW_S, unit=unit,
                             transactions=[TX], evse_ids=(1, 2))
    offsets = [p.start_offset_s for p in ref.periods]
    assert offsets[0] == 0 and offsets == sorted(set(offsets))
    assert all(not a.same_step(b) for a, b in zip(ref.periods, ref.periods[1:], strict=False))
    for t in samples(T0, 120):
        direct = limit_at(items, evse_id=evse, t_s=t, unit=unit, transactions=[TX],
                          evse_ids=(1, 2), relative_start_s=T0)
        got = ref.limit_at(t)
        assert (got is None) == (direct is None), t - T0
        if got is not None and direct is not None:
            assert abs(got - direct) < 1e-9, t - T0


@SETTINGS
@given(items=station(), version=st.sampled_from(["1.6", "2.0.1", "2.1"]),
       shift=st.sampled_from([-1.0, 0.0, 1.5]))
def test_a_charger_repeating_the_reference_agrees_within_tolerance(items, version, shift):
    ref = composite_schedule(items, evse_id=1, start_s=T0, duration_s=WINDOW_S,
                             transactions=[TX])
    payload = answer(ref, version, shift_s=shift)
    assert compare_composite(ref, payload, version, check_phases=False) == []
