"""Driver for the open serial CP-state EV simulator (a resistor box on the control pilot).

Writing one character ``A``, ``B``, ``C`` or ``D`` selects the EV-side CP resistor
(A = open, unplugged). About once a second the simulator prints a JSON status line. The
fields this driver reads (verify against the firmware in use):

    {"state": "B", "ev": "B", "duty": 53.3, "cp_high_v": 8.9, "cp_low_v": -11.9,
     "fw": "1.2"}

* ``state``     CP state measured on the line: A..F (required)
* ``duty``      PWM duty cycle in percent, 100 without PWM (required)
* ``cp_high_v`` / ``cp_low_v``  top and bottom CP voltage (optional)
* ``ev``        the resistor the simulator has selected (optional; used to confirm a
                command, else ``state`` is used)
* ``fw`` / ``device`` / ``serial``  firmware, model and serial number (optional, identify)

Options: ``baudrate`` (default 115200), ``status_max_age_s`` (a status line older than
this is not trusted, default 2.5 s). The simulator does not measure current:
``current_a()`` returns NaN.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

from instruments.contracts import EVEmulator, Identity
from instruments.registry import register_driver
from instruments.transports.serial_line import SerialLine
from testbench.errors import InstrumentError
from testbench.lab.model import InstrumentSpec, SafetyLimits

EV_STATES = ("A", "B", "C", "D")
LINE_STATES = "ABCDEF"


def parse_status(line: bytes) -> dict[str, Any] | None:
    """The status fields of one line, or None if it is not a valid status line."""
    try:
        status = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    state, duty = status.get("state"), status.get("duty")
    if not (isinstance(state, str) and len(state) == 1 and state in LINE_STATES):
        return None
    if isinstance(duty, bool) or not isinstance(duty, (int, float)) or not 0 <= duty <= 100:
        return None
    return status


@register_driver("cp-serial")
class SerialCpSimulator(EVEmulator):
    """EV emulator on the serial CP-state simulator (CP resistor box)."""

    def __init__(self, spec: InstrumentSpec, limits: SafetyLimits, *,
                 handle: Any | None = None) -> None:
        self.name = spec.name
        self.limits = limits
        self.resource = spec.resource
        self.timeout_s = spec.timeout_s
        self.ev_id: str | None = None
        options = dict(spec.options)
        self.status_max_age_s = float(options.get("status_max_age_s", 2.5))  # type: ignore[arg-type]
        self._line = SerialLine(spec.name, spec.resource, timeout_s=spec.timeout_s,
                                baudrate=int(options.get("baudrate", 115200)),  # type: ignore[call-overload]
                                handle=handle)
        self._cond = threading.Condition()
        self._seq = 0  # lines received so far (good or bad)
        self._status: dict[str, Any] | None = None
        self._status_seq = 0
        self._status_t = 0.0
        self._bad_line: bytes | None = None
        self._bad_seq = 0
        self._error: InstrumentError | None = None
        self._running = True
        self._thread = threading.Thread(target=self._read_lines, name=f"cp-serial-{spec.name}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ reader thread
    def _read_lines(self) -> None:
        while self._running:
            try:
                line = self._line.read_line(0.2, "read status line")
            except InstrumentError as exc:
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            if line is None or not line.strip():
                continue
            status = parse_status(line)
            with self._cond:
                self._seq += 1
                if status is None:
                    self._bad_line, self._bad_seq = line, self._seq
                else:
                    self._status, self._status_seq, self._status_t = status, self._seq, time.monotonic()
                self._cond.notify_all()

    def _wait_status(self, command: str, after_seq: int, wanted: str | None = None
                     ) -> dict[str, Any]:
        """The first good status line after ``after_seq`` (confirming ``wanted`` if given)."""
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            while True:
                if self._error is not None:
                    raise InstrumentError(self.name, command, None, self._error.problem)
                if self._bad_seq > after_seq and self._bad_seq > self._status_seq:
                    raise InstrumentError(self.name, command, repr(self._bad_line[:80]),
                                          "not a status line (expected JSON with state and "
                                          "duty; garbage on the line or wrong baud rate)")
                status = self._status
                if status is not None and self._status_seq > after_seq and (
                        wanted is None or (status.get("ev") or status["state"]) == wanted):
                    return status
                left = deadline - time.monotonic()
                if left <= 0:
                    shown = None if status is None else json.dumps(status)
                    problem = (f"no status line within {self.timeout_s:g} s" if wanted is None
                               else f"state {wanted} not confirmed by a status line within "
                                    f"{self.timeout_s:g} s")
                    raise InstrumentError(self.name, command, shown, problem)
                self._cond.wait(min(left, 0.2))

    def status(self, command: str = "read status line") -> dict[str, Any]:
        """The latest status line if it is recent enough, else the next one."""
        with self._cond:
            if self._error is None and self._status is not None \
                    and self._status_seq >= self._bad_seq \
                    and time.monotonic() - self._status_t <= self.status_max_age_s:
                return self._status
            after = self._seq
        return self._wait_status(command, after)

    # ------------------------------------------------------------------ contract
    def identify(self) -> Identity:
        status = self.status("identify (status line)")
        return Identity(str(status.get("maker", "open hardware")),
                        str(status.get("device", "serial CP-state EV simulator")),
                        str(status.get("serial", self.resource)),
                        str(status.get("fw", "unknown")))

    def select_ev(self, ev_id: str) -> None:
        """Record which EV profile the operator wired (the box has no EV profiles)."""
        self.ev_id = ev_id

    def set_cp_state(self, state: str) -> None:
        """Select the CP resistor and wait for a status line confirming it."""
        if state not in EV_STATES:
            raise InstrumentError(self.name, repr(state), None,
                                  "the serial CP simulator selects only A, B, C or D "
                                  "(no CP short / E); nothing sent")
        with self._cond:
            after = self._seq
        self._line.write(state.encode("ascii"), repr(state))
        self._wait_status(repr(state), after, wanted=state)

    def cp_state(self) -> str:
        status = self.status()
        letter = status["state"]
        if letter in EV_STATES:
            pwm = 0 < float(status["duty"]) < 100
            return letter + ("2" if pwm else "1")
        return letter

    def duty_cycle_pct(self) -> float:
        return float(self.status()["duty"])

    def cp_voltages_v(self) -> tuple[float, float]:
        """(top, bottom) CP voltage from the latest status line (NaN if not reported)."""
        status = self.status()
        return (float(status.get("cp_high_v", math.nan)), float(status.get("cp_low_v", math.nan)))

    def current_a(self) -> float:
        """Not measured by this simulator: always NaN."""
        return math.nan

    def safe_state(self) -> None:
        """Unplug: select resistor A (open) and confirm it."""
        self.set_cp_state("A")

    def close(self) -> None:
        self._running = False
        self._thread.join(1.0)
        self._line.close()
