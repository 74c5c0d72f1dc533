"""Instrument twins the simulated lab hosts: one per physical instrument of the lab file.

Every station instrument whose driver has a twin (:data:`TWINS`) gets one, listening on its
resource's loopback port and built on the plant:

* power analysers (``yokogawa-wt``, ``zes-lmg600``) measure a point of the charger named in
  the instrument's ``charger``: ``options.point = "output"`` (its outlet, default),
  ``"input"`` (its supply) or ``"site"`` (the station's grid node); ``options.evse`` /
  ``options.connector`` pick the connector (default 1 / 1);
* grid emulators (``chroma-61800``, ``ametek-rsmx``, ``cinergia-geel``) drive the grid node
  of their charger (bound) or of their station (unbound): the chargers there get their power
  from it, and none while its output is off;
* DC sources (``ea-psb-scpi``, ``ea-psb-modbus``, ``keysight-rp7900``) drive a DC bus, the
  battery of their DC charger when bound to one;
* relay boxes (``modbus-relay``) switch a relay bank of ``first_coil + channels`` relays;
* energy managers (``modbus-lem``) reach the Modbus energy-management interface of their
  charger's connector (:mod:`testbench.sim.lem`, register map ``options.register_map``);
* DER settings interfaces (``sunspec-der``) reach the SunSpec Modbus map of their
  bidirectional charger's connector (:mod:`testbench.sim.sunspec`);
* EV-side instruments (``cp-serial``, ``ccs-can``) drive the control pilot of a connector of
  their charger (``options.evse`` / ``options.connector``, default 1 / 1), plugging in the
  EV ``options.ev`` (default: the station's first EV) when none is selected
  (:mod:`testbench.sim.ev_side`). Resources: ``socket://127.0.0.1:<port>`` (serial) and
  ``<bus>@127.0.0.1:<port>`` (CAN over socketcand, driver option
  ``interface = "socketcand"``).

Instrument fault personalities: ``options.sim_fault`` (names in
:data:`testbench.lab.faults.INSTRUMENT_FAULTS`), ``options.sim_fault_after_s`` for
``disconnect``. SCPI resources are ``TCPIP::127.0.0.1::<port>::SOCKET``, Modbus resources
``127.0.0.1:<port>`` (as the Modbus transport reads them); port 0 takes any free port.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from instruments.transports.modbus import parse_resource
from instruments.twins.modbus_cinergia import CinergiaTwin
from instruments.twins.modbus_ea_psb import EaPsbTwin as EaPsbModbusTwin
from instruments.twins.modbus_relay import ModbusRelayTwin
from instruments.twins.modbus_server import ModbusTwin
from instruments.twins.scpi_ametek import AmetekRsTwin
from instruments.twins.scpi_chroma import ChromaGridTwin
from instruments.twins.scpi_ea import EaPsbTwin as EaPsbScpiTwin
from instruments.twins.scpi_keysight import KeysightRP7900Twin
from instruments.twins.scpi_server import ScpiTwin
from instruments.twins.scpi_yokogawa import YokogawaWTTwin
from instruments.twins.scpi_zes import ZesLmgTwin
from testbench.clock import LabClock
from testbench.errors import BenchError
from testbench.lab.faults import INSTRUMENT_FAULTS
from testbench.lab.model import InstrumentSpec, Lab, StationSpec
from testbench.sim.chademo import chademo_side
from testbench.sim.chademo_vehicle import chademo_vehicle_side
from testbench.sim.dc_bus import DCBus, RelayBank
from testbench.sim.ev_side import (
    CAN_RESOURCE,
    EV_SIDE_TYPES,
    SERIAL_RESOURCE,
    CanEvSide,
    ConnectorPilot,
    EvSide,
    SerialEvSide,
)
from testbench.sim.evio_port import ConnectorIo
from testbench.sim.grid_node import GridNode
from testbench.sim.iso15118_evcc_host import V2G_CHARGER, build_evcc_host, link_tag
from testbench.sim.iso15118_secc import V2G_EV, SeccHost, build_secc, link_tag_of
from testbench.sim.lem import build_lem, lem_problem
from testbench.sim.measuring import POINTS, NoisyPoint, seed_for
from testbench.sim.plant import Plant
from testbench.sim.sunspec import build_sunspec, sunspec_problem

if TYPE_CHECKING:
    from testbench.sim.charger import SimCharger

SOCKET_RESOURCE = re.compile(r"^TCPIP\d*::([^:]+)::(\d+)::SOCKET$", re.IGNORECASE)

ANALYSERS = ("yokogawa-wt", "zes-lmg600")
GRID_EMULATORS = ("chroma-61800", "ametek-rsmx", "cinergia-geel")
DC_SOURCES = ("ea-psb-scpi", "ea-psb-modbus", "keysight-rp7900")
RELAY_BOXES = ("modbus-relay",)
EV_SIDE = ("cp-serial", "ccs-can", "chademo-ev", "chademo-charger")
ENERGY_MANAGERS = ("modbus-lem",)
DER_SETTINGS = ("sunspec-der",)
MODBUS = ("cinergia-geel", "ea-psb-modbus", "modbus-relay") + ENERGY_MANAGERS + DER_SETTINGS
TWINS = (ANALYSERS + GRID_EMULATORS + DC_SOURCES + RELAY_BOXES + EV_SIDE + ENERGY_MANAGERS
         + V2G_EV + DER_SETTINGS + V2G_CHARGER)
"""Drivers the simulated lab has a twin for (besides the station I/O box)."""

STATION_IO_DRIVER = "sim-ev-emulator"
NOT_HOSTED: tuple[str, ...] = ()
"""Drivers with twins in instruments.twins that the simulated lab does not host (yet)."""


class SimSetupError(Exception):
    """The simulated lab cannot start; the message names the problem and the fix."""


@dataclass
class HostPlan:
    """One physical instrument to host: every lab entry sharing its driver and resource."""

    station: StationSpec
    driver: str
    resource: str
    host: str
    port: int
    specs: list[InstrumentSpec] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def spec(self) -> InstrumentSpec:
        return self.specs[0]


@dataclass
class Hosted:
    """A running twin and what the safe-state file says about it."""

    plan: HostPlan
    twin: ScpiTwin | ModbusTwin | EvSide
    kind: str
    energised: Callable[[], bool]
    ever_energised: Callable[[], bool]
    describe: Callable[[], dict[str, Any]]
    port: int = 0

    def state(self) -> dict[str, Any]:
        """The twin's entry in the safe-state file."""
        entry: dict[str, Any] = {
            "instruments": self.plan.names, "driver": self.plan.driver,
            "resource": self.plan.resource, "port": self.port, "kind": self.kind,
            "energised": self.energised(), "ever_energised": self.ever_energised(),
            "state": self.describe(),
        }
        if isinstance(self.twin, ScpiTwin):
            entry["received"] = list(self.twin.received)[-200:]
        elif isinstance(self.twin, EV_SIDE_TYPES):
            entry["received"] = self.twin.commands
        else:
            entry["write_requests"] = self.twin.requests
        return entry


