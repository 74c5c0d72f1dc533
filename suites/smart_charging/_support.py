"""Helpers shared by the smart-charging case files (evidence, profile layouts)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import allure

from testbench.errors import DeviceFailure
from testbench.procedures import smart


def attach_json(name: str, data: Any) -> None:
    """Attach ``data`` as JSON evidence to the Allure report (never hides a verdict)."""
    with contextlib.suppress(Exception):
        allure.attach(json.dumps(data, indent=2, default=str), name=name,
                      attachment_type=allure.attachment_type.JSON)


def install(book: smart.ProfileBook, at_s: float, **profile: Any) -> None:
    """SetChargingProfile through ``book``; the charger must accept it (a precondition)."""
    request = smart.profile_request(book.charger, **profile)
    status = book.set(request, at_s)
    smart.expect_status(status, "Accepted",
                        f"SetChargingProfile {profile.get('purpose')} id "
                        f"{profile.get('profile_id')} on evse {profile.get('evse_id')} "
                        "(precondition)")


def raise_problems(problems: list[str]) -> None:
    """Fail with every problem found, one per line."""
    if problems:
        raise DeviceFailure("\n".join(problems))
