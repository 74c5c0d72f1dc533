"""Frames the fuzz campaign found mishandled, kept as plain regression tests.

- A unique id (or description) holding an escaped lone surrogate (``"\\ud800"``) made the
  bench's reply unencodable as UTF-8: websockets closed the connection with 1011.
- Nesting deeper than the parser's recursion limit raised RecursionError, not a
  CALLERROR; moderately deep payloads would later break ``copy.deepcopy`` of the state.
- Redaction patterns with unbounded backtracking let one crafted frame stall the loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_client import Closed, FuzzClient

from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.csms import CentralSystem, frames, schemas
from testbench.lab.model import ChargerSpec, CsmsSettings
from testbench.redact import redact_text
from testbench.secrets import Secrets


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[CentralSystem, FuzzClient]]:
    chargers = {"c": ChargerSpec(id="c", vendor="V", model="M", firmware="1",
                                 ocpp_version="2.0.1")}
    loop = BackgroundLoop(name="fuzz-regressions")
    central = CentralSystem(CsmsSettings(), chargers, LabClock(), tmp_path / "traces",
                            secrets=Secrets())
    loop.run(central.start(), timeout_s=10)
    c = FuzzClient(central.url_for("c"), "2.0.1")
    try:
        yield central, c
    finally:
        c.close()
        loop.run(central.stop(), timeout_s=10)
        loop.stop()


def _reply(c: FuzzClient, frame: str) -> list[object]:
    assert c.send(frame)
    msg = c.inbox.get(timeout=5)
    assert not isinstance(msg, Closed), f"connection closed with {msg.code}"
    assert isinstance(msg, list)
    return msg


def test_a_lone_surrogate_unique_id_is_echoed_escaped(
        client: tuple[CentralSystem, FuzzClient]) -> None:
    _, c = client
    reply = _reply(c, '[2,"\\ud800x","Heartbeat",{}]')
    assert reply[:2] == [3, "\ud800x"]
    error = _reply(c, '[2,"e","Heartbeat",{"\\udfff":1}]')
    assert error[:3] == [4, "e", "FormatViolation"]
    assert _reply(c, '[2,"after","Heartbeat",{}]')[:2] == [3, "after"]


@pytest.mark.parametrize("depth, uid", [(100_000, "-1"), (65, "deep"), (900, "deep")])
def test_deep_nesting_gets_a_callerror(client: tuple[CentralSystem, FuzzClient], depth: int,
                                       uid: str) -> None:
    central, c = client
    nested = "[" * depth + "]" * depth
    reply = _reply(c, f'[2,"deep","DataTransfer",{{"vendorId":"X","data":{nested}}}]')
    assert reply[0] == 4 and reply[1] == uid
    assert _reply(c, '[2,"after","Heartbeat",{}]')[:2] == [3, "after"]
    central.session("c").snapshot()  # the state stays copyable


def test_nesting_up_to_the_limit_is_accepted() -> None:
    depth = frames.MAX_NESTING - 4  # the frame and the payload add 2 levels each
    nested = "[" * depth + "]" * depth
    deep = f'[2,"ok","DataTransfer",{{"vendorId":"X","data":{nested}}}]'
    assert isinstance(frames.parse(deep, "2.0.1"), frames.Frame)


def test_an_action_name_never_becomes_a_schema_path() -> None:
    problem = schemas.check("2.1", "../../v16/schemas/BootNotification", "send", {})
    assert problem is not None and problem.problem == "not_implemented"
    assert schemas.check("2.1", "Boot\x00Notification", "send", {}) is not None


@pytest.mark.parametrize("text", [
    '"key":"' + "password" * 7000,
    '"key":"AuthorizationKey","value":"' + "x" * 60000,
    "-----BEGIN PRIVATE KEY-----" * 2400,
    "password" + ":" * 60000,
    ("a://" + "b" * 50 + ":" + "c" * 50) * 500,
    "secret " + " ".join(["w" * 20] * 3000),
])
def test_redaction_stays_linear_on_crafted_text(text: str) -> None:
    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 0.5
