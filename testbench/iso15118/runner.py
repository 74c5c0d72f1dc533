"""Run the ``iso15118`` package's SECC (charger emulator) and EVCC (EV emulator) for the bench.

The package lives in its own virtual environment (``scripts/setup-iso15118.sh``; default
``.venv-iso15118`` at the repository root, or ``$ISO15118_VENV``). Each emulator is a child
process of that environment's Python running ``_launch.py``, configured only through the
package's environment variables (interface, protocols, auth modes, TLS, PKI path, log level)
and its EVCC JSON config, plus a launch spec for the bench's parameters and faults. Each
process writes its own log (``secc.log``/``evcc.log``) and records file
(``secc.records.jsonl``/``evcc.records.jsonl``) into the session's work folder.

* :func:`start_secc` / :func:`start_evcc`: one emulator on an interface (in a network
  namespace or not): for a real EV or a real charger on the lab's PLC interface.
* :class:`PairSession` / :func:`run_session`: EVCC x SECC over a fresh veth link, until the
  session ends (either side stops) or a timeout, then both processes are stopped.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import testbench
from testbench.errors import BenchError
from testbench.iso15118.messages import RecordTail
from testbench.iso15118.netns import V2GLink, create_link
from testbench.iso15118.session import SessionResult

REPO_ROOT = Path(testbench.__file__).resolve().parents[1]
LAUNCHER = Path(__file__).with_name("_launch.py")
SETUP_HINT = "run scripts/setup-iso15118.sh (creates .venv-iso15118 with iso15118==0.31.*)"

#: The package's protocol names, in the SECC's default priority order.
ALL_PROTOCOLS = ("DIN_SPEC_70121", "ISO_15118_2", "ISO_15118_20_AC", "ISO_15118_20_DC")

#: Environment variables the package reads; never inherited from the bench's environment.
PACKAGE_ENV_KEYS = (
    "NETWORK_INTERFACE", "LOG_LEVEL", "PKI_PATH", "MESSAGE_LOG_JSON", "MESSAGE_LOG_EXI",
    "ENABLE_TLS_1_3", "SECC_ENFORCE_TLS", "FREE_CHARGING_SERVICE", "FREE_CERT_INSTALL_SERVICE",
    "USE_CPO_BACKEND", "ALLOW_CERT_INSTALL_SERVICE", "PROTOCOLS", "AUTH_MODES",
    "STANDBY_ALLOWED", "EVCC_CONFIG_PATH",
)


# ----------------------------------------------------------------------------- installation
@dataclass(frozen=True)
class Iso15118Install:
    """Where the package's environment is, and what it holds."""

    venv: Path
    python: Path
    package_dir: Path
    version: str
    java: str

    @property
    def create_certs_script(self) -> Path:
        return self.package_dir / "shared" / "pki" / "create_certs.sh"


def default_venv() -> Path:
    """``$ISO15118_VENV`` or ``<repo>/.venv-iso15118``."""
    env = os.environ.get("ISO15118_VENV")
    return Path(env) if env else REPO_ROOT / ".venv-iso15118"


def find_install(venv: Path | None = None) -> Iso15118Install:
    """Locate the package's venv and Java; BenchError saying how to fix what is missing."""
    venv = Path(venv) if venv else default_venv()
    python = venv / "bin" / "python"
    if not python.exists():
        raise BenchError(f"no iso15118 environment at {venv}: {SETUP_HINT}")
    dists = sorted(venv.glob("lib/python*/site-packages/iso15118-*.dist-info"))
    if not dists:
        raise BenchError(f"the environment {venv} has no iso15118 package: {SETUP_HINT}")
    version = dists[-1].name[len("iso15118-"):-len(".dist-info")]
    if not version.startswith("0.31."):
        raise BenchError(f"{venv} holds iso15118 {version}; the bench is written for 0.31.x: "
                         f"{SETUP_HINT}")
    package_dir = dists[-1].parent / "iso15118"
    if not (package_dir / "shared" / "EXICodec.jar").is_file():
        raise BenchError(f"{package_dir} lacks shared/EXICodec.jar (broken install): {SETUP_HINT}")
    if not list(venv.glob("lib/python*/site-packages/aiofile")):
        raise BenchError(f"{venv} lacks aiofile (needed by the EVCC): {SETUP_HINT}")
    java = shutil.which("java")
    if java is None:
        raise BenchError("no 'java' on PATH: the package's EXI codec runs on Java; install a "
                         "runtime >= 11 (apt-get install openjdk-17-jre-headless)")
    return Iso15118Install(venv=venv, python=python, package_dir=package_dir, version=version,
                           java=java)


