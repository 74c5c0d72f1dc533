"""Routing rules shared by the simulated chargers' ocpp clients.

The ``ocpp`` package (2.1.0) answers an unhandled 2.1 request with nothing at all and maps
1.6 names the other way round. Simulated chargers answer every CALL: an action of their
OCPP version that they do not handle gets CALLERROR NotSupported, an action their version
does not know gets CALLERROR NotImplemented (the OCPP-J meanings of both codes).
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError
from ocpp.v16.enums import Action as Action16
from ocpp.v21.enums import Action as Action21
from ocpp.v201.enums import Action as Action201

KNOWN_ACTIONS: dict[str, frozenset[str]] = {
    "1.6": frozenset(a.value for a in Action16),
    "2.0.1": frozenset(a.value for a in Action201),
    "2.1": frozenset(a.value for a in Action21),
}

T = TypeVar("T")
log = logging.getLogger("testbench.sim")


def strict_routing(cls: type[T]) -> type[T]:
    """Class decorator for an ocpp ChargePoint: always answer, as described above."""
    original = cls._handle_call  # type: ignore[attr-defined]

    async def _handle_call(self: Any, msg: Any) -> Any:
        handlers = self.route_map.get(msg.action)
        if not handlers or "_on_action" not in handlers:
            error: Exception
            if msg.action in KNOWN_ACTIONS.get(self._ocpp_version, frozenset()):
                error = NotSupportedError(
                    details={"cause": f"{msg.action} is not supported by this charger"})
            else:
                error = OcppNotImplemented(
                    details={"cause": f"{msg.action} is not an OCPP {self._ocpp_version} action"})
            log.info("%s: answering %s with CALLERROR %s", self.id, msg.action,
                     getattr(error, "code", "?"))
            await self._send(msg.create_call_error(error).to_json())
            return None
        return await original(self, msg)

    cls._handle_call = _handle_call  # type: ignore[attr-defined]
    return cls