# --------------------------------------------------------------------------- planning
def _where(plan_or_spec: InstrumentSpec, lab: Lab) -> str:
    return f"instrument {plan_or_spec.name!r} in {lab.path}"


def instrument_address(inst: InstrumentSpec, lab: Lab) -> tuple[str, int]:
    """(host, port) a hosted twin listens on, from the instrument's resource."""
    if inst.driver in MODBUS:
        try:
            host, port = parse_resource(inst.resource)
        except ValueError as error:
            raise SimSetupError(f"{_where(inst, lab)}: {error}; fix: use "
                                "resource = \"127.0.0.1:<port>\" for a simulated Modbus "
                                "instrument") from None
    elif inst.driver in V2G_EV:  # the charger's SECC on the EV emulator's veth link
        try:
            link_tag_of(inst.resource)
        except BenchError as error:  # the resource names no simulated link
            raise SimSetupError(f"{_where(inst, lab)}: {error}") from None
        return "127.0.0.1", 0
    elif inst.driver in V2G_CHARGER:  # a simulated EV on the bench SECC's veth link
        try:
            link_tag(inst.resource)
        except BenchError as error:
            raise SimSetupError(f"{_where(inst, lab)}: {error}") from None
        return "127.0.0.1", 0
    elif inst.driver in EV_SIDE:
        serial = inst.driver == "cp-serial"
        match = (SERIAL_RESOURCE if serial else CAN_RESOURCE).match(inst.resource.strip())
        if match is None:
            example = ("socket://127.0.0.1:<port>" if serial
                       else "vcan0@127.0.0.1:<port> with options = { interface = "
                       "\"socketcand\" }")
            raise SimSetupError(f"{_where(inst, lab)}: resource {inst.resource!r} of a "
                                f"{inst.driver!r} instrument cannot be served by the simulated "
                                f"lab; fix: use {example}")
        host, port = match.group(match.re.groups - 1), int(match.group(match.re.groups))
    else:
        match = SOCKET_RESOURCE.match(inst.resource.strip())
        if match is None:
            raise SimSetupError(
                f"{_where(inst, lab)}: resource {inst.resource!r} is not a socket resource; "
                "fix: use TCPIP::127.0.0.1::<port>::SOCKET for a simulated SCPI instrument")
        host, port = match.group(1), int(match.group(2))
    if not 0 <= port <= 65535:
        raise SimSetupError(f"{_where(inst, lab)}: port {port} in {inst.resource!r} is out of "
                            "range; fix: use a port between 1024 and 65535 (or 0: any)")
    return host, port


