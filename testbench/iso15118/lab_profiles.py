"""EV emulator settings for a lab's EV: what the EV of the inventory announces over ISO 15118.

The bench's EV emulator plays the EV of the pairing: its protocols (best first), energy
transfer mode (phases, AC/DC), current and power limits, energy request (from its battery
size and initial state of charge) and departure time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from testbench.iso15118.resources import ordered, package_protocol
from testbench.iso15118.runner import EvccSettings, EVParams
from testbench.lab.model import EVSpec

NOMINAL_VOLTAGE_V = 230.0
"""Phase voltage used to turn the EV's current limits into -20 power limits."""

DEFAULT_DEPARTURE_S = 7200
DEFAULT_TARGET_SOC_PCT = 80.0


def energy_request_wh(ev: EVSpec, target_soc_pct: float = DEFAULT_TARGET_SOC_PCT) -> float:
    """Energy the EV asks for: from its initial to the target state of charge (>= 1 kWh)."""
    initial = float(getattr(ev, "initial_soc_pct", 40.0) or 0.0)
    return max(1000.0, round(ev.battery_kwh * 1000.0 * max(0.0, target_soc_pct - initial) / 100.0))


def evcc_settings_for(ev: EVSpec, current_type: str, *, protocols: list[str] | None = None,
                      bidirectional: bool = False, departure_time_s: int = DEFAULT_DEPARTURE_S,
                      **changes: Any) -> EvccSettings:
    """The EV emulator playing ``ev`` at an AC or DC charger.

    ``protocols``: lab names to offer (default: all the EV supports), best first.
    ``bidirectional``: ask for the -20 BPT service (the EV must be bidirectional).
    ``changes`` replace EvccSettings fields (``ev=`` is merged into the EV parameters).
    """
    dc = current_type.upper() == "DC"
    names = ordered(protocols if protocols is not None else list(ev.iso15118))
    offered = tuple(package_protocol(p, current_type) for p in names
                    if not (p == "DIN" and not dc))
    phases = int(ev.phases or 3)
    max_power_w = ev.max_current_a * NOMINAL_VOLTAGE_V * phases
    min_power_w = ev.min_current_a * NOMINAL_VOLTAGE_V * phases
    bpt = bidirectional and ev.bidirectional
    params = EVParams(
        ac_max_current_a=None if dc else ev.max_current_a,
        ac_min_current_a=None if dc else ev.min_current_a,
        energy_request_wh=energy_request_wh(ev), departure_time_s=departure_time_s,
        max_charge_power_w=max_power_w, min_charge_power_w=min_power_w,
        energy_capacity_wh=ev.battery_kwh * 1000.0,
        max_discharge_power_w=max_power_w if bpt else None,
        min_discharge_power_w=min_power_w if bpt else None,
    )
    extra_ev = changes.pop("ev", None)
    if extra_ev is not None:
        params = replace(params, **{k: v for k, v in vars(extra_ev).items()
                                    if v not in (None, False)})
    service = ("DC" if dc else "AC") + ("_BPT" if bpt else "")
    mode = "DC_extended" if dc else ("AC_three_phase_core" if phases == 3
                                     else "AC_single_phase_core")
    settings = EvccSettings(protocols=offered, energy_services=(service,),
                            energy_transfer_mode=mode, ev=params)
    return replace(settings, **changes)
