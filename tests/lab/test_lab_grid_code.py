"""A station names the grid-code parameter set it is judged against (``grid_code``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testbench.errors import LabConfigError
from testbench.lab.loader import load_lab


def test_grid_code_defaults_to_en50549(base_lab: dict[str, Any],
                                       write_lab: Callable[[Any], Path]) -> None:
    lab = load_lab(write_lab(base_lab))
    assert lab.stations["bay-1"].grid_code == "en50549-default"


def test_grid_code_is_read(base_lab: dict[str, Any], write_lab: Callable[[Any], Path]) -> None:
    base_lab["stations"][0]["grid_code"] = "vde-4105"
    lab = load_lab(write_lab(base_lab))
    assert lab.stations["bay-1"].grid_code == "vde-4105"


def test_unknown_grid_code_is_rejected_naming_the_sets(
        base_lab: dict[str, Any], write_lab: Callable[[Any], Path]) -> None:
    base_lab["stations"][0]["grid_code"] = "vde-4106"
    with pytest.raises(LabConfigError) as caught:
        load_lab(write_lab(base_lab))
    text = str(caught.value)
    assert "grid_code" in text and "vde-4105" in text
