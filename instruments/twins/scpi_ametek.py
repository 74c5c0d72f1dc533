"""Twin of an Ametek / California Instruments RS, MX or CSW AC source.

Drives a :class:`~instruments.twins.ports.GridPort`.

Command set served (long or short form, case insensitive; phase = INST:NSEL when
INST:COUP NONE, all phases when ALL):

    [SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude][:AC] <V> (0..voltage_max_v) (?)
    [SOURce:]FREQuency[:IMMediate] <Hz> (16..819) (?)
    [SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude] <A> (current limit) (?)
    [SOURce:]PHASe[:IMMediate] <deg> (selected phase)                     (verify)
    [SOURce:]VOLTage:SLEW[:IMMediate] <V/s>, [SOURce:]FREQuency:SLEW[:IMMediate] <Hz/s>
    [SOURce:]VOLTage:MODE FIXed|LIST, [SOURce:]FREQuency:MODE FIXed|LIST  (verify)
    INSTrument:COUPle ALL|NONE (?), INSTrument:NSELect <n> (?)
    OUTPut[:STATe] ON|OFF|1|0 (?)
    MEASure[:SCALar]:VOLTage[:AC]?  :CURRent[:AC]?  :POWer[:AC][:REAL]?  :FREQuency?
    [SOURce:]LIST:DWELl <s>,...  LIST:VOLTage <V>,...  LIST:FREQuency <Hz>,...
    [SOURce:]LIST:COUNt <n>
    INITiate[:IMMediate] (arm), TRIGger[:IMMediate] and *TRG (run when armed), ABORt
    SYSTem:ERRor[:NEXT]?
"""

from __future__ import annotations

import asyncio

from instruments.twins.ports import GridPort
from instruments.twins.scpi_server import Call, ScpiError, ScpiTwin, nr3
from instruments.twins.scpi_timing import ListStep, play_steps

FREQ_MIN_HZ = 16.0
FREQ_MAX_HZ = 819.0


