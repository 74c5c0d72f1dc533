"""Firmware signing for OCPP 2.x secure updates: a per-run signing identity and verification.

OCPP 2.0.1/2.1 UpdateFirmware carries ``signingCertificate`` (PEM) and ``signature``
(base64 of the signature over the firmware file). The bench makes a throwaway identity
per run (a manufacturer root and a code-signing certificate it issues, ECDSA P-256 with
SHA-256) to sign the images it builds for the simulated lab. Verification accepts ECDSA
with SHA-256 and RSA (PSS, then PKCS#1 v1.5) with SHA-256 (the algorithms the OCPP security
texts name (verify)).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT_NAME = "manufacturer-root.pem"
CERT_NAME = "firmware-signing.pem"
KEY_NAME = "firmware-signing.key"
VALID_DAYS = 30


class SignatureError(ValueError):
    """A signature or signing certificate is unreadable or does not verify."""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "testbench"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class SigningIdentity:
    """A code-signing key and certificate, with the root that issued it."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    root: x509.Certificate

    @classmethod
    def create(cls, common_name: str = "testbench firmware signing") -> SigningIdentity:
        """A fresh root and signing certificate (valid from an hour ago for VALID_DAYS)."""
        now = dt.datetime.now(dt.UTC)
        start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=VALID_DAYS)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name(f"{common_name} root")
        root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
                .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(root_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(root_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),
                               critical=False)
                .sign(root_key, hashes.SHA256()))
        return cls(key, cert, root)

    @classmethod
    def load_or_create(cls, folder: Path) -> SigningIdentity:
        """The identity stored in ``folder``, made (and stored, key mode 0600) if absent."""
        paths = [folder / n for n in (ROOT_NAME, CERT_NAME, KEY_NAME)]
        if all(p.is_file() for p in paths):
            key = serialization.load_pem_private_key(paths[2].read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise SignatureError(f"{paths[2]} is not an EC private key; delete the folder "
                                     "to make a new identity")
            return cls(key, x509.load_pem_x509_certificate(paths[1].read_bytes()),
                       x509.load_pem_x509_certificate(paths[0].read_bytes()))
        identity = cls.create()
        folder.mkdir(parents=True, exist_ok=True)
        paths[0].write_text(identity.root_pem, encoding="ascii")
        paths[1].write_text(identity.certificate_pem, encoding="ascii")
        fd = os.open(paths[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(identity.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        return identity

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def sign(self, data: bytes) -> str:
        """The base64 signature of ``data`` (ECDSA P-256, SHA-256, DER)."""
        return base64.b64encode(self.key.sign(data, ec.ECDSA(hashes.SHA256()))).decode("ascii")


def load_certificate(pem: str) -> x509.Certificate:
    """Parse a PEM certificate; SignatureError saying why it cannot be read."""
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise SignatureError(f"signing certificate is not a PEM X.509 certificate: "
                             f"{error}") from None


def decode_signature(signature_b64: str) -> bytes:
    """The raw signature; SignatureError when it is not base64."""
    try:
        raw = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignatureError(f"signature is not base64: {error}") from None
    if not raw:
        raise SignatureError("signature is empty")
    return raw


def check_certificate(certificate: x509.Certificate, at: dt.datetime | None = None) -> None:
    """SignatureError unless the certificate is valid at ``at`` and may sign code."""
    when = at or dt.datetime.now(dt.UTC)
    if not certificate.not_valid_before_utc <= when <= certificate.not_valid_after_utc:
        raise SignatureError(f"signing certificate is not valid at {when:%Y-%m-%d %H:%M} UTC "
                             f"(valid {certificate.not_valid_before_utc:%Y-%m-%d} .. "
                             f"{certificate.not_valid_after_utc:%Y-%m-%d})")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if ExtendedKeyUsageOID.CODE_SIGNING not in usage:
        raise SignatureError("signing certificate is not for code signing (extended key usage)")


def verify_signature(data: bytes, signature_b64: str, certificate_pem: str) -> None:
    """SignatureError unless ``signature_b64`` is a signature of ``data`` by the certificate."""
    raw = decode_signature(signature_b64)
    public = load_certificate(certificate_pem).public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(raw, data, ec.ECDSA(hashes.SHA256()))
            return
        if isinstance(public, rsa.RSAPublicKey):
            try:
                public.verify(raw, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                     salt_length=padding.PSS.AUTO),
                              hashes.SHA256())
            except InvalidSignature:
                public.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
            return
    except InvalidSignature:
        raise SignatureError("signature does not match the firmware and the signing "
                             "certificate") from None
    raise SignatureError(f"unsupported signing key type {type(public).__name__}")
