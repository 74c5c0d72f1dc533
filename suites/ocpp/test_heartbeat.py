"""Heartbeat: the charger keeps the interval the central system configures."""

from __future__ import annotations

import pytest

from testbench.procedures import ocpp

INTERVAL_S = 5
BEATS = 4
TOLERANCE_S = max(1.0, 0.2 * INTERVAL_S)


@pytest.mark.testcase(v16=None, v201="TC_B_06_CS", v21="TC_B_06_CS")  # (verify) 2.x id
def test_heartbeat_interval_honoured(charger, lab):
    """Heartbeats arrive at the configured interval (within max(1 s, 20 %))."""
    status = ocpp.set_heartbeat_interval(charger, INTERVAL_S)
    assert status == "Accepted", f"charger answered {status} to a heartbeat interval of {INTERVAL_S} s"
    try:
        charger.mark()
        charger.expect("Heartbeat", INTERVAL_S * 3)  # the first beat may still follow the old schedule
        beats = [charger.expect("Heartbeat", INTERVAL_S * 3) for _ in range(BEATS - 1)]
        intervals = [b.lab_s - a.lab_s for a, b in zip(beats, beats[1:])]
        for measured in intervals:
            assert abs(measured - INTERVAL_S) <= TOLERANCE_S, (
                f"heartbeats {measured:.1f} s apart, configured {INTERVAL_S} s "
                f"(tolerance {TOLERANCE_S:.1f} s); all intervals: "
                + ", ".join(f"{i:.1f}" for i in intervals))
    finally:
        ocpp.set_heartbeat_interval(charger, lab.csms.heartbeat_interval_s)
