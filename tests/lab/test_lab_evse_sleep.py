"""A 2.1 charger may declare whether it supports evseSleep ([[chargers]] evse_sleep)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testbench.lab.loader import LabConfigErrors, load_lab


def test_evse_sleep_defaults_to_supported_and_is_read(
        base_lab: dict[str, Any], write_lab: Callable[[Any], Path]) -> None:
    assert load_lab(write_lab(base_lab)).chargers["c201"].evse_sleep is True
    base_lab["chargers"][1].update(evse_sleep=False)
    lab = load_lab(write_lab(base_lab))
    assert lab.chargers["c201"].evse_sleep is False
    assert lab.chargers["c16"].evse_sleep is True


@pytest.mark.parametrize(("values", "key", "words"), [
    ({"evse_sleep": "yes"}, "evse_sleep", "true or false"),
    ({"evse_slep": False}, "evse_slep", "evse_sleep"),
])
def test_bad_evse_sleep_key_is_rejected_naming_key_and_fix(
        base_lab: dict[str, Any], write_lab: Callable[[Any], Path], values: dict[str, Any],
        key: str, words: str) -> None:
    base_lab["chargers"][1].update(values)
    with pytest.raises(LabConfigErrors) as caught:
        load_lab(write_lab(base_lab))
    assert [p.key for p in caught.value.problems] == [key], caught.value.problems
    text = str(caught.value)
    assert 'chargers[1] (id "c201")' in text and words in text, text
