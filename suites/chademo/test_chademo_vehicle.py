"""CHAdeMO vehicles, judged from the CAN frames the vehicle sends (the bench plays the
charger through a ``chademo_charger`` instrument: it sends 0x108/0x109 and reads the
vehicle's 0x100/0x101/0x102). Times are lab seconds.

Checks:

1. **Start-up sequence**: the vehicle's parameters are plausible (maximum battery voltage
   at least the target voltage, minimum below it, capacity > 0); charging is enabled only
   after the charger's 0x108 and 0x109 have been sent (never while the charger is silent),
   within ``WITHIN_S``; no current is requested before the charger energises, and current
   is requested within ``WITHIN_S`` after it does.
2. **Request within the available current**: the current request never exceeds the
   available current announced in 0x108, also after the bench lowers it mid-session
   (a grace of ``FOLLOW_S`` after each change (verify)).
3. **Stop on a charger malfunction**: within ``FAULT_STOP_S`` (verify) of the charger's
   malfunction flag the request is 0 and charging is disabled, and stays so.
4. **Normal stop on the charger's stop control**: within ``NORMAL_STOP_S`` (verify) the
   request is 0 and charging is disabled, without a fault flag, and stays so.

Not covered here: the CHAdeMO digital lines (charge start d1/d2, permission j), which are
not on CAN; a bench for real vehicles switches them with its I/O.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import allure
import numpy as np
import pytest

from instruments import chademo_frames as cf
from testbench.analysis import Recording, Series, save_evidence
from testbench.analysis.evidence import allure_active
from testbench.errors import DeviceFailure
from testbench.procedures import chademo

AVAILABLE_V = 500
AVAILABLE_A = 80
LOWERED_A = 30
WITHIN_S = 10.0
FOLLOW_S = 1.0
FAULT_STOP_S = 1.0
NORMAL_STOP_S = 2.0
QUIET_S = 1.5
"""Charger silence before each test, so the vehicle starts a new session."""
RUN_S = 3.0
pytestmark = pytest.mark.requires("chademo_charger")


@pytest.fixture
def emulator(station: Any, clock: Any) -> Any:
    """The CHAdeMO charger emulator, silent for ``QUIET_S`` first, made safe after the test."""
    if not station.has("chademo_charger"):
        pytest.skip(f"not applicable: station {station.id} has no 'chademo_charger' "
                    f"instrument for charger {station.charger.id}")
    allure.dynamic.label("ev", station.ev.id)
    allure.dynamic.label("ev_software", station.ev.software)
    allure.dynamic.label("charger", station.charger.id)
    allure.dynamic.label("station", station.id)
    allure.dynamic.sub_suite(f"{station.ev.id} @ {station.charger.id}")
    instrument = station.instrument("chademo_charger")
    instrument.disconnect()
    clock.sleep(QUIET_S)
    yield instrument
    instrument.safe_state()


# ---------------------------------------------------------------------------- wire record
def _requests(emulator: Any, clock: Any, since_wall_s: float) -> list[tuple[float, cf.EvRequest]]:
    out = []
    for frame in emulator.capture():
        if frame.arbitration_id == cf.EV_REQUEST and frame.timestamp_s >= since_wall_s:
            try:
                out.append((clock.to_lab(frame.timestamp_s), cf.decode_ev_request(frame.data)))
            except cf.FrameError:
                continue
    return out


def _sent(emulator: Any, clock: Any, ident: int, since_wall_s: float) -> list[tuple[float, bytes]]:
    return [(clock.to_lab(f.timestamp_s), f.data) for f in emulator.capture()
            if f.arbitration_id == ident and f.timestamp_s >= since_wall_s]


def _available(emulator: Any, clock: Any, since_wall_s: float) -> list[tuple[float, int]]:
    return [(t, cf.decode_charger_limits(d).available_current_a)
            for t, d in _sent(emulator, clock, cf.CHARGER_LIMITS, since_wall_s)]


def _allowed_a(announced: list[tuple[float, int]], t_lab_s: float) -> int | None:
    """The highest available current announced in force within ``FOLLOW_S`` before
    ``t_lab_s`` (None: nothing announced yet)."""
    before = [a for t, a in announced if t <= t_lab_s - FOLLOW_S]
    window = [a for t, a in announced if t_lab_s - FOLLOW_S < t <= t_lab_s]
    candidates = before[-1:] + window
    return max(candidates) if candidates else None


def _folder(bench: Any, request: pytest.FixtureRequest) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    return Path(bench.run_dir) / "evidence" / safe


def _evidence(emulator: Any, clock: Any, folder: Path, name: str, since_wall_s: float,
              figures: dict[str, Any]) -> None:
    """CAN log, request vs available current (CSV + PNG) and the figures (JSON)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}-can.log", folder / f"{name}-figures.json"]
    paths[0].write_text(chademo.candump(emulator, clock) + "\n", encoding="utf-8")
    paths[1].write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    asked = _requests(emulator, clock, since_wall_s)
    announced = _available(emulator, clock, since_wall_s)
    rows: dict[float, tuple[float, float, float]] = {}
    for t, r in asked:
        now = [a for ta, a in announced if ta <= t]
        allowed = _allowed_a(announced, t)
        rows.setdefault(t, (float(r.current_request_a), float(now[-1]) if now else np.nan,
                            np.nan if allowed is None else float(allowed)))
    if len(rows) >= 2:
        times = np.array(sorted(rows))
        values = np.array([rows[k] for k in sorted(rows)])
        recording = Recording(times, {"request_a": values[:, 0], "available_a": values[:, 1]},
                              {"request_a": "A", "available_a": "A"})
        grace = Series("allowed_a", "A", times, values[:, 2])
        save_evidence(recording, folder, name, plot=True, channels=["request_a", "available_a"],
                      limits=[(f"available (+{FOLLOW_S:g} s grace)", grace)],
                      title=f"CHAdeMO vehicle {name}: request (0x102) vs available (0x108)")
    if allure_active():
        for path in paths:
            allure.attach.file(str(path), name=path.name,
                               attachment_type=allure.attachment_type.TEXT
                               if path.suffix == ".log" else allure.attachment_type.JSON)


