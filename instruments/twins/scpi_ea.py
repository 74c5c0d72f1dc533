"""Twin of an Elektro-Automatik PSB 10000 / PSI 9000 DC source(-sink), SCPI front.

Drives a :class:`~instruments.twins.ports.DCPort`. Setting commands are refused
(``-203,"Command protected"``) until ``SYST:LOCK ON`` takes remote control, as on the unit.

Command set served (long or short form, case insensitive; numbers may carry their unit):

    SYSTem:LOCK ON|OFF, SYSTem:LOCK:OWNer? (REMOTE|NONE)
    [SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude] <V> (?  -> "24.00 V")
    [SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude] <A> (?  -> "5.00 A")
    [SOURce:]POWer[:LEVel][:IMMediate][:AMPLitude] <W> (?  -> "120.00 W")
    SINK:CURRent[...] <A> (?), SINK:POWer[...] <W> (?)                   (PSB only)
    [SOURce:]RESistance[:LEVel][:IMMediate][:AMPLitude] <ohm> (?)        (verify)
    OUTPut[:STATe] ON|OFF|1|0 (? -> ON|OFF)
    MEASure[:SCALar]:ARRay?   -> "24.00 V, 5.00 A, 120.00 W" (current and power negative
                                 while sinking) (verify sign)
    MEASure[:SCALar]:VOLTage? :CURRent? :POWer?   -> value with unit
    SYSTem:ERRor[:NEXT]?, SYSTem:ERRor:ALL?
"""

from __future__ import annotations

from instruments.twins.ports import DCPort
from instruments.twins.scpi_server import Call, ScpiError, ScpiTwin

_LEVEL = "[:LEVel][:IMMediate][:AMPLitude]"


class EaPsbTwin(ScpiTwin):
    """A PSB 10000 (bidirectional) or PSI 9000 (``sink=False``) unit driving ``dc``."""

    def __init__(self, dc: DCPort, *, model: str = "PSB 10080-120", serial: str = "2100000001",
                 firmware: str = "V3.02", nominal_voltage_v: float = 80.0,
                 nominal_current_a: float = 120.0, nominal_power_w: float = 3000.0,
                 max_resistance_ohm: float = 20.0, sink: bool = True) -> None:
        super().__init__(f"EA Elektro-Automatik,{model},{serial},{firmware}",
                         error_queries=("SYSTem:ERRor[:NEXT]?",))
        self.dc = dc
        self.nominal_voltage_v = nominal_voltage_v
        self.nominal_current_a = nominal_current_a
        self.nominal_power_w = nominal_power_w
        self.max_resistance_ohm = max_resistance_ohm
        self.reset()
        c = self.command
        c("SYSTem:LOCK", self._set_lock, 1)
        c("SYSTem:LOCK:OWNer?", lambda _c: "REMOTE" if self.remote else "NONE")
        c("SYSTem:ERRor:ALL?", lambda _c: self.pop_all_errors())
        self._setting(f"[SOURce:]VOLTage{_LEVEL}", "voltage_v", nominal_voltage_v, "V")
        self._setting(f"[SOURce:]CURRent{_LEVEL}", "source_current_a", nominal_current_a, "A")
        self._setting(f"[SOURce:]POWer{_LEVEL}", "source_power_w", nominal_power_w, "W")
        self._setting(f"[SOURce:]RESistance{_LEVEL}", "resistance_ohm", max_resistance_ohm,
                      "OHM")
        if sink:
            self._setting(f"SINK:CURRent{_LEVEL}", "sink_current_a", nominal_current_a, "A")
            self._setting(f"SINK:POWer{_LEVEL}", "sink_power_w", nominal_power_w, "W")
        c("OUTPut[:STATe]", self._set_output, 1)
        c("OUTPut[:STATe]?", lambda _c: "ON" if self.output_on else "OFF")
        c("MEASure[:SCALar]:ARRay?", self._measure_array)
        c("MEASure[:SCALar]:VOLTage[:DC]?", lambda _c: f"{self.dc.measure()[0]:.2f} V")
        c("MEASure[:SCALar]:CURRent[:DC]?", lambda _c: f"{self.dc.measure()[1]:.2f} A")
        c("MEASure[:SCALar]:POWer[:DC]?", lambda _c: f"{self.dc.measure()[2]:.2f} W")

    def reset(self) -> None:
        self.remote = False
        self.dc.set_output(False)
        self.voltage_v = 0.0
        self.source_current_a = self.nominal_current_a
        self.source_power_w = self.nominal_power_w
        self.sink_current_a = self.nominal_current_a
        self.sink_power_w = self.nominal_power_w
        self.resistance_ohm = 0.0

    @property
    def output_on(self) -> bool:
        """Whether the DC output is energised (what a safe-state test asserts)."""
        return self.dc.output_on()

    def _require_remote(self) -> None:
        if not self.remote:
            raise ScpiError(-203, "Command protected (remote control not active: SYST:LOCK ON)")

    def _set_lock(self, call: Call) -> None:
        self.remote = call.boolean()

    def _setting(self, pattern: str, attribute: str, high: float, unit: str) -> None:
        units = {unit: 1.0, "M" + unit: 1e-3, "K" + unit: 1e3}

        def set_value(call: Call) -> None:
            self._require_remote()
            setattr(self, attribute, call.number(0, 0.0, high, units=units))
            self._push(attribute)

        def get_value(_call: Call) -> str:
            shown = "Ohm" if unit == "OHM" else unit
            return f"{getattr(self, attribute):.2f} {shown}"

        self.command(pattern, set_value, 1)
        self.command(pattern + "?", get_value)

    def _push(self, attribute: str) -> None:
        if attribute == "voltage_v":
            self.dc.set_voltage_v(self.voltage_v)
        elif attribute in ("source_current_a", "sink_current_a"):
            self.dc.set_current_limits_a(self.source_current_a, self.sink_current_a)
        elif attribute in ("source_power_w", "sink_power_w"):
            self.dc.set_power_limits_w(self.source_power_w, self.sink_power_w)
        elif attribute == "resistance_ohm":
            setter = getattr(self.dc, "set_internal_resistance_ohm", None)
            if setter is not None:
                setter(self.resistance_ohm)

    def _set_output(self, call: Call) -> None:
        on = call.boolean()
        self._require_remote()
        self.dc.set_output(on)

    def _measure_array(self, _call: Call) -> str:
        v, i, p = self.dc.measure()
        return f"{v:.2f} V, {i:.2f} A, {p:.2f} W"
