"""The bench of one run: central system, file server, simulated lab, instruments, teardown.

``BenchRuntime.close()`` always leaves every opened instrument in its safe state, whatever
ended the run (normal end, failure, exception, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from instruments.registry import get_driver
from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.lab.model import InstrumentSpec, Lab, StationSpec
from testbench.plugin.keepalive import KeepAlive, watchdog_s_of
from testbench.plugin.locks import LOCK_LOG_NAME, InstrumentLock, holder_text, lock_dir_for
from testbench.plugin.simproc import SimProcess

log = logging.getLogger(__name__)


class BenchRuntime:
    """Everything a run needs that lives longer than one test."""

    def __init__(self, lab: Lab, run_dir: Path, secrets_path: Path | None = None, *,
                 per_station: bool = False, holder: str | None = None) -> None:
        """``per_station``: start no station at :meth:`start`; :meth:`enter_station` starts
        one station's part of the lab at a time (a pytest-xdist worker). ``holder`` names
        this process in instrument locks."""
        self.lab = lab
        self.run_dir = run_dir
        self.secrets_path = secrets_path
        self.clock = LabClock(scale=lab.settings.time_scale, epoch=time.time())
        self.loop: BackgroundLoop | None = None
        self.central: Any = None
        self.csms: Any = None
        self.sim: SimProcess | None = None
        self.files: Any = None  # testbench.firmware.fileserver.FileServer, started with the CSMS
        self._instruments: dict[tuple[str, str], Any] = {}  # (driver, resource) -> driver
        self._locks: dict[tuple[str, str], InstrumentLock] = {}
        self.keepalive = KeepAlive()
        self.per_station = per_station
        self.holder = holder or holder_text(f"run {run_dir.name}")
        self.station_sims: dict[str, SimProcess] = {}
        self.active_station: str | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the central system and the file server, the simulated lab (sim mode), and
        wait for the chargers."""
        from testbench.csms import CentralSystem, Csms
        from testbench.redact import install_log_redaction
        from testbench.secrets import SECRETS_ENV, Secrets

        install_log_redaction()
        if self.secrets_path is not None:
            os.environ[SECRETS_ENV] = str(self.secrets_path)  # the simulated lab reads the same file
        secrets = Secrets.load(self.secrets_path)
        self.loop = BackgroundLoop()
        self.central = CentralSystem(self.lab.csms, self.lab.chargers, self.clock,
                                     trace_dir=self.run_dir / "traces", secrets=secrets,
                                     base_dir=self.lab.path.parent)
        self.loop.run(self.central.start(), timeout_s=30)
        self.csms = Csms(self.central, self.loop, self.clock)
        from testbench.firmware.fileserver import FileServer

        self.files = FileServer(self.lab.files, self.run_dir / "files", self.clock,
                                lab_dir=self.lab.path.parent)
        self.files.start()
        if self.per_station:
            return  # enter_station() starts each station's part
        if self.lab.is_sim:
            base_url = self.central.url_for("_").rsplit("/", 1)[0]
            self.sim = SimProcess.start(self.lab.path, base_url, self.clock.epoch,
                                        log_path=self.run_dir / "sim.log")
        expected = sorted({c for st in self.lab.stations.values() for c in st.chargers})
        self.csms.wait_connected(expected, within_s=self.lab.csms.connect_timeout_s)

    def close(self) -> None:
        """Safe-state every instrument, then stop the simulated lab and the central system."""
        problems = self._release_instruments(None)
        self.keepalive.stop()
        for station_id in list(self.station_sims):
            self.station_sims.pop(station_id).stop()
        self.active_station = None
        if self.sim is not None:
            self.sim.stop()
            self.sim = None
        if self.loop is not None and self.central is not None:
            try:
                self.loop.run(self.central.stop(), timeout_s=10)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"central system stop: {exc}")
        if self.loop is not None:
            self.loop.stop()
            self.loop = None
        if self.files is not None:
            self.files.stop()
            self.files = None
        for problem in problems:
            log.error(problem)

    # ---------------------------------------------------------------- stations
    def enter_station(self, station_id: str) -> None:
        """Per-station mode: make ``station_id`` the station this process drives.

        The previous station is left first (:meth:`leave_station`); then this station's
        part of the simulated lab starts (``python -m testbench.sim --station ID``) and its
        chargers are awaited. A no-op when not per station or already there.
        """
        if not self.per_station or station_id == self.active_station:
            return
        if self.active_station is not None:
            self.leave_station(self.active_station)
        station = self.lab.stations[station_id]
        if self.lab.is_sim:
            base_url = self.central.url_for("_").rsplit("/", 1)[0]
            self.station_sims[station_id] = SimProcess.start(
                self.lab.path, base_url, self.clock.epoch,
                log_path=self.run_dir / f"sim-{station_id}.log",
                state_file=self.run_dir / f"sim-final-state-{station_id}.json",
                stations=[station_id])
        self.active_station = station_id
        self.csms.wait_connected(sorted(station.chargers),
                                 within_s=self.lab.csms.connect_timeout_s)

    def leave_station(self, station_id: str) -> None:
        """Make the station's instruments safe, close and unlock them, stop its simulated part."""
        station = self.lab.stations[station_id]
        for problem in self._release_instruments({(i.driver, i.resource)
                                                  for i in station.instruments}):
            log.error(problem)
        sim = self.station_sims.pop(station_id, None)
        if sim is not None:
            sim.stop()
        if self.active_station == station_id:
            self.active_station = None

    # ---------------------------------------------------------------- instruments
    def instrument(self, station: StationSpec, spec: InstrumentSpec) -> Any:
        """The opened driver for ``spec`` (opened once per run, made safe at the end).

        Entries with the same driver and resource are one physical instrument playing
        several roles: they share one driver instance (one connection). Opening takes the
        instrument's lock (:mod:`testbench.plugin.locks`): InstrumentBusyError naming the
        holder when another bench process drives it. An entry with ``options.watchdog_s``
        gets keep-alives while it is held (:mod:`testbench.plugin.keepalive`).
        """
        key = (spec.driver, spec.resource)
        if key not in self._instruments:
            lock = InstrumentLock(lock_dir_for(self.lab.output_dir), spec.resource, spec.name,
                                  self.holder, log_path=self.run_dir / LOCK_LOG_NAME)
            lock.acquire()
            try:
                driver_cls = get_driver(spec.driver)
                self._instruments[key] = driver_cls(spec, station.limits)
            except BaseException:
                lock.release()
                raise
            self._locks[key] = lock
            watchdog_s = watchdog_s_of(dict(spec.options))
            if watchdog_s is not None:
                self.keepalive.add(key, self._instruments[key], watchdog_s, spec.name)
        return self._instruments[key]

    def _release_instruments(self, only: set[tuple[str, str]] | None) -> list[str]:
        """Safe-state, close and unlock opened instruments (all, or the keys in ``only``)."""
        problems: list[str] = []
        for key, driver in list(self._instruments.items()):
            if only is not None and key not in only:
                continue
            self.keepalive.remove(key)
            try:
                driver.safe_state()
            except Exception as exc:  # noqa: BLE001 - keep making the others safe
                problems.append(f"{key[0]} at {key[1]}: safe_state failed: {exc}")
            try:
                driver.close()
            except Exception:  # noqa: BLE001, S110 - closing a broken connection is fine
                pass
            del self._instruments[key]
            lock = self._locks.pop(key, None)
            if lock is not None:
                lock.release()
        return problems

    def make_all_safe(self, only: set[tuple[str, str]] | None = None) -> list[str]:
        """Put opened instruments (all, or the ``(driver, resource)`` keys in ``only``) in their
        safe state; return the problems."""
        problems: list[str] = []
        for (driver_name, resource), driver in list(self._instruments.items()):
            if only is not None and (driver_name, resource) not in only:
                continue
            try:
                driver.safe_state()
            except Exception as exc:  # noqa: BLE001 - keep making the others safe
                problems.append(f"{driver_name} at {resource}: {exc}")
                log.error("safe_state failed: %s at %s: %s", driver_name, resource, exc)
        return problems
