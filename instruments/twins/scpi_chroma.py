"""Twin of a Chroma 61800 / 61845 regenerative grid simulator.

Drives a :class:`~instruments.twins.ports.GridPort`. The output is energised only when both
the output relay and the output state are on (``OUTP:REL ON`` then ``OUTP:STAT ON``).

Command set served (long or short form, case insensitive; phase = INST:NSEL when
INST:COUP NONE, all phases when ALL):

    [SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC <V> (0..voltage_max_v) (?)
    [SOURce:]FREQuency[:IMMediate] <Hz> (15..1000) (?)
    [SOURce:]CURRent:LIMit[:RMS] <A> (0..current_max_a) (?)
    [SOURce:]PHASe:P<n> <deg> (n = 2..phases; angle of phase n to phase 1) (verify)
    OUTPut:SLEW:VOLTage:AC <V/ms>, OUTPut:SLEW:FREQuency <Hz/ms>
    OUTPut:RELay ON|OFF (?), OUTPut[:STATe] ON|OFF (?), OUTPut:MODE FIXed|LIST (?)
    INSTrument:COUPle ALL|NONE (?), INSTrument:NSELect <n> (?)           (verify)
    FETCh|MEASure[:SCALar]:VOLTage:ACDC?  :CURRent:AC?  :POWer:AC[:REAL]?  :FREQuency?
    [SOURce:]LIST:COUNt <n>, LIST:BASE TIME|CYCLe, LIST:DWELl <ms>,...
    [SOURce:]LIST:VOLTage:AC:STARt|END <V>,...   LIST:FREQuency:STARt|END <Hz>,...
    TRIGger[:STATe] ON|OFF (?)    ON in LIST mode runs the list; OFF stops it
    SYSTem:ERRor?
"""

from __future__ import annotations

import asyncio

from instruments.twins.ports import GridPort
from instruments.twins.scpi_server import Call, ScpiError, ScpiTwin, nr3
from instruments.twins.scpi_timing import ListStep, play_steps

FREQ_MIN_HZ = 15.0
FREQ_MAX_HZ = 1000.0
RAMP_TICK_S = 0.02


