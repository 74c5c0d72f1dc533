"""The websocket connection of one simulated charger: connect, serve, reconnect with backoff."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl

import websockets
from websockets.exceptions import InvalidHandshake, InvalidURI

from testbench.sim.charger import REBOOT_DELAY_S, SimCharger

log = logging.getLogger("testbench.sim")

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 5.0
OPEN_TIMEOUT_S = 10.0


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def run_link(charger: SimCharger, url: str, *, ssl_context: ssl.SSLContext | None = None
                   ) -> None:
    """Keep ``charger`` connected to ``url`` until cancelled (backoff 0.5 .. 5 s wall)."""
    spec = charger.spec
    headers: dict[str, str] = {}
    if spec.security_profile >= 1:
        password = spec.password()
        if password is None:
            log.error("%s: security profile %d needs a password but $%s is not set; "
                      "connecting without basic auth (export %s=... to fix)", spec.id,
                      spec.security_profile, spec.password_env, spec.password_env)
        else:
            headers = basic_auth_header(spec.id, password)
    backoff_s = BACKOFF_MIN_S
    while True:
        if not charger.powered:
            await charger.wait_powered()
            backoff_s = BACKOFF_MIN_S
        try:
            ws = await websockets.connect(
                url, subprotocols=[spec.subprotocol],  # type: ignore[list-item]
                additional_headers=headers or None, ssl=ssl_context,
                open_timeout=OPEN_TIMEOUT_S)
        except (OSError, InvalidHandshake, TimeoutError) as error:
            log.info("%s: cannot connect to %s (%s); retrying in %.1f s", spec.id, url, error,
                     backoff_s)
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
            continue
        except InvalidURI as error:
            log.error("%s: invalid central system URL %s: %s", spec.id, url, error)
            raise
        if ws.subprotocol != spec.subprotocol:
            log.warning("%s: central system did not agree to subprotocol %s (got %r); "
                        "retrying", spec.id, spec.subprotocol, ws.subprotocol)
            await ws.close()
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
            continue
        log.info("%s: connected to %s (%s)", spec.id, url, spec.subprotocol)
        backoff_s = BACKOFF_MIN_S
        try:
            outcome = await charger.serve(ws)
        finally:
            await ws.close()
        if outcome == "reboot":
            await charger.clock.asleep(REBOOT_DELAY_S)
        elif outcome == "power-off":
            log.info("%s: supply off", spec.id)
        else:
            log.info("%s: connection closed; reconnecting in %.1f s", spec.id, backoff_s)
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
