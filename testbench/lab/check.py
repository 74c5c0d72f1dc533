"""``testbench lab check``: load a lab file and show what it describes, or what is wrong.

``check_lab`` loads and summarises (counts, pairings, warnings about things that are
valid but likely to bite at run time); ``render_check`` turns the summary into a rich
renderable; ``run_lab_check`` is the whole command, returning its exit code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from testbench.errors import LabConfigError
from testbench.lab.loader import load_lab
from testbench.lab.model import Lab, Pairing

__all__ = [
    "LabSummary",
    "check_lab",
    "lab_warnings",
    "render_check",
    "render_error",
    "run_lab_check",
]

EXIT_OK = 0
EXIT_CONFIG_ERROR = 2


@dataclass(frozen=True)
class LabSummary:
    """What a valid lab file describes, in numbers, plus run-time warnings."""

    lab: Lab
    pairings: tuple[Pairing, ...]
    warnings: tuple[str, ...]

    @property
    def charger_count(self) -> int:
        return len(self.lab.chargers)

    @property
    def ev_count(self) -> int:
        return len(self.lab.evs)

    @property
    def station_count(self) -> int:
        return len(self.lab.stations)

    @property
    def instrument_count(self) -> int:
        return sum(len(st.instruments) for st in self.lab.stations.values())

    @property
    def pairing_count(self) -> int:
        return len(self.pairings)


def check_lab(path: str | Path) -> LabSummary:
    """Load ``path`` (raises ``LabConfigError`` if invalid) and summarise it."""
    lab = load_lab(path)
    return LabSummary(lab=lab, pairings=tuple(lab.pairings()), warnings=tuple(lab_warnings(lab)))


def lab_warnings(lab: Lab) -> list[str]:
    """Things a valid lab may still trip over at run time (environment, files, unused items)."""
    found: list[str] = []
    base = lab.path.parent
    for charger in lab.chargers.values():
        if charger.password_env and charger.password_env not in os.environ:
            found.append(f"charger {charger.id!r}: environment variable "
                         f"{charger.password_env} (password_env) is not set")
    for key in ("tls_cert", "tls_key", "tls_ca"):
        file: Path | None = getattr(lab.csms, key)
        if file is not None and not (file if file.is_absolute() else base / file).is_file():
            found.append(f"[csms] {key}: file {str(file)!r} not found (relative to {base})")
    placed_chargers = {c for st in lab.stations.values() for c in st.chargers}
    placed_evs = {e for st in lab.stations.values() for e in st.evs}
    for charger_id in lab.chargers:
        if charger_id not in placed_chargers:
            found.append(f"charger {charger_id!r} is at no station: it will not be tested")
    for ev_id in lab.evs:
        if ev_id not in placed_evs:
            found.append(f"EV {ev_id!r} is at no station: it will not be tested")
    if not lab.is_sim and lab.csms.host in ("127.0.0.1", "localhost", "::1"):
        found.append(f"[csms] host {lab.csms.host!r} is loopback: real chargers on the network "
                     "cannot reach it (use the bench's address or 0.0.0.0)")
    return found


def _chargers_table(lab: Lab) -> Table:
    table = Table(title="Chargers", title_justify="left", expand=False)
    for column in ("id", "vendor / model", "firmware", "OCPP", "security", "supply",
                   "ISO 15118", "faults"):
        table.add_column(column)
    for c in lab.chargers.values():
        supply = f"{c.current_type} {c.phases}ph {c.max_current_a:g} A {c.max_power_w:g} W"
        if c.bidirectional:
            supply += " V2X"
        security = str(c.security_profile)
        if c.password_env:
            security += f" (${c.password_env})"
        table.add_row(c.id, f"{c.vendor} {c.model}", c.firmware, c.ocpp_version, security,
                      supply, ", ".join(c.iso15118) or "-", ", ".join(c.faults) or "-")
    return table


def _evs_table(lab: Lab) -> Table:
    table = Table(title="EVs", title_justify="left", expand=False)
    for column in ("id", "make / model", "software", "phases", "current", "battery",
                   "ISO 15118", "faults"):
        table.add_column(column)
    for e in lab.evs.values():
        battery = f"{e.battery_kwh:g} kWh @ {e.initial_soc_pct:g} %"
        if e.bidirectional:
            battery += " V2X"
        table.add_row(e.id, f"{e.make} {e.model}", e.software, str(e.phases),
                      f"{e.min_current_a:g}-{e.max_current_a:g} A", battery,
                      ", ".join(e.iso15118) or "-", ", ".join(e.faults) or "-")
    return table


def _stations_table(summary: LabSummary) -> Table:
    table = Table(title="Stations", title_justify="left", expand=False)
    for column in ("id", "chargers", "EVs", "limits", "instruments", "pairings"):
        table.add_column(column)
    for st in summary.lab.stations.values():
        limits = (f"{st.limits.max_voltage_v:g} V, {st.limits.max_current_a:g} A, "
                  f"{st.limits.max_power_w:g} W")
        count = sum(1 for p in summary.pairings if p.station == st.id)
        table.add_row(st.id, ", ".join(st.chargers), ", ".join(st.evs), limits,
                      str(len(st.instruments)), str(count))
    return table


def _instruments_table(lab: Lab) -> Table:
    table = Table(title="Instruments", title_justify="left", expand=False)
    for column in ("station", "name", "role", "driver", "resource", "charger"):
        table.add_column(column)
    for st in lab.stations.values():
        for spec in st.instruments:
            table.add_row(st.id, spec.name, spec.role, spec.driver, spec.resource,
                          spec.charger or "(station)")
    return table


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def render_check(summary: LabSummary) -> RenderableType:
    """Chargers, EVs, stations, instruments, pairing count and warnings of a valid lab."""
    lab = summary.lab
    mode = f"simulated, time scale {lab.settings.time_scale:g}" if lab.is_sim else "real hardware"
    header = Text.assemble(
        ("Lab ", "bold"), (lab.settings.name, "bold cyan"), f"  ({mode})  ", str(lab.path))
    parts: list[RenderableType] = [header, _chargers_table(lab), _evs_table(lab),
                                   _stations_table(summary)]
    if summary.instrument_count:
        parts.append(_instruments_table(lab))
    total = Text.assemble(
        ("OK ", "bold green"),
        f"{_count(summary.charger_count, 'charger')}, {_count(summary.ev_count, 'EV')}, "
        f"{_count(summary.station_count, 'station')}, "
        f"{_count(summary.instrument_count, 'instrument')}: ",
        (_count(summary.pairing_count, "pairing"), "bold"), " (EV x charger)")
    parts.append(total)
    for warning in summary.warnings:
        parts.append(Text.assemble(("warning: ", "bold yellow"), warning))
    return Group(*parts)


def render_error(error: LabConfigError) -> RenderableType:
    """Every problem of a LabConfigError as readable lines (no traceback)."""
    problems: list[LabConfigError] = list(getattr(error, "problems", None) or [error])
    count = len(problems)
    title = Text.assemble(
        ("invalid lab file ", "bold red"), error.path,
        f": {_count(count, 'problem')}")
    lines: list[RenderableType] = [title]
    for item in problems:
        where = f"[{item.table}]" + (f" {item.key}" if item.key else "")
        lines.append(Text.assemble("  ", ("x ", "red"), (where, "bold"), f": {item.problem}"))
        lines.append(Text.assemble("    ", ("fix: ", "green"), item.fix))
    return Group(*lines)


def run_lab_check(path: Path, console: Console) -> int:
    """``testbench lab check PATH``: print the summary (exit 0) or every problem (exit 2)."""
    try:
        summary = check_lab(path)
    except LabConfigError as error:
        console.print(render_error(error))
        return EXIT_CONFIG_ERROR
    console.print(render_check(summary))
    return EXIT_OK