def _await(emulator: Any, clock: Any, accept: Any, what: str) -> cf.EvRequest:
    """The first 0x102 ``accept`` takes within ``WITHIN_S``; a vehicle that does not get
    there is a device failure (a silent one stays an instrument error: check the wiring)."""
    deadline = time.monotonic() + clock.wall_duration(WITHIN_S)
    while True:
        last = emulator.vehicle_request()
        if accept(last):
            return last
        if time.monotonic() > deadline:
            raise DeviceFailure(f"the vehicle did not {what} within {WITHIN_S:g} s (last 0x102: "
                                f"{last.current_request_a} A, status flags "
                                f"0x{last.status_flags:02X})")
        time.sleep(0.01)


def _start(emulator: Any, clock: Any, available_a: int = AVAILABLE_A) -> cf.EvRequest:
    """Connect, wait for charging enabled, energise at the vehicle's target voltage and
    wait for a current request; the last 0x102."""
    emulator.connect(AVAILABLE_V, available_a)
    enabled = _await(emulator, clock, lambda r: r.charging_enabled,
                     "enable charging after the charger's parameters")
    if not 0 < enabled.target_v <= AVAILABLE_V:
        raise DeviceFailure(f"the vehicle's target voltage {enabled.target_v} V is not within "
                            f"1..{AVAILABLE_V} V (the charger's available voltage)")
    emulator.energise(enabled.target_v)
    return _await(emulator, clock, lambda r: r.current_request_a > 0,
                  "request current once the charger energised")


