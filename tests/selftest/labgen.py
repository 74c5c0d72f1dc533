"""Build simulated lab files for self-tests: chargers with fault personalities, free ports."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from testbench.lab.ports import unused_port

BASE_CHARGERS = {
    "1.6": dict(vendor="Voltiq", model="W22", firmware="3.4.1", max_current_a=32.0, max_power_w=22000.0),
    "2.0.1": dict(vendor="Amperia", model="HomeCharge 11", firmware="1.12.0", max_current_a=16.0,
                  max_power_w=11000.0),
    "2.1": dict(vendor="Gridline", model="BX7 V2G", firmware="0.9.3", max_current_a=32.0,
                max_power_w=22000.0),
}
EVS = {
    "ev-city": dict(make="Nova", model="City", software="2.3", phases=1, min_current_a=6.0,
                    max_current_a=32.0, battery_kwh=40.0),
    "ev-saloon": dict(make="Arden", model="Saloon LR", software="11.2", phases=3, min_current_a=6.0,
                      max_current_a=16.0, battery_kwh=75.0),
}


def free_port() -> int:
    """A loopback port free now and not yet given to another instrument of this process."""
    return unused_port()


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return repr(v)


@dataclass
class ChargerEntry:
    id: str
    ocpp_version: str
    faults: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)


def _table(value: dict[str, object]) -> str:
    return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"


def write_lab(path: Path, chargers: list[ChargerEntry], evs: list[str], *,
              ev_faults: dict[str, list[str]] | None = None,
              time_scale: float = 10.0, csms_port: int = 0, name: str = "selftest-lab",
              analyzers: dict[str, str] | None = None,
              instruments: list[dict[str, object]] | None = None,
              limits: dict[str, float] | None = None) -> Path:
    """Write a simulated lab with one station holding every charger and EV.

    ``analyzers`` maps a charger id to a power-analyser driver (``yokogawa-wt``,
    ``zes-lmg600``): a ``power_analyzer`` on that charger's outlet, on a free port.
    ``instruments`` are more station instrument tables as written (``options`` a dict);
    ``limits`` the station's ``[stations.limits]``.
    """
    lines = [
        "[lab]", f'name = "{name}"', 'mode = "sim"', f"time_scale = {time_scale}",
        f'output_dir = "{path.parent / "reports"}"', "",
        "[csms]", 'host = "127.0.0.1"', f"port = {csms_port}", "",
    ]
    for entry in chargers:
        base = dict(BASE_CHARGERS[entry.ocpp_version])
        base.update(entry.extra)
        lines += ["[[chargers]]", f'id = "{entry.id}"', f'ocpp_version = "{entry.ocpp_version}"']
        lines += [f"{k} = {_value(v)}" for k, v in base.items()]
        lines += [f"faults = {_value(list(entry.faults))}", ""]
    for ev_id in evs:
        faults = (ev_faults or {}).get(ev_id, [])
        lines += ["[[evs]]", f'id = "{ev_id}"'] + [f"{k} = {_value(v)}" for k, v in EVS[ev_id].items()]
        lines += [f"faults = {_value(faults)}", ""]
    lines += ["[[stations]]", 'id = "bay"', f"chargers = {_value([c.id for c in chargers])}",
              f"evs = {_value(evs)}", ""]
    if limits:
        lines += ["  [stations.limits]"] + [f"  {k} = {_value(v)}" for k, v in limits.items()] + [""]
    for entry in chargers:
        port = free_port()
        for role in ("ev_emulator", "rfid", "charger_power"):
            lines += ["  [[stations.instruments]]", f'  name = "{role}-{entry.id}"', f'  role = "{role}"',
                      '  driver = "sim-ev-emulator"',
                      f'  resource = "TCPIP::127.0.0.1::{port}::SOCKET"', f'  charger = "{entry.id}"', ""]
    extra = list(instruments or [])
    for charger_id, driver in (analyzers or {}).items():
        extra.append({"name": f"analyser-{charger_id}", "role": "power_analyzer", "driver": driver,
                      "resource": f"TCPIP::127.0.0.1::{free_port()}::SOCKET", "charger": charger_id})
    for table in extra:
        lines.append("  [[stations.instruments]]")
        for key, value in table.items():
            shown = _table(value) if isinstance(value, dict) else _value(value)  # type: ignore[arg-type]
            lines.append(f"  {key} = {shown}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def default_lab_text(reports: Path) -> str:
    """The repository's lab.toml on free ports (each old port -> one new port, so entries
    sharing an instrument still share it; SCPI sockets and Modbus TCP resources), writing
    its reports to ``reports``."""
    text = (Path(__file__).resolve().parents[2] / "lab.toml").read_text(encoding="utf-8")
    ports: dict[str, int] = {}

    def fresh(old: str) -> int:
        return ports.setdefault(old, free_port())

    text = re.sub(r"::(\d+)::SOCKET", lambda m: f"::{fresh(m.group(1))}::SOCKET", text)
    text = re.sub(r'resource = "127\.0\.0\.1:(\d+)"',
                  lambda m: f'resource = "127.0.0.1:{fresh(m.group(1))}"', text)
    if 'output_dir = "reports"' not in text:
        raise AssertionError("the default lab changed shape: output_dir is not \"reports\"")
    return text.replace('output_dir = "reports"', f'output_dir = "{reports}"')
