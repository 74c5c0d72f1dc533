"""The simulated lab process: the plant, twins on their ports, one OCPP client per charger.

    python -m testbench.sim --lab lab.toml --csms-url ws://127.0.0.1:9000/ocpp --epoch 1700000000 \
        [--state-file run/sim-final-state.json] [--station ID ...]

Protocol with the parent (stdout, one line each, flushed):

    SIM READY {"twins": {"<resource>": <port>, ...}, "instruments": {"<name>": <port>, ...}}

(a resource with port 0 gets any free port; it is listed under the resource with that
port, and every instrument maps to the port of its twin)
    SIM ERROR <what is wrong, where, and how to fix it>      (then exit status 2)

Everything else (logs) goes to stderr. The process exits cleanly (status 0) on SIGTERM,
SIGINT, or when its stdin reaches end of file (the parent died). With ``--state-file`` it
first writes the safe-state evidence there (:mod:`testbench.sim.state_file`): every twin
with its energised state at the moment it was told to stop.

Twins: one station I/O box per ``sim-ev-emulator`` resource, and one twin per other
instrument whose driver has one (:mod:`testbench.sim.hosting`), all built on the plant
(:mod:`testbench.sim.plant`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import logging
import os
import re
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instruments.twins.evio import EvIoTwin
from instruments.twins.scpi import ScpiServer
from instruments.twins.watchdog import TwinWatchdog
from testbench.clock import LabClock
from testbench.errors import LabConfigError
from testbench.lab.model import ChargerSpec, EVSpec, InstrumentSpec, Lab
from testbench.sim import gridcode, hosting
from testbench.sim.charger import SimCharger
from testbench.sim.evio_port import ConnectorIo
from testbench.sim.hosting import SimSetupError
from testbench.sim.link import run_link
from testbench.sim.plant import Plant
from testbench.sim.state_file import final_state, write_state_file
from testbench.sim.v2x import Charger2x
from testbench.sim.v16 import Charger16

log = logging.getLogger("testbench.sim")

TWIN_DRIVER = "sim-ev-emulator"
_SOCKET_RESOURCE = re.compile(r"^TCPIP\d*::([^:]+)::(\d+)::SOCKET$", re.IGNORECASE)

__all__ = ["SimLab", "SimSetupError", "main", "make_charger", "plan_twins"]


@dataclass
class TwinPlan:
    """One station I/O box twin to start."""

    resource: str
    host: str
    port: int
    charger: str
    evse_id: int
    connector_id: int
    instruments: list[str]


def make_charger(spec: ChargerSpec, evs: dict[str, EVSpec], clock: LabClock,
                 plant: Plant | None = None) -> SimCharger:
    """The simulated charger for an inventory entry (by OCPP version), on ``plant``."""
    if spec.ocpp_version == "1.6":
        return Charger16(spec, evs, clock, plant)
    return Charger2x(spec, evs, clock, plant)


def _watchdog_order(value: object) -> float:
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if valid else -1.0  # type: ignore[arg-type]


def _plugged(conn: Any) -> bool:
    return bool(conn.plugged)


def plan_twins(lab: Lab) -> list[TwinPlan]:
    """One twin per distinct resource of the sim-ev-emulator instruments (port 0: one each)."""
    plans: dict[str, TwinPlan] = {}
    anonymous: list[TwinPlan] = []
    for station in lab.stations.values():
        for inst in station.instruments:
            if inst.driver != TWIN_DRIVER:
                continue
            host, port = _parse_resource(inst)
            charger = inst.charger
            if charger is None:
                if len(station.chargers) != 1:
                    raise SimSetupError(
                        f"instrument {inst.name!r} at station {station.id!r} is not bound to a "
                        f"charger and the station has {len(station.chargers)}; fix: add "
                        f'charger = "<id>" to the instrument in {lab.path}')
                charger = station.chargers[0]
            evse_id, connector_id = _connector_options(inst, lab.chargers[charger])
            known = plans.get(inst.resource) if port != 0 else None
            if known is not None:
                if (known.charger, known.evse_id, known.connector_id) != (
                        charger, evse_id, connector_id):
                    raise SimSetupError(
                        f"instruments {known.instruments[0]!r} and {inst.name!r} share resource "
                        f"{inst.resource} but serve different connectors ({known.charger} vs "
                        f"{charger}); fix: give each charger's I/O box its own port in "
                        f"{lab.path}")
                known.instruments.append(inst.name)
                continue
            plan = TwinPlan(inst.resource, host, port, charger, evse_id, connector_id,
                            [inst.name])
            if port == 0:
                anonymous.append(plan)
            else:
                plans[inst.resource] = plan
    return list(plans.values()) + anonymous


def _parse_resource(inst: InstrumentSpec) -> tuple[str, int]:
    match = _SOCKET_RESOURCE.match(inst.resource.strip())
    if match is None:
        raise SimSetupError(
            f"instrument {inst.name!r}: resource {inst.resource!r} is not a socket resource; "
            "fix: use TCPIP::127.0.0.1::<port>::SOCKET for a simulated station I/O box")
    port = int(match.group(2))
    if port > 65535:
        raise SimSetupError(f"instrument {inst.name!r}: port {port} in {inst.resource!r} is "
                            "out of range; fix: use a port between 1024 and 65535")
    return match.group(1), port


def _connector_options(inst: InstrumentSpec, spec: ChargerSpec) -> tuple[int, int]:
    evse = inst.options.get("evse", 1)
    connector = inst.options.get("connector", 1)
    if not isinstance(evse, int) or not 1 <= evse <= spec.evse_count:
        raise SimSetupError(f"instrument {inst.name!r}: options.evse = {evse!r} but charger "
                            f"{spec.id!r} has EVSEs 1..{spec.evse_count}; fix the option")
    if not isinstance(connector, int) or not 1 <= connector <= spec.connectors_per_evse:
        raise SimSetupError(f"instrument {inst.name!r}: options.connector = {connector!r} but "
                            f"charger {spec.id!r} has connectors 1..{spec.connectors_per_evse} "
                            "per EVSE; fix the option")
    return evse, connector


def only_stations(lab: Lab, station_ids: Sequence[str]) -> Lab:
    """``lab`` reduced to the given stations and their chargers (all when none given)."""
    if not station_ids:
        return lab
    unknown = [s for s in station_ids if s not in lab.stations]
    if unknown:
        raise SimSetupError(f"--station {unknown[0]}: no such station in {lab.path}; "
                            f"stations: {', '.join(lab.stations)}")
    stations = {sid: st for sid, st in lab.stations.items() if sid in station_ids}
    chargers = {cid: lab.chargers[cid] for st in stations.values() for cid in st.chargers}
    return dataclasses.replace(lab, stations=stations, chargers=chargers)


def default_csms_url(lab: Lab) -> str:
    csms = lab.csms
    if csms.port == 0:
        raise SimSetupError(
            f"no --csms-url given and [csms] port = 0 in {lab.path} (any free port); fix: pass "
            "--csms-url ws://127.0.0.1:<port>/ocpp, or set a fixed port in [csms]")
    scheme = "wss" if csms.tls_cert is not None else "ws"
    return f"{scheme}://{csms.host}:{csms.port}{csms.path_prefix}"


def _ssl_context(lab: Lab, url: str) -> ssl.SSLContext | None:
    if not url.lower().startswith("wss://"):
        return None
    context = ssl.create_default_context()
    if lab.csms.tls_ca is not None:
        ca = lab.csms.tls_ca
        context.load_verify_locations(ca if ca.is_absolute() else lab.path.parent / ca)
    return context


class SimLab:
    """The running simulated lab: plant, chargers, their links and the twins.

    Raises SimSetupError (naming instrument, problem and fix) when the lab cannot be built.
    """

    def __init__(self, lab: Lab, csms_url: str, clock: LabClock) -> None:
        self.lab = lab
        self.csms_url = csms_url.rstrip("/")
        self.clock = clock
        self.plant = Plant(clock)
        hosting.prepare_plant(lab, self.plant)
        self.io_plans = plan_twins(lab)
        taken: dict[tuple[str, int], str] = {}
        for io_plan in self.io_plans:
            if io_plan.port != 0:
                taken[(io_plan.host, io_plan.port)] = (
                    f"station I/O box {', '.join(repr(n) for n in io_plan.instruments)}")
        self.host_plans = hosting.plan_hosted(lab, taken)
        self.chargers = {cid: make_charger(spec, lab.evs, clock, self.plant)
                         for cid, spec in lab.chargers.items()}
        gridcode.attach(lab, self.plant)
        self.servers: list[ScpiServer] = []
        self.boxes: list[tuple[TwinPlan, ConnectorIo, int]] = []
        self.hosted: list[hosting.Hosted] = []
        self.ports: dict[str, int] = {}
        self.instrument_ports: dict[str, int] = {}
        self._links: list[asyncio.Task[None]] = []
        self._plant_task: asyncio.Task[None] | None = None
        self.watchdogs: list[TwinWatchdog] = []

    async def start_twins(self) -> None:
        """Bind every twin; SimSetupError naming the instrument when a port is busy."""
        await self._start_io_boxes()
        for plan in self.host_plans:
            twin = hosting.build(plan, self.plant, self.chargers)
            self.hosted.append(twin)
            port = await hosting.start(twin, self.clock)
            self.ports[hosting.resource_key(plan, port)] = port
            for name in plan.names:
                self.instrument_ports[name] = port
            log.info("%s twin (%s) listening on %s:%d", plan.driver, ", ".join(plan.names),
                     plan.host, port)
            self._arm_watchdog(twin)
        self._plant_task = asyncio.ensure_future(self.plant.run())

    def _arm_watchdog(self, hosted: hosting.Hosted) -> None:
        """``options.watchdog_s`` on an energisable instrument or an EV-side twin
        (cp-serial, ccs-can): safe state after that many wall seconds without a command
        (instruments/twins/watchdog.py)."""
        value = hosted.plan.spec.options.get("watchdog_s")
        if value is None:
            return
        if hosted.kind in ("grid_emulator", "dc_source", "relay_box"):
            twin: Any = hosted.twin
        elif hosted.plan.driver in ("cp-serial", "ccs-can"):
            twin = hosted.twin.twin  # type: ignore[union-attr]  # SerialCpTwin / CcsCanTwin
        else:
            return
        self._watch(twin, value, hosted.energised, hosted.plan.names)

    def _watch(self, twin: Any, value: object, energised: Callable[[], bool],
               names: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise SimSetupError(f"instrument {names[0]!r}: options.watchdog_s = "
                                f"{value!r}; fix: a number of wall seconds > 0")
        watchdog = TwinWatchdog(twin, float(value), energised, ", ".join(names))
        watchdog.start()
        self.watchdogs.append(watchdog)
        log.info("watchdog of %s: safe state after %g s without a command",
                 watchdog.name, watchdog.timeout_s)

    async def _start_io_boxes(self) -> None:
        for plan in self.io_plans:
            charger = self.chargers[plan.charger]
            conn = charger.connector(plan.evse_id, plan.connector_id)
            assert conn is not None
            io = ConnectorIo(charger, conn)
            server = ScpiServer(EvIoTwin(io), plan.host, plan.port)
            try:
                port = await server.start()
            except OSError as error:
                names = ", ".join(repr(n) for n in plan.instruments)
                raise SimSetupError(
                    f"instrument {names} (resource {plan.resource}): cannot listen on "
                    f"{plan.host} port {plan.port}: {error.strerror or error}; fix: stop the "
                    f"process using port {plan.port} (e.g. a simulated lab still running) or "
                    f"choose a free port in {self.lab.path}") from error
            self.servers.append(server)
            self.boxes.append((plan, io, port))
            watchdogs = [i.options["watchdog_s"] for s in self.lab.stations.values()
                         for i in s.instruments if i.name in plan.instruments
                         and "watchdog_s" in i.options]  # station I/O box: EV unplugged
            if watchdogs:
                value = min(watchdogs, key=_watchdog_order)  # an invalid one is refused
                self._watch(server.device, value, functools.partial(_plugged, conn),
                            plan.instruments)
            # A port-0 resource is ambiguous: name it by the port it got.
            key = plan.resource if plan.port != 0 else f"TCPIP::{plan.host}::{port}::SOCKET"
            self.ports[key] = port
            for name in plan.instruments:
                self.instrument_ports[name] = port
            log.info("twin for %s (%s) listening on %s:%d", plan.charger,
                     ", ".join(plan.instruments), plan.host, port)

    def start_chargers(self) -> None:
        context = _ssl_context(self.lab, self.csms_url)
        for cid, charger in self.chargers.items():
            url = f"{self.csms_url}/{cid}"
            self._links.append(asyncio.ensure_future(run_link(charger, url,
                                                              ssl_context=context)))

    def ready_line(self) -> str:
        return "SIM READY " + json.dumps({"twins": self.ports,
                                         "instruments": self.instrument_ports})

    def final_state(self, reason: str) -> dict[str, object]:
        """The safe-state evidence: every twin and whether it is energised now."""
        return final_state(self, reason)

    async def close(self) -> None:
        for watchdog in self.watchdogs:
            await watchdog.stop()
        if self._plant_task is not None:
            self._plant_task.cancel()
            await asyncio.gather(self._plant_task, return_exceptions=True)
        for task in self._links:
            task.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)
        tasks = [t for c in self.chargers.values() for t in list(c._tasks)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self.servers:
            await server.close()
        for twin in self.hosted:
            try:
                await twin.twin.stop()
            except Exception:  # keep stopping the others
                log.exception("stopping the twin of %s failed", ", ".join(twin.plan.names))


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m testbench.sim",
        description="Run the simulated lab: station I/O box twins and OCPP chargers.")
    parser.add_argument("--lab", required=True, type=Path, help="path to lab.toml")
    parser.add_argument("--csms-url", default=None,
                        help="central system URL without the charger id, e.g. "
                             "ws://127.0.0.1:9000/ocpp (default: from [csms])")
    parser.add_argument("--epoch", type=float, default=None,
                        help="lab clock epoch, Unix seconds (default: now); give the bench's")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--ignore-stdin", action="store_true",
                        help="do not exit when stdin closes (for running in the background)")
    parser.add_argument("--state-file", type=Path, default=None,
                        help="on stopping, write every twin's energised state there (JSON)")
    parser.add_argument("--station", action="append", default=[], metavar="ID",
                        help="run only this station's part of the lab: its chargers and "
                             "instruments (repeatable; default: every station)")
    return parser.parse_args(argv)


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = "DEBUG" if level == "DEBUG" else "WARNING"
    for name in ("ocpp", "websockets"):
        logging.getLogger(name).setLevel(quiet)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulated lab until told to stop; the process exit status."""
    args = _parse_args(argv)
    _setup_logging(args.log_level)
    from testbench.lab.loader import load_lab

    try:
        lab = only_stations(load_lab(args.lab), args.station)
        clock = LabClock(scale=lab.settings.time_scale,
                         epoch=args.epoch if args.epoch is not None else time.time())
        url = args.csms_url or default_csms_url(lab)
    except (LabConfigError, SimSetupError, OSError, ValueError) as error:
        _say(f"SIM ERROR {' '.join(str(error).split())}")
        return 2
    try:
        return asyncio.run(_run(lab, url, clock, watch_stdin=not args.ignore_stdin,
                                state_file=args.state_file))
    except KeyboardInterrupt:
        return 0