def install_problem(venv: Path | None = None) -> str | None:
    """Why sessions cannot run here (None when the package and Java are in place)."""
    try:
        find_install(venv)
    except BenchError as exc:
        return str(exc)
    return None


def make_pki(install: Iso15118Install, folder: Path, timeout_s: float = 120.0) -> Path:
    """Generate a fresh test PKI (V2G root, CPO/MO/OEM chains, contract cert) into ``folder``
    with the package's own ``create_certs.sh -v iso-2``; return the PKI_PATH to use.

    The package reads every certificate, also for ISO 15118-20, from ``iso15118_2/``.
    Plug & Charge needs this even without TLS.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "iso15118_2" / "certs" / "contractLeafCert.der"
    if marker.exists():
        return folder
    if shutil.which("openssl") is None:
        raise BenchError("no 'openssl' on PATH: needed to generate the Plug & Charge test PKI "
                         "(apt-get install openssl)")
    configs = folder / "configs"
    if not configs.exists():
        configs.symlink_to(install.create_certs_script.parent / "configs")
    log = folder / "create_certs.log"
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(["bash", str(install.create_certs_script), "-v", "iso-2"],
                              check=False, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                              timeout=timeout_s)
    if proc.returncode != 0 or not marker.exists():
        raise BenchError(f"create_certs.sh failed ({proc.returncode}) in {folder}; "
                         f"see {log}")
    return folder


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class SchedulePoint:
    """From ``start_s`` (relative to the schedule's start) the power limit is ``max_power_w``."""

    start_s: int
    max_power_w: float


@dataclass(frozen=True)
class ChargerParams:
    """What the charger emulator announces (None: the package simulator's value)."""

    evse_id: str | None = None
    ac_max_current_a: float | None = None
    ac_nominal_voltage_v: float | None = None
    ac_max_charge_power_w: float | None = None
    ac_max_discharge_power_w: float | None = None
    dc_max_current_a: float | None = None
    dc_min_current_a: float | None = None
    dc_max_voltage_v: float | None = None
    dc_min_voltage_v: float | None = None
    dc_max_power_w: float | None = None
    dc_max_discharge_power_w: float | None = None
    dc_min_discharge_power_w: float | None = None
    dc_max_discharge_current_a: float | None = None
    dc_min_discharge_current_a: float | None = None
    #: Charging power limits over time: -2 PMaxSchedule, -20 scheduled PowerSchedule.
    schedule: tuple[SchedulePoint, ...] = ()
    #: -20 BPT discharging PowerSchedule (positive watts; sent as negative power).
    discharge_schedule: tuple[SchedulePoint, ...] = ()
    #: "accepted" or "rejected" (the answer to Authorization).
    authorization: str = "accepted"
    #: -2 AC/DC: answer the Nth charge-loop request (ChargingStatus / CurrentDemand) with
    #: EVSENotification StopCharging (the charger ends the charging; None: never).
    stop_after_loops: int | None = None

    def to_spec(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self).items() if v not in (None, ())}


