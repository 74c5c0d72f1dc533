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
from testbench.errors import BenchError
from testbench.lab.model import InstrumentSpec, Lab, StationSpec
from testbench.plugin.simproc import SimProcess

log = logging.getLogger(__name__)


class BenchRuntime:
    """Everything a run needs that lives longer than one test."""

    def __init__(self, lab: Lab, run_dir: Path, secrets_path: Path | None = None) -> None:
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
        if self.lab.is_sim:
            base_url = self.central.url_for("_").rsplit("/", 1)[0]
            self.sim = SimProcess.start(self.lab.path, base_url, self.clock.epoch,
                                        log_path=self.run_dir / "sim.log")
        expected = sorted({c for st in self.lab.stations.values() for c in st.chargers})
        self.csms.wait_connected(expected, within_s=self.lab.csms.connect_timeout_s)

    def close(self) -> None:
        """Safe-state every instrument, then stop the simulated lab and the central system."""
        problems: list[str] = []
        for (driver_name, resource), driver in list(self._instruments.items()):
            try:
                driver.safe_state()
            except Exception as exc:  # noqa: BLE001 - keep making the others safe
                problems.append(f"{driver_name} at {resource}: safe_state failed: {exc}")
            try:
                driver.close()
            except Exception:  # noqa: BLE001
                pass
        self._instruments.clear()
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

    # ---------------------------------------------------------------- instruments
    def instrument(self, station: StationSpec, spec: InstrumentSpec) -> Any:
        """The opened driver for ``spec`` (opened once per run, made safe at the end).

        Entries with the same driver and resource are one physical instrument playing
        several roles: they share one driver instance (one connection).
        """
        key = (spec.driver, spec.resource)
        if key not in self._instruments:
            driver_cls = get_driver(spec.driver)
            self._instruments[key] = driver_cls(spec, station.limits)
        return self._instruments[key]

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
