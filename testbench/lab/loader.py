"""Read lab.toml into the lab model, checking everything a run would otherwise trip over.

``load_lab(path)`` parses the file with ``tomllib`` and validates it strictly: unknown keys,
wrong types, out-of-range values, invalid names, unknown fault personalities, dangling
references, duplicate ids, secrets written in the file and settings that contradict the
lab's mode. It collects every problem and raises one ``LabConfigErrors`` listing them all;
each problem names the file, the table (``chargers[0] (id "voltiq-w22")``), the key and a
concrete fix. Relative paths (``output_dir``, TLS files) stay relative in the model.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbench.errors import LabConfigError
from testbench.gridcode.params import list_parameter_sets
from testbench.lab.faults import CHARGER_FAULTS, EV_FAULTS
from testbench.lab.model import (
    ChargerSpec,
    CsmsSettings,
    EVSpec,
    FileServerSettings,
    InstrumentSpec,
    Lab,
    LabSettings,
    SafetyLimits,
    SiteSpec,
    StationSpec,
)

__all__ = ["SCHEMAS", "LabConfigErrors", "describe_problem", "load_lab"]


class LabConfigErrors(LabConfigError):
    """Every problem found in one lab.toml.

    The exception's own ``path/table/key/problem/fix`` are those of the first problem;
    ``problems`` holds all of them, in file order (tables first, cross-references after).
    """

    def __init__(self, problems: list[LabConfigError]) -> None:
        if not problems:
            raise ValueError("LabConfigErrors needs at least one problem")
        first = problems[0]
        super().__init__(first.path, first.table, first.key, first.problem, first.fix)
        self.problems: list[LabConfigError] = list(problems)
        if len(problems) > 1:
            lines = [f"{first.path}: {len(problems)} problems:"]
            for number, item in enumerate(problems, 1):
                lines.append(f"  {number}. {describe_problem(item)}")
            self.args = ("\n".join(lines),)


def describe_problem(error: LabConfigError) -> str:
    """``[table] key: problem. Fix: fix`` (the message of one problem without the file)."""
    where = f"[{error.table}]" + (f" {error.key}" if error.key else "")
    return f"{where}: {error.problem}. Fix: {error.fix}"


# --------------------------------------------------------------------------- field schema


@dataclass(frozen=True)
class _Field:
    """One key of a table: its TOML kind, whether required, and what values are allowed.

    kind: ``str``, ``path``, ``int`` (bools refused), ``number`` (int or float, finite),
    ``bool``, ``strings`` (list of strings, no duplicates) or ``table``.
    """

    name: str
    kind: str
    example: str
    required: bool = False
    choices: tuple[Any, ...] = ()
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    pattern: str | None = None
    pattern_hint: str = ""
    hint: str = ""


_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,47}"
_ID_HINT = (
    "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 48 "
    "characters (ids appear in OCPP URLs, test ids and file names)"
)
_NO_SPACE = r"\S+"
_ISO15118 = ("-2", "-20", "DIN")


def _id_field(example: str) -> _Field:
    return _Field("id", "str", f'"{example}"', required=True, pattern=_ID, pattern_hint=_ID_HINT)


_LAB_FIELDS = (
    _Field("name", "str", '"my-lab"', required=True),
    _Field("mode", "str", '"sim"', choices=("sim", "real"),
           hint='"sim" runs the simulated lab, "real" drives real hardware'),
    _Field("time_scale", "number", "1.0", low=0, low_open=True,
           hint="1.0 is real time, 10.0 runs the simulated lab ten times faster"),
    _Field("output_dir", "path", '"reports"'),
    _Field("operator_timeout_s", "number", "120", low=0, low_open=True),
    _Field("rerun_bench_errors", "int", "1", low=0, high=3,
           hint="how often a test that ended in a bench error (not a device failure) is run "
                "again; 0 never"),
)

_CSMS_FIELDS = (
    _Field("host", "str", '"127.0.0.1"', pattern=_NO_SPACE,
           pattern_hint="a host name or IP address without spaces"),
    _Field("port", "int", "9000", low=0, high=65535, hint="0 picks any free port"),
    _Field("path_prefix", "str", '"/ocpp"', pattern=r"(/[A-Za-z0-9._~-]+)*",
           pattern_hint='a URL path with a leading slash and no trailing slash (or "" for none)'),
    _Field("tls_cert", "path", '"certs/csms.pem"'),
    _Field("tls_key", "path", '"certs/csms.key"'),
    _Field("tls_ca", "path", '"certs/ca.pem"'),
    _Field("heartbeat_interval_s", "int", "60", low=0, low_open=True,
           hint="OCPP heartbeat intervals are whole seconds"),
    _Field("call_timeout_s", "number", "30", low=0, low_open=True),
    _Field("connect_timeout_s", "number", "60", low=0, low_open=True),
)

_FILES_FIELDS = (
    _Field("host", "str", '"127.0.0.1"', pattern=_NO_SPACE,
           pattern_hint="a host name or IP address without spaces"),
    _Field("url_host", "str", '"192.0.2.1"', pattern=_NO_SPACE,
           pattern_hint="the host name or IP address chargers reach the bench at"),
    _Field("port", "int", "8080", low=0, high=65535, hint="0 picks any free port"),
    _Field("ftp", "bool", "true", hint="also serve FTP (older chargers upload only by FTP)"),
    _Field("ftp_port", "int", "2121", low=0, high=65535, hint="0 picks any free port"),
    _Field("https_port", "int", "8443", low=0, high=65535, hint="0 picks any free port"),
    _Field("tls_cert", "path", '"certs/files.pem"'),
    _Field("tls_key", "path", '"certs/files.key"'),
)

_LIMIT_FIELDS = (
    _Field("max_voltage_v", "number", "480", low=0, low_open=True),
    _Field("max_current_a", "number", "80", low=0, low_open=True),
    _Field("max_power_w", "number", "50000", low=0, low_open=True),
)

_SITE_FIELDS = (
    _Field("household_load_w", "number", "3000", low=0),
    _Field("pv_peak_w", "number", "5000", low=0),
    _Field("supply_max_current_a", "number", "63", low=0, low_open=True),
)

_CHARGER_FIELDS = (
    _id_field("voltiq-w22"),
    _Field("vendor", "str", '"Voltiq"', required=True),
    _Field("model", "str", '"W22"', required=True),
    _Field("firmware", "str", '"3.4.1"', required=True),
    _Field("ocpp_version", "str", '"2.0.1"', required=True, choices=("1.6", "2.0.1", "2.1")),
    _Field("security_profile", "int", "0", low=0, high=3,
           hint="0 none, 1 basic auth, 2 TLS + basic auth, 3 TLS + client certificate"),
    _Field("password_env", "str", '"CHARGER_PASSWORD"', pattern=r"[A-Za-z_][A-Za-z0-9_]*",
           pattern_hint="an environment variable name: letters, digits and '_', not starting "
                        "with a digit"),
    _Field("evse_count", "int", "1", low=1),
    _Field("connectors_per_evse", "int", "1", low=1),
    _Field("current_type", "str", '"AC"', choices=("AC", "DC")),
    _Field("phases", "int", "3", choices=(1, 3)),
    _Field("max_current_a", "number", "32", low=0, low_open=True),
    _Field("max_power_w", "number", "22000", low=0, low_open=True),
    _Field("bidirectional", "bool", "false"),
    _Field("iso15118", "strings", '["-2", "-20"]', choices=_ISO15118),
    _Field("boot_policy", "str", '"Accepted"', choices=("Accepted", "Pending", "Rejected"),
           hint="the answer the bench's central system gives to the charger's BootNotification"),
    _Field("faults", "strings", "[]", choices=tuple(CHARGER_FAULTS)),
    _Field("smart_charging", "bool", "true",
           hint="whether the charger supports smart charging (charging profiles)"),
    _Field("charging_rate_units", "strings", '["A", "W"]', choices=("A", "W"),
           hint="the rate units its charging schedules may use"),
    _Field("evse_sleep", "bool", "true",
           hint="whether a 2.1 charger supports evseSleep (EVSE electronics asleep in Idle)"),
)

_EV_FIELDS = (
    _id_field("ev-city"),
    _Field("make", "str", '"Nova"', required=True),
    _Field("model", "str", '"City"', required=True),
    _Field("software", "str", '"2.3"', required=True),
    _Field("phases", "int", "3", choices=(1, 3)),
    _Field("min_current_a", "number", "6", low=0),
    _Field("max_current_a", "number", "16", low=0, low_open=True),
    _Field("battery_kwh", "number", "60", low=0, low_open=True),
    _Field("initial_soc_pct", "number", "40", low=0, high=100),
    _Field("iso15118", "strings", '["-2"]', choices=_ISO15118),
    _Field("bidirectional", "bool", "false"),
    _Field("faults", "strings", "[]", choices=tuple(EV_FAULTS)),
    _Field("duty_follow_s", "number", "3", low=0, high=60,
           hint="how long the (simulated) EV takes to follow a new PWM duty cycle"),
)

_STATION_FIELDS = (
    _id_field("bay-1"),
    _Field("chargers", "strings", '["voltiq-w22"]', required=True),
    _Field("evs", "strings", '["ev-city"]', required=True),
    _Field("grid_code", "str", '"en50549-default"', choices=tuple(list_parameter_sets()),
           hint="the grid-code parameter set the station's chargers are judged against"),
)
_STATION_SUBTABLES = ("limits", "instruments", "site")

_INSTRUMENT_FIELDS = (
    _Field("name", "str", '"evio-1"', required=True, pattern=_ID, pattern_hint=_ID_HINT),
    _Field("role", "str", '"ev_emulator"', required=True, pattern=r"[a-z][a-z0-9_]*",
           pattern_hint="lower-case letters, digits and '_' (what suites ask for, e.g. "
                        '"ev_emulator", "rfid", "power_analyzer")'),
    _Field("driver", "str", '"sim-ev-emulator"', required=True, pattern=_NO_SPACE,
           pattern_hint="a registered driver name without spaces"),
    _Field("resource", "str", '"TCPIP::192.0.2.10::INSTR"', required=True),
    _Field("charger", "str", '"voltiq-w22"'),
    _Field("timeout_s", "number", "5", low=0, low_open=True),
    _Field("options", "table", "{}"),
)

_TOP_LEVEL = {
    "lab": "table",
    "csms": "table",
    "files": "table",
    "safety": "table",
    "chargers": "array",
    "evs": "array",
    "stations": "array",
}

#: The keys each lab.toml table accepts (table name -> field names), for docs and tests.
SCHEMAS: dict[str, tuple[str, ...]] = {
    "lab": tuple(f.name for f in _LAB_FIELDS),
    "csms": tuple(f.name for f in _CSMS_FIELDS),
    "files": tuple(f.name for f in _FILES_FIELDS),
    "safety": tuple(f.name for f in _LIMIT_FIELDS),
    "chargers": tuple(f.name for f in _CHARGER_FIELDS),
    "evs": tuple(f.name for f in _EV_FIELDS),
    "stations": tuple(f.name for f in _STATION_FIELDS) + _STATION_SUBTABLES,
    "stations.limits": tuple(f.name for f in _LIMIT_FIELDS),
    "stations.site": tuple(f.name for f in _SITE_FIELDS),
    "stations.instruments": tuple(f.name for f in _INSTRUMENT_FIELDS),
}

# Vendor/model/firmware lengths the BootNotification schemas allow (1.6: CiString20/20/50;
# 2.0.1 and 2.1 ChargingStationType: vendorName 50, model 20, firmwareVersion 50).
_BOOT_FIELD_MAX = {
    "1.6": {"vendor": 20, "model": 20, "firmware": 50},
    "2.0.1": {"vendor": 50, "model": 20, "firmware": 50},
    "2.1": {"vendor": 50, "model": 20, "firmware": 50},
}

_SECRET_WORDS = ("password", "passwd", "secret")

_INVALID = object()


# --------------------------------------------------------------------------- helpers


def _toml(value: Any) -> str:
    """``value`` written as TOML (for messages and fixes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _describe(value: Any) -> str:
    """What a TOML value is, for 'expected X, got Y' messages."""
    if isinstance(value, bool):
        return f"{_toml(value)} (a boolean)"
    if isinstance(value, str):
        return f"the string {_toml(value)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a date/time ({value})"


_KIND_TEXT = {
    "str": "a string",
    "path": "a path string",
    "int": "a whole number",
    "number": "a number",
    "bool": "true or false",
    "strings": "a list of strings",
    "table": "a table",
}


def _quoted_list(items: Any) -> str:
    return ", ".join(_toml(i) for i in items)


def _closest(word: str, candidates: Any) -> str | None:
    """The candidate closest to ``word`` (case-insensitive exact match first), or None."""
    names = [str(c) for c in candidates]
    for name in names:
        if name.lower() == word.lower():
            return name
    found = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return found[0] if found else None


def _env_name(ident: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", ident).strip("_").upper() + "_PASSWORD"


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(w in lowered for w in _SECRET_WORDS) and not lowered.endswith("_env")


class _Problems:
    """Collects the problems of one file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[LabConfigError] = []

    def add(self, table: str, key: str | None, problem: str, fix: str) -> None:
        self.items.append(LabConfigError(self.path, table, key, problem, fix))

    def __len__(self) -> int:
        return len(self.items)


def _range_text(f: _Field) -> str:
    if f.low is not None and f.high is not None:
        return f"between {_num(f.low)} and {_num(f.high)}"
    if f.low is not None:
        if f.low_open:
            return f"greater than {_num(f.low)}"
        return "0 or more" if f.low == 0 else f"at least {_num(f.low)}"
    return f"at most {_num(f.high)}"


def _num(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else str(x)


def _with_hint(fix: str, f: _Field) -> str:
    return f"{fix} ({f.hint})" if f.hint else fix


def _type_fix(f: _Field, value: Any) -> str:
    """A concrete rewrite of a value of the wrong type."""
    if f.kind in ("int", "number") and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return f"write it without quotes: {f.name} = {value.strip()}"
    if f.kind == "int" and isinstance(value, float) and value.is_integer():
        return f"write a whole number: {f.name} = {int(value)}"
    if f.kind in ("str", "path") and isinstance(value, int | float | bool):
        return f"quote it: {f.name} = {_toml(_toml(value))}"
    if f.kind == "bool" and isinstance(value, str) and value.lower() in ("true", "false"):
        return f"write it without quotes: {f.name} = {value.lower()}"
    if f.kind == "strings" and isinstance(value, str):
        return f"make it a list: {f.name} = [{_toml(value)}]"
    return f"write {f.name} = {f.example}"


# --------------------------------------------------------------------------- field reading


def _convert(raw: Any, f: _Field, table: str, problems: _Problems) -> Any:
    """Check one value against its field; return the model value or ``_INVALID``."""
    kind_ok = {
        "str": isinstance(raw, str),
        "path": isinstance(raw, str),
        "int": isinstance(raw, int) and not isinstance(raw, bool),
        "number": isinstance(raw, int | float) and not isinstance(raw, bool),
        "bool": isinstance(raw, bool),
        "strings": isinstance(raw, list),
        "table": isinstance(raw, dict),
    }[f.kind]
    if not kind_ok:
        problems.add(table, f.name, f"expected {_KIND_TEXT[f.kind]}, got {_describe(raw)}",
                     _type_fix(f, raw))
        return _INVALID

    if f.kind in ("str", "path"):
        return _check_text(raw, f, table, problems)
    if f.kind in ("int", "number"):
        return _check_number(raw, f, table, problems)
    if f.kind == "strings":
        return _check_strings(raw, f, table, problems)
    if f.kind == "table":
        return dict(raw)
    return raw


def _check_text(raw: str, f: _Field, table: str, problems: _Problems) -> Any:
    if f.name == "path_prefix" and raw == "":
        return raw
    if not raw.strip():
        problems.add(table, f.name, "is empty", f"write {f.name} = {f.example}")
        return _INVALID
    if f.choices and raw not in f.choices:
        close = _closest(raw, f.choices)
        fix = f"use one of {_quoted_list(f.choices)}"
        if close is not None:
            fix = f"write {f.name} = {_toml(close)} (allowed: {_quoted_list(f.choices)})"
        problems.add(table, f.name, f"{_toml(raw)} is not an allowed value", _with_hint(fix, f))
        return _INVALID
    if f.pattern is not None and not re.fullmatch(f.pattern, raw):
        problems.add(table, f.name, f"{_toml(raw)} is not valid here",
                     f"use {f.pattern_hint}; e.g. {f.name} = {f.example}")
        return _INVALID
    return Path(raw) if f.kind == "path" else raw


def _check_number(raw: float, f: _Field, table: str, problems: _Problems) -> Any:
    if isinstance(raw, int) and abs(raw) > 2**63:
        problems.add(table, f.name, f"{raw} is far out of range",
                     f"write {f.name} = {f.example}")
        return _INVALID
    if isinstance(raw, float) and not math.isfinite(raw):
        problems.add(table, f.name, f"must be a finite number, got {raw}",
                     f"write {f.name} = {f.example}")
        return _INVALID
    if f.choices and raw not in f.choices:
        allowed = " or ".join(_toml(c) for c in f.choices)
        fix = " or ".join(f"{f.name} = {_toml(c)}" for c in f.choices)
        problems.add(table, f.name, f"must be {allowed}, got {_toml(raw)}",
                     _with_hint(f"write {fix}", f))
        return _INVALID
    below = f.low is not None and (raw <= f.low if f.low_open else raw < f.low)
    above = f.high is not None and raw > f.high
    if below or above:
        problems.add(table, f.name, f"must be {_range_text(f)}, got {_toml(raw)}",
                     _with_hint(f"set it {_range_text(f)}, e.g. {f.name} = {f.example}", f))
        return _INVALID
    return float(raw) if f.kind == "number" else raw


def _check_strings(raw: list[Any], f: _Field, table: str, problems: _Problems) -> Any:
    ok = True
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            problems.add(table, f.name,
                         f"list items must be non-empty strings, got {_describe(item)}",
                         f"write {f.name} = {f.example}")
            ok = False
            continue
        if item in seen:
            problems.add(table, f.name, f"{_toml(item)} is listed twice",
                         f"list {_toml(item)} once")
            ok = False
        seen.add(item)
        if f.choices and item not in f.choices:
            ok = False
            _bad_choice_item(item, f, table, problems)
    return tuple(raw) if ok else _INVALID


def _bad_choice_item(item: str, f: _Field, table: str, problems: _Problems) -> None:
    close = _closest(item, f.choices)
    did_you_mean = f"did you mean {_toml(close)}? " if close else ""
    if f.name == "faults":
        kind = "EV" if f.choices == tuple(EV_FAULTS) else "charger"
        other = CHARGER_FAULTS if kind == "EV" else EV_FAULTS
        problem = f"unknown {kind} fault {_toml(item)}"
        if item in other:
            problem += f" (it is {'a charger' if kind == 'EV' else 'an EV'} fault)"
        valid = _quoted_list(f.choices) if f.choices else "none"
        fix = f"{did_you_mean}valid {kind} faults (testbench/lab/faults.py): {valid}"
    else:
        problem = f"{_toml(item)} is not an allowed value"
        fix = f"{did_you_mean}use items from {_quoted_list(f.choices)}"
    problems.add(table, f.name, problem, fix)


def _read_table(
    raw: dict[str, Any],
    table: str,
    fields: tuple[_Field, ...],
    problems: _Problems,
    *,
    extra_keys: tuple[str, ...] = (),
    secret_owner: str = "",
) -> dict[str, Any]:
    """Read the known fields of one table; report unknown, missing and invalid keys."""
    known = [f.name for f in fields] + list(extra_keys)
    for key in raw:
        if key in known:
            continue
        if _is_secret_key(key):
            env = _env_name(secret_owner or "charger")
            problems.add(
                table, key,
                "a secret is written in the file (secrets are never stored in lab.toml)",
                f'remove {key} and write password_env = "ENV_VAR_NAME" instead, naming an '
                f'environment variable that holds it (e.g. password_env = "{env}", then '
                f"export {env}=... before the run)",
            )
            continue
        close = _closest(key, known)
        if close is not None:
            fix = f"rename {key} to {close} (did you mean {close}?)"
        else:
            fix = f"remove it; keys known here: {', '.join(known)}"
        problems.add(table, key, "unknown key", fix)
    values: dict[str, Any] = {}
    for f in fields:
        if f.name not in raw:
            if f.required:
                problems.add(table, f.name, "is missing", f"add {f.name} = {f.example}")
            continue
        value = _convert(raw[f.name], f, table, problems)
        if value is not _INVALID:
            values[f.name] = value
    return values


def _array_of_tables(
    doc: dict[str, Any], name: str, problems: _Problems, what: str
) -> list[dict[str, Any]]:
    """The entries of ``[[name]]``; non-table entries are reported and dropped."""
    raw = doc.get(name)
    if raw is None:
        problems.add(name, None, f"no {what} declared",
                     f"add at least one [[{name}]] table")
        return []
    if isinstance(raw, dict):
        problems.add(name, None, f"[{name}] is a single table, but {name} is a list",
                     f"write each entry under its own [[{name}]] header (double brackets)")
        return []
    if not isinstance(raw, list):
        problems.add(name, None, f"expected [[{name}]] tables, got {_describe(raw)}",
                     f"write each entry under its own [[{name}]] header")
        return []
    entries: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        if isinstance(item, dict):
            entries.append(item)
        else:
            problems.add(f"{name}[{index}]", None, f"expected a table, got {_describe(item)}",
                         f"write each entry under its own [[{name}]] header")
    if not raw:
        problems.add(name, None, f"no {what} declared", f"add at least one [[{name}]] table")
    return entries


def _label(base: str, index: int, ident_key: str, raw: dict[str, Any]) -> str:
    ident = raw.get(ident_key)
    if isinstance(ident, str) and ident.strip():
        return f"{base}[{index}] ({ident_key} {_toml(ident)})"
    return f"{base}[{index}]"


def _unknown_ref(
    problems: _Problems, table: str, key: str, kind: str, name: str, known: list[str],
    where: str, remedy: str,
) -> None:
    close = _closest(name, known)
    hint = f"did you mean {_toml(close)}? " if close else ""
    listed = _quoted_list(known) if known else "none declared"
    problems.add(table, key, f"names {kind} {_toml(name)}, which {where}",
                 f"{hint}use one of {listed}, or {remedy}")


# --------------------------------------------------------------------------- the file


def _read_document(path: Path, shown: str) -> dict[str, Any]:
    """Read and parse the TOML file (missing file and syntax errors are fatal)."""
    problems = _Problems(shown)
    if not path.exists():
        problems.add("file", None, "lab file not found",
                     f"check the path, or copy the default lab.toml from the repository root "
                     f"to {shown}")
        raise LabConfigErrors(problems.items)
    if path.is_dir():
        problems.add("file", None, "is a folder, not a lab file",
                     f"pass the lab file inside it, e.g. {path / 'lab.toml'}")
        raise LabConfigErrors(problems.items)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        problems.add("file", None, f"cannot be read ({exc.strerror or exc})",
                     "check the file's permissions")
        raise LabConfigErrors(problems.items) from None
    except UnicodeDecodeError as exc:
        problems.add("file", None, f"is not UTF-8 text (byte {exc.start})",
                     "save the file as UTF-8")
        raise LabConfigErrors(problems.items) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem, fix, table = _syntax_problem(str(exc), text)
        problems.add(table, None, problem, fix)
        raise LabConfigErrors(problems.items) from None


def _syntax_problem(message: str, text: str) -> tuple[str, str, str]:
    """(problem, fix, enclosing table) for a tomllib error message."""
    lines = text.splitlines()
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
        where = f"line {line}, column {column}"
    else:
        line, column = max(len(lines), 1), 0
        where = "the end of the file"
    reason = re.sub(r"\s*\(at [^)]*\)\s*$", "", message)
    table = "top level"
    for previous in lines[:line]:
        header = re.match(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?", previous)
        if header:
            table = header.group(1)
    if "Cannot declare" in reason or "Cannot overwrite" in reason:
        advice = "remove the duplicate key or table (use [[...]] for lists of tables)"
    elif "Unterminated string" in reason:
        advice = "close the string with a matching quote"
    elif "Expected '=' after a key" in reason:
        advice = 'write one key = value per line, e.g. vendor = "Voltiq"'
    elif "Invalid value" in reason:
        advice = 'quote text values, e.g. vendor = "Voltiq"; write numbers and true/false bare'
    else:
        advice = "correct the TOML syntax there"
    return (f"TOML syntax error at {where}: {reason}", f"{advice} (at {where})", table)


# --------------------------------------------------------------------------- the lab


def load_lab(path: str | Path) -> Lab:
    """Parse and validate a lab file. Raises ``LabConfigErrors`` listing every problem."""
    given = Path(path)
    shown = str(path)
    doc = _read_document(given, shown)
    problems = _Problems(shown)
    builder = _LabBuilder(doc, problems)
    lab = builder.build(given.resolve())
    if problems.items or lab is None:
        raise LabConfigErrors(problems.items)
    return lab


class _LabBuilder:
    """Validates one parsed document table by table, then the references between them."""

    def __init__(self, doc: dict[str, Any], problems: _Problems) -> None:
        self.doc = doc
        self.p = problems

    def build(self, path: Path) -> Lab | None:
        self._top_level()
        settings = self._settings()
        csms = self._csms(settings)
        files = self._files()
        safety = self._limits(self._table("safety"), "safety", SafetyLimits())
        chargers, charger_ids = self._chargers(settings, csms)
        evs, ev_ids = self._evs(settings)
        stations = self._stations(safety, charger_ids, ev_ids)
        if self.p.items or settings is None or csms is None or files is None:
            return None
        return Lab(path=path, settings=settings, csms=csms, chargers=chargers, evs=evs,
                   stations=stations, files=files)

    # -- top level and single tables

    def _top_level(self) -> None:
        for key, value in self.doc.items():
            expected = _TOP_LEVEL.get(key)
            if expected is None:
                close = _closest(key, _TOP_LEVEL)
                fix = (f"rename it to {close} (did you mean {close}?)" if close else
                       f"remove it; the lab file has {', '.join(_TOP_LEVEL)}")
                self.p.add(key, None, "unknown table or top-level key", fix)
            elif expected == "table" and not isinstance(value, dict):
                self.p.add(key, None, f"expected the table [{key}], got {_describe(value)}",
                           f"write [{key}] once, with its keys below it")

    def _table(self, name: str) -> dict[str, Any] | None:
        value = self.doc.get(name)
        return value if isinstance(value, dict) else None

    def _settings(self) -> LabSettings | None:
        raw = self._table("lab")
        if raw is None:
            if "lab" not in self.doc:
                self.p.add("lab", None, "the [lab] table is missing",
                           'add [lab] with name = "my-lab" and mode = "sim" or "real"')
            return None
        before = len(self.p)
        values = _read_table(raw, "lab", _LAB_FIELDS, self.p)
        if values.get("mode") == "real" and values.get("time_scale", 1.0) != 1.0:
            self.p.add("lab", "time_scale",
                       f"a real lab runs in real time, but time_scale = {values['time_scale']}",
                       'set time_scale = 1.0 (or remove it), or set mode = "sim"')
        if len(self.p) != before:
            return None
        return LabSettings(**values)

    def _csms(self, settings: LabSettings | None) -> CsmsSettings | None:
        raw = self._table("csms")
        if raw is None:
            if "csms" in self.doc:
                return None  # not a table: reported with the top level
            raw = {}
        before = len(self.p)
        values = _read_table(raw, "csms", _CSMS_FIELDS, self.p)
        has_cert, has_key = "tls_cert" in values, "tls_key" in values
        if has_cert != has_key:
            missing = "tls_key" if has_cert else "tls_cert"
            example = '"certs/csms.key"' if has_cert else '"certs/csms.pem"'
            self.p.add("csms", missing,
                       "TLS needs both a certificate and its private key, only one is set",
                       f"add {missing} = {example} or remove the other TLS file")
        if "tls_ca" in values and not has_cert:
            self.p.add("csms", "tls_ca", "tls_ca is set but the central system has no TLS "
                       "certificate (tls_cert, tls_key)",
                       "add tls_cert and tls_key, or remove tls_ca")
        if settings is not None and settings.mode == "real" and values.get("port", 0) == 0:
            self.p.add("csms", "port",
                       "a real lab needs a fixed port: real chargers are configured with the "
                       "central system's URL, but port is 0 (any free port)",
                       "set port = 9000 (the port in the chargers' central system URL)")
        if len(self.p) != before:
            return None
        return CsmsSettings(**values)

    def _files(self) -> FileServerSettings | None:
        raw = self._table("files")
        if raw is None:
            if "files" in self.doc:
                return None  # not a table: reported with the top level
            raw = {}
        before = len(self.p)
        values = _read_table(raw, "files", _FILES_FIELDS, self.p)
        has_cert, has_key = "tls_cert" in values, "tls_key" in values
        if has_cert != has_key:
            missing = "tls_key" if has_cert else "tls_cert"
            example = '"certs/files.key"' if has_cert else '"certs/files.pem"'
            self.p.add("files", missing,
                       "HTTPS needs both a certificate and its private key, only one is set",
                       f"add {missing} = {example} or remove the other TLS file")
        if values.get("host") in ("0.0.0.0", "::") and "url_host" not in values:
            self.p.add("files", "url_host",
                       f"the file server listens on every interface (host = "
                       f"\"{values['host']}\") but no url_host says which address chargers "
                       "reach it at",
                       'add url_host = "<the bench\'s address on the station network>"')
        ports = [(k, values[k]) for k in ("port", "ftp_port", "https_port") if values.get(k)]
        seen: dict[int, str] = {}
        for key, port in ports:
            if port in seen:
                self.p.add("files", key, f"port {port} is also {seen[port]}",
                           "give each protocol its own port (or 0 for any free port)")
            seen[port] = key
        if len(self.p) != before:
            return None
        return FileServerSettings(**values)

    def _limits(self, raw: dict[str, Any] | None, table: str, base: SafetyLimits) -> SafetyLimits:
        if raw is None:
            return base
        values = _read_table(raw, table, _LIMIT_FIELDS, self.p)
        merged = {"max_voltage_v": base.max_voltage_v, "max_current_a": base.max_current_a,
                  "max_power_w": base.max_power_w}
        merged.update(values)
        return SafetyLimits(**merged)

    # -- inventory

    def _chargers(
        self, settings: LabSettings | None, csms: CsmsSettings | None
    ) -> tuple[dict[str, ChargerSpec], set[str] | None]:
        def rules(values: dict[str, Any], raw: dict[str, Any], table: str, ident: str) -> None:
            self._charger_rules(values, raw, table, settings, csms, ident)

        return self._inventory("chargers", "charger", _CHARGER_FIELDS, ChargerSpec, rules)

    def _evs(self, settings: LabSettings | None) -> tuple[dict[str, EVSpec], set[str] | None]:
        def rules(values: dict[str, Any], raw: dict[str, Any], table: str, ident: str) -> None:
            low, high = values.get("min_current_a"), values.get("max_current_a")
            if low is not None and high is not None and low > high:
                self.p.add(table, "min_current_a",
                           f"min_current_a ({_num(low)} A) is above max_current_a "
                           f"({_num(high)} A)",
                           "make min_current_a <= max_current_a (IEC 61851 chargers offer "
                           "at least 6 A)")
            self._no_faults_in_real_lab(values, table, settings)

        return self._inventory("evs", "EV", _EV_FIELDS, EVSpec, rules)

    def _inventory(
        self,
        name: str,
        what: str,
        fields: tuple[_Field, ...],
        spec_type: Callable[..., Any],
        rules: Callable[[dict[str, Any], dict[str, Any], str, str], None],
    ) -> tuple[dict[str, Any], set[str] | None]:
        """Read ``[[name]]`` entries into specs by id.

        Also returns the declared ids, or None when they are not reliable (an entry with a
        missing, invalid or duplicate id, or a broken array): references to this kind are
        then not checked, so one mistake does not cascade into many.
        """
        specs: dict[str, Any] = {}
        declared: dict[str, str] = {}
        before_array = len(self.p)
        entries = _array_of_tables(self.doc, name, self.p, f"{what}s")
        complete = len(self.p) == before_array
        for index, raw in enumerate(entries):
            table = _label(name, index, "id", raw)
            before = len(self.p)
            ident = raw["id"] if isinstance(raw.get("id"), str) else ""
            values = _read_table(raw, table, fields, self.p, secret_owner=ident)
            complete &= self._duplicate_id(values, declared, table, what)
            rules(values, raw, table, ident)
            if len(self.p) == before:
                specs[values["id"]] = spec_type(**values)
        return specs, (set(declared) if complete else None)

    def _duplicate_id(
        self, values: dict[str, Any], declared: dict[str, str], table: str, what: str
    ) -> bool:
        """Record the entry's id; False (reported if duplicate) when it has no usable id."""
        ident = values.get("id")
        if ident is None:
            return False
        if ident in declared:
            self.p.add(table, "id", f"id {_toml(ident)} is already used by {declared[ident]}",
                       f"give each {what} a unique id")
            values.pop("id")
            return False
        declared[ident] = table
        return True

    def _charger_rules(
        self,
        values: dict[str, Any],
        raw: dict[str, Any],
        table: str,
        settings: LabSettings | None,
        csms: CsmsSettings | None,
        ident: str,
    ) -> None:
        profile = values.get("security_profile", 0)
        secret_written = any(_is_secret_key(key) for key in raw)
        if profile in (1, 2) and "password_env" not in raw and not secret_written:
            env = _env_name(ident or "charger")
            self.p.add(table, "password_env",
                       f"security profile {profile} uses HTTP basic auth, but no password_env "
                       "names where its password is",
                       f'add password_env = "{env}" and export {env}=... before the run '
                       "(secrets are never written in lab.toml)")
        profile_ok = "security_profile" in values or "security_profile" not in raw
        if csms is not None and profile_ok:
            tls = csms.tls_cert is not None
            if profile >= 2 and not tls:
                self.p.add(table, "security_profile",
                           f"security profile {profile} needs TLS, but [csms] has no "
                           "tls_cert/tls_key",
                           "add tls_cert and tls_key to [csms], or use security_profile = 0 or 1")
            elif profile == 3 and csms.tls_ca is None:
                self.p.add(table, "security_profile",
                           "security profile 3 authenticates chargers by client certificate, "
                           "but [csms] has no tls_ca to verify them",
                           'add tls_ca = "certs/ca.pem" to [csms] (the CA that signed the '
                           "chargers' certificates)")
            elif profile <= 1 and tls:
                self.p.add(table, "security_profile",
                           f"security profile {profile} connects over plain ws://, but [csms] "
                           "serves wss:// only (tls_cert is set)",
                           "use security_profile = 2 (or 3), or remove the TLS files from [csms]")
        if values.get("charging_rate_units") == ():
            self.p.add(table, "charging_rate_units", "lists no rate unit",
                       'list at least one: charging_rate_units = ["A"] (or ["A", "W"])')
        version = values.get("ocpp_version")
        if version in _BOOT_FIELD_MAX:
            for key, limit in _BOOT_FIELD_MAX[version].items():
                text = values.get(key)
                if isinstance(text, str) and len(text) > limit:
                    self.p.add(table, key,
                               f"{_toml(text)} has {len(text)} characters; OCPP {version} "
                               f"BootNotification allows at most {limit}",
                               f"shorten it to at most {limit} characters, as the charger "
                               "reports it")
        self._no_faults_in_real_lab(values, table, settings)

    def _no_faults_in_real_lab(
        self, values: dict[str, Any], table: str, settings: LabSettings | None
    ) -> None:
        if settings is not None and settings.mode == "real" and values.get("faults"):
            self.p.add(table, "faults",
                       "fault personalities are for simulated devices, but this lab has "
                       'mode = "real"',
                       'remove faults (or set mode = "sim" in [lab] to run the simulated lab)')

    # -- stations

    def _stations(
        self,
        safety: SafetyLimits,
        charger_ids: set[str] | None,
        ev_ids: set[str] | None,
    ) -> dict[str, StationSpec]:
        specs: dict[str, StationSpec] = {}
        declared: dict[str, str] = {}
        charger_home: dict[str, str] = {}
        for index, raw in enumerate(_array_of_tables(self.doc, "stations", self.p, "stations")):
            table = _label("stations", index, "id", raw)
            ident = raw.get("id")
            prefix = f"stations.{ident}" if isinstance(ident, str) and ident.strip() else (
                f"stations[{index}]")
            before = len(self.p)
            values = _read_table(raw, table, _STATION_FIELDS, self.p,
                                 extra_keys=_STATION_SUBTABLES)
            self._duplicate_id(values, declared, table, "station")
            for key, kind, known in (("chargers", "charger", charger_ids),
                                     ("evs", "EV", ev_ids)):
                names = values.get(key)
                if names is None:
                    continue
                if not names:
                    self.p.add(table, key, f"lists no {kind}s",
                               f"list at least one, e.g. {key} = "
                               f"{_toml(sorted(known or ())[:1] or ['...'])}")
                for name in names:
                    if known is not None and name not in known:
                        _unknown_ref(self.p, table, key, kind, name, sorted(known),
                                     f"no [[{key}]] entry declares",
                                     f"declare it in a [[{key}]] table with id = {_toml(name)}")
            for name in values.get("chargers", ()):
                if name in charger_home:
                    self.p.add(table, "chargers",
                               f"charger {_toml(name)} is already at {charger_home[name]}; a "
                               "charger can be at one station only (stations run in parallel)",
                               f"remove {_toml(name)} from one of the stations")
                charger_home.setdefault(name, table)
            limits = self._station_limits(raw, prefix, safety)
            site = self._station_site(raw, prefix)
            where = f"station {_toml(ident)}" if isinstance(ident, str) else table
            instruments = self._instruments(raw, prefix, values.get("chargers"), where)
            if len(self.p) == before:
                specs[values["id"]] = StationSpec(
                    id=values["id"], chargers=values["chargers"], evs=values["evs"],
                    instruments=instruments, limits=limits,
                    grid_code=values.get("grid_code", "en50549-default"), site=site)
        return specs

    def _station_limits(
        self, raw: dict[str, Any], prefix: str, safety: SafetyLimits
    ) -> SafetyLimits:
        table = f"{prefix}.limits"
        value = raw.get("limits")
        if value is None:
            return safety
        if not isinstance(value, dict):
            self.p.add(table, None, f"expected a table, got {_describe(value)}",
                       "write [stations.limits] under the station with max_voltage_v, "
                       "max_current_a and max_power_w")
            return safety
        return self._limits(value, table, safety)

    def _station_site(self, raw: dict[str, Any], prefix: str) -> SiteSpec | None:
        """The station's [stations.site] table (household load, PV, supply rating), or None."""
        table = f"{prefix}.site"
        value = raw.get("site")
        if value is None:
            return None
        if not isinstance(value, dict):
            self.p.add(table, None, f"expected a table, got {_describe(value)}",
                       "write [stations.site] under the station with household_load_w, "
                       "pv_peak_w and (optionally) supply_max_current_a")
            return None
        before = len(self.p)
        values = _read_table(value, table, _SITE_FIELDS, self.p)
        if len(self.p) != before:
            return None
        return SiteSpec(**{k: float(v) for k, v in values.items()})

    def _instruments(
        self,
        raw: dict[str, Any],
        prefix: str,
        station_chargers: tuple[str, ...] | None,
        station: str,
    ) -> tuple[InstrumentSpec, ...]:
        """The station's instruments (bindings not checked when its chargers are invalid)."""
        value = raw.get("instruments")
        if value is None:
            return ()
        if not isinstance(value, list):
            self.p.add(f"{prefix}.instruments", None,
                       f"expected [[stations.instruments]] tables, got {_describe(value)}",
                       "write each instrument under its own [[stations.instruments]] header")
            return ()
        specs: list[InstrumentSpec] = []
        names: dict[str, str] = {}
        roles: dict[tuple[str, str | None], str] = {}
        for index, item in enumerate(value):
            table = _label(f"{prefix}.instruments", index, "name", item if isinstance(
                item, dict) else {})
            if not isinstance(item, dict):
                self.p.add(table, None, f"expected a table, got {_describe(item)}",
                           "write each instrument under its own [[stations.instruments]] header")
                continue
            before = len(self.p)
            values = _read_table(item, table, _INSTRUMENT_FIELDS, self.p)
            self._instrument_rules(values, table, station_chargers, station, names, roles)
            if len(self.p) == before:
                specs.append(InstrumentSpec(**values))
        return tuple(specs)

    def _instrument_rules(
        self,
        values: dict[str, Any],
        table: str,
        station_chargers: tuple[str, ...] | None,
        station: str,
        names: dict[str, str],
        roles: dict[tuple[str, str | None], str],
    ) -> None:
        name = values.get("name")
        if name is not None:
            if name in names:
                self.p.add(table, "name", f"name {_toml(name)} is already used by {names[name]}",
                           "give each instrument of a station a unique name")
            names.setdefault(name, table)
        charger = values.get("charger")
        if charger is not None and station_chargers is not None and (
                charger not in station_chargers):
            _unknown_ref(self.p, table, "charger", "charger", charger, list(station_chargers),
                         f"is not at {station}",
                         f"add {_toml(charger)} to the chargers of {station}")
        for key, secret in _secret_keys(values.get("options", {})):
            self.p.add(table, f"options.{key}",
                       "a secret is written in the file (secrets are never stored in lab.toml)",
                       f'replace it with {secret}_env = "ENV_VAR_NAME", naming an environment '
                       "variable that holds it")
        role = values.get("role")
        if role is None:
            return
        for (other_role, other_charger), other in roles.items():
            if other_role != role:
                continue
            if other_charger == charger or other_charger is None or charger is None:
                bound = f"charger {_toml(charger)}" if charger else "the station"
                self.p.add(table, "role",
                           f"a second {_toml(role)} instrument for {bound}: {other} plays it "
                           "already, so suites could not tell which to use",
                           'bind each to a different charger with charger = "...", or remove '
                           "one")
                return
        roles[(role, charger)] = table


def _secret_keys(options: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, key) of every secret-looking key in an options table."""
    found: list[tuple[str, str]] = []
    for key, value in options.items():
        if _is_secret_key(key):
            found.append((prefix + key, key))
        if isinstance(value, dict):
            found.extend(_secret_keys(value, f"{prefix}{key}."))
    return found