@dataclass(frozen=True)
class EVParams:
    """What the EV emulator announces (None: the package simulator's value)."""

    ac_max_current_a: float | None = None
    ac_min_current_a: float | None = None
    ac_max_voltage_v: float | None = None
    energy_request_wh: float | None = None
    departure_time_s: int | None = None
    dc_max_current_a: float | None = None
    dc_max_power_w: float | None = None
    dc_max_voltage_v: float | None = None
    energy_capacity_wh: float | None = None
    max_charge_power_w: float | None = None
    min_charge_power_w: float | None = None
    max_charge_current_a: float | None = None
    min_charge_current_a: float | None = None
    max_voltage_v: float | None = None
    min_voltage_v: float | None = None
    max_discharge_power_w: float | None = None
    min_discharge_power_w: float | None = None
    max_discharge_current_a: float | None = None
    min_discharge_current_a: float | None = None
    #: -20: "scheduled" or "dynamic" (None: the first parameter set the charger offers).
    control_mode: str | None = None
    #: -20 BPT, scheduled: plan discharging (EV power profile from the discharging schedule,
    #: negative power, so BPT_ChannelSelection = Discharge).
    bpt_discharge: bool = False
    #: -20 DC scheduled charge loop EVTargetCurrent/EVTargetVoltage (negative current:
    #: discharge).
    dc_target_current_a: float | None = None
    dc_target_voltage_v: float | None = None
    #: -2: multiply each ChargingProfile entry the EV derives from the charger's PMaxSchedule
    #: (an EV fault: 1.5 asks above the schedule; None: the schedule as given).
    profile_power_factor: float | None = None

    def to_spec(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}


@dataclass(frozen=True)
class Faults:
    """Deviations from the standard's timing: deliberate misbehaviour (late answers, to prove
    that checks can fail) and tolerance (scaled timeouts, for emulator-vs-emulator runs on
    slow machines)."""

    #: Send the named message this many seconds late (e.g. {"ChargeParameterDiscoveryRes": 3}).
    response_delays_s: dict[str, float] = field(default_factory=dict)
    #: Multiply every per-message timeout the emulator enforces (1.0 = the standard's).
    timeout_scale: float = 1.0
    #: Replace the SECC's 60 s V2G_SECC_Sequence_Timeout (None = standard).
    sequence_timeout_s: float | None = None
    #: Multiply the package's waits when a session stops (2 s data link, then 3 s to close
    #: TCP): a simulated charger at a lab time scale keeps them in lab seconds.
    close_delay_scale: float = 1.0

    def to_spec(self) -> dict[str, Any]:
        return {"response_delays_s": dict(self.response_delays_s),
                "timeout_scale": self.timeout_scale,
                "sequence_timeout_s": self.sequence_timeout_s,
                "close_delay_scale": self.close_delay_scale}


@dataclass(frozen=True)
class SeccSettings:
    """Charger emulator (SECC) configuration."""

    protocols: tuple[str, ...] = ALL_PROTOCOLS
    auth_modes: tuple[str, ...] = ("EIM",)
    enforce_tls: bool = False
    free_charging: bool = False
    allow_cert_install: bool = True
    standby_allowed: bool = False
    charger: ChargerParams = ChargerParams()
    faults: Faults = Faults()
    log_level: str = "INFO"
    #: Seed of the package simulator's random choices (replayable sessions).
    seed: int = 0
    #: Unix socket of the hosting charger's bridge (``testbench.sim.iso15118_secc``): when
    #: set, authorisation, the EV's charging needs, schedules and status go to the charger.
    bridge_path: str | None = None

    @property
    def needs_pki(self) -> bool:
        return "PNC" in self.auth_modes or self.enforce_tls

    def env(self) -> dict[str, str]:
        return {
            "PROTOCOLS": ",".join(self.protocols), "AUTH_MODES": ",".join(self.auth_modes),
            "SECC_ENFORCE_TLS": _b(self.enforce_tls), "FREE_CHARGING_SERVICE": _b(self.free_charging),
            "ALLOW_CERT_INSTALL_SERVICE": _b(self.allow_cert_install),
            "FREE_CERT_INSTALL_SERVICE": "true", "USE_CPO_BACKEND": "false",
            "STANDBY_ALLOWED": _b(self.standby_allowed),
        }


