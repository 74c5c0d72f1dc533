"""A charger may declare its smart-charging support and rate units ([[chargers]])."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testbench.lab.loader import LabConfigErrors, load_lab


def test_smart_charging_defaults_to_supported_in_both_units(
        base_lab: dict[str, Any], write_lab: Callable[[Any], Path]) -> None:
    charger = load_lab(write_lab(base_lab)).chargers["c201"]
    assert (charger.smart_charging, charger.charging_rate_units) == (True, ("A", "W"))


def test_smart_charging_keys_are_read(base_lab: dict[str, Any],
                                      write_lab: Callable[[Any], Path]) -> None:
    base_lab["chargers"][0].update(smart_charging=False)
    base_lab["chargers"][1].update(charging_rate_units=["W"])
    lab = load_lab(write_lab(base_lab))
    assert lab.chargers["c16"].smart_charging is False
    assert lab.chargers["c201"].charging_rate_units == ("W",)
    assert lab.chargers["c201"].smart_charging is True


@pytest.mark.parametrize(("values", "key", "words"), [
    ({"smart_charging": "no"}, "smart_charging", "true or false"),
    ({"charging_rate_units": []}, "charging_rate_units", "lists no rate unit"),
    ({"charging_rate_units": ["A", "kW"]}, "charging_rate_units", '"kW" is not an allowed'),
    ({"charging_rate_units": ["A", "A"]}, "charging_rate_units", "listed twice"),
    ({"charging_rate_units": "A"}, "charging_rate_units", 'charging_rate_units = ["A"]'),
    ({"smart_chargeing": True}, "smart_chargeing", "smart_charging"),
])
def test_bad_smart_charging_keys_are_rejected_naming_key_and_fix(
        base_lab: dict[str, Any], write_lab: Callable[[Any], Path], values: dict[str, Any],
        key: str, words: str) -> None:
    base_lab["chargers"][1].update(values)
    with pytest.raises(LabConfigErrors) as caught:
        load_lab(write_lab(base_lab))
    problems = caught.value.problems
    assert [p.key for p in problems] == [key], problems
    text = str(caught.value)
    assert 'chargers[1] (id "c201")' in text and words in text, text
