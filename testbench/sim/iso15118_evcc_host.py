"""A simulated EV for the bench's ISO 15118 charger emulator (``iso15118-secc`` instruments).

When the bench plays the charger (a real EV under test in a real lab), the simulated lab
plays the EV: for each ``iso15118-secc`` instrument whose resource names a simulated link
(``netns:<tag>-secc/<iface>``), it creates the veth link ``<tag>`` and the link's test PKI,
and runs the ``iso15118`` package's EVCC in ``<tag>-evcc``, playing the lab's EV
(:func:`testbench.iso15118.lab_profiles.evcc_settings_for`: its protocols, limits, energy
request) at the instrument's charger (AC or DC, options.current_type or the charger's).

The EV "plugs in" when the bench's driver signals that its SECC is up (the trigger file
:func:`instruments.drivers.iso15118_secc.trigger_path`): each new signal starts one EVCC
session (SDP, then the V2G messages); a session that ends is not restarted until the next
signal, so each test gets a fresh EV.

EV fault personalities (``testbench.lab.faults.ISO15118_EV_FAULTS``, listed in the EV's
``faults``): ``ev-exceeds-schedule`` plans 1.5 x the charger's PMaxSchedule in its
ChargingProfile; ``ev-overstates-limits`` announces 1.5 x its maximum current and power
in its charge parameters.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instruments.drivers.iso15118_secc import parse_secc_resource, trigger_path
from testbench.errors import BenchError
from testbench.iso15118 import (
    EvccSettings,
    Faults,
    V2GLink,
    V2GProcess,
    create_link,
    find_install,
    make_pki,
    start_evcc,
)
from testbench.iso15118.lab_profiles import NOMINAL_VOLTAGE_V, evcc_settings_for
from testbench.iso15118.resources import pki_dir_for
from testbench.lab.model import EVSpec

if TYPE_CHECKING:
    from testbench.sim.charger import SimCharger

log = logging.getLogger("testbench.sim")

V2G_CHARGER = ("iso15118-secc",)
"""Charger-side ISO 15118 drivers: the simulated lab hosts an EV's EVCC on their link."""

EXCEEDS_SCHEDULE = "ev-exceeds-schedule"
OVERSTATES_LIMITS = "ev-overstates-limits"
FAULT_FACTOR = 1.5
"""Both EV faults: how far above the schedule / its own limits the EV goes."""

EV_CHARGE_LOOPS = 8
"""Charge-loop requests before the simulated EV ends charging by itself (enough for the
bench to stop it first after a few)."""

EV_TIMEOUT_SCALE = 4.0
"""The simulated EV's per-message timeouts x this (tolerance for a loaded CI machine)."""

POLL_S = 0.2


def link_tag(resource: str) -> str:
    """The veth link a charger emulator's resource names (BenchError for a host interface)."""
    _iface, _netns, tag = parse_secc_resource(resource)
    if tag is None:
        raise BenchError(f"ISO 15118 charger emulator resource {resource!r} is a host "
                         "interface; the simulated lab needs 'netns:<tag>-secc/v2g-secc' to "
                         "host the EV on the other end")
    return tag


def ev_settings(ev: EVSpec, current_type: str) -> EvccSettings:
    """The EVCC playing ``ev`` (with its ISO 15118 EV faults) at an AC or DC charger."""
    extra: dict[str, Any] = {}
    if EXCEEDS_SCHEDULE in ev.faults:
        extra["profile_power_factor"] = FAULT_FACTOR
    if OVERSTATES_LIMITS in ev.faults:
        phases = int(ev.phases or 3)
        extra["ac_max_current_a"] = ev.max_current_a * FAULT_FACTOR
        extra["max_charge_power_w"] = (ev.max_current_a * NOMINAL_VOLTAGE_V * phases
                                       * FAULT_FACTOR)
    settings = evcc_settings_for(ev, current_type, charge_loop_cycles=EV_CHARGE_LOOPS,
                                 faults=Faults(timeout_scale=EV_TIMEOUT_SCALE))
    return replace(settings, ev=replace(settings.ev, **extra))