@dataclass(frozen=True)
class EvccSettings:
    """EV emulator (EVCC) configuration: the package's EVCC config plus bench parameters."""

    #: Offered in supportedAppProtocolReq, highest priority first.
    protocols: tuple[str, ...] = ("ISO_15118_2",)
    #: -20 energy services: AC, DC, AC_BPT, DC_BPT (first = preferred).
    energy_services: tuple[str, ...] = ("AC",)
    #: -2/DIN requested mode: AC_single_phase_core, AC_three_phase_core, DC_core, DC_extended,
    #: DC_combo_core, DC_unique.
    energy_transfer_mode: str = "AC_three_phase_core"
    use_tls: bool = False
    enforce_tls: bool = False
    cert_install_needed: bool = False
    charge_loop_cycles: int = 3
    charge_loop_delay_s: int = 0
    sdp_retry_cycles: int = 1
    max_supporting_points: int = 1024
    ev: EVParams = EVParams()
    faults: Faults = Faults()
    log_level: str = "INFO"
    #: Seed of the package simulator's random choices (replayable sessions).
    seed: int = 0

    @property
    def needs_pki(self) -> bool:
        return self.use_tls or self.enforce_tls or self.cert_install_needed

    def package_config(self) -> dict[str, Any]:
        """The package's EVCC JSON config (keys as its docs name them)."""
        return {
            "supportedProtocols": list(self.protocols),
            "supportedEnergyServices": list(self.energy_services),
            "energyTransferMode": self.energy_transfer_mode,
            "useTls": self.use_tls, "enforceTls": self.enforce_tls,
            "isCertInstallNeeded": self.cert_install_needed,
            "chargeLoopCycle": self.charge_loop_cycles,
            "chargeLoopDelay": self.charge_loop_delay_s,
            "sdpRetryCycles": self.sdp_retry_cycles,
            "maxSupportingPoints": self.max_supporting_points,
        }


#: Ready-made EV emulator profiles by case name.
EV_PRESETS: dict[str, EvccSettings] = {
    "din-dc": EvccSettings(protocols=("DIN_SPEC_70121",), energy_services=("DC",),
                           energy_transfer_mode="DC_extended"),
    "iso2-ac": EvccSettings(protocols=("ISO_15118_2",), energy_services=("AC",),
                            energy_transfer_mode="AC_three_phase_core"),
    "iso2-dc": EvccSettings(protocols=("ISO_15118_2",), energy_services=("DC",),
                            energy_transfer_mode="DC_extended"),
    "iso20-ac": EvccSettings(protocols=("ISO_15118_20_AC",), energy_services=("AC",)),
    "iso20-ac-bpt": EvccSettings(protocols=("ISO_15118_20_AC",), energy_services=("AC_BPT",)),
    "iso20-dc": EvccSettings(protocols=("ISO_15118_20_DC",), energy_services=("DC",),
                             energy_transfer_mode="DC_extended"),
    "iso20-dc-bpt": EvccSettings(protocols=("ISO_15118_20_DC",), energy_services=("DC_BPT",),
                                 energy_transfer_mode="DC_extended"),
}


def ev_preset(name: str, **changes: Any) -> EvccSettings:
    """An :data:`EV_PRESETS` profile, with fields replaced (``ev_preset("iso2-ac", ev=...)``)."""
    try:
        base = EV_PRESETS[name]
    except KeyError:
        raise BenchError(f"no EV emulator preset {name!r}; known: {', '.join(EV_PRESETS)}") from None
    return replace(base, **changes)


def _b(value: bool) -> str:
    return "true" if value else "false"


