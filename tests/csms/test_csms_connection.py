"""The websocket upgrade: identity, subprotocol, basic auth, reconnects, port, TLS."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from csms_helpers import (
    CHARGER_OF_VERSION,
    PASSWORD,
    SUBPROTOCOL,
    VERSIONS,
    Bench,
    Client,
    spec,
)
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from testbench.errors import BenchError
from testbench.lab.model import CsmsSettings


def _status_of_refusal(url: str, subprotocols: list[str] | None,
                       headers: dict[str, str] | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info, connect(
            url, subprotocols=subprotocols, additional_headers=headers,  # type: ignore[arg-type]
            open_timeout=5):
        pass
    return info.value


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("version", VERSIONS)
def test_each_version_negotiates_its_subprotocol_and_handler(bench: Bench, version: str) -> None:
    cid = CHARGER_OF_VERSION[version]
    client = bench.client(cid)
    assert client.ws.subprotocol == SUBPROTOCOL[version]
    reply = client.boot()
    assert reply[0] == 3 and reply[2]["status"] == "Accepted"
    handle = bench.csms.charger(cid)
    assert handle.version == version
    assert handle.state.connected and handle.state.subprotocol == SUBPROTOCOL[version]
    assert not client.schema_problems


def test_the_configured_subprotocol_is_chosen_among_several_offered(bench: Bench) -> None:
    client = Client(bench.url("cp201"), ["ocpp1.6", "ocpp2.1", "ocpp2.0.1"], version="2.0.1")
    try:
        assert client.ws.subprotocol == "ocpp2.0.1"
        assert client.boot()[0] == 3
    finally:
        client.close()


def test_wrong_subprotocol_is_refused_with_400_before_any_ocpp_message(bench: Bench) -> None:
    refusal = _status_of_refusal(bench.url("cp201"), ["ocpp1.6"])
    assert refusal.response.status_code == 400
    assert b"ocpp2.0.1" in refusal.response.body
    state = bench.csms.charger("cp201").state
    assert not state.connected and state.connection_count == 0
    assert state.last_refusal is not None and "HTTP 400" in state.last_refusal
    assert bench.csms.charger("cp201").messages(since_mark=False) == []


def test_client_offering_no_subprotocol_is_refused(bench: Bench) -> None:
    refusal = _status_of_refusal(bench.url("cp16"), None)
    assert refusal.response.status_code == 400
    assert b"no subprotocol" in refusal.response.body


def test_unknown_identity_is_refused_with_404(bench: Bench) -> None:
    url = bench.url("cp201").replace("/cp201", "/not-in-lab")
    refusal = _status_of_refusal(url, ["ocpp2.0.1"])
    assert refusal.response.status_code == 404
    assert "not-in-lab" in bench.central.unknown_attempts


def test_identity_is_the_last_path_segment_percent_decoded(make_bench: Callable[..., Bench]
                                                           ) -> None:
    b = make_bench(chargers={"CP 01/x": spec("CP 01/x", "1.6")})
    url = b.url("CP 01/x")
    assert url.endswith("/ocpp/CP%2001%2Fx")
    client = Client(url, ["ocpp1.6"], version="1.6")
    try:
        assert client.boot()[2]["status"] == "Accepted"
    finally:
        client.close()


def test_basic_auth_accepts_the_right_credentials(bench: Bench) -> None:
    client = bench.client("cp-auth", headers=_basic("cp-auth", PASSWORD))
    assert client.boot()[2]["status"] == "Accepted"


@pytest.mark.parametrize("headers, why", [
    (None, "no HTTP Basic"),
    (_basic("cp-auth", "wrong"), "wrong Basic auth password"),
    (_basic("someone-else", PASSWORD), "expected the charger id"),
])
def test_basic_auth_refuses_missing_or_wrong_credentials(
        bench: Bench, headers: dict[str, str] | None, why: str) -> None:
    refusal = _status_of_refusal(bench.url("cp-auth"), ["ocpp2.0.1"], headers)
    assert refusal.response.status_code == 401
    assert refusal.response.headers.get("WWW-Authenticate", "").startswith("Basic")
    assert why in (bench.csms.charger("cp-auth").state.last_refusal or "")
    assert bench.csms.charger("cp-auth").messages(since_mark=False) == []


def test_missing_password_environment_refuses_with_a_clear_reason(
        make_bench: Callable[..., Bench], monkeypatch: pytest.MonkeyPatch) -> None:
    b = make_bench(chargers={"cp-x": spec("cp-x", "1.6", security_profile=1,
                                          password_env="TB_TEST_UNSET_PASSWORD")})
    monkeypatch.delenv("TB_TEST_UNSET_PASSWORD", raising=False)
    refusal = _status_of_refusal(b.url("cp-x"), ["ocpp1.6"], _basic("cp-x", "anything"))
    assert refusal.response.status_code == 401
    assert "TB_TEST_UNSET_PASSWORD" in (b.csms.charger("cp-x").state.last_refusal or "")


def test_a_reconnect_replaces_the_older_connection(bench: Bench) -> None:
    first = bench.client("cp16")
    first.boot()
    second = bench.client("cp16")
    assert first.closed.wait(5), "the older connection was not closed"
    assert second.boot()[2]["status"] == "Accepted"
    handle = bench.csms.charger("cp16")
    st = handle.state
    assert st.connected and st.connection_count == 2 and st.boot_count == 2
    assert handle.call("Reset", {"type": "Soft"}, timeout_s=5) == {"status": "Accepted"}
    history = bench.central.session("cp16").history
    assert len(history) == 2 and history[0].closed_lab_s is not None


def test_disconnect_is_visible_in_state(bench: Bench) -> None:
    client = bench.client("cp201")
    client.boot()
    client.close()
    handle = bench.csms.charger("cp201")
    deadline = time.monotonic() + 5
    while handle.state.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not handle.state.connected
    assert handle.state.last_close_code == 1000


def test_port_in_use_raises_a_bench_error_that_says_what_to_do(
        make_bench: Callable[..., Bench]) -> None:
    first = make_bench()
    with pytest.raises(BenchError) as info:
        make_bench(settings=CsmsSettings(port=first.central.port))
    text = str(info.value)
    assert f"127.0.0.1:{first.central.port}" in text
    assert "already in use" in text and "[csms] port" in text


def test_port_zero_picks_a_free_port_and_url_for_names_it(bench: Bench) -> None:
    assert bench.central.port > 0
    assert bench.url("cp16") == f"ws://127.0.0.1:{bench.central.port}/ocpp/cp16"
    with socket.create_connection(("127.0.0.1", bench.central.port), timeout=2):
        pass


def test_unknown_charger_handle_names_the_known_ids(bench: Bench) -> None:
    with pytest.raises(BenchError) as info:
        bench.csms.charger("nope")
    assert "nope" in str(info.value) and "cp16" in str(info.value)


def test_wait_connected_names_who_is_missing_and_why(make_bench: Callable[..., Bench]) -> None:
    b = make_bench(scale=10.0)
    b.client("cp16").boot()
    with pytest.raises(InvalidStatus):
        Client(b.url("cp201"), ["ocpp1.6"])
    b.csms.wait_connected(["cp16"], within_s=5)
    started = time.monotonic()
    with pytest.raises(BenchError) as info:
        b.csms.wait_connected(["cp16", "cp201", "cp21"], within_s=5)  # 0.5 wall s
    assert time.monotonic() - started < 3
    text = str(info.value)
    assert "cp201: upgrade refused: HTTP 400" in text
    assert "cp21: never connected" in text
    assert "cp16" not in text.split("within")[1].split("Each")[0]


def test_security_profile_2_without_tls_is_a_bench_error(make_bench: Callable[..., Bench]
                                                         ) -> None:
    with pytest.raises(BenchError, match="needs TLS"):
        make_bench(chargers={"cp-tls": spec("cp-tls", "2.0.1", security_profile=2,
                                            password_env="X")})


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not available")
def test_tls_with_basic_auth_security_profile_2(make_bench: Callable[..., Bench],
                                                tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    b = make_bench(settings=CsmsSettings(tls_cert=cert, tls_key=key),
                   chargers={"cp-tls": spec("cp-tls", "2.0.1", security_profile=2,
                                            password_env="TB_TEST_CSMS_PASSWORD")})
    url = b.url("cp-tls")
    assert url.startswith("wss://")
    ctx = ssl.create_default_context(cafile=str(cert))
    client = Client(url, ["ocpp2.0.1"], version="2.0.1", headers=_basic("cp-tls", PASSWORD),
                    ssl=ctx)
    try:
        assert client.boot()[2]["status"] == "Accepted"
    finally:
        client.close()
    refusal = _status_of_refusal_tls(url, ctx)
    assert refusal.response.status_code == 401


def _status_of_refusal_tls(url: str, ctx: ssl.SSLContext) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info, connect(url, subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                                                       ssl=ctx, open_timeout=5):
        pass
    return info.value


def test_interoperates_with_an_ocpp_package_charge_point(bench: Bench) -> None:
    """A charger built on the ``ocpp`` package boots, and answers the bench's CALL."""
    import asyncio
    import threading

    from ocpp.routing import on  # type: ignore[import-untyped]
    from ocpp.v201 import ChargePoint, call, call_result  # type: ignore[import-untyped]
    from websockets.asyncio.client import connect as aconnect

    class LibCharger(ChargePoint):  # type: ignore[misc]
        @on("Reset")
        def on_reset(self, type: str, **kwargs: object) -> object:
            return call_result.Reset(status="Scheduled")

    booted: dict[str, object] = {}
    done = threading.Event()
    loop = asyncio.new_event_loop()

    async def run() -> None:
        async with aconnect(bench.url("cp201"), subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            cp = LibCharger("cp201", ws)
            task = asyncio.create_task(cp.start())
            reply = await cp.call(call.BootNotification(
                charging_station={"model": "LabModel", "vendor_name": "LabVendor"},
                reason="PowerUp"), suppress=False)
            booted["status"] = reply.status
            while not done.is_set():
                await asyncio.sleep(0.05)
            task.cancel()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    try:
        bench.csms.wait_connected(["cp201"], within_s=10)
        handle = bench.csms.charger("cp201")
        handle.expect("BootNotification", 10)
        assert _wait_for(booted, "status"), booted
        assert handle.call("Reset", {"type": "OnIdle"}, timeout_s=10) == {"status": "Scheduled"}
    finally:
        done.set()
        thread.join(10)
        loop.close()


def _wait_for(store: dict[str, object], key: str, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while key not in store and time.monotonic() < deadline:
        time.sleep(0.02)
    return store.get(key) == "Accepted"
