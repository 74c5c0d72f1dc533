"""Turn pytest's phase reports into one verdict per test, telling device from bench faults."""

from __future__ import annotations

from dataclasses import dataclass

from testbench.errors import BenchError

MESSAGE_MAX = 400


@dataclass
class PhaseOutcome:
    """What happened in one phase (setup, call, teardown) of a test."""

    when: str
    outcome: str  # passed | failed | skipped
    device_fault: bool
    message: str
    bench_error: bool = False
    """The phase failed on a :class:`BenchError` (the bench's problem, worth a re-run)."""


def describe(exc: BaseException) -> tuple[bool, str]:
    """(is it the device's fault?, a short message) for an exception raised by a test."""
    device_fault = isinstance(exc, AssertionError) and not isinstance(exc, BenchError)
    text = str(exc).strip() or type(exc).__name__
    if not device_fault:
        text = f"{type(exc).__name__}: {text}"
    first = text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"
    return device_fault, first


def skip_reason(longrepr: object) -> str:
    """The reason of a skip report (pytest stores (path, line, 'Skipped: reason'))."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def combine(phases: list[PhaseOutcome]) -> tuple[str, str]:
    """One verdict (passed/failed/error/skipped) and its message from the phases."""
    for phase in phases:
        if phase.outcome == "skipped":
            return "skipped", phase.message
        if phase.outcome == "failed":
            if phase.when == "call" and phase.device_fault:
                return "failed", phase.message
            where = "" if phase.when == "call" else f"{phase.when}: "
            return "error", where + phase.message
    return "passed", ""
