"""Grid behaviour of a simulated bidirectional charger: what a grid code asks of it.

One :class:`GridBehaviour` per power stage of a bidirectional charger, built from the
station's grid-code parameter set (``grid_code`` in lab.toml) and the charger's fault
personalities. The power stage asks it, at every integration step, for

* the **active-power adjustment** (W, + import) on top of what the charger logic commanded:
  LFSM-O above ``lfsm_o.threshold_hz`` (less export, or more charging) and LFSM-U below
  ``lfsm_u.threshold_hz`` (less charging, crossing into discharging when the set allows
  it and the EV is bidirectional), with the intentional delay and a first-order response
  reaching 90 % at ``RESPONSE_FRACTION`` of the set's response time;
* whether the **interface protection** has disconnected it: every enabled stage (81, 27,
  59; not the 10-minute mean ``59avg``) trips once its quantity has been beyond the
  threshold for the trip time;
* **reconnection** after a trip: back in the reconnection window for the observation time,
  then the power ramps up at ``reconnection.ramp_pct_per_min`` of the rated power.

The droop reference power is the stage's rated power (``P_ref = P_max``, documented choice
for storage). Faults: ``wrong-droop`` (droop x ``WRONG_DROOP_FACTOR``), ``too-slow``
(90 % at ``TOO_SLOW_FACTOR`` x the response time), ``protection-trips-late`` (trip time +
``LATE_TRIP_S``), ``reconnects-early`` (after ``EARLY_FACTOR`` x the observation time),
``ramps-too-fast`` (``FAST_RAMP_FACTOR`` x the ramp rate). Everything runs in lab time; the plant steps finely while :meth:`busy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from testbench.gridcode.params import GridCodeParameters, ProtectionStage, load_parameter_set
from testbench.sim.reactive import ReactiveBehaviour
from testbench.sim.ride_through import FaultyRelays, faulty_relays

if TYPE_CHECKING:
    from testbench.lab.model import Lab
    from testbench.sim.grid_node import GridNode
    from testbench.sim.plant import Plant, PowerStage

RESPONSE_FRACTION = 0.5
"""The conformant unit reaches 90 % of a power change in this fraction of the response time."""

WRONG_DROOP_FACTOR = 1.6
TOO_SLOW_FACTOR = 3.0
LATE_TRIP_S = 0.5
EARLY_FACTOR = 0.5
FAST_RAMP_FACTOR = 2.0
TRIP_DELAY_S = 0.02
"""The conformant relay's own operating time on top of the set trip time."""

SETTLED_W = 1.0
"""A power adjustment closer than this to its target counts as settled."""

SKIPPED_STAGES = ("59avg",)
"""Protection stages the simulation does not model (the 10-minute mean voltage)."""


@dataclass
class _Timer:
    stage: ProtectionStage
    since_s: float | None = None


@dataclass
class Trip:
    """Why and when the interface protection disconnected the unit."""

    code: str
    at_s: float
    value: float


