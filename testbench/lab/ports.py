"""Free loopback ports for generated labs (self-tests, benchmarks)."""

from __future__ import annotations

import socket

_HANDED_OUT: set[int] = set()


def unused_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now and never handed out before by this process.

    Asking the OS for port 0 twice can give the same port twice (it was released in
    between); a lab written with it would have two instruments on one port.
    """
    for _ in range(1000):
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no unused port on {host} after 1000 tries")
