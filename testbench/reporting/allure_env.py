"""Allure run-level files: ``environment.properties`` and ``categories.json``.

Allure reads ``environment.properties`` as a Java properties file (ISO 8859-1), so keys and
values are escaped per ``java.util.Properties`` rules and every non-ASCII character is
written as ``\\uXXXX``: the file is pure ASCII and shows correctly in any Allure version.

Categories are matched in order, first match wins; regexes are Java regexes matched against
the whole message (hence the leading ``(?s)`` / ``.*``). allure-pytest reports an
AssertionError (our ``DeviceFailure``) as *failed* and any other exception (our
``BenchError``/``InstrumentError``) as *broken*.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testbench import __version__
from testbench.lab.model import Lab

_SPECIAL = {
    "\\": "\\\\",
    "\t": "\\t",
    "\n": "\\n",
    "\r": "\\r",
    "\f": "\\f",
    "=": "\\=",
    ":": "\\:",
    "#": "\\#",
    "!": "\\!",
}

#: Message words that mark a bench-side problem (never the device's fault).
BENCH_WORDS = (
    "BenchError",
    "InstrumentError",
    "SafetyLimitError",
    "OperatorTimeout",
    "LabConfigError",
)

#: Words in a broken test's message that mark an instrument (not the rest of the bench).
INSTRUMENT_PATTERN = r"(InstrumentError|SafetyLimitError|instrument '[^']*': command)"

CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Timeout",
        "description": "A step, call or the whole test ran out of time.",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": "(?is).*(time[- ]?out|timed out).*",
    },
    {
        "name": "Instrument fault",
        "description": "An instrument failed (no reply, garbage, error queue, refused "
        "setpoint); the device under test was not judged.",
        "matchedStatuses": ["broken"],
        "messageRegex": "(?s).*" + INSTRUMENT_PATTERN + ".*",
    },
    {
        "name": "Bench error",
        "description": "The bench or the lab set-up failed (process, port, connection, "
        "operator step); the device under test was not judged.",
        "matchedStatuses": ["broken"],
    },
    {
        "name": "Device failure",
        "description": "The device under test did not do what the test case requires.",
        "matchedStatuses": ["failed"],
        "messageRegex": "(?s)(?!.*(" + "|".join(BENCH_WORDS) + ")).*",
    },
    {
        "name": "Skipped / not applicable",
        "description": "Not applicable to this pairing or station (capability missing).",
        "matchedStatuses": ["skipped"],
    },
]


def _escape(text: str, *, is_key: bool) -> str:
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch == " ":
            out.append("\\ " if is_key or i == 0 else " ")
        elif ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif 0x20 <= ord(ch) <= 0x7E:
            out.append(ch)
        else:
            encoded = ch.encode("utf-16-be")  # surrogate pairs for characters beyond the BMP
            for j in range(0, len(encoded), 2):
                out.append(f"\\u{int.from_bytes(encoded[j : j + 2], 'big'):04x}")
    return "".join(out)


def escape_property_key(key: str) -> str:
    """Escape a key per java.util.Properties: spaces, ``=:#!``, backslash, controls, non-ASCII."""
    return _escape(key, is_key=True)


def escape_property_value(value: str) -> str:
    """Escape a value per java.util.Properties (only a leading space is escaped)."""
    return _escape(value, is_key=False)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="ascii" if path.suffix == ".properties" else "utf-8")
    os.replace(tmp, path)


def write_environment(allure_dir: Path, properties: Mapping[str, str]) -> Path:
    """Write ``<allure_dir>/environment.properties`` (keys sorted); returns its path."""
    lines = ["# Allure environment, written by testbench"]
    for key in sorted(properties):
        if not key:
            raise ValueError("environment property with an empty key; give every value a name")
        value = "" if properties[key] is None else str(properties[key])
        lines.append(f"{escape_property_key(key)}={escape_property_value(value)}")
    path = Path(allure_dir) / "environment.properties"
    _atomic_write(path, "\n".join(lines) + "\n")
    return path


def write_categories(allure_dir: Path, extra: list[Mapping[str, Any]] | None = None) -> Path:
    """Write ``<allure_dir>/categories.json`` (:data:`CATEGORIES`, then ``extra``)."""
    categories = [dict(c) for c in CATEGORIES] + [dict(c) for c in extra or ()]
    path = Path(allure_dir) / "categories.json"
    _atomic_write(path, json.dumps(categories, indent=2) + "\n")
    return path


def lab_environment(lab: Lab, run_id: str | None = None) -> dict[str, str]:
    """Environment properties describing a lab run: lab, versions, chargers and EVs."""
    props: dict[str, str] = {
        "Lab": lab.settings.name,
        "Lab mode": lab.settings.mode,
        "Lab file": str(lab.path),
        "testbench": __version__,
        "Python": platform.python_version(),
        "Host": socket.gethostname(),
    }
    if lab.is_sim:
        props["Time scale"] = f"{lab.settings.time_scale:g}"
    if run_id:
        props["Run id"] = run_id
    for charger in lab.chargers.values():
        props[f"Charger {charger.id}"] = (
            f"{charger.vendor} {charger.model}, fw {charger.firmware}, OCPP {charger.ocpp_version}"
        )
    for ev in lab.evs.values():
        props[f"EV {ev.id}"] = f"{ev.make} {ev.model}, sw {ev.software}"
    return props
