"""The bench's file server: firmware images out, diagnostics and log uploads in.

Started with the central system (``BenchRuntime``) and handed to suites by the
``file_server`` fixture. Layout under ``root`` (the run's ``files/`` folder)::

    firmware/   what chargers download:  GET  http://host:port/firmware/<name>
    uploads/    what chargers upload:    PUT  http://host:port/uploads/<name>
                                         POST http://host:port/uploads/[<name>]
                                              (raw body, or multipart/form-data)
                                         FTP  STOR into /uploads (per-run user and password)

HTTP is the stdlib ``http.server`` in a thread (no event loop to share with the central
system, and loopback traffic of a few files needs nothing faster); HTTPS is the same on
its own port when ``[files] tls_cert`` and ``tls_key`` are set; FTP is ``pyftpdlib``.
Every file received is recorded (:class:`ReceivedFile`): suites judge uploads only from
what arrived here.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import logging
import re
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from testbench.clock import LabClock
from testbench.errors import BenchError
from testbench.lab.model import FileServerSettings

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
FIRMWARE_DIR = "firmware"
UPLOADS_DIR = "uploads"
FTP_USER = "testbench"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ReceivedFile:
    """One upload that arrived: the name the charger gave it and where it is stored."""

    name: str
    path: Path
    size: int
    sha256: str
    protocol: str
    remote: str
    wall_s: float


@dataclass(frozen=True)
class Served:
    """One download request and how it was answered (404 for a missing file)."""

    path: str
    status: int
    size: int
    protocol: str
    remote: str
    wall_s: float


def safe_name(name: str) -> str:
    """A file name without folders or odd characters (``../x y`` -> ``x_y``)."""
    base = unquote(name).replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _SAFE.sub("_", base).strip("._")
    return cleaned[:200] or "upload.bin"


class FileServer:
    """HTTP (and optionally HTTPS and FTP) file server of one run."""

    def __init__(self, settings: FileServerSettings, root: Path, clock: LabClock | None = None,
                 lab_dir: Path | None = None) -> None:
        self.settings = settings
        self.root = root
        self.clock = clock or LabClock(scale=1.0, epoch=time.time())
        self.lab_dir = lab_dir or Path.cwd()
        self.firmware_dir = root / FIRMWARE_DIR
        self.uploads_dir = root / UPLOADS_DIR
        self.ftp_password = secrets.token_urlsafe(12)
        self.ports: dict[str, int] = {}
        self._received: list[ReceivedFile] = []
        self._served: list[Served] = []
        self._cond = threading.Condition()
        self._http: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._ftp: Any = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Listen on every configured protocol; BenchError naming port and fix if one fails."""
        self.firmware_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        s = self.settings
        try:
            self._start_http("http", s.port, None)
            if s.tls_cert is not None and s.tls_key is not None:
                self._start_http("https", s.https_port, self._tls_context())
            if s.ftp:
                self._start_ftp(s.ftp_port)
        except BaseException:
            self.stop()
            raise
        log.info("file server: %s", ", ".join(f"{k} on {s.host}:{v}"
                                              for k, v in self.ports.items()))

    def stop(self) -> None:
        """Stop every listener (idempotent)."""
        self._stop.set()
        for server in self._http:
            server.shutdown()
            server.server_close()
        self._http.clear()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def _bind_error(self, what: str, port: int, error: OSError) -> BenchError:
        return BenchError(
            f"file server cannot listen for {what} on {self.settings.host}:{port}: "
            f"{error.strerror or error}; fix: choose a free port under [files] in lab.toml "
            "(0 picks any free port) or stop the process using it")

    def _start_http(self, scheme: str, port: int, context: ssl.SSLContext | None) -> None:
        handler = type("Handler", (_HttpHandler,), {"files": self, "scheme": scheme})
        try:
            server = ThreadingHTTPServer((self.settings.host, port), handler)
        except OSError as error:
            raise self._bind_error(scheme.upper(), port, error) from None
        server.daemon_threads = True
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._http.append(server)
        self.ports[scheme] = int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                  name=f"files-{scheme}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _tls_context(self) -> ssl.SSLContext:
        s = self.settings
        assert s.tls_cert is not None and s.tls_key is not None
        cert, key = (p if p.is_absolute() else self.lab_dir / p for p in (s.tls_cert, s.tls_key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as error:
            raise BenchError(f"file server cannot load its HTTPS certificate {cert} / key "
                             f"{key}: {error}; fix [files] tls_cert / tls_key") from None
        return context

    def _start_ftp(self, port: int) -> None:
        try:
            from pyftpdlib.authorizers import DummyAuthorizer
            from pyftpdlib.handlers import FTPHandler
            from pyftpdlib.servers import FTPServer
        except ImportError:
            raise BenchError("FTP needs the pyftpdlib package: pip install pyftpdlib "
                             "(or set ftp = false under [files] in lab.toml)") from None
        ftp_log = logging.getLogger("pyftpdlib")
        if not ftp_log.handlers:  # else pyftpdlib configures logging of its own on stderr
            ftp_log.addHandler(logging.NullHandler())
        ftp_log.setLevel(logging.WARNING)
        authorizer = DummyAuthorizer()
        authorizer.add_user(FTP_USER, self.ftp_password, str(self.root), perm="elr")
        authorizer.override_perm(FTP_USER, str(self.uploads_dir), perm="elrw", recursive=True)
        files = self

        class Handler(FTPHandler):  # type: ignore[misc]
            def on_file_received(self, file: str) -> None:
                path = Path(file)
                files._record(path.name, path, "ftp", self.remote_ip)

            def on_file_sent(self, file: str) -> None:
                path = Path(file)
                files._served_add(f"/{path.relative_to(files.root)}", 226, path.stat().st_size,
                                  "ftp", self.remote_ip)

        Handler.authorizer = authorizer
        Handler.banner = "testbench file server"
        Handler.permit_foreign_addresses = False
        if self.settings.url_host and _is_ip(self.settings.url_host):
            Handler.masquerade_address = self.settings.url_host
        try:
            server = FTPServer((self.settings.host, port), Handler)
        except OSError as error:
            raise self._bind_error("FTP", port, error) from None
        self._ftp = server
        self.ports["ftp"] = int(server.address[1])

        def serve() -> None:
            try:
                while not self._stop.is_set():
                    server.ioloop.loop(0.2, blocking=False)
            finally:
                server.close_all()

        thread = threading.Thread(target=serve, name="files-ftp", daemon=True)
        thread.start()
        self._threads.append(thread)

    # ------------------------------------------------------------------ URLs
    @property
    def url_host(self) -> str:
        host = self.settings.url_host or self.settings.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return f"[{host}]" if ":" in host else host

    @property
    def schemes(self) -> tuple[str, ...]:
        """The protocols being served ("http", and "https" / "ftp" when on)."""
        return tuple(self.ports)

    def base_url(self, scheme: str = "http") -> str:
        """``scheme://[user:password@]host:port`` of a running protocol."""
        if scheme not in self.ports:
            raise BenchError(f"the file server does not serve {scheme}: it serves "
                             f"{', '.join(self.ports) or 'nothing (not started)'}; fix: "
                             "configure it under [files] in lab.toml")
        auth = f"{FTP_USER}:{quote(self.ftp_password, safe='')}@" if scheme == "ftp" else ""
        return f"{scheme}://{auth}{self.url_host}:{self.ports[scheme]}"

    def publish(self, name: str, data: bytes) -> str:
        """Store ``data`` for download as ``firmware/<name>``; returns the stored name."""
        stored = safe_name(name)
        (self.firmware_dir / stored).write_bytes(data)
        return stored

    def download_url(self, name: str, scheme: str = "http") -> str:
        """The URL of a published file."""
        return f"{self.base_url(scheme)}/{FIRMWARE_DIR}/{quote(safe_name(name))}"

    def missing_url(self, scheme: str = "http") -> str:
        """The URL of a firmware file that does not exist (a download that must fail)."""
        return self.download_url(f"does_not_exist_{secrets.token_hex(4)}.bin", scheme)

    def upload_url(self, scheme: str = "http") -> str:
        """The folder URL chargers upload diagnostics and logs to (ends with ``/``)."""
        return f"{self.base_url(scheme)}/{UPLOADS_DIR}/"

    # ------------------------------------------------------------------ what happened
    def received(self, since_wall_s: float = 0.0) -> list[ReceivedFile]:
        """Uploads that arrived at or after ``since_wall_s`` (Unix s), oldest first."""
        with self._cond:
            return [r for r in self._received if r.wall_s >= since_wall_s]

    def served(self, since_wall_s: float = 0.0) -> list[Served]:
        """Download requests answered at or after ``since_wall_s``, oldest first."""
        with self._cond:
            return [s for s in self._served if s.wall_s >= since_wall_s]

    def wait_for_upload(self, within_s: float, name: str | None = None,
                        since_wall_s: float = 0.0) -> ReceivedFile | None:
        """The first upload (named ``name`` if given) since ``since_wall_s``, waiting up to
        ``within_s`` lab seconds; None if none arrived."""
        deadline = time.monotonic() + self.clock.wall_duration(within_s)
        with self._cond:
            while True:
                for item in self._received:
                    if item.wall_s >= since_wall_s and (name is None or item.name == name):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.25))

    def _record(self, name: str, path: Path, protocol: str, remote: str) -> ReceivedFile:
        data = path.read_bytes()
        item = ReceivedFile(name=name, path=path, size=len(data),
                            sha256=hashlib.sha256(data).hexdigest(), protocol=protocol,
                            remote=remote, wall_s=time.time())
        with self._cond:
            self._received.append(item)
            self._cond.notify_all()
        log.info("file server: received %s (%d bytes) by %s from %s", name, item.size,
                 protocol, remote)
        return item

    def _served_add(self, path: str, status: int, size: int, protocol: str, remote: str) -> None:
        with self._cond:
            self._served.append(Served(path, status, size, protocol, remote, time.time()))

    def _store_upload(self, name: str, data: bytes, protocol: str, remote: str) -> ReceivedFile:
        stored = safe_name(name)
        target = self.uploads_dir / stored
        number = 1
        while target.exists():
            target = self.uploads_dir / f"{Path(stored).stem}-{number}{Path(stored).suffix}"
            number += 1
        target.write_bytes(data)
        return self._record(stored, target, protocol, remote)