def _stopped_at(asked: list[tuple[float, cf.EvRequest]], since_lab_s: float) -> float | None:
    """Lab time of the first 0x102 from which on every frame shows request 0 and charging
    disabled (None: never)."""
    stopped_at = None
    for t, r in asked:
        if r.current_request_a == 0 and not r.charging_enabled:
            stopped_at = t if stopped_at is None else stopped_at
        else:
            stopped_at = None
    return None if stopped_at is None else stopped_at - since_lab_s


# ---------------------------------------------------------------------------- checks
def test_startup_sequence(emulator: Any, clock: Any, bench: Any,
                          request: pytest.FixtureRequest) -> None:
    """Plausible parameters; charging enabled only after the charger's parameters; current
    requested only once the charger energises."""
    since = time.time()
    figures: dict[str, Any] = {}
    problems: list[str] = []
    try:
        limits, times = emulator.vehicle_limits(), emulator.vehicle_times()
        first = emulator.vehicle_request()
        figures.update(max_battery_v=limits.max_battery_v, min_battery_v=limits.min_battery_v,
                       target_v=first.target_v, capacity_kwh=times.capacity_kwh,
                       soc_pct=first.soc_pct, protocol=first.protocol)
        if limits.max_battery_v < first.target_v or first.target_v <= 0:
            problems.append(f"target voltage {first.target_v} V is not within 1.."
                            f"{limits.max_battery_v} V (the battery maximum of 0x100)")
        if limits.min_battery_v > first.target_v:
            problems.append(f"minimum battery voltage {limits.min_battery_v} V is above the "
                            f"target {first.target_v} V")
        if times.capacity_kwh <= 0:
            problems.append("0x101 announces a battery capacity of 0 kWh")
        clock.sleep(0.5)
        connect_wall = time.time()
        _start(emulator, clock)
        energise_lab = next((t for t, d in _sent(emulator, clock, cf.CHARGER_STATUS, since)
                             if cf.decode_charger_status(d).energising), clock.now())
        asked = _requests(emulator, clock, since)
        first_params = min((t for ident in (cf.CHARGER_LIMITS, cf.CHARGER_STATUS)
                            for t, _ in _sent(emulator, clock, ident, connect_wall)[:1]),
                           default=None)
        early = [t for t, r in asked if r.charging_enabled
                 and (first_params is None or t < first_params)]
        if early:
            problems.append("0x102 shows charging enabled before the charger sent its "
                            "parameters (0x108/0x109)")
        enabled = next((t for t, r in asked if r.charging_enabled), None)
        figures["enabled_after_s"] = None if enabled is None or first_params is None else round(
            enabled - first_params, 2)
        premature = [r.current_request_a for t, r in asked
                     if t < energise_lab and r.current_request_a > 0]
        if premature:
            problems.append(f"the vehicle requested {max(premature)} A before the charger "
                            "energised")
        current = next((t for t, r in asked if t >= energise_lab and r.current_request_a), None)
        figures["request_after_energise_s"] = None if current is None else round(
            current - energise_lab, 2)
    finally:
        _evidence(emulator, clock, _folder(bench, request), "startup", since, figures)
    if problems:
        raise DeviceFailure("; ".join(problems))


