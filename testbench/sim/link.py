"""The websocket connection of one simulated charger: connect, serve, reconnect with backoff."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl

import websockets
from websockets.exceptions import InvalidHandshake, InvalidURI

from testbench.errors import BenchError
from testbench.redact import install_log_redaction
from testbench.secrets import Secrets
from testbench.sim import robustness
from testbench.sim.charger import REBOOT_DELAY_S, SimCharger

log = logging.getLogger("testbench.sim")

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 5.0
OPEN_TIMEOUT_S = 10.0


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def load_secrets() -> Secrets:
    """The run's secrets (environment, ``$TESTBENCH_SECRETS``); environment only if the
    file is unusable (the error is logged; the central system will refuse what fails)."""
    try:
        return Secrets.load()
    except BenchError as error:
        log.error("%s", error)
        return Secrets()


def with_client_certificate(shared: ssl.SSLContext | None, charger_id: str,
                            secrets: Secrets) -> ssl.SSLContext | None:
    """Security profile 3: a context of this charger's own, trusting what ``shared`` trusts
    and presenting the charger's client certificate from the secrets file."""
    files = secrets.client_certificate(charger_id)
    if shared is None or files is None:
        log.error("%s: security profile 3 needs %s; connecting without a client certificate",
                  charger_id, "a wss:// central system URL" if shared is None else
                  f"client_cert/client_key under [chargers.{charger_id}] in the secrets file")
        return shared
    context = ssl.create_default_context()
    context.check_hostname = shared.check_hostname
    context.verify_mode = shared.verify_mode
    trusted = shared.get_ca_certs(binary_form=True)
    if trusted:
        context.load_verify_locations(cadata=b"".join(trusted))
    cert, key = files
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as error:
        log.error("%s: cannot load client certificate %s / %s: %s", charger_id, cert, key,
                  error)
    return context


async def run_link(charger: SimCharger, url: str, *, ssl_context: ssl.SSLContext | None = None,
                   secrets: Secrets | None = None) -> None:
    """Keep ``charger`` connected to ``url`` until cancelled (backoff 0.5 .. 5 s wall).

    Credentials come from ``secrets`` (default: environment and ``$TESTBENCH_SECRETS``):
    the HTTP Basic password (profiles 1, 2) or the client certificate (profile 3).
    """
    spec = charger.spec
    install_log_redaction("websockets.client")
    secrets = secrets if secrets is not None else load_secrets()
    headers: dict[str, str] = {}
    if spec.security_profile in (1, 2):
        password = secrets.password(spec)
        if password is None:
            log.error("%s: security profile %d needs a password but none is set (%s); "
                      "connecting without basic auth", spec.id, spec.security_profile,
                      secrets.password_source(spec))
        else:
            headers = basic_auth_header(spec.id, password)
    elif spec.security_profile == 3:
        ssl_context = with_client_certificate(ssl_context, spec.id, secrets)
    backoff_s = BACKOFF_MIN_S
    while True:
        if not charger.powered:
            await charger.wait_powered()
            backoff_s = BACKOFF_MIN_S
        await robustness.stay_offline(charger)  # fault drops-connection-mid-transaction
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
            # Bounded: waiting out a closing handshake must not hold up a stopping lab.
            try:
                async with asyncio.timeout(1.0):
                    await ws.close()
            except (TimeoutError, OSError):
                pass
        if outcome == "reboot":
            await charger.clock.asleep(REBOOT_DELAY_S)
        elif outcome == "power-off":
            log.info("%s: supply off", spec.id)
        else:
            log.info("%s: connection closed (code %s %r); reconnecting in %.1f s", spec.id,
                     ws.close_code, ws.close_reason, backoff_s)
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, BACKOFF_MAX_S)