def plan_hosted(lab: Lab, taken: dict[tuple[str, int], str] | None = None) -> list[HostPlan]:
    """The twins to host, validated; ``taken`` maps (host, port) to who uses it already."""
    taken = dict(taken or {})
    plans: dict[tuple[str, str], HostPlan] = {}
    anonymous: list[HostPlan] = []
    for station in lab.stations.values():
        for inst in station.instruments:
            if inst.driver == STATION_IO_DRIVER:
                continue
            if inst.driver not in TWINS:
                extra = (" (its twin exists but the simulated lab does not host it yet)"
                         if inst.driver in NOT_HOSTED else "")
                raise SimSetupError(
                    f"{_where(inst, lab)}: the simulated lab has no twin for driver "
                    f"{inst.driver!r}{extra}; fix: remove the instrument from this simulated "
                    f"lab or use one of: {', '.join(TWINS + (STATION_IO_DRIVER,))}")
            _check_options(inst, lab, station)
            host, port = instrument_address(inst, lab)
            key = (inst.driver, inst.resource)
            known = plans.get(key) if port != 0 else None
            if known is not None:
                _check_same_binding(known, inst, lab)
                known.specs.append(inst)
                continue
            if port != 0:
                user = taken.get((host, port))
                if user is not None:
                    raise SimSetupError(
                        f"{_where(inst, lab)}: port {port} of resource {inst.resource!r} is "
                        f"also used by {user}; fix: give each simulated instrument its own port")
                taken[(host, port)] = f"instrument {inst.name!r} ({inst.driver})"
            plan = HostPlan(station, inst.driver, inst.resource, host, port, [inst])
            if port == 0:
                anonymous.append(plan)
            else:
                plans[key] = plan
    return list(plans.values()) + anonymous


