"""Plug-in, RFID, remote start/stop and meter values of the simulated chargers."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import pytest
from sim_fleet import VERSIONS, SimLab
from sim_harness import (
    Scpi,
    periodic_samples,
    quiet_for,
    remote_start,
    remote_stop,
    sampled,
    set_config,
    set_sample_interval,
    statuses,
    stop_reason,
    tx_events,
    wait_charging,
    wait_ended,
    wait_for_status,
    wait_periodic,
    wait_started,
)

from testbench.clock import parse_iso_utc

ENERGY = "Energy.Active.Import.Register"


@pytest.fixture
def box_for(simlab: SimLab) -> Iterator[object]:
    """Open the station I/O box of a charger (waits until the charger has booted)."""
    opened: list[Scpi] = []

    def open_box(charger: str) -> Scpi:
        wait_for_status(simlab.csms, charger, "Available", timeout_s=20)
        box = Scpi(simlab.ports[charger])
        opened.append(box)
        return box

    yield open_box
    for box in opened:
        box.write("*RST")
        box.close()


def plug(box: Scpi, ev: str = "ev-3ph", state: str = "B") -> None:
    box.write(f"EV:PROF {ev}")
    box.write(f"CP:STAT {state}")


@pytest.mark.parametrize("tag", VERSIONS)
def test_plug_in_and_out_reports_occupied_then_available(simlab: SimLab, box_for, tag: str
                                                         ) -> None:
    csms, charger = simlab.csms, f"plug-{tag}"
    box = box_for(charger)
    mark = csms.mark()
    plug(box)
    occupied = "Preparing" if tag == "16" else "Occupied"
    wait_for_status(csms, charger, occupied, since=mark)
    assert box.query("CP:STAT?") == "B1"
    assert box.query("CP:DUTY?") == "100.0"
    box.write("CP:STAT A")
    wait_for_status(csms, charger, "Available", since=mark)
    assert statuses(csms, charger, mark) == [occupied, "Available"]
    assert tx_events(csms, charger, mark) == [] and csms.requests(charger, "StartTransaction",
                                                                   mark) == []
    assert box.query("CP:STAT?") == "A1"
    assert box.errors() == []


def test_skips_status_notification_fault(simlab: SimLab, box_for) -> None:
    csms, charger = simlab.csms, "f-skips-status-notification"
    box = box_for(charger)
    mark = csms.mark()
    plug(box)
    assert box.query("CP:STAT?") == "B1"
    assert quiet_for(csms, charger, ["StatusNotification"], mark, simlab.wall(30)) == []
    box.write("CP:STAT A")
    wait_for_status(csms, charger, "Available", since=mark)


@pytest.mark.parametrize("tag", VERSIONS)
def test_rfid_starts_and_same_card_stops(simlab: SimLab, box_for, tag: str) -> None:
    csms, charger, token = simlab.csms, f"rfid-{tag}", f"CARD-{tag}"
    box = box_for(charger)
    mark = csms.mark()
    plug(box, state="C")
    box.write(f"RFID:PRES {token}")
    auth = csms.wait(charger, "Authorize", since=mark)
    assert (auth.payload.get("idTag") or auth.payload["idToken"]["idToken"]) == token
    tx_id, start = wait_started(csms, charger, since=mark)
    charging = wait_charging(csms, charger, since=mark)
    if tag == "16":
        assert statuses(csms, charger, mark) == ["Preparing", "Charging"]
        assert start.payload["idTag"] == token and start.payload["connectorId"] == 1
        assert isinstance(start.payload["meterStart"], int)
    else:
        info = start.payload["transactionInfo"]
        assert start.payload["triggerReason"] == "Authorized"
        assert start.payload["idToken"]["idToken"] == token
        assert start.payload["evse"] == {"id": 1, "connectorId": 1}
        assert start.payload["seqNo"] == 0
        assert info["chargingState"] == "EVConnected"  # the contactor closes just after
        assert (charging.payload["eventType"], charging.payload["triggerReason"]) == (
            "Updated", "ChargingStateChanged")
        assert charging.payload["seqNo"] == 1
        assert start.payload["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"
    assert box.query("CP:STAT?") == "C2"
    assert box.query("CP:DUTY?") == "53.3"  # 32 A offered
    assert float(box.query("MEAS:CURR?")) == 16.0  # the EV's maximum
    assert box.query("MEAS:PHAS?") == "3"
    assert float(box.query("MEAS:POW?")) == pytest.approx(230 * 16 * 3)

    box.write(f"RFID:PRES {token}")
    ended = wait_ended(csms, charger, since=mark)
    assert stop_reason(ended) == "Local"
    if tag == "16":
        assert str(ended.payload["transactionId"]) == tx_id
        assert ended.payload["idTag"] == token
        wait_for_status(csms, charger, "Finishing", since=mark)
    else:
        assert ended.payload["triggerReason"] == "StopAuthorized"
        assert ended.payload["transactionInfo"]["transactionId"] == tx_id
        seq = [f.payload["seqNo"] for f in tx_events(csms, charger, mark)]
        assert seq == sorted(seq) and len(set(seq)) == len(seq)
    assert box.query("CP:STAT?") == "C1"
    assert float(box.query("MEAS:CURR?")) == 0.0
    box.write("CP:STAT A")
    wait_for_status(csms, charger, "Available", since=mark)

    # A card the central system rejects starts nothing and delivers no energy.
    csms.tokens["BAD-" + tag] = "Invalid"
    mark = csms.mark()
    plug(box, state="C")
    box.write(f"RFID:PRES BAD-{tag}")
    csms.wait(charger, "Authorize", since=mark)
    assert quiet_for(csms, charger, ["StartTransaction", "TransactionEvent"], mark,
                     simlab.wall(30)) == []
    assert box.query("CP:STAT?") == "C1" and float(box.query("MEAS:CURR?")) == 0.0


def test_ignores_authorization_fault_charges_with_rejected_card(simlab: SimLab, box_for) -> None:
    csms, charger = simlab.csms, "f-ignores-authorization"
    csms.tokens["BAD-FAULT"] = "Invalid"
    box = box_for(charger)
    mark = csms.mark()
    plug(box, state="C")
    box.write("RFID:PRES BAD-FAULT")
    wait_started(csms, charger, since=mark)
    wait_charging(csms, charger, since=mark)
    assert float(box.query("MEAS:CURR?")) == 16.0


@pytest.mark.parametrize("tag", VERSIONS)
def test_remote_start_waits_for_ev_and_remote_stop_ends(simlab: SimLab, box_for, tag: str
                                                        ) -> None:
    csms, charger = simlab.csms, f"remote-{tag}"
    box = box_for(charger)
    mark = csms.mark()
    assert remote_start(csms, charger, "REM-1") == "Accepted"
    if tag == "16":
        wait_for_status(csms, charger, "Preparing", since=mark)
    plug(box, state="C")
    tx_id, start = wait_started(csms, charger, since=mark)
    wait_charging(csms, charger, since=mark)
    if tag == "16":
        assert start.payload["idTag"] == "REM-1"
    else:
        assert start.payload["transactionInfo"]["remoteStartId"] == 7
        assert start.payload["triggerReason"] == "CablePluggedIn"
        assert start.payload["idToken"] == {"idToken": "REM-1", "type": "Central"}
    assert remote_start(csms, charger, "REM-2") == "Rejected"  # one transaction per connector
    assert remote_stop(csms, charger, "999999" if tag == "16" else "no-such-tx") == "Rejected"
    assert remote_stop(csms, charger, tx_id) == "Accepted"
    ended = wait_ended(csms, charger, since=mark)
    assert stop_reason(ended) == "Remote"
    if tag == "16":
        wait_for_status(csms, charger, "Finishing", since=mark)
    else:
        assert ended.payload["triggerReason"] == "RemoteStop"

    # EV already plugged in: the transaction starts at once.
    mark = csms.mark()
    assert remote_start(csms, charger, "REM-3", remote_start_id=8) == "Accepted"
    tx_id, start = wait_started(csms, charger, since=mark)
    if tag != "16":
        assert start.payload["triggerReason"] == "RemoteStart"
        assert start.payload["transactionInfo"]["remoteStartId"] == 8
    box.write("CP:STAT A")
    ended = wait_ended(csms, charger, since=mark)
    assert stop_reason(ended) == "EVDisconnected"
    if tag != "16":
        assert ended.payload["triggerReason"] == "EVCommunicationLost"
    wait_for_status(csms, charger, "Available", since=mark)


@pytest.mark.parametrize("tag", VERSIONS)
def test_remote_start_expires_without_ev(simlab: SimLab, box_for, tag: str) -> None:
    csms, charger = simlab.csms, f"remote-{tag}"
    box = box_for(charger)
    assert set_config(csms, charger, "ConnectionTimeOut", "TxCtrlr", "EVConnectionTimeOut",
                      "5") == "Accepted"
    mark = csms.mark()
    assert remote_start(csms, charger, "LATE-1") == "Accepted"
    if tag == "16":
        wait_for_status(csms, charger, "Preparing", since=mark)
        wait_for_status(csms, charger, "Available", since=mark)
    else:
        quiet_for(csms, charger, [], mark, simlab.wall(25))  # well past the timeout
    plug(box, state="C")
    assert quiet_for(csms, charger, ["StartTransaction", "TransactionEvent"], mark,
                     simlab.wall(20)) == []
    set_config(csms, charger, "ConnectionTimeOut", "TxCtrlr", "EVConnectionTimeOut", "60")


def test_ignores_remote_stop_fault_keeps_charging(simlab: SimLab, box_for) -> None:
    csms, charger = simlab.csms, "f-ignores-remote-stop"
    box = box_for(charger)
    assert set_sample_interval(csms, charger, 5) == "Accepted"
    mark = csms.mark()
    plug(box, state="C")
    assert remote_start(csms, charger, "REM-F") == "Accepted"
    tx_id, _ = wait_started(csms, charger, since=mark)
    assert remote_stop(csms, charger, tx_id) == "Accepted"
    stop_mark = csms.mark()
    assert quiet_for(csms, charger, ["StopTransaction"], stop_mark, simlab.wall(20)) == []
    assert len(periodic_samples(csms, charger, stop_mark)) >= 2
    assert float(box.query("MEAS:CURR?")) == 16.0
    box.write("CP:STAT A")
    assert stop_reason(wait_ended(csms, charger, since=stop_mark)) == "EVDisconnected"


def _energy_series(frames: list) -> list[tuple[float, float, float, float]]:
    """(lab time, energy Wh, power W, current A) of periodic samples."""
    series = []
    for frame in frames:
        stamp = frame.payload["meterValue"][0]["timestamp"]
        series.append((parse_iso_utc(stamp), sampled(frame.payload, ENERGY),
                       sampled(frame.payload, "Power.Active.Import"),
                       sampled(frame.payload, "Current.Import")))
    return series


@pytest.mark.parametrize(("tag", "ev", "power_w", "current_a"), [
    ("16", "ev-3ph", 230 * 16 * 3, 16.0),
    ("201", "ev-3ph", 230 * 16 * 3, 16.0),
    ("21", "ev-1ph", 230 * 32 * 1, 32.0),
])
def test_meter_values_monotonic_and_consistent_with_power(simlab: SimLab, box_for, tag: str,
                                                          ev: str, power_w: float,
                                                          current_a: float) -> None:
    csms, charger = simlab.csms, f"meter-{tag}"
    box = box_for(charger)
    assert set_sample_interval(csms, charger, 5) == "Accepted"
    mark = csms.mark()
    plug(box, ev=ev, state="C")
    assert remote_start(csms, charger, "MTR-1") == "Accepted"
    _tx, start = wait_started(csms, charger, since=mark)
    wait_periodic(csms, charger, mark, count=4)
    box.write("CP:STAT A")
    ended = wait_ended(csms, charger, since=mark)

    series = _energy_series(periodic_samples(csms, charger, mark))
    assert len(series) >= 4
    assert all(p == pytest.approx(power_w) and c == current_a for _t, _e, p, c in series)
    if tag == "16":
        start_t, start_wh = parse_iso_utc(start.payload["timestamp"]), start.payload["meterStart"]
        end_t, end_wh = parse_iso_utc(ended.payload["timestamp"]), ended.payload["meterStop"]
    else:
        start_t, start_wh = parse_iso_utc(start.payload["timestamp"]), sampled(start.payload, ENERGY)
        end_t, end_wh = parse_iso_utc(ended.payload["timestamp"]), sampled(ended.payload, ENERGY)
    readings = [(start_t, start_wh)] + [(t, e) for t, e, _p, _c in series] + [(end_t, end_wh)]
    for index, ((t0, e0), (t1, e1)) in enumerate(pairwise(readings)):
        assert e1 >= e0, f"register went backwards: {readings}"
        expected = power_w * (t1 - t0) / 3600.0
        if index == 0:  # the contactor closes about 1 s after the start
            closing_wh = power_w * 1.0 / 3600.0
            assert e1 - e0 == pytest.approx(expected - closing_wh, rel=0.05, abs=1.5), readings
        else:
            assert e1 - e0 == pytest.approx(expected, rel=0.05, abs=1.5), readings
    assert series[1][0] - series[0][0] == pytest.approx(5.0, abs=2.5)  # not the default 10


def test_meter_goes_backwards_fault(simlab: SimLab, box_for) -> None:
    csms, charger = simlab.csms, "f-meter-goes-backwards"
    box = box_for(charger)
    assert set_sample_interval(csms, charger, 5) == "Accepted"
    mark = csms.mark()
    plug(box, state="C")
    assert remote_start(csms, charger, "MTR-F") == "Accepted"
    wait_periodic(csms, charger, mark, count=3)
    energy = [e for _t, e, _p, _c in _energy_series(periodic_samples(csms, charger, mark))]
    assert energy[1] > energy[0]
    assert energy[2] < energy[1] - 400


@pytest.mark.parametrize("tag", VERSIONS)
def test_two_evses_have_their_own_boxes_and_transactions(simlab: SimLab, box_for, tag: str
                                                         ) -> None:
    csms, charger = simlab.csms, f"multi-{tag}"
    csms.wait(charger, "StatusNotification", count=2 + (tag == "16"))
    box1 = box_for(charger)
    box2 = Scpi(simlab.ports[f"{charger}-e2"])
    try:
        mark = csms.mark()
        plug(box2, state="C")
        frame = wait_for_status(csms, charger, occupied(tag), since=mark)
        assert (frame.payload["connectorId"] if tag == "16" else frame.payload["evseId"]) == 2
        assert remote_start(csms, charger, "MULTI-1", evse_id=None) == "Accepted"
        _tx, start = wait_started(csms, charger, since=mark)
        if tag == "16":
            assert start.payload["connectorId"] == 2
        else:
            assert start.payload["evse"] == {"id": 2, "connectorId": 1}
        assert box2.query("CP:STAT?") == "C2" and box1.query("CP:STAT?") == "A1"
        box2.write("CP:STAT A")
        wait_ended(csms, charger, since=mark)
    finally:
        box2.write("*RST")
        box2.close()


def occupied(tag: str) -> str:
    return "Preparing" if tag == "16" else "Occupied"
