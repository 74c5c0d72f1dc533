"""ISO 15118 suite fixtures: the pairing's EV played by the bench's EV emulator (``v2g_ev``)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from suites.iso15118._support import V2GPair
from testbench.procedures import smart


@pytest.fixture
def pair(charger: Any, station: Any, clock: Any, bench: Any,
         request: pytest.FixtureRequest) -> Iterator[V2GPair]:
    """The pairing with its EV emulator; no charging profiles before and after."""
    emulator = station.instrument("v2g_ev")
    if emulator is None:
        pytest.skip(f"not applicable: station {station.id} has no v2g_ev instrument for "
                    f"{station.charger.id}")
    safe = re.sub(r"[^A-Za-z0-9_.@-]+", "_", request.node.nodeid.split("/")[-1])[:150]
    folder = Path(bench.run_dir) / "evidence" / safe / "v2g"
    with contextlib.suppress(Exception):
        charger.call("ClearChargingProfile", smart.clear_request(charger))
    charger.mark()
    v2g = V2GPair(charger, station, clock, emulator, folder)
    try:
        yield v2g
    finally:
        for run in v2g.runs:
            with contextlib.suppress(Exception):
                run.stop()
        with contextlib.suppress(Exception):
            station.unplug()
        with contextlib.suppress(Exception):
            charger.call("ClearChargingProfile", smart.clear_request(charger))
