"""The ISO 15118 side of a simulated charger: an SECC that works for the charger, as in a real one.

A charger whose lab entry lists ISO 15118 protocols gets, for each ``iso15118-evcc``
instrument bound to it (the EV emulator's link), the ``iso15118`` package's SECC on a named
V2G link (:func:`testbench.iso15118.create_link`): the EV emulator runs in
``<tag>-evcc``, the SECC in ``<tag>-secc``. The SECC's controller does not decide alone; it
asks the charger over a bridge (JSON lines on a Unix socket, which crosses network
namespaces), and the charger does what a real one does with its OCPP side:

* ``authorize``: Plug & Charge (eMAID and the contract certificate's OCSP hash data) ->
  OCPP ``Authorize`` with ``iso15118CertificateHashData``; Accepted starts the transaction.
  External identification (card, remote start): Accepted once the connector has an
  authorised transaction, else Ongoing (the EV keeps asking).
* ``charging_needs``: the EV's charge parameters -> ``NotifyEVChargingNeeds`` (2.0.1 / 2.1;
  2.1 adds the V2X limits of a bidirectional session).
* ``schedule``: the composite of the operator's charging profiles for the EVSE, in W, from
  now to the EV's departure (-2 ``SAScheduleList`` / -20 ``ScheduleExchangeRes``); a
  bidirectional charger offers its rated discharge power as the discharging schedule.
* ``status`` (every charge-loop response): the EV's state of charge for the meter values,
  and whether the operator's profiles changed since the schedule was given (then the SECC
  asks the EV to renegotiate).

Charger fault personalities (``testbench.lab.faults.ISO15118_FAULTS``):
``wrong-ev-charging-needs`` reports 1.5 x the EV's maximum current / power and 1.25 x its
energy request; ``session-timeout-not-enforced`` never ends a stalled session (the
conformant SECC ends it after V2G_SECC_Sequence_Timeout, 60 lab s);
``schedule-ignores-profiles`` offers its rating instead of the operator's limits;
``no-schedule-renegotiation`` keeps the old schedule when the operator sends a new profile;
``pnc-authorizes-locally`` accepts a contract certificate without asking the operator;
``exceeds-discharge-limit`` offers 1.5 x the negotiated maximum discharge power;
``no-soc-in-meter-values`` never reports the EV's state of charge to the operator.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testbench.clock import iso_utc
from testbench.errors import BenchError
from testbench.iso15118 import (
    ChargerParams,
    Faults,
    SeccSettings,
    V2GLink,
    V2GProcess,
    create_link,
    find_install,
    make_pki,
    start_secc,
)
from testbench.iso15118.resources import link_tag_of, pki_dir_for, secc_protocols

if TYPE_CHECKING:
    from testbench.sim.charger import SimCharger
    from testbench.sim.station import Connector

log = logging.getLogger("testbench.sim")

V2G_EV = ("iso15118-evcc",)
"""EV-side ISO 15118 drivers: the simulated lab hosts an SECC on their link."""

SEQUENCE_TIMEOUT_LAB_S = 60.0
"""V2G_SECC_Sequence_Timeout (lab seconds; the SECC's wall timeout follows the time scale)."""

NOT_ENFORCED_TIMEOUT_S = 24 * 3600.0
"""Fault session-timeout-not-enforced: the SECC waits this long (wall s) for a request."""

WRONG_NEEDS_CURRENT_FACTOR = 1.5
WRONG_NEEDS_ENERGY_FACTOR = 1.25
"""Fault wrong-ev-charging-needs: reported maximum current/power and energy factors."""

ANSWER_TIMEOUT_S = 8.0
"""Wall seconds the bridge waits for the operator's answer (under the EV's 60 s ongoing)."""

#: ISO 15118-2 EnergyTransferMode / -20 service -> OCPP EnergyTransferMode.
ENERGY_TRANSFER = {
    "AC_single_phase_core": "AC_single_phase", "AC_three_phase_core": "AC_three_phase",
    "DC_core": "DC", "DC_extended": "DC", "DC_combo_core": "DC", "DC_unique": "DC",
    "AC": "AC_three_phase", "DC": "DC", "AC_BPT": "AC_BPT", "DC_BPT": "DC_BPT",
}


def _no_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class ChargerBridge:
    """The charger's answers to its SECC (one connector); see the module docstring."""

    def __init__(self, charger: SimCharger, conn: Connector) -> None:
        self.charger = charger
        self.conn = conn
        self.requests: list[dict[str, Any]] = []
        self._pnc: dict[str, str] = {}
        self._profiles_seen: tuple[Any, ...] | None = None
        self._needs: dict[str, Any] = {}
        self.soc_pct: float | None = None

    # ------------------------------------------------------------------ serving
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One SECC connection: a reply line per request line."""
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    op = str(request.pop("op"))
                    reply = await self.handle(op, request)
                except Exception as error:
                    log.exception("%s: SECC bridge request failed", self.charger.spec.id)
                    reply = {"error": f"{type(error).__name__}: {error}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def handle(self, op: str, data: dict[str, Any]) -> dict[str, Any]:
        self.requests.append({"op": op, **data})
        del self.requests[:-200]
        if op == "authorize":
            return {"status": await self.authorize(data)}
        if op == "charging_needs":
            self._needs = data
            return {"status": await self.notify_charging_needs(data)}
        if op == "schedule":
            return self.schedule(data.get("departure_time_s"))
        if op == "status":
            return self.status(data.get("present_soc_pct"))
        if op == "session_end":
            self._pnc.clear()
            self._profiles_seen = None
            self._needs = {}
            return {}
        return {"error": f"unknown bridge operation {op!r}"}

    # ------------------------------------------------------------------ OCPP side
    async def _post(self, payload: Any) -> Any:
        """Send a CALL through the charger's outbox; its result (BenchError when none)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()

        def ok(result: Any) -> None:
            if not done.done():
                done.set_result(result)

        def failed(error: Exception) -> None:
            if not done.done():
                done.set_exception(BenchError(f"no answer from the operator: {error}"))

        self.charger.post(payload, on_result=ok, on_error=failed)
        return await asyncio.wait_for(done, ANSWER_TIMEOUT_S)

    async def authorize(self, data: dict[str, Any]) -> str:
        token, token_type = data.get("id_token"), data.get("id_token_type")
        if token_type != "eMAID" or not token:
            # external identification: the charger was (or will be) authorised by card or
            # remote start; the EV asks again while Ongoing
            return "Accepted" if self.conn.tx is not None else "Ongoing"
        if token in self._pnc and not data.get("hash_data"):
            return self._pnc[token]
        if self.charger.has("pnc-authorizes-locally"):
            status = "Accepted"  # fault: trusts the contract certificate, asks nobody
        else:
            status = await self._authorize_contract(str(token), data.get("hash_data") or None)
        self._pnc[str(token)] = status
        if status == "Accepted" and self.conn.tx is None:
            self.charger.begin(self.conn, str(token), "eMAID", trigger="Authorized",
                               remote_start_id=None, id_token_data=None)
        return status

    async def _authorize_contract(self, emaid: str, hash_data: list[dict[str, str]] | None) -> str:
        charger = self.charger
        if charger.ocpp_version == "1.6":
            payload = charger.authorize_payload(emaid, "eMAID")
        else:
            id_token = {"id_token": emaid, "type": "eMAID"}
            field = ("iso_15118_certificate_hash_data" if charger.ocpp_version == "2.1"
                     else "iso15118_certificate_hash_data")
            extra = {field: hash_data[:4]} if hash_data else {}
            payload = charger.call.Authorize(id_token=id_token, **extra)  # type: ignore[attr-defined]
        try:
            result = await self._post(payload)
        except (TimeoutError, BenchError) as error:
            log.info("%s: Plug & Charge authorisation got no answer: %s", charger.spec.id, error)
            return "Rejected"
        return str(charger.authorize_status(result) or "Rejected")

    async def notify_charging_needs(self, needs: dict[str, Any]) -> str:
        charger = self.charger
        if charger.ocpp_version == "1.6":
            return "NotSupported"
        payload = charger.call.NotifyEVChargingNeeds(  # type: ignore[attr-defined]
            evse_id=self.conn.evse_id, charging_needs=self.charging_needs(needs))
        try:
            result = await self._post(payload)
        except (TimeoutError, BenchError) as error:
            log.info("%s: NotifyEVChargingNeeds got no answer: %s", charger.spec.id, error)
            return "NoAnswer"
        return str(getattr(result, "status", "Unknown"))

    def charging_needs(self, needs: dict[str, Any]) -> dict[str, Any]:
        """The OCPP ChargingNeedsType (snake_case) for what the EV announced."""
        v21 = self.charger.ocpp_version == "2.1"
        wrong = self.charger.has("wrong-ev-charging-needs")
        current_factor = WRONG_NEEDS_CURRENT_FACTOR if wrong else 1.0
        energy_factor = WRONG_NEEDS_ENERGY_FACTOR if wrong else 1.0
        number = float if v21 else round  # 2.0.1: integers

        def num(value: Any, factor: float = 1.0) -> Any:
            return None if value is None else number(float(value) * factor)

        mode = needs.get("energy_service") or needs.get("energy_mode") or ""
        transfer = ENERGY_TRANSFER.get(str(mode), "DC" if needs.get("current_type") == "DC"
                                       else "AC_three_phase")
        if not v21 and transfer in ("AC_BPT", "DC_BPT"):
            transfer = transfer[:2] if transfer == "DC_BPT" else "AC_three_phase"
        energy = needs.get("target_energy_request_wh")
        ac, dc = needs.get("ac") or {}, needs.get("dc") or {}
        out: dict[str, Any] = {"requested_energy_transfer": transfer}
        if needs.get("departure_time_s"):
            out["departure_time"] = iso_utc(self.charger.clock.now()
                                            + float(needs["departure_time_s"]))
        if transfer.startswith("AC") and ac.get("max_charge_current") is not None:
            out["ac_charging_parameters"] = {
                "energy_amount": num(energy or 0, energy_factor),
                "ev_min_current": num(ac.get("min_charge_current") or 0),
                "ev_max_current": num(ac["max_charge_current"], current_factor),
                "ev_max_voltage": num(ac.get("max_voltage") or 0)}
        if transfer.startswith("DC") and dc.get("max_charge_current") is not None:
            out["dc_charging_parameters"] = _no_none({
                "ev_max_current": num(dc["max_charge_current"], current_factor),
                "ev_max_voltage": num(dc.get("max_voltage") or 0),
                "ev_max_power": num(dc.get("max_charge_power") or None, current_factor),
                "energy_amount": num(energy, energy_factor),
                "ev_energy_capacity": num(needs.get("battery_capacity_wh")),
                "state_of_charge": (int(needs["present_soc_pct"])
                                    if needs.get("present_soc_pct") is not None else None)})
        if v21:
            limits = ac if transfer.startswith("AC") else dc
            v2x = _no_none({
                "max_charge_power": num(limits.get("max_charge_power") or None, current_factor),
                "min_charge_power": num(limits.get("min_charge_power") or None),
                "max_discharge_power": num(limits.get("max_discharge_power")),
                "min_discharge_power": num(limits.get("min_discharge_power")),
                "max_discharge_current": num(limits.get("max_discharge_current")),
                "min_discharge_current": num(limits.get("min_discharge_current")),
                "ev_target_energy_request": num(energy, energy_factor),
                "ev_min_energy_request": num(needs.get("min_energy_request_wh")),
                "ev_max_energy_request": num(needs.get("max_energy_request_wh")),
                "ev_min_v2x_energy_request": num(needs.get("min_v2x_energy_request_wh")),
                "ev_max_v2x_energy_request": num(needs.get("max_v2x_energy_request_wh")),
                "target_soc": (int(needs["target_soc_pct"])
                               if needs.get("target_soc_pct") is not None else None)})
            if v2x and str(needs.get("protocol", "")).startswith("ISO_15118_20"):
                out["v2x_charging_parameters"] = v2x
        return out

    # ------------------------------------------------------------------ schedule
    def _smart(self) -> Any:
        from testbench.sim.smart import smart_of

        return smart_of(self.charger)

    def _profile_key(self) -> tuple[Any, ...]:
        return tuple(sorted((p.id, p.purpose, p.stack, p.target, p.installed_s)
                            for p in self._smart().profiles))

    def schedule(self, departure_time_s: Any) -> dict[str, Any]:
        """The operator's composite limit for the EVSE, W, from now to the departure."""
        smart = self._smart()
        horizon_s = int(departure_time_s) if departure_time_s else 86400
        start, periods, _unit = smart.composite(smart.key(self.conn), max(1, horizon_s), "W")
        schedule = [{"start_s": int(p["start_period"]), "max_power_w": float(p["limit"])}
                    for p in periods]
        if self.charger.has("schedule-ignores-profiles"):  # fault: its rating only
            rating_w = float(self.charger.spec.max_current_a) * 230.0 * 3
            schedule = [{"start_s": 0, "max_power_w": rating_w}]
        self._profiles_seen = self._profile_key()
        reply: dict[str, Any] = {"schedule": schedule, "composite_start_lab_s": start}
        if self.charger.spec.bidirectional:
            limits = [float(self.charger.spec.max_power_w)]
            for side in ("ac", "dc"):
                ev_max = (self._needs.get(side) or {}).get("max_discharge_power")
                if ev_max:
                    limits.append(abs(float(ev_max)))
            discharge_w = min(limits)
            if self.charger.has("exceeds-discharge-limit"):
                discharge_w *= WRONG_NEEDS_CURRENT_FACTOR
            reply["discharge_schedule"] = [{"start_s": 0, "max_power_w": discharge_w}]
        return reply

    def status(self, present_soc_pct: Any) -> dict[str, Any]:
        """Charge-loop status: keep the EV's SoC; renegotiate when the profiles changed."""
        if present_soc_pct is not None:
            self.soc_pct = float(present_soc_pct)
            if not self.charger.has("no-soc-in-meter-values"):
                self.conn.v2g_soc_pct = self.soc_pct  # type: ignore[attr-defined]
        renegotiate = (self._profiles_seen is not None
                       and self._profile_key() != self._profiles_seen
                       and not self.charger.has("no-schedule-renegotiation"))
        if renegotiate:
            self._profiles_seen = None  # once; the next schedule request resets it
        return {"renegotiate": renegotiate}


class SeccHost:
    """A simulated charger's SECC on the V2G link an ``iso15118-evcc`` instrument names.

    Has the hosted-twin interface of :mod:`testbench.sim.hosting` (start/stop, describe).
    When the package or network namespaces are unavailable the charger runs without an
    SECC and ``problem`` says why (the EV emulator then finds no charger on its link).
    """

    def __init__(self, charger: SimCharger, conn: Connector, resource: str,
                 time_scale: float = 1.0) -> None:
        self.charger = charger
        self.conn = conn
        self.resource = resource
        self.tag = link_tag_of(resource)
        self.time_scale = time_scale
        self.bridge = ChargerBridge(charger, conn)
        # the connector's NotifyEVChargingNeeds come from its ISO 15118 sessions
        conn.v2g_hosted = True  # type: ignore[attr-defined]
        self.link: V2GLink | None = None
        self.process: V2GProcess | None = None
        self.problem: str | None = None
        self.starts = 0
        self.workdir = Path(tempfile.mkdtemp(prefix=f"tbsim-secc-{charger.spec.id[:20]}-"))
        self._server: asyncio.AbstractServer | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.bridge.requests

    @property
    def energised(self) -> bool:
        return False

    def settings(self) -> SeccSettings:
        spec = self.charger.spec
        timeout_s = (NOT_ENFORCED_TIMEOUT_S if self.charger.has("session-timeout-not-enforced")
                     else SEQUENCE_TIMEOUT_LAB_S / max(self.time_scale, 1e-9))
        ac = spec.current_type.upper() != "DC"
        charger = ChargerParams(
            evse_id=f"DE*TBS*E{self.conn.evse_id:04d}",
            ac_max_current_a=float(spec.max_current_a) if ac else None,
            ac_max_charge_power_w=float(spec.max_power_w) if ac else None,
            ac_max_discharge_power_w=(float(spec.max_power_w) if ac and spec.bidirectional
                                      else None),
            dc_max_current_a=None if ac else float(spec.max_current_a),
            dc_max_power_w=None if ac else float(spec.max_power_w),
            dc_max_discharge_power_w=(float(spec.max_power_w) if not ac and spec.bidirectional
                                      else None))
        return SeccSettings(
            protocols=secc_protocols(spec.iso15118, spec.current_type),
            auth_modes=("EIM", "PNC"), bridge_path=str(self.workdir / "bridge.sock"),
            charger=charger, faults=Faults(sequence_timeout_s=timeout_s,
                                           close_delay_scale=1.0 / max(self.time_scale, 1e-9)))

    async def start(self, host: str, port: int) -> int:
        """Create the link and the bridge, start the SECC; port 0 (no TCP port of its own)."""
        loop = asyncio.get_running_loop()
        self._server = await asyncio.start_unix_server(self.bridge.serve,
                                                       path=str(self.workdir / "bridge.sock"))
        try:
            install = find_install()
            pki = pki_dir_for(self.tag)
            shutil.rmtree(pki, ignore_errors=True)  # fresh certificates per run
            await loop.run_in_executor(None, make_pki, install, pki)
            self.link = await loop.run_in_executor(None, create_link, self.tag)
            self._spawn()
        except (BenchError, OSError) as error:
            self.problem = str(error)
            log.warning("%s: no ISO 15118 SECC on link %s: %s", self.charger.spec.id,
                        self.tag, error)
            return 0
        self._watch = asyncio.ensure_future(self._watchdog())
        return 0

    def _spawn(self) -> None:
        assert self.link is not None
        self.starts += 1
        self.process = start_secc(self.settings(), self.workdir / f"secc-{self.starts}",
                                  self.link.secc_iface, netns=self.link.secc_netns,
                                  pki_dir=pki_dir_for(self.tag))
        log.info("%s: ISO 15118 SECC started on %s (%s)", self.charger.spec.id,
                 self.link.secc_netns, self.process.workdir)

    async def _watchdog(self) -> None:
        """A charger's SECC is always there: start it again when it ends."""
        while True:
            await asyncio.sleep(0.5)
            if self.process is not None and not self.process.running():
                log.info("%s: SECC exited (%s); starting it again", self.charger.spec.id,
                         self.process.returncode)
                self.process.stop(grace_s=0.5)
                self._spawn()

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        loop = asyncio.get_running_loop()
        if self.process is not None:
            await loop.run_in_executor(None, functools.partial(self.process.stop, 2.0))
        if self.link is not None:
            await loop.run_in_executor(None, self.link.remove)
        if self._server is not None:
            self._server.close()
        shutil.rmtree(pki_dir_for(self.tag).parent, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def set_fault(self, fault: str) -> None:
        """Instrument faults do not apply to an SECC (charger faults do)."""

    def describe(self) -> dict[str, Any]:
        return {"charger": self.charger.spec.id, "link": self.tag, "workdir": str(self.workdir),
                "secc_starts": self.starts, "problem": self.problem,
                "bridge_requests": len(self.bridge.requests)}


def build_secc(charger: SimCharger, conn: Connector, resource: str,
               time_scale: float) -> SeccHost:
    """The SECC host for ``charger``'s connector ``conn`` on the link ``resource`` names."""
    return SeccHost(charger, conn, resource, time_scale)
