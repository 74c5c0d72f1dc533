"""Helpers for the central system's tests: a bench on loopback and raw OCPP-J clients."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from testbench.aio import BackgroundLoop
from testbench.clock import LabClock
from testbench.csms import CentralSystem, Csms, schemas
from testbench.lab.model import ChargerSpec

PASSWORD_ENV = "TB_TEST_CSMS_PASSWORD"
PASSWORD = "s3cret-Pa55word"

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
VERSIONS = ("1.6", "2.0.1", "2.1")


def spec(cid: str, version: str, **kw: Any) -> ChargerSpec:
    return ChargerSpec(id=cid, vendor="LabVendor", model="LabModel", firmware="1.0.0",
                       ocpp_version=version, **kw)  # type: ignore[arg-type]


def default_chargers() -> dict[str, ChargerSpec]:
    chargers = {
        "cp16": spec("cp16", "1.6"),
        "cp201": spec("cp201", "2.0.1"),
        "cp21": spec("cp21", "2.1"),
        "cp-auth": spec("cp-auth", "2.0.1", security_profile=1, password_env=PASSWORD_ENV),
        "cp-pending": spec("cp-pending", "1.6", boot_policy="Pending"),
    }
    return chargers


CHARGER_OF_VERSION = {"1.6": "cp16", "2.0.1": "cp201", "2.1": "cp21"}


def boot_payload(version: str) -> dict[str, Any]:
    if version == "1.6":
        return {"chargePointVendor": "LabVendor", "chargePointModel": "LabModel",
                "firmwareVersion": "1.0.0"}
    return {"reason": "PowerUp",
            "chargingStation": {"vendorName": "LabVendor", "model": "LabModel",
                                "firmwareVersion": "1.0.0"}}


@dataclass
class Bench:
    """A running central system with its facade."""

    central: CentralSystem
    csms: Csms
    loop: BackgroundLoop
    clock: LabClock
    trace_dir: Path

    def url(self, cid: str) -> str:
        return self.central.url_for(cid)

    def client(self, cid: str, version: str | None = None, **kw: Any) -> Client:
        ver = version or self.central.chargers[cid].ocpp_version
        return Client(self.url(cid), [SUBPROTOCOL[ver]], version=ver, **kw)


SILENT = object()
"""Responder value: the client never answers this action."""


@dataclass(frozen=True)
class Reject:
    """Responder value: answer with a CALLERROR."""

    code: str
    description: str = ""


class Client:
    """A raw OCPP-J client (websockets sync API) with a reader thread.

    CALLs from the central system are answered from ``responder`` (action -> payload dict,
    callable(payload) -> any of these, ``SILENT`` to stay silent, ``Reject(code)`` for a
    CALLERROR, or a ready ``list`` frame);
    unanswered actions get ``{"status": "Accepted"}``. Every CALLRESULT the central system
    sends is checked against the response schema of the CALL it answers.
    """

    def __init__(self, url: str, subprotocols: list[str], version: str = "2.0.1",
                 headers: dict[str, str] | None = None,
                 responder: dict[str, Any] | None = None, **connect_kw: Any) -> None:
        self.version = version
        self.responder: dict[str, Any] = dict(responder or {})
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(url, subprotocols=subprotocols,  # type: ignore[arg-type]
                    additional_headers=headers, open_timeout=10, **connect_kw))
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.sent_actions: dict[str, str] = {}
        self.schema_problems: list[str] = []
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                try:
                    msg = json.loads(text)
                except ValueError:
                    self.inbox.put(text)
                    continue
                if isinstance(msg, list) and msg and msg[0] == 2:
                    self._answer(msg)
                if isinstance(msg, list) and len(msg) == 3 and msg[0] == 3:
                    action = self.sent_actions.get(msg[1])
                    if action:
                        problem = schemas.check(self.version, action, "response", msg[2])
                        if problem is not None:
                            self.schema_problems.append(problem.description)
                self.inbox.put(msg)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def _answer(self, msg: list[Any]) -> None:
        answer = self.responder.get(msg[2], {"status": "Accepted"})
        if callable(answer):
            answer = answer(msg[3])
        if answer is SILENT:
            return
        if isinstance(answer, Reject):
            frame: list[Any] = [4, msg[1], answer.code, answer.description, {}]
        else:
            frame = answer if isinstance(answer, list) else [3, msg[1], answer]
        with contextlib.suppress(ConnectionClosed):
            self.ws.send(json.dumps(frame))

    def send(self, frame: Any) -> None:
        self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    def recv(self, timeout: float = 5.0) -> Any:
        return self.inbox.get(timeout=timeout)

    def request(self, action: str, payload: dict[str, Any], timeout: float = 5.0) -> list[Any]:
        """Send a CALL and return the central system's reply frame (skipping its CALLs)."""
        uid = str(uuid.uuid4())
        self.sent_actions[uid] = action
        self.send([2, uid, action, payload])
        return self.reply_to(uid, timeout)

    def reply_to(self, uid: str, timeout: float = 5.0) -> list[Any]:
        while True:
            msg = self.recv(timeout)
            if isinstance(msg, list) and len(msg) > 1 and msg[1] == uid and msg[0] in (3, 4):
                return msg

    def boot(self) -> list[Any]:
        return self.request("BootNotification", boot_payload(self.version))

    def close(self) -> None:
        self._stack.close()
        self._thread.join(5)


