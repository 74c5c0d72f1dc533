"""The lab model: parse and validate lab.toml, and describe stations and pairings."""

from testbench.lab.model import (
    ChargerSpec,
    CsmsSettings,
    EVSpec,
    InstrumentSpec,
    Lab,
    LabSettings,
    Pairing,
    SafetyLimits,
    StationSpec,
)

__all__ = [
    "ChargerSpec",
    "CsmsSettings",
    "EVSpec",
    "InstrumentSpec",
    "Lab",
    "LabSettings",
    "Pairing",
    "SafetyLimits",
    "StationSpec",
]
