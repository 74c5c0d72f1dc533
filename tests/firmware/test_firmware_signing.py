"""Signing identities and signature checks for 2.x secure firmware updates."""

from __future__ import annotations

import base64
import datetime as dt
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from testbench.firmware.signing import (
    SignatureError,
    SigningIdentity,
    check_certificate,
    decode_signature,
    verify_signature,
)

DATA = b"firmware bytes" * 50


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return SigningIdentity.create()


def test_signature_verifies_and_binds_data_and_key(identity):
    signature = identity.sign(DATA)
    verify_signature(DATA, signature, identity.certificate_pem)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(DATA + b"!", signature, identity.certificate_pem)
    other = SigningIdentity.create("other")
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(DATA, other.sign(DATA), identity.certificate_pem)


@pytest.mark.parametrize("text", ["not base64 !!", ""])
def test_unreadable_signature_is_named(text):
    with pytest.raises(SignatureError, match="base64|empty"):
        decode_signature(text)


def test_unreadable_certificate_is_named(identity):
    with pytest.raises(SignatureError, match="PEM"):
        verify_signature(DATA, identity.sign(DATA), "-----BEGIN CERTIFICATE-----\nxx\n")


def test_certificate_validity_and_code_signing_usage(identity):
    check_certificate(identity.certificate)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    with pytest.raises(SignatureError, match="not valid"):
        check_certificate(identity.certificate, later)
    with pytest.raises(SignatureError, match="code signing"):
        check_certificate(_tls_server_certificate())


def _tls_server_certificate() -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "server")])
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))


def test_rsa_pss_signatures_verify():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    pss = key.sign(DATA, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                     salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())
    verify_signature(DATA, base64.b64encode(pss).decode(), pem)
    pkcs = key.sign(DATA, padding.PKCS1v15(), hashes.SHA256())
    verify_signature(DATA, base64.b64encode(pkcs).decode(), pem)
    with pytest.raises(SignatureError):
        verify_signature(b"other", base64.b64encode(pss).decode(), pem)


def test_identity_is_stored_once_with_a_private_key_file(tmp_path):
    first = SigningIdentity.load_or_create(tmp_path / "id")
    key_file = tmp_path / "id" / "firmware-signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = SigningIdentity.load_or_create(tmp_path / "id")
    assert again.certificate_pem == first.certificate_pem
    verify_signature(DATA, again.sign(DATA), first.certificate_pem)
