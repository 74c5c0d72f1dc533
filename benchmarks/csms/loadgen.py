"""The load generator: many lightweight simulated chargers on raw ``websockets`` clients.

Not full OCPP charge points: each client is one websocket with the right subprotocol and
identity path that sends pre-formatted OCPP-J CALL frames and checks that each answer is a
CALLRESULT with the same unique id. OCPP-J allows one outstanding CALL per connection, so
every client waits for its answer before sending the next CALL.

Two measuring windows, each preceded by a warm-up that is not counted:

- ``latency_window``: open loop, paced; clients send Heartbeats at evenly spread phases so
  that all of them together send ``rate_per_s`` per second, whatever their number; every
  round-trip time (send to answer) is recorded. This is latency at a moderate load.
- ``throughput_window``: closed loop, saturating; every client sends its next Heartbeat as
  soon as the previous one is answered; round trips completed per second (all clients
  together) is the server's message rate, the round-trip times are latency under saturation.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.protocol import State
from websockets.typing import Subprotocol

from testbench.errors import BenchError
from testbench.lab.model import OCPP_SUBPROTOCOL

CpuProbe = Callable[[], float | None]


def boot_payload(version: str) -> dict[str, Any]:
    """A BootNotification request payload for ``version``."""
    if version == "1.6":
        return {"chargePointVendor": "BenchVendor", "chargePointModel": "LoadModel",
                "firmwareVersion": "1.0"}
    return {"reason": "PowerUp", "chargingStation": {"vendorName": "BenchVendor",
                                                     "model": "LoadModel",
                                                     "firmwareVersion": "1.0"}}


@dataclass
class Client:
    """One simulated charger's connection."""

    charger_id: str
    ws: ClientConnection
    calls: int = 0
    lost: bool = False
    close_info: str = ""

    def next_frame(self, action: str = "Heartbeat", payload: str = "{}") -> tuple[str, str]:
        """A CALL frame with a fresh unique id, and that id."""
        self.calls += 1
        uid = f"{self.charger_id}-{self.calls}"
        return f'[2,"{uid}","{action}",{payload}]', uid

    @property
    def connected(self) -> bool:
        return not self.lost and self.ws.state is State.OPEN

    def mark_lost(self, exc: BaseException | None = None) -> None:
        if not self.lost:
            self.lost = True
            code, reason = self.ws.close_code, self.ws.close_reason
            self.close_info = (f"code {code} {reason or ''}".strip() if code is not None
                               else type(exc).__name__ if exc is not None else "closed")


