"""Robustness fault personalities of a simulated charger (``ROBUSTNESS_FAULTS``).

* ``drops-connection-mid-transaction``: :data:`DROP_AFTER_S` lab s after a transaction
  starts the websocket dies without a closing handshake; transaction messages queue in the
  outbox (retained, marked ``offline`` in 2.x); the link stays down :data:`OFFLINE_S` lab s,
  then reconnects, boots and replays the queue in order (``outbox.py``).
* ``sends-malformed-frames``: the first plug-in of each connection is reported by three
  malformed frames (invalid JSON, an unknown message type id, a StatusNotification CALL
  whose payload breaks the schema) instead of a valid StatusNotification; then it carries on.
* ``stops-answering``: once the boot is accepted, CALLs of the central system are read and
  dropped (no CALLRESULT, no CALLERROR); the socket stays open and the charger's own
  messages still go out.

Hooks: ``SimCharger.start_transaction`` -> :func:`transaction_started`,
``SimCharger.refresh`` -> :func:`status_message`, ``SimCharger._drain`` -> :class:`RawFrames`,
``SimCharger.serve`` -> :func:`wrap_client`, ``run_link`` -> :func:`stay_offline`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("testbench.sim")

DROPS = "drops-connection-mid-transaction"
MALFORMED = "sends-malformed-frames"
SILENT = "stops-answering"

DROP_AFTER_S = 6.0
"""Lab seconds from a transaction's start to the connection dying (drops-connection-...)."""

OFFLINE_S = 10.0
"""Lab seconds the charger stays off line after the drop before reconnecting."""

CALL = 2


@dataclass
class _State:
    """Per-charger bookkeeping of the robustness faults."""

    offline_until_wall: float = 0.0  # time.monotonic() before which the link stays down
    dropped: set[int] = field(default_factory=set)  # id() of transactions already dropped
    malformed_on: int | None = None  # id() of the connection the frames were sent on


def _state(charger: Any) -> _State:
    state = getattr(charger, "_robustness", None)
    if state is None:
        state = _State()
        charger._robustness = state
    return state


# ---------------------------------------------------------------- drops-connection-...
def transaction_started(charger: Any, conn: Any, tx: Any) -> None:
    """A transaction started: with ``drops-connection-mid-transaction``, drop the link later."""
    if not charger.has(DROPS) or id(tx) in _state(charger).dropped:
        return
    _state(charger).dropped.add(id(tx))
    charger.spawn(_drop_later(charger, conn, tx))


async def _drop_later(charger: Any, conn: Any, tx: Any) -> None:
    await charger.clock.asleep(DROP_AFTER_S)
    ws = charger._ws
    if conn.tx is not tx or ws is None:
        return  # the transaction ended or the link is down already: nothing to drop
    _state(charger).offline_until_wall = (time.monotonic()
                                          + charger.clock.wall_duration(OFFLINE_S))
    log.info("%s: connection drops %g lab s into transaction %s; off line for %g lab s "
             "(fault %s)", charger.spec.id, DROP_AFTER_S, tx.id, OFFLINE_S, DROPS)
    transport = getattr(ws, "transport", None)
    if transport is not None:
        transport.abort()  # no closing handshake: the link just dies


async def stay_offline(charger: Any) -> None:
    """Before reconnecting: wait out the off-line time of a dropped connection."""
    remaining_s = _state(charger).offline_until_wall - time.monotonic()
    if remaining_s > 0:
        await asyncio.sleep(remaining_s)
        log.info("%s: back from the dropped connection; reconnecting to replay %d queued "
                 "message(s)", charger.spec.id, len(charger.outbox))


# ---------------------------------------------------------------- sends-malformed-frames
@dataclass
class RawFrames:
    """Text frames the charger sends as they are, in place of one CALL (from the outbox)."""

    frames: list[str]
    why: str

    async def send(self, client: Any) -> None:
        ws = client._connection
        for text in self.frames:
            log.info("%s: sending malformed frame %s", self.why, text)
            await ws.send(text)


def _uid() -> str:
    return str(uuid.uuid4())


def malformed_status_frames(charger: Any, conn: Any, status: str) -> list[str]:
    """Invalid JSON, an unknown message type id, and a schema-violating StatusNotification."""
    if charger.ocpp_version == "1.6":
        valid = {"connectorId": conn.number, "errorCode": "NoError", "status": status}
        broken = {"connectorId": str(conn.number), "errorCode": "NoError", "status": "Plugged"}
    else:
        valid = {"timestamp": charger.clock.iso_now(), "connectorStatus": status,
                 "evseId": conn.evse_id, "connectorId": conn.connector_id}
        broken = {"timestamp": charger.clock.iso_now(), "connectorStatus": "Plugged",
                  "evseId": str(conn.evse_id), "connectorId": conn.connector_id}
    return [
        f'[2, "{_uid()}", "StatusNotification", {{"connectorStatus": ',  # invalid JSON
        json.dumps([7, _uid(), "StatusNotification", valid]),  # no such message type id
        json.dumps([CALL, _uid(), "StatusNotification", broken]),  # breaks the schema
    ]


def status_message(charger: Any, conn: Any, status: str, cause: str | None) -> Any:
    """The StatusNotification to queue for a status change (malformed frames, once per
    connection, for a plug-in under ``sends-malformed-frames``)."""
    if cause == "plug" and charger.has(MALFORMED) and charger._ws is not None:
        state = _state(charger)
        if state.malformed_on != id(charger._ws):
            state.malformed_on = id(charger._ws)
            return RawFrames(malformed_status_frames(charger, conn, status),
                             f"{charger.spec.id} (fault {MALFORMED})")
    return charger.status_payload(conn, status)


# ---------------------------------------------------------------- stops-answering
def wrap_client(charger: Any, client: Any) -> None:
    """Under ``stops-answering``: the client drops the central system's CALLs once the boot
    is accepted (everything else is routed as usual)."""
    if not charger.has(SILENT):
        return
    route = client.route_message

    async def route_message(raw: str | bytes) -> None:
        if charger.online and _is_call(raw):
            log.info("%s: not answering %s (fault %s)", charger.spec.id,
                     str(raw)[:120], SILENT)
            return
        await route(raw)

    client.route_message = route_message


def _is_call(raw: str | bytes) -> bool:
    try:
        frame = json.loads(raw)
    except ValueError:
        return False
    return isinstance(frame, list) and bool(frame) and frame[0] == CALL
