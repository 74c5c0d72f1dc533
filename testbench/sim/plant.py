"""The physical plant behind the simulated lab: supply, power stages, EVs, site loads.

One :class:`Plant` per simulated lab, integrated in lab time. It holds

* grid nodes (:mod:`testbench.sim.grid_node`): a stiff 230 V / 50 Hz supply, or a node
  driven by a grid emulator twin;
* one :class:`PowerStage` per charger connector: AC (1 or 3 phases) or DC, with an
  efficiency between input and output, the current limit currently offered
  (:meth:`PowerStage.set_limit_a`, the seam for smart charging and a local energy manager),
  a response delay and a first-order response, and signed power (+ import/charging,
  - export);
* the EV battery behind each stage (:mod:`testbench.sim.battery`);
* DC buses and relay banks (:mod:`testbench.sim.dc_bus`) driven by their twins;
* household load and PV per grid node (:class:`SiteLoad`, constants for now).

Power balances: a stage's input is its output over the efficiency (plus standby), a node
carries the inputs of the stages it feeds plus its site load. The charger's OCPP energy
register (:class:`ChargerMeter`) and every measuring point read the same integrated energy,
so what the charger reports and what an analyser measures agree.

The charger logic (``testbench.sim.charger``) decides what current the EV draws and when the
contactor is closed (:meth:`PowerStage.command`); the stage supplies the dynamics. The plant
is advanced lazily to "now" whenever something reads or changes it, and by :meth:`Plant.run`
every ``TICK_S`` (which also tells the charger logic when an EV's limit changed). It is not
thread-safe: it lives on the simulated lab's event loop.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from instruments.twins.ports import PhaseSample, PointSample
from testbench.lab.model import ChargerSpec, EVSpec
from testbench.sim.battery import ONBOARD_EFFICIENCY_AC, EvBattery
from testbench.sim.dc_bus import DCBus
from testbench.sim.grid_node import GridNode
from testbench.sim.reactive import with_node_reactive, with_reactive

if TYPE_CHECKING:
    from testbench.sim.gridcode import GridBehaviour

EFFICIENCY_AC = 0.98
"""Output over input energy of an AC charger (contactor, meter and electronics losses)."""

EFFICIENCY_DC = 0.95
"""Output over input energy of a DC charger (its power converter)."""

STANDBY_W = 5.0
"""What a supplied charger draws on L1 when idle."""

RESPONSE_DELAY_S = 0.05
"""Lab seconds from a new current command to the current starting to move.

The default dynamics are fast (settled well within a lab second) so the energy of a session
hardly differs from "full current from the contactor closing"; a charger or EV with a
slower response gets its own :class:`StageParams` (the seam for tests of response times)."""

TIME_CONSTANT_S = 0.05
"""First-order time constant of the current response, lab seconds."""

DC_PACK_VOLTAGE_V = (360.0, 410.0)
"""EV pack voltage at 0 % and 100 % state of charge (DC charging without a battery emulator)."""

MAX_STEP_S = 1.0
"""Largest integration step while nothing slews (the response is integrated exactly)."""

SLEW_STEP_S = 0.02
"""Integration step while a grid node's voltage or frequency slews."""

TICK_S = 0.5
"""Lab seconds between the plant's own updates (EV state of charge, taper notices)."""

LIMIT_NOTICE_A = 0.1
"""Change of an EV's current limit that makes the plant tell the charger logic."""


class Clock(Protocol):
    """Anything with lab time (``testbench.clock.LabClock`` or a test clock)."""

    def now(self) -> float: ...


@dataclass
class StageParams:
    """Dynamics and losses of one charger's power stage."""

    efficiency: float
    response_delay_s: float = RESPONSE_DELAY_S
    time_constant_s: float = TIME_CONSTANT_S
    standby_w: float = STANDBY_W

    @classmethod
    def for_charger(cls, spec: ChargerSpec) -> StageParams:
        return cls(EFFICIENCY_DC if spec.current_type == "DC" else EFFICIENCY_AC)


