"""The outcome of one check on measured data: passed or not, and why, in a lab engineer's words.

Every response check returns a :class:`Judgement` rather than a bool, so a verdict always
carries the measured value, the allowed band, the margin and a sentence that explains them
(for the report's "measured vs required" table and for the failure message).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from testbench.errors import DeviceFailure


def fmt(value: float, unit: str = "", digits: int = 4) -> str:
    """A number as a lab engineer reads it: ``digits`` significant digits, then the unit."""
    if math.isnan(value):
        text = "n/a"
    elif math.isinf(value):
        text = "inf" if value > 0 else "-inf"
    else:
        text = f"{value:.{digits}g}"
        if "e" in text and 1e-4 <= abs(value) < 1e9:  # readable: 1.235e+04 -> 12346
            decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
            text = f"{value:.{decimals}f}"
    return f"{text} {unit}" if unit else text


def band_text(low: float, high: float, unit: str = "") -> str:
    """``low..high unit``, ``<= high``, ``>= low`` or ``any`` for an allowed band."""
    if math.isinf(low) and math.isinf(high):
        return "any value"
    if math.isinf(low):
        return f"<= {fmt(high, unit)}"
    if math.isinf(high):
        return f">= {fmt(low, unit)}"
    return f"{fmt(low)}..{fmt(high, unit)}"


def margin_to(measured: float, low: float, high: float) -> float:
    """Distance from ``measured`` to the nearest edge of ``[low, high]``: > 0 inside, < 0 out."""
    if math.isnan(measured):
        return -math.inf
    return min(measured - low, high - measured)


@dataclass(frozen=True)
class Judgement:
    """One verdict on measured data.

    ``measured`` is the quantity the check judged (a worst deviation, a value at a time, a
    fitted droop ...) in ``unit``; ``required`` the allowed band ``(low, high)`` of that
    quantity (an open side is +-inf); ``margin`` the distance to the nearest edge of the
    band, positive when inside. ``explanation`` says all of it in one or two sentences.
    ``details`` holds further figures (sample counts, fitted values) for reports.
    """

    passed: bool
    measured: float
    required: tuple[float, float]
    margin: float
    explanation: str
    check: str = ""
    unit: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.check}: {self.explanation}"

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"

    def require(self) -> Judgement:
        """Raise :class:`~testbench.errors.DeviceFailure` with the explanation unless passed."""
        if not self.passed:
            raise DeviceFailure(f"{self.check}: {self.explanation}")
        return self

    def as_row(self) -> dict[str, Any]:
        """A flat row for a "measured vs required" summary table."""
        low, high = self.required
        return {
            "check": self.check,
            "verdict": self.verdict,
            "measured": self.measured,
            "required": band_text(low, high, self.unit),
            "margin": self.margin,
            "unit": self.unit,
            "explanation": self.explanation,
        }


def judge_value(measured: float, low: float = -math.inf, high: float = math.inf, *,
                what: str = "value", unit: str = "", check: str = "judge_value",
                details: Mapping[str, Any] | None = None) -> Judgement:
    """Judge one measured number against an allowed band ``[low, high]`` (open sides +-inf).

    >>> judge_value(0.12, high=0.2, what="trip time", unit="s").explanation
    'trip time 0.12 s; required <= 0.2 s (margin 0.08 s)'
    """
    if low > high:
        raise ValueError(f"{check}: allowed band {low}..{high} is empty (low > high)")
    margin = margin_to(measured, low, high)
    passed = not math.isnan(measured) and low <= measured <= high
    text = (f"{what} {fmt(measured, unit)}; required {band_text(low, high, unit)} "
            f"(margin {fmt(margin, unit)})")
    return Judgement(passed, measured, (low, high), margin, text, check, unit,
                     dict(details or {}))


__all__ = ["Judgement", "band_text", "fmt", "judge_value", "margin_to"]
