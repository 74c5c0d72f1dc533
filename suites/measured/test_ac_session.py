"""An AC charging session checked by the power analyser on the charger's outlet.

Procedure: set the analyser's update interval, plug the EV in, let it ask for energy,
start acquiring (5 Hz), start the transaction from the central system, let it charge until
about ``TARGET_ENERGY_WH`` have flowed at the measured power (``MIN_CHARGING_S`` ..
``MAX_CHARGING_S``), unplug, wait for the transaction to end, stop acquiring. The recording
spans the whole transaction, so it holds every watt-hour the charger should have counted.

Checks:

1. **Energy**: the energy register the charger reports over OCPP (meterStart -> meterStop in
   1.6; the Transaction.Begin and .End meter values in 2.x) grew by what the analyser
   measured (power integrated over lab time), within ``ENERGY_REL_TOL`` of the measured
   energy + ``ENERGY_ABS_TOL_WH``. Why 2 % + 2 Wh: a billing-grade charger meter (MID class
   B / Eichrecht) is good to about 1 %; the analyser's power accuracy is about 0.1 %
   (e.g. WT1800 +-(0.05 % rdg + 0.05 % rng)); sampling at 5 Hz from 0.1 s updates misplaces
   at most one update interval of power at each end of the session (under 1 Wh at 22 kW,
   and the two ends mostly cancel); OCPP 1.6 reports whole Wh (+-1 Wh on a difference).
   With sessions of at least 60 Wh, a meter that over-reports by 10 % (6 Wh) is caught
   with margin (the tolerance is then 3.2 Wh).
2. **Current**: no sample of the largest phase current exceeds the charger's advertised
   maximum (lab.toml ``max_current_a``) plus the analyser's current accuracy:
   ``current_accuracy_pct`` (default 0.5 %) of the maximum + ``current_accuracy_a``
   (default 0.1 A), both settable in the analyser's ``options`` in lab.toml.

Evidence: the recording as CSV and a plot of the measured current against what was
allowed (PNG), the figures as JSON, in the test's evidence folder and attached to Allure.
The analyser must measure the outlet (``options.point = "output"``, the default): the
charger's register counts energy at its outlet, not at its supply.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from pathlib import Path
from typing import Any

import allure
import pytest

from testbench.analysis import BackgroundAcquisition, Recording, save_evidence
from testbench.errors import DeviceFailure
from testbench.procedures import ocpp

TOKEN = "LAB-MEASURED-1"
WITHIN_S = 10.0
RATE_HZ = 5.0
UPDATE_INTERVAL_S = 0.1        # analyser update interval: twice the sampling rate
SETTLE_S = 3.0                 # after the charger reports Charging, before sizing the session
TARGET_ENERGY_WH = 60.0
MIN_CHARGING_S = 15.0
MAX_CHARGING_S = 90.0
TAIL_S = 1.0                   # after the transaction ended: the last updates reach the analyser
MIN_POWER_W = 500.0            # below this while "Charging", the session delivers nothing
ENERGY_REL_TOL = 0.02
ENERGY_ABS_TOL_WH = 2.0
CURRENT_ACCURACY_PCT = 0.5
CURRENT_ACCURACY_A = 0.1


@pytest.mark.requires("power_analyzer", "ac")
def test_ac_session_energy_and_current(charger, station, clock, bench, request):
    """The analyser confirms the energy the session reports and the advertised maximum current."""
    spec = station.spec.instrument("power_analyzer", station.charger.id)
    point = str(spec.options.get("point", "output"))
    if point != "output":
        pytest.skip(f"not applicable: analyser {spec.name!r} measures the charger's {point}, "
                    "the OCPP register counts at its outlet (set options.point = \"output\")")
    analyzer = station.instrument("power_analyzer")
    analyzer.set_update_interval_s(UPDATE_INTERVAL_S)

    limit_a = float(station.charger.max_current_a)
    accuracy_a = _current_accuracy_a(spec.options, limit_a)
    folder = _evidence_dir(bench, request)
    title = f"AC session {station.ev.id} @ {station.charger.id}: measured vs allowed"

    station.plug_in()
    station.request_energy()
    acquisition = BackgroundAcquisition(analyzer, clock, rate_hz=RATE_HZ,
                                        max_seconds=MAX_CHARGING_S + 120.0).start()
    try:
        assert ocpp.remote_start(charger, TOKEN) == "Accepted", "charger rejected the remote start"
        started = ocpp.expect_transaction_started(charger, WITHIN_S)
        ocpp.expect_charging(charger, WITHIN_S)
        clock.sleep(SETTLE_S)
        power_w = analyzer.read().power_w
        if not power_w > MIN_POWER_W:
            raise DeviceFailure(
                f"charger reports Charging but the analyser measures {power_w:.0f} W at its "
                f"outlet {SETTLE_S:g} s later (expected more than {MIN_POWER_W:.0f} W)")
        charging_s = min(MAX_CHARGING_S, max(MIN_CHARGING_S, TARGET_ENERGY_WH * 3600 / power_w))
        clock.sleep(charging_s - SETTLE_S)
        station.unplug()
        ended = ocpp.expect_transaction_ended(charger, WITHIN_S)
        clock.sleep(TAIL_S)
    except BaseException:
        _keep_partial_evidence(acquisition, folder, limit_a, accuracy_a, title)
        raise
    recording = acquisition.stop()
    _save_recording(recording, folder, limit_a, accuracy_a, title)

    problems: list[str] = []
    figures: dict[str, Any] = {"charging_s": round(charging_s, 1)}
    problems += _check_energy(charger, started, ended, recording, figures)
    problems += _check_current(recording, limit_a, accuracy_a, figures)
    _save_figures(folder, figures)
    if problems:
        raise DeviceFailure("; ".join(problems))


def _check_energy(charger: Any, started: ocpp.TransactionStart, ended: Any,
                  recording: Recording, figures: dict[str, Any]) -> list[str]:
    start_wh = started.meter_start_wh
    end_wh = ocpp.transaction_end_energy_wh(charger, ended)
    if start_wh is None or end_wh is None:
        return [("energy: the charger reported no energy register at the "
                 f"{'start' if start_wh is None else 'end'} of the transaction, so the "
                 "session's energy cannot be checked")]
    reported_wh = end_wh - start_wh
    measured_wh = recording.power_w.integrate_wh()
    tolerance_wh = ENERGY_REL_TOL * abs(measured_wh) + ENERGY_ABS_TOL_WH
    difference_wh = reported_wh - measured_wh
    figures.update(reported_wh=round(reported_wh, 2), measured_wh=round(measured_wh, 2),
                   difference_wh=round(difference_wh, 2), tolerance_wh=round(tolerance_wh, 2))
    if abs(difference_wh) <= tolerance_wh:
        return []
    share = f" ({difference_wh / measured_wh:+.1%})" if measured_wh > 0 else ""
    return [(f"energy: the OCPP register grew {reported_wh:.1f} Wh ({start_wh:g} -> "
             f"{end_wh:g} Wh) but the analyser measured {measured_wh:.1f} Wh at the outlet: "
             f"off by {difference_wh:+.1f} Wh{share}, more than the tolerance "
             f"{tolerance_wh:.1f} Wh ({ENERGY_REL_TOL:.0%} + {ENERGY_ABS_TOL_WH:g} Wh)")]


def _check_current(recording: Recording, limit_a: float, accuracy_a: float,
                   figures: dict[str, Any]) -> list[str]:
    peak_a = recording.current_a.max()
    allowed_a = limit_a + accuracy_a
    figures.update(peak_current_a=round(peak_a, 3), max_current_a=limit_a,
                   allowed_current_a=round(allowed_a, 3))
    if peak_a <= allowed_a:
        return []
    over = recording.current_a.values > allowed_a
    first_s = float(recording.current_a.t_lab_s[over][0] - recording.start_lab_s)
    phases = [name for name in recording.channels if re.fullmatch(r"current_l\d+_a", name)
              and not math.isnan(recording[name].max()) and recording[name].max() > allowed_a]
    where = f" on {', '.join(p.split('_')[1].upper() for p in phases)}" if phases else ""
    return [(f"current: the analyser measured up to {peak_a:.2f} A{where} (first "
             f"{first_s:.1f} s into the recording, {int(over.sum())} of {len(recording)} "
             f"samples above), more than the charger's advertised maximum {limit_a:g} A + "
             f"analyser accuracy {accuracy_a:.2f} A = {allowed_a:.2f} A (lab.toml max_current_a)")]


def _save_recording(recording: Recording, folder: Path, limit_a: float, accuracy_a: float,
                    title: str) -> None:
    save_evidence(recording, folder, "ac-session", plot=True,
                  channels=[c for c in ("current_a", "power_w") if c in recording],
                  limits=[("charger max_current_a", limit_a, "current_a"),
                          ("allowed (max + analyser accuracy)", limit_a + accuracy_a,
                           "current_a")],
                  title=title)


def _keep_partial_evidence(acquisition: BackgroundAcquisition, folder: Path, limit_a: float,
                           accuracy_a: float, title: str) -> None:
    """The step failed: stop acquiring and keep what was recorded, never hiding the failure."""
    with contextlib.suppress(Exception):  # the step's own error is what the verdict reports
        acquisition.stop()
    with contextlib.suppress(Exception):
        recording = acquisition.recording
        if len(recording):
            _save_recording(recording, folder, limit_a, accuracy_a, title + " (incomplete)")


def _current_accuracy_a(options: dict[str, object], limit_a: float) -> float:
    pct = float(options.get("current_accuracy_pct", CURRENT_ACCURACY_PCT))  # type: ignore[arg-type]
    floor = float(options.get("current_accuracy_a", CURRENT_ACCURACY_A))  # type: ignore[arg-type]
    return limit_a * pct / 100.0 + floor


def _evidence_dir(bench: Any, request: pytest.FixtureRequest) -> Path:
    """The test's evidence folder (the one its OCPP trace goes to)."""
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    return Path(bench.run_dir) / "evidence" / safe


def _save_figures(folder: Path, figures: dict[str, Any]) -> None:
    text = json.dumps(figures, indent=2)
    (folder / "ac-session-figures.json").write_text(text + "\n", encoding="utf-8")
    allure.attach(text, name="AC session: energy and current",
                  attachment_type=allure.attachment_type.JSON)