@dataclass
class SiteLoad:
    """Household load and PV at a grid node (W, both >= 0; PV is generation)."""

    household_w: float = 0.0
    pv_w: float = 0.0


SITE_LOADS: dict[str, SiteLoad] = {}
"""Default household load and PV per grid node name (a station id); a station's
``[stations.site]`` table in lab.toml overrides it (``hosting.prepare_plant``)."""


# --------------------------------------------------------------------------- power stage
class PowerStage:
    """One charger connector's power path: supply node -> converter -> outlet -> EV."""

    def __init__(self, spec: ChargerSpec, evse_id: int, connector_id: int, node: GridNode,
                 params: StageParams, sync: Callable[[], None], now: Callable[[], float]) -> None:
        self.spec = spec
        self.evse_id = evse_id
        self.connector_id = connector_id
        self.node = node
        self.params = params
        self.dc = spec.current_type == "DC"
        self.limit_a: float | None = None
        self.battery: EvBattery | None = None
        self.dc_bus: DCBus | None = None
        self.supplied = True
        self.grid: GridBehaviour | None = None  # grid-code behaviour (testbench.sim.gridcode)
        self.on_ev_change: Callable[[], None] = lambda: None
        self.caps_a: dict[str, float] = {}  # other limit sources by name (a local energy manager)
        self.setpoint_a: float | None = None  # a service's signed setpoint (frequency_service)
        self.service: Any = None  # ticked with the plant (testbench.sim.frequency_service)
        self._sync = sync
        self._now = now
        self._closed = False
        self._phases = 0
        self._commanded_a = 0.0
        self._target_a = 0.0
        self._pending: deque[tuple[float, float]] = deque()
        self._noticed_limit_a: float | None = None
        self.current_a = 0.0  # actual, signed: + charging, - discharging
        self.out_import_wh = 0.0
        self.out_export_wh = 0.0
        self.in_import_wh = 0.0
        self.in_export_wh = 0.0

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.spec.id, self.evse_id, self.connector_id)

    # ------------------------------------------------------------------ seams
    def set_limit_a(self, limit_a: float | None) -> None:
        """The current the charger may offer now (None: its maximum). Negative: discharge.

        Smart charging (OCPP profiles) and a local energy manager set this; the charger
        logic reads it through :meth:`offered_limit_a` and re-commands the stage.
        """
        self.limit_a = None if limit_a is None else float(limit_a)
        self.on_ev_change()

    def set_cap_a(self, source: str, limit_a: float | None) -> None:
        """A further limit on the current's magnitude from ``source`` (None: removed); the
        lowest of these and :meth:`set_limit_a`'s limit applies (a local energy manager)."""
        if limit_a is None:
            self.caps_a.pop(source, None)
        else:
            self.caps_a[source] = max(0.0, float(limit_a))
        self.on_ev_change()

    def set_setpoint_a(self, setpoint_a: float | None) -> None:
        """A signed current setpoint replacing the limit (None: back to the limit)."""
        self.setpoint_a = None if setpoint_a is None else float(setpoint_a)
        self.on_ev_change()

    def offered_limit_a(self) -> float:
        """The charger's maximum, reduced by the limit set through :meth:`set_limit_a` (or
        replaced by a setpoint), and capped by :meth:`set_cap_a`'s limits."""
        maximum = float(self.spec.max_current_a)
        wanted = self.limit_a if self.setpoint_a is None else self.setpoint_a
        if wanted is None:
            value = maximum
        elif wanted < 0:
            value = max(-maximum, wanted)
        else:
            value = min(maximum, wanted)
        for cap in self.caps_a.values():
            value = max(-cap, min(cap, value))
        return value

    def attach_ev(self, ev: EVSpec | None, fresh: bool) -> None:
        """The EV in front of the connector (``fresh``: it arrives with its initial SoC)."""
        if ev is None:
            self.battery = None
        elif fresh or self.battery is None or self.battery.spec.id != ev.id:
            self.battery = EvBattery.fresh(ev)
        self._noticed_limit_a = None

    def command(self, current_a: float, phases: int, closed: bool) -> None:
        """What the charger logic decided: the EV's current, its phases, the contactor.

        Opening the contactor stops the current at once; a new current is followed after the
        response delay with the first-order time constant.
        """
        self._sync()
        if not closed:
            if self.grid is not None:
                self.grid.session_ended()
            self._closed = False
            self._phases = 0
            self._commanded_a = self._target_a = self.current_a = 0.0
            self._pending.clear()
            return
        if not self._closed:
            self._closed = True
            self.current_a = self._target_a = 0.0
            self._pending.clear()
            self._commanded_a = 0.0
        self._phases = 1 if self.dc else max(1, phases)
        if current_a != self._commanded_a:
            self._commanded_a = float(current_a)
            self._pending.append((self._now() + self.params.response_delay_s, self._commanded_a))

    # ------------------------------------------------------------------ electrical view
    def output_voltages_v(self) -> list[float]:
        """Outlet voltage per conductor (AC: each phase of the charger; DC: the bus/pack).

        The outlet is dead while the contactor is open.
        """
        if self.dc:
            return [self._dc_voltage_v() if self._closed else 0.0]
        if not self._closed:
            return [0.0] * self.spec.phases
        return [self.node.phase_voltage_v(n) for n in range(self.spec.phases)]

    def _dc_voltage_v(self) -> float:
        if self.dc_bus is not None:
            return self.dc_bus.voltage_v if self.dc_bus.on else 0.0
        if self.battery is None:
            return 0.0
        low, high = DC_PACK_VOLTAGE_V
        return low + (high - low) * self.battery.soc_pct / 100.0

    def _can_flow(self) -> bool:
        if not self._closed or not self.supplied:
            return False
        if self.grid is not None and self.grid.tripped:
            return False
        if self.dc:
            return self._dc_voltage_v() > 0 and self.node.mains_ok(0)
        return all(self.node.mains_ok(n) for n in range(min(self._phases, self.node.phases)))

    def _current_cap_a(self) -> float:
        """DC: the current the stage's power rating allows at the present voltage."""
        if not self.dc:
            return math.inf
        voltage = self._dc_voltage_v()
        return self.spec.max_power_w / voltage if voltage > 0 else 0.0

    def output_phase_currents_a(self) -> list[float]:
        """Signed current per outlet conductor now."""
        count = 1 if self.dc else self.spec.phases
        return [self.current_a if n < self._phases else 0.0 for n in range(count)]

    def output_power_w(self) -> float:
        """Signed active power at the outlet now (+ to the EV)."""
        return sum(v * i for v, i in zip(self.output_voltages_v(), self.output_phase_currents_a(),
                                          strict=True))

    def input_phase_powers_w(self) -> list[float]:
        """Signed active power per supply phase now (losses and standby included)."""
        node_phases = self.node.phases
        powers = [0.0] * node_phases
        if self.dc:
            total = _input_of(self.output_power_w(), self.params.efficiency)
            for n in range(node_phases):
                powers[n] = total / node_phases
        else:
            for n, (v, i) in enumerate(zip(self.output_voltages_v(),
                                           self.output_phase_currents_a(), strict=True)):
                if n < node_phases:
                    powers[n] = _input_of(v * i, self.params.efficiency)
        if self.supplied and self.node.mains_ok(0):
            powers[0] += self.params.standby_w
        return powers

    def input_phase_currents_a(self) -> list[float]:
        """RMS current per supply phase now."""
        out = []
        for n, p in enumerate(self.input_phase_powers_w()):
            v = self.node.phase_voltage_v(n)
            out.append(abs(p) / v if v > 0 else 0.0)
        return out

    # ------------------------------------------------------------------ integration
    def next_event_s(self) -> float | None:
        return self._pending[0][0] if self._pending else None

    def advance(self, t0: float, dt_s: float) -> None:
        """Integrate ``dt_s`` lab seconds from ``t0`` (no command takes effect inside)."""
        while self._pending and self._pending[0][0] <= t0 + 1e-12:
            self._target_a = self._pending.popleft()[1]
        if self.grid is not None:
            self.grid.advance(t0, dt_s, self.node)
            if self.grid.reactive is not None:  # Q and P(U) (testbench.sim.reactive)
                self.grid.reactive.advance(dt_s, self, self._can_flow())
        if not self._can_flow():
            self.current_a = 0.0
            self._account(0.0, 0.0, dt_s)
            return
        target = max(-self._current_cap_a(), min(self._target_a, self._current_cap_a()))
        if self.grid is not None:
            target = self._grid_target_a(target, t0 + dt_s)
        i0 = self.current_a
        tau = self.params.time_constant_s
        if tau <= 0:
            i1, mean_a = target, target
        else:
            decay = math.exp(-dt_s / tau)
            i1 = target + (i0 - target) * decay
            mean_a = target + (i0 - target) * tau * (1.0 - decay) / dt_s if dt_s > 0 else i0
        if abs(i1 - target) < 1e-6:
            i1 = target
        self.current_a = i1
        voltages = self.output_voltages_v()
        phases = min(self._phases, len(voltages))
        out_w = sum(voltages[:phases]) * mean_a
        self._account(out_w, _input_of(out_w, self.params.efficiency), dt_s)

    def _grid_target_a(self, target_a: float, t_s: float) -> float:
        """The commanded current with the grid-code power adjustment, within the limits."""
        assert self.grid is not None
        voltages = self.output_voltages_v()
        volts = sum(voltages[:min(self._phases, len(voltages))])
        if volts <= 0:
            return target_a
        maximum = min(float(self.spec.max_current_a), self._current_cap_a())
        ev_bidirectional = self.battery is not None and self.battery.spec.bidirectional
        crossing = target_a < 0 or bool(self.grid.params.lfsm_u.charging_to_feed_in_allowed)
        low = -maximum if ev_bidirectional and crossing else min(0.0, target_a)
        adjusted = max(low, min(maximum, target_a + self.grid.delta_w / volts))
        if self.grid.reactive is not None:  # P(U): export cap (testbench.sim.reactive)
            adjusted = max(adjusted, -self.grid.reactive.export_cap_w / volts)
        cap_a = self.grid.power_cap_w(t_s) / volts
        return max(-cap_a, min(cap_a, adjusted))

    def _account(self, out_w: float, in_w: float, dt_s: float) -> None:
        if self.supplied and self.node.mains_ok(0):
            in_w += self.params.standby_w
        out_wh, in_wh = out_w * dt_s / 3600.0, in_w * dt_s / 3600.0
        if out_wh >= 0:
            self.out_import_wh += out_wh
        else:
            self.out_export_wh -= out_wh
        if in_wh >= 0:
            self.in_import_wh += in_wh
        else:
            self.in_export_wh -= in_wh
        if self.battery is not None and out_wh != 0:
            efficiency = 1.0 if self.dc else ONBOARD_EFFICIENCY_AC
            self.battery.store_wh(out_wh * efficiency if out_wh > 0 else out_wh / efficiency)

    def ev_limit_changed(self) -> bool:
        """Whether the EV's current limit moved by ``LIMIT_NOTICE_A`` since last asked."""
        limit = self.battery.charge_limit_a() if self.battery is not None else None
        last = self._noticed_limit_a
        if limit is None:
            self._noticed_limit_a = None
            return False
        if last is None or abs(limit - last) >= LIMIT_NOTICE_A or (limit == 0) != (last == 0):
            self._noticed_limit_a = limit
            return last is not None
        return False