def _check_same_binding(known: HostPlan, inst: InstrumentSpec, lab: Lab) -> None:
    first = known.spec
    if (first.charger, first.options.get("point"), first.options.get("evse"),
            first.options.get("connector")) != (inst.charger, inst.options.get("point"),
                                                inst.options.get("evse"),
                                                inst.options.get("connector")):
        raise SimSetupError(
            f"instruments {first.name!r} and {inst.name!r} share resource {inst.resource} but "
            f"are bound differently (charger {first.charger!r} vs {inst.charger!r}); fix: give "
            f"each its own port in {lab.path}")


def _check_options(inst: InstrumentSpec, lab: Lab, station: StationSpec) -> None:
    where = _where(inst, lab)
    options = inst.options
    fault = options.get("sim_fault")
    if fault is not None and fault not in INSTRUMENT_FAULTS:
        raise SimSetupError(f"{where}: options.sim_fault = {fault!r} is not an instrument fault; "
                            f"fix: use one of {', '.join(INSTRUMENT_FAULTS)} "
                            "(testbench/lab/faults.py)")
    after = options.get("sim_fault_after_s", 0)
    if isinstance(after, bool) or not isinstance(after, int | float) or after < 0:
        raise SimSetupError(f"{where}: options.sim_fault_after_s = {after!r} must be a number of "
                            "lab seconds >= 0")
    point = options.get("point", "output")
    if inst.driver in ANALYSERS and point not in POINTS:
        raise SimSetupError(f"{where}: options.point = {point!r}; fix: use one of "
                            f"{', '.join(repr(p) for p in POINTS)}")
    needs_charger = inst.driver in ANALYSERS and point != "site"
    if needs_charger and inst.charger is None and len(station.chargers) != 1:
        raise SimSetupError(
            f"{where}: a power analyser at station {station.id!r} with "
            f"{len(station.chargers)} chargers must say which it measures; fix: add "
            'charger = "<id>" (or options.point = "site" for the station\'s supply)')
    if inst.driver in EV_SIDE + V2G_EV + V2G_CHARGER:
        _check_ev_side(inst, lab, station)
    if inst.driver in ENERGY_MANAGERS:
        problem = lem_problem(options, inst.charger, station.chargers)
        if problem is not None:
            raise SimSetupError(f"{where}: {problem}")
    if inst.driver in DER_SETTINGS:
        problem = sunspec_problem(inst.charger, station.chargers, {
            c: spec.bidirectional for c, spec in lab.chargers.items()})
        if problem is not None:
            raise SimSetupError(f"{where}: {problem}")
    for key in ("evse", "connector"):
        value = options.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SimSetupError(f"{where}: options.{key} = {value!r} must be a number >= 1")


def _check_ev_side(inst: InstrumentSpec, lab: Lab, station: StationSpec) -> None:
    where = _where(inst, lab)
    fault = inst.options.get("sim_fault")
    if fault is not None and fault not in ("silent", "garbage", "disconnect"):
        raise SimSetupError(f"{where}: options.sim_fault = {fault!r} is not supported by the "
                            f"{inst.driver} twin; fix: use silent, garbage or disconnect")
    if inst.charger is None and len(station.chargers) != 1:
        raise SimSetupError(
            f"{where}: an EV-side instrument at station {station.id!r} with "
            f"{len(station.chargers)} chargers must say whose connector it plugs into; fix: "
            'add charger = "<id>"')
    ev = inst.options.get("ev")
    if ev is not None and ev not in station.evs:
        raise SimSetupError(f"{where}: options.ev = {ev!r} is not an EV of station "
                            f"{station.id!r}; fix: use one of {', '.join(station.evs)}")
    if inst.driver in ("ccs-can", "chademo-ev", "chademo-charger") and inst.options.get(
            "interface", "socketcan") != "socketcand":
        raise SimSetupError(f"{where}: the simulated lab serves CAN over socketcand only; fix: "
                            'add options = { interface = "socketcand" }')


