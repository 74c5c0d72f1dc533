"""Fixtures for the lab loader tests: a small valid lab as data, and a TOML writer."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# A small, valid lab exercising every table: 2 chargers, 2 EVs, 1 station with limits and
# two instruments. Rejection tests mutate a copy of it.
BASE_LAB: dict[str, Any] = {
    "lab": {"name": "unit-lab", "mode": "sim", "time_scale": 5.0, "output_dir": "out"},
    "csms": {"host": "127.0.0.1", "port": 0, "path_prefix": "/ocpp",
             "heartbeat_interval_s": 60},
    "safety": {"max_voltage_v": 480.0, "max_current_a": 80.0, "max_power_w": 50000.0},
    "chargers": [
        {"id": "c16", "vendor": "Voltiq", "model": "W22", "firmware": "3.4.1",
         "ocpp_version": "1.6", "phases": 3, "max_current_a": 32.0, "max_power_w": 22000.0},
        {"id": "c201", "vendor": "Amperia", "model": "HomeCharge 11", "firmware": "1.12.0",
         "ocpp_version": "2.0.1", "phases": 3, "max_current_a": 16.0,
         "max_power_w": 11000.0, "iso15118": ["-2"]},
    ],
    "evs": [
        {"id": "ev1", "make": "Nova", "model": "City", "software": "2.3", "phases": 1,
         "min_current_a": 6.0, "max_current_a": 32.0, "battery_kwh": 40.0},
        {"id": "ev2", "make": "Arden", "model": "Saloon", "software": "11.2",
         "phases": 3, "min_current_a": 6.0, "max_current_a": 16.0, "battery_kwh": 75.0},
    ],
    "stations": [
        {"id": "bay-1", "chargers": ["c16", "c201"], "evs": ["ev1", "ev2"],
         "limits": {"max_current_a": 63.0},
         "instruments": [
             {"name": "evio-a", "role": "ev_emulator", "driver": "sim-ev-emulator",
              "resource": "TCPIP::127.0.0.1::47101::SOCKET", "charger": "c16"},
             {"name": "evio-b", "role": "ev_emulator", "driver": "sim-ev-emulator",
              "resource": "TCPIP::127.0.0.1::47102::SOCKET", "charger": "c201"},
         ]},
    ],
}


def _key(key: str) -> str:
    if key and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in key):
        return key
    return _string(key)


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_value(value: Any) -> str:
    """``value`` as an inline TOML value (tables as inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def toml_document(data: dict[str, Any]) -> str:
    """A whole TOML document: each top-level key on one line, as an inline value."""
    return "".join(f"{_key(k)} = {toml_value(v)}\n" for k, v in data.items())


@pytest.fixture
def base_lab() -> dict[str, Any]:
    """A fresh, mutable copy of the small valid lab."""
    return copy.deepcopy(BASE_LAB)


@pytest.fixture
def write_lab(tmp_path: Path) -> Callable[[dict[str, Any] | str], Path]:
    """Write a lab (data or raw TOML text) to a new file under tmp_path; return its path."""
    counter = itertools.count()

    def write(content: dict[str, Any] | str) -> Path:
        path = tmp_path / f"lab-{next(counter)}.toml"
        text = content if isinstance(content, str) else toml_document(content)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT
