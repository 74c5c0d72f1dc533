"""Operator steps: what a station has no instrument for is asked of the person at the bench."""

from __future__ import annotations

import select
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import pytest

from testbench.errors import OperatorTimeout


class OperatorPrompt:
    """Asks the operator to do a step and waits for Enter, with a timeout.

    In unattended mode (``--unattended`` or the ``CI`` environment variable) the test is
    skipped with the reason instead.
    """

    def __init__(self, unattended: bool, timeout_s: float,
                 suspend_capture: Callable[[], AbstractContextManager[object]] | None = None) -> None:
        self.unattended = unattended
        self.timeout_s = timeout_s
        self._suspend = suspend_capture or nullcontext

    def ask(self, step: str, why: str) -> None:
        """Ask for ``step`` (e.g. "plug EV ev-city into charger voltiq-w22")."""
        if self.unattended:
            pytest.skip(f"needs the operator to {step} ({why}); skipped in unattended mode")
        with self._suspend():
            sys.stdout.write(f"\n>>> OPERATOR: please {step}, then press Enter "
                             f"(within {self.timeout_s:.0f} s) ... ")
            sys.stdout.flush()
            ready, _, _ = select.select([sys.stdin], [], [], self.timeout_s)
            if not ready:
                raise OperatorTimeout(f"operator did not confirm '{step}' within {self.timeout_s:.0f} s")
            sys.stdin.readline()
