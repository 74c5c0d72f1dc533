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
* ``sends-wrong-unique-id``: once the boot is accepted, every CALLRESULT it sends to the
  central system carries a fresh unique id instead of the one of the CALL it answers.
* ``sends-oversized-frame``: the first plug-in (once per charger) is reported by one
  StatusNotification padded to :data:`OVERSIZED_BYTES` (above the central system's default
  limit of 1 MiB); the central system closes the link (1009), the charger reconnects, boots
  and reports its statuses anew.
* ``sends-unknown-action``: the first plug-in of each connection is preceded by a CALL whose
  action is not in its OCPP version (2.x: the 1.6 ``StartTransaction``; 1.6: the 2.x
  ``TransactionEvent``); the valid StatusNotification follows.
* ``floods-heartbeats``: after accepting a TriggerMessage for a Heartbeat (once per
  charger) it sends :data:`FLOOD_COUNT` Heartbeats back to back, each as soon as the previous
  one is answered (OCPP-J: one CALL in flight).

Hooks: ``SimCharger.start_transaction`` -> :func:`transaction_started`,
``SimCharger.refresh`` -> :func:`status_message`, ``SimCharger._drain`` -> :class:`RawFrames`,
``SimCharger.serve`` -> :func:`wrap_client`, ``run_link`` -> :func:`stay_offline`
(the four faults added last need no hook of their own).
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
WRONG_ID = "sends-wrong-unique-id"
OVERSIZED = "sends-oversized-frame"
UNKNOWN_ACTION = "sends-unknown-action"
FLOODS = "floods-heartbeats"

OVERSIZED_BYTES = 2**20 + 64 * 1024
"""Size of the oversized frame (sends-oversized-frame): above the 1 MiB default limit."""

FLOOD_COUNT = 2000
"""Heartbeats sent back to back by floods-heartbeats."""

DROP_AFTER_S = 6.0
"""Lab seconds from a transaction's start to the connection dying (drops-connection-...)."""

OFFLINE_S = 10.0
"""Lab seconds the charger stays off line after the drop before reconnecting."""

CALL = 2
CALLRESULT = 3


@dataclass
class _State:
    """Per-charger bookkeeping of the robustness faults."""

    offline_until_wall: float = 0.0  # time.monotonic() before which the link stays down
    dropped: set[int] = field(default_factory=set)  # id() of transactions already dropped
    malformed_on: int | None = None  # id() of the connection the frames were sent on
    oversized_sent: bool = False
    unknown_on: int | None = None  # id() of the connection the unknown action was sent on
    flooded: bool = False


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
            shown = text if len(text) <= 300 else f"{text[:300]}... ({len(text)} characters)"
            log.info("%s: sending frame %s", self.why, shown)
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
    """The StatusNotification to queue for a status change (for a plug-in: malformed frames
    under ``sends-malformed-frames``, once per connection; one oversized frame under
    ``sends-oversized-frame``, once; an unknown action first under ``sends-unknown-action``,
    once per connection)."""
    if cause == "plug" and charger._ws is not None:
        state = _state(charger)
        if charger.has(MALFORMED) and state.malformed_on != id(charger._ws):
            state.malformed_on = id(charger._ws)
            return RawFrames(malformed_status_frames(charger, conn, status),
                             f"{charger.spec.id} (fault {MALFORMED})")
        if charger.has(OVERSIZED) and not state.oversized_sent:
            state.oversized_sent = True
            return RawFrames([oversized_status_frame(charger, conn, status)],
                             f"{charger.spec.id} (fault {OVERSIZED})")
        if charger.has(UNKNOWN_ACTION) and state.unknown_on != id(charger._ws):
            state.unknown_on = id(charger._ws)
            return RawFrames([unknown_action_frame(charger, conn),
                              json.dumps([CALL, _uid(), "StatusNotification",
                                          _status_body(charger, conn, status)])],
                             f"{charger.spec.id} (fault {UNKNOWN_ACTION})")
    return charger.status_payload(conn, status)


def _status_body(charger: Any, conn: Any, status: str) -> dict[str, Any]:
    if charger.ocpp_version == "1.6":
        return {"connectorId": conn.number, "errorCode": "NoError", "status": status}
    return {"timestamp": charger.clock.iso_now(), "connectorStatus": status,
            "evseId": conn.evse_id, "connectorId": conn.connector_id}


