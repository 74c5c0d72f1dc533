"""Behind the meter: the charger keeps the site under its grid-connection limit.

The site has household load and PV behind one supply point whose rating per phase is the
station's ``[stations.site] supply_max_current_a``. The pair first charges unconstrained
(it must push the site over the limit, else the case is not applicable at this site), then
an energy manager closes the loop every ``CONTROL_S`` lab seconds: from the site analyser
and the charger's analyser it computes the current the charger may draw
(limit - margin - the rest of the site, worst phase) and sends it

- (a) as the operator: a TxDefaultProfile in A over OCPP (the CSMS computes from measured
  site power);
- (b) as the local energy manager: the current-limit register of the charger's Modbus
  energy-management interface (role ``energy_manager``).

Check: from ``RESPONSE_S`` after the loop starts until it ends, every sample of the site's
largest per-phase import current is under the limit (+ the analyser's accuracy). Evidence:
site import and charger current vs the limit (CSV, PNG), the commands sent and the figures
(JSON).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest

from suites.energy_services import _support as s
from testbench.analysis import Recording, Series
from testbench.errors import DeviceFailure
from testbench.procedures import energy, smart

TOKEN = "LAB-BTM-1"
CONTROL_S = 5.0
"""Lab seconds between two looks of the energy manager at the site."""
RESPONSE_S = 25.0
"""Lab seconds from the start of the control loop until the site must be under the limit:
one control period, the charger's response (smart.RESPONSE_S) and one more period."""
OBSERVE_S = 80.0
"""Lab seconds the loop runs."""
FREE_S = 6.0
"""Lab seconds of unconstrained charging before the loop starts."""
MARGIN_A = 1.0
"""What the energy manager keeps below the limit (measurement and step margin)."""
RESEND_A = 0.5
"""Smallest change of the computed limit that is sent again."""
ACCURACY_A = 0.2
ACCURACY_PCT = 1.0
PROFILE_ID = 7101


def _behind_the_meter(mode: str, station: Any, charger: Any, clock: Any, bench: Any,
                      request: pytest.FixtureRequest) -> None:
    limit_a = s.connection_limit_a(station)
    site = station.instrument("site_analyzer")
    own = station.instrument("power_analyzer")
    lem = station.instrument("energy_manager") if mode == "lem" else None
    max_a = s.pair_max_a(station)
    commands: list[dict[str, Any]] = []
    started = None
    acquisitions = []
    t0 = None
    problems: list[str] = []

    def send(limit: float) -> None:
        at = clock.now()
        if lem is not None:
            lem.set_current_limit_a(limit)
            reported = lem.read()  # what the charger says on its interface (evidence)
            commands.append({"lab_s": at, "modbus_limit_a": limit,
                             "read_back_a": lem.read_current_limit_a(),
                             "charger_reports_a": list(reported.currents_a),
                             "charger_reports_w": reported.power_w,
                             "charger_state": reported.state})
            return
        req = energy.current_profile(charger, profile_id=PROFILE_ID, limit_a=limit, now_s=at)
        status = str(charger.call("SetChargingProfile", req).get("status"))
        commands.append({"lab_s": at, "profile_limit_a": limit, "status": status})
        smart.expect_status(status, "Accepted", f"SetChargingProfile {limit:g} A")

    try:
        started = s.start_session(station, charger, TOKEN)
        acquisitions = [s.acquire(site, clock, 600.0), s.acquire(own, clock, 600.0)]
        clock.sleep(FREE_S)
        t0 = clock.now()
        last: float | None = None
        while clock.now() < t0 + OBSERVE_S:
            allowed = energy.headroom_a(site.read(), own.read(), limit_a, MARGIN_A, max_a)
            allowed = 0.0 if allowed < station.ev.min_current_a else round(allowed, 1)
            if last is None or abs(allowed - last) >= RESEND_A:
                send(allowed)
                last = allowed
            clock.sleep(CONTROL_S)
    finally:
        recordings = s.stop_all(acquisitions)
        if lem is not None:
            with contextlib.suppress(Exception):
                lem.release()
        else:
            with contextlib.suppress(Exception):
                charger.call("ClearChargingProfile", energy.clear_profile(charger, PROFILE_ID))
        s.stop_session(station, charger, started)

    assert t0 is not None
    site_rec, own_rec = recordings
    if not len(site_rec) or not len(own_rec):
        raise DeviceFailure("an analyser recorded nothing; the site cannot be judged")
    imported = energy.site_import_a(site_rec)
    before = imported.window(None, t0)
    unconstrained_a = float(np.nanmax(before.values)) if len(before) else float("nan")
    accuracy = ACCURACY_A + limit_a * ACCURACY_PCT / 100.0
    judged = imported.window(None, t0 + OBSERVE_S)
    problems, settle = energy.settle_problems(judged, limit_a, start_s=t0, response_s=RESPONSE_S,
                                              accuracy=accuracy, what="site import current")
    figures = {"mode": mode, "connection_limit_a": limit_a, "accuracy_a": round(accuracy, 3),
               "unconstrained_site_import_a": round(unconstrained_a, 2),
               "response_s": RESPONSE_S, "settle": settle.as_dict(), "commands": commands}
    folder = s.evidence_dir(bench, request)
    s.save_json(folder, f"behind-the-meter-{mode}", figures)
    charger_a = own_rec["current_a"].resample_at(imported.t_lab_s)
    merged = Recording.from_series(imported, Series("charger_current_a", "A",
                                                    charger_a.t_lab_s, charger_a.values))
    s.save_recording(folder, f"behind-the-meter-{mode}", merged,
                     ["site_import_a", "charger_current_a"],
                     [("connection limit", limit_a, "A")],
                     f"{station.ev.id} @ {station.charger.id}: site import vs connection limit "
                     f"({'operator' if mode == 'operator' else 'Modbus LEM'})")
    if not unconstrained_a > limit_a + accuracy:
        pytest.skip(f"not applicable: unconstrained, the site imported at most "
                    f"{unconstrained_a:.1f} A, within its {limit_a:g} A limit; the pair cannot "
                    "challenge this site's connection (raise household_load_w)")
    s.verdict(problems)


@pytest.mark.requires("power_analyzer", "site_analyzer")
def test_site_limit_operator_control(station, charger, clock, bench, request):
    """(a) The operator keeps the site under its connection limit with charging profiles
    computed from the measured site power."""
    _behind_the_meter("operator", station, charger, clock, bench, request)


@pytest.mark.requires("power_analyzer", "site_analyzer", "energy_manager")
def test_site_limit_modbus_lem(station, charger, clock, bench, request):
    """(b) A local energy manager keeps the site under its connection limit through the
    charger's Modbus current-limit register."""
    _behind_the_meter("lem", station, charger, clock, bench, request)
