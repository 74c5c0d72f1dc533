"""Small helpers every SCPI driver family needs: setpoint formatting, *IDN? parsing,
command-table overrides from lab.toml, magnitude checks and best-effort safe-state steps."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from instruments.contracts import Identity
from testbench.errors import BenchError, InstrumentError


def format_setpoint(value: float) -> str:
    """A setpoint as sent: plain decimal, at most 6 decimals, no trailing zeros."""
    text = f"{value + 0.0:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def parse_identity(name: str, reply: str) -> Identity:
    """An ``*IDN?`` reply (maker,model,serial,firmware) or InstrumentError naming the reply."""
    parts = [p.strip() for p in reply.split(",")]
    if len(parts) < 4 or not parts[0] or not parts[1] or not reply.isprintable():
        raise InstrumentError(name, "*IDN?", reply, "expected maker,model,serial,firmware")
    return Identity(parts[0], parts[1], parts[2], ",".join(parts[3:]))


def command_table(name: str, defaults: dict[str, str], overrides: object) -> dict[str, str]:
    """The driver's command table with the lab's ``options.commands`` overrides applied."""
    table = dict(defaults)
    if overrides is None:
        return table
    if not isinstance(overrides, dict) or not all(isinstance(v, str) for v in overrides.values()):
        raise BenchError(f"instrument {name!r}: option commands must be a table of strings")
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise BenchError(f"instrument {name!r}: unknown command override(s) {unknown}; "
                         f"known: {sorted(defaults)}")
    table.update(overrides)
    return table


def require_non_negative(name: str, command: str, value: float) -> None:
    """Refuse (before sending) a negative magnitude for a limit or setpoint."""
    if not value >= 0:
        raise InstrumentError(name, command, None,
                              f"refused before sending: {value:g} must be >= 0 (limits and "
                              "setpoints are magnitudes; direction comes from source/sink)")


def run_all(steps: Sequence[Callable[[], None]]) -> None:
    """Run every step even if one fails (safe state), then raise the first failure."""
    first: Exception | None = None
    for step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - keep going: the rest may still make it safe
            first = first or exc
    if first is not None:
        raise first
