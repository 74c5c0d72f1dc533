"""The shipped lab files load, and say what they are documented to say."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testbench.lab import model
from testbench.lab.loader import SCHEMAS, load_lab


def test_default_lab_loads_as_documented(repo_root: Path) -> None:
    lab = load_lab(repo_root / "lab.toml")
    assert lab.path == (repo_root / "lab.toml").resolve()
    assert lab.is_sim
    assert lab.settings.name == "simulated-lab"
    assert lab.settings.time_scale == 10.0
    assert lab.output_dir == repo_root / "reports"
    assert (lab.csms.host, lab.csms.port, lab.csms.heartbeat_interval_s) == ("127.0.0.1", 0, 60)
    assert {c.id: c.ocpp_version for c in lab.chargers.values()} == {
        "voltiq-w22": "1.6", "amperia-hc11": "2.0.1", "gridline-bx7": "2.1"}
    assert all(not c.faults and not e.faults
               for c in lab.chargers.values() for e in lab.evs.values())
    voltiq = lab.chargers["voltiq-w22"]
    assert (voltiq.vendor, voltiq.model, voltiq.firmware) == ("Voltiq", "W22", "3.4.1")
    assert (voltiq.current_type, voltiq.phases, voltiq.max_current_a, voltiq.max_power_w,
            voltiq.evse_count) == ("AC", 3, 32.0, 22000.0, 1)
    amperia = lab.chargers["amperia-hc11"]
    assert (amperia.model, amperia.max_current_a, amperia.max_power_w) == (
        "HomeCharge 11", 16.0, 11000.0)
    gridline = lab.chargers["gridline-bx7"]
    assert gridline.bidirectional and gridline.iso15118 == ("-2", "-20")
    assert lab.evs["ev-city"].phases == 1
    assert (lab.evs["ev-saloon"].max_current_a, lab.evs["ev-saloon"].iso15118) == (16.0, ("-2",))
    van = lab.evs["ev-van"]
    assert (van.min_current_a, van.battery_kwh, van.bidirectional) == (8.0, 90.0, True)


def test_default_lab_has_nine_pairings_on_one_station(repo_root: Path) -> None:
    lab = load_lab(repo_root / "lab.toml")
    assert list(lab.stations) == ["sim-bay-1"]
    pairings = lab.pairings()
    assert len(pairings) == 9
    assert len({p.id for p in pairings}) == 9
    assert lab.pairings("sim-bay-1") == pairings


def test_default_lab_instruments_one_io_box_per_charger(repo_root: Path) -> None:
    station = load_lab(repo_root / "lab.toml").stations["sim-bay-1"]
    assert (station.limits.max_voltage_v, station.limits.max_current_a,
            station.limits.max_power_w) == (480.0, 80.0, 50000.0)
    ports = {"voltiq-w22": 47101, "amperia-hc11": 47102, "gridline-bx7": 47103}
    for charger, port in ports.items():
        emulator = station.instrument("ev_emulator", charger)
        rfid = station.instrument("rfid", charger)
        assert emulator is not None and rfid is not None
        assert emulator.charger == rfid.charger == charger
        assert emulator.driver == rfid.driver == "sim-ev-emulator"
        assert emulator.resource == rfid.resource == f"TCPIP::127.0.0.1::{port}::SOCKET"
    roles = sorted(i.role for i in station.instruments)
    assert roles == sorted(["ev_emulator", "rfid", "charger_power", "power_analyzer",
                            "energy_manager"] * 3 + ["grid_emulator", "site_analyzer", "v2g_ev",
                                                     "der_settings"])
    assert station.site.supply_max_current_a == 16.0


@pytest.mark.parametrize("name", ["real-lab-example.toml", "four-stations-sim.toml"])
def test_example_labs_load(repo_root: Path, name: str) -> None:
    load_lab(repo_root / "labs" / name)


def test_every_file_in_labs_loads(repo_root: Path) -> None:
    files = sorted((repo_root / "labs").glob("*.toml"))
    assert len(files) >= 2
    for path in files:
        load_lab(path)


def test_real_lab_example(repo_root: Path) -> None:
    lab = load_lab(repo_root / "labs" / "real-lab-example.toml")
    assert not lab.is_sim and lab.settings.time_scale == 1.0
    assert (lab.csms.host, lab.csms.port) == ("0.0.0.0", 9000)
    assert lab.csms.tls_cert == Path("certs/csms-server.pem")  # stays relative
    assert len(lab.chargers) == 2
    assert all(c.security_profile >= 1 and c.password_env for c in lab.chargers.values())
    drivers = {i.driver for st in lab.stations.values() for i in st.instruments}
    assert {"yokogawa-wt", "chroma-61800"} <= drivers
    roles = {i.role for st in lab.stations.values() for i in st.instruments}
    assert "ev_emulator" in roles
    resources = [i.resource for st in lab.stations.values() for i in st.instruments]
    assert all("192.0.2." in r for r in resources)  # documentation addresses only


def test_four_stations_example(repo_root: Path) -> None:
    lab = load_lab(repo_root / "labs" / "four-stations-sim.toml")
    assert lab.is_sim and len(lab.stations) == 4
    for station in lab.stations.values():
        assert len(station.chargers) == 1 and 1 <= len(station.evs) <= 2
    ports = sorted({i.resource for st in lab.stations.values() for i in st.instruments})
    assert ports == [f"TCPIP::127.0.0.1::{p}::SOCKET" for p in (47201, 47202, 47203, 47204)]
    assert lab.stations["bay-2"].limits.max_current_a == 32.0
    assert lab.stations["bay-2"].limits.max_voltage_v == 480.0  # from [safety]


@pytest.mark.parametrize(("table", "spec"), [
    ("lab", model.LabSettings), ("csms", model.CsmsSettings), ("safety", model.SafetyLimits),
    ("chargers", model.ChargerSpec), ("evs", model.EVSpec),
    ("stations.limits", model.SafetyLimits), ("stations.instruments", model.InstrumentSpec),
])
def test_schema_keys_match_model_fields(table: str, spec: type) -> None:
    assert set(SCHEMAS[table]) == {f.name for f in dataclasses.fields(spec)}


def test_station_keys_match_model_fields() -> None:
    assert set(SCHEMAS["stations"]) == {f.name for f in dataclasses.fields(model.StationSpec)}


def test_defaults_come_from_the_model(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path]
) -> None:
    del base_lab["csms"]
    del base_lab["safety"]
    del base_lab["stations"][0]["limits"]
    lab = load_lab(write_lab(base_lab))
    assert lab.csms == model.CsmsSettings()
    assert lab.stations["bay-1"].limits == model.SafetyLimits()
    charger = lab.chargers["c16"]
    assert (charger.security_profile, charger.boot_policy, charger.faults) == (0, "Accepted", ())


def test_limits_override_per_key(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path]
) -> None:
    base_lab["safety"] = {"max_voltage_v": 400.0, "max_power_w": 30000.0}
    base_lab["stations"][0]["limits"] = {"max_power_w": 20000.0}
    limits = load_lab(write_lab(base_lab)).stations["bay-1"].limits
    assert (limits.max_voltage_v, limits.max_current_a, limits.max_power_w) == (
        400.0, model.SafetyLimits().max_current_a, 20000.0)


def test_types_are_normalised(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path]
) -> None:
    base_lab["lab"]["time_scale"] = 2  # an integer where a float is expected is fine
    base_lab["stations"][0]["instruments"][0]["options"] = {"elements": [1, 2], "mode": "x"}
    lab = load_lab(write_lab(base_lab))
    assert isinstance(lab.settings.time_scale, float)
    assert lab.settings.output_dir == Path("out")
    assert lab.output_dir == lab.path.parent / "out"
    assert lab.chargers["c201"].iso15118 == ("-2",)
    assert lab.stations["bay-1"].chargers == ("c16", "c201")
    assert lab.stations["bay-1"].instruments[0].options == {"elements": [1, 2], "mode": "x"}


def test_relative_path_argument(
    base_lab: dict[str, Any], write_lab: Callable[[dict[str, Any] | str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_lab(base_lab)
    monkeypatch.chdir(path.parent)
    lab = load_lab(path.name)
    assert lab.path == path.resolve()
    assert lab.output_dir == path.parent.resolve() / "out"
