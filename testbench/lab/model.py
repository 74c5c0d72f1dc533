"""Typed, validated description of a lab (what lab.toml says, after checking).

Everything here is plain data: no I/O, no sockets. ``testbench.lab.loader`` builds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

LabMode = Literal["sim", "real"]
OcppVersion = Literal["1.6", "2.0.1", "2.1"]
BootPolicy = Literal["Accepted", "Pending", "Rejected"]
CurrentType = Literal["AC", "DC"]

OCPP_SUBPROTOCOL: dict[str, str] = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}


@dataclass(frozen=True)
class LabSettings:
    """[lab]: name, mode, time scale of the simulated lab, output folder."""

    name: str
    mode: LabMode = "sim"
    time_scale: float = 1.0
    output_dir: Path = Path("reports")
    operator_timeout_s: float = 120.0
    rerun_bench_errors: int = 0
    """Times a test whose only problem was the bench's (a BenchError: sampling gap,
    instrument timeout, ...) is run again before its error stands; 0 never."""


@dataclass(frozen=True)
class CsmsSettings:
    """[csms]: where the bench's OCPP central system listens and how it behaves.

    ``port = 0`` picks a free port (useful for the simulated lab and for tests).
    Durations are lab seconds.
    """

    host: str = "127.0.0.1"
    port: int = 0
    path_prefix: str = "/ocpp"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    heartbeat_interval_s: int = 60
    call_timeout_s: float = 30.0
    connect_timeout_s: float = 60.0


@dataclass(frozen=True)
class FileServerSettings:
    """[files]: the bench's file server (firmware images out, diagnostics and logs in).

    Started with the central system. ``host`` is where it listens; ``url_host`` is the host
    put in the URLs handed to chargers (default: ``host``, or 127.0.0.1 for 0.0.0.0). Port 0
    picks a free port. FTP runs beside HTTP when ``ftp`` is true; HTTPS runs on
    ``https_port`` when ``tls_cert`` and ``tls_key`` are set.
    """

    host: str = "127.0.0.1"
    url_host: str | None = None
    port: int = 0
    ftp: bool = True
    ftp_port: int = 0
    https_port: int = 0
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass(frozen=True)
class ChargerSpec:
    """One charger of the inventory ([[chargers]])."""

    id: str
    vendor: str
    model: str
    firmware: str
    ocpp_version: OcppVersion
    security_profile: int = 0
    password_env: str | None = None
    evse_count: int = 1
    connectors_per_evse: int = 1
    current_type: CurrentType = "AC"
    phases: int = 3
    max_current_a: float = 32.0
    max_power_w: float = 22000.0
    bidirectional: bool = False
    iso15118: tuple[str, ...] = ()
    boot_policy: BootPolicy = "Accepted"
    faults: tuple[str, ...] = ()
    smart_charging: bool = True
    """Whether the charger supports smart charging (a simulated charger reports it over OCPP;
    suites judge what a charger reports, never this)."""
    charging_rate_units: tuple[str, ...] = ("A", "W")
    """Charging-schedule rate units the charger supports ("A", "W")."""
    evse_sleep: bool = True
    """Whether a 2.1 charger can put its power electronics to sleep in an Idle period that
    asks for evseSleep (a simulated charger reports it as SmartChargingCtrlr.SupportsEvseSleep;
    suites judge what a charger reports, never this)."""

    @property
    def subprotocol(self) -> str:
        return OCPP_SUBPROTOCOL[self.ocpp_version]

    def password(self) -> str | None:
        """The OCPP basic-auth password, read from the environment variable named in lab.toml."""
        if self.password_env is None:
            return None
        return os.environ.get(self.password_env)


@dataclass(frozen=True)
class EVSpec:
    """One EV or EV emulator profile of the inventory ([[evs]])."""

    id: str
    make: str
    model: str
    software: str
    phases: int = 3
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    battery_kwh: float = 60.0
    initial_soc_pct: float = 40.0
    iso15118: tuple[str, ...] = ()
    bidirectional: bool = False
    faults: tuple[str, ...] = ()
    duty_follow_s: float = 0.0
    """Lab seconds the EV takes to follow a new PWM duty cycle (a simulated EV's personality)."""


@dataclass(frozen=True)
class SafetyLimits:
    """Limits checked before any setpoint is sent to an instrument."""

    max_voltage_v: float = 480.0
    max_current_a: float = 80.0
    max_power_w: float = 50000.0


@dataclass(frozen=True)
class SiteSpec:
    """Household load and PV behind a station's supply point ([stations.site])."""

    household_load_w: float = 0.0
    pv_peak_w: float = 0.0
    supply_max_current_a: float | None = None
    """Rating of the site's supply per phase (None: not stated)."""


@dataclass(frozen=True)
class InstrumentSpec:
    """One instrument at a station ([[stations.instruments]]).

    ``role`` is what the suites ask for (``ev_emulator``, ``rfid``, ``power_analyzer``...);
    ``driver`` a registered driver name; ``resource`` its address (VISA resource string,
    ``host:port``, serial URL ...); ``charger`` binds it to one charger's connector when the
    station has several chargers.
    """

    name: str
    role: str
    driver: str
    resource: str
    charger: str | None = None
    timeout_s: float = 5.0
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class StationSpec:
    """A test station: which chargers and EVs can be connected there, and its instruments."""

    id: str
    chargers: tuple[str, ...]
    evs: tuple[str, ...]
    instruments: tuple[InstrumentSpec, ...] = ()
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    grid_code: str = "en50549-default"
    """Name of the grid-code parameter set (testbench.gridcode) the station is judged against."""
    site: SiteSpec | None = None
    """Household load and PV at the station's supply point, when it has them."""

    def instrument(self, role: str, charger: str | None = None) -> InstrumentSpec | None:
        """The instrument playing ``role`` (for ``charger`` when bound), or None."""
        for spec in self.instruments:
            if spec.role == role and (spec.charger is None or spec.charger == charger):
                return spec
        return None


@dataclass(frozen=True)
class Pairing:
    """One EV x charger combination at a station: the unit of the interoperability matrix."""

    station: str
    ev: str
    charger: str

    @property
    def id(self) -> str:
        return f"{self.ev}@{self.charger}"


@dataclass(frozen=True)
class Lab:
    """A whole validated lab."""

    path: Path
    settings: LabSettings
    csms: CsmsSettings
    chargers: dict[str, ChargerSpec]
    evs: dict[str, EVSpec]
    stations: dict[str, StationSpec]
    files: FileServerSettings = field(default_factory=FileServerSettings)

    @property
    def is_sim(self) -> bool:
        return self.settings.mode == "sim"

    @property
    def output_dir(self) -> Path:
        """The output folder, relative paths resolved against lab.toml's folder."""
        out = self.settings.output_dir
        return out if out.is_absolute() else (self.path.parent / out)

    def pairings(self, station: str | None = None) -> list[Pairing]:
        """Every EV x charger pairing the stations can make (optionally of one station)."""
        found: list[Pairing] = []
        for st in self.stations.values():
            if station is not None and st.id != station:
                continue
            for charger in st.chargers:
                for ev in st.evs:
                    found.append(Pairing(station=st.id, ev=ev, charger=charger))
        return found