class Fleet:
    """N clients of one server; counts what went wrong across all windows."""

    def __init__(self, url_prefix: str, version: str) -> None:
        self.url_prefix = url_prefix
        self.version = version
        self.subprotocol = Subprotocol(OCPP_SUBPROTOCOL[version])
        self.clients: list[Client] = []
        self.errors: list[str] = []  # wrong answers (CALLERROR, wrong id), first few kept
        self.error_count = 0
        self.connect_s = 0.0
        self.boot_s = 0.0

    # ------------------------------------------------------------------ set-up
    async def connect(self, charger_ids: Sequence[str], concurrency: int = 50,
                      open_timeout_s: float = 60.0) -> None:
        """Open one connection per charger id (at most ``concurrency`` handshakes at once)."""
        gate = asyncio.Semaphore(concurrency)
        started = time.perf_counter()

        async def one(cid: str) -> Client:
            async with gate:
                try:
                    ws = await connect(self.url_prefix + cid, subprotocols=[self.subprotocol],
                                       compression=None, ping_interval=None,
                                       open_timeout=open_timeout_s, max_queue=4)
                except (OSError, InvalidHandshake, TimeoutError) as exc:
                    raise BenchError(f"charger {cid!r} could not connect to "
                                     f"{self.url_prefix}{cid}: {exc}") from exc
                if ws.subprotocol != self.subprotocol:
                    await ws.close()
                    raise BenchError(f"{self.url_prefix}{cid} did not accept subprotocol "
                                     f"{self.subprotocol!r} (got {ws.subprotocol!r})")
                return Client(cid, ws)

        results = await asyncio.gather(*(one(cid) for cid in charger_ids),
                                       return_exceptions=True)
        self.clients = [r for r in results if isinstance(r, Client)]
        self.connect_s = time.perf_counter() - started
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await self.close()
            raise BenchError(f"{len(failures)} of {len(results)} chargers could not connect; "
                             f"first: {failures[0]}")

    async def boot(self, timeout_s: float = 60.0) -> dict[str, int]:
        """Send one BootNotification per client; returns how many got which status."""
        payload = json.dumps(boot_payload(self.version), separators=(",", ":"))
        started = time.perf_counter()

        async def one(client: Client) -> str:
            frame, uid = client.next_frame("BootNotification", payload)
            try:
                await client.ws.send(frame)
                reply = json.loads(await asyncio.wait_for(client.ws.recv(), timeout_s))
            except (ConnectionClosed, TimeoutError) as exc:
                client.mark_lost(exc)
                return f"lost ({client.close_info})"
            if reply[0] != 3 or reply[1] != uid:
                self._wrong(client, uid, reply)
                return "error"
            return str(reply[2].get("status"))

        statuses = await asyncio.gather(*(one(c) for c in self.clients))
        self.boot_s = time.perf_counter() - started
        counts: dict[str, int] = {}
        for status in statuses:
            counts[status] = counts.get(status, 0) + 1
        return counts

    async def close(self) -> None:
        await asyncio.gather(*(c.ws.close() for c in self.clients), return_exceptions=True)

    # ------------------------------------------------------------------ status
    @property
    def connected(self) -> int:
        return sum(c.connected for c in self.clients)

    @property
    def lost(self) -> list[Client]:
        return [c for c in self.clients if c.lost or c.ws.state is not State.OPEN]

    def _wrong(self, client: Client, uid: str, reply: Any) -> None:
        self.error_count += 1
        if len(self.errors) < 5:
            self.errors.append(f"{client.charger_id}: call {uid} answered with "
                               f"{str(reply)[:160]}")

    # ------------------------------------------------------------------ windows
    async def _round_trip(self, client: Client) -> float | None:
        """One Heartbeat CALL and its answer; the round-trip time, None if lost or wrong."""
        frame, uid = client.next_frame()
        ws = client.ws
        try:
            t0 = time.perf_counter()
            await ws.send(frame)
            text = await ws.recv()
            rtt = time.perf_counter() - t0
        except ConnectionClosed as exc:
            client.mark_lost(exc)
            return None
        reply = json.loads(text)
        if reply[0] != 3 or reply[1] != uid:
            self._wrong(client, uid, reply)
            return None
        return rtt

    async def latency_window(self, rate_per_s: float, warmup_s: float, seconds: float,
                             server_cpu: CpuProbe) -> Window:
        """Paced Heartbeats at ``rate_per_s`` in total; RTTs of those sent after warm-up."""
        clients = [c for c in self.clients if c.connected]
        period = len(clients) / rate_per_s
        window = Window("latency", len(clients))
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        measure, end = start + warmup_s, start + warmup_s + seconds

        async def paced(client: Client, phase: float) -> None:
            due = start + phase
            while due < end:
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = loop.time()
                rtt = await self._round_trip(client)
                if rtt is None:
                    if client.lost:
                        return
                elif sent >= measure:
                    window.add(rtt)
                due += period
                if due < loop.time():  # answer came after the next slot: skip missed slots
                    window.late += 1
                    while due < loop.time():
                        due += period

        tasks = [asyncio.create_task(paced(c, i * period / len(clients)))
                 for i, c in enumerate(clients)]
        await self._measure(window, tasks, measure, end, server_cpu)
        return window

    async def throughput_window(self, warmup_s: float, seconds: float,
                                server_cpu: CpuProbe) -> Window:
        """Back-to-back Heartbeats on every client; round trips completed in the window."""
        clients = [c for c in self.clients if c.connected]
        window = Window("throughput", len(clients))
        loop = asyncio.get_running_loop()
        start = loop.time()
        measure, end = start + warmup_s, start + warmup_s + seconds
        time_now = loop.time

        async def closed_loop(client: Client) -> None:
            while time_now() < end:
                rtt = await self._round_trip(client)
                if rtt is None:
                    if client.lost:
                        return
                    continue
                now = time_now()
                if measure <= now < end:
                    window.add(rtt)

        tasks = [asyncio.create_task(closed_loop(c)) for c in clients]
        await self._measure(window, tasks, measure, end, server_cpu)
        return window

    async def _measure(self, window: Window, tasks: list[asyncio.Task[None]], measure: float,
                       end: float, server_cpu: CpuProbe, drain_timeout_s: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        lost_before = sum(c.lost for c in self.clients)
        errors_before = self.error_count
        await asyncio.sleep(max(0.0, measure - loop.time()))
        cpu0, own0, wall0 = server_cpu(), time.process_time(), loop.time()
        await asyncio.sleep(max(0.0, end - loop.time()))
        cpu1, own1, wall1 = server_cpu(), time.process_time(), loop.time()
        window.seconds = wall1 - wall0
        window.loadgen_cpu_s = own1 - own0
        if cpu0 is not None and cpu1 is not None:
            window.server_cpu_s = cpu1 - cpu0
        _, stuck = await asyncio.wait(tasks, timeout=drain_timeout_s)
        for task in stuck:
            task.cancel()
        window.stuck = len(stuck)
        window.disconnects = sum(c.lost for c in self.clients) - lost_before
        window.errors = self.error_count - errors_before


@dataclass
class Window:
    """What one measuring window saw (times in seconds; ``rtts_s`` after warm-up only)."""

    mode: str
    clients: int
    rtts_s: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu_s: float | None = None
    loadgen_cpu_s: float = 0.0
    late: int = 0
    stuck: int = 0
    disconnects: int = 0
    errors: int = 0

    def add(self, rtt_s: float) -> None:
        self.rtts_s.append(rtt_s)

    @property
    def completed(self) -> int:
        return len(self.rtts_s)

    @property
    def rate_per_s(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile (0-100, nearest rank) of round-trip times, in ms."""
        if not self.rtts_s:
            return float("nan")
        ordered = sorted(self.rtts_s)
        rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
        return ordered[rank] * 1000.0

    def summary(self) -> dict[str, Any]:
        """The window's figures as plain JSON-able values."""
        cpu_us = (self.server_cpu_s / self.completed * 1e6
                  if self.server_cpu_s is not None and self.completed else None)
        return {
            "mode": self.mode, "clients": self.clients, "seconds": round(self.seconds, 3),
            "round_trips": self.completed, "msgs_per_s": round(self.rate_per_s, 1),
            "p50_ms": round(self.percentile_ms(50), 3), "p99_ms": round(self.percentile_ms(99), 3),
            "max_ms": round(max(self.rtts_s) * 1000.0, 3) if self.rtts_s else None,
            "server_cpu_util": (round(self.server_cpu_s / self.seconds, 3)
                                if self.server_cpu_s is not None and self.seconds else None),
            "loadgen_cpu_util": round(self.loadgen_cpu_s / self.seconds, 3) if self.seconds
            else None,
            "server_cpu_us_per_round_trip": round(cpu_us, 1) if cpu_us is not None else None,
            "late_sends": self.late, "stuck": self.stuck, "disconnects": self.disconnects,
            "errors": self.errors,
        }
