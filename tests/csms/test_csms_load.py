"""Many chargers at once: 200 clients connect, boot and heartbeat concurrently."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from csms_helpers import SUBPROTOCOL, Bench, boot_payload, spec
from websockets.asyncio.client import connect

N_CHARGERS = 200
HEARTBEATS = 3
VERSION_CYCLE = ("1.6", "2.0.1", "2.1")


async def _one_charger(url: str, version: str, index: int) -> list[str]:
    statuses: list[str] = []
    async with connect(url, subprotocols=[SUBPROTOCOL[version]],  # type: ignore[list-item]
                       open_timeout=30) as ws:
        await ws.send(json.dumps([2, f"b{index}", "BootNotification", boot_payload(version)]))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
        statuses.append(reply[2]["status"])
        for n in range(HEARTBEATS):
            await ws.send(json.dumps([2, f"h{index}-{n}", "Heartbeat", {}]))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert reply[0] == 3 and reply[1] == f"h{index}-{n}", reply
            statuses.append("hb")
    return statuses


async def _all(bench: Bench, ids: list[str]) -> list[list[str]]:
    return await asyncio.gather(*[
        _one_charger(bench.url(cid), bench.central.chargers[cid].ocpp_version, i)
        for i, cid in enumerate(ids)])


def test_200_chargers_connect_and_heartbeat_concurrently(make_bench: Callable[..., Bench]
                                                         ) -> None:
    chargers = {f"load-{i:03d}": spec(f"load-{i:03d}", VERSION_CYCLE[i % 3])
                for i in range(N_CHARGERS)}
    b = make_bench(chargers=chargers)
    ids = sorted(chargers)
    started = time.monotonic()
    results = asyncio.run(_all(b, ids))
    elapsed = time.monotonic() - started
    assert all(r == ["Accepted"] + ["hb"] * HEARTBEATS for r in results)
    assert elapsed < 20, f"200 chargers took {elapsed:.1f} s"
    for cid in ids[:: N_CHARGERS // 10]:
        handle = b.csms.charger(cid)
        assert handle.state.boot_status == "Accepted"
        assert len(handle.messages("Heartbeat", since_mark=False)) == 2 * HEARTBEATS
        assert handle.state.connection_count == 1