class AmetekRsTwin(ScpiTwin):
    """A California Instruments RS/MX/CSW source with ``phases`` outputs driving ``grid``."""

    def __init__(self, grid: GridPort, *, model: str = "RS90-3Pi", serial: str = "HK00001",
                 firmware: str = "2.41", phases: int = 3, voltage_max_v: float = 300.0,
                 current_max_a: float = 100.0) -> None:
        super().__init__(f"AMETEK Programmable Power,{model},{serial},{firmware}")
        self.grid = grid
        self.phases = phases
        self.voltage_max_v = voltage_max_v
        self.current_max_a = current_max_a
        self._list_task: asyncio.Task[None] | None = None
        self.reset()
        c = self.command
        c("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude][:AC]", self._set_voltage, 1)
        c("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude][:AC]?",
          lambda _c: nr3(self.voltage_v[self.selected - 1]))
        c("[SOURce:]FREQuency[:IMMediate]", self._set_frequency, 1)
        c("[SOURce:]FREQuency[:IMMediate]?", lambda _c: nr3(self.frequency_hz))
        c("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]", self._set_current, 1)
        c("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]?",
          lambda _c: nr3(self.current_limit_a))
        c("[SOURce:]PHASe[:IMMediate]", self._set_phase, 1)
        c("[SOURce:]VOLTage:SLEW[:IMMediate]", self._set_voltage_slew, 1)
        c("[SOURce:]FREQuency:SLEW[:IMMediate]", self._set_frequency_slew, 1)
        c("[SOURce:]VOLTage:MODE", self._mode_setter("voltage"), 1)
        c("[SOURce:]FREQuency:MODE", self._mode_setter("frequency"), 1)
        c("INSTrument:COUPle", self._set_couple, 1)
        c("INSTrument:COUPle?", lambda _c: self.couple)
        c("INSTrument:NSELect", self._set_nsel, 1)
        c("INSTrument:NSELect?", lambda _c: str(self.selected))
        c("OUTPut[:STATe]", self._set_output, 1)
        c("OUTPut[:STATe]?", lambda _c: "1" if self.output_on else "0")
        c("MEASure[:SCALar]:VOLTage[:AC]?", lambda _c: nr3(self._phase_sample()[0]))
        c("MEASure[:SCALar]:CURRent[:AC]?", lambda _c: nr3(self._phase_sample()[1]))
        c("MEASure[:SCALar]:POWer[:AC][:REAL]?", lambda _c: nr3(self._phase_sample()[2]))
        c("MEASure[:SCALar]:FREQuency?", lambda _c: nr3(self.grid.sample().frequency_hz))
        c("[SOURce:]LIST:DWELl", self._list_setter("dwell_s", 0.0, 1e6), (1, 100))
        c("[SOURce:]LIST:VOLTage", self._list_setter("voltage_v", 0.0, voltage_max_v), (1, 100))
        c("[SOURce:]LIST:FREQuency", self._list_setter("frequency_hz", FREQ_MIN_HZ,
                                                       FREQ_MAX_HZ), (1, 100))
        c("[SOURce:]LIST:COUNt", self._set_list_count, 1)
        c("INITiate[:IMMediate]", self._initiate)
        c("TRIGger[:IMMediate]", self._trigger)
        c("*TRG", self._trigger)
        c("ABORt", lambda _c: self._abort())

    def reset(self) -> None:
        self._abort()
        self.grid.set_output(False)
        self.couple = "ALL"
        self.selected = 1
        self.voltage_v = [0.0] * self.phases
        self.frequency_hz = 60.0
        self.current_limit_a = self.current_max_a
        self.modes = {"voltage": "FIXED", "frequency": "FIXED"}
        self.lists: dict[str, list[float]] = {}
        self.list_count = 1
        self.armed = False
        self.steps_run = 0

    @property
    def output_on(self) -> bool:
        """Whether the output is energised (what a safe-state test asserts)."""
        return self.grid.output_on()

    @property
    def list_running(self) -> bool:
        return self._list_task is not None and not self._list_task.done()

    def _target_phase(self) -> int | None:
        return None if self.couple == "ALL" else self.selected

    def _phase_sample(self) -> tuple[float, float, float]:
        phases = self.grid.sample().phases
        if self.selected > len(phases):
            return (0.0, 0.0, 0.0)
        p = phases[self.selected - 1]
        return p.voltage_v, p.current_a, p.power_w

    def _apply_voltage(self, voltage_v: float, phase: int | None) -> None:
        for n in range(self.phases):
            if phase is None or phase == n + 1:
                self.voltage_v[n] = voltage_v
        self.grid.set_voltage_v(voltage_v, phase)

    # ------------------------------------------------------------------ handlers
    def _set_voltage(self, call: Call) -> None:
        self._apply_voltage(call.number(0, 0.0, self.voltage_max_v), self._target_phase())

    def _set_frequency(self, call: Call) -> None:
        self.frequency_hz = call.number(0, FREQ_MIN_HZ, FREQ_MAX_HZ)
        self.grid.set_frequency_hz(self.frequency_hz)

    def _set_current(self, call: Call) -> None:
        self.current_limit_a = call.number(0, 0.0, self.current_max_a)
        self.grid.set_current_limit_a(self.current_limit_a)

    def _set_phase(self, call: Call) -> None:
        if self.couple == "ALL" or self.selected == 1:
            raise ScpiError(-221, "Settings conflict (select phase 2 or 3 with INST:COUP NONE)")
        self.grid.set_phase_angle_deg(self.selected, call.number(0, -360.0, 360.0))

    def _set_voltage_slew(self, call: Call) -> None:
        self.grid.set_slew(call.number(0, 0.0, 1e7), None)

    def _set_frequency_slew(self, call: Call) -> None:
        self.grid.set_slew(None, call.number(0, 0.0, 1e7))

    def _mode_setter(self, key: str):
        def handler(call: Call) -> None:
            self.modes[key] = call.choice(0, "FIXed", "STEP", "PULSe", "LIST")
        return handler

    def _set_couple(self, call: Call) -> None:
        self.couple = call.choice(0, "ALL", "NONE")

    def _set_nsel(self, call: Call) -> None:
        self.selected = int(call.number(0, 1, self.phases))

    def _set_output(self, call: Call) -> None:
        on = call.boolean()
        if not on:
            self._abort()
        self.grid.set_output(on)

    def _list_setter(self, key: str, low: float, high: float):
        def handler(call: Call) -> None:
            self.lists[key] = call.numbers(low, high)
        return handler

    def _set_list_count(self, call: Call) -> None:
        self.list_count = int(call.number(0, 1, 65535))

    # ------------------------------------------------------------------ transient system
    def _initiate(self, _call: Call) -> None:
        keys = ("dwell_s", "voltage_v", "frequency_hz")
        lengths = {len(self.lists.get(k, [])) for k in keys}
        if self.modes["voltage"] != "LIST" and self.modes["frequency"] != "LIST":
            raise ScpiError(-221, "Settings conflict (no VOLT:MODE or FREQ:MODE LIST)")
        if len(lengths) != 1 or 0 in lengths:
            raise ScpiError(-221, "Settings conflict (list lengths differ or are empty)")
        self.armed = True

    def _trigger(self, _call: Call) -> None:
        if not self.armed:
            raise ScpiError(-211, "Trigger ignored")
        self.armed = False
        if self._list_task is not None and not self._list_task.done():
            self._list_task.cancel()
        self._list_task = self.spawn(self._run_list())

    def _abort(self) -> None:
        self.armed = False
        if self._list_task is not None and not self._list_task.done():
            self._list_task.cancel()
        self._list_task = None

    async def _run_list(self) -> None:
        """Play the list on absolute deadlines (see :mod:`instruments.twins.scpi_timing`)."""
        lists = {k: list(v) for k, v in self.lists.items()}
        voltage = self.modes["voltage"] == "LIST"
        frequency = self.modes["frequency"] == "LIST"
        steps = [ListStep(dwell_s, v, f, v, f) for dwell_s, v, f in
                 zip(lists["dwell_s"], lists["voltage_v"], lists["frequency_hz"], strict=True)]

        def apply(voltage_v: float, frequency_hz: float) -> None:
            if voltage:
                self._apply_voltage(voltage_v, None)
            if frequency:
                self.frequency_hz = frequency_hz
                self.grid.set_frequency_hz(frequency_hz)

        def done() -> None:
            self.steps_run += 1

        await play_steps((s for _ in range(self.list_count) for s in steps), self.time_scale,
                         apply, done)
