"""Test harness for the simulated lab: a small central system, a lab writer, the process.

The central system is written here with the ``ocpp`` package (server side, websockets),
independent of ``testbench.csms``: it records every frame with its wall time, answers
boots and authorisations by per-charger policy, and sends CALLs on request. The simulated
lab runs as a subprocess and is reached only over the wire.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as Cp21
from ocpp.v21 import call_result as result21
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as result201

from testbench.aio import BackgroundLoop
from testbench.clock import LabClock, iso_utc

REPO = Path(__file__).resolve().parents[2]
SUBPROTOCOLS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
WAIT_S = 10.0  # wall seconds: generous default for anything the sim must do


# --------------------------------------------------------------------------- frames


@dataclass
class Frame:
    """One OCPP-J message on the wire, as the central system saw it."""

    wall_s: float
    charger: str
    incoming: bool  # sent by the charger
    kind: int  # 2 CALL, 3 CALLRESULT, 4 CALLERROR
    uid: str
    action: str | None
    payload: dict[str, Any]

    def __repr__(self) -> str:
        arrow = "<-" if self.incoming else "->"
        return f"{arrow}{self.charger} {self.kind} {self.action} {json.dumps(self.payload)}"


class CallFailed(Exception):
    """The charger answered a CALL with CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


# --------------------------------------------------------------------------- central system


class _Handlers16(Cp16):
    csms: TestCsms

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        status, interval = self.csms.next_boot(self.id)
        return result16.BootNotification(current_time=iso_utc(time.time()), interval=interval,
                                          status=status)

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return result16.Heartbeat(current_time=iso_utc(time.time()))

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return result16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str, **_: Any) -> Any:
        return result16.Authorize(id_tag_info={"status": self.csms.token_status(id_tag)})

    @on("StartTransaction")
    def on_start(self, id_tag: str, **_: Any) -> Any:
        return result16.StartTransaction(transaction_id=next(self.csms.tx_ids),
                                         id_tag_info={"status": self.csms.token_status(id_tag)})

    @on("StopTransaction")
    def on_stop(self, **_: Any) -> Any:
        return result16.StopTransaction()

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return result16.MeterValues()


class _Handlers2x:
    csms: TestCsms
    id: str
    results: Any

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        status, interval = self.csms.next_boot(self.id)
        return self.results.BootNotification(current_time=iso_utc(time.time()),
                                             interval=interval, status=status)

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return self.results.Heartbeat(current_time=iso_utc(time.time()))

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return self.results.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        return self.results.Authorize(
            id_token_info={"status": self.csms.token_status(id_token["id_token"])})

    @on("TransactionEvent")
    def on_transaction_event(self, id_token: dict[str, Any] | None = None, **_: Any) -> Any:
        if id_token is None:
            return self.results.TransactionEvent()
        return self.results.TransactionEvent(
            id_token_info={"status": self.csms.token_status(id_token["id_token"])})

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return self.results.MeterValues()


class _Handlers201(_Handlers2x, Cp201):
    results = result201


class _Handlers21(_Handlers2x, Cp21):
    results = result21


class _Recorder:
    """Wraps a websocket so that every frame is recorded."""

    def __init__(self, ws: Any, csms: TestCsms, charger: str) -> None:
        self.ws = ws
        self.csms = csms
        self.charger = charger

    async def recv(self) -> str:
        message = await self.ws.recv()
        self.csms.record(self.charger, True, message)
        return message

    async def send(self, message: str) -> None:
        self.csms.record(self.charger, False, message)
        await self.ws.send(message)


@dataclass
class _Link:
    cp: Any
    ws: Any
    connected_wall_s: float
    closed: bool = False


