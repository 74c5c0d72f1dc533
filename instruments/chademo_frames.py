"""CHAdeMO CAN frames (standard 11-bit ids, 8 bytes, multi-byte fields little-endian).

Layouts after the public descriptions of CHAdeMO 1.x (IEEE 2030.1.1) used by open charge
controllers; every field below is (verify) against the protocol version in use:

    0x100 EV -> charger   b0 minimum charge current A, b2-3 minimum battery voltage V,
                          b4-5 maximum battery voltage V, b6 charged-rate reference (100 %)
    0x101 EV -> charger   b1 maximum charging time (10 s units, 0xFF: use b2), b2 maximum
                          charging time (min), b3 estimated charging time (min), b5-6 battery
                          capacity (0.1 kWh)
    0x102 EV -> charger   b0 protocol number, b1-2 target battery voltage V, b3 charging
                          current request A, b4 fault flags, b5 status flags, b6 charged
                          rate (SoC) %
    0x108 charger -> EV   b0 welding detection supported, b1-2 available output voltage V,
                          b3 available output current A, b4-5 threshold voltage V
    0x109 charger -> EV   b0 protocol number, b1-2 present output voltage V, b3 present
                          charging current A, b5 status flags, b6 remaining time (10 s
                          units), b7 remaining time (min)

Status flags of 0x102 (EV): bit0 charging enabled, bit1 shift lever not in park, bit2
charging-system fault, bit3 vehicle contactor open, bit4 normal stop request.
Status flags of 0x109 (charger): bit0 charger energising, bit1 charger malfunction,
bit2 connector locked, bit3 battery incompatible, bit4 charging-system malfunction,
bit5 charger stop control (stopping / not ready).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

EV_LIMITS, EV_TIMES, EV_REQUEST = 0x100, 0x101, 0x102
CHARGER_LIMITS, CHARGER_STATUS = 0x108, 0x109
EV_FRAMES = (EV_LIMITS, EV_TIMES, EV_REQUEST)
CHARGER_FRAMES = (CHARGER_LIMITS, CHARGER_STATUS)

EV_CHARGING_ENABLED, EV_NOT_PARKED, EV_SYSTEM_FAULT = 0x01, 0x02, 0x04
EV_CONTACTOR_OPEN, EV_STOP_REQUEST = 0x08, 0x10

CHARGER_ENERGISING, CHARGER_MALFUNCTION, CHARGER_LOCKED = 0x01, 0x02, 0x04
CHARGER_INCOMPATIBLE, CHARGER_SYSTEM_MALFUNCTION, CHARGER_STOPPING = 0x08, 0x10, 0x20


class FrameError(ValueError):
    """A CHAdeMO frame of the wrong length or with values out of range."""


@dataclass(frozen=True)
class EvLimits:
    """0x100: the vehicle's battery limits."""

    min_current_a: int
    min_battery_v: int
    max_battery_v: int
    charged_rate_ref_pct: int = 100


@dataclass(frozen=True)
class EvTimes:
    """0x101: time limits and battery capacity."""

    max_charging_time_min: int
    estimated_time_min: int
    capacity_kwh: float


@dataclass(frozen=True)
class EvRequest:
    """0x102: the vehicle's request and state."""

    protocol: int
    target_v: int
    current_request_a: int
    fault_flags: int
    status_flags: int
    soc_pct: int

    @property
    def charging_enabled(self) -> bool:
        return bool(self.status_flags & EV_CHARGING_ENABLED)

    @property
    def stop_requested(self) -> bool:
        return bool(self.status_flags & EV_STOP_REQUEST)


@dataclass(frozen=True)
class ChargerLimits:
    """0x108: what the charger can deliver."""

    welding_detection: bool
    available_v: int
    available_current_a: int
    threshold_v: int


@dataclass(frozen=True)
class ChargerStatus:
    """0x109: what the charger delivers now and its state."""

    protocol: int
    present_v: int
    present_current_a: int
    status_flags: int
    remaining_min: int

    @property
    def energising(self) -> bool:
        return bool(self.status_flags & CHARGER_ENERGISING)

    @property
    def locked(self) -> bool:
        return bool(self.status_flags & CHARGER_LOCKED)

    @property
    def incompatible(self) -> bool:
        return bool(self.status_flags & CHARGER_INCOMPATIBLE)

    @property
    def malfunction(self) -> bool:
        return bool(self.status_flags & (CHARGER_MALFUNCTION | CHARGER_SYSTEM_MALFUNCTION))