# ----------------------------------------------------------------------------- processes
class V2GProcess:
    """One running emulator process (SECC or EVCC) with its log and records."""

    def __init__(self, role: str, popen: subprocess.Popen[bytes], workdir: Path,
                 iface: str, netns: str | None) -> None:
        self.role = role
        self.popen = popen
        self.workdir = workdir
        self.iface = iface
        self.netns = netns
        self.log_path = workdir / f"{role}.log"
        self.records_path = workdir / f"{role}.records.jsonl"
        self.tail = RecordTail(self.records_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def running(self) -> bool:
        return self.popen.poll() is None

    def poll(self) -> None:
        """Read new records."""
        self.tail.poll()

    def wait_for_event(self, name: str, timeout_s: float) -> bool:
        """Wait until the process records event ``name``; False on timeout or exit."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.tail.poll()
            if self.tail.event(name) is not None:
                return True
            if not self.running():
                self.tail.poll()
                return self.tail.event(name) is not None
            time.sleep(0.05)
        return False

    def stop(self, grace_s: float = 3.0) -> int | None:
        """SIGTERM the process group (Python and its JVM), SIGKILL after ``grace_s``."""
        if self.running():
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=grace_s)
        else:  # the JVM child may outlive a Python that exited on its own
            _signal_group(self.popen.pid, signal.SIGKILL)
        self.tail.poll()
        _live_processes.discard(self)
        return self.popen.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


_live_processes: set[V2GProcess] = set()


@atexit.register
def _stop_live_processes() -> None:
    """At interpreter exit, stop every emulator this process started and did not stop."""
    for proc in list(_live_processes):
        proc.stop(grace_s=1.0)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _package_env(install: Iso15118Install, iface: str, log_level: str,
                 pki_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PACKAGE_ENV_KEYS}
    env.update({
        "NETWORK_INTERFACE": iface, "LOG_LEVEL": log_level.upper(), "PYTHONUNBUFFERED": "1",
        "MESSAGE_LOG_JSON": "true", "MESSAGE_LOG_EXI": "false", "ENABLE_TLS_1_3": "false",
        "PKI_PATH": str(pki_dir or install.package_dir / "shared" / "pki") + "/",
    })
    env.pop("VIRTUAL_ENV", None)
    return env


def _spawn(install: Iso15118Install, role: str, workdir: Path, iface: str, netns: str | None,
           env: dict[str, str], spec: dict[str, Any]) -> V2GProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / f"{role}.launch.json"
    records = workdir / f"{role}.records.jsonl"
    records.unlink(missing_ok=True)
    spec.update(role=role, records_path=str(records))
    spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    cmd = [str(install.python), str(LAUNCHER), str(spec_path)]
    if netns is not None:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    log = (workdir / f"{role}.log").open("wb")
    try:
        # cwd=workdir: the package reads a .env from its working directory; ours has none.
        popen = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    process = V2GProcess(role, popen, workdir, iface, netns)
    _live_processes.add(process)
    return process


def start_secc(settings: SeccSettings, workdir: Path, iface: str, *, netns: str | None = None,
               pki_dir: Path | None = None,
               install: Iso15118Install | None = None) -> V2GProcess:
    """Start the charger emulator on ``iface`` (inside ``netns`` when given)."""
    install = install or find_install()
    if settings.needs_pki and pki_dir is None:
        pki_dir = make_pki(install, Path(workdir) / "pki")
    env = _package_env(install, iface, settings.log_level, pki_dir)
    env.update(settings.env())
    spec = {"charger": settings.charger.to_spec(), "seed": settings.seed,
            "bridge_path": settings.bridge_path, **settings.faults.to_spec()}
    return _spawn(install, "secc", Path(workdir), iface, netns, env, spec)


def start_evcc(settings: EvccSettings, workdir: Path, iface: str, *, netns: str | None = None,
               pki_dir: Path | None = None,
               install: Iso15118Install | None = None) -> V2GProcess:
    """Start the EV emulator on ``iface`` (inside ``netns`` when given)."""
    install = install or find_install()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if settings.needs_pki and pki_dir is None:
        pki_dir = make_pki(install, workdir / "pki")
    config_path = workdir / "evcc_config.json"
    config_path.write_text(json.dumps(settings.package_config(), indent=2) + "\n",
                           encoding="utf-8")
    env = _package_env(install, iface, settings.log_level, pki_dir)
    env["EVCC_CONFIG_PATH"] = str(config_path)
    spec = {"ev": settings.ev.to_spec(), "evcc_config": settings.package_config(),
            "seed": settings.seed,
            **settings.faults.to_spec()}
    return _spawn(install, "evcc", workdir, iface, netns, env, spec)


# ----------------------------------------------------------------------------- pair sessions
class PairSession:
    """An EVCC x SECC session over its own veth link, evidence in ``workdir``.

    ``start()`` creates the link (unless given one), the PKI when either side needs it, and
    starts both emulators at once (the EVCC's discovery retries cover the SECC's start);
    ``wait()`` returns when the session has ended on either side (plus ``linger_s`` for the
    other side's record of it) or ``timeout_s`` passed; both processes are then stopped and
    the link removed. Use as a context manager so Ctrl-C also cleans up.
    """

    def __init__(self, evcc: EvccSettings, secc: SeccSettings, workdir: Path, *,
                 install: Iso15118Install | None = None, link: V2GLink | None = None,
                 pki: bool | None = None, linger_s: float = 1.0) -> None:
        self.evcc_settings = evcc
        self.secc_settings = secc
        self.workdir = Path(workdir)
        self.install = install
        self.link = link
        self._own_link = link is None
        self._pki = pki
        self.linger_s = linger_s
        self.secc: V2GProcess | None = None
        self.evcc: V2GProcess | None = None
        self.result: SessionResult | None = None
        self.started_mono_s: float | None = None

    def start(self) -> Self:
        self.install = self.install or find_install()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            if self.link is None:
                self.link = create_link()
            need_pki = self._pki if self._pki is not None else (
                self.secc_settings.needs_pki or self.evcc_settings.needs_pki)
            pki_dir = make_pki(self.install, self.workdir / "pki") if need_pki else None
            self.started_mono_s = time.monotonic()
            self.secc = start_secc(self.secc_settings, self.workdir, self.link.secc_iface,
                                   netns=self.link.secc_netns, pki_dir=pki_dir,
                                   install=self.install)
            self.evcc = start_evcc(self.evcc_settings, self.workdir, self.link.evcc_iface,
                                   netns=self.link.evcc_netns, pki_dir=pki_dir,
                                   install=self.install)
        except BaseException:
            self.close()
            raise
        return self

    def _ended(self) -> bool:
        assert self.secc is not None and self.evcc is not None
        self.secc.poll()
        self.evcc.poll()
        stopped = any(p.tail.event(name) is not None for p in (self.secc, self.evcc)
                      for name in ("session_stop", "gave_up", "crashed"))
        return stopped or not self.evcc.running() or not self.secc.running()

    def wait(self, timeout_s: float = 90.0) -> SessionResult:
        """Block until the session ended or ``timeout_s`` (wall) passed; stop; the result."""
        if self.secc is None or self.evcc is None:
            raise BenchError("PairSession.wait() before start()")
        deadline = time.monotonic() + timeout_s
        timed_out = True
        try:
            while time.monotonic() < deadline:
                if self._ended():
                    timed_out = False
                    self._linger(min(deadline, time.monotonic() + self.linger_s))
                    break
                time.sleep(0.05)
        finally:
            self.result = self._collect(timed_out)
        return self.result

    def _linger(self, until_mono_s: float) -> None:
        """Give the other side until ``until_mono_s`` to record its own end of the session."""
        assert self.secc is not None and self.evcc is not None
        while time.monotonic() < until_mono_s:
            self.secc.poll()
            self.evcc.poll()
            if all(p.tail.event("session_stop") or not p.running()
                   for p in (self.secc, self.evcc)):
                return
            time.sleep(0.05)

    def _collect(self, timed_out: bool) -> SessionResult:
        notes = []
        codes: dict[str, int | None] = {}
        streams = []
        for proc in (self.secc, self.evcc):
            if proc is None:
                continue
            was_running = proc.running()
            codes[proc.role] = proc.stop()
            if was_running:
                notes.append(f"{proc.role} stopped by the bench")
            streams.append(proc.tail.items)
        if timed_out:
            notes.append("session did not end within the timeout")
        self.close()
        result = SessionResult.from_records(*streams, workdir=self.workdir, exit_codes=codes,
                                            timed_out=timed_out, notes=notes)
        result.write_evidence(self.workdir)
        return result

    def close(self) -> None:
        """Stop both processes and remove the link (idempotent)."""
        for proc in (self.evcc, self.secc):
            if proc is not None and (proc.running() or proc.returncode is None):
                proc.stop()
        if self._own_link and self.link is not None:
            self.link.remove()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_session(evcc: EvccSettings, secc: SeccSettings, workdir: Path, *,
                timeout_s: float = 90.0, install: Iso15118Install | None = None,
                link: V2GLink | None = None) -> SessionResult:
    """One complete EVCC x SECC session on a fresh link; evidence written to ``workdir``."""
    with PairSession(evcc, secc, workdir, install=install, link=link) as session:
        return session.wait(timeout_s)
