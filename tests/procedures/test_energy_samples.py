"""``ocpp.energy_samples`` times each reading by the charger's sample timestamp, so a
reading queued during an outage and replayed late keeps the time it was taken."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from testbench.clock import iso_utc
from testbench.procedures import ocpp

T0 = 1_800_000_000.0


@dataclass
class Msg:
    payload: dict[str, Any]
    lab_s: float


def _mv(at_s: float | None, wh: float, w: float) -> dict[str, Any]:
    values = [{"value": wh, "measurand": "Energy.Active.Import.Register"},
              {"value": w, "measurand": "Power.Active.Import"}]
    return {"sampledValue": values} if at_s is None else {"timestamp": iso_utc(at_s),
                                                          "sampledValue": values}


class FakeCharger16:
    version = "1.6"
    id = "cp"

    def __init__(self, msgs: list[Msg]) -> None:
        self.msgs = msgs

    def messages(self, action: str | None = None, since_mark: bool = True) -> list[Any]:
        return self.msgs if action == "MeterValues" else []


def test_replayed_readings_keep_their_sample_time() -> None:
    # sampled every 10 s; the last two arrive together 30 s late (replayed after an outage)
    msgs = [Msg({"meterValue": [_mv(T0, 0.0, 3600.0)]}, T0 + 0.2),
            Msg({"meterValue": [_mv(T0 + 10, 10.0, 3600.0)]}, T0 + 10.2),
            Msg({"meterValue": [_mv(T0 + 20, 20.0, 3600.0)]}, T0 + 50.0),
            Msg({"meterValue": [_mv(T0 + 30, 30.0, 3600.0)]}, T0 + 50.1)]
    samples = ocpp.energy_samples(FakeCharger16(msgs))
    assert [s.lab_s - T0 for s in samples] == pytest.approx([0.0, 10.0, 20.0, 30.0], abs=1e-3)
    integrated_wh = sum((a.power_w + b.power_w) / 2 * (b.lab_s - a.lab_s) / 3600
                        for a, b in zip(samples, samples[1:]))
    assert integrated_wh == pytest.approx(30.0, abs=0.01)  # = the register's growth


def test_without_a_timestamp_the_arrival_time_counts() -> None:
    msgs = [Msg({"meterValue": [_mv(None, 5.0, 0.0)]}, T0 + 3.0),
            Msg({"meterValue": [{"timestamp": "not a time", **_mv(None, 6.0, 0.0)}]}, T0 + 4.0)]
    assert [s.lab_s for s in ocpp.energy_samples(FakeCharger16(msgs))] == [T0 + 3.0, T0 + 4.0]
