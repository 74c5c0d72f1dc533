"""Shared steps of the grid-code suites: parameter set, supply, session, operating point,
recording, judging helpers and evidence.

Conventions: power is measured by the station's ``power_analyzer`` on the charger's grid
side (``options.point = "input"``), signed + import (charging), - export (discharging). The
droop reference power ``P_ref`` is the charger's rated power (lab.toml ``max_power_w``):
storage and V2G units respond relative to ``P_max``. Every number comes from the station's
parameter set (lab.toml ``grid_code``); nothing here is a grid-code literal.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import importlib
import io
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import allure
import numpy as np
import pytest

from testbench.analysis import BackgroundAcquisition, Recording, save_evidence
from testbench.analysis.judgement import Judgement
from testbench.analysis.response import crossing_time
from testbench.analysis.series import Series
from testbench.errors import DeviceFailure
from testbench.gridcode.params import (
    GridCodeParameters,
    UnknownParameterError,
    load_parameter_set,
)
from testbench.gridcode.stimulus import StimulusProgram
from testbench.gridcode.stimulus_run import StimulusRun, run_stimulus
from testbench.procedures import ocpp

TOKEN = "LAB-GRIDCODE-1"
WITHIN_S = 15.0
RATE_HZ = 10.0
"""Default sampling rate (samples per lab second) and the lab-time resolution that trip-time
tolerances are built on (``2 / RATE_HZ``): 0.1 lab s at every time scale."""
UPDATE_INTERVAL_S = 0.05
"""Default analyser update interval (lab s) of :func:`record_stimulus`."""
RESPONSE_RATE_HZ = 5.0
"""Sampling rate of slow-response tests (LFSM, windows, reconnection): the reference's
200 ms RMS class at >= 5 Hz; their tolerances are built on this rate."""
RESPONSE_UPDATE_INTERVAL_S = 0.2
"""Analyser update interval of slow-response tests: 10-cycle (200 ms) RMS values."""
MAX_WALL_RATE_HZ = 100.0
"""Samples per wall second the bench asks of an analyser when it may choose (the lab rate
falls towards the test's floor as the time scale grows; never below it)."""
TAIL_S = 2.0
"""Lab seconds recorded after a program ends (the list runs on schedule: judging uses the
measured steps, this only keeps the last samples of the last step)."""
SETTLE_S = 3.0
PRE_S = 2.0
"""Lab seconds recorded before a stimulus starts."""
MIN_POWER_PCT = 2.0
"""Below this share of the rated power the operating point is not established."""
PROFILE_ID = 6100


@dataclass(frozen=True)
class OperatingPoint:
    """Where the pair runs before the stimulus: a share of the rated power, signed
    (+ charging, - discharging)."""

    share: float

    @property
    def id(self) -> str:
        kind = "charging" if self.share > 0 else "discharging"
        return f"{kind}-{abs(self.share) * 100:.0f}pct"


def params_of(station: Any) -> GridCodeParameters:
    """The station's grid-code parameter set (lab.toml ``grid_code``)."""
    return load_parameter_set(station.spec.grid_code)


def skips_unknown_parameters(test: Callable[..., None]) -> Callable[..., None]:
    """Decorate a grid-code test: a parameter its set marks unknown skips it, naming the
    set and the parameter (it cannot be judged; never a silent pass)."""
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            test(*args, **kwargs)
        except UnknownParameterError as error:
            pytest.skip(f"not judged: {error}")
    return wrapper


def rated_w(station: Any) -> float:
    """The charger's rated power: lab.toml ``max_power_w`` (capped by its current rating)."""
    charger = station.charger
    by_current = charger.max_current_a * 230.0 * charger.phases
    return float(min(charger.max_power_w, by_current))


def energise(grid: Any, params: GridCodeParameters) -> None:
    """Nominal voltage and frequency on the grid emulator's output, output on."""
    grid.set_voltage_v(params.nominal.voltage_v)
    grid.set_frequency_hz(params.nominal.frequency_hz)
    grid.output(True)


def _warm_up_plotting() -> None:
    """Import matplotlib in the background (about a second) while the first test waits in
    lab time, not when its evidence is plotted."""
    global _WARMED_UP
    if not _WARMED_UP:
        _WARMED_UP = True
        threading.Thread(target=lambda: importlib.import_module(
            "matplotlib.backends.backend_agg"), name="warm-up matplotlib", daemon=True).start()


_WARMED_UP = False


def start_session(station: Any, charger: Any, clock: Any) -> None:
    """Plug in, let the EV ask for energy, remote start; wait until it charges."""
    _warm_up_plotting()
    station.plug_in()
    station.request_energy()
    assert ocpp.remote_start(charger, TOKEN) == "Accepted", "charger rejected the remote start"
    ocpp.expect_transaction_started(charger, WITHIN_S)
    ocpp.expect_charging(charger, WITHIN_S)
    clock.sleep(SETTLE_S)


def operating_limit_a(station: Any, point: OperatingPoint) -> float:
    """The signed current limit (A per phase) that sets ``point``."""
    return round(point.share * station.charger.max_current_a, 1)


def require_reachable(station: Any, point: OperatingPoint) -> None:
    """Skip (not applicable) when ``point`` asks a current below the EV's minimum current:
    the pair cannot run there (it would pause instead), so nothing can be judged."""
    if point.share == 1.0:
        return
    limit_a = operating_limit_a(station, point)
    min_a = float(station.ev.min_current_a)
    if abs(limit_a) < min_a:
        pytest.skip(f"not applicable: operating point {point.id} asks {abs(limit_a):g} A, below "
                    f"the minimum current {min_a:g} A of EV {station.ev.id}")


def set_operating_point(station: Any, charger: Any, clock: Any, point: OperatingPoint) -> None:
    """Bring the pair to ``point`` (a TxDefaultProfile in A; none for full charging).

    Skips (not applicable) when the charger refuses the profile or the point is below the
    EV's minimum current, naming why.
    """
    if point.share == 1.0:
        return
    require_reachable(station, point)
    limit_a = operating_limit_a(station, point)
    if station.charger.ocpp_version == "1.6":
        pytest.skip("not applicable: operating points other than full charging need an "
                    "OCPP 2.x charging profile (negative limits for discharging)")
    request = {"evseId": 1, "chargingProfile": {
        "id": PROFILE_ID, "stackLevel": 9, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": PROFILE_ID, "chargingRateUnit": "A",
                              "startSchedule": _iso(clock.now() - 60.0),
                              "chargingSchedulePeriod": [{"startPeriod": 0,
                                                          "limit": limit_a}]}]}}
    try:
        answer = charger.call("SetChargingProfile", request)
    except Exception as error:  # noqa: BLE001 - a charger without smart charging
        pytest.skip(f"not applicable: SetChargingProfile for the operating point {point.id} "
                    f"failed ({error}); the charger cannot be set to {limit_a:g} A")
    if answer.get("status") != "Accepted":
        pytest.skip(f"not applicable: the charger answered SetChargingProfile "
                    f"({limit_a:g} A for {point.id}) with {answer.get('status')!r}")
    clock.sleep(SETTLE_S)


