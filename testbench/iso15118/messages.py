"""V2G messages and lifecycle events as recorded by the emulator processes, and their evidence.

Each emulator process (see ``_launch.py``) appends JSON lines to its own records file: one
``message`` record per V2G message it sent (``tx``) or received and decoded (``rx``), and
``event`` records (codec ready, SDP, session stop with reason, gave up, crashed). This
module reads those files (also while they grow), normalises the package's message
documents (ISO 15118-2/DIN ``Header``/``Body`` vs ISO 15118-20 flat messages vs the
SupportedAppProtocol handshake) and writes the merged, time-ordered V2G log used as test
evidence.

Times: ``t_wall_s`` is Unix time, ``t_mono_s`` the machine's monotonic clock (shared by all
processes on one host, so EVCC and SECC records order correctly). Sent messages are stamped
just before the bytes go to the socket; received ones when the bytes were read, before
decoding (``codec_ms`` is the decode time).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from testbench.errors import BenchError

ROLES = ("evcc", "secc")

#: Protocol names (the package's ``Protocol`` members) by their XML namespace.
PROTOCOL_BY_NAMESPACE = {
    "urn:din:70121:2012:MsgDef": "DIN_SPEC_70121",
    "urn:iso:15118:2:2013:MsgDef": "ISO_15118_2",
    "urn:iso:std:iso:15118:-20:AC": "ISO_15118_20_AC",
    "urn:iso:std:iso:15118:-20:DC": "ISO_15118_20_DC",
    "urn:iso:std:iso:15118:-20:WPT": "ISO_15118_20_WPT",
    "urn:iso:std:iso:15118:-20:ACDP": "ISO_15118_20_ACDP",
}


def _other(role: str) -> str:
    return "secc" if role == "evcc" else "evcc"


@dataclass(frozen=True)
class V2GMessage:
    """One V2G message as one side saw it (a message sent and received appears twice)."""

    role: str
    direction: str
    name: str
    namespace: str
    t_wall_s: float
    t_mono_s: float
    fields: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    exi_hex: str = ""
    codec_ms: float | None = None
    timeout_s: float | None = None
    error: str | None = None

    @property
    def sender(self) -> str:
        """``evcc`` or ``secc``: who sent the message."""
        return self.role if self.direction == "tx" else _other(self.role)

    @property
    def is_request(self) -> bool:
        return self.name.endswith("Req")

    @property
    def response_code(self) -> str | None:
        code = self.fields.get("ResponseCode")
        return str(code) if code is not None else None

    @property
    def exi_bytes(self) -> int:
        return len(self.exi_hex) // 2

    def get(self, *path: str, default: Any = None) -> Any:
        """A nested field by XML element names: ``msg.get("EVSEMaxCurrent", "Value")``."""
        node: Any = self.fields
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node

    def to_evidence(self) -> dict[str, Any]:
        """The evidence line for this message (JSON-ready)."""
        line: dict[str, Any] = {
            "t_wall_s": round(self.t_wall_s, 6),
            "time_utc": datetime.fromtimestamp(self.t_wall_s, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "t_mono_s": round(self.t_mono_s, 6),
            "recorded_by": self.role, "direction": self.direction, "sender": self.sender,
            "name": self.name, "namespace": self.namespace, "fields": self.fields,
        }
        if self.header:
            line["header"] = self.header
        if self.exi_hex:
            line["exi_hex"] = self.exi_hex
        if self.codec_ms is not None:
            line["decode_ms"] = self.codec_ms
        if self.timeout_s is not None:
            line["next_timeout_s"] = self.timeout_s
        if self.error:
            line["error"] = self.error
        return line


@dataclass(frozen=True)
class V2GEvent:
    """A lifecycle event of one emulator process (``codec_ready``, ``session_stop``...)."""

    role: str
    name: str
    t_wall_s: float
    t_mono_s: float
    data: dict[str, Any] = field(default_factory=dict)

    def to_evidence(self) -> dict[str, Any]:
        return {"t_wall_s": round(self.t_wall_s, 6), "t_mono_s": round(self.t_mono_s, 6),
                "recorded_by": self.role, "event": self.name, "data": self.data}


def split_document(name: str, doc: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields, header) of a package message document, for every protocol family.

    ISO 15118-2 and DIN wrap the body: ``{"Header": .., "Body": {"<Name>": {..}}}``;
    ISO 15118-20 messages are flat with a ``Header``; SupportedAppProtocol has no header.
    """
    if not isinstance(doc, dict):
        return {}, {}
    raw_header = doc.get("Header")
    header: dict[str, Any] = raw_header if isinstance(raw_header, dict) else {}
    body = doc.get("Body")
    if isinstance(body, dict):
        if name in body and isinstance(body[name], dict):
            return body[name], header
        if len(body) == 1:
            only = next(iter(body.values()))
            return (only if isinstance(only, dict) else {"value": only}), header
        return body, header
    fields = {k: v for k, v in doc.items() if k != "Header"}
    return fields, header


