"""Fixtures for the ISO 15118 emulator tests: skip (with the reason) what this machine lacks."""

from __future__ import annotations

import pytest

from testbench.iso15118 import Iso15118Install, find_install, install_problem, netns_problem


@pytest.fixture(scope="session")
def netns_ready() -> None:
    """Veth pairs between network namespaces can be created here (root / CAP_NET_ADMIN)."""
    problem = netns_problem()
    if problem:
        pytest.skip(f"no V2G links on this machine: {problem}")


@pytest.fixture(scope="session")
def iso15118(netns_ready: None) -> Iso15118Install:
    """The iso15118 package's environment and Java (scripts/setup-iso15118.sh)."""
    problem = install_problem()
    if problem:
        pytest.skip(f"ISO 15118 emulators unavailable: {problem}")
    return find_install()
