"""Robustness fault personalities of the simulated chargers, seen on the wire.

A lab of its own (one charger per personality, versions the fault table does not run)
against the recording central system of sim_harness: drops-connection-mid-transaction on
1.6 (queue replayed in order after the reconnection and boot), sends-malformed-frames on
2.1 (three malformed frames once per connection, then normal behaviour),
stops-answering on 1.6 (no reply to any CALL, the socket stays open, own messages go on).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sim_harness import (
    ChargerDef,
    Frame,
    LabDef,
    Scpi,
    SimProcess,
    TestCsms,
    remote_start,
    remote_stop,
    set_sample_interval,
    wait_for_status,
    wait_started,
    write_lab,
)

from testbench.clock import LabClock, parse_iso_utc
from testbench.sim.robustness import DROP_AFTER_S, OFFLINE_S

TIME_SCALE = 20.0
DROP, MALFORMED, SILENT = "drop-16", "malformed-21", "silent-16"


class _TolerantCsms(TestCsms):
    """Records frames that are not JSON too (kind -1, the text in ``payload['raw']``)."""

    __test__ = False

    def record(self, charger: str, incoming: bool, text: str) -> None:
        try:
            json.loads(text)
        except ValueError:
            self.frames.append(Frame(time.time(), charger, incoming, -1, "", None,
                                     {"raw": text}))
            return
        super().record(charger, incoming, text)


@dataclass
class RobustLab:
    csms: TestCsms
    clock: LabClock
    ports: dict[str, int]


@pytest.fixture(scope="module")
def robust(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RobustLab]:
    folder = tmp_path_factory.mktemp("robust")
    lab = write_lab(folder / "lab.toml", LabDef(
        [ChargerDef(DROP, "1.6", faults=("drops-connection-mid-transaction",)),
         ChargerDef(MALFORMED, "2.1", faults=("sends-malformed-frames",)),
         ChargerDef(SILENT, "1.6", faults=("stops-answering",))], time_scale=TIME_SCALE))
    clock = LabClock(scale=TIME_SCALE, epoch=time.time())
    csms = _TolerantCsms(clock)
    sim = SimProcess(lab, csms.url, clock.epoch, folder / "sim.log")
    try:
        ready = sim.ready()
        ports = {n.removeprefix("evio-"): p for n, p in ready["instruments"].items()}
        yield RobustLab(csms, clock, ports)
    finally:
        code = sim.stop()
        csms.close()
    log = (folder / "sim.log").read_text(encoding="utf-8")
    assert code == 0 and "Traceback" not in log, log[-4000:]


def _box(lab: RobustLab, charger: str) -> Scpi:
    wait_for_status(lab.csms, charger, "Available", timeout_s=20)
    return Scpi(lab.ports[charger])


def test_dropped_connection_replays_the_transaction_queue_in_order(robust: RobustLab) -> None:
    csms = robust.csms
    box = _box(robust, DROP)
    try:
        assert set_sample_interval(csms, DROP, 2) == "Accepted"
        mark = csms.mark()
        box.write("EV:PROF ev-3ph")
        box.write("CP:STAT C")
        assert remote_start(csms, DROP, "TOKEN-1") == "Accepted"
        tx_id, _started = wait_started(csms, DROP, mark)
        started_wall = time.time()
        # the link dies DROP_AFTER_S lab s after the start, comes back OFFLINE_S later
        boot = csms.wait(DROP, "BootNotification", since=mark,
                         timeout_s=(DROP_AFTER_S + OFFLINE_S) / TIME_SCALE + 10)
        assert csms.connections[DROP] == 2
        back_lab_s = (boot.wall_s - started_wall) * TIME_SCALE
        assert back_lab_s >= DROP_AFTER_S + 0.8 * OFFLINE_S, back_lab_s
        since_boot = csms.frames.index(boot)
        meter = csms.wait(DROP, "MeterValues", since=since_boot + 1)
        csms.wait(DROP, "StatusNotification", since=since_boot + 1)  # after the replay
        after = [f for f in csms.frames[since_boot:]
                 if f.charger == DROP and f.incoming and f.kind == 2]
        first_status = [f.action for f in after].index("StatusNotification")
        replayed = [f for f in after[:first_status] if f.action == "MeterValues"]
        assert len(replayed) >= 3, [f.action for f in after]  # 2-s samples of 10 s off line
        assert after[1].action == "MeterValues", [f.action for f in after[:6]]
        assert all(f.payload["transactionId"] == int(tx_id) for f in replayed)
        stamps = [parse_iso_utc(f.payload["meterValue"][0]["timestamp"]) for f in replayed]
        assert stamps == sorted(stamps) and stamps[0] < robust.clock.to_lab(meter.wall_s) - 1
        assert len(csms.requests(DROP, "StartTransaction", mark)) == 1  # not replayed twice
        assert remote_stop(csms, DROP, tx_id) == "Accepted"
        csms.wait(DROP, "StopTransaction", since=mark)
    finally:
        box.write("*RST")
        box.close()


def test_malformed_frames_once_per_connection_then_carries_on(robust: RobustLab) -> None:
    csms = robust.csms
    box = _box(robust, MALFORMED)
    try:
        mark = csms.mark()
        box.write("EV:PROF ev-3ph")
        box.write("CP:STAT B")
        deadline = time.monotonic() + 10
        while len(_malformed(csms, mark)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        bad = _malformed(csms, mark)
        assert [f.kind for f in bad] == [-1, 7, 2], bad
        assert bad[2].payload["connectorStatus"] == "Plugged"
        assert isinstance(bad[2].payload["evseId"], str)
        time.sleep(1.0)  # no valid Occupied report replaces the malformed one
        assert [f for f in csms.requests(MALFORMED, "StatusNotification", mark)
                if f.payload.get("connectorStatus") == "Occupied"] == []
        box.write("CP:STAT A")
        wait_for_status(csms, MALFORMED, "Available", since=mark)
        again = csms.mark()
        box.write("CP:STAT B")  # the same connection: a valid report this time
        wait_for_status(csms, MALFORMED, "Occupied", since=again)
        assert _malformed(csms, again) == []
    finally:
        box.write("*RST")
        box.close()


def _malformed(csms: TestCsms, since: int) -> list[Frame]:
    return [f for f in csms.frames[since:] if f.charger == MALFORMED and f.incoming
            and (f.kind in (-1, 7) or (f.kind == 2 and f.action == "StatusNotification"
                                        and f.payload.get("connectorStatus") == "Plugged"))]


def test_stops_answering_keeps_the_socket_and_its_own_messages(robust: RobustLab) -> None:
    csms = robust.csms
    box = _box(robust, SILENT)
    try:
        with pytest.raises(AssertionError, match="did not answer"):
            csms.raw_call(SILENT, "GetConfiguration", {}, timeout_s=2.0)
        assert not csms.links[SILENT].closed and csms.connections[SILENT] == 1
        mark = csms.mark()
        box.write("EV:PROF ev-3ph")
        box.write("CP:STAT B")
        wait_for_status(csms, SILENT, "Preparing", since=mark)  # its own CALLs still go out
        assert [f for f in csms.frames[mark:] if f.charger == SILENT and f.incoming
                and f.kind in (3, 4)] == []
    finally:
        box.write("*RST")
        box.close()