def _iso(t_lab_s: float) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(t_lab_s, UTC).isoformat().replace("+00:00", "Z")


def measured_power_w(analyzer: Any, clock: Any, seconds: float = 1.0) -> float:
    """Mean grid-side power over ``seconds`` lab seconds (W, + import)."""
    values = []
    end = clock.now() + seconds
    while clock.now() < end:
        values.append(analyzer.read().power_w)
        clock.sleep(0.1)
    return float(np.mean(values))


def check_operating_point(p0_w: float, point: OperatingPoint, rated: float) -> None:
    """The pair runs where it was asked to (sign and more than MIN_POWER_PCT)."""
    if abs(p0_w) < MIN_POWER_PCT / 100.0 * rated or (p0_w > 0) != (point.share > 0):
        raise DeviceFailure(
            f"operating point {point.id}: the analyser measures {p0_w:.0f} W on the grid side "
            f"(expected about {point.share * rated:.0f} W); the pair did not reach the "
            "operating point, so the grid response cannot be judged")


def sample_rate_hz(clock: Any, floor_hz: float, preferred_hz: float = RATE_HZ) -> float:
    """Samples per lab second for a recording: ``preferred_hz``, lowered so the analyser is
    asked at most ``MAX_WALL_RATE_HZ`` per wall second, never below ``floor_hz``.

    Judging tolerances must be built on ``floor_hz`` (the coarsest resolution any time scale
    gets), so the verdicts do not depend on the time scale; a finer rate at low scales only
    gives better evidence. At time scale 20: ``floor_hz`` 5 -> 5 Hz (0.2 lab s, 100 Hz
    wall); ``floor_hz`` 10 -> 10 Hz (0.1 lab s, 200 Hz wall: the floor wins)."""
    scale = float(getattr(clock, "scale", 1.0))
    return max(floor_hz, min(preferred_hz, MAX_WALL_RATE_HZ / scale))


