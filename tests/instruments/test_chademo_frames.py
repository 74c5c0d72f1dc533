"""CHAdeMO frame codec against hand-computed payloads, and its refusals."""

from __future__ import annotations

import pytest

from instruments import chademo_frames as cf


def test_vehicle_request_bytes() -> None:
    # protocol 2, target 400 V = 0x0190 LE, 60 A, no faults, enabled, SoC 50 %
    request = cf.EvRequest(2, 400, 60, 0, cf.EV_CHARGING_ENABLED, 50)
    data = cf.encode_ev_request(request)
    assert data == bytes([0x02, 0x90, 0x01, 0x3C, 0x00, 0x01, 0x32, 0x00])
    assert cf.decode_ev_request(data) == request
    assert request.charging_enabled and not request.stop_requested


def test_vehicle_limits_and_times_bytes() -> None:
    limits = cf.EvLimits(0, 300, 410)
    assert cf.encode_ev_limits(limits) == bytes([0, 0, 0x2C, 0x01, 0x9A, 0x01, 100, 0])
    assert cf.decode_ev_limits(cf.encode_ev_limits(limits)) == limits
    times = cf.EvTimes(90, 60, 40.0)  # 400 x 0.1 kWh = 0x0190
    assert cf.encode_ev_times(times) == bytes([0, 0xFF, 90, 60, 0, 0x90, 0x01, 0])
    assert cf.decode_ev_times(cf.encode_ev_times(times)) == times


def test_charger_frames_bytes() -> None:
    assert cf.decode_charger_limits(bytes([1, 0xF4, 0x01, 125, 0xEA, 0x01, 0, 0])) == \
        cf.ChargerLimits(True, 500, 125, 490)
    status = cf.decode_charger_status(bytes([2, 0x90, 0x01, 40, 0, 0x05, 0xFF, 30]))
    assert (status.present_v, status.present_current_a, status.remaining_min) == (400, 40, 30)
    assert status.energising and status.locked and not status.incompatible
    assert cf.encode_charger_status(status) == bytes([2, 0x90, 0x01, 40, 0, 0x05, 0xFF, 30])


@pytest.mark.parametrize("data, problem", [
    (b"\x02\x90\x01", "has 3 bytes"),
    (bytes([2, 0, 0, 0, 0, 0xC1, 0, 0]), "reserved bits"),
])
def test_malformed_charger_status_is_refused(data: bytes, problem: str) -> None:
    with pytest.raises(cf.FrameError, match=problem):
        cf.decode_charger_status(data)


def test_values_that_do_not_fit_are_refused() -> None:
    with pytest.raises(cf.FrameError, match="current_request_a = 300"):
        cf.encode_ev_request(cf.EvRequest(2, 400, 300, 0, 0, 0))
    with pytest.raises(cf.FrameError, match="welding"):
        cf.decode_charger_limits(bytes([7, 0, 0, 0, 0, 0, 0, 0]))
