"""The bench's file server: downloads, uploads by HTTP PUT/POST and FTP, HTTPS, clear errors."""

from __future__ import annotations

import datetime as dt
import ftplib
import hashlib
import http.client
import io
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from testbench.errors import BenchError
from testbench.firmware.fileserver import FTP_USER, FileServer, safe_name
from testbench.lab.model import FileServerSettings


def test_published_file_is_downloadable_and_missing_one_is_404(file_server):
    file_server.publish("fw-1.0.bin", b"firmware")
    assert urllib.request.urlopen(file_server.download_url("fw-1.0.bin"), timeout=5).read() \
        == b"firmware"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(file_server.missing_url(), timeout=5)
    assert caught.value.code == 404
    assert [s.status for s in file_server.served()] == [200, 404]


def test_put_upload_is_recorded_with_its_checksum(file_server):
    since = time.time()
    body = b"diagnostics\n" * 100
    request = urllib.request.Request(file_server.upload_url() + "cp-diag.log", data=body,
                                     method="PUT")
    assert urllib.request.urlopen(request, timeout=5).status == 201
    got = file_server.wait_for_upload(5, name="cp-diag.log", since_wall_s=since)
    assert got is not None and got.protocol == "http"
    assert (got.size, got.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert got.path.read_bytes() == body


def test_multipart_post_takes_the_file_part_name(file_server):
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"station.log\"\r\nContent-Type: text/plain\r\n\r\nlog lines\r\n"
            f"--{boundary}--\r\n").encode()
    request = urllib.request.Request(file_server.upload_url(), data=body, method="POST",
                                     headers={"Content-Type":
                                              f"multipart/form-data; boundary={boundary}"})
    assert urllib.request.urlopen(request, timeout=5).status == 201
    got = file_server.wait_for_upload(5, name="station.log")
    assert got is not None and got.path.read_bytes() == b"log lines"


def test_chunked_post_and_hostile_names(file_server):
    conn = http.client.HTTPConnection("127.0.0.1", file_server.ports["http"], timeout=5)
    conn.putrequest("POST", "/uploads/..%2F..%2Fetc%2Fpasswd")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for chunk in (b"abc", b"defg"):
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    assert conn.getresponse().status == 201
    got = file_server.wait_for_upload(5)
    assert got is not None and got.name == "passwd" and got.path.read_bytes() == b"abcdefg"
    assert got.path.parent == file_server.uploads_dir
    assert safe_name("a b/../c d.log") == "c_d.log"


def test_same_name_twice_keeps_both_files(file_server):
    for body in (b"one", b"two"):
        request = urllib.request.Request(file_server.upload_url() + "x.log", data=body,
                                         method="PUT")
        urllib.request.urlopen(request, timeout=5)
    got = file_server.received()
    assert [r.name for r in got] == ["x.log", "x.log"]
    assert {r.path.read_bytes() for r in got} == {b"one", b"two"}


def test_ftp_upload_and_download_with_the_run_password(file_server):
    file_server.publish("fw.bin", b"ftp firmware")
    assert urllib.request.urlopen(file_server.download_url("fw.bin", "ftp"), timeout=5).read() \
        == b"ftp firmware"
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", file_server.ports["ftp"], timeout=5)
    ftp.login(FTP_USER, file_server.ftp_password)
    ftp.cwd("/uploads")
    ftp.storbinary("STOR log.txt", io.BytesIO(b"uploaded by ftp"))
    with pytest.raises(ftplib.error_perm):  # firmware is read-only
        ftp.cwd("/firmware")
        ftp.storbinary("STOR evil.bin", io.BytesIO(b"x"))
    ftp.quit()
    got = file_server.wait_for_upload(5, name="log.txt")
    assert got is not None and got.protocol == "ftp"
    assert file_server.upload_url("ftp").startswith(f"ftp://{FTP_USER}:")


def test_ftp_refuses_a_wrong_password(file_server):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", file_server.ports["ftp"], timeout=5)
    with pytest.raises(ftplib.error_perm):
        ftp.login(FTP_USER, "wrong")
    ftp.close()


def test_wait_for_upload_gives_up(file_server):
    started = time.monotonic()
    assert file_server.wait_for_upload(0.3, name="never.log") is None
    assert time.monotonic() - started < 3


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
                critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "files.pem", folder / "files.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_serves_with_the_configured_certificate(tmp_path: Path):
    cert, _key = _self_signed(tmp_path)
    server = FileServer(FileServerSettings(ftp=False, tls_cert=Path("files.pem"),
                                           tls_key=Path("files.key")),
                        tmp_path / "files", lab_dir=tmp_path)
    server.start()
    try:
        assert set(server.schemes) == {"http", "https"}
        server.publish("fw.bin", b"secure")
        context = ssl.create_default_context(cafile=str(cert))
        url = server.download_url("fw.bin", "https")
        assert urllib.request.urlopen(url, timeout=5, context=context).read() == b"secure"
    finally:
        server.stop()


def test_busy_port_and_unknown_scheme_are_clear_bench_errors(tmp_path: Path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = FileServer(FileServerSettings(port=port), tmp_path / "files")
        with pytest.raises(BenchError, match=r"\[files\]"):
            server.start()
    server = FileServer(FileServerSettings(ftp=False), tmp_path / "files")
    server.start()
    try:
        with pytest.raises(BenchError, match="does not serve ftp"):
            server.upload_url("ftp")
    finally:
        server.stop()
