"""unused_port never hands out the same port twice, even when the OS offers it again."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from testbench.lab import ports


def test_a_port_the_os_offers_again_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    offered = iter([41001, 41001, 41001, 41002])

    class FakeSocket:
        def __enter__(self) -> FakeSocket:
            return self

        def __exit__(self, *exc: Any) -> None:
            return None

        def bind(self, address: tuple[str, int]) -> None:
            self.port = next(offered)

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(ports, "_HANDED_OUT", set())
    monkeypatch.setattr(socket, "socket", FakeSocket)
    assert [ports.unused_port(), ports.unused_port()] == [41001, 41002]


def test_real_ports_are_distinct_and_bindable() -> None:
    got = [ports.unused_port() for _ in range(50)]
    assert len(set(got)) == 50
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", got[-1]))
