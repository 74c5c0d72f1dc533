"""Frequency-responsive V2G of a simulated OCPP 2.1 bidirectional charger (FCR-like).

A charging-profile period with ``operationMode = LocalFrequency`` carries a frequency-watt
curve (``v2xFreqWattCurve``: points of frequency in Hz and power in W, + charging,
- discharging) and optionally ``v2xBaseline`` (W, added to the curve). While such a period
leads the connector's session (the transaction's TxProfile, else the EVSE's TxDefaultProfile,
else a station-wide one; highest stack level), the charger measures the frequency at its
supply and drives its power to ``baseline + curve(f)``, within its rating and the EV's limits,
moving at most at the rate that reaches the curve's full deviation in ``ACTIVATION_S``. The
result replaces the profile's limit on the power stage (:meth:`PowerStage.set_setpoint_a`);
a local energy manager's cap still applies. Outside such a period the stage follows the
limit again.

The service is ticked with the plant (every ``plant.TICK_S`` lab seconds).

Fault personalities: ``slow-frequency-response`` (full activation after
``SLOW_ACTIVATION_S``: three times the 30 s allowed), ``no-frequency-response`` (the curve
is evaluated at the nominal frequency whatever the supply does).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from testbench.sim.grid_node import NOMINAL_FREQUENCY_HZ

log = logging.getLogger("testbench.sim")

MODE = "LocalFrequency"
ACTIVATION_S = 6.0
"""Lab seconds a conformant charger takes from its baseline to the curve's full deviation."""

SLOW_ACTIVATION_S = 90.0
"""Fault slow-frequency-response: three times the 30 s full-activation time of FCR."""

NOTICE_A = 0.02
"""Smallest setpoint change passed to the power stage."""

SLOW = "slow-frequency-response"
NONE = "no-frequency-response"


class FrequencyService:
    """LocalFrequency of one connector of a 2.1 charger."""

    def __init__(self, sim: Any, conn: Any) -> None:
        self.sim = sim
        self.conn = conn
        self.stage = conn.stage
        self.output_w: float | None = None
        self.target_w: float | None = None
        self._last_s: float | None = None

    # ------------------------------------------------------------------ the period
    def period(self, t: float) -> dict[str, Any] | None:
        """The raw LocalFrequency period leading the session at ``t`` (None: none)."""
        from testbench.sim.smart import smart_of

        conn = self.conn
        tx = conn.tx
        tx_start = tx.started_lab_s if tx is not None else None
        profiles = smart_of(self.sim).profiles
        groups = [[p for p in profiles if p.purpose == "tx" and tx is not None
                   and p.tx_key is tx and p.target == conn.evse_id],
                  [p for p in profiles if p.purpose == "default" and p.target == conn.evse_id],
                  [p for p in profiles if p.purpose == "default" and p.target == 0]]
        for group in groups:
            best = None
            for p in group:
                try:
                    active = p.period_at(t, tx_start) is not None
                except Exception:  # noqa: BLE001 - a profile without limits
                    active = False
                if active and (best is None or p.stack >= best.stack):
                    best = p
            if best is None:
                continue
            start = best.anchor(t, tx_start)
            schedule = best.raw.get("charging_schedule") or []
            schedule = schedule[0] if isinstance(schedule, list) and schedule else schedule
            periods = sorted(schedule.get("charging_schedule_period", []) if schedule else [],
                             key=lambda p: float(p["start_period"]))
            found = None
            for p in periods:
                if start is not None and float(p["start_period"]) <= t - start:
                    found = p
            if found is not None and found.get("operation_mode") == MODE \
                    and found.get("v2x_freq_watt_curve"):
                return dict(found)
            return None
        return None

    # ------------------------------------------------------------------ the response
    def tick(self) -> None:
        """Follow the curve (called by the plant)."""
        if self.sim.spec.ocpp_version != "2.1":
            return
        now = self.sim.clock.now()
        dt = 0.0 if self._last_s is None else max(0.0, now - self._last_s)
        self._last_s = now
        period = self.period(now) if self.conn.tx is not None else None
        if period is None:
            if self.output_w is not None:
                self.output_w = self.target_w = None
                self.stage.set_setpoint_a(None)
            return
        curve = sorted((float(p["frequency"]), float(p["power"]))
                       for p in period["v2x_freq_watt_curve"])
        freqs = [c[0] for c in curve]
        powers = [c[1] for c in curve]
        baseline = float(period.get("v2x_baseline") or 0.0)
        frequency = (NOMINAL_FREQUENCY_HZ if self.sim.has(NONE)
                     else self.stage.node.frequency_hz)
        rated = float(self.sim.spec.max_power_w)
        target = max(-rated, min(rated, baseline + float(np.interp(frequency, freqs, powers))))
        if self.output_w is None:  # activated: start from the curve at the present frequency
            self.output_w = target
        else:
            at_nominal = baseline + float(np.interp(NOMINAL_FREQUENCY_HZ, freqs, powers))
            deviation = max(abs(p + baseline - at_nominal) for p in powers) or 1.0
            activation = SLOW_ACTIVATION_S if self.sim.has(SLOW) else ACTIVATION_S
            step = deviation * dt / activation
            self.output_w += max(-step, min(step, target - self.output_w))
        self.target_w = target
        self._apply(self.output_w)

    def _apply(self, power_w: float) -> None:
        ev = self.conn.ev
        phases = min(int(ev.phases), int(self.sim.spec.phases)) if ev is not None \
            else int(self.sim.spec.phases)
        voltage = self.stage.node.phase_voltage_v(0) or self.stage.node.nominal_voltage_v
        setpoint = power_w / (voltage * max(1, phases))
        old = self.stage.setpoint_a
        if old is None or abs(setpoint - old) >= NOTICE_A:
            self.stage.set_setpoint_a(setpoint)


def attach(sim: Any) -> None:
    """Give every connector of a bidirectional 2.1 charger its frequency service."""
    if sim.spec.ocpp_version != "2.1" or not sim.spec.bidirectional:
        return
    for conn in sim.connectors:
        conn.stage.service = FrequencyService(sim, conn)
