"""ISO 15118 EV emulator: the ``iso15118`` package's EVCC, talking to a charger's SECC.

``driver = "iso15118-evcc"``, ``role = "v2g_ev"``. The resource names the interface the
charger's SECC is reachable on (:mod:`testbench.iso15118.resources`): ``iface:eth1`` (a PLC
modem's interface in a lab) or ``netns:<tag>-evcc/v2g-ev`` (a simulated lab's veth link;
the simulated lab hosts the charger's SECC on the other end). Options:

* ``pki_dir``: the Plug & Charge test PKI (contract certificate) the EV uses; default for a
  ``netns:`` link: the one the simulated lab generated for it;
* ``timeout_scale``: multiply the EV's per-message timeouts (1.0 = the standard's; a
  simulated lab on a slow machine may need 4);
* ``workdir``: where each session's logs and V2G records go (default: a temporary folder).

Every session's V2G messages (decoded, timestamped) are in its work folder
(``v2g.jsonl``, ``v2g.txt``, ``session.json``), the evidence a suite attaches.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Self

from instruments.contracts import Identity, Instrument
from instruments.registry import register_driver
from testbench.errors import BenchError
from testbench.iso15118 import EvccSettings, SessionResult, V2GProcess, find_install, start_evcc
from testbench.iso15118.resources import V2GInterface, parse_resource, pki_dir_for
from testbench.lab.model import InstrumentSpec, SafetyLimits


class EvccRun:
    """One EV emulator session in progress (see :meth:`Iso15118Evcc.start_session`)."""

    def __init__(self, process: V2GProcess, workdir: Path) -> None:
        self.process = process
        self.workdir = workdir
        self.started_mono_s = time.monotonic()
        self.result: SessionResult | None = None

    def wait_for_message(self, name: str, timeout_s: float) -> bool:
        """Wait until the EV sent or received ``name`` (False on timeout or end)."""
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
                or any(self.process.tail.event(n) is not None
                       for n in ("session_stop", "gave_up", "crashed")))

    def wait(self, timeout_s: float = 120.0, linger_s: float = 0.5) -> SessionResult:
        """Until the EV ended its session (or ``timeout_s``); stop it; the result."""
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
        """End the session now (the EV emulator is stopped); the result so far."""
        if self.result is not None:
            return self.result
        return self._collect(timed_out=False)

    def _collect(self, timed_out: bool) -> SessionResult:
        was_running = self.process.running()
        code = self.process.stop()
        notes = ["evcc stopped by the bench"] if was_running else []
        if timed_out:
            notes.append("session did not end within the timeout")
        self.result = SessionResult.from_records(self.process.tail.items, workdir=self.workdir,
                                                 exit_codes={"evcc": code},
                                                 timed_out=timed_out, notes=notes)
        self.result.write_evidence(self.workdir)
        return self.result


@register_driver("iso15118-evcc")
class Iso15118Evcc(Instrument):
    """EV emulator for ISO 15118 sessions against a charger's SECC (one session at a time)."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits) -> None:
        self.name = spec.name
        self.limits = limits
        self.where: V2GInterface = parse_resource(spec.resource)
        options = spec.options
        pki = options.get("pki_dir")
        self.pki_dir: Path | None = (Path(str(pki)) if pki else
                                     pki_dir_for(self.where.tag) if self.where.tag else None)
        self.timeout_scale = float(options.get("timeout_scale", 1.0))  # type: ignore[arg-type]
        root = options.get("workdir")
        self.workdir = Path(str(root)) if root else Path(tempfile.mkdtemp(prefix="tb-evcc-"))
        self._run: EvccRun | None = None
        self._count = 0

    def identify(self) -> Identity:
        install = find_install()
        where = f"{self.where.iface}@{self.where.netns}" if self.where.netns else self.where.iface
        return Identity("iso15118 (SwitchEV)", "EVCC emulator", where, install.version)

    def start_session(self, settings: EvccSettings, workdir: Path | None = None) -> EvccRun:
        """Start an EV session (SDP, then the V2G messages) without waiting for its end."""
        if self._run is not None and not self._run.ended():
            raise BenchError(f"{self.name}: a session is still running; wait() or stop() it "
                             "before starting another")
        if settings.faults.timeout_scale == 1.0 and self.timeout_scale != 1.0:
            settings = replace(settings, faults=replace(settings.faults,
                                                        timeout_scale=self.timeout_scale))
        if (settings.use_tls or settings.cert_install_needed or settings.enforce_tls) and (
                self.pki_dir is None or not self.pki_dir.exists()):
            raise BenchError(f"{self.name}: Plug & Charge / TLS needs the EV's test PKI; "
                             f"none at {self.pki_dir}; set options.pki_dir")
        self._count += 1
        folder = Path(workdir) if workdir else self.workdir / f"session-{self._count}"
        process = start_evcc(settings, folder, self.where.iface, netns=self.where.netns,
                             pki_dir=self.pki_dir if self.pki_dir and self.pki_dir.exists()
                             else None)
        self._run = EvccRun(process, folder)
        return self._run

    def run_session(self, settings: EvccSettings, workdir: Path | None = None,
                    timeout_s: float = 120.0) -> SessionResult:
        """One complete EV session; the result (judged by the caller)."""
        return self.start_session(settings, workdir).wait(timeout_s)

    def safe_state(self) -> None:
        """No session running (the EV emulator drives no power itself)."""
        if self._run is not None and self._run.result is None:
            self._run.stop()

    def close(self) -> None:
        self.safe_state()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
