"""A generated simulated lab for the grid-code suites: bidirectional 2.1 chargers (the
gridline-like BX7) with a bidirectional EV, each charger with its own grid emulator
(chroma-61800) and a power analyser on its grid side (``options.point = "input"``)."""

from __future__ import annotations

from pathlib import Path

import labgen
from labgen import ChargerEntry, free_port, write_lab

V2G_EV = "ev-v2g"
labgen.EVS.setdefault(V2G_EV, {"make": "Arden", "model": "Volta V2G", "software": "3.1",
                               "phases": 3, "min_current_a": 6.0, "max_current_a": 32.0,
                               "battery_kwh": 80.0, "initial_soc_pct": 60.0,
                               "iso15118": ["-20"], "bidirectional": True})


def write_grid_lab(path: Path, faults: dict[str, tuple[str, ...]], *,
                   time_scale: float = 10.0) -> Path:
    """One station; a bidirectional 2.1 charger per entry of ``faults`` (id -> faults)."""
    chargers = [ChargerEntry(cid, "2.1", tuple(f), extra={"bidirectional": True,
                                                          "iso15118": ["-2", "-20"]})
                for cid, f in faults.items()]
    instruments: list[dict[str, object]] = []
    for cid in faults:
        instruments.append({"name": f"grid-{cid}", "role": "grid_emulator",
                            "driver": "chroma-61800",
                            "resource": f"TCPIP::127.0.0.1::{free_port()}::SOCKET",
                            "charger": cid})
        instruments.append({"name": f"analyser-{cid}", "role": "power_analyzer",
                            "driver": "yokogawa-wt",
                            "resource": f"TCPIP::127.0.0.1::{free_port()}::SOCKET",
                            "charger": cid, "options": {"point": "input"}})
    return write_lab(path, chargers, [V2G_EV], instruments=instruments, time_scale=time_scale,
                     name="gridcode-selftest")