def _input_of(out_w: float, efficiency: float) -> float:
    """Supply-side power of an outlet power (losses taken from the supply in both directions)."""
    return out_w / efficiency if out_w >= 0 else out_w * efficiency


# --------------------------------------------------------------------------- charger meter
class ChargerMeter:
    """The charger's own energy meter at the outlet: what it reports over OCPP.

    ``register_factor`` > 1 models a meter counting more than it measures
    (fault ``meter-overreports-energy``); :meth:`adjust` jumps the register.
    """

    def __init__(self, stage: PowerStage, initial_wh: float, register_factor: float = 1.0
                 ) -> None:
        self.stage = stage
        self.initial_wh = initial_wh
        self.register_factor = register_factor
        self.offset_wh = 0.0

    def read_wh(self) -> float:
        """The import register now (Wh)."""
        self.stage._sync()
        return self.initial_wh + self.register_factor * self.stage.out_import_wh + self.offset_wh

    @property
    def power_w(self) -> float:
        """Active import power at the outlet now (W, >= 0)."""
        self.stage._sync()
        return max(0.0, self.stage.output_power_w())

    @property
    def current_a(self) -> float:
        """Current per phase at the outlet now (A, >= 0)."""
        self.stage._sync()
        return abs(self.stage.current_a)

    def adjust(self, delta_wh: float) -> None:
        """Jump the register (a faulty meter)."""
        self.offset_wh += delta_wh


