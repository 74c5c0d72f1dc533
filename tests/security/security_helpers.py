"""Helpers for the security tests: a central system on loopback, real (TLS) clients."""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pki import Issued, LabPki
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.csms import CentralSystem, Csms
from testbench.lab.model import ChargerSpec

P1_ENV = "TB_SEC_TEST_P1_PASSWORD"
P2_ENV = "TB_SEC_TEST_P2_PASSWORD"
P1_PASSWORD = "p1-Secret-0123456789"
P2_PASSWORD = "p2-Secret-9876543210"

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}

# Failures a client may see when the TLS layer refuses it (which one depends on the TLS
# version: with TLS 1.3 the server judges the client certificate after the client
# finished its handshake, so the client notices while reading the HTTP response).
TLS_REFUSALS = (ssl.SSLError, ConnectionError, EOFError, TimeoutError, InvalidHandshake,
                ConnectionClosed, OSError)


def spec(cid: str, version: str, **kw: Any) -> ChargerSpec:
    return ChargerSpec(id=cid, vendor="LabVendor", model="LabModel", firmware="1.0.0",
                       ocpp_version=version, **kw)  # type: ignore[arg-type]


TLS_CHARGERS = ("p2", "p3", "p3-21", "p3-16")


def plain_chargers() -> dict[str, ChargerSpec]:
    return {
        "p0": spec("p0", "2.0.1"),
        "p1": spec("p1", "2.0.1", security_profile=1, password_env=P1_ENV),
        "p1-16": spec("p1-16", "1.6", security_profile=1, password_env=P1_ENV),
    }


def tls_chargers() -> dict[str, ChargerSpec]:
    return {
        "p2": spec("p2", "1.6", security_profile=2, password_env=P2_ENV),
        "p3": spec("p3", "2.0.1", security_profile=3),
        "p3-21": spec("p3-21", "2.1", security_profile=3),
        "p3-16": spec("p3-16", "1.6", security_profile=3),
    }


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def boot_payload(version: str) -> dict[str, Any]:
    if version == "1.6":
        return {"chargePointVendor": "LabVendor", "chargePointModel": "LabModel"}
    return {"reason": "PowerUp",
            "chargingStation": {"vendorName": "LabVendor", "model": "LabModel"}}


def client_context(pki: LabPki, cert: Issued | None = None, *, trust: Path | None = None,
                   tls12_ciphers: str | None = None,
                   max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A charger's TLS context: trusts the lab CA (or ``trust``), presents ``cert``."""
    ctx = ssl.create_default_context(cafile=str(trust or pki.ca.path))
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    if tls12_ciphers is not None:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(tls12_ciphers)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


@dataclass
class SecureBench:
    """A running central system with its facade."""

    central: CentralSystem
    csms: Csms
    loop: BackgroundLoop
    clock: LabClock
    trace_dir: Path

    def url(self, cid: str) -> str:
        return self.central.url_for(cid)

    def frames_of(self, cid: str) -> list[dict[str, Any]]:
        """Every OCPP frame (either direction) the bench traced for a charger."""
        return [e for e in self.csms.charger(cid).trace_since(0) if e["dir"] in ("in", "out")]

    def events_of(self, cid: str) -> list[dict[str, Any]]:
        return [e for e in self.csms.charger(cid).trace_since(0) if e["dir"] == "event"]

    def stop(self) -> None:
        try:
            self.loop.run(self.central.stop(), timeout_s=15)
        finally:
            self.loop.stop()


def boot_over(url: str, version: str, *, headers: dict[str, str] | None = None,
              ssl_context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """Connect like a charger, send a BootNotification, return the CALLRESULT payload."""
    with connect(url, subprotocols=[SUBPROTOCOL[version]],  # type: ignore[list-item]
                 additional_headers=headers, ssl=ssl_context, open_timeout=10,
                 close_timeout=2) as ws:
        uid = str(uuid.uuid4())
        ws.send(json.dumps([2, uid, "BootNotification", boot_payload(version)]))
        while True:
            reply = json.loads(ws.recv(timeout=10))
            if reply[1] == uid:
                assert reply[0] == 3, reply
                return reply[2]  # type: ignore[no-any-return]


def refused_status(url: str, version: str, *, headers: dict[str, str] | None = None,
                   ssl_context: ssl.SSLContext | None = None) -> int:
    """The HTTP status of a refused upgrade (AssertionError if the upgrade succeeds)."""
    try:
        with connect(url, subprotocols=[SUBPROTOCOL[version]],  # type: ignore[list-item]
                     additional_headers=headers, ssl=ssl_context, open_timeout=10):
            pass
    except InvalidStatus as exc:
        return exc.response.status_code
    raise AssertionError(f"{url}: the upgrade was accepted")


def tls_refusal(url: str, version: str, *, headers: dict[str, str] | None = None,
                ssl_context: ssl.SSLContext | None = None) -> BaseException:
    """The error a client gets when the TLS layer refuses it (no HTTP status)."""
    try:
        with connect(url, subprotocols=[SUBPROTOCOL[version]],  # type: ignore[list-item]
                     additional_headers=headers, ssl=ssl_context, open_timeout=10) as ws:
            # TLS 1.3: a refused client certificate may only show on the first read.
            ws.send(json.dumps([2, "x", "Heartbeat", {}]))
            ws.recv(timeout=5)
    except InvalidStatus as exc:
        raise AssertionError(f"{url}: expected a TLS refusal, got HTTP "
                             f"{exc.response.status_code}") from exc
    except TLS_REFUSALS as exc:
        return exc
    raise AssertionError(f"{url}: the connection was accepted")
