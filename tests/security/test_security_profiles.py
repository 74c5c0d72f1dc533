"""OCPP security profiles 1-3 with real (TLS) clients: who gets in, and who never sees OCPP.

Every refused client is checked on the bench side too: the refusal is traced and logged
with its reason (never the password), and the charger's trace holds no OCPP frame.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

import pytest
from pki import LabPki
from security_helpers import (
    P1_PASSWORD,
    P2_PASSWORD,
    SecureBench,
    basic,
    boot_over,
    client_context,
    refused_status,
    spec,
    tls_refusal,
)

from testbench.lab.model import CsmsSettings


def _assert_refused_without_ocpp(bench: SecureBench, cid: str, reason: str) -> None:
    handle = bench.csms.charger(cid)
    assert reason in (handle.state.last_refusal or ""), handle.state.last_refusal
    assert bench.frames_of(cid) == []
    assert handle.messages(since_mark=False) == []
    refusals = [e for e in bench.events_of(cid) if e["event"] == "refused"]
    assert refusals and reason in refusals[-1]["reason"]
    assert not any(e["event"] == "connected" for e in bench.events_of(cid))


def _no_frames_anywhere(bench: SecureBench) -> None:
    for cid in bench.central.sessions:
        assert bench.frames_of(cid) == [], cid
        assert not any(e["event"] == "connected" for e in bench.events_of(cid)), cid


# ------------------------------------------------------------------------ profile 1
@pytest.mark.parametrize("cid, version", [("p1", "2.0.1"), ("p1-16", "1.6")])
def test_profile_1_right_password_gets_in(plain_bench: SecureBench, cid: str,
                                          version: str) -> None:
    reply = boot_over(plain_bench.url(cid), version, headers=basic(cid, P1_PASSWORD))
    assert reply["status"] == "Accepted"
    assert plain_bench.csms.charger(cid).state.connection_count == 1


@pytest.mark.parametrize("headers, reason", [
    (None, "sent no HTTP Basic Authorization header"),
    (basic("p1", "wrong-password-123"), "wrong Basic auth password"),
    (basic("p1", P1_PASSWORD[:-1]), "wrong Basic auth password"),
    (basic("p1-16", P1_PASSWORD), "expected the charger id"),
    ({"Authorization": "Bearer abcdef"}, "not Basic"),
    ({"Authorization": "Basic %%%"}, "not base64"),
])
def test_profile_1_wrong_or_missing_credentials_get_401_before_any_ocpp(
        plain_bench: SecureBench, caplog: pytest.LogCaptureFixture,
        headers: dict[str, str] | None, reason: str) -> None:
    caplog.set_level(logging.DEBUG)
    assert refused_status(plain_bench.url("p1"), "2.0.1", headers=headers) == 401
    _assert_refused_without_ocpp(plain_bench, "p1", reason)
    assert reason in caplog.text
    assert P1_PASSWORD not in caplog.text
    assert "wrong-password-123" not in caplog.text or "Authorization" not in caplog.text


def test_profile_0_charger_needs_no_credentials(plain_bench: SecureBench) -> None:
    assert boot_over(plain_bench.url("p0"), "2.0.1")["status"] == "Accepted"


def test_unknown_identity_gets_404_and_is_logged(plain_bench: SecureBench,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    assert refused_status(plain_bench.url("intruder"), "2.0.1",
                          headers=basic("intruder", P1_PASSWORD)) == 404
    assert "unknown charger 'intruder'" in caplog.text
    assert P1_PASSWORD not in caplog.text
    assert "intruder" in plain_bench.central.unknown_attempts
    _no_frames_anywhere(plain_bench)


def test_authorization_header_is_redacted_from_debug_logs(
        plain_bench: SecureBench, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets")
    token = basic("p1", P1_PASSWORD)["Authorization"].split()[1]
    boot_over(plain_bench.url("p1"), "2.0.1", headers=basic("p1", P1_PASSWORD))
    bench_side = "\n".join(r.getMessage() for r in caplog.records
                           if r.name.startswith(("websockets.server", "testbench")))
    assert "< Authorization: Basic [REDACTED]" in bench_side, bench_side[:2000]
    assert token not in bench_side
    assert P1_PASSWORD not in bench_side


# ------------------------------------------------------------------------ profile 2
def test_profile_2_tls_with_the_right_password_gets_in(tls_bench: SecureBench,
                                                       pki: LabPki) -> None:
    url = tls_bench.url("p2")
    assert url.startswith("wss://")
    reply = boot_over(url, "1.6", headers=basic("p2", P2_PASSWORD),
                      ssl_context=client_context(pki))
    assert reply["status"] == "Accepted"
    tls = [e for e in tls_bench.events_of("p2") if e["event"] == "tls"]
    assert tls and tls[0]["version"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("headers, reason", [
    (None, "sent no HTTP Basic Authorization header"),
    (basic("p2", "not-the-password"), "wrong Basic auth password"),
    (basic("p2", P1_PASSWORD), "wrong Basic auth password"),
])
def test_profile_2_wrong_password_over_tls_gets_401(tls_bench: SecureBench, pki: LabPki,
                                                   headers: dict[str, str] | None,
                                                   reason: str) -> None:
    assert refused_status(tls_bench.url("p2"), "1.6", headers=headers,
                          ssl_context=client_context(pki)) == 401
    _assert_refused_without_ocpp(tls_bench, "p2", reason)


def test_profile_2_client_certificate_does_not_replace_the_password(
        tls_bench: SecureBench, pki: LabPki) -> None:
    ctx = client_context(pki, pki.clients["p2"])
    assert refused_status(tls_bench.url("p2"), "1.6", ssl_context=ctx) == 401
    _assert_refused_without_ocpp(tls_bench, "p2", "no HTTP Basic")


def test_plain_ws_to_the_tls_server_is_refused_and_logged(
        tls_bench: SecureBench, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    plain = tls_bench.url("p2").replace("wss://", "ws://")
    tls_refusal(plain, "1.6", headers=basic("p2", P2_PASSWORD))
    assert any("plain HTTP" in f for f in tls_bench.central.tls_failures)
    assert "plain HTTP (ws://)" in caplog.text
    assert P2_PASSWORD not in caplog.text
    _no_frames_anywhere(tls_bench)


def test_a_charger_that_does_not_trust_the_server_certificate_never_connects(
        tls_bench: SecureBench, pki: LabPki) -> None:
    ctx = client_context(pki, trust=pki.foreign_ca.path)
    error = tls_refusal(tls_bench.url("p2"), "1.6", headers=basic("p2", P2_PASSWORD),
                        ssl_context=ctx)
    assert isinstance(error, ssl.SSLCertVerificationError)
    _no_frames_anywhere(tls_bench)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_below_1_2_is_refused(tls_bench: SecureBench, pki: LabPki) -> None:
    ctx = client_context(pki, max_version=ssl.TLSVersion.TLSv1_1)
    try:  # let this client offer TLS 1.0/1.1 at all (OpenSSL 3 disables them by default)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot offer TLS 1.0/1.1 even to test a refusal")
    tls_refusal(tls_bench.url("p2"), "1.6", headers=basic("p2", P2_PASSWORD), ssl_context=ctx)
    failures = list(tls_bench.central.tls_failures)
    assert any("older than 1.2" in f for f in failures), failures
    _no_frames_anywhere(tls_bench)


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-GCM-SHA256",
                                    "ECDHE-ECDSA-AES256-GCM-SHA384"])
def test_required_ecdsa_cipher_suites_are_offered(tls_bench: SecureBench, pki: LabPki,
                                                  cipher: str) -> None:
    ctx = client_context(pki, tls12_ciphers=cipher)
    boot_over(tls_bench.url("p2"), "1.6", headers=basic("p2", P2_PASSWORD), ssl_context=ctx)
    tls = [e for e in tls_bench.events_of("p2") if e["event"] == "tls"]
    assert (tls[-1]["version"], tls[-1]["cipher"]) == ("TLSv1.2", cipher)


@pytest.mark.parametrize("cipher", ["AES128-GCM-SHA256", "AES256-GCM-SHA384"])
def test_required_rsa_cipher_suites_are_offered_with_an_rsa_certificate(
        make_secure_bench: Callable[..., SecureBench], pki: LabPki, cipher: str) -> None:
    bench = make_secure_bench(
        CsmsSettings(tls_cert=pki.server_rsa.cert, tls_key=pki.server_rsa.key),
        {"p2": spec("p2", "1.6", security_profile=2, password_env="TB_SEC_TEST_P2_PASSWORD")})
    ctx = client_context(pki, tls12_ciphers=cipher)
    boot_over(bench.url("p2"), "1.6", headers=basic("p2", P2_PASSWORD), ssl_context=ctx)
    tls = [e for e in bench.events_of("p2") if e["event"] == "tls"]
    assert tls[-1]["cipher"] == cipher


def test_weak_cipher_suites_are_refused(tls_bench: SecureBench, pki: LabPki) -> None:
    ctx = client_context(pki, tls12_ciphers="ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")
    tls_refusal(tls_bench.url("p2"), "1.6", headers=basic("p2", P2_PASSWORD), ssl_context=ctx)
    assert any("no cipher suite in common" in f for f in tls_bench.central.tls_failures)
    _no_frames_anywhere(tls_bench)


# ------------------------------------------------------------------------ profile 3
@pytest.mark.parametrize("cid, version", [("p3", "2.0.1"), ("p3-21", "2.1"), ("p3-16", "1.6")])
def test_profile_3_valid_client_certificate_gets_in(tls_bench: SecureBench, pki: LabPki,
                                                    cid: str, version: str) -> None:
    ctx = client_context(pki, pki.clients[cid])
    assert boot_over(tls_bench.url(cid), version, ssl_context=ctx)["status"] == "Accepted"
    tls = [e for e in tls_bench.events_of(cid) if e["event"] == "tls"]
    assert tls and tls[0]["client_cn"] == cid


def test_profile_3_without_a_certificate_gets_401(tls_bench: SecureBench,
                                                  pki: LabPki) -> None:
    assert refused_status(tls_bench.url("p3"), "2.0.1", ssl_context=client_context(pki),
                          headers=basic("p3", "some-password")) == 401
    _assert_refused_without_ocpp(tls_bench, "p3", "presented no client certificate")


def test_profile_3_certificate_of_another_charger_gets_401(tls_bench: SecureBench,
                                                           pki: LabPki) -> None:
    ctx = client_context(pki, pki.clients["p3-21"])
    assert refused_status(tls_bench.url("p3"), "2.0.1", ssl_context=ctx) == 401
    _assert_refused_without_ocpp(tls_bench, "p3", "subject CN 'p3-21', expected exactly 'p3'")


def test_profile_3_wrong_cn_gets_401(tls_bench: SecureBench, pki: LabPki,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    ctx = client_context(pki, pki.wrong_cn["p3"])
    assert refused_status(tls_bench.url("p3"), "2.0.1", ssl_context=ctx) == 401
    _assert_refused_without_ocpp(tls_bench, "p3", "subject CN 'not-p3'")
    assert "A00.FR.405" in caplog.text


@pytest.mark.parametrize("kind, reason", [
    ("expired", "certificate has expired"),
    ("foreign", "unable to get local issuer certificate"),
])
def test_profile_3_expired_or_foreign_certificate_fails_the_tls_handshake(
        tls_bench: SecureBench, pki: LabPki, caplog: pytest.LogCaptureFixture,
        kind: str, reason: str) -> None:
    caplog.set_level(logging.WARNING)
    cert = (pki.expired if kind == "expired" else pki.foreign)["p3"]
    tls_refusal(tls_bench.url("p3"), "2.0.1", ssl_context=client_context(pki, cert))
    failures = list(tls_bench.central.tls_failures)
    assert any(reason in f for f in failures), failures
    assert reason in caplog.text
    _no_frames_anywhere(tls_bench)
    # A valid charger still gets in afterwards.
    ok = client_context(pki, pki.clients["p3"])
    assert boot_over(tls_bench.url("p3"), "2.0.1", ssl_context=ok)["status"] == "Accepted"


def test_profile_3_organisation_is_checked_when_a_cpo_name_is_set(
        make_secure_bench: Callable[..., SecureBench], pki: LabPki) -> None:
    settings = CsmsSettings(tls_cert=pki.server.cert, tls_key=pki.server.key,
                            tls_ca=pki.ca.path)
    bench = make_secure_bench(settings, {"p3": spec("p3", "2.0.1", security_profile=3)},
                              cpo_name="Lab CPO")
    ctx = client_context(pki, pki.clients["p3"])
    assert boot_over(bench.url("p3"), "2.0.1", ssl_context=ctx)["status"] == "Accepted"
    wrong = client_context(pki, pki.wrong_org["p3"])
    assert refused_status(bench.url("p3"), "2.0.1", ssl_context=wrong) == 401
    assert "subject O 'Someone Else'" in (bench.csms.charger("p3").state.last_refusal or "")


def test_wait_connected_names_failed_tls_handshakes(tls_bench: SecureBench,
                                                    pki: LabPki) -> None:
    tls_refusal(tls_bench.url("p3"), "2.0.1",
                ssl_context=client_context(pki, pki.expired["p3"]))
    with pytest.raises(Exception) as info:
        tls_bench.csms.wait_connected(["p3"], within_s=0.2)
    assert "certificate has expired" in str(info.value)


# ------------------------------------------------------------------------ set-up errors
def test_profile_3_without_a_ca_is_a_bench_error(make_secure_bench: Callable[..., SecureBench],
                                                 pki: LabPki) -> None:
    from testbench.errors import BenchError

    with pytest.raises(BenchError, match="tls_ca"):
        make_secure_bench(CsmsSettings(tls_cert=pki.server.cert, tls_key=pki.server.key),
                          {"p3": spec("p3", "2.0.1", security_profile=3)})


def test_relative_tls_paths_resolve_against_base_dir(
        make_secure_bench: Callable[..., SecureBench], pki: LabPki) -> None:
    settings = CsmsSettings(tls_cert=type(pki.server.cert)(pki.server.cert.name),
                            tls_key=type(pki.server.key)(pki.server.key.name),
                            tls_ca=type(pki.ca.path)(pki.ca.path.name))
    bench = make_secure_bench(settings, {"p3": spec("p3", "2.0.1", security_profile=3)},
                              base_dir=pki.folder)
    ctx = client_context(pki, pki.clients["p3"])
    assert boot_over(bench.url("p3"), "2.0.1", ssl_context=ctx)["status"] == "Accepted"
