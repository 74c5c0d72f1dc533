"""`testbench instruments`: list the lab's instruments and identify each one."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from instruments.registry import get_driver
from testbench.errors import LabConfigError, TestbenchError
from testbench.lab.model import InstrumentSpec, Lab, StationSpec


@dataclass(frozen=True)
class InstrumentStatus:
    """One physical instrument (entries sharing driver and resource) and what it answered."""

    station: str
    names: tuple[str, ...]
    roles: tuple[str, ...]
    driver: str
    resource: str
    identity: str | None
    problem: str | None


def _physical(station: StationSpec) -> dict[tuple[str, str], list[InstrumentSpec]]:
    grouped: dict[tuple[str, str], list[InstrumentSpec]] = {}
    for spec in station.instruments:
        grouped.setdefault((spec.driver, spec.resource), []).append(spec)
    return grouped


def identify_all(lab: Lab) -> list[InstrumentStatus]:
    """Open each instrument of the lab, ask who it is, close it. Never raises for one instrument."""
    found: list[InstrumentStatus] = []
    for station in lab.stations.values():
        for (driver_name, resource), specs in _physical(station).items():
            identity, problem = None, None
            try:
                driver = get_driver(driver_name)(specs[0], station.limits)
                try:
                    identity = str(driver.identify())
                finally:
                    driver.close()
            except TestbenchError as exc:
                problem = str(exc)
            except Exception as exc:  # noqa: BLE001 - a driver bug must not hide the others
                problem = f"{type(exc).__name__}: {exc}"
            found.append(InstrumentStatus(
                station.id, tuple(s.name for s in specs), tuple(sorted({s.role for s in specs})),
                driver_name, resource, identity, problem))
    return found


def render(statuses: list[InstrumentStatus]) -> Table:
    table = Table(title="Instruments", show_lines=False)
    for column in ("station", "name", "role", "driver", "resource", "identity"):
        table.add_column(column)
    for st in statuses:
        shown = (f"[green]{escape(st.identity)}[/]" if st.identity
                 else f"[red]unreachable:[/] {escape(st.problem or '?')}")
        table.add_row(st.station, ", ".join(st.names), ", ".join(st.roles), st.driver,
                      escape(st.resource), shown)
    return table


def cmd_instruments(args: argparse.Namespace, console: Console) -> int:
    from testbench.lab.check import render_error
    from testbench.lab.loader import load_lab
    from testbench.plugin.simproc import SimProcess

    try:
        lab = load_lab(Path(args.lab))
    except LabConfigError as exc:
        console.print(render_error(exc))
        return 2
    sim = None
    if lab.is_sim:
        # The twins live in the simulated lab: start it (its chargers find no central system
        # here and keep retrying, which is harmless) and stop it when done.
        log = lab.output_dir / "instruments-sim.log"
        try:
            sim = SimProcess.start(lab.path, "ws://127.0.0.1:9/ocpp", time.time(), log_path=log)
        except TestbenchError as exc:
            console.print("[bold red]bench error:[/]", escape(str(exc)))
            return 2
    try:
        statuses = identify_all(lab)
    finally:
        if sim is not None:
            sim.stop()
    console.print(render(statuses))
    missing = [s for s in statuses if s.identity is None]
    if missing:
        console.print(f"[red]{len(missing)} of {len(statuses)} instrument(s) unreachable[/]")
        return 1
    console.print(f"[green]all {len(statuses)} instrument(s) answered[/]")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("instruments", help="list the lab's instruments and identify each")
    parser.add_argument("--lab", default="lab.toml")
    parser.set_defaults(func=cmd_instruments)
