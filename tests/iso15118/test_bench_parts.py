"""The pieces that make ISO 15118 part of the bench, without sessions: lab resources and
protocol names, the EV emulator's settings for a lab EV, and the simulated charger's
NotifyEVChargingNeeds built from what its SECC heard (conformant and faulty)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from testbench.errors import BenchError
from testbench.iso15118.lab_profiles import energy_request_wh, evcc_settings_for
from testbench.iso15118.resources import (
    common_protocols,
    link_tag_of,
    parse_resource,
    secc_protocols,
)
from testbench.lab.model import EVSpec
from testbench.sim.iso15118_secc import ChargerBridge


def test_resources_name_a_host_interface_or_a_simulated_link():
    assert parse_resource("iface:eth1").iface == "eth1"
    assert parse_resource("iface:eth1").netns is None
    where = parse_resource("netns:tbsim-gridline-evcc/v2g-ev")
    assert (where.iface, where.netns, where.tag) == ("v2g-ev", "tbsim-gridline-evcc",
                                                    "tbsim-gridline")
    assert link_tag_of("netns:lab1-evcc/v2g-ev") == "lab1"
    for bad in ("eth1", "netns:lab1/v2g-ev", "iface:", "netns:x-evcc/much-too-long-iface"):
        with pytest.raises(BenchError, match="iface:<interface>"):
            parse_resource(bad)
    with pytest.raises(BenchError, match="host interface"):
        link_tag_of("iface:eth1")


def test_protocol_names_best_first_and_din_only_on_dc():
    assert secc_protocols(["-2", "-20"], "AC") == ("ISO_15118_20_AC", "ISO_15118_2")
    assert secc_protocols(["DIN", "-2", "-20"], "DC") == ("ISO_15118_20_DC", "ISO_15118_2",
                                                          "DIN_SPEC_70121")
    assert secc_protocols(["DIN"], "AC") == ()
    assert common_protocols(["-2"], ["-2", "-20"], "AC") == ["-2"]
    assert common_protocols(["-2", "-20", "DIN"], ["DIN", "-20"], "DC") == ["-20", "DIN"]
    assert common_protocols(["-20"], ["-2"], "AC") == []


def _ev(**changes) -> EVSpec:
    base = {"id": "ev-van", "make": "Hauler", "model": "eVan", "software": "5", "phases": 3,
                "min_current_a": 8.0, "max_current_a": 32.0, "battery_kwh": 90.0, "initial_soc_pct": 40.0,
                "iso15118": ("-2", "-20"), "bidirectional": True}
    base.update(changes)
    return EVSpec(**base)


def test_the_ev_emulator_plays_the_lab_ev():
    ev = _ev()
    settings = evcc_settings_for(ev, "AC")
    assert settings.protocols == ("ISO_15118_20_AC", "ISO_15118_2")
    assert settings.energy_services == ("AC",)
    assert settings.energy_transfer_mode == "AC_three_phase_core"
    assert settings.ev.ac_max_current_a == 32.0 and settings.ev.ac_min_current_a == 8.0
    assert settings.ev.energy_request_wh == energy_request_wh(ev) == 36000.0  # 40 -> 80 %
    assert settings.ev.max_charge_power_w == 32.0 * 230.0 * 3
    assert settings.ev.max_discharge_power_w is None
    bpt = evcc_settings_for(ev, "DC", protocols=["-20"], bidirectional=True)
    assert bpt.protocols == ("ISO_15118_20_DC",) and bpt.energy_services == ("DC_BPT",)
    assert bpt.ev.max_discharge_power_w == 32.0 * 230.0 * 3
    one_phase = evcc_settings_for(_ev(phases=1, bidirectional=False), "AC", bidirectional=True,
                                  charge_loop_cycles=9)
    assert one_phase.energy_transfer_mode == "AC_single_phase_core"
    assert one_phase.energy_services == ("AC",) and one_phase.charge_loop_cycles == 9


def _charger(version: str, *faults: str) -> SimpleNamespace:
    clock = SimpleNamespace(now=lambda: 1767225600.0)  # 2026-01-01T00:00:00Z
    return SimpleNamespace(ocpp_version=version, clock=clock, has=lambda f: f in faults,
                           spec=SimpleNamespace(id="c1"))


ISO2_AC = {"protocol": "ISO_15118_2", "energy_mode": "AC_three_phase_core",
           "current_type": "AC", "departure_time_s": 7200, "target_energy_request_wh": 20000.0,
           "ac": {"max_charge_current": 16.0, "min_charge_current": 6.0, "max_voltage": 400.0}}
ISO20_BPT = {"protocol": "ISO_15118_20_AC", "energy_service": "AC_BPT", "current_type": "AC",
             "departure_time_s": 3600, "target_energy_request_wh": 10000.0,
             "ac": {"max_charge_power": 11000.0, "min_charge_power": 100.0,
                    "max_discharge_power": 7000.0, "min_discharge_power": 100.0}}


def test_charging_needs_carry_what_the_ev_announced():
    conn = SimpleNamespace(evse_id=1)
    needs = ChargerBridge(_charger("2.0.1"), conn).charging_needs(ISO2_AC)
    assert needs["requested_energy_transfer"] == "AC_three_phase"
    assert needs["ac_charging_parameters"] == {"energy_amount": 20000, "ev_min_current": 6,
                                               "ev_max_current": 16, "ev_max_voltage": 400}
    assert datetime.fromisoformat(needs["departure_time"]).timestamp() == 1767225600.0 + 7200
    v21 = ChargerBridge(_charger("2.1"), conn).charging_needs(ISO20_BPT)
    assert v21["requested_energy_transfer"] == "AC_BPT"
    assert v21["v2x_charging_parameters"]["max_charge_power"] == 11000.0
    assert v21["v2x_charging_parameters"]["max_discharge_power"] == 7000.0
    assert v21["v2x_charging_parameters"]["ev_target_energy_request"] == 10000.0
    assert ChargerBridge(_charger("2.0.1"), conn).charging_needs(ISO20_BPT) == {
        "requested_energy_transfer": "AC_three_phase",
        "departure_time": needs["departure_time"].replace("02:00", "01:00")}


def test_fault_wrong_ev_charging_needs_misreports_current_and_energy():
    conn = SimpleNamespace(evse_id=1)
    wrong = ChargerBridge(_charger("2.0.1", "wrong-ev-charging-needs"), conn)
    params = wrong.charging_needs(ISO2_AC)["ac_charging_parameters"]
    assert params["ev_max_current"] == 24 and params["energy_amount"] == 25000
    assert params["ev_min_current"] == 6
    v21 = ChargerBridge(_charger("2.1", "wrong-ev-charging-needs"), conn).charging_needs(ISO20_BPT)
    assert v21["v2x_charging_parameters"]["max_charge_power"] == 16500.0
