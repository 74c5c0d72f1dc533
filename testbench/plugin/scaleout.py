"""Scale-out over stations with pytest-xdist: one station per worker group.

``testbench run --lab LAB -- -n 2`` (or ``pytest --lab LAB -n 2``) distributes the tests
with the plugin's scheduler (:func:`station_scheduler`, xdist's load-scope scheduler with
the station as the scope): all of a station's tests run in one worker, in campaign order.
Every bench test also carries ``xdist_group(<station id>)`` for ``--dist loadgroup`` (but
pytest-xdist 3.8's loadgroup does not group on pytest 9, whose node ids ignore the
``@group`` suffix; the scheduler does not depend on it). Each worker runs its own central
system (its own port) and starts only the part of the simulated lab of the station it is
running (``python -m testbench.sim --station ID``); the controller alone writes the
journal. Instruments are locked per resource (:mod:`testbench.plugin.locks`), so two
workers can never drive one instrument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from testbench.lab.model import Lab, Pairing

RUN_ID_INPUT = "testbench_run_id"
"""Key of the run id the xdist controller hands its workers (one run folder for all)."""


def station_of(nodeid: str, pairings: Sequence[Pairing]) -> str | None:
    """The station of a bench test from its node id (its ``[station:ev@charger]`` id)."""
    params = nodeid.partition("[")[2]
    found = [p for p in pairings if f"{p.station}:{p.id}" in params]
    if not found:
        stations = {p.station for p in pairings}
        # one station: test ids carry no station prefix
        if len(stations) == 1 and any(p.id in params for p in pairings):
            return next(iter(stations))
        return None
    return max(found, key=lambda p: len(f"{p.station}:{p.id}")).station


def station_scheduler(config: pytest.Config, log: Any, pairings: Sequence[Pairing]) -> Any:
    """An xdist scheduler whose unit of work is a station (other tests: their module)."""
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class StationScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            station = station_of(nodeid, pairings)
            if station is not None:
                return f"station:{station}"
            return nodeid.rsplit("::", 1)[0]

    return StationScheduling(config, log)


def group_by_station(items: list[pytest.Item]) -> None:
    """Mark each bench test with ``xdist_group(<its station>)`` (harmless without xdist)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        pairing = callspec.params.get("pairing") if callspec is not None else None
        station = getattr(pairing, "station", None)
        if station is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(station))


def plain_nodeid(nodeid: str, station: str) -> str:
    """The node id without the ``@<station>`` suffix xdist's loadgroup appends (journal ids
    are the same serial or distributed)."""
    suffix = f"@{station}"
    return nodeid.removesuffix(suffix)


def worker_lab(lab: Lab) -> Lab:
    """The lab as a worker runs it: in sim mode, its central system on any free port (the
    worker tells its part of the simulated lab the URL), so workers never share a port."""
    if not lab.is_sim or lab.csms.port == 0:
        return lab
    return dataclasses.replace(lab, csms=dataclasses.replace(lab.csms, port=0))


def refuse_parallel_real_lab(lab: Lab) -> None:
    """UsageError for ``-n`` on a real lab: its chargers dial one fixed central-system port,
    which only one worker can hold."""
    if not lab.is_sim:
        raise pytest.UsageError(
            f"-n: {lab.path} is a real lab; its chargers connect to one central system at "
            f"port {lab.csms.port}, which one worker alone can serve; fix: run one station "
            "per runner (`testbench run --station ID` on each bench PC, then `testbench "
            "import` the journals), see README 'Several runners'")
