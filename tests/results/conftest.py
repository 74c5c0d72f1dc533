"""Shared helpers for the results and reporting tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from testbench.results.journal import ResultRecord


def record(**overrides: Any) -> ResultRecord:
    """A plausible result record; override any field."""
    fields: dict[str, Any] = {
        "test_id": "suites/ocpp/test_smart.py::test_tx_profile[ev-a@cp-1]",
        "name": "test_tx_profile",
        "verdict": "passed",
        "testcase_id": "TC_K_60_CS",
        "suite": "ocpp",
        "station": "st-1",
        "ev": "ev-a",
        "charger": "cp-1",
        "charger_firmware": "1.0.0",
        "ev_software": "2.3",
        "ocpp_version": "2.0.1",
        "duration_s": 1.5,
        "message": "",
        "evidence": [],
        "wall_s": 1000.0,
    }
    fields.update(overrides)
    return ResultRecord(**fields)


@pytest.fixture
def make_record() -> Callable[..., ResultRecord]:
    return record
