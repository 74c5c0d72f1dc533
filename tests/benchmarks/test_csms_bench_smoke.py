"""Smoke test of the central-system benchmark: a ~1 s run with 5 chargers produces figures
for both servers and no disconnects (no timing thresholds), and the load generator really
counts disconnects."""

from __future__ import annotations

import asyncio
import importlib
import json
import math
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARGERS = 5


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # benchmarks/ is not an installed package
    return importlib.import_module("benchmarks.csms.bench_csms")


def test_a_short_run_measures_both_servers_without_disconnects(bench: ModuleType,
                                                                 tmp_path: Path) -> None:
    results = bench.run_benchmark(chargers=[CHARGERS], seconds=0.6, warmup_s=0.2, repeats=1,
                                  log=lambda *_: None)
    (level,) = results["levels"]
    assert level["chargers"] == CHARGERS
    assert set(level["servers"]) == {"testbench", "plain"}
    for kind, server in level["servers"].items():
        assert server["boot_statuses"] == {"Accepted": CHARGERS}, kind
        assert server["disconnects"] == 0 and server["lost"] == [], kind
        assert server["connected_at_end"] == CHARGERS, kind
        assert server["wrong_answers"] == 0, (kind, server["wrong_answer_examples"])
        assert server["stopped_cleanly"], kind
        for key in ("msgs_per_s", "latency_p50_ms", "latency_p99_ms", "saturated_p50_ms",
                    "saturated_p99_ms"):
            assert math.isfinite(server[key]) and server[key] > 0, (kind, key)
        assert server["latency_p50_ms"] <= server["latency_p99_ms"], kind
        (window,) = server["throughput_windows"]
        assert window["clients"] == CHARGERS and window["round_trips"] > 0, kind
        assert window["stuck"] == 0 and window["errors"] == 0, kind
    # The bench's central system traced every charger, with tracing on as always.
    trace = level["servers"]["testbench"]["trace"]
    assert trace["files"] == CHARGERS
    assert trace["lines"] > 2 * level["servers"]["testbench"]["throughput_windows"][0][
        "round_trips"]
    for key in ("msgs_per_s", "latency_p50", "latency_p99"):
        assert math.isfinite(level["ratio"][key]) and level["ratio"][key] > 0, key
    assert level["all_connected"]
    assert results["machine"]["cpus"] >= 1 and results["settings"]["repeats"] == 1

    path = bench.write_results(results, tmp_path)
    assert path.name.startswith("csms-") and json.loads(path.read_text()) == results
    text = bench.table(results, bench.load_baseline())
    assert "testbench" in text and "plain" in text and "ratio" in text


def test_the_load_generator_counts_chargers_the_server_drops(bench: ModuleType) -> None:
    from benchmarks.csms.loadgen import Fleet
    from benchmarks.csms.plain_server import start_plain_server

    async def scenario() -> tuple[dict[str, int], int, int, int, int]:
        server = await start_plain_server("ocpp2.0.1")
        port = server.sockets[0].getsockname()[1]
        fleet = Fleet(f"ws://127.0.0.1:{port}/ocpp/", "2.0.1")
        await fleet.connect([f"drop-{i}" for i in range(3)])
        boots = await fleet.boot()
        before = fleet.connected

        async def drop_all() -> None:
            await asyncio.sleep(0.2)
            server.close(close_connections=True)
            await server.wait_closed()

        window, _ = await asyncio.gather(fleet.throughput_window(0.0, 0.6, lambda: None),
                                         drop_all())
        await fleet.close()
        return boots, before, window.disconnects, len(fleet.lost), window.completed

    boots, before, in_window, lost, completed = asyncio.run(scenario())
    assert boots == {"Accepted": 3} and before == 3
    assert completed > 0  # it ran before the drop
    assert in_window == 3 and lost == 3


def test_fleet_sizes_are_checked(bench: ModuleType) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--chargers", "1,zero"])
    with pytest.raises(SystemExit):
        bench.main(["--chargers", "0"])