# ---------------------------------------------------------------- sends-oversized-frame
def oversized_status_frame(charger: Any, conn: Any, status: str) -> str:
    """A StatusNotification CALL of :data:`OVERSIZED_BYTES` characters (2.x: padded in
    ``customData``, schema-valid; 1.6: padded in ``info``, too long for its schema too)."""
    body = _status_body(charger, conn, status)
    if charger.ocpp_version == "1.6":
        body["info"] = ""
    else:
        body["customData"] = {"vendorId": "testbench-sim", "padding": ""}
    pad = "x" * (OVERSIZED_BYTES - len(json.dumps([CALL, _uid(), "StatusNotification", body])))
    if charger.ocpp_version == "1.6":
        body["info"] = pad
    else:
        body["customData"]["padding"] = pad
    return json.dumps([CALL, _uid(), "StatusNotification", body])


# ---------------------------------------------------------------- sends-unknown-action
def unknown_action_frame(charger: Any, conn: Any) -> str:
    """A CALL whose action belongs to another OCPP version than the charger's."""
    if charger.ocpp_version == "1.6":
        return json.dumps([CALL, _uid(), "TransactionEvent", {
            "eventType": "Started", "timestamp": charger.clock.iso_now(),
            "triggerReason": "CablePluggedIn", "seqNo": 0,
            "transactionInfo": {"transactionId": _uid()}}])
    return json.dumps([CALL, _uid(), "StartTransaction", {
        "connectorId": conn.connector_id, "idTag": "SIM", "meterStart": 0,
        "timestamp": charger.clock.iso_now()}])


# ---------------------------------------------------------------- stops-answering
def wrap_client(charger: Any, client: Any) -> None:
    """Under ``stops-answering``: the client drops the central system's CALLs once the boot
    is accepted (everything else is routed as usual); ``sends-wrong-unique-id`` and
    ``floods-heartbeats``: see :func:`_wrong_ids` and :func:`_flood_on_trigger`."""
    if charger.has(WRONG_ID):
        _wrong_ids(charger, client)
    if charger.has(FLOODS):
        _flood_on_trigger(charger, client)
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


# ---------------------------------------------------------------- sends-wrong-unique-id
def _wrong_ids(charger: Any, client: Any) -> None:
    """Once the boot is accepted, CALLRESULTs leave with a fresh unique id."""
    send = client._send

    async def _send(message: str) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            frame = None
        if charger.online and isinstance(frame, list) and frame and frame[0] == CALLRESULT:
            wrong = _uid()
            log.info("%s: answering CALL %s with unique id %s (fault %s)", charger.spec.id,
                     frame[1], wrong, WRONG_ID)
            message = json.dumps([CALLRESULT, wrong, *frame[2:]])
        await send(message)

    client._send = _send


# ---------------------------------------------------------------- floods-heartbeats
def _flood_on_trigger(charger: Any, client: Any) -> None:
    """After routing a TriggerMessage for a Heartbeat (answered as usual): flood, once."""
    route = client.route_message

    async def route_message(raw: str | bytes) -> None:
        await route(raw)
        state = _state(charger)
        if not state.flooded and _is_heartbeat_trigger(raw):
            state.flooded = True
            charger.spawn(_flood(charger, client))

    client.route_message = route_message


def _is_heartbeat_trigger(raw: str | bytes) -> bool:
    try:
        frame = json.loads(raw)
    except ValueError:
        return False
    return (isinstance(frame, list) and len(frame) == 4 and frame[0] == CALL
            and frame[2] == "TriggerMessage" and isinstance(frame[3], dict)
            and frame[3].get("requestedMessage") == "Heartbeat")


async def _flood(charger: Any, client: Any) -> None:
    started = time.monotonic()
    log.info("%s: flooding %d Heartbeats (fault %s)", charger.spec.id, FLOOD_COUNT, FLOODS)
    sent = 0
    try:
        for sent in range(1, FLOOD_COUNT + 1):
            await client.call(charger.heartbeat_payload(), suppress=False)
    except Exception as error:  # noqa: BLE001 - a fault personality: log, stop flooding
        log.warning("%s: flood stopped after %d Heartbeats: %s", charger.spec.id, sent, error)
        return
    elapsed_s = time.monotonic() - started
    log.info("%s: flood of %d Heartbeats done in %.2f s wall (%.0f/s)", charger.spec.id,
             sent, elapsed_s, sent / max(elapsed_s, 1e-9))
