"""Fixtures for the SCPI driver and twin tests: replay sessions, running twins, drivers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from scpi_replay import Replay

import instruments.transports.scpi as scpi_transport
from instruments.registry import get_driver
from instruments.twins.scpi_server import ScpiTwin, TwinThread
from testbench.lab.model import InstrumentSpec, SafetyLimits

LIMITS = SafetyLimits(max_voltage_v=250.0, max_current_a=32.0, max_power_w=20000.0)


def make_spec(driver: str, resource: str = "TCPIP::replay::5025::SOCKET",
              timeout_s: float = 2.0, **options: Any) -> InstrumentSpec:
    """An instrument spec as lab.toml would give it."""
    return InstrumentSpec(name=f"{driver}-1", role="instrument", driver=driver,
                          resource=resource, timeout_s=timeout_s, options=options)


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replay]:
    """A replay resource manager; the dialogue must be followed and used up."""
    fake = Replay()
    monkeypatch.setattr(scpi_transport, "resource_manager", lambda: fake)
    yield fake
    fake.assert_followed()


@pytest.fixture
def replay_driver(replay: Replay) -> Callable[..., Any]:
    """Build a registered driver on the replay session: ``replay_driver(name, **options)``."""

    def build(name: str, limits: SafetyLimits = LIMITS, **options: Any) -> Any:
        return get_driver(name)(make_spec(name, **options), limits)

    return build


@pytest.fixture
def run_twin() -> Iterator[Callable[[ScpiTwin], TwinThread]]:
    """Start twins on background loops; all stopped at teardown."""
    running: list[TwinThread] = []

    def start(twin: ScpiTwin) -> TwinThread:
        thread = TwinThread(twin)
        thread.start()
        running.append(thread)
        return thread

    yield start
    for thread in running:
        thread.stop()


@pytest.fixture
def open_driver() -> Iterator[Callable[..., Any]]:
    """Open a registered driver on a twin: ``open_driver(name, thread, **options)``."""
    opened: list[Any] = []

    def build(name: str, thread: TwinThread, limits: SafetyLimits = LIMITS,
              timeout_s: float = 2.0, **options: Any) -> Any:
        driver = get_driver(name)(make_spec(name, thread.resource, timeout_s, **options), limits)
        opened.append(driver)
        return driver

    yield build
    for driver in opened:
        driver.close()