async def _run(lab: Lab, url: str, clock: LabClock, *, watch_stdin: bool,
               state_file: Path | None = None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reasons: list[str] = []

    def stop_for(reason: str) -> None:
        reasons.append(reason)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop_for, sig.name)
        except (NotImplementedError, RuntimeError):  # not on the main thread / platform
            pass
    if watch_stdin:
        _watch_stdin(loop, lambda: stop_for("stdin closed"))
    try:
        sim = SimLab(lab, url, clock)
    except SimSetupError as error:
        _say(f"SIM ERROR {error}")
        return 2
    try:
        await sim.start_twins()
    except SimSetupError as error:
        await sim.close()
        _say(f"SIM ERROR {error}")
        return 2
    sim.start_chargers()
    _say(sim.ready_line())
    log.info("simulated lab %r running (time scale %g), central system %s",
             lab.settings.name, clock.scale, url)
    await stop.wait()
    log.info("simulated lab stopping (%s)", reasons[0] if reasons else "told to")
    if state_file is not None:
        try:
            write_state_file(state_file, sim.final_state(reasons[0] if reasons else "stopped"))
        except OSError as error:
            log.error("cannot write the safe-state file %s: %s", state_file, error)
    await sim.close()
    return 0


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    """Call ``stop`` on the loop when stdin reaches end of file (the parent process is gone)."""

    def watch() -> None:
        # os.read on the descriptor, not sys.stdin: a thread blocked inside the buffered
        # reader holds its lock and makes interpreter shutdown abort.
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        try:
            loop.call_soon_threadsafe(stop)
        except RuntimeError:  # the loop is already closed
            pass

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