def _is_ip(text: str) -> bool:
    try:
        socket.inet_aton(text)
    except OSError:
        return False
    return True


class _HttpHandler(BaseHTTPRequestHandler):
    """GET/HEAD firmware, PUT/POST uploads."""

    files: FileServer
    scheme: str
    server_version = "testbench-files/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("file server %s: " + format, self.scheme, *args)

    def _reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _path_parts(self) -> tuple[str, str]:
        path = unquote(urlsplit(self.path).path)
        head, _, rest = path.lstrip("/").partition("/")
        return head, rest

    def do_GET(self) -> None:
        head, rest = self._path_parts()
        name = safe_name(rest) if rest else ""
        target = self.files.firmware_dir / name
        if head != FIRMWARE_DIR or not name or not target.is_file():
            self.files._served_add(self.path, 404, 0, self.scheme, self.client_address[0])
            self._reply(404, f"no such file: {self.path}\n".encode())
            return
        data = target.read_bytes()
        self.files._served_add(self.path, 200, len(data), self.scheme, self.client_address[0])
        self._reply(200, data, "application/octet-stream")

    do_HEAD = do_GET

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                total += size
                if total > MAX_UPLOAD_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_UPLOAD_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _accept(self, default_name: str | None) -> None:
        head, rest = self._path_parts()
        if head != UPLOADS_DIR:
            self._reply(404, b"uploads go to /uploads/\n")
            return
        body = self._body()
        if body is None:
            self._reply(413, f"upload larger than {MAX_UPLOAD_BYTES} bytes\n".encode())
            return
        name = rest or default_name
        content_type = self.headers.get("Content-Type", "")
        if self.command == "POST" and content_type.lower().startswith("multipart/form-data"):
            part = _first_file_part(content_type, body)
            if part is None:
                self._reply(400, b"multipart upload without a file part\n")
                return
            part_name, body = part
            name = rest or part_name
        if not name:
            name = f"upload-{time.strftime('%Y%m%d-%H%M%S')}.bin"
        self.files._store_upload(name, body, self.scheme, self.client_address[0])
        self._reply(201, b"stored\n")

    def do_PUT(self) -> None:
        self._accept(None)

    def do_POST(self) -> None:
        self._accept(None)


def _first_file_part(content_type: str, body: bytes) -> tuple[str, bytes] | None:
    """(file name, content) of the first part with a file name in a multipart body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        filename = part.get_filename()
        if filename:
            payload = part.get_payload(decode=True)
            return filename, payload if isinstance(payload, bytes) else b""
    return None
