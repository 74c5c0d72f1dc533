"""A throwaway PKI for the security tests, generated per run with ``cryptography``.

A lab CA, a second ("foreign") CA, a server certificate for 127.0.0.1/localhost, client
certificates per charger id (subject CN = the id, O = the CPO), an expired one, one signed
by the foreign CA and one with a wrong CN. ECDSA P-256 keys (fast to make); one RSA server
certificate for the RSA cipher suites.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CPO = "Lab CPO"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Issued:
    """A certificate and its key on disk."""

    cert: Path
    key: Path


@dataclass
class Authority:
    name: str
    key: PrivateKey
    cert: x509.Certificate
    path: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str, org: str | None = CPO) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org is not None:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _write_key(key: PrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)


def make_ca(folder: Path, name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"{name} Root CA")
    now = _now()
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    path = folder / f"{name}-ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(name, key, cert, path)


def issue(ca: Authority, folder: Path, stem: str, cn: str, *, server: bool = False,
          org: str | None = CPO, expired: bool = False, rsa_key: bool = False) -> Issued:
    """A leaf certificate signed by ``ca`` (server: SAN 127.0.0.1, ::1, localhost)."""
    key: PrivateKey = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                       if rsa_key else ec.generate_private_key(ec.SECP256R1()))
    now = _now()
    start, end = ((now - dt.timedelta(days=10), now - dt.timedelta(days=1)) if expired
                  else (now - dt.timedelta(hours=1), now + dt.timedelta(days=7)))
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn, org)).issuer_name(ca.cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca.key.public_key()), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
            x509.DNSName("localhost")]), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    issued = Issued(folder / f"{stem}.pem", folder / f"{stem}.key")
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, issued.key)
    return issued


@dataclass
class LabPki:
    """Every certificate the security tests use."""

    folder: Path
    ca: Authority
    foreign_ca: Authority
    server: Issued
    server_rsa: Issued
    clients: dict[str, Issued]
    expired: dict[str, Issued]
    foreign: dict[str, Issued]
    wrong_cn: dict[str, Issued]
    wrong_org: dict[str, Issued]


def make_lab_pki(folder: Path, charger_ids: list[str]) -> LabPki:
    folder.mkdir(parents=True, exist_ok=True)
    ca = make_ca(folder, "lab")
    foreign_ca = make_ca(folder, "foreign")
    server = issue(ca, folder, "csms", "127.0.0.1", server=True)
    server_rsa = issue(ca, folder, "csms-rsa", "127.0.0.1", server=True, rsa_key=True)
    clients = {cid: issue(ca, folder, f"client-{cid}", cid) for cid in charger_ids}
    expired = {cid: issue(ca, folder, f"expired-{cid}", cid, expired=True)
               for cid in charger_ids}
    foreign = {cid: issue(foreign_ca, folder, f"foreign-{cid}", cid) for cid in charger_ids}
    wrong_cn = {cid: issue(ca, folder, f"wrongcn-{cid}", f"not-{cid}") for cid in charger_ids}
    wrong_org = {cid: issue(ca, folder, f"wrongorg-{cid}", cid, org="Someone Else")
                 for cid in charger_ids}
    return LabPki(folder, ca, foreign_ca, server, server_rsa, clients, expired, foreign,
                  wrong_cn, wrong_org)
