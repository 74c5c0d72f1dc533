"""Meter values during a transaction: a monotonic register consistent with the power."""

from __future__ import annotations

import pytest

from testbench.procedures import ocpp

TOKEN = "LAB-METER-1"
SAMPLE_INTERVAL_S = 5
SAMPLES = 4
WITHIN_S = 10.0
ENERGY_TOLERANCE = 0.15  # the register vs integrated reported power, relative


@pytest.mark.testcase(v16=None, v201="TC_J_02_CS", v21="TC_J_02_CS")
def test_meter_values_during_transaction(charger, station):
    """The energy register never goes backwards and grows as the reported power says."""
    ocpp.set_meter_interval(charger, SAMPLE_INTERVAL_S)
    station.plug_in()
    station.request_energy()
    assert ocpp.remote_start(charger, TOKEN) == "Accepted", "charger rejected the remote start"
    started = ocpp.expect_transaction_started(charger, WITHIN_S)
    ocpp.expect_meter_samples(charger, SAMPLES, SAMPLE_INTERVAL_S * 3)
    station.unplug()  # ends the transaction without relying on remote stop (tested elsewhere)
    ended = ocpp.expect_transaction_ended(charger, WITHIN_S)

    samples = ocpp.energy_samples(charger)
    assert len(samples) >= SAMPLES, f"only {len(samples)} energy readings in meter values"
    readings = ([started.meter_start_wh] if started.meter_start_wh is not None else []) + [
        s.energy_wh for s in samples]
    end_wh = ocpp.transaction_end_energy_wh(charger, ended)
    if end_wh is not None:
        readings.append(end_wh)
    for before, after in zip(readings, readings[1:]):
        assert after >= before, (
            f"energy register went backwards from {before:.0f} Wh to {after:.0f} Wh")

    powered = [(a, b) for a, b in zip(samples, samples[1:]) if a.power_w and b.power_w]
    if powered:
        reported = sum(b.energy_wh - a.energy_wh for a, b in powered)
        integrated = sum((a.power_w + b.power_w) / 2 * (b.lab_s - a.lab_s) / 3600 for a, b in powered)
        assert integrated > 0, "charger reports no power while charging"
        assert abs(reported - integrated) <= ENERGY_TOLERANCE * integrated + 1.0, (
            f"register grew {reported:.1f} Wh while the reported power integrates to "
            f"{integrated:.1f} Wh (tolerance {ENERGY_TOLERANCE:.0%})")
