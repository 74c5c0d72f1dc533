"""Twin of a Keysight RP7900 regenerative DC power supply (RP7931A ... RP7953A).

Drives a :class:`~instruments.twins.ports.DCPort`.

Command set served (long or short form, case insensitive):

    OUTPut[:STATe] 0|1|ON|OFF (? -> 0|1)
    [SOURce:]FUNCtion VOLTage|CURRent (? -> VOLT|CURR)         priority mode
    [SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude] <V> (?)
    [SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude] <A> (?)   current-priority setpoint
    [SOURce:]CURRent:LIMit[:POSitive][:IMMediate][:AMPLitude] <A> (?)
    [SOURce:]CURRent:LIMit:NEGative[:IMMediate][:AMPLitude] <A <= 0> (?)       (verify)
    [SOURce:]POWer:LIMit[:POSitive][:IMMediate][:AMPLitude] <W> (?)            (verify)
    [SOURce:]POWer:LIMit:NEGative[:IMMediate][:AMPLitude] <W <= 0> (?)         (verify)
    [SOURce:]RESistance[:LEVel][:IMMediate][:AMPLitude] <ohm> (?),
    [SOURce:]RESistance:STATe 0|1                                              (verify)
    MEASure[:SCALar]:VOLTage[:DC]?  MEASure[:SCALar]:CURRent[:DC]?  MEASure[:SCALar]:POWer[:DC]?
    SYSTem:ERRor[:NEXT]?  (+0,"No error")
"""

from __future__ import annotations

from instruments.twins.ports import DCPort
from instruments.twins.scpi_server import Call, ScpiTwin

_TAIL = "[:IMMediate][:AMPLitude]"


def _nr3(value: float) -> str:
    return f"{value:+.6E}"


class KeysightRP7900Twin(ScpiTwin):
    """An RP7900-series supply driving ``dc``."""

    def __init__(self, dc: DCPort, *, model: str = "RP7931A", serial: str = "MY00000001",
                 firmware: str = "B.01.02.3000", rated_voltage_v: float = 160.0,
                 rated_current_a: float = 200.0, rated_power_w: float = 10000.0,
                 max_resistance_ohm: float = 1.0) -> None:
        super().__init__(f"Keysight Technologies,{model},{serial},{firmware}")
        self.dc = dc
        self.rated_voltage_v = rated_voltage_v
        self.rated_current_a = rated_current_a
        self.rated_power_w = rated_power_w
        self.max_resistance_ohm = max_resistance_ohm
        self.reset()
        c = self.command
        c("OUTPut[:STATe]", self._set_output, 1)
        c("OUTPut[:STATe]?", lambda _c: "1" if self.output_on else "0")
        c("[SOURce:]FUNCtion", self._set_function, 1)
        c("[SOURce:]FUNCtion?", lambda _c: self.function)
        self._setting(f"[SOURce:]VOLTage[:LEVel]{_TAIL}", "voltage_v", 0.0, rated_voltage_v)
        self._setting(f"[SOURce:]CURRent[:LEVel]{_TAIL}", "current_a",
                      -rated_current_a, rated_current_a)
        self._setting(f"[SOURce:]CURRent:LIMit[:POSitive]{_TAIL}", "current_limit_pos_a",
                      0.0, rated_current_a)
        self._setting(f"[SOURce:]CURRent:LIMit:NEGative{_TAIL}", "current_limit_neg_a",
                      -rated_current_a, 0.0)
        self._setting(f"[SOURce:]POWer:LIMit[:POSitive]{_TAIL}", "power_limit_pos_w",
                      0.0, rated_power_w)
        self._setting(f"[SOURce:]POWer:LIMit:NEGative{_TAIL}", "power_limit_neg_w",
                      -rated_power_w, 0.0)
        self._setting(f"[SOURce:]RESistance[:LEVel]{_TAIL}", "resistance_ohm",
                      0.0, max_resistance_ohm)
        c("[SOURce:]RESistance:STATe", self._set_resistance_state, 1)
        c("MEASure[:SCALar]:VOLTage[:DC]?", lambda _c: _nr3(self.dc.measure()[0]))
        c("MEASure[:SCALar]:CURRent[:DC]?", lambda _c: _nr3(self.dc.measure()[1]))
        c("MEASure[:SCALar]:POWer[:DC]?", lambda _c: _nr3(self.dc.measure()[2]))

    def reset(self) -> None:
        self.dc.set_output(False)
        self.function = "VOLT"
        self.voltage_v = 0.0
        self.current_a = 0.0
        self.current_limit_pos_a = self.rated_current_a
        self.current_limit_neg_a = -self.rated_current_a
        self.power_limit_pos_w = self.rated_power_w
        self.power_limit_neg_w = -self.rated_power_w
        self.resistance_ohm = 0.0
        self.resistance_on = False

    def format_error(self, code: int, text: str) -> str:
        return f'{code:+d},"{text}"'

    @property
    def output_on(self) -> bool:
        """Whether the output is energised (what a safe-state test asserts)."""
        return self.dc.output_on()

    def _setting(self, pattern: str, attribute: str, low: float, high: float) -> None:
        def set_value(call: Call) -> None:
            setattr(self, attribute, call.number(0, low, high))
            self._push(attribute)

        self.command(pattern, set_value, 1)
        self.command(pattern + "?", lambda _c: _nr3(getattr(self, attribute)))

    def _push(self, attribute: str) -> None:
        if attribute == "voltage_v":
            self.dc.set_voltage_v(self.voltage_v)
        elif attribute.startswith("current_limit"):
            self.dc.set_current_limits_a(self.current_limit_pos_a, -self.current_limit_neg_a)
        elif attribute.startswith("power_limit"):
            self.dc.set_power_limits_w(self.power_limit_pos_w, -self.power_limit_neg_w)
        elif attribute == "resistance_ohm":
            self._push_resistance()

    def _push_resistance(self) -> None:
        setter = getattr(self.dc, "set_internal_resistance_ohm", None)
        if setter is not None:
            setter(self.resistance_ohm if self.resistance_on else 0.0)

    def _set_resistance_state(self, call: Call) -> None:
        self.resistance_on = call.boolean()
        self._push_resistance()

    def _set_function(self, call: Call) -> None:
        self.function = "VOLT" if call.choice(0, "VOLTage", "CURRent") == "VOLTAGE" else "CURR"

    def _set_output(self, call: Call) -> None:
        self.dc.set_output(call.boolean())
