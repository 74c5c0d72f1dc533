"""Fixtures for the central system's tests (helpers live in csms_helpers.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from csms_helpers import PASSWORD, PASSWORD_ENV, Bench, Client, default_chargers

from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.csms import CentralSystem, Csms
from testbench.lab.model import ChargerSpec, CsmsSettings


@pytest.fixture
def make_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Bench]]:
    """Factory: ``make_bench(scale=1.0, chargers=None, settings=None, **central_kw)``."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    started: list[Bench] = []
    clients: list[Client] = []

    def make(scale: float = 1.0, chargers: dict[str, ChargerSpec] | None = None,
             settings: CsmsSettings | None = None, **central_kw: Any) -> Bench:
        clock = LabClock(scale=scale)
        loop = BackgroundLoop(name="csms-test-loop")
        trace_dir = tmp_path / f"traces{len(started)}"
        central = CentralSystem(settings or CsmsSettings(heartbeat_interval_s=60),
                                chargers or default_chargers(), clock, trace_dir, **central_kw)
        bench = Bench(central, Csms(central, loop, clock), loop, clock, trace_dir)
        started.append(bench)
        loop.run(central.start(), timeout_s=10)
        original = bench.client

        def tracked_client(cid: str, version: str | None = None, **kw: Any) -> Client:
            c = original(cid, version, **kw)
            clients.append(c)
            return c

        bench.client = tracked_client  # type: ignore[method-assign]
        return bench

    yield make
    for c in clients:
        with contextlib.suppress(Exception):
            c.close()
    for bench in started:
        with contextlib.suppress(Exception):
            bench.loop.run(bench.central.stop(), timeout_s=15)
        bench.loop.stop()


@pytest.fixture
def bench(make_bench: Callable[..., Bench]) -> Bench:
    return make_bench()