# --------------------------------------------------------------------------- the plant
def node_name(station: StationSpec, charger: str | None) -> str:
    """Name of the grid node of a station (or of one charger's own grid emulator)."""
    return station.id if charger is None else f"{station.id}/{charger}"


def prepare_plant(lab: Lab, plant: Plant) -> None:
    """Create the grid nodes and say which node feeds which charger (before the chargers)."""
    for station in lab.stations.values():
        emulators = [i for i in station.instruments if i.driver in GRID_EMULATORS]
        driven: dict[str, InstrumentSpec] = {}
        for inst in emulators:
            name = node_name(station, inst.charger)
            other = driven.get(name)
            if other is not None and (other.driver, other.resource) != (inst.driver,
                                                                          inst.resource):
                raise SimSetupError(
                    f"{_where(inst, lab)}: grid emulators {other.name!r} and {inst.name!r} both "
                    f"drive {'charger ' + inst.charger if inst.charger else 'station ' + station.id}"
                    "; fix: bind each to a different charger with charger = \"<id>\"")
            driven[name] = inst
        if station.id not in plant.nodes:
            plant.add_node(station.id, driven=station.id in driven,
                           phases=_phases(driven.get(station.id)))
        for charger in station.chargers:
            own = node_name(station, charger)
            if own in driven:
                if own not in plant.nodes:
                    plant.add_node(own, driven=True, phases=_phases(driven[own]))
                plant.feed(charger, own)
            else:
                plant.feed(charger, station.id)
        if station.site is not None:
            plant.set_site_load(station.id, station.site.household_load_w,
                                station.site.pv_peak_w)


def _phases(inst: InstrumentSpec | None) -> int:
    if inst is None:
        return 3
    value = inst.options.get("phases", 3)
    return value if isinstance(value, int) and 1 <= value <= 3 else 3


# --------------------------------------------------------------------------- building
def _charger_of(plan: HostPlan) -> str | None:
    spec = plan.spec
    if spec.charger is not None:
        return spec.charger
    return plan.station.chargers[0] if len(plan.station.chargers) == 1 else None


