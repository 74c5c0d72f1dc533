"""The iso15118-secc driver (bench as the charger): resources and the settings it offers
(no sessions: the suite's self-test runs those)."""

from __future__ import annotations

import pytest

from instruments.drivers.iso15118_secc import Iso15118Secc, parse_secc_resource, trigger_path
from testbench.errors import BenchError
from testbench.iso15118.resources import pki_dir_for
from testbench.lab.model import EVSpec, InstrumentSpec, SafetyLimits
from testbench.sim.iso15118_evcc_host import ev_settings, link_tag


def _driver(resource: str = "netns:tbx-secc/v2g-secc", **options: object) -> Iso15118Secc:
    spec = InstrumentSpec(name="secc", role="v2g_charger", driver="iso15118-secc",
                          resource=resource, options=dict(options))
    return Iso15118Secc(spec, SafetyLimits())


def test_resources() -> None:
    assert parse_secc_resource("iface:eth1") == ("eth1", None, None)
    assert parse_secc_resource("netns:tbx-secc/v2g-secc") == ("v2g-secc", "tbx-secc", "tbx")
    for bad in ("netns:tbx-evcc/v2g-ev", "eth1", "iface:"):
        with pytest.raises(BenchError, match="iface:<interface>"):
            parse_secc_resource(bad)
    assert trigger_path("tbx").parent == pki_dir_for("tbx").parent
    with pytest.raises(BenchError, match="host interface"):
        link_tag("iface:eth1")


def test_settings_offer_the_chosen_charger() -> None:
    driver = _driver(current_type="AC", max_current_a=16.0)
    settings = driver.settings(protocols=["DIN", "-2", "-20"], schedule=[(0, 5000.0)],
                               stop_after_loops=2)
    assert settings.protocols == ("ISO_15118_20_AC", "ISO_15118_2")  # no DIN on AC
    assert settings.charger.ac_max_current_a == 16.0
    assert [(p.start_s, p.max_power_w) for p in settings.charger.schedule] == [(0, 5000.0)]
    assert settings.charger.stop_after_loops == 2
    dc = driver.settings(current_type="DC", protocols=["DIN"])
    assert dc.protocols == ("DIN_SPEC_70121",) and dc.charger.dc_max_current_a == 16.0
    with pytest.raises(BenchError, match="no ISO 15118 protocol"):
        driver.settings(current_type="AC", protocols=["DIN"])


def test_simulated_ev_faults_change_what_it_announces() -> None:
    ev = EVSpec(id="ev", make="K", model="H", software="1", max_current_a=16.0,
                iso15118=("-2",))
    ok = ev_settings(ev, "AC")
    assert ok.ev.ac_max_current_a == 16.0 and ok.ev.profile_power_factor is None
    greedy = ev_settings(EVSpec(**{**vars(ev), "faults": ("ev-exceeds-schedule",)}), "AC")
    assert greedy.ev.profile_power_factor == 1.5
    boastful = ev_settings(EVSpec(**{**vars(ev), "faults": ("ev-overstates-limits",)}), "AC")
    assert boastful.ev.ac_max_current_a == 24.0
