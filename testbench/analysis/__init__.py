"""Measurement: acquire instruments into timestamped series, judge them, keep the evidence.

>>> rec = record(analyzer, seconds=15, rate_hz=10, clock=clock)
>>> rec.current_a.max(), rec.power_w.integrate_wh()
>>> save_evidence(rec, folder, "ac-session", plot=True)
"""

from testbench.analysis.acquisition import (
    PHASE_CHANNELS,
    TOTAL_CHANNELS,
    BackgroundAcquisition,
    build_recording,
    partial_recording,
    record,
)
from testbench.analysis.evidence import allure_active, evidence_stem, save_evidence
from testbench.analysis.plots import DEFAULT_CHANNELS, Limit, plot_recording
from testbench.analysis.series import NoDataError, Recording, Series, uniform_grid

__all__ = [
    "DEFAULT_CHANNELS",
    "PHASE_CHANNELS",
    "TOTAL_CHANNELS",
    "BackgroundAcquisition",
    "Limit",
    "NoDataError",
    "Recording",
    "Series",
    "allure_active",
    "build_recording",
    "evidence_stem",
    "partial_recording",
    "plot_recording",
    "record",
    "save_evidence",
    "uniform_grid",
]
