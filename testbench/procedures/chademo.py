"""CHAdeMO session steps and evidence, through the ``chademo_ev`` instrument (the bench
plays the vehicle) and the central system (the charger's OCPP side)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from instruments import chademo_frames as cf
from testbench.analysis import Recording, save_evidence
from testbench.analysis.evidence import allure_active
from testbench.procedures import ocpp

TOKEN = "LAB-CHADEMO-1"
MAX_BATTERY_V = 410
TARGET_V = 400
CAPACITY_KWH = 40.0
SOC_PCT = 50


@dataclass(frozen=True)
class StatusSample:
    """One decoded 0x109 frame with its lab time."""

    t_lab_s: float
    status: cf.ChargerStatus


def start_session(vehicle: Any, charger: Any, within_s: float, *,
                  max_battery_v: int = MAX_BATTERY_V) -> ocpp.TransactionStart:
    """Plug the vehicle in, see the connector occupied, start a transaction from the
    central system and wait for it (the charger may energise only after that)."""
    vehicle.plug_in(max_battery_v, TARGET_V, CAPACITY_KWH, SOC_PCT)
    ocpp.expect_connector_occupied(charger, within_s)
    assert ocpp.remote_start(charger, TOKEN) == "Accepted", "charger rejected the remote start"
    return ocpp.expect_transaction_started(charger, within_s)


def status_samples(vehicle: Any, clock: Any, since_wall_s: float = 0.0) -> list[StatusSample]:
    """Every well-formed 0x109 the charger sent since ``since_wall_s`` (wall time)."""
    samples: list[StatusSample] = []
    for frame in vehicle.capture():
        if frame.arbitration_id != cf.CHARGER_STATUS or frame.timestamp_s < since_wall_s:
            continue
        try:
            samples.append(StatusSample(clock.to_lab(frame.timestamp_s),
                                        cf.decode_charger_status(frame.data)))
        except cf.FrameError:
            continue
    return samples


def requests(vehicle: Any, clock: Any, since_wall_s: float = 0.0) -> list[tuple[float, int]]:
    """(lab time, current request A) of every 0x102 the vehicle sent since ``since_wall_s``."""
    out: list[tuple[float, int]] = []
    for frame in vehicle.capture():
        if frame.arbitration_id == cf.EV_REQUEST and frame.timestamp_s >= since_wall_s:
            request = cf.decode_ev_request(frame.data)
            out.append((clock.to_lab(frame.timestamp_s), request.current_request_a))
    return out


def candump(vehicle: Any, clock: Any) -> str:
    """The session's frames in candump-like text: lab time, id, data."""
    return "\n".join(f"({clock.to_lab(f.timestamp_s):.3f}) can {f.arbitration_id:03X}#"
                     f"{f.data.hex().upper()}" for f in vehicle.capture())


def save_session_evidence(vehicle: Any, clock: Any, folder: Path, name: str,
                          since_wall_s: float, figures: dict[str, Any] | None = None) -> None:
    """CAN log, requested vs present current (CSV + PNG) and figures (JSON)."""
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{name}-can.log"
    log_path.write_text(candump(vehicle, clock) + "\n", encoding="utf-8")
    samples = status_samples(vehicle, clock, since_wall_s)
    asked = requests(vehicle, clock, since_wall_s)
    if samples:
        t = np.array([s.t_lab_s for s in samples])
        asked_t = np.array([a[0] for a in asked]) if asked else np.array([t[0]])
        asked_a = np.array([float(a[1]) for a in asked]) if asked else np.array([0.0])
        requested = np.interp(t, asked_t, asked_a, left=asked_a[0], right=asked_a[-1])
        recording = Recording(
            t, {"present_current_a": np.array([float(s.status.present_current_a)
                                               for s in samples]),
                "requested_current_a": requested,
                "present_voltage_v": np.array([float(s.status.present_v) for s in samples])},
            {"present_current_a": "A", "requested_current_a": "A", "present_voltage_v": "V"})
        save_evidence(recording, folder, name, plot=True,
                      channels=["present_current_a", "requested_current_a"],
                      title=f"CHAdeMO {name}: present vs requested current (0x109 / 0x102)")
    paths = [log_path]
    if figures is not None:
        figures_path = folder / f"{name}-figures.json"
        figures_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        paths.append(figures_path)
    if allure_active():
        import allure

        for path in paths:
            allure.attach.file(str(path), name=path.name,
                               attachment_type=allure.attachment_type.TEXT
                               if path.suffix == ".log" else allure.attachment_type.JSON)
