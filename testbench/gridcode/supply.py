"""Grid emulators as the supply of the chargers they feed.

A charger behind a grid emulator (an instrument with role ``grid_emulator``) has no mains
until the emulator's output is on. The bench energises every such emulator at the start of
a run, at the nominal voltage and frequency of its station's grid-code parameter set
(lab.toml ``grid_code``), before any suite runs; the runtime's teardown leaves it in its safe
state (output off) at the end, like every other instrument. A test that drives the emulator
leaves it in its safe state too (the per-test safe state); :meth:`GridSupplies.restore` puts
the supply back before the next test at that station, so the order of the suites does not
matter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from testbench.errors import BenchError
from testbench.gridcode.params import load_parameter_set
from testbench.lab.model import InstrumentSpec, Lab, StationSpec

log = logging.getLogger(__name__)

ROLE = "grid_emulator"

Opener = Callable[[StationSpec, InstrumentSpec], Any]
"""Opens (or returns the already opened) driver of an instrument: BenchRuntime.instrument."""


@dataclass
class GridSupplies:
    """The grid emulators of a lab and whether each is energised."""

    lab: Lab
    open_driver: Opener
    energised: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(driver, resource) -> the driver object energised (a reopened driver is not)."""

    def emulators(self, station_id: str | None = None
                  ) -> list[tuple[StationSpec, InstrumentSpec]]:
        """Every (station, grid emulator), once per physical instrument."""
        seen: set[tuple[str, str]] = set()
        found = []
        for station in self.lab.stations.values():
            if station_id is not None and station.id != station_id:
                continue
            for spec in station.instruments:
                key = (spec.driver, spec.resource)
                if spec.role == ROLE and key not in seen:
                    seen.add(key)
                    found.append((station, spec))
        return found

    def energise_all(self) -> list[str]:
        """Nominal voltage and frequency, output on, on every grid emulator; the names
        energised. Raises BenchError naming the instrument when one cannot be."""
        return [self._energise(station, spec) for station, spec in self.emulators()]

    def made_safe(self, keys: Iterable[tuple[str, str]]) -> None:
        """Note that the instruments ``(driver, resource)`` were put in their safe state."""
        for key in keys:
            self.energised.pop(key, None)

    def restore(self, station_id: str) -> list[str]:
        """Energise the grid emulators of ``station_id`` that are not (left safe by a test,
        or closed and reopened since); the names energised."""
        done = []
        for station, spec in self.emulators(station_id):
            driver = self.open_driver(station, spec)
            if self.energised.get((spec.driver, spec.resource)) is not driver:
                done.append(self._energise(station, spec))
        return done

    def _energise(self, station: StationSpec, spec: InstrumentSpec) -> str:
        params = load_parameter_set(station.grid_code)
        voltage_v = float(params.nominal.voltage_v)
        frequency_hz = float(params.nominal.frequency_hz)
        try:
            driver = self.open_driver(station, spec)
            driver.set_voltage_v(voltage_v)
            driver.set_frequency_hz(frequency_hz)
            driver.output(True)
        except Exception as error:
            raise BenchError(
                f"station {station.id!r}: cannot energise grid emulator {spec.name!r} "
                f"({spec.driver} at {spec.resource}) at {voltage_v:g} V / {frequency_hz:g} Hz "
                f"(grid code {params.name!r}): {error}; the chargers it feeds have no supply. "
                "Fix: check the instrument (testbench instruments check), or remove it from "
                "the station if the chargers are fed from the mains") from error
        self.energised[(spec.driver, spec.resource)] = driver
        log.info("energised grid emulator %s (%s V, %s Hz)", spec.name, voltage_v, frequency_hz)
        return spec.name


__all__ = ["GridSupplies"]
