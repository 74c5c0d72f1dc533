"""Emulator configuration: the package's env and EVCC config, presets, install checks."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pytest

from testbench.errors import BenchError
from testbench.iso15118 import (
    ChargerParams,
    EvccSettings,
    EVParams,
    SchedulePoint,
    SeccSettings,
    _launch,
    ev_preset,
    find_install,
    install_problem,
)
from testbench.iso15118.runner import PACKAGE_ENV_KEYS, _package_env


def test_secc_settings_become_the_packages_environment_variables():
    env = SeccSettings(protocols=("ISO_15118_20_DC", "ISO_15118_2"), auth_modes=("PNC", "EIM"),
                       free_charging=True).env()
    assert env["PROTOCOLS"] == "ISO_15118_20_DC,ISO_15118_2"
    assert env["AUTH_MODES"] == "PNC,EIM"
    assert env["FREE_CHARGING_SERVICE"] == "true" and env["SECC_ENFORCE_TLS"] == "false"
    assert set(env) <= set(PACKAGE_ENV_KEYS)


def test_pki_is_needed_for_plug_and_charge_or_tls_only():
    assert not SeccSettings().needs_pki
    assert SeccSettings(auth_modes=("PNC",)).needs_pki
    assert not ev_preset("iso20-dc-bpt").needs_pki
    assert ev_preset("iso2-ac", use_tls=True).needs_pki


def test_evcc_settings_become_the_packages_config_file():
    config = ev_preset("iso20-dc-bpt", charge_loop_cycles=5).package_config()
    assert config == {
        "supportedProtocols": ["ISO_15118_20_DC"], "supportedEnergyServices": ["DC_BPT"],
        "energyTransferMode": "DC_extended", "useTls": False, "enforceTls": False,
        "isCertInstallNeeded": False, "chargeLoopCycle": 5, "chargeLoopDelay": 0,
        "sdpRetryCycles": 1, "maxSupportingPoints": 1024}


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(BenchError, match="iso2-ac"):
        ev_preset("iso2-wireless")


def test_parameters_send_only_what_was_set():
    charger = ChargerParams(ac_max_current_a=16, schedule=(SchedulePoint(0, 11000),))
    assert charger.to_spec() == {"ac_max_current_a": 16, "authorization": "accepted",
                                 "schedule": [{"start_s": 0, "max_power_w": 11000}]}
    assert EVParams(max_discharge_power_w=7000, bpt_discharge=False).to_spec() == {
        "max_discharge_power_w": 7000}


def test_the_benchs_environment_never_leaks_into_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PROTOCOLS", "DIN_SPEC_70121")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")

    class Install:
        package_dir = tmp_path

    env = _package_env(Install(), "v2g-ev", "info", None)  # type: ignore[arg-type]
    assert "PROTOCOLS" not in env
    assert env["LOG_LEVEL"] == "INFO" and env["NETWORK_INTERFACE"] == "v2g-ev"
    assert env["PKI_PATH"].endswith("/shared/pki/")


def test_a_missing_environment_says_how_to_set_it_up(tmp_path):
    with pytest.raises(BenchError, match="setup-iso15118.sh"):
        find_install(tmp_path / "nowhere")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").touch()
    assert "no iso15118 package" in install_problem(tmp_path / "venv")


def test_a_wrong_package_version_is_refused(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / "lib" / "python3.11" / "site-packages" / "iso15118-0.25.0.dist-info").mkdir(parents=True)
    assert "0.25.0" in install_problem(venv)


# --- helpers of the launcher (run in the package's venv, but plain Python) ---------------
@dataclass
class _PV:
    multiplier: int
    value: int
    unit: str


@pytest.mark.parametrize("value, expected", [
    (32, (0, 32)), (32.5, (-1, 325)), (0.125, (-3, 125)), (400000, (2, 4000)), (-8, (0, -8)),
    (11000, (0, 11000)), (123456, (1, 12346)),
])
def test_physical_values_use_the_finest_multiplier_that_fits(value, expected):
    pv = _launch.pv(value, "W", _PV)
    assert (pv.multiplier, pv.value) == expected


def test_too_large_physical_values_are_refused():
    with pytest.raises(ValueError, match="does not fit"):
        _launch.pv(1e12, "W", _PV)


class _Proto(enum.Enum):
    DIN_SPEC_70121 = 1
    ISO_15118_2 = 2
    ISO_15118_20_DC = 3


def test_configured_priority_order_is_restored():
    shuffled = [_Proto.ISO_15118_2, _Proto.DIN_SPEC_70121, _Proto.ISO_15118_20_DC]
    assert _launch.in_given_order("ISO_15118_20_DC, iso_15118_2,DIN_SPEC_70121", shuffled) == [
        _Proto.ISO_15118_20_DC, _Proto.ISO_15118_2, _Proto.DIN_SPEC_70121]
    assert _launch.in_given_order(["DIN_SPEC_70121"], shuffled)[0] is _Proto.DIN_SPEC_70121


def test_settings_are_immutable_values():
    settings = EvccSettings()
    with pytest.raises(AttributeError):
        settings.protocols = ("DIN_SPEC_70121",)  # type: ignore[misc]
