"""The reference server: a plain ``ocpp`` package central system, as its documentation shows.

One ``ocpp`` ChargePoint subclass per OCPP version with minimal ``@on`` handlers for
BootNotification, Heartbeat and StatusNotification, served with ``websockets`` (its
defaults: pings every 20 s, permessage-deflate offered), identity from the last path
segment. The package's defaults are kept (schema validation on, run in the default
thread-pool executor), so this is what a user of ``ocpp`` 2.1.0 gets out of the box.
``sync_validation=True`` turns the package's ``ASYNC_VALIDATION`` off (validation inline, no
thread hop), the strongest reference the package offers.
No tracing, no message log, no checks: the floor the bench's central system is compared to.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import ocpp.messages  # type: ignore[import-untyped]
import ocpp.v16  # type: ignore[import-untyped]
import ocpp.v21  # type: ignore[import-untyped]
import ocpp.v201  # type: ignore[import-untyped]
from ocpp.routing import on  # type: ignore[import-untyped]
from ocpp.v16 import call_result as result16  # type: ignore[import-untyped]
from ocpp.v16.enums import RegistrationStatus  # type: ignore[import-untyped]
from ocpp.v21 import call_result as result21  # type: ignore[import-untyped]
from ocpp.v21.enums import (  # type: ignore[import-untyped]
    RegistrationStatusEnumType as Registration21,
)
from ocpp.v201 import call_result as result201  # type: ignore[import-untyped]
from ocpp.v201.enums import (  # type: ignore[import-untyped]
    RegistrationStatusEnumType as Registration201,
)
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 60


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PlainV16(ocpp.v16.ChargePoint):  # type: ignore[misc]
    """OCPP 1.6J: boot, heartbeat, status notification."""

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        return result16.BootNotification(current_time=_now(), interval=HEARTBEAT_INTERVAL_S,
                                         status=RegistrationStatus.accepted)

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return result16.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return result16.StatusNotification()


class PlainV201(ocpp.v201.ChargePoint):  # type: ignore[misc]
    """OCPP 2.0.1: boot, heartbeat, status notification."""

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        return result201.BootNotification(current_time=_now(), interval=HEARTBEAT_INTERVAL_S,
                                          status=Registration201.accepted)

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return result201.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return result201.StatusNotification()


class PlainV21(ocpp.v21.ChargePoint):  # type: ignore[misc]
    """OCPP 2.1: boot, heartbeat, status notification."""

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        return result21.BootNotification(current_time=_now(), interval=HEARTBEAT_INTERVAL_S,
                                         status=Registration21.accepted)

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return result21.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return result21.StatusNotification()


CHARGE_POINT_CLASSES: dict[str, type[Any]] = {
    "ocpp1.6": PlainV16, "ocpp2.0.1": PlainV201, "ocpp2.1": PlainV21,
}


async def _on_connection(ws: ServerConnection) -> None:
    if ws.subprotocol is None or ws.request is None:
        await ws.close(1002, "no OCPP subprotocol negotiated")
        return
    charger_id = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
    charge_point = CHARGE_POINT_CLASSES[ws.subprotocol](charger_id, ws)
    try:
        await charge_point.start()
    except ConnectionClosed:
        pass


async def start_plain_server(subprotocol: str, host: str = "127.0.0.1", port: int = 0,
                             sync_validation: bool = False) -> Server:
    """Listen on ``host:port`` (0: a free port) for chargers speaking ``subprotocol``.

    ``sync_validation`` sets the process-wide ``ocpp.messages.ASYNC_VALIDATION`` to False.
    """
    if subprotocol not in CHARGE_POINT_CLASSES:
        raise ValueError(f"unknown OCPP subprotocol {subprotocol!r}; expected one of "
                         f"{', '.join(CHARGE_POINT_CLASSES)}")
    ocpp.messages.ASYNC_VALIDATION = not sync_validation
    return await serve(_on_connection, host, port,
                       subprotocols=[subprotocol],  # type: ignore[list-item]
                       server_header="plain-ocpp")
