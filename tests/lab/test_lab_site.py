"""A station may declare its household load, PV and supply rating ([stations.site])."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testbench.errors import LabConfigError
from testbench.lab.loader import SCHEMAS, load_lab
from testbench.lab.model import SiteSpec


def test_site_is_absent_by_default(base_lab: dict[str, Any],
                                   write_lab: Callable[[Any], Path]) -> None:
    assert load_lab(write_lab(base_lab)).stations["bay-1"].site is None


def test_site_is_read(base_lab: dict[str, Any], write_lab: Callable[[Any], Path]) -> None:
    base_lab["stations"][0]["site"] = {"household_load_w": 2500, "pv_peak_w": 4000.5,
                                       "supply_max_current_a": 63}
    site = load_lab(write_lab(base_lab)).stations["bay-1"].site
    assert site == SiteSpec(household_load_w=2500.0, pv_peak_w=4000.5,
                            supply_max_current_a=63.0)
    assert isinstance(site.household_load_w, float)


def test_site_keys_default(base_lab: dict[str, Any], write_lab: Callable[[Any], Path]) -> None:
    base_lab["stations"][0]["site"] = {"pv_peak_w": 3000}
    assert load_lab(write_lab(base_lab)).stations["bay-1"].site == SiteSpec(pv_peak_w=3000.0)
    assert SCHEMAS["stations.site"] == ("household_load_w", "pv_peak_w",
                                        "supply_max_current_a")


@pytest.mark.parametrize(("site", "key", "words"), [
    ({"household_load_w": -1}, "household_load_w", "0 or more"),
    ({"pv_peak_w": -5.0}, "pv_peak_w", "0 or more"),
    ({"supply_max_current_a": 0}, "supply_max_current_a", "greater than 0"),
    ({"household_load_w": "3 kW"}, "household_load_w", "number"),
    ({"pv_peak_watts": 100}, "pv_peak_watts", "pv_peak_w"),
    ("lots", "site", "table"),
])
def test_bad_site_is_rejected_naming_key_and_fix(
        base_lab: dict[str, Any], write_lab: Callable[[Any], Path], site: Any, key: str,
        words: str) -> None:
    base_lab["stations"][0]["site"] = site
    with pytest.raises(LabConfigError) as caught:
        load_lab(write_lab(base_lab))
    text = str(caught.value)
    assert "site" in text and key in text and words in text, text
