"""ISO 15118 suite support: the pairing's EV played by the bench's EV emulator (``v2g_ev``).

A :class:`V2GPair` plugs the EV in (control pilot, through the station), lets the charger
authorise it (a card for external identification, or the EV's contract certificate for
Plug & Charge), runs the EV emulator's session against the charger's SECC, and attaches
the V2G message log (decoded, timestamped) to the report. Verdicts come from that log and
the OCPP messages the bench's central system received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import allure

from testbench.iso15118 import EvccSettings, SessionResult
from testbench.iso15118.lab_profiles import evcc_settings_for
from testbench.iso15118.resources import common_protocols, package_protocol
from testbench.procedures import ocpp

CARD = "LAB-V2G-0001"
WITHIN_S = 15.0
SESSION_TIMEOUT_WALL_S = 150.0


@dataclass
class V2GPair:
    """The pairing under test, driven over ISO 15118."""

    charger: Any
    station: Any
    clock: Any
    emulator: Any
    folder: Path
    runs: list[Any] = field(default_factory=list)

    @property
    def ev(self) -> Any:
        return self.station.ev

    @property
    def spec(self) -> Any:
        return self.station.charger

    @property
    def current_type(self) -> str:
        return str(self.spec.current_type)

    def common(self) -> list[str]:
        """Protocols (lab names) both support, best first."""
        return common_protocols(list(self.ev.iso15118), list(self.spec.iso15118),
                                self.current_type)

    def package_name(self, lab_name: str) -> str:
        return package_protocol(lab_name, self.current_type)

    def settings(self, **kwargs: Any) -> EvccSettings:
        """The EV emulator playing the pairing's EV (``protocols=``, ``bidirectional=``...)."""
        return evcc_settings_for(self.ev, self.current_type, **kwargs)

    def plug_in(self, card: bool = True) -> Any:
        """EV connected (state B); with ``card`` the charger is authorised by a card first
        (external identification), and the transaction start is awaited."""
        self.station.plug_in()
        if not card:
            return None
        self.station.present_card(CARD)
        return ocpp.expect_transaction_started(self.charger, WITHIN_S)

    def start(self, settings: EvccSettings) -> Any:
        """Start the EV emulator's session (returns the run; ``run.wait()`` for its end)."""
        n = len(self.runs) + 1
        run = self.emulator.start_session(settings, self.folder / f"session-{n}")
        self.runs.append(run)
        return run

    def run(self, settings: EvccSettings, *, card: bool = True) -> SessionResult:
        """Plug in, authorise (card), one complete session; its result (evidence attached)."""
        self.plug_in(card=card)
        return self.finish(self.start(settings))

    def finish(self, run: Any) -> SessionResult:
        result: SessionResult = run.wait(SESSION_TIMEOUT_WALL_S)
        attach(result)
        return result


def attach(result: SessionResult) -> None:
    """The V2G log and session summary in the report."""
    folder = Path(result.workdir or ".")
    for name, kind in (("v2g.txt", allure.attachment_type.TEXT),
                       ("session.json", allure.attachment_type.JSON),
                       ("v2g.jsonl", allure.attachment_type.TEXT)):
        path = folder / name
        if path.exists():
            allure.attach.file(str(path), name=f"{folder.name} {name}", attachment_type=kind)


def explain(result: SessionResult) -> str:
    """What to read when a session check fails."""
    summary = result.summary()
    keep = {k: summary[k] for k in ("protocol", "completed", "timed_out", "stop_reasons",
                                    "errors", "notes")}
    return f"{keep}\nV2G log: {Path(result.workdir or '.') / 'v2g.txt'}"
