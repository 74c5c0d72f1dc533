"""How the bench answers a charger's BootNotification and its id tokens.

Both policies are changed from the test thread and read on the event loop thread; the
owning session guards them with its lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from testbench.errors import BenchError

BOOT_STATUSES = ("Accepted", "Pending", "Rejected")

AUTHORIZATION_STATUSES: dict[str, tuple[str, ...]] = {
    "1.6": ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"),
    "2.0.1": ("Accepted", "Blocked", "ConcurrentTx", "Expired", "Invalid", "NoCredit",
              "NotAllowedTypeEVSE", "NotAtThisLocation", "NotAtThisTime", "Unknown"),
    "2.1": ("Accepted", "Blocked", "ConcurrentTx", "Expired", "Invalid", "NoCredit",
            "NotAllowedTypeEVSE", "NotAtThisLocation", "NotAtThisTime", "Unknown"),
}

DEFAULT_RETRY_INTERVAL_S = 10


@dataclass
class BootPolicy:
    """Answer to the next BootNotifications.

    ``Pending`` answers Pending to the next ``pending_boots`` boots, then Accepted.
    Pending/Rejected answers carry ``retry_interval_s``; Accepted carries the heartbeat
    interval (lab seconds, integers as OCPP requires).
    """

    policy: str = "Accepted"
    pending_boots: int = 1
    retry_interval_s: int = DEFAULT_RETRY_INTERVAL_S

    def __post_init__(self) -> None:
        if self.policy not in BOOT_STATUSES:
            raise BenchError(f"boot policy {self.policy!r} unknown; use one of "
                             f"{', '.join(BOOT_STATUSES)}")
        if self.pending_boots < 0:
            raise BenchError(f"pending_boots must be >= 0, got {self.pending_boots}")
        if self.retry_interval_s < 0:
            raise BenchError(f"retry_interval_s must be >= 0, got {self.retry_interval_s}")
        self._pending_left = self.pending_boots

    def decide(self, heartbeat_interval_s: int) -> tuple[str, int]:
        """Status and interval for the BootNotification arriving now (advances Pending)."""
        if self.policy == "Pending" and self._pending_left > 0:
            self._pending_left -= 1
            return "Pending", int(self.retry_interval_s)
        if self.policy == "Rejected":
            return "Rejected", int(self.retry_interval_s)
        return "Accepted", int(heartbeat_interval_s)


@dataclass
class AuthorizationPolicy:
    """The idTagInfo / idTokenInfo status per token: ``overrides`` first, else ``default``."""

    version: str
    default: str = "Accepted"
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        allowed = AUTHORIZATION_STATUSES[self.version]
        for token, status in [("(default)", self.default), *self.overrides.items()]:
            if status not in allowed:
                raise BenchError(
                    f"authorization status {status!r} for token {token} is not an OCPP "
                    f"{self.version} status; use one of {', '.join(allowed)}")
        self.overrides = dict(self.overrides)

    def status_of(self, token: str | None) -> str:
        if token is not None and token in self.overrides:
            return self.overrides[token]
        return self.default
