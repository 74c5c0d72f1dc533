"""Error types shared across the bench.

The split matters for verdicts: a *device failure* is the equipment under test doing
wrong (the test fails); a *bench error* is the bench, an instrument or the lab set-up
failing (the test errors, the device is not blamed).
"""

from __future__ import annotations


class TestbenchError(Exception):
    """Base class of every error the bench raises on purpose."""


class LabConfigError(TestbenchError):
    """lab.toml is malformed or inconsistent. Names file, table, key and the fix."""

    def __init__(self, path: str, table: str, key: str | None, problem: str, fix: str) -> None:
        self.path = path
        self.table = table
        self.key = key
        self.problem = problem
        self.fix = fix
        where = f"[{table}]" + (f" {key}" if key else "")
        super().__init__(f"{path}: {where}: {problem}. Fix: {fix}")


class BenchError(TestbenchError):
    """The bench itself failed (not the device under test): set-up, port, process, I/O."""


class InstrumentError(BenchError):
    """An instrument failed: timeout, garbage reply, error-queue entry, refused setpoint."""

    def __init__(self, instrument: str, command: str, reply: str | None, problem: str) -> None:
        self.instrument = instrument
        self.command = command
        self.reply = reply
        self.problem = problem
        shown = "no reply" if reply is None else f"reply {reply!r}"
        super().__init__(f"instrument {instrument!r}: command {command!r}: {shown}: {problem}")


class SafetyLimitError(InstrumentError):
    """A setpoint was refused before sending because it exceeds the station's limits."""

    def __init__(self, instrument: str, command: str, reply: str | None, problem: str) -> None:
        super().__init__(instrument, command, reply, problem)
        self.args = (f"instrument {instrument!r}: setpoint {command!r} not sent: {problem}",)

    def __str__(self) -> str:
        return str(self.args[0])


class DeviceFailure(AssertionError):
    """The device under test did not do what the check expected (a failed verdict)."""


class OperatorTimeout(BenchError):
    """An operator step (plug in, present card, ...) was not confirmed in time."""
