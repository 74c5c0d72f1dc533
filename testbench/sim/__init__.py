"""The simulated lab: conformant (or deliberately faulty) chargers and instrument twins.

It runs in its own process and is reached only over the wire: its chargers are OCPP-J
websocket clients of the bench's central system, its instruments are twins speaking their
real protocols on loopback. Nothing outside the simulated lab may import this package.
Entry point: ``python -m testbench.sim`` or :func:`main`.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulated lab (``python -m testbench.sim --help``); returns the exit status."""
    from testbench.sim.app import main as run

    return run(argv)


__all__ = ["main"]
