"""Safe-state evidence: what every twin of the simulated lab was doing when it was stopped.

Written by the simulated lab when it stops (``--state-file``), after the bench has had its
chance to make every instrument safe, so a run can prove its instruments ended
de-energised. One JSON object::

    {"lab": "...", "reason": "SIGTERM", "lab_s": 1700000123.4, "energised": [],
     "twins": [{"instruments": ["grid"], "driver": "chroma-61800", "resource": "...",
                "port": 47001, "kind": "grid_emulator", "energised": false,
                "ever_energised": true, "state": {...}, "received": ["OUTP:STAT OFF", ...]},
               {"instruments": ["evio-x", "rfid-x"], "driver": "sim-ev-emulator",
                "kind": "ev_emulator", "energised": false, "state": {"ev_state": "A", ...}}]}

``energised`` lists the instruments still energised (empty when everything is safe).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from testbench.sim.app import SimLab


def final_state(sim: SimLab, reason: str) -> dict[str, Any]:
    """Every twin of ``sim`` with its energised state now."""
    twins: list[dict[str, Any]] = []
    for plan, io, port in sim.boxes:
        conn = io.conn
        twins.append({
            "instruments": list(plan.instruments), "driver": "sim-ev-emulator",
            "resource": plan.resource, "port": port, "kind": "ev_emulator",
            "energised": conn.plugged, "ever_energised": None,
            "state": {"charger": plan.charger, "evse": plan.evse_id,
                      "connector": plan.connector_id, "ev_state": conn.ev_state,
                      "ev": conn.ev.id if conn.ev is not None else None,
                      "current_a": conn.current_a, "supply_on": io.supply_on()},
        })
    twins.extend(hosted.state() for hosted in sim.hosted)
    energised = [name for twin in twins if twin["energised"] for name in twin["instruments"]]
    return {"lab": sim.lab.settings.name, "reason": reason, "lab_s": sim.clock.now(),
            "energised": energised, "twins": twins}


def write_state_file(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` as JSON at ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(state, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(partial, path)
