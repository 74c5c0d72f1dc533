"""Ride-through behaviour of a simulated bidirectional charger, and its fault.

A conformant unit rides through whatever its interface protection (the parameter set's
stages, :mod:`testbench.sim.gridcode`) lets it: while the supply is below half the nominal
voltage it delivers nothing (momentary cessation, :meth:`PowerStage._can_flow`) and resumes
at once when the voltage returns; frequency ramps do not trip it.

Fault ``trips-in-ride-through``: extra relays that disconnect inside the ride-through
envelopes, each a :class:`~testbench.gridcode.params.ProtectionStage`-like check:

* under-voltage below ``UV_TRIP_PU`` for ``UV_TRIP_S``;
* over-voltage above ``OV_TRIP_PU`` for ``OV_TRIP_S``;
* RoCoF: |df/dt| over the set's ``rocof.window_s`` above ``ROCOF_FACTOR`` x the set's
  ``rocof.immunity_hz_per_s``.

A trip by these relays is an ordinary trip: the unit reconnects after the observation time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from testbench.gridcode.params import GridCodeParameters

if TYPE_CHECKING:
    from testbench.sim.grid_node import GridNode

FAULT = "trips-in-ride-through"
UV_TRIP_PU = 0.70
UV_TRIP_S = 0.1
OV_TRIP_PU = 1.15
OV_TRIP_S = 0.05
ROCOF_FACTOR = 0.5


@dataclass
class FaultyRelays:
    """The over-sensitive relays of fault ``trips-in-ride-through``."""

    params: GridCodeParameters
    _uv_since_s: float | None = None
    _ov_since_s: float | None = None
    _freq: deque[tuple[float, float]] = field(default_factory=deque)
    _last_s: float | None = None

    def reset(self) -> None:
        self._uv_since_s = self._ov_since_s = self._last_s = None
        self._freq.clear()

    def check(self, t_s: float, node: GridNode) -> tuple[str, float] | None:
        """(relay code, value) when a relay trips at ``t_s``, else None."""
        if not node.on:
            self.reset()
            return None
        # the node holds its state through a plant step: a value seen now was there since
        # the previous check
        since = self._last_s if self._last_s is not None else t_s
        self._last_s = t_s
        nominal = node.nominal_voltage_v
        volts = [node.phase_voltage_v(n) / nominal for n in range(node.phases)]
        low, high = min(volts), max(volts)
        self._uv_since_s = (self._uv_since_s if self._uv_since_s is not None else since) \
            if low < UV_TRIP_PU else None
        if self._uv_since_s is not None and t_s - self._uv_since_s >= UV_TRIP_S - 1e-9:
            return "27<", low
        self._ov_since_s = (self._ov_since_s if self._ov_since_s is not None else since) \
            if high > OV_TRIP_PU else None
        if self._ov_since_s is not None and t_s - self._ov_since_s >= OV_TRIP_S - 1e-9:
            return "59>>", high
        window = float(self.params.rocof.window_s)
        self._freq.append((t_s, node.frequency_hz))
        while len(self._freq) > 2 and self._freq[1][0] <= t_s - window:
            self._freq.popleft()
        t0, f0 = self._freq[0]
        if t_s - t0 >= 0.5 * window > 0:
            rocof = (node.frequency_hz - f0) / (t_s - t0)
            if abs(rocof) > ROCOF_FACTOR * float(self.params.rocof.immunity_hz_per_s):
                return "rocof", rocof
        return None


def faulty_relays(params: GridCodeParameters, faults: tuple[str, ...]) -> FaultyRelays | None:
    """The extra relays when the charger has fault ``trips-in-ride-through``."""
    return FaultyRelays(params) if FAULT in faults else None


__all__ = ["FAULT", "FaultyRelays", "faulty_relays"]
