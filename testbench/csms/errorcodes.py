"""OCPP-J RPC error codes per version, and which one the bench answers for which problem.

Spellings differ between versions: 1.6 says ``FormationViolation`` and (errata, kept)
``OccurenceConstraintViolation``; 2.0.1 says ``FormatViolation``; 2.1 spells
``OccurrenceConstraintViolation``. Only 2.x knows ``RpcFrameworkError`` and
``MessageTypeNotSupported``.
"""

from __future__ import annotations

from typing import Literal

Problem = Literal[
    "not_json",  # the frame is not valid JSON (or not UTF-8 text)
    "not_array",  # valid JSON, but not a non-empty array
    "bad_unique_id",  # the unique id is missing or not a string
    "bad_type_id",  # the message type id is not one this version knows
    "bad_call",  # a CALL without action/payload, or with extra elements
    "payload_not_object",  # the payload is not a JSON object
    "format",  # schema: additional properties or any other structural violation
    "occurrence",  # schema: a required field is missing, or too few/many items
    "type",  # schema: wrong JSON type, or a string too long/short
    "property",  # schema: a value outside its enum or range
    "not_implemented",  # the action is not known by the bench for this version
    "not_supported",  # the action is known to the version, but the bench does not handle it
    "internal",  # the bench failed while handling a valid request
]

# The spec's descriptions of NotImplemented / NotSupported (the ocpp package swaps them).
DESCRIPTIONS: dict[str, str] = {
    "NotImplemented": "Requested Action is not known by receiver",
    "NotSupported": "Requested Action is recognized but not supported by the receiver",
    "InternalError": "An internal error occurred and the receiver was not able to process "
    "the requested Action successfully",
}

_V16: dict[str, str] = {
    "not_json": "FormationViolation",
    "not_array": "FormationViolation",
    "bad_unique_id": "FormationViolation",
    "bad_type_id": "FormationViolation",
    "bad_call": "ProtocolError",
    "payload_not_object": "FormationViolation",
    "format": "FormationViolation",
    "occurrence": "OccurenceConstraintViolation",
    "type": "TypeConstraintViolation",
    "property": "PropertyConstraintViolation",
    "not_implemented": "NotImplemented",
    "not_supported": "NotSupported",
    "internal": "InternalError",
}

_V2: dict[str, str] = {
    "not_json": "RpcFrameworkError",
    "not_array": "RpcFrameworkError",
    "bad_unique_id": "RpcFrameworkError",
    "bad_type_id": "MessageTypeNotSupported",
    "bad_call": "RpcFrameworkError",
    "payload_not_object": "FormatViolation",
    "format": "FormatViolation",
    # 2.0.1 keeps the 1.6 spelling (per the ocpp package's reading of the spec) (verify).
    "occurrence": "OccurenceConstraintViolation",
    "type": "TypeConstraintViolation",
    "property": "PropertyConstraintViolation",
    "not_implemented": "NotImplemented",
    "not_supported": "NotSupported",
    "internal": "InternalError",
}

_V21: dict[str, str] = {**_V2, "occurrence": "OccurrenceConstraintViolation"}

_TABLES: dict[str, dict[str, str]] = {"1.6": _V16, "2.0.1": _V2, "2.1": _V21}

MAX_DESCRIPTION_CHARS = 255  # 2.x errorDescription is string[255]


def error_code(version: str, problem: Problem) -> str:
    """The CALLERROR errorCode the bench answers with for ``problem`` in ``version``."""
    return _TABLES[version][problem]


def clip(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """Cut a description to the spec's maximum length."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
