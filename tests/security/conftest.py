"""Fixtures of the security tests: a per-run PKI and central systems with profiles 1-3."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pki import LabPki, make_lab_pki
from security_helpers import (
    P1_ENV,
    P1_PASSWORD,
    P2_ENV,
    P2_PASSWORD,
    TLS_CHARGERS,
    SecureBench,
    plain_chargers,
    tls_chargers,
)

from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.csms import CentralSystem, Csms
from testbench.lab.model import ChargerSpec, CsmsSettings
from testbench.secrets import Secrets


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("pki"), list(TLS_CHARGERS))


@pytest.fixture
def make_secure_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                      ) -> Iterator[Callable[..., SecureBench]]:
    """Factory: ``make_secure_bench(settings, chargers, **central_kw)``; passwords set."""
    monkeypatch.setenv(P1_ENV, P1_PASSWORD)
    monkeypatch.setenv(P2_ENV, P2_PASSWORD)
    monkeypatch.delenv("TESTBENCH_SECRETS", raising=False)
    started: list[SecureBench] = []

    def make(settings: CsmsSettings, chargers: dict[str, ChargerSpec],
             **central_kw: Any) -> SecureBench:
        clock = LabClock()
        loop = BackgroundLoop(name="security-test-loop")
        trace_dir = tmp_path / f"traces{len(started)}"
        central_kw.setdefault("secrets", Secrets())
        central = CentralSystem(settings, chargers, clock, trace_dir, **central_kw)
        bench = SecureBench(central, Csms(central, loop, clock), loop, clock, trace_dir)
        started.append(bench)
        loop.run(central.start(), timeout_s=10)
        return bench

    yield make
    for bench in started:
        with contextlib.suppress(Exception):
            bench.stop()


@pytest.fixture
def plain_bench(make_secure_bench: Callable[..., SecureBench]) -> SecureBench:
    """Profiles 0 and 1 over ws://."""
    return make_secure_bench(CsmsSettings(), plain_chargers())


@pytest.fixture
def tls_bench(make_secure_bench: Callable[..., SecureBench], pki: LabPki) -> SecureBench:
    """Profiles 2 and 3 over wss:// (ECDSA server certificate, lab CA for clients)."""
    settings = CsmsSettings(tls_cert=pki.server.cert, tls_key=pki.server.key,
                            tls_ca=pki.ca.path)
    return make_secure_bench(settings, tls_chargers())