def _count(value: object, default: int) -> int:
    if isinstance(value, list) and value:
        return max(int(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return default


def build(plan: HostPlan, plant: Plant,
          chargers: dict[str, SimCharger] | None = None) -> Hosted:
    """The twin of ``plan`` on the plant (not started); EV-side twins need the chargers."""
    spec, driver = plan.spec, plan.driver
    options = spec.options
    if driver in EV_SIDE:
        assert chargers is not None, "EV-side twins need the simulated chargers"
        return _build_ev_side(plan, chargers)
    if driver in V2G_EV:
        assert chargers is not None, "an SECC needs the simulated chargers"
        host = chargers[str(_charger_of(plan))]
        conn = host.connector(int(options.get("evse", 1)),  # type: ignore[call-overload]
                              int(options.get("connector", 1)))  # type: ignore[call-overload]
        if conn is None:
            raise SimSetupError(f"instrument {spec.name!r}: charger {host.spec.id!r} has no "
                                "such connector; fix options.evse / options.connector")
        secc = build_secc(host, conn, plan.resource, 1.0)
        return Hosted(plan, secc, "v2g_secc", lambda: False, lambda: False,  # type: ignore[arg-type]
                      secc.describe)
    if driver in V2G_CHARGER:
        assert chargers is not None, "a simulated EV needs the simulated chargers"
        ev_host = build_evcc_host(chargers[str(_charger_of(plan))],
                                  str(options.get("ev") or plan.station.evs[0]), plan.resource,
                                  options.get("current_type"))  # type: ignore[arg-type]
        return Hosted(plan, ev_host, "v2g_ev", lambda: False, lambda: False,  # type: ignore[arg-type]
                      ev_host.describe)
    if driver in ENERGY_MANAGERS:
        lem = build_lem(options, str(_charger_of(plan)), plant, chargers)
        return Hosted(plan, lem, "energy_manager", lambda: False, lambda: False, lem.describe)
    if driver in DER_SETTINGS:
        der = build_sunspec(options, str(_charger_of(plan)), plant, chargers)
        return Hosted(plan, der, "der_settings", lambda: False, lambda: False, der.describe)
    if driver in ANALYSERS:
        where = str(options.get("point", "output"))
        charger = _charger_of(plan)
        if where == "site":
            node = plant.node_of(charger) if charger else plant.nodes[plan.station.id]
            source = node.sample
        else:
            assert charger is not None
            stage = plant.stage(charger, int(options.get("evse", 1)),  # type: ignore[call-overload]
                                int(options.get("connector", 1)))  # type: ignore[call-overload]
            source = functools.partial(plant.point_sample, stage, where)
        point = NoisyPoint(source, seed_for(spec.name))
        analyser: ScpiTwin
        if driver == "yokogawa-wt":
            analyser = YokogawaWTTwin(point, elements=_count(options.get("elements"), 3))
        else:
            analyser = ZesLmgTwin(point, channels=_count(options.get("channels"), 3))

        def describe() -> dict[str, Any]:
            return {"point": where, "charger": charger,
                    "updates": getattr(analyser, "updates", getattr(analyser, "cycles", 0))}

        return Hosted(plan, analyser, "power_analyzer", lambda: False, lambda: False, describe)
    if driver in GRID_EMULATORS:
        node = plant.nodes[node_name(plan.station, spec.charger)]
        phases = node.phases
        grid_twin: ScpiTwin | ModbusTwin
        if driver == "chroma-61800":
            grid_twin = ChromaGridTwin(node, phases=phases)
        elif driver == "ametek-rsmx":
            grid_twin = AmetekRsTwin(node, phases=phases)
        else:
            grid_twin = CinergiaTwin(port=node, phases=phases)
        return _energisable(plan, grid_twin, "grid_emulator", node)
    if driver in DC_SOURCES:
        bus = plant.add_dc_bus(spec.name, spec.charger)
        dc_twin: ScpiTwin | ModbusTwin
        if driver == "ea-psb-scpi":
            dc_twin = EaPsbScpiTwin(bus)
        elif driver == "keysight-rp7900":
            dc_twin = KeysightRP7900Twin(bus)
        else:
            dc_twin = EaPsbModbusTwin(port=bus)
        return _energisable(plan, dc_twin, "dc_source", bus)
    channels = _count(options.get("channels"), 8) + _count(options.get("first_coil"), 0)
    bank = RelayBank(spec.name, channels)
    return Hosted(plan, ModbusRelayTwin(bank), "relay_box", lambda: bank.energised,
                  lambda: bank.ever_closed, bank.describe)


def _build_ev_side(plan: HostPlan, chargers: dict[str, SimCharger]) -> Hosted:
    spec = plan.spec
    charger_id = _charger_of(plan)
    assert charger_id is not None  # checked when planning
    charger = chargers[charger_id]
    if plan.driver == "chademo-charger":  # a simulated vehicle on the bench's CAN bus
        match = CAN_RESOURCE.match(plan.resource.strip())
        assert match is not None  # checked when planning
        ev_id = str(spec.options.get("ev") or plan.station.evs[0])
        car = chademo_vehicle_side(spec, charger.evs[ev_id], charger.clock, match.group(1))
        return Hosted(plan, car, "can_node", lambda: False, lambda: False, car.describe)
    evse = int(spec.options.get("evse", 1))  # type: ignore[call-overload]
    number = int(spec.options.get("connector", 1))  # type: ignore[call-overload]
    conn = charger.connector(evse, number)
    if conn is None:
        raise SimSetupError(f"instrument {spec.name!r}: charger {charger_id!r} has no EVSE "
                            f"{evse} connector {number}; fix options.evse / options.connector")
    ev = spec.options.get("ev") or (plan.station.evs[0] if plan.station.evs else None)
    pilot = ConnectorPilot(ConnectorIo(charger, conn), str(ev) if ev is not None else None)
    twin: EvSide
    if plan.driver == "cp-serial":
        twin = SerialEvSide(pilot)
        kind = "ev_emulator"
    elif plan.driver == "chademo-ev":
        match = CAN_RESOURCE.match(plan.resource.strip())
        assert match is not None  # checked when planning
        twin = chademo_side(spec, charger, conn, pilot, match.group(1))
        kind = "can_node"
    else:
        match = CAN_RESOURCE.match(plan.resource.strip())
        assert match is not None  # checked when planning
        twin = CanEvSide(pilot, f"testbench-sim-{spec.name}", match.group(1),
                         charger.spec.max_current_a)
        kind = "can_node"
    where = {"charger": charger_id, "evse": evse, "connector": number}

    def describe() -> dict[str, Any]:
        return {**where, **twin.describe()}

    return Hosted(plan, twin, kind, lambda: twin.energised, lambda: pilot.ever_plugged,
                  describe)


def _energisable(plan: HostPlan, twin: ScpiTwin | ModbusTwin, kind: str,
                 port: GridNode | DCBus) -> Hosted:
    return Hosted(plan, twin, kind, port.output_on, lambda: port.ever_on, port.describe)


# --------------------------------------------------------------------------- running
async def start(hosted: Hosted, clock: LabClock) -> int:
    """Listen on the plan's address, switch on its fault personality; the bound port."""
    plan, twin = hosted.plan, hosted.twin
    if isinstance(twin, ScpiTwin | SeccHost):
        twin.time_scale = clock.scale
    try:
        port = await twin.start(plan.host, plan.port)
    except OSError as error:
        names = ", ".join(repr(n) for n in plan.names)
        raise SimSetupError(
            f"instrument {names} (resource {plan.resource}): cannot listen on {plan.host} port "
            f"{plan.port}: {error.strerror or error}; fix: stop the process using port "
            f"{plan.port} (e.g. a simulated lab still running) or choose a free port in the "
            "lab file") from error
    hosted.port = port
    fault = plan.spec.options.get("sim_fault")
    if fault is not None:
        after_s = float(plan.spec.options.get("sim_fault_after_s", 0))  # type: ignore[arg-type]
        if fault == "disconnect" and after_s > 0:
            asyncio.get_running_loop().call_later(clock.wall_duration(after_s), apply_fault,
                                                  twin, fault)
        else:
            apply_fault(twin, str(fault))
    return port


def apply_fault(twin: ScpiTwin | ModbusTwin | EvSide, fault: str) -> None:
    """Switch an instrument fault personality on (see ``INSTRUMENT_FAULTS``)."""
    if isinstance(twin, EV_SIDE_TYPES):
        twin.set_fault(fault)
        return
    if isinstance(twin, ScpiTwin):
        if fault == "garbage":
            twin.garbage_replies = True
        elif fault == "silent":
            twin.silent = True
        elif fault == "error-queue":
            twin.error_on_settings = True
        elif fault == "disconnect":
            twin.drop_on_request = True
            twin.disconnect()
        return
    twin.set_fault({"error-queue": "exception"}.get(fault, fault))


def resource_key(plan: HostPlan, port: int) -> str:
    """How the READY line names a twin (a port-0 resource by the port it got)."""
    if plan.port != 0 or plan.driver in V2G_EV + V2G_CHARGER:
        return plan.resource
    if plan.driver in MODBUS:
        return f"{plan.host}:{port}"
    if plan.driver == "cp-serial":
        return f"socket://{plan.host}:{port}"
    if plan.driver in ("ccs-can", "chademo-ev", "chademo-charger"):
        return f"{plan.resource.split('@', 1)[0]}@{plan.host}:{port}"
    return f"TCPIP::{plan.host}::{port}::SOCKET"