class ChromaGridTwin(ScpiTwin):
    """A Chroma 61800-family grid simulator with ``phases`` outputs driving ``grid``."""

    def __init__(self, grid: GridPort, *, model: str = "61845", serial: str = "61845000001",
                 firmware: str = "1.20", phases: int = 3, voltage_max_v: float = 300.0,
                 current_max_a: float = 100.0) -> None:
        super().__init__(f"Chroma ATE,{model},{serial},{firmware}")
        self.grid = grid
        self.phases = phases
        self.voltage_max_v = voltage_max_v
        self.current_max_a = current_max_a
        self._list_task: asyncio.Task[None] | None = None
        self.reset()
        c = self.command
        c("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC", self._set_voltage, 1)
        c("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC?",
          lambda _c: nr3(self.voltage_v[self._selected_index()]))
        c("[SOURce:]FREQuency[:IMMediate]", self._set_frequency, 1)
        c("[SOURce:]FREQuency[:IMMediate]?", lambda _c: nr3(self.frequency_hz))
        c("[SOURce:]CURRent:LIMit[:RMS]", self._set_current_limit, 1)
        c("[SOURce:]CURRent:LIMit[:RMS]?", lambda _c: nr3(self.current_limit_a))
        c("[SOURce:]PHASe:P#", self._set_phase_angle, 1)
        c("OUTPut:SLEW:VOLTage:AC", self._set_voltage_slew, 1)
        c("OUTPut:SLEW:FREQuency", self._set_frequency_slew, 1)
        c("OUTPut:RELay", self._set_relay, 1)
        c("OUTPut:RELay?", lambda _c: "ON" if self.relay else "OFF")
        c("OUTPut[:STATe]", self._set_state, 1)
        c("OUTPut[:STATe]?", lambda _c: "ON" if self.state else "OFF")
        c("OUTPut:MODE", self._set_mode, 1)
        c("OUTPut:MODE?", lambda _c: self.mode)
        c("INSTrument:COUPle", self._set_couple, 1)
        c("INSTrument:COUPle?", lambda _c: self.couple)
        c("INSTrument:NSELect", self._set_nsel, 1)
        c("INSTrument:NSELect?", lambda _c: str(self.selected))
        for verb in ("FETCh", "MEASure"):
            c(f"{verb}[:SCALar]:VOLTage:ACDC?", lambda _c: nr3(self._phase_sample()[0]))
            c(f"{verb}[:SCALar]:CURRent:AC?", lambda _c: nr3(self._phase_sample()[1]))
            c(f"{verb}[:SCALar]:POWer:AC[:REAL]?", lambda _c: nr3(self._phase_sample()[2]))
            c(f"{verb}[:SCALar]:FREQuency?", lambda _c: nr3(self.grid.sample().frequency_hz))
        c("[SOURce:]LIST:COUNt", self._set_list_count, 1)
        c("[SOURce:]LIST:BASE", self._set_list_base, 1)
        c("[SOURce:]LIST:DWELl", self._list_setter("dwell_ms", 0.0, 1e8), (1, 100))
        c("[SOURce:]LIST:VOLTage:AC:STARt", self._list_setter("volt_start", 0.0, voltage_max_v),
          (1, 100))
        c("[SOURce:]LIST:VOLTage:AC:END", self._list_setter("volt_end", 0.0, voltage_max_v),
          (1, 100))
        c("[SOURce:]LIST:FREQuency:STARt", self._list_setter("freq_start", FREQ_MIN_HZ,
                                                             FREQ_MAX_HZ), (1, 100))
        c("[SOURce:]LIST:FREQuency:END", self._list_setter("freq_end", FREQ_MIN_HZ,
                                                           FREQ_MAX_HZ), (1, 100))
        c("TRIGger[:STATe]", self._trigger, 1)
        c("TRIGger[:STATe]?", lambda _c: "ON" if self.list_running else "OFF")

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self._cancel_list()
        self.relay = False
        self.state = False
        self.grid.set_output(False)
        self.mode = "FIXED"
        self.couple = "ALL"
        self.selected = 1
        self.voltage_v = [0.0] * self.phases
        self.frequency_hz = 50.0
        self.current_limit_a = self.current_max_a
        self.voltage_slew_v_per_ms: float | None = None
        self.frequency_slew_hz_per_ms: float | None = None
        self.lists: dict[str, list[float]] = {}
        self.list_count = 1
        self.list_base = "TIME"
        self.steps_run = 0

    @property
    def output_on(self) -> bool:
        """Whether the output is energised (what a safe-state test asserts)."""
        return self.grid.output_on()

    @property
    def list_running(self) -> bool:
        return self._list_task is not None and not self._list_task.done()

    def _selected_index(self) -> int:
        return self.selected - 1

    def _target_phase(self) -> int | None:
        return None if self.couple == "ALL" else self.selected

    def _phase_sample(self) -> tuple[float, float, float]:
        phases = self.grid.sample().phases
        if self.selected > len(phases):
            return (0.0, 0.0, 0.0)
        p = phases[self.selected - 1]
        return p.voltage_v, p.current_a, p.power_w

    # ------------------------------------------------------------------ handlers
    def _apply_voltage(self, voltage_v: float, phase: int | None) -> None:
        for n in range(self.phases):
            if phase is None or phase == n + 1:
                self.voltage_v[n] = voltage_v
        self.grid.set_voltage_v(voltage_v, phase)

    def _set_voltage(self, call: Call) -> None:
        self._apply_voltage(call.number(0, 0.0, self.voltage_max_v), self._target_phase())

    def _set_frequency(self, call: Call) -> None:
        self.frequency_hz = call.number(0, FREQ_MIN_HZ, FREQ_MAX_HZ)
        self.grid.set_frequency_hz(self.frequency_hz)

    def _set_current_limit(self, call: Call) -> None:
        self.current_limit_a = call.number(0, 0.0, self.current_max_a)
        self.grid.set_current_limit_a(self.current_limit_a)

    def _set_phase_angle(self, call: Call) -> None:
        if not 2 <= call.suffix <= self.phases:
            raise ScpiError(-113)
        self.grid.set_phase_angle_deg(call.suffix, call.number(0, -360.0, 360.0))

    def _set_voltage_slew(self, call: Call) -> None:
        self.voltage_slew_v_per_ms = call.number(0, 0.0, 1e6)
        self.grid.set_slew(self.voltage_slew_v_per_ms * 1000.0, None)

    def _set_frequency_slew(self, call: Call) -> None:
        self.frequency_slew_hz_per_ms = call.number(0, 0.0, 1e6)
        self.grid.set_slew(None, self.frequency_slew_hz_per_ms * 1000.0)

    def _energise(self) -> None:
        self.grid.set_output(self.relay and self.state)

    def _set_relay(self, call: Call) -> None:
        self.relay = call.boolean()
        self._energise()

    def _set_state(self, call: Call) -> None:
        self.state = call.boolean()
        self._energise()

    def _set_mode(self, call: Call) -> None:
        self.mode = call.choice(0, "FIXed", "LIST", "PULSe", "STEP")
        if self.mode == "FIXED":
            self._cancel_list()

    def _set_couple(self, call: Call) -> None:
        self.couple = call.choice(0, "ALL", "NONE")

    def _set_nsel(self, call: Call) -> None:
        self.selected = int(call.number(0, 1, self.phases))

    def _set_list_count(self, call: Call) -> None:
        self.list_count = int(call.number(0, 0, 65535))

    def _set_list_base(self, call: Call) -> None:
        self.list_base = call.choice(0, "TIME", "CYCLe")

    def _list_setter(self, key: str, low: float, high: float):
        def handler(call: Call) -> None:
            self.lists[key] = call.numbers(low, high)
        return handler

    # ------------------------------------------------------------------ list mode
    def _trigger(self, call: Call) -> None:
        if not call.boolean():
            self._cancel_list()
            return
        if self.mode != "LIST":
            raise ScpiError(-221, "Settings conflict (OUTP:MODE is not LIST)")
        keys = ("dwell_ms", "volt_start", "volt_end", "freq_start", "freq_end")
        lengths = {len(self.lists.get(k, [])) for k in keys}
        if len(lengths) != 1 or 0 in lengths:
            raise ScpiError(-221, "Settings conflict (list lengths differ or are empty)")
        self._cancel_list()
        self._list_task = self.spawn(self._run_list())

    def _cancel_list(self) -> None:
        if self._list_task is not None and not self._list_task.done():
            self._list_task.cancel()
        self._list_task = None

    async def _run_list(self) -> None:
        """Play the list on absolute deadlines (see :func:`~instruments.twins.scpi_timing.
        play_steps`): step n ends at trigger + the sum of the dwells before it, in lab time,
        however long the updates take; ramps are updated at most every ``RAMP_TICK_S`` lab s
        and never more often than ``MIN_TICK_WALL_S`` wall s."""
        lists = {k: list(v) for k, v in self.lists.items()}
        repeats = self.list_count if self.list_count > 0 else 1_000_000
        steps: list[ListStep] = []
        for n, dwell_ms in enumerate(lists["dwell_ms"]):
            f0 = lists["freq_start"][n]
            dwell_s = dwell_ms / 1000.0 if self.list_base == "TIME" else dwell_ms / f0
            steps.append(ListStep(dwell_s, lists["volt_start"][n], f0, lists["volt_end"][n],
                                  lists["freq_end"][n]))
        await play_steps(_repeat(steps, repeats),
                         self.time_scale, self._apply_point, self._step_done,
                         ramp_tick_s=RAMP_TICK_S)

    def _apply_point(self, voltage_v: float, frequency_hz: float) -> None:
        self._apply_voltage(voltage_v, None)
        self.frequency_hz = frequency_hz
        self.grid.set_frequency_hz(frequency_hz)

    def _step_done(self) -> None:
        self.steps_run += 1


def _repeat(steps: list[ListStep], repeats: int):
    for _ in range(repeats):
        yield from steps