class TestCsms:
    """A recording OCPP central system on 127.0.0.1 (port 0), run on a background loop."""

    __test__ = False

    def __init__(self, clock: LabClock, default_interval_s: int = 3600, port: int = 0) -> None:
        self.clock = clock
        self.default_interval_s = default_interval_s
        self.frames: list[Frame] = []
        self.links: dict[str, _Link] = {}
        self.connections: dict[str, int] = {}
        self.boot_policy: dict[str, list[tuple[str, int]]] = {}
        self.tokens: dict[str, str] = {}
        self.auth_headers: dict[str, str | None] = {}
        self.tx_ids = itertools.count(1001)
        self._pending_actions: dict[str, str] = {}
        self._bg = BackgroundLoop("test-csms")
        self.port = self._bg.run(self._start(port), timeout_s=10)
        self.url = f"ws://127.0.0.1:{self.port}/ocpp"

    # -- policies

    def set_boot(self, charger: str, *answers: tuple[str, int]) -> None:
        """Answer the next boots with these (status, interval); the last one repeats."""
        self.boot_policy[charger] = list(answers)

    def next_boot(self, charger: str) -> tuple[str, int]:
        answers = self.boot_policy.get(charger)
        if not answers:
            return "Accepted", self.default_interval_s
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def token_status(self, token: str) -> str:
        return self.tokens.get(token, "Accepted")

    # -- server

    async def _start(self, port: int) -> int:
        self._server = await websockets.serve(
            self._serve, "127.0.0.1", port, subprotocols=SUBPROTOCOLS,  # type: ignore[arg-type]
            process_request=self._process_request)
        return self._server.sockets[0].getsockname()[1]

    def _process_request(self, connection: Any, request: Any) -> None:
        charger = request.path.rstrip("/").rsplit("/", 1)[-1]
        self.auth_headers[charger] = request.headers.get("Authorization")

    async def _serve(self, ws: Any) -> None:
        charger = ws.request.path.rstrip("/").rsplit("/", 1)[-1]
        classes = {"ocpp1.6": _Handlers16, "ocpp2.0.1": _Handlers201, "ocpp2.1": _Handlers21}
        cls = classes.get(ws.subprotocol or "")
        if cls is None:
            await ws.close(1002, "no subprotocol")
            return
        cp = cls(charger, _Recorder(ws, self, charger), response_timeout=WAIT_S)
        cp.csms = self
        link = _Link(cp, ws, time.time())
        self.links[charger] = link
        self.connections[charger] = self.connections.get(charger, 0) + 1
        try:
            await cp.start()
        except websockets.ConnectionClosed:
            pass
        finally:
            link.closed = True

    def record(self, charger: str, incoming: bool, text: str) -> None:
        msg = json.loads(text)
        kind, uid = msg[0], msg[1]
        if kind == 2:
            action, payload = msg[2], msg[3]
            if not incoming:
                self._pending_actions[uid] = action
        else:
            action = self._pending_actions.get(uid) if incoming else None
            payload = msg[2] if kind == 3 else {"code": msg[2], "description": msg[3]}
        self.frames.append(Frame(time.time(), charger, incoming, kind, uid, action, payload))

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        try:
            self._bg.run(stop(), timeout_s=5)
        finally:
            self._bg.stop()

    def drop(self, charger: str) -> None:
        """Close the charger's connection from the central system's side."""
        self._bg.run(self.links[charger].ws.close(), timeout_s=5)

    # -- looking at the trace (from the test thread)

    def mark(self) -> int:
        """Position in the trace; pass as ``since`` to look only at what follows."""
        return len(self.frames)

    def lab_s(self, frame: Frame) -> float:
        return self.clock.to_lab(frame.wall_s)

    def requests(self, charger: str, action: str | None = None, since: int = 0,
                 where: Callable[[dict[str, Any]], bool] | None = None) -> list[Frame]:
        """CALLs the charger sent (optionally of one action, matching ``where``)."""
        return [f for f in self.frames[since:]
                if f.charger == charger and f.incoming and f.kind == 2
                and (action is None or f.action == action)
                and (where is None or where(f.payload))]

    def wait(self, charger: str, action: str, where: Callable[[dict[str, Any]], bool] | None = None,
             since: int = 0, timeout_s: float = WAIT_S, count: int = 1) -> Frame:
        """Wait until the charger has sent ``count`` matching CALLs; the last of them."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.requests(charger, action, since, where)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                seen = [f for f in self.frames[since:] if f.charger == charger]
                raise AssertionError(
                    f"{charger} sent {len(found)} of {count} {action} within {timeout_s} s; "
                    f"trace since mark: {seen[-25:]}")
            time.sleep(0.01)

    def wait_connected(self, charger: str, after_wall_s: float = 0.0,
                       timeout_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            link = self.links.get(charger)
            if link is not None and not link.closed and link.connected_wall_s > after_wall_s:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{charger} did not connect within {timeout_s} s")
            time.sleep(0.01)

    def wait_booted(self, chargers: Iterable[str], timeout_s: float = 20.0) -> None:
        for charger in chargers:
            self.wait(charger, "BootNotification", timeout_s=timeout_s)

    # -- CALLs to a charger

    def call(self, charger: str, action: str, payload: dict[str, Any],
             timeout_s: float = WAIT_S) -> dict[str, Any]:
        """Send a CALL (validated by the ocpp package); the reply payload in camelCase."""

        async def go() -> dict[str, Any]:
            cp = self.links[charger].cp
            request = getattr(cp._call, action)(**camel_to_snake_case(payload))
            try:
                result = await cp.call(request, suppress=False)
            except OCPPError as error:
                raise CallFailed(error.code, str(error.description)) from None
            return snake_to_camel_case(remove_nones(serialize_as_dict(result)))

        return self._bg.run(go(), timeout_s=timeout_s + 1)

    def raw_call(self, charger: str, action: str, payload: dict[str, Any],
                 timeout_s: float = WAIT_S) -> Frame:
        """Send any CALL frame, unvalidated; the answering frame."""
        uid = f"raw-{time.monotonic_ns()}"

        async def send() -> None:
            await self.links[charger].cp._connection.send(json.dumps([2, uid, action, payload]))

        self._bg.run(send(), timeout_s=5)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for frame in self.frames:
                if frame.uid == uid and frame.incoming:
                    return frame
            time.sleep(0.01)
        raise AssertionError(f"{charger} did not answer {action} within {timeout_s} s")


# --------------------------------------------------------------------------- lab file


@dataclass
class ChargerDef:
    id: str
    version: str = "2.0.1"
    faults: tuple[str, ...] = ()
    max_current_a: float = 32.0
    phases: int = 3
    security_profile: int = 0
    password_env: str | None = None
    port: int = 0  # I/O box port (0: any free port)
    evse_count: int = 1  # one I/O box per EVSE: evio-<id>, evio-<id>-e2, ...


@dataclass
class LabDef:
    chargers: list[ChargerDef]
    time_scale: float = 40.0
    evs: list[dict[str, Any]] = field(default_factory=lambda: [
        {"id": "ev-3ph", "phases": 3, "min_current_a": 6.0, "max_current_a": 16.0},
        {"id": "ev-1ph", "phases": 1, "min_current_a": 6.0, "max_current_a": 32.0},
    ])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def write_lab(path: Path, lab: LabDef) -> Path:
    """Write a lab.toml with one station holding every charger and EV."""
    lines = ["[lab]", 'name = "sim-tests"', 'mode = "sim"', f"time_scale = {lab.time_scale}", ""]
    for c in lab.chargers:
        lines += ["[[chargers]]", f"id = {_toml_value(c.id)}", 'vendor = "Testco"',
                  f'model = "M-{c.version}"', 'firmware = "1.2.3"',
                  f"ocpp_version = {_toml_value(c.version)}",
                  f"security_profile = {c.security_profile}",
                  f"phases = {c.phases}", f"max_current_a = {c.max_current_a}",
                  f"evse_count = {c.evse_count}",
                  f"faults = {_toml_value(list(c.faults))}"]
        if c.password_env:
            lines.append(f"password_env = {_toml_value(c.password_env)}")
        lines.append("")
    for ev in lab.evs:
        lines += ["[[evs]]", f"id = {_toml_value(ev['id'])}", 'make = "Testmake"',
                  f"model = {_toml_value(ev['id'])}", 'software = "1.0"',
                  f"phases = {ev['phases']}", f"min_current_a = {ev['min_current_a']}",
                  f"max_current_a = {ev['max_current_a']}", ""]
    lines += ["[[stations]]", 'id = "bay"',
              f"chargers = {_toml_value([c.id for c in lab.chargers])}",
              f"evs = {_toml_value([ev['id'] for ev in lab.evs])}", ""]
    for c in lab.chargers:
        for evse in range(1, c.evse_count + 1):
            name = f"evio-{c.id}" + (f"-e{evse}" if evse > 1 else "")
            lines += ["  [[stations.instruments]]", f"  name = {_toml_value(name)}",
                      # the lab allows one ev_emulator per charger: others get their own role
                      "  role = " + _toml_value("ev_emulator" + (f"_evse{evse}" if evse > 1
                                                                 else "")),
                      '  driver = "sim-ev-emulator"',
                      f'  resource = "TCPIP::127.0.0.1::{c.port}::SOCKET"',
                      f"  charger = {_toml_value(c.id)}"]
            if evse > 1:
                lines.append(f"  options = {{ evse = {evse} }}")
            lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- sim process


class SimProcess:
    """``python -m testbench.sim`` as a child (stdin kept open), stderr to a file."""

    def __init__(self, lab_path: Path, csms_url: str, epoch: float, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "testbench.sim", "--lab", str(lab_path), "--csms-url",
             csms_url, "--epoch", repr(epoch)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(env or {})})
        self.first_line = ""

    def read_line(self, timeout_s: float = 20.0) -> str:
        """The first stdout line (SIM READY ... or SIM ERROR ...)."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            raise AssertionError(f"simulated lab printed nothing within {timeout_s} s; "
                                 f"log:\n{self.log()}")
        self.first_line = self.proc.stdout.readline().strip()
        return self.first_line

    def ready(self) -> dict[str, Any]:
        line = self.read_line()
        assert line.startswith("SIM READY "), f"expected SIM READY, got {line!r}\n{self.log()}"
        return json.loads(line[len("SIM READY "):])

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8")[-4000:]

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            try:
                self.close_stdin()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


