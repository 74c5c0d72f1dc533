"""DC buses and relay banks of the plant, driven by DC source and relay-box twins.

A :class:`DCBus` is a bidirectional DC source/sink (battery emulator). Bound to a DC
charger it plays the EV's battery: the charger charges into it (the source sinks, current
negative) at the bus voltage, and a DC charger cannot deliver while the bus is off.
Unbound it feeds nothing. A :class:`RelayBank` is a set of contactors.
"""

from __future__ import annotations

from collections.abc import Callable


class DCBus:
    """A battery-emulator DC bus (implements ``DCPort``).

    ``load_current_a`` returns the current the bound charger pushes into the bus (A, + =
    into the bus); ``sync`` brings the plant up to now before a change.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.voltage_v = 0.0
        self.source_limit_a = 0.0
        self.sink_limit_a = 0.0
        self.source_limit_w = 0.0
        self.sink_limit_w = 0.0
        self.on = False
        self.ever_on = False
        self.load_current_a: Callable[[], float] = lambda: 0.0
        self.sync: Callable[[], None] = lambda: None

    def set_voltage_v(self, voltage_v: float) -> None:
        self.sync()
        self.voltage_v = float(voltage_v)

    def set_current_limits_a(self, source_a: float, sink_a: float) -> None:
        self.source_limit_a, self.sink_limit_a = float(source_a), float(sink_a)

    def set_power_limits_w(self, source_w: float, sink_w: float) -> None:
        self.source_limit_w, self.sink_limit_w = float(source_w), float(sink_w)

    def set_output(self, on: bool) -> None:
        self.sync()
        self.on = bool(on)
        self.ever_on = self.ever_on or self.on

    def output_on(self) -> bool:
        return self.on

    @property
    def energised(self) -> bool:
        return self.on and self.voltage_v > 0

    def measure(self) -> tuple[float, float, float]:
        """(voltage_v, current_a, power_w); current positive when sourcing, negative sinking."""
        if not self.on:
            return (0.0, 0.0, 0.0)
        self.sync()
        into_bus_a = self.load_current_a()
        if into_bus_a > 0:
            into_bus_a = min(into_bus_a, self.sink_limit_a) if self.sink_limit_a > 0 else into_bus_a
        current_a = -into_bus_a
        return (self.voltage_v, current_a, self.voltage_v * current_a)

    def describe(self) -> dict[str, object]:
        return {"output_on": self.on, "voltage_v": self.voltage_v,
                "source_limit_a": self.source_limit_a, "sink_limit_a": self.sink_limit_a}


class RelayBank:
    """``count`` relays, all open at start (implements ``RelayPort``)."""

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.closed = [False] * count
        self.ever_closed = False

    def set_relay(self, channel: int, closed: bool) -> None:
        self.closed[channel] = bool(closed)
        self.ever_closed = self.ever_closed or bool(closed)

    def relay(self, channel: int) -> bool:
        return self.closed[channel]

    def channels(self) -> int:
        return len(self.closed)

    @property
    def energised(self) -> bool:
        return any(self.closed)

    def describe(self) -> dict[str, object]:
        return {"closed": [n for n, on in enumerate(self.closed) if on]}