def test_request_within_available_current(emulator: Any, clock: Any, bench: Any,
                                          request: pytest.FixtureRequest) -> None:
    """The request never exceeds the announced available current, also after it drops."""
    since = time.time()
    figures: dict[str, Any] = {"available_a": AVAILABLE_A, "lowered_a": LOWERED_A,
                               "follow_s": FOLLOW_S}
    try:
        _start(emulator, clock)
        clock.sleep(RUN_S)
        lowered_wall = time.time()
        emulator.set_available_current_a(LOWERED_A)
        clock.sleep(FOLLOW_S + 1.5)
        lowered_lab = clock.to_lab(lowered_wall)
        asked = _requests(emulator, clock, since)
        announced = _available(emulator, clock, since)
        over = []
        for t, r in asked:
            allowed = _allowed_a(announced, t)
            if allowed is not None and r.current_request_a > allowed:
                over.append((t, r.current_request_a, allowed))
        followed = next((t for t, r in asked if t >= lowered_lab
                         and r.current_request_a <= LOWERED_A), None)
        figures.update(peak_request_a=max((r.current_request_a for _, r in asked), default=0),
                       followed_after_s=None if followed is None else round(
                           followed - lowered_lab, 2),
                       frames_over=len(over))
    finally:
        _evidence(emulator, clock, _folder(bench, request), "request-vs-available", since,
                  figures)
    if over:
        t, asked_a, allowed = over[0]
        when = "after lowering" if t >= lowered_lab else "before lowering"
        raise DeviceFailure(f"the vehicle requested {asked_a} A above the available {allowed} A "
                            f"({when}, {len(over)} frames over, peak "
                            f"{figures['peak_request_a']} A)")


def test_stops_on_charger_malfunction(emulator: Any, clock: Any, bench: Any,
                                      request: pytest.FixtureRequest) -> None:
    """Within the deadline of the charger's malfunction flag: request 0, charging disabled."""
    since = time.time()
    figures: dict[str, Any] = {"deadline_s": FAULT_STOP_S}
    try:
        _start(emulator, clock)
        clock.sleep(1.0)
        fault_wall = time.time()
        emulator.set_malfunction()
        clock.sleep(FAULT_STOP_S + 1.0)
        asked = _requests(emulator, clock, fault_wall)
        after = _stopped_at(asked, clock.to_lab(fault_wall))
        figures["stopped_after_s"] = None if after is None else round(after, 2)
        figures["last_request_a"] = asked[-1][1].current_request_a if asked else None
    finally:
        _evidence(emulator, clock, _folder(bench, request), "malfunction-stop", since, figures)
    if after is None or after > FAULT_STOP_S:
        last = asked[-1][1] if asked else None
        shown = ("no 0x102" if last is None else f"last {last.current_request_a} A, charging "
                 f"enabled={last.charging_enabled}")
        raise DeviceFailure(f"after the charger's malfunction flag the vehicle did not stop "
                            f"(request 0, charging disabled) within {FAULT_STOP_S:g} s "
                            f"({shown})")


def test_normal_stop_on_stop_control(emulator: Any, clock: Any, bench: Any,
                                     request: pytest.FixtureRequest) -> None:
    """On the charger's stop control the vehicle ends charging cleanly: request 0, charging
    disabled, no fault flag, within the deadline."""
    since = time.time()
    figures: dict[str, Any] = {"deadline_s": NORMAL_STOP_S}
    problems: list[str] = []
    try:
        _start(emulator, clock)
        clock.sleep(1.0)
        stop_wall = time.time()
        emulator.stop_charging()
        clock.sleep(NORMAL_STOP_S + 1.0)
        asked = _requests(emulator, clock, stop_wall)
        after = _stopped_at(asked, clock.to_lab(stop_wall))
        figures["stopped_after_s"] = None if after is None else round(after, 2)
        if after is None or after > NORMAL_STOP_S:
            last = asked[-1][1] if asked else None
            problems.append(f"after the charger's stop control the vehicle did not stop "
                            f"(request 0, charging disabled) within {NORMAL_STOP_S:g} s "
                            f"({'no 0x102' if last is None else f'last {last.current_request_a} A'})")
        faults = {r.fault_flags for _, r in asked if r.fault_flags}
        faults |= {r.status_flags & cf.EV_SYSTEM_FAULT for _, r in asked} - {0}
        if faults:
            problems.append(f"the vehicle flagged a fault during a normal stop "
                            f"(flags {sorted(faults)})")
    finally:
        _evidence(emulator, clock, _folder(bench, request), "normal-stop", since, figures)
    if problems:
        raise DeviceFailure("; ".join(problems))
