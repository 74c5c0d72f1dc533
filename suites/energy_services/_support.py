"""Shared steps of the energy-service scenarios: sessions, recordings, evidence, verdicts.

Conventions: power + import (charging), - export; the charger's ``power_analyzer`` measures
its own power, the station's ``site_analyzer`` (``options.point = "site"`` in a simulated
lab) the supply point with household load and PV. The grid-connection limit is the
station's ``[stations.site] supply_max_current_a`` (per phase).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import allure
import pytest

from testbench.analysis import BackgroundAcquisition, Recording, save_evidence
from testbench.errors import DeviceFailure
from testbench.procedures import ocpp

WITHIN_S = 15.0
"""Lab seconds a charger may take to report a transaction start or energy flowing."""
RATE_HZ = 5.0
UPDATE_INTERVAL_S = 0.1
VOLTAGE_V = 230.0


def start_session(station: Any, charger: Any, token: str) -> ocpp.TransactionStart:
    """Plug in, let the EV ask for energy, remote start; wait until it charges."""
    station.plug_in()
    station.request_energy()
    status = ocpp.remote_start(charger, token)
    if status != "Accepted":
        raise DeviceFailure(f"charger {charger.id} answered the remote start with {status!r}")
    started = ocpp.expect_transaction_started(charger, WITHIN_S)
    ocpp.expect_charging(charger, WITHIN_S)
    return started


def stop_session(station: Any, charger: Any, started: ocpp.TransactionStart | None) -> None:
    """Remote stop (best effort) and unplug, whatever happened."""
    if started is not None:
        with contextlib.suppress(Exception):
            ocpp.stop_transaction(charger, started.transaction_id, WITHIN_S)
    with contextlib.suppress(Exception):
        station.unplug()


def acquire(analyzer: Any, clock: Any, max_seconds: float) -> BackgroundAcquisition:
    """Start recording ``analyzer`` in the background."""
    with contextlib.suppress(Exception):
        analyzer.set_update_interval_s(UPDATE_INTERVAL_S)
    return BackgroundAcquisition(analyzer, clock, rate_hz=RATE_HZ,
                                 max_seconds=max_seconds).start()


def stop_all(acquisitions: Sequence[BackgroundAcquisition]) -> list[Recording]:
    """Stop every recording (the others even when one fails)."""
    out = []
    for acq in acquisitions:
        try:
            out.append(acq.stop())
        except Exception:  # noqa: BLE001 - keep what was recorded
            out.append(acq.recording)
    return out


def pair_phases(station: Any) -> int:
    """Phases the EV x charger pair charges on."""
    return max(1, min(int(station.ev.phases), int(station.charger.phases)))


def pair_max_a(station: Any) -> float:
    """The most current per phase the pair can draw."""
    return float(min(station.ev.max_current_a, station.charger.max_current_a))


def connection_limit_a(station: Any) -> float:
    """The site's grid-connection limit per phase, or skip (not applicable)."""
    site = station.spec.site
    if site is None or site.supply_max_current_a is None:
        pytest.skip(f"not applicable: station {station.id} states no grid-connection limit "
                    "([stations.site] supply_max_current_a)")
    return float(site.supply_max_current_a)


def evidence_dir(bench: Any, request: pytest.FixtureRequest) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    return Path(bench.run_dir) / "evidence" / safe


def save_json(folder: Path, name: str, data: Any) -> None:
    """Write ``<name>.json`` and attach it (the schedule, limits, figures)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, default=str)
    (folder / f"{name}.json").write_text(text, encoding="utf-8")
    allure.attach(text, name=name, attachment_type=allure.attachment_type.JSON)


def save_recording(folder: Path, name: str, recording: Recording, channels: Sequence[str],
                   limits: Sequence[Any], title: str) -> None:
    """CSV + PNG of measured vs allowed (evidence never hides the verdict)."""
    with contextlib.suppress(Exception):
        save_evidence(recording, folder, name, plot=True, channels=list(channels),
                      limits=list(limits), title=title)


def verdict(problems: Sequence[str]) -> None:
    if problems:
        raise DeviceFailure("; ".join(problems))


def mean_reading(analyzer: Any, clock: Any, seconds: float) -> tuple[float, float]:
    """(mean power W, mean largest phase current A) read directly over ``seconds`` lab
    seconds (drivers are thread-safe: a background recording may run meanwhile)."""
    powers, currents = [], []
    end = clock.now() + seconds
    while True:
        reading = analyzer.read()
        powers.append(reading.power_w)
        currents.append(reading.current_a)
        if clock.now() >= end:
            break
        clock.sleep(0.2)
    return sum(powers) / len(powers), sum(currents) / len(currents)