@dataclass
class GridBehaviour:
    """Grid-code behaviour of one power stage (see module docstring)."""

    params: GridCodeParameters
    rated_w: float
    faults: tuple[str, ...] = ()
    delta_w: float = 0.0
    trip: Trip | None = None
    trips: list[Trip] = field(default_factory=list)
    _timers: list[_Timer] = field(default_factory=list)
    _deviation_since_s: float | None = None
    _window_since_s: float | None = None
    _reconnected_at_s: float | None = None
    reactive: ReactiveBehaviour | None = None  # Q modes and P(U) (testbench.sim.reactive)
    relays: FaultyRelays | None = None  # fault trips-in-ride-through (sim.ride_through)
    lfsm_settings: dict[str, dict[str, float]] = field(default_factory=dict)
    """LFSM values written over SunSpec 711 (testbench.sim.sunspec), by mode ("lfsm_o",
    "lfsm_u") and name (threshold_hz, droop_pct, response_time_s); else the set's."""

    def _lfsm(self, which: str, name: str) -> float:
        written = self.lfsm_settings.get(which, {})
        return float(written[name]) if name in written else float(
            getattr(getattr(self.params, which), name))

    def __post_init__(self) -> None:
        self._timers = [_Timer(s) for s in self.params.protection.enabled()
                        if s.code not in SKIPPED_STAGES]
        self.reactive = ReactiveBehaviour(self.params, self.rated_w, self.faults)
        self.relays = faulty_relays(self.params, self.faults)

    # ------------------------------------------------------------------ settings
    @property
    def nominal_hz(self) -> float:
        return float(self.params.nominal.frequency_hz)

    @property
    def nominal_v(self) -> float:
        return float(self.params.nominal.voltage_v)

    def droop_pct(self, which: str) -> float:
        droop = self._lfsm(which, "droop_pct")
        return droop * WRONG_DROOP_FACTOR if "wrong-droop" in self.faults else droop

    def tau_s(self, which: str) -> float:
        """Time constant of the power response (90 % at the fraction of the response time)."""
        tr = self._lfsm(which, "response_time_s") * RESPONSE_FRACTION
        if "too-slow" in self.faults:
            tr = self._lfsm(which, "response_time_s") * TOO_SLOW_FACTOR
        return tr / math.log(10.0)

    def trip_time_s(self, stage: ProtectionStage) -> float:
        late = LATE_TRIP_S if "protection-trips-late" in self.faults else 0.0
        return stage.trip_time_s + TRIP_DELAY_S + late

    # ------------------------------------------------------------------ characteristics
    def target_delta_w(self, frequency_hz: float) -> tuple[float, str | None]:
        """Required power change (W, + import) at ``frequency_hz``, and the mode acting."""
        o_hz, u_hz = self._lfsm("lfsm_o", "threshold_hz"), self._lfsm("lfsm_u", "threshold_hz")
        if frequency_hz > o_hz:
            excess = frequency_hz - o_hz
            return self.rated_w * excess / (self.nominal_hz * self.droop_pct("lfsm_o") / 100.0), \
                "lfsm_o"
        if frequency_hz < u_hz:
            deficit = u_hz - frequency_hz
            return -self.rated_w * deficit / (self.nominal_hz * self.droop_pct("lfsm_u") / 100.0), \
                "lfsm_u"
        return 0.0, None

    # ------------------------------------------------------------------ integration
    def advance(self, t0_s: float, dt_s: float, node: GridNode) -> None:
        """Integrate ``dt_s`` lab seconds from ``t0_s`` at the node's present state."""
        t1 = t0_s + dt_s
        self._protect(t1, node)
        target, mode = self.target_delta_w(node.frequency_hz)
        if mode is None:
            self._deviation_since_s = None
        elif self._deviation_since_s is None:
            self._deviation_since_s = t0_s
        delay = float(getattr(self.params, mode).intentional_delay_s) if mode else 0.0
        if mode is not None and self._deviation_since_s is not None and (
                t1 - self._deviation_since_s < delay):
            target = self.delta_w
        tau = self.tau_s(mode or "lfsm_o")
        self.delta_w = target + (self.delta_w - target) * math.exp(-dt_s / tau)
        if abs(self.delta_w - target) < 1e-3:
            self.delta_w = target

    def _protect(self, t_s: float, node: GridNode) -> None:
        if self.trip is not None:
            self._reconnect(t_s, node)
            return
        if not node.on:
            return  # a dead supply: nothing flows, the relay has nothing to judge
        for timer in self._timers:
            value = self._value(timer.stage, node)
            beyond = value < timer.stage.threshold if timer.stage.trips_below else (
                value > timer.stage.threshold)
            if not beyond:
                timer.since_s = None
                continue
            if timer.since_s is None:
                timer.since_s = t_s
            if t_s - timer.since_s >= self.trip_time_s(timer.stage) - 1e-9:
                self._trip_now(Trip(timer.stage.code, t_s, value))
                return
        hit = self.relays.check(t_s, node) if self.relays is not None else None
        if hit is not None:
            self._trip_now(Trip(hit[0], t_s, hit[1]))

    def _trip_now(self, trip: Trip) -> None:
        self.trip = trip
        self.trips.append(trip)
        self._window_since_s = None
        self._reconnected_at_s = None
        self.delta_w = 0.0
        for other in self._timers:
            other.since_s = None
        if self.relays is not None:
            self.relays.reset()

    def _value(self, stage: ProtectionStage, node: GridNode) -> float:
        if stage.quantity == "frequency":
            return node.frequency_hz
        volts = [node.phase_voltage_v(n) / self.nominal_v for n in range(node.phases)]
        return min(volts) if stage.trips_below else max(volts)

    def _reconnect(self, t_s: float, node: GridNode) -> None:
        rec = self.params.reconnection
        volts = [node.phase_voltage_v(n) / self.nominal_v for n in range(node.phases)]
        inside = node.on and all(rec.voltage_min_pu <= v <= rec.voltage_max_pu for v in volts) \
            and rec.frequency_min_hz <= node.frequency_hz <= rec.frequency_max_hz
        if not inside:
            self._window_since_s = None
            return
        if self._window_since_s is None:
            self._window_since_s = t_s
        observation = float(rec.observation_time_s)
        if "reconnects-early" in self.faults:
            observation *= EARLY_FACTOR
        if t_s - self._window_since_s >= observation:
            self.trip = None
            self._reconnected_at_s = t_s

    def session_ended(self) -> None:
        """The contactor opened: a reconnection ramp in progress ends with the session."""
        self._reconnected_at_s = None

    # ------------------------------------------------------------------ what the stage asks
    @property
    def tripped(self) -> bool:
        return self.trip is not None

    def power_cap_w(self, t_s: float) -> float:
        """Largest |power| allowed now (the ramp after a reconnection), W."""
        if self._reconnected_at_s is None:
            return math.inf
        ramp_w_per_s = self.rated_w * float(self.params.reconnection.ramp_pct_per_min) / 6000.0
        if "ramps-too-fast" in self.faults:
            ramp_w_per_s *= FAST_RAMP_FACTOR
        cap = ramp_w_per_s * (t_s - self._reconnected_at_s)
        if cap >= self.rated_w:
            self._reconnected_at_s = None
            return math.inf
        return cap

    def busy(self, node: GridNode) -> bool:
        """Whether the plant must integrate finely (a response moving, a timer running)."""
        if self.trip is not None or self._reconnected_at_s is not None:
            return True
        if any(t.since_s is not None for t in self._timers):
            return True
        if self.reactive is not None and self.reactive.busy():
            return True
        target, mode = self.target_delta_w(node.frequency_hz)
        if mode is not None or abs(self.delta_w - target) > 0:
            return True
        return any(self._near(t.stage, node) for t in self._timers)

    def _near(self, stage: ProtectionStage, node: GridNode) -> bool:
        value = self._value(stage, node)
        return value < stage.threshold if stage.trips_below else value > stage.threshold

    def describe(self) -> dict[str, object]:
        """State for logs and the safe-state file."""
        return {"grid_code": self.params.name, "delta_w": round(self.delta_w, 1),
                "tripped": self.trip.code if self.trip else None,
                "trips": [(t.code, round(t.at_s, 3)) for t in self.trips]}


def rated_power_w(stage: PowerStage) -> float:
    """The stage's rated power: its maximum power, or max current at nominal voltage."""
    spec = stage.spec
    by_current = spec.max_current_a * stage.node.nominal_voltage_v * (1 if stage.dc
                                                                      else spec.phases)
    return min(float(spec.max_power_w), by_current)


def attach(lab: Lab, plant: Plant) -> dict[tuple[str, int, int], GridBehaviour]:
    """Give every power stage of every bidirectional charger at a station its behaviour."""
    attached: dict[tuple[str, int, int], GridBehaviour] = {}
    for station in lab.stations.values():
        params: GridCodeParameters | None = None
        for charger_id in station.chargers:
            spec = lab.chargers.get(charger_id)
            if spec is None or not spec.bidirectional:
                continue
            if params is None:
                params = load_parameter_set(station.grid_code)
            for key, stage in plant.stages.items():
                if stage.spec.id == charger_id:
                    stage.grid = GridBehaviour(params, rated_power_w(stage), spec.faults)
                    attached[key] = stage.grid
    return attached
