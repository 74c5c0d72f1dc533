"""Congestion management: a grid operator's limit on a group of chargers (all chargers of
the station charging at once).

Every charger of the station starts a session with the pairing's EV (each on its own EV
emulator); after ``FREE_S`` of unconstrained charging the grid operator limits the group to
``GROUP_SHARE`` of its measured power. The operator (the bench as CSMS) shares the limit out
as one current per phase for every charger (a ChargingStationMaxProfile /
ChargePointMaxProfile each) at the same instant.

Check: from ``DEADLINE_S`` after the signal until the end, the summed power of the chargers'
analysers stays under the group limit (+ accuracy). The case runs once per station and EV:
on the pairing of the station's first charger (the others are not applicable).

Evidence: group power and each charger's power vs the limit (CSV, PNG), the limit, the
profiles and the figures (JSON).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest

from fixtures.baseline import reset_to_baseline
from fixtures.station import Station
from suites.energy_services import _support as s
from testbench.analysis import Recording, Series
from testbench.lab.model import Pairing
from testbench.plugin.operator import OperatorPrompt
from testbench.procedures import energy, smart

GROUP_SHARE = 0.5
"""The grid operator's limit as a share of the group's unconstrained power."""
FREE_S = 5.0
DEADLINE_S = 30.0
"""Lab seconds from the operator's signal until the group must be under the limit."""
OBSERVE_S = 60.0
ACCURACY_PCT = 1.0
ACCURACY_W = 50.0
PROFILE_ID = 7401


def _members(station: Any, charger: Any, lab: Any, csms: Any, bench: Any
             ) -> list[tuple[Any, Any]]:
    chargers = station.spec.chargers
    if station.charger.id != chargers[0]:
        pytest.skip(f"not applicable: the group case runs once per station and EV, on the "
                    f"pairing with the station's first charger {chargers[0]!r}")
    if len(chargers) < 2:
        pytest.skip(f"not applicable: station {station.id} has a single charger, not a group")
    members = [(station, charger)]
    for charger_id in chargers[1:]:
        other = Station(lab, Pairing(station.id, station.ev.id, charger_id), bench,
                        OperatorPrompt(True, lab.settings.operator_timeout_s, None))
        if not other.has("ev_emulator") or not other.has("power_analyzer"):
            pytest.skip(f"not applicable: charger {charger_id} of the group has no "
                        "ev_emulator or power_analyzer to run and measure it")
        handle = csms.charger(charger_id)
        reset_to_baseline(handle, other, csms, lab)
        members.append((other, handle))
    return members


@pytest.mark.requires("power_analyzer", "ev_emulator")
def test_group_limit_of_all_chargers(station, charger, clock, bench, csms, lab, request):
    """The station's chargers, all charging, keep under a grid operator's group limit."""
    members = _members(station, charger, lab, csms, bench)
    started: list[Any] = [None] * len(members)
    acquisitions = []
    figures: dict[str, Any] = {"chargers": [m[0].charger.id for m in members]}
    t_signal = None
    limit_w = math.nan
    try:
        for n, (member, handle) in enumerate(members):
            started[n] = s.start_session(member, handle, f"LAB-GROUP-{n + 1}")
        acquisitions = [s.acquire(m.instrument("power_analyzer"), clock, 300.0)
                        for m, _ in members]
        clock.sleep(FREE_S / 2)
        free = [s.mean_reading(m.instrument("power_analyzer"), clock, FREE_S / 4)[0]
                for m, _ in members]
        p_free = float(sum(free))
        limit_w = GROUP_SHARE * p_free
        phases = sum(s.pair_phases(m) for m, _ in members)
        per_charger_a = math.floor(10 * limit_w / (s.VOLTAGE_V * phases)) / 10
        figures.update(unconstrained_w=[round(p, 1) for p in free], group_limit_w=limit_w,
                       per_charger_limit_a=per_charger_a, profiles=[])
        t_signal = clock.now()
        for member, handle in members:
            req = energy.current_profile(handle, profile_id=PROFILE_ID, limit_a=per_charger_a,
                                         now_s=t_signal, evse_id=0,
                                         purpose="ChargingStationMaxProfile")
            status = str(handle.call("SetChargingProfile", req).get("status"))
            figures["profiles"].append({"charger": member.charger.id, "request": req,
                                        "status": status})
            smart.expect_status(status, "Accepted",
                                f"SetChargingProfile (group limit) on {member.charger.id}")
        clock.sleep(OBSERVE_S)
    finally:
        recordings = s.stop_all(acquisitions)
        for n, (member, handle) in enumerate(members):
            with contextlib.suppress(Exception):
                handle.call("ClearChargingProfile", energy.clear_profile(handle, PROFILE_ID))
            s.stop_session(member, handle, started[n])
            if member is not station:
                with contextlib.suppress(Exception):
                    bench.make_all_safe(only=member.used)

    assert t_signal is not None
    powers = [r["power_w"] for r in recordings]
    group = energy.sum_series(powers, "group_power_w")
    accuracy = ACCURACY_W + limit_w * ACCURACY_PCT / 100.0
    problems, settle = energy.settle_problems(group, limit_w, start_s=t_signal,
                                              response_s=DEADLINE_S, accuracy=accuracy,
                                              what="group power")
    figures.update(deadline_s=DEADLINE_S, accuracy_w=round(accuracy, 1), settle=settle.as_dict())
    folder = s.evidence_dir(bench, request)
    s.save_json(folder, "group-limit", figures)
    named = [p.resample_at(group.t_lab_s) for p in powers]

    channels = [Series(f"power_{m.charger.id}_w", "W", group.t_lab_s, p.values)
                for (m, _), p in zip(members, named, strict=True)]
    merged = Recording.from_series(group, *channels)
    s.save_recording(folder, "group-limit", merged, ["group_power_w", *(c.name for c in channels)],
                     [("group limit", limit_w, "W")],
                     f"{station.id}: {len(members)} chargers with {station.ev.id} vs the grid "
                     "operator's limit")
    s.verdict(problems)