def _byte(name: str, value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise FrameError(f"{name} = {value} does not fit one byte (0-255)")
    return value


def _word(name: str, value: int) -> int:
    if not 0 <= value <= 0xFFFF:
        raise FrameError(f"{name} = {value} does not fit two bytes (0-65535)")
    return value


def _check(ident: int, data: bytes) -> None:
    if len(data) != 8:
        raise FrameError(f"frame 0x{ident:03X} has {len(data)} bytes, CHAdeMO frames have 8")


def encode_ev_limits(limits: EvLimits) -> bytes:
    """0x100 payload."""
    return struct.pack("<BxHHBx", _byte("min_current_a", limits.min_current_a),
                       _word("min_battery_v", limits.min_battery_v),
                       _word("max_battery_v", limits.max_battery_v),
                       _byte("charged_rate_ref_pct", limits.charged_rate_ref_pct))


def decode_ev_limits(data: bytes) -> EvLimits:
    _check(EV_LIMITS, data)
    min_a, min_v, max_v, ref = struct.unpack("<BxHHBx", data)
    return EvLimits(min_a, min_v, max_v, ref)


def encode_ev_times(times: EvTimes) -> bytes:
    """0x101 payload (the 10 s field is 0xFF: the minutes field counts)."""
    return struct.pack("<xBBBxHx", 0xFF, _byte("max_charging_time_min",
                                              times.max_charging_time_min),
                       _byte("estimated_time_min", times.estimated_time_min),
                       _word("capacity", round(times.capacity_kwh * 10)))


def decode_ev_times(data: bytes) -> EvTimes:
    _check(EV_TIMES, data)
    ten_s, minutes, estimated, capacity = struct.unpack("<xBBBxHx", data)
    total_min = minutes if ten_s == 0xFF else round(ten_s * 10 / 60)
    return EvTimes(total_min, estimated, capacity / 10)


def encode_ev_request(request: EvRequest) -> bytes:
    """0x102 payload."""
    return struct.pack("<BHBBBBx", _byte("protocol", request.protocol),
                       _word("target_v", request.target_v),
                       _byte("current_request_a", request.current_request_a),
                       _byte("fault_flags", request.fault_flags),
                       _byte("status_flags", request.status_flags),
                       _byte("soc_pct", request.soc_pct))


def decode_ev_request(data: bytes) -> EvRequest:
    _check(EV_REQUEST, data)
    return EvRequest(*struct.unpack("<BHBBBBx", data))


def encode_charger_limits(limits: ChargerLimits) -> bytes:
    """0x108 payload."""
    return struct.pack("<BHBHxx", 1 if limits.welding_detection else 0,
                       _word("available_v", limits.available_v),
                       _byte("available_current_a", limits.available_current_a),
                       _word("threshold_v", limits.threshold_v))


def decode_charger_limits(data: bytes) -> ChargerLimits:
    _check(CHARGER_LIMITS, data)
    welding, volts, amps, threshold = struct.unpack("<BHBHxx", data)
    if welding > 1:
        raise FrameError(f"0x108 welding-detection byte is {welding}, expected 0 or 1")
    return ChargerLimits(bool(welding), volts, amps, threshold)


def encode_charger_status(status: ChargerStatus) -> bytes:
    """0x109 payload (remaining time in minutes; the 10 s field is 0xFF)."""
    return struct.pack("<BHBxBBB", _byte("protocol", status.protocol),
                       _word("present_v", status.present_v),
                       _byte("present_current_a", status.present_current_a),
                       _byte("status_flags", status.status_flags), 0xFF,
                       _byte("remaining_min", status.remaining_min))


def decode_charger_status(data: bytes) -> ChargerStatus:
    _check(CHARGER_STATUS, data)
    protocol, volts, amps, flags, _ten_s, minutes = struct.unpack("<BHBxBBB", data)
    if flags & 0xC0:
        raise FrameError(f"0x109 status flags 0x{flags:02X} set reserved bits 6-7")
    return ChargerStatus(protocol, volts, amps, flags, minutes)
