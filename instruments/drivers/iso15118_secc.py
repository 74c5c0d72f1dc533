"""ISO 15118 charger emulator: the ``iso15118`` package's SECC, for testing a real EV.

``driver = "iso15118-secc"``, ``role = "v2g_charger"``. The bench plays the charger: the
SECC answers the EV under test with the protocols, authorisation modes, ratings and the
schedule the bench chooses. The resource names the interface the EV is reachable on:

* ``iface:<interface>``: an interface of this host (in a lab: the PLC modem's, e.g.
  ``iface:eth1``);
* ``netns:<tag>-secc/<interface>``: the SECC end of a simulated lab's veth link ``<tag>``
  (e.g. ``netns:tbsim-evbay-secc/v2g-secc``); the simulated lab plays the EV on the other
  end and starts its EVCC when this driver signals that the SECC is up (the "plug-in"
  trigger file next to the link's test PKI, :func:`trigger_path`).

Options (defaults for :meth:`Iso15118Secc.settings`): ``current_type`` ("AC"/"DC",
default "AC"), ``protocols`` (lab names, default ["-20", "-2", "DIN"]), ``auth_modes``
(["EIM"] / ["EIM", "PNC"]), ``max_current_a``, ``max_power_w``, ``bidirectional``,
``pki_dir`` (Plug & Charge test PKI), ``timeout_scale`` (multiply the SECC's per-message
timeouts), ``workdir`` (where each session's evidence goes).

Every session's V2G messages (decoded, timestamped) are in its work folder
(``v2g.jsonl``, ``v2g.txt``, ``session.json``), the evidence a suite attaches.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from instruments.contracts import Identity, Instrument
from instruments.registry import register_driver
from testbench.errors import BenchError
from testbench.iso15118 import (
    ChargerParams,
    Faults,
    SchedulePoint,
    SeccSettings,
    SessionResult,
    V2GProcess,
    find_install,
    start_secc,
)
from testbench.iso15118.resources import LAB_PROTOCOLS, pki_dir_for, secc_protocols
from testbench.lab.model import InstrumentSpec, SafetyLimits

_NETNS = re.compile(r"^netns:([A-Za-z0-9][A-Za-z0-9_.-]{0,40})-secc/([A-Za-z0-9_.-]{1,15})$")
_IFACE = re.compile(r"^iface:([A-Za-z0-9_.@-]{1,15})$")

NOMINAL_VOLTAGE_V = 230.0
END_EVENTS = ("session_stop", "crashed")


def parse_secc_resource(resource: str) -> tuple[str, str | None, str | None]:
    """(interface, network namespace or None, link tag or None) of a charger emulator's
    resource; BenchError naming the accepted forms."""
    text = resource.strip()
    match = _NETNS.match(text)
    if match:
        return match.group(2), f"{match.group(1)}-secc", match.group(1)
    match = _IFACE.match(text)
    if match:
        return match.group(1), None, None
    raise BenchError(f"ISO 15118 charger emulator resource {resource!r}: use "
                     "'iface:<interface>' (the PLC modem's, e.g. iface:eth1) or "
                     "'netns:<tag>-secc/<interface>' (a simulated lab's link, e.g. "
                     "netns:tbsim-evbay-secc/v2g-secc)")


def trigger_path(tag: str) -> Path:
    """The file the driver touches when its SECC is up on the simulated link ``tag`` (the
    simulated EV's "plug-in"); next to the link's test PKI."""
    return pki_dir_for(tag).parent / "secc-up"


class SeccRun:
    """One charger-emulator session in progress (see :meth:`Iso15118Secc.start_session`)."""

    def __init__(self, process: V2GProcess, workdir: Path) -> None:
        self.process = process
        self.workdir = workdir
        self.started_mono_s = time.monotonic()
        self.result: SessionResult | None = None

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """Until the SECC listens for SDP (False on timeout or exit)."""
        return self.process.wait_for_event("ready", timeout_s)

    def wait_for_message(self, name: str, timeout_s: float) -> bool:
        """Wait until the charger sent or received ``name`` (False on timeout or end)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.process.poll()
            if any(m.name == name for m in self.process.tail.messages()):
                return True
            if not self.process.running():
                return False
            time.sleep(0.05)
        return False

    def ended(self) -> bool:
        self.process.poll()
        return (not self.process.running()
                or any(self.process.tail.event(n) is not None for n in END_EVENTS))

    def wait(self, timeout_s: float = 120.0, linger_s: float = 0.5) -> SessionResult:
        """Until the EV's session ended (or ``timeout_s``); stop the SECC; the result."""
        if self.result is not None:
            return self.result
        deadline = time.monotonic() + timeout_s
        timed_out = True
        while time.monotonic() < deadline:
            if self.ended():
                timed_out = False
                time.sleep(linger_s)
                break
            time.sleep(0.05)
        return self._collect(timed_out)

    def stop(self) -> SessionResult:
        """End now (the SECC is stopped); the result so far."""
        if self.result is not None:
            return self.result
        return self._collect(timed_out=False)

    def _collect(self, timed_out: bool) -> SessionResult:
        was_running = self.process.running()
        code = self.process.stop()
        notes = ["secc stopped by the bench"] if was_running else []
        if timed_out:
            notes.append("session did not end within the timeout")
        self.result = SessionResult.from_records(self.process.tail.items, workdir=self.workdir,
                                                 exit_codes={"secc": code},
                                                 timed_out=timed_out, notes=notes)
        self.result.write_evidence(self.workdir)
        return self.result


@register_driver("iso15118-secc")
class Iso15118Secc(Instrument):
    """Charger emulator for ISO 15118 sessions with an EV under test (one at a time)."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits) -> None:
        self.name = spec.name
        self.limits = limits
        self.iface, self.netns, self.tag = parse_secc_resource(spec.resource)
        options = spec.options
        pki = options.get("pki_dir")
        self.pki_dir: Path | None = (Path(str(pki)) if pki else
                                     pki_dir_for(self.tag) if self.tag else None)
        self.timeout_scale = float(options.get("timeout_scale", 1.0))  # type: ignore[arg-type]
        self.options: dict[str, Any] = dict(options)
        root = options.get("workdir")
        self.workdir = Path(str(root)) if root else Path(tempfile.mkdtemp(prefix="tb-secc-"))
        self._run: SeccRun | None = None
        self._count = 0

    def identify(self) -> Identity:
        install = find_install()
        where = f"{self.iface}@{self.netns}" if self.netns else self.iface
        return Identity("iso15118 (SwitchEV)", "SECC emulator", where, install.version)

    def settings(self, *, current_type: str | None = None, protocols: list[str] | None = None,
                 auth_modes: tuple[str, ...] | None = None,
                 schedule: list[tuple[int, float]] | None = None,
                 stop_after_loops: int | None = None, **charger: Any) -> SeccSettings:
        """The charger the bench plays: lab protocol names offered (best first), EIM/PNC,
        a schedule ``[(start_s, max_power_w)]`` (-2 PMaxSchedule / -20 PowerSchedule),
        ``stop_after_loops`` (-2: stop charging at that charge-loop request), and
        ``charger`` fields of :class:`ChargerParams` (e.g. ``ac_max_current_a=16``)."""
        kind = str(current_type or self.options.get("current_type", "AC")).upper()
        names = list(protocols if protocols is not None
                     else self.options.get("protocols", list(LAB_PROTOCOLS)))  # type: ignore[call-overload]
        offered = secc_protocols(names, kind)
        if not offered:
            raise BenchError(f"{self.name}: no ISO 15118 protocol to offer from {names} on a "
                             f"{kind} charger; use -2, -20 (and DIN on DC)")
        modes = tuple(auth_modes or self.options.get("auth_modes", ("EIM",)))  # type: ignore[arg-type]
        max_a = float(self.options.get("max_current_a", 32.0))  # type: ignore[arg-type]
        max_w = float(self.options.get("max_power_w", max_a * NOMINAL_VOLTAGE_V * 3))  # type: ignore[arg-type]
        bidi = bool(self.options.get("bidirectional", False))
        base = (ChargerParams(ac_max_current_a=max_a, ac_nominal_voltage_v=NOMINAL_VOLTAGE_V,
                              ac_max_charge_power_w=max_w,
                              ac_max_discharge_power_w=max_w if bidi else None)
                if kind == "AC" else
                ChargerParams(dc_max_current_a=max_a, dc_max_power_w=max_w,
                              dc_max_discharge_power_w=max_w if bidi else None))
        points = tuple(SchedulePoint(int(s), float(p)) for s, p in (schedule or []))
        params = replace(base, schedule=points, stop_after_loops=stop_after_loops, **charger)
        return SeccSettings(protocols=offered, auth_modes=modes, charger=params,
                            faults=Faults(timeout_scale=self.timeout_scale))

    def start_session(self, settings: SeccSettings | None = None,
                      workdir: Path | None = None, ready_timeout_s: float = 30.0) -> SeccRun:
        """Start the SECC (waits until it listens) for the EV's next session; on a simulated
        link also signal the simulated EV to connect."""
        if self._run is not None and self._run.result is None:
            raise BenchError(f"{self.name}: a session is still running; wait() or stop() it "
                             "before starting another")
        settings = settings or self.settings()
        pki = self.pki_dir if self.pki_dir is not None and self.pki_dir.exists() else None
        if settings.needs_pki and pki is None:
            raise BenchError(f"{self.name}: Plug & Charge / TLS needs the charger's test PKI; "
                             f"none at {self.pki_dir}; set options.pki_dir")
        self._count += 1
        folder = Path(workdir) if workdir else self.workdir / f"session-{self._count}"
        process = start_secc(settings, folder, self.iface, netns=self.netns, pki_dir=pki)
        run = SeccRun(process, folder)
        self._run = run
        if not run.wait_ready(ready_timeout_s):
            result = run.stop()
            raise BenchError(f"{self.name}: the SECC did not come up on {self.iface} within "
                             f"{ready_timeout_s:.0f} s ({result.stop_reasons() or 'no reason'}); "
                             f"see {process.log_path}")
        if self.tag is not None:
            trigger = trigger_path(self.tag)
            trigger.parent.mkdir(parents=True, exist_ok=True)
            trigger.write_text(f"{self._count} {time.time():.3f}\n", encoding="utf-8")
        return run

    def run_session(self, settings: SeccSettings | None = None, workdir: Path | None = None,
                    timeout_s: float = 120.0) -> SessionResult:
        """One complete session with the EV (its end judged by the caller)."""
        return self.start_session(settings, workdir).wait(timeout_s)

    def safe_state(self) -> None:
        """The SECC is stopped (no session, nothing offered to the EV)."""
        if self._run is not None and self._run.result is None:
            self._run.stop()

    def close(self) -> None:
        self.safe_state()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