def parse_record(record: dict[str, Any]) -> V2GMessage | V2GEvent | None:
    """A records-file line as a message or event (None for unknown kinds)."""
    try:
        role = str(record["role"])
        t_wall = float(record["t_wall_s"])
        t_mono = float(record["t_mono_s"])
        kind = record["kind"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchError(f"malformed V2G record {record!r}: {exc}") from None
    if kind == "event":
        return V2GEvent(role=role, name=str(record.get("event")), t_wall_s=t_wall,
                        t_mono_s=t_mono, data=dict(record.get("data") or {}))
    if kind != "message":
        return None
    name = record.get("name") or "<undecodable>"
    fields, header = split_document(name, record.get("doc"))
    return V2GMessage(role=role, direction=str(record.get("direction")), name=name,
                      namespace=str(record.get("namespace") or ""), t_wall_s=t_wall,
                      t_mono_s=t_mono, fields=fields, header=header,
                      exi_hex=str(record.get("exi") or ""), codec_ms=record.get("codec_ms"),
                      timeout_s=record.get("timeout_s"), error=record.get("error"))


class RecordTail:
    """Incremental reader of one growing records file (tolerates a half-written last line)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""
        self.items: list[V2GMessage | V2GEvent] = []

    def poll(self) -> list[V2GMessage | V2GEvent]:
        """Read what was appended since the last call; return the new items."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        new: list[V2GMessage | V2GEvent] = []
        for raw in lines:
            if not raw.strip():
                continue
            try:
                item = parse_record(json.loads(raw))
            except json.JSONDecodeError as exc:
                raise BenchError(f"{self.path}: not a JSON line ({exc}): {raw[:200]!r}") from None
            if item is not None:
                new.append(item)
        self.items.extend(new)
        return new

    def messages(self) -> list[V2GMessage]:
        return [i for i in self.items if isinstance(i, V2GMessage)]

    def events(self) -> list[V2GEvent]:
        return [i for i in self.items if isinstance(i, V2GEvent)]

    def event(self, name: str) -> V2GEvent | None:
        """The first event called ``name`` read so far."""
        return next((e for e in self.events() if e.name == name), None)


def read_records(path: Path) -> list[V2GMessage | V2GEvent]:
    """Every message and event of one records file."""
    tail = RecordTail(path)
    tail.poll()
    return tail.items


def merge(*streams: Iterable[V2GMessage | V2GEvent]) -> list[V2GMessage | V2GEvent]:
    """Items of several records files in time order (monotonic clock, then wall clock)."""
    items = [item for stream in streams for item in stream]
    return sorted(items, key=lambda i: (i.t_mono_s, i.t_wall_s))


def write_evidence(items: Iterable[V2GMessage | V2GEvent], path: Path) -> Path:
    """Write the merged V2G log as JSON lines (one message or event per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item.to_evidence(), sort_keys=False) + "\n")
    return path


def iter_evidence(path: Path) -> Iterator[dict[str, Any]]:
    """Lines of an evidence file written by :func:`write_evidence`."""
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