class EvccHost:
    """The simulated EV on the link of an ``iso15118-secc`` instrument (hosted twin:
    start/stop, describe). When the package or namespaces are unavailable ``problem``
    says why (the bench's SECC then sees no EV)."""

    def __init__(self, charger: SimCharger, ev: EVSpec, resource: str,
                 current_type: str) -> None:
        self.charger = charger
        self.ev = ev
        self.resource = resource
        self.tag = link_tag(resource)
        self.current_type = current_type
        self.link: V2GLink | None = None
        self.process: V2GProcess | None = None
        self.problem: str | None = None
        self.sessions = 0
        self.requests: list[dict[str, Any]] = []
        self.workdir = Path(tempfile.mkdtemp(prefix=f"tbsim-evcc-{ev.id[:20]}-"))
        self._trigger_seen: str | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        """Create the link and its PKI; watch for the bench's plug-in signal. Port 0."""
        loop = asyncio.get_running_loop()
        try:
            install = find_install()
            pki = pki_dir_for(self.tag)
            shutil.rmtree(pki, ignore_errors=True)  # fresh certificates per run
            trigger_path(self.tag).unlink(missing_ok=True)
            await loop.run_in_executor(None, make_pki, install, pki)
            self.link = await loop.run_in_executor(None, create_link, self.tag)
        except (BenchError, OSError) as error:
            self.problem = str(error)
            log.warning("%s: no simulated ISO 15118 EV on link %s: %s", self.ev.id, self.tag,
                        error)
            return 0
        self._watch = asyncio.ensure_future(self._watchdog())
        return 0

    def _signal(self) -> str | None:
        try:
            return trigger_path(self.tag).read_text(encoding="utf-8")
        except OSError:
            return None

    async def _watchdog(self) -> None:
        """Start one EV session per new plug-in signal; reap sessions that ended."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(POLL_S)
            if self.process is not None and not self.process.running():
                await loop.run_in_executor(None, functools.partial(self.process.stop, 0.5))
                self.process = None
            signal = self._signal()
            if signal is None or signal == self._trigger_seen:
                continue
            self._trigger_seen = signal
            if self.process is not None:  # a new SECC: the EV unplugs and plugs in again
                await loop.run_in_executor(None, functools.partial(self.process.stop, 1.0))
            try:
                self._spawn()
            except (BenchError, OSError) as error:
                self.problem = f"EV session {self.sessions} did not start: {error}"
                log.warning("%s: %s", self.ev.id, self.problem)

    def _spawn(self) -> None:
        assert self.link is not None
        self.sessions += 1
        settings = ev_settings(self.ev, self.current_type)
        self.requests.append({"session": self.sessions, "faults": list(self.ev.faults)})
        del self.requests[:-50]
        self.process = start_evcc(settings, self.workdir / f"evcc-{self.sessions}",
                                  self.link.evcc_iface, netns=self.link.evcc_netns,
                                  pki_dir=pki_dir_for(self.tag))
        log.info("%s: simulated EV session %d on %s (%s)", self.ev.id, self.sessions,
                 self.link.evcc_netns, self.process.workdir)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        loop = asyncio.get_running_loop()
        if self.process is not None:
            await loop.run_in_executor(None, functools.partial(self.process.stop, 2.0))
        if self.link is not None:
            await loop.run_in_executor(None, self.link.remove)
        shutil.rmtree(pki_dir_for(self.tag).parent, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def set_fault(self, fault: str) -> None:
        """Instrument faults do not apply to the simulated EV (EV faults do)."""

    def describe(self) -> dict[str, Any]:
        return {"charger": self.charger.spec.id, "ev": self.ev.id, "link": self.tag,
                "workdir": str(self.workdir), "ev_sessions": self.sessions,
                "problem": self.problem}


def build_evcc_host(charger: SimCharger, ev_id: str, resource: str,
                    current_type: str | None = None) -> EvccHost:
    """The simulated EV ``ev_id`` of ``charger``'s station on the link ``resource`` names."""
    ev = charger.evs[ev_id]
    return EvccHost(charger, ev, resource, current_type or str(charger.spec.current_type))