# --------------------------------------------------------------------------- SCPI client


class Scpi:
    """A blocking line client for a station I/O box (twin)."""

    def __init__(self, port: int, timeout_s: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        self.file = self.sock.makefile("rwb")

    def write(self, line: str) -> None:
        self.file.write(line.encode() + b"\n")
        self.file.flush()

    def query(self, line: str) -> str:
        self.write(line)
        reply = self.file.readline()
        if not reply:
            raise AssertionError(f"connection closed after {line!r}")
        return reply.decode().strip()

    def errors(self) -> list[str]:
        """Drain the error queue."""
        found = []
        while True:
            reply = self.query("SYST:ERR?")
            if reply.startswith("0,"):
                return found
            found.append(reply)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --------------------------------------------------------------------------- payload helpers


def sampled(payload: dict[str, Any], measurand: str) -> float | None:
    """A measurand's value in a 1.6 MeterValues / 2.x TransactionEvent payload."""
    for mv in payload.get("meterValue", []):
        for sv in mv.get("sampledValue", []):
            if sv.get("measurand", "Energy.Active.Import.Register") == measurand:
                return float(sv["value"])
    return None


def status_of(frame: Frame) -> str:
    return frame.payload.get("status") or frame.payload.get("connectorStatus")


def statuses(csms: TestCsms, charger: str, since: int = 0) -> list[str]:
    """Connector (not station) statuses reported since the mark, in order."""
    return [status_of(f) for f in csms.requests(charger, "StatusNotification", since)
            if f.payload.get("connectorId", 0) > 0]


def wait_for_status(csms: TestCsms, charger: str, status: str, since: int = 0,
                    timeout_s: float = WAIT_S) -> Frame:
    return csms.wait(charger, "StatusNotification",
                     where=lambda p: p.get("connectorId", 0) > 0
                     and (p.get("status") or p.get("connectorStatus")) == status,
                     since=since, timeout_s=timeout_s)


def tx_events(csms: TestCsms, charger: str, since: int = 0,
              event_type: str | None = None) -> list[Frame]:
    return csms.requests(charger, "TransactionEvent", since,
                         where=lambda p: event_type is None or p["eventType"] == event_type)


def quiet_for(csms: TestCsms, charger: str, actions: Iterable[str], since: int,
              wall_s: float) -> list[Frame]:
    """Wait ``wall_s`` and return what the charger sent of ``actions`` since the mark."""
    time.sleep(wall_s)
    wanted = set(actions)
    return [f for f in csms.requests(charger, since=since) if f.action in wanted]


# --------------------------------------------------------------------------- version dialects


def remote_start(csms: TestCsms, charger: str, token: str, remote_start_id: int = 7,
                 evse_id: int | None = 1) -> str:
    """RemoteStartTransaction / RequestStartTransaction; the status."""
    if charger_version(csms, charger) == "1.6":
        payload: dict[str, Any] = {"idTag": token}
        if evse_id is not None:
            payload["connectorId"] = evse_id
        return csms.call(charger, "RemoteStartTransaction", payload)["status"]
    payload = {"idToken": {"idToken": token, "type": "Central"},
               "remoteStartId": remote_start_id}
    if evse_id is not None:
        payload["evseId"] = evse_id
    return csms.call(charger, "RequestStartTransaction", payload)["status"]


def remote_stop(csms: TestCsms, charger: str, tx_id: str) -> str:
    if charger_version(csms, charger) == "1.6":
        return csms.call(charger, "RemoteStopTransaction", {"transactionId": int(tx_id)})["status"]
    return csms.call(charger, "RequestStopTransaction", {"transactionId": tx_id})["status"]


def charger_version(csms: TestCsms, charger: str) -> str:
    return csms.links[charger].cp._ocpp_version


def wait_started(csms: TestCsms, charger: str, since: int = 0) -> tuple[str, Frame]:
    """(transaction id, frame) of the next transaction start."""
    if charger_version(csms, charger) == "1.6":
        frame = csms.wait(charger, "StartTransaction", since=since)
        reply = wait_reply(csms, frame)
        return str(reply.payload["transactionId"]), frame
    frame = csms.wait(charger, "TransactionEvent", since=since,
                      where=lambda p: p["eventType"] == "Started")
    return frame.payload["transactionInfo"]["transactionId"], frame


def wait_ended(csms: TestCsms, charger: str, since: int = 0, timeout_s: float = WAIT_S) -> Frame:
    if charger_version(csms, charger) == "1.6":
        return csms.wait(charger, "StopTransaction", since=since, timeout_s=timeout_s)
    return csms.wait(charger, "TransactionEvent", since=since, timeout_s=timeout_s,
                     where=lambda p: p["eventType"] == "Ended")


def stop_reason(frame: Frame) -> str:
    if frame.action == "StopTransaction":
        return frame.payload.get("reason", "Local")
    return frame.payload["transactionInfo"].get("stoppedReason", "Local")


def wait_reply(csms: TestCsms, request: Frame, timeout_s: float = WAIT_S) -> Frame:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in csms.frames:
            if frame.uid == request.uid and not frame.incoming and frame.kind != 2:
                return frame
        time.sleep(0.01)
    raise AssertionError(f"no reply to {request}")


def wait_charging(csms: TestCsms, charger: str, since: int = 0) -> Frame:
    if charger_version(csms, charger) == "1.6":
        return wait_for_status(csms, charger, "Charging", since=since)
    return csms.wait(charger, "TransactionEvent", since=since,
                     where=lambda p: p["transactionInfo"].get("chargingState") == "Charging")


def occupied(csms: TestCsms, charger: str) -> str:
    return "Preparing" if charger_version(csms, charger) == "1.6" else "Occupied"


def set_config(csms: TestCsms, charger: str, key16: str, component: str, variable: str,
               value: str) -> str:
    """ChangeConfiguration (1.6) / SetVariables (2.x); the status."""
    if charger_version(csms, charger) == "1.6":
        return csms.call(charger, "ChangeConfiguration", {"key": key16, "value": value})["status"]
    reply = csms.call(charger, "SetVariables", {"setVariableData": [{
        "component": {"name": component}, "variable": {"name": variable},
        "attributeValue": value}]})
    return reply["setVariableResult"][0]["attributeStatus"]


def set_sample_interval(csms: TestCsms, charger: str, interval_s: int) -> str:
    return set_config(csms, charger, "MeterValueSampleInterval", "SampledDataCtrlr",
                      "TxUpdatedInterval", str(interval_s))


def periodic_samples(csms: TestCsms, charger: str, since: int = 0) -> list[Frame]:
    if charger_version(csms, charger) == "1.6":
        return csms.requests(charger, "MeterValues", since,
                             where=lambda p: p["meterValue"][0]["sampledValue"][0]["context"]
                             == "Sample.Periodic")
    return csms.requests(charger, "TransactionEvent", since,
                         where=lambda p: p["triggerReason"] == "MeterValuePeriodic")


def wait_periodic(csms: TestCsms, charger: str, since: int, count: int,
                  timeout_s: float = WAIT_S) -> list[Frame]:
    """Wait for ``count`` periodic meter samples since the mark."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = periodic_samples(csms, charger, since)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{charger}: {len(found)} of {count} periodic samples")
        time.sleep(0.01)
