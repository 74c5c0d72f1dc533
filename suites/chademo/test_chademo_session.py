"""CHAdeMO DC sessions, judged from the CAN frames the charger sends (the bench plays the
vehicle through a ``chademo_ev`` instrument) and from the charger's OCPP messages.

The current checked is the one the charger reports in 0x109 ("present charging current"),
what the vehicle's BMS acts on; with a DC analyser on the station it would be measured as
well. Times are lab seconds.

Checks:

1. **Parameter exchange**: once the vehicle's frames arrive the charger answers with 0x108
   (available voltage at least the vehicle's target, available current > 0) and 0x109
   (not energising, connector not locked) before charging is enabled.
2. **Current follows the request**: for each requested current the charger's present
   current settles within ``TOLERANCE_A`` (or ``TOLERANCE_PCT``) of the request or of its
   own available current, whichever is lower, within ``SETTLE_S``, and stays there for
   ``HOLD_S``; it never exceeds the request or the announced available current by more.
3. **Normal stop**: after the vehicle's stop request the current is 0 within ``STOP_S``,
   and the charger stops energising only once its current is 0 (no 0x109 shows
   de-energised with current flowing); unplugging ends the OCPP transaction.
4. **Battery incompatibility**: a battery whose maximum voltage exceeds the charger's
   available voltage is flagged (0x109 bit 3) and never energised.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from testbench.errors import DeviceFailure
from testbench.procedures import chademo, ocpp

WITHIN_S = 10.0
SETTLE_S = 8.0          # 20 A/s ramps of a typical charger reach 80 A in 4 s; 2x margin
HOLD_S = 3.0
STOP_S = 6.0
TOLERANCE_A = 2.0
TOLERANCE_PCT = 3.0
STEPS_A = (40, 80, 20)
pytestmark = pytest.mark.requires("chademo_ev", "dc")


@pytest.fixture
def vehicle(station: Any) -> Any:
    """The CHAdeMO vehicle emulator, unplugged again after the test."""
    instrument = station.instrument("chademo_ev")
    yield instrument
    instrument.safe_state()


def _folder(bench: Any, request: pytest.FixtureRequest) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    return Path(bench.run_dir) / "evidence" / safe


def _tolerance_a(target_a: float) -> float:
    return max(TOLERANCE_A, target_a * TOLERANCE_PCT / 100.0)


def test_parameter_exchange(vehicle: Any, charger: Any, clock: Any) -> None:
    """The charger announces its limits and stays de-energised before charging is enabled."""
    vehicle.plug_in(chademo.MAX_BATTERY_V, chademo.TARGET_V, chademo.CAPACITY_KWH,
                    chademo.SOC_PCT)
    limits = vehicle.charger_limits()
    status = vehicle.charger_status()
    problems = []
    if limits.available_v < chademo.TARGET_V:
        problems.append(f"0x108 announces {limits.available_v} V available, below the "
                        f"vehicle's target {chademo.TARGET_V} V")
    if limits.available_current_a <= 0:
        problems.append("0x108 announces 0 A available current")
    if status.energising or status.locked or status.present_current_a:
        problems.append(f"before charging is enabled 0x109 shows energising="
                        f"{status.energising}, locked={status.locked}, "
                        f"{status.present_current_a} A")
    if problems:
        raise DeviceFailure("; ".join(problems))
    ocpp.expect_connector_occupied(charger, WITHIN_S)


def test_current_follows_request(vehicle: Any, charger: Any, clock: Any, bench: Any,
                                 request: pytest.FixtureRequest) -> None:
    """Each requested current is reached within the settling time and held."""
    since = time.time()
    figures: dict[str, Any] = {"steps": []}
    try:
        chademo.start_session(vehicle, charger, WITHIN_S)
        previous_a = 0
        for target_a in STEPS_A:
            vehicle.request_current_a(target_a)
            step_wall = time.time()
            clock.sleep(SETTLE_S + HOLD_S)
            figures["steps"].append(_judge_step(vehicle, clock, target_a, previous_a,
                                                step_wall))
            previous_a = target_a
    finally:
        chademo.save_session_evidence(vehicle, clock, _folder(bench, request),
                                      "current-steps", since, figures)
    failed = [s["problem"] for s in figures["steps"] if s.get("problem")]
    if failed:
        raise DeviceFailure("; ".join(failed))


def _judge_step(vehicle: Any, clock: Any, target_a: int, previous_a: int,
                step_wall: float) -> dict[str, Any]:
    samples = chademo.status_samples(vehicle, clock, step_wall)
    available = vehicle.charger_limits().available_current_a
    expected_a = min(target_a, available)
    tol = _tolerance_a(expected_a)
    start_lab = clock.to_lab(step_wall)
    step: dict[str, Any] = {"requested_a": target_a, "available_a": available,
                            "expected_a": expected_a, "tolerance_a": tol}
    inside = [abs(s.status.present_current_a - expected_a) <= tol for s in samples]
    settled_at = None
    for i, ok in enumerate(inside):
        if ok and all(inside[i:]):
            settled_at = samples[i].t_lab_s - start_lab
            break
    peak = max((s.status.present_current_a for s in samples), default=0)
    step.update(settled_after_s=None if settled_at is None else round(settled_at, 2),
                peak_a=peak, samples=len(samples))
    if not samples:
        step["problem"] = f"request {target_a} A: no 0x109 from the charger"
    elif settled_at is None or settled_at > SETTLE_S:
        last = samples[-1].status.present_current_a
        step["problem"] = (f"request {target_a} A: the present current did not settle within "
                           f"{expected_a} A +- {tol:g} A within {SETTLE_S:g} s and stay "
                           f"(last {last} A, peak {peak} A)")
    elif target_a >= previous_a and peak > expected_a + tol:
        step["problem"] = (f"request {target_a} A: the present current reached {peak} A, more "
                           f"than requested + {tol:g} A")
    return step


def test_normal_stop(vehicle: Any, charger: Any, clock: Any, bench: Any,
                     request: pytest.FixtureRequest) -> None:
    """On the vehicle's stop request the current goes to 0 before the output de-energises,
    within the stop time, and unplugging ends the transaction."""
    since = time.time()
    figures: dict[str, Any] = {}
    problems: list[str] = []
    try:
        chademo.start_session(vehicle, charger, WITHIN_S)
        vehicle.request_current_a(60)
        vehicle.wait_status(lambda s: s.present_current_a >= 30, clock.wall_duration(SETTLE_S)
                            + 1.0, "current flowing")
        stop_wall = time.time()
        vehicle.request_stop()
        clock.sleep(STOP_S + 1.0)
        samples = chademo.status_samples(vehicle, clock, stop_wall)
        stop_lab = clock.to_lab(stop_wall)
        zero = next((s for s in samples if s.status.present_current_a == 0), None)
        figures["current_zero_after_s"] = None if zero is None else round(
            zero.t_lab_s - stop_lab, 2)
        if zero is None or zero.t_lab_s - stop_lab > STOP_S:
            last = samples[-1].status.present_current_a if samples else None
            problems.append(f"after the stop request the present current was not 0 within "
                            f"{STOP_S:g} s (last {last} A)")
        cut = [s for s in samples if not s.status.energising and s.status.present_current_a]
        if cut:
            problems.append(f"the charger stopped energising while {cut[0].status.present_current_a}"
                            f" A still flowed ({cut[0].t_lab_s - stop_lab:.2f} s after the stop)")
        vehicle.unplug()
        ocpp.expect_transaction_ended(charger, WITHIN_S)
    finally:
        chademo.save_session_evidence(vehicle, clock, _folder(bench, request), "normal-stop",
                                      since, figures)
    if problems:
        raise DeviceFailure("; ".join(problems))


def test_battery_incompatibility(vehicle: Any, charger: Any, clock: Any) -> None:
    """A battery above the charger's available voltage is flagged and never energised."""
    vehicle.plug_in(chademo.MAX_BATTERY_V, chademo.TARGET_V, chademo.CAPACITY_KWH,
                    chademo.SOC_PCT)
    available_v = vehicle.charger_limits().available_v
    vehicle.unplug()
    clock.sleep(2.0)
    since = time.time()
    too_high = available_v + 50
    vehicle.plug_in(too_high, chademo.TARGET_V, chademo.CAPACITY_KWH, chademo.SOC_PCT)
    ocpp.expect_connector_occupied(charger, WITHIN_S)
    ocpp.remote_start(charger, chademo.TOKEN)
    vehicle.request_current_a(40)
    clock.sleep(5.0)
    samples = chademo.status_samples(vehicle, clock, since)
    if not samples:
        raise DeviceFailure("no 0x109 from the charger")
    if not any(s.status.incompatible for s in samples):
        raise DeviceFailure(f"battery maximum {too_high} V above the available {available_v} V "
                            "was never flagged incompatible (0x109 bit 3)")
    live = [s for s in samples if s.status.energising or s.status.present_current_a]
    if live:
        raise DeviceFailure(f"the charger energised an incompatible battery "
                            f"({live[0].status.present_current_a} A)")