def record_stimulus(analyzer: Any, grid: Any, clock: Any, program: StimulusProgram,
                    tail_s: float | None = None, *, rate_hz: float = RATE_HZ,
                    update_interval_s: float = UPDATE_INTERVAL_S,
                    ) -> tuple[Recording, StimulusRun]:
    """Record the analyser at ``rate_hz`` (lab) from ``PRE_S`` before to ``tail_s`` after
    running ``program``.

    The default tail (1 s + half the program) dates from grid-emulator lists that ran slower
    than programmed under time compression (fixed in the simulated twins: they run on
    absolute deadlines); :data:`TAIL_S` is enough for a list that runs on schedule. Judging
    uses the measured steps (:func:`measured_step_s`), not the schedule."""
    tail_s = 1.0 + 0.5 * program.duration_s if tail_s is None else tail_s
    analyzer.set_update_interval_s(update_interval_s)
    acquisition = BackgroundAcquisition(analyzer, clock, rate_hz=rate_hz,
                                        max_seconds=program.duration_s + PRE_S + tail_s + 60.0)
    acquisition.start()
    try:
        clock.sleep(PRE_S)
        run = run_stimulus(grid, program, clock)
        clock.sleep(tail_s)
    except BaseException:
        with contextlib.suppress(Exception):
            acquisition.stop()
        raise
    return acquisition.stop(), run


def required_power(p0_w: float, rated: float, delta: Callable[[float], float]
                   ) -> Callable[[Any], Any]:
    """Required grid-side power at frequency f: ``p0 + delta(f)`` within +-rated."""
    def at(f: Any) -> Any:
        values = np.vectorize(lambda x: min(rated, max(-rated, p0_w + delta(float(x)))))(
            np.asarray(f, dtype=float))
        return float(values) if np.ndim(values) == 0 else values
    return at


def evidence_dir(bench: Any, request: pytest.FixtureRequest) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    return Path(bench.run_dir) / "evidence" / safe


def save(folder: Path, name: str, recording: Recording, extra: Sequence[Series],
         limits: Sequence[Any], title: str, judgements: Sequence[Judgement]) -> None:
    """CSV + PNG of stimulus and response with the allowed envelope, and the table of
    measured vs required values; all attached to Allure."""
    power = recording["power_w"]
    merged = Recording.from_series(power, *(s.resample_at(power.t_lab_s) for s in extra))
    save_evidence(merged, folder, name, plot=True, limits=list(limits), title=title)
    rows = [j.as_row() for j in judgements]
    if rows:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
        (folder / f"{name}-table.csv").write_text(text, encoding="utf-8")
        allure.attach(text, name=f"{title}: measured vs required",
                      attachment_type=allure.attachment_type.CSV)


def verdict(judgements: Sequence[Judgement]) -> None:
    """Raise DeviceFailure with every failed check's explanation."""
    failed = [f"{j.check}: {j.explanation}" for j in judgements if not j.passed]
    if failed:
        raise DeviceFailure("; ".join(failed))


def measured_step_s(recording: Recording, channel: str, before: float, after: float,
                    from_lab_s: float | None = None) -> float:
    """Lab time the measured ``channel`` (``frequency_hz``, ``voltage_v``) crosses the middle
    of a step from ``before`` to ``after`` (from ``from_lab_s``): when the unit saw the step.

    Judging from the measured stimulus, not from the program's schedule, keeps the verdicts
    independent of when the grid emulator actually switched."""
    t = crossing_time(recording[channel], 0.5 * (before + after), from_lab_s,
                      "rising" if after > before else "falling")
    if t is None:
        raise DeviceFailure(f"the analyser never measured the {channel} step {before:g} -> "
                            f"{after:g}; check that the grid emulator feeds the charger")
    return t


def finish(station: Any, grid: Any, params: GridCodeParameters, charger: Any = None) -> None:
    """Nominal supply again, the operating-point profile cleared and the EV unplugged
    (whatever happened)."""
    with contextlib.suppress(Exception):
        energise(grid, params)
    if charger is not None and station.charger.ocpp_version != "1.6":
        with contextlib.suppress(Exception):
            charger.call("ClearChargingProfile", {"chargingProfileId": PROFILE_ID})
    with contextlib.suppress(Exception):
        station.unplug()
