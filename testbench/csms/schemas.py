"""JSON-schema validation of OCPP payloads, using the schemas shipped with the ``ocpp`` package.

Own cache and float handling instead of ``ocpp.messages.get_validator``: that cache ignores
``parse_float``, and 1.6 schemas with ``multipleOf: 0.1`` reject floats like ``21.4`` unless
both schema and payload are parsed as ``Decimal``. Validation is synchronous (a few tens of
microseconds), avoiding the package's thread-pool hop per message.
"""

from __future__ import annotations

import decimal
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import ocpp  # type: ignore[import-untyped]
from jsonschema import validators  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped]

from testbench.csms.errorcodes import Problem

SchemaKind = Literal["request", "response", "send"]

_SCHEMA_ROOT = Path(ocpp.__file__).parent
_ACTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
_VERSION_DIRS = {"1.6": "v16", "2.0.1": "v201", "2.1": "v21"}

_OCCURRENCE = {"required", "minItems", "maxItems", "minProperties", "maxProperties"}
_TYPE = {"type", "maxLength", "minLength"}
_PROPERTY = {"enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
             "multipleOf", "pattern", "format"}


@dataclass(frozen=True)
class SchemaProblem:
    """Why a payload breaks its schema: the problem class and a readable explanation."""

    problem: Problem
    description: str


class _Checker:
    def __init__(self, schema_text: str) -> None:
        self.decimal = "multipleOf" in schema_text
        parse_float = decimal.Decimal if self.decimal else float
        schema = json.loads(schema_text, parse_float=parse_float)
        cls = validators.validator_for(schema, default=validators.Draft4Validator)
        self.validator = cls(schema)

    def first_error(self, payload: Any) -> ValidationError | None:
        if self.decimal:
            payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
        return best_match(self.validator.iter_errors(payload))


def schema_path(version: str, action: str, kind: SchemaKind) -> Path:
    """The schema file of ``action`` in ``version`` (request, response, or 2.1 SEND)."""
    folder = _SCHEMA_ROOT / _VERSION_DIRS[version] / "schemas"
    if kind == "response":
        return folder / f"{action}Response.json"
    if kind == "request" and version != "1.6":
        return folder / f"{action}Request.json"
    return folder / f"{action}.json"


@lru_cache(maxsize=1024)
def _checker(version: str, action: str, kind: SchemaKind) -> _Checker | None:
    path = schema_path(version, action, kind)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        return None
    return _Checker(text)


def has_schema(version: str, action: str, kind: SchemaKind) -> bool:
    """True when the ocpp package ships a schema for this action and kind."""
    return _checker(version, action, kind) is not None


def check(version: str, action: str, kind: SchemaKind, payload: Any) -> SchemaProblem | None:
    """Validate ``payload``; ``None`` when valid, else what is wrong and where.

    An action without a schema (or not an action name at all) is ``not_implemented``.
    """
    if not _ACTION_NAME.fullmatch(action):
        return SchemaProblem("not_implemented", f"{action[:80]!r} is not an OCPP action name")
    checker = _checker(version, action, kind)
    if checker is None:
        return SchemaProblem("not_implemented",
                             f"no OCPP {version} schema for {action} {kind}")
    error = checker.first_error(payload)
    if error is None:
        return None
    return SchemaProblem(_classify(error), _explain(action, kind, error))


def _classify(error: ValidationError) -> Problem:
    keyword = str(error.validator)
    if keyword in _OCCURRENCE:
        return "occurrence"
    if keyword in _TYPE:
        return "type"
    if keyword in _PROPERTY:
        return "property"
    return "format"


def _explain(action: str, kind: str, error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    message = error.message
    if len(message) > 160:
        message = message[:157] + "..."
    return f"{action} {kind}: at {where}: {message}"
