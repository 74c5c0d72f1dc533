"""The bench's OCPP-J central system: websocket server, upgrade checks, one session per charger.

The websocket upgrade is where identity, version and credentials are checked, before any
OCPP message: the charger id is the last path segment (``/ocpp/<id>``, percent-decoded);
an unknown id gets HTTP 404; a charger that does not offer the subprotocol of its
configured version gets HTTP 400; security profiles 1 and 2 require HTTP Basic auth
(user = charger id, password from ``testbench.secrets``: the environment variable named
by ``password_env``, else the secrets file), profile 3 a client certificate; missing or
wrong credentials get HTTP 401. Every refusal is logged and traced with its reason (never
the password).

TLS (profiles 2 and 3) follows the OCPP security requirements (1.6 security whitepaper and
2.0.1 part 2, A00.FR.3xx/4xx): TLS 1.2 or newer only, no compression, no renegotiation, the
four cipher suites the spec requires of a CSMS (ECDHE-ECDSA and RSA key exchange with
AES-GCM) plus ECDHE-RSA with AES-GCM. Profile 3: the client certificate must chain to
``[csms] tls_ca`` and be valid now (else the TLS handshake fails, A00.FR.403/407), and its
subject CN must equal the charger's serial number (A00.FR.405); the lab model has no
serial number, so the bench takes the charger id (``expected_common_name``). With
``cpo_name`` set, the subject O must equal it (A00.FR.404). Failed TLS handshakes are
logged with OpenSSL's reason and kept in ``tls_failures``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import hmac
import http
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from testbench.clock import LabClock
from testbench.csms.connection import OcppConnection
from testbench.csms.handlers_v2 import V21Connection, V201Connection
from testbench.csms.handlers_v16 import V16Connection
from testbench.csms.policies import DEFAULT_RETRY_INTERVAL_S
from testbench.csms.session import ChargerSession, transaction_counter
from testbench.csms.trace import TraceStore
from testbench.errors import BenchError
from testbench.lab.model import OCPP_SUBPROTOCOL, ChargerSpec, CsmsSettings
from testbench.redact import install_log_redaction
from testbench.secrets import Secrets

log = logging.getLogger(__name__)

TLS12_CIPHERS = (
    # Required of a CSMS by A00.FR.317 (1.6 whitepaper) / A00.FR.318 (2.0.1) ...
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:"
    # ... and forward secrecy with an RSA certificate.
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
)
"""TLS 1.2 cipher suites the central system offers (TLS 1.3 suites are OpenSSL's)."""

CONNECTION_CLASSES: dict[str, type[OcppConnection]] = {
    "ocpp1.6": V16Connection,
    "ocpp2.0.1": V201Connection,
    "ocpp2.1": V21Connection,
}
VERSION_OF_SUBPROTOCOL = {sub: version for version, sub in OCPP_SUBPROTOCOL.items()}


def charger_id_of(path: str) -> str:
    """The charger identity in a request path: its last segment, percent-decoded."""
    return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


def expected_common_name(spec: ChargerSpec) -> str:
    """The subject CN a profile-3 client certificate must carry: the charger's serial number
    (A00.FR.405), which is its id unless the lab model gives a ``serial_number``."""
    serial = getattr(spec, "serial_number", None)
    return serial if isinstance(serial, str) and serial else spec.id


def subject_names(cert: dict[str, Any], attribute: str) -> list[str]:
    """Values of one subject attribute (``commonName``, ``organizationName``) of a peer
    certificate as ``ssl`` decodes it."""
    found: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == attribute:
                found.append(value)
    return found


def offered_subprotocols(request: Request) -> list[str]:
    """Subprotocols a client offers in its Sec-WebSocket-Protocol header(s), in order."""
    offered: list[str] = []
    for value in request.headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(p.strip() for p in value.split(",") if p.strip())
    return offered


class CentralSystem:
    """The bench's central system for all chargers of a lab (runs on one event loop)."""

    def __init__(self, settings: CsmsSettings, chargers: dict[str, ChargerSpec],
                 clock: LabClock, trace_dir: Path, *,
                 max_frame_bytes: int | None = 2**20,
                 ping_interval_s: float | None = 20.0,
                 ping_timeout_s: float | None = 20.0,
                 boot_retry_interval_s: int = DEFAULT_RETRY_INTERVAL_S,
                 recent_frames_per_charger: int = 5000,
                 recent_trace_bytes_per_charger: int = 16 * 2**20,
                 secrets: Secrets | None = None,
                 base_dir: Path | None = None,
                 cpo_name: str | None = None,
                 max_messages_per_charger: int = 200_000,
                 max_message_bytes_per_charger: int = 64 * 2**20) -> None:
        """``secrets``: where passwords come from (default ``Secrets.load()``: the
        environment, and the file ``$TESTBENCH_SECRETS`` names); ``base_dir``: the folder
        relative TLS paths of ``settings`` are resolved against (lab.toml's folder; default
        the working directory); ``cpo_name``: the organisation (O) profile-3 certificates
        must name (unchecked if None); ``recent_*`` bound each charger's in-memory trace,
        ``max_*`` its message log."""
        self.settings = settings
        self.chargers = dict(chargers)
        self.clock = clock
        self.trace_dir = Path(trace_dir)
        self.max_frame_bytes = max_frame_bytes
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.port: int = settings.port
        self.secrets = secrets if secrets is not None else Secrets.load()
        self.base_dir = base_dir
        self.cpo_name = cpo_name
        self.traces = TraceStore(self.trace_dir, clock, recent_per_charger=recent_frames_per_charger,
                                 recent_bytes_per_charger=recent_trace_bytes_per_charger)
        tx_ids = transaction_counter()
        self.sessions: dict[str, ChargerSession] = {
            cid: ChargerSession(spec, settings, clock, self.traces.for_charger(cid), tx_ids,
                                boot_retry_interval_s=boot_retry_interval_s,
                                max_messages=max_messages_per_charger,
                                max_bytes=max_message_bytes_per_charger)
            for cid, spec in self.chargers.items()
        }
        self.unknown_attempts: deque[str] = deque(maxlen=50)
        self.tls_failures: deque[str] = deque(maxlen=50)
        """Recent failed TLS handshakes (lab-independent wall time and OpenSSL's reason)."""
        self._server: Server | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._tls = settings.tls_cert is not None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Listen on ``settings.host:settings.port`` (port 0: a free port, see ``self.port``)."""
        self._check_security_setup()
        install_log_redaction("websockets.server", log)
        ssl_context = self._ssl_context() if self._tls else None
        host, port = self.settings.host, self.settings.port
        try:
            self._server = await serve(
                self._on_connection, host, port,
                process_request=self._process_request,
                select_subprotocol=self._select_subprotocol,
                ssl=ssl_context,
                max_size=self.max_frame_bytes,
                ping_interval=self.ping_interval_s,
                ping_timeout=self.ping_timeout_s,
                server_header="testbench-csms",
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BenchError(
                    f"cannot listen on {host}:{port}: the port is already in use (another "
                    "testbench run or CSMS?). Stop it or set [csms] port in lab.toml") from exc
            raise BenchError(f"cannot listen on {host}:{port}: {exc}. Check [csms] host and "
                             "port in lab.toml") from exc
        sockets = list(self._server.sockets)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._flusher = asyncio.create_task(self.traces.run_flusher())
        log.info("central system listening on %s", self.url_for("<id>"))

    async def stop(self) -> None:
        """Close every connection and the server, and flush the traces."""
        if self._server is not None:
            self._server.close(close_connections=True)
            try:
                await asyncio.wait_for(self._server.wait_closed(), 10.0)
            except TimeoutError:
                log.warning("central system: connections did not close within 10 s")
            self._server = None
        if self._flusher is not None:
            self._flusher.cancel()
            try:
                await self._flusher
            except asyncio.CancelledError:
                pass
            self._flusher = None
        self.traces.close()

    def url_for(self, charger_id: str) -> str:
        """The URL a charger connects to (``ws[s]://host:port/<path_prefix>/<id>``)."""
        scheme = "wss" if self._tls else "ws"
        host = self.settings.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        prefix = "/" + self.settings.path_prefix.strip("/") if self.settings.path_prefix.strip(
            "/") else ""
        return f"{scheme}://{host}:{self.port}{prefix}/{quote(charger_id, safe='')}"

    def session(self, charger_id: str) -> ChargerSession:
        """The session of a charger of the lab; BenchError naming the known ids if unknown."""
        try:
            return self.sessions[charger_id]
        except KeyError:
            known = ", ".join(sorted(self.sessions)) or "(none)"
            raise BenchError(f"unknown charger {charger_id!r}; the lab's chargers are: "
                             f"{known}") from None

    def set_boot_policy(self, charger_id: str, policy: str, pending_boots: int = 1,
                        retry_interval_s: int | None = None) -> None:
        """How the next BootNotifications of a charger are answered (thread-safe)."""
        self.session(charger_id).set_boot_policy(policy, pending_boots, retry_interval_s)

    # ------------------------------------------------------------------ set-up checks
    def _check_security_setup(self) -> None:
        s = self.settings
        if (s.tls_cert is None) != (s.tls_key is None):
            raise BenchError("[csms] tls_cert and tls_key must be given together in lab.toml")
        for spec in self.chargers.values():
            if spec.security_profile >= 2 and not self._tls:
                raise BenchError(
                    f"charger {spec.id!r} uses OCPP security profile {spec.security_profile}, "
                    "which needs TLS: set [csms] tls_cert and tls_key in lab.toml")
            if spec.security_profile == 3 and s.tls_ca is None:
                raise BenchError(
                    f"charger {spec.id!r} uses security profile 3 (client certificates): set "
                    "[csms] tls_ca to the CA that signed the charger certificates")
            if spec.security_profile in (1, 2) and self.secrets.password(spec) is None:
                log.error("charger %r: security profile %d needs a password but none is set "
                          "(looked in %s); its connections will be refused",
                          spec.id, spec.security_profile, self.secrets.password_source(spec))

    def _tls_path(self, file: Path | None) -> Path | None:
        if file is None or file.is_absolute() or self.base_dir is None:
            return file
        return self.base_dir / file

    def _ssl_context(self) -> ssl.SSLContext:
        s = self.settings
        cert, key, ca = (self._tls_path(s.tls_cert), self._tls_path(s.tls_key),
                         self._tls_path(s.tls_ca))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
        ctx.set_ciphers(TLS12_CIPHERS)
        ctx.sslobject_class = _tls_failure_logger(self._on_tls_failure)
        try:
            ctx.load_cert_chain(str(cert), str(key))
            if ca is not None:
                ctx.load_verify_locations(str(ca))
                # Requested, not required: profile-2 chargers share the port; profile 3 is
                # enforced per charger at the upgrade. A certificate that is sent must be
                # valid, or the handshake fails.
                ctx.verify_mode = ssl.CERT_OPTIONAL
        except (OSError, ssl.SSLError) as exc:
            raise BenchError(f"cannot load the central system's TLS files ([csms] tls_cert="
                             f"{cert}, tls_key={key}, tls_ca={ca}): {exc}") from exc
        return ctx

    def _on_tls_failure(self, reason: str) -> None:
        self.tls_failures.append(f"{time.strftime('%H:%M:%S')} {reason}")
        log.warning("refused a TLS connection: %s", reason)

    # ------------------------------------------------------------------ upgrade
    def _process_request(self, connection: ServerConnection,
                         request: Request) -> Response | None:
        charger_id = charger_id_of(request.path)
        session = self.sessions.get(charger_id)
        if session is None:
            self.unknown_attempts.append(charger_id)
            log.warning("refused websocket upgrade for unknown charger %r (path %s)",
                        charger_id, request.path)
            return connection.respond(
                http.HTTPStatus.NOT_FOUND,
                f"unknown charging station identity {charger_id!r}: not in the lab's "
                "inventory (lab.toml [[chargers]])\n")
        spec = session.spec
        wanted = spec.subprotocol
        offered = offered_subprotocols(request)
        if wanted not in offered:
            reason = (f"charger {charger_id!r} is configured for OCPP {spec.ocpp_version} "
                      f"(subprotocol {wanted!r}) but offered "
                      f"{', '.join(offered) if offered else 'no subprotocol'}")
            return self._refuse(connection, session, http.HTTPStatus.BAD_REQUEST, reason)
        if spec.security_profile in (1, 2):
            problem = self._check_basic_auth(request, spec)
            if problem is not None:
                response = self._refuse(connection, session, http.HTTPStatus.UNAUTHORIZED,
                                        problem)
                response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
                return response
        if spec.security_profile == 3:
            problem = self._check_client_certificate(connection, spec)
            if problem is not None:
                return self._refuse(connection, session, http.HTTPStatus.UNAUTHORIZED,
                                    problem)
        return None

    def _check_client_certificate(self, connection: ServerConnection,
                                  spec: ChargerSpec) -> str | None:
        """Profile 3: the (already chain-verified) client certificate names this charger."""
        cert = connection.transport.get_extra_info("peercert")
        if not cert:
            return (f"charger {spec.id!r} uses security profile 3 but presented no client "
                    "certificate")
        names = subject_names(cert, "commonName")
        wanted = expected_common_name(spec)
        if names != [wanted]:
            got = ", ".join(repr(n) for n in names) or "no CN"
            return (f"client certificate of charger {spec.id!r} has subject CN {got}, "
                    f"expected exactly {wanted!r} (the charger's serial number, A00.FR.405)")
        if self.cpo_name is not None:
            orgs = subject_names(cert, "organizationName")
            if orgs != [self.cpo_name]:
                got = ", ".join(repr(o) for o in orgs) or "no O"
                return (f"client certificate of charger {spec.id!r} has subject O {got}, "
                        f"expected the CPO name {self.cpo_name!r} (A00.FR.404)")
        return None

    def _refuse(self, connection: ServerConnection, session: ChargerSession,
                status: http.HTTPStatus, reason: str) -> Response:
        log.warning("refused websocket upgrade: %s", reason)
        session.refused(int(status), reason)
        return connection.respond(status, reason + "\n")

    def _check_basic_auth(self, request: Request, spec: ChargerSpec) -> str | None:
        expected = self.secrets.password(spec)
        if expected is None:
            return (f"the bench has no password for charger {spec.id!r}: set "
                    f"{self.secrets.password_source(spec)}")
        header = request.headers.get("Authorization")
        if header is None:
            return (f"charger {spec.id!r} (security profile {spec.security_profile}) sent no "
                    "HTTP Basic Authorization header")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return f"charger {spec.id!r} used HTTP {scheme} authorization, not Basic"
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return f"charger {spec.id!r} sent a Basic Authorization header that is not base64"
        user, sep, password = decoded.partition(b":")
        user_ok = hmac.compare_digest(user, spec.id.encode("utf-8"))
        password_ok = hmac.compare_digest(password, expected.encode("utf-8"))
        if not sep or not user_ok:
            return (f"Basic auth user of charger {spec.id!r} is "
                    f"{user.decode('utf-8', 'replace')!r}, expected the charger id")
        if not password_ok:
            return f"wrong Basic auth password for charger {spec.id!r}"
        return None

    def _select_subprotocol(self, connection: ServerConnection,
                            subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        request = connection.request
        session = self.sessions.get(charger_id_of(request.path)) if request else None
        if session is None:
            return None
        wanted = session.spec.subprotocol
        return Subprotocol(wanted) if wanted in subprotocols else None

    # ------------------------------------------------------------------ connections
    async def _on_connection(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        session = self.sessions[charger_id_of(ws.request.path)]
        subprotocol = ws.subprotocol or session.spec.subprotocol
        conn = CONNECTION_CLASSES[subprotocol](session, ws, subprotocol)
        await session.attach(conn)
        tls = _tls_details(ws)
        if tls:
            session.trace.event("tls", **tls)
        try:
            await conn.start()
        finally:
            code, reason = ws.close_code, ws.close_reason
            sent, received = ws.protocol.close_sent, ws.protocol.close_rcvd
            if received is None and sent is not None:
                # The bench closed the link (e.g. 1009 for an oversized frame) and the
                # charger never answered the close: record why the bench closed it, not 1006.
                code, reason = sent.code, f"closed by the central system: {sent.reason}"
            session.detach(conn, code, reason)


def _tls_details(ws: ServerConnection) -> dict[str, Any]:
    """TLS version, cipher and client certificate subject of a connection (evidence)."""
    ssl_object = ws.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return {}
    cipher = ssl_object.cipher()
    details: dict[str, Any] = {"version": ssl_object.version(),
                               "cipher": cipher[0] if cipher else None}
    cert = ssl_object.getpeercert()
    if cert:
        details["client_cn"] = ", ".join(subject_names(cert, "commonName"))
        details["client_not_after"] = cert.get("notAfter")
    return details


_TLS_REASONS = {
    "HTTP_REQUEST": "the client spoke plain HTTP (ws://) to the TLS port; it must use wss://",
    "WRONG_VERSION_NUMBER": "the client did not speak TLS (or an unsupported version)",
    "UNSUPPORTED_PROTOCOL": "the client offered only TLS versions older than 1.2",
    "TLSV1_ALERT_PROTOCOL_VERSION": "the client offered only TLS versions older than 1.2",
    "NO_SHARED_CIPHER": "no cipher suite in common with the client (OCPP requires AES-GCM "
                        "suites)",
    "TLSV1_ALERT_UNKNOWN_CA": "the client does not trust the central system's certificate "
                              "(unknown CA)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the client rejected the central system's certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the client rejected the central system's certificate",
}


def describe_tls_error(exc: ssl.SSLError) -> str:
    """A readable reason for a failed server-side TLS handshake."""
    reason = getattr(exc, "reason", None) or ""
    if reason == "CERTIFICATE_VERIFY_FAILED":
        detail = getattr(exc, "verify_message", None) or str(exc)
        return f"client certificate rejected: {detail}"
    if reason in _TLS_REASONS:
        return f"{_TLS_REASONS[reason]} ({reason})"
    return f"TLS handshake failed: {reason or exc}"


def _tls_failure_logger(on_failure: Callable[[str], None]) -> type[ssl.SSLObject]:
    """An ``SSLObject`` class that reports failed handshakes (asyncio drops them silently)."""

    class ReportingSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise
            except ssl.SSLError as exc:
                try:
                    on_failure(describe_tls_error(exc))
                except Exception:  # reporting must not change the outcome
                    log.debug("TLS failure report failed", exc_info=True)
                raise

    return ReportingSSLObject
