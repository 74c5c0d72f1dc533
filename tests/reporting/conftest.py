"""Reporting tests share the synthetic campaign of tests/results (store_scenario.py)."""

from __future__ import annotations

import sys
from pathlib import Path

_RESULTS_TESTS = str(Path(__file__).resolve().parents[1] / "results")
if _RESULTS_TESTS not in sys.path:
    sys.path.insert(0, _RESULTS_TESTS)