# --------------------------------------------------------------------------- the plant
class Plant:
    """Every grid node, power stage, DC bus and relay bank of one simulated lab."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.nodes: dict[str, GridNode] = {}
        self.stages: dict[tuple[str, int, int], PowerStage] = {}
        self.buses: dict[str, DCBus] = {}
        self.site: dict[str, SiteLoad] = {}
        self._feeds: dict[str, str] = {}  # charger id -> node name
        self._node_import_wh: dict[str, float] = {}
        self._t = clock.now()

    # ------------------------------------------------------------------ building
    def add_node(self, name: str, phases: int = 3, *, driven: bool = False) -> GridNode:
        """A grid node (stiff unless ``driven`` by a grid emulator); the same name twice errs."""
        if name in self.nodes:
            raise ValueError(f"grid node {name!r} exists already")
        node = GridNode(name, phases, driven=driven)
        node.sync = self.advance
        node.sampler = self._node_sample
        self.nodes[name] = node
        self._node_import_wh[name] = 0.0  # net energy through the node (import - export)
        self.site.setdefault(name, SITE_LOADS.get(name, SiteLoad()))
        return node

    def feed(self, charger_id: str, node_name: str) -> None:
        """Supply ``charger_id`` from the node ``node_name`` (before its stages are added)."""
        self._feeds[charger_id] = node_name

    def node_of(self, charger_id: str) -> GridNode:
        """The node supplying a charger (a stiff default node when none was assigned)."""
        name = self._feeds.get(charger_id, "grid")
        if name not in self.nodes:
            self.add_node(name)
        return self.nodes[name]

    def add_stage(self, spec: ChargerSpec, evse_id: int, connector_id: int) -> PowerStage:
        stage = PowerStage(spec, evse_id, connector_id, self.node_of(spec.id),
                           StageParams.for_charger(spec), self.advance, self.clock.now)
        self.stages[stage.key] = stage
        return stage

    def stage(self, charger_id: str, evse_id: int = 1, connector_id: int = 1) -> PowerStage:
        try:
            return self.stages[(charger_id, evse_id, connector_id)]
        except KeyError:
            raise KeyError(f"no power stage for charger {charger_id!r} EVSE {evse_id} "
                           f"connector {connector_id}") from None

    def add_dc_bus(self, name: str, charger_id: str | None = None) -> DCBus:
        """A battery-emulator bus, bound to the DC charger ``charger_id`` if given."""
        bus = DCBus(name)
        bus.sync = self.advance
        stages = [s for s in self.stages.values() if s.spec.id == charger_id and s.dc]
        for stage in stages:
            stage.dc_bus = bus
        bus.load_current_a = lambda: sum(s.current_a for s in stages)
        self.buses[name] = bus
        return bus

    def set_site_load(self, node_name: str, household_w: float = 0.0, pv_w: float = 0.0) -> None:
        """Household load and PV at a node (from ``[stations.site]``, or a test's seam)."""
        self.advance()
        self.site[node_name] = SiteLoad(household_w, pv_w)

    def set_supplied(self, charger_id: str, on: bool) -> None:
        """The charger's supply switch (its stages draw nothing while off)."""
        self.advance()
        for stage in self.stages.values():
            if stage.spec.id == charger_id:
                stage.supplied = on

    # ------------------------------------------------------------------ time
    def advance(self, now: float | None = None) -> None:
        """Integrate every node and stage up to ``now`` (lab time; default: the clock's)."""
        end = self.clock.now() if now is None else now
        while self._t < end:
            t0 = self._t
            fine = any(n.slewing for n in self.nodes.values()) or any(
                s.grid is not None and s.grid.busy(s.node) for s in self.stages.values())
            step = SLEW_STEP_S if fine else MAX_STEP_S
            t1 = min(end, t0 + step)
            for stage in self.stages.values():
                event = stage.next_event_s()
                if event is not None and t0 < event < t1:
                    t1 = event
            dt = t1 - t0
            for node in self.nodes.values():
                node.advance(dt)
                site = self.site.get(node.name)
                if site is not None and node.on:
                    self._node_import_wh[node.name] += (
                        (site.household_w - site.pv_w) * dt / 3600.0)
            for stage in self.stages.values():
                before = stage.in_import_wh - stage.in_export_wh
                stage.advance(t0, dt)
                self._node_import_wh[stage.node.name] += (
                    stage.in_import_wh - stage.in_export_wh - before)
            self._t = t1

    def tick(self) -> None:
        """Advance to now and tell the charger logic about EVs whose limit moved."""
        self.advance()
        for stage in list(self.stages.values()):
            if stage.service is not None:
                stage.service.tick()
            if stage.ev_limit_changed():
                stage.on_ev_change()

    async def run(self) -> None:
        """Tick every ``TICK_S`` lab seconds until cancelled."""
        scale = getattr(self.clock, "scale", 1.0)
        while True:
            await asyncio.sleep(TICK_S / scale)
            self.tick()

    # ------------------------------------------------------------------ measuring
    def _node_phase_powers_w(self, node: GridNode) -> list[float]:
        powers = [0.0] * node.phases
        for stage in self.stages.values():
            if stage.node is node:
                for n, p in enumerate(stage.input_phase_powers_w()):
                    powers[n] += p
        site = self.site.get(node.name)
        if site is not None and node.on:
            for n in range(node.phases):
                powers[n] += (site.household_w - site.pv_w) / node.phases
        return powers

    def _node_sample(self, node: GridNode) -> PointSample:
        self.advance()
        phases = []
        for n, p in enumerate(self._node_phase_powers_w(node)):
            v = node.phase_voltage_v(n)
            i = abs(p) / v if v > 0 else 0.0
            phases.append(PhaseSample(v, i, p if v > 0 else 0.0))
        sample = PointSample(self._t, tuple(phases), node.frequency_hz,
                             self._node_import_wh[node.name])
        return with_node_reactive(sample, [s for s in self.stages.values() if s.node is node])

    def point_sample(self, stage: PowerStage, where: str) -> PointSample:
        """A stage's ``"output"`` (outlet) or ``"input"`` (supply) now, without noise."""
        sample = self._point_sample(stage, where)
        return with_reactive(sample, stage, where)  # Q per phase (testbench.sim.reactive)

    def _point_sample(self, stage: PowerStage, where: str) -> PointSample:
        self.advance()
        if where == "output":
            voltages = stage.output_voltages_v()
            currents = stage.output_phase_currents_a()
            phases = tuple(PhaseSample(v, abs(i), v * i) for v, i in zip(voltages, currents,
                                                                       strict=True))
            frequency = 0.0 if stage.dc else stage.node.frequency_hz
            return PointSample(self._t, phases, frequency, stage.out_import_wh,
                               stage.out_export_wh)
        if where == "input":
            powers = stage.input_phase_powers_w()
            currents = stage.input_phase_currents_a()
            phases = tuple(PhaseSample(stage.node.phase_voltage_v(n), currents[n], powers[n])
                           for n in range(stage.node.phases))
            return PointSample(self._t, phases, stage.node.frequency_hz, stage.in_import_wh,
                               stage.in_export_wh)
        raise ValueError(f"unknown measuring point {where!r}; use 'output' or 'input'")
