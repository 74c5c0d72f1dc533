"""Wire-visible state of one charger, as the bench learned it from the charger's messages.

Updated on the event loop thread under the session lock; the facade hands out copies.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

ConnectorKey = int | tuple[int, int]
"""1.6: connectorId; 2.x: (evseId, connectorId)."""


@dataclass
class OpenTransaction:
    """A transaction the charger reported as started and not yet ended.

    ``transaction_id`` is the 1.6 integer the bench assigned, or the 2.x string the charger
    chose. ``started_lab_s`` is when the bench learned of it.
    """

    transaction_id: int | str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    started_lab_s: float
    meter_start_wh: float | None = None
    charging_state: str | None = None
    last_payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChargerState:
    """What the bench knows about a charger from the wire.

    ``connector_status``: 1.6 connectorId -> status; 2.x (evseId, connectorId) ->
    connectorStatus. ``last_meter_values``: 1.6 connectorId / 2.x evseId -> the last
    ``meterValue`` list reported (MeterValues, TransactionEvent, StopTransaction).
    """

    charger_id: str
    connected: bool = False
    version: str | None = None
    subprotocol: str | None = None
    connection_count: int = 0
    connected_since_lab_s: float | None = None
    last_close_code: int | None = None
    last_close_reason: str | None = None
    last_refusal: str | None = None
    boot_payload: dict[str, Any] | None = None
    boot_status: str | None = None
    boot_count: int = 0
    last_boot_lab_s: float | None = None
    last_heartbeat_lab_s: float | None = None
    connector_status: dict[ConnectorKey, str] = field(default_factory=dict)
    status_payloads: dict[ConnectorKey, dict[str, Any]] = field(default_factory=dict)
    open_transactions: dict[int | str, OpenTransaction] = field(default_factory=dict)
    last_meter_values: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        """True when the bench answered the last BootNotification with Accepted."""
        return self.boot_status == "Accepted"

    def status_of(self, connector_id: int, evse_id: int | None = None) -> str | None:
        """Last reported status: 1.6 ``status_of(connector)``; 2.x ``status_of(conn, evse)``."""
        if evse_id is None:
            return self.connector_status.get(connector_id)
        return self.connector_status.get((evse_id, connector_id))

    def snapshot(self) -> ChargerState:
        """A deep copy, safe to hand to another thread."""
        return replace(
            self,
            boot_payload=copy.deepcopy(self.boot_payload),
            connector_status=dict(self.connector_status),
            status_payloads=copy.deepcopy(self.status_payloads),
            open_transactions=copy.deepcopy(self.open_transactions),
            last_meter_values=copy.deepcopy(self.last_meter_values),
        )
