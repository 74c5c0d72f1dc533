"""Version-independent behaviour of a simulated charger.

``SimCharger`` owns the connectors, the outbox and the connection session (boot,
heartbeat, sending). Events (EV side, RFID, central-system requests, timers) are handled
synchronously on the event loop: they change the model and queue CALLs; answers come back
as callbacks. Nothing here awaits an answer inside a request handler.

Subclasses (``v16.Charger16``, ``v2x.Charger2x``) build the messages of their OCPP version
and route the central system's requests.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ocpp.exceptions import OCPPError

from testbench.clock import LabClock
from testbench.lab.model import ChargerSpec, EVSpec
from testbench.sim import ev_personality, frequency_service, pilot_faults, robustness
from testbench.sim.firmware import FirmwareAgent
from testbench.sim.outbox import Offline, Outbox, Outgoing
from testbench.sim.plant import ChargerMeter, Plant
from testbench.sim.station import (
    INITIAL_REGISTER_WH,
    Connector,
    PendingStart,
    Transaction,
    duty_cycle_pct,
)

log = logging.getLogger("testbench.sim")

BOOT_RETRY_DEFAULT_S = 30.0
"""Lab seconds before retrying a boot when the central system gives interval 0."""

CONTACTOR_CLOSE_S = 1.0
"""Lab seconds from the EV asking for energy under PWM (C2) to the contactor closing
(IEC 61851 allows up to 3 s); opening is immediate."""

REBOOT_DELAY_S = 1.0
"""Lab seconds a reset charger stays off line before reconnecting."""

CALL_TIMEOUT_WALL_S = 30.0
"""Wall seconds to wait for the central system's answer to a CALL."""

OVERREPORT_FACTOR = 1.10
"""Fault meter-overreports-energy: the register counts this much of the delivered energy."""

OVERCURRENT_FACTOR = 1.15
"""Fault exceeds-max-current: the charger offers (and the EV gets) this much of its limit."""

MIN_OFFER_A = 6.0
"""Below this offer (IEC 61851-1's lowest) the EV draws nothing."""


class Settings:
    """Configuration the central system can read and change (1.6 keys / 2.x variables)."""

    def __init__(self) -> None:
        self.heartbeat_interval_s = 60
        self.sample_interval_s = 10
        self.authorize_remote_start = False
        self.connection_timeout_s = 60


class SimCharger(ABC):
    """A simulated charger: model, behaviour and OCPP session (version-specific parts abstract)."""

    ocpp_version: str = ""

    def __init__(self, spec: ChargerSpec, evs: dict[str, EVSpec], clock: LabClock,
                 plant: Plant | None = None) -> None:
        self.spec = spec
        self.evs = evs
        self.clock = clock
        self.plant = plant if plant is not None else Plant(clock)
        self.faults = frozenset(spec.faults)
        self.firmware_version = spec.firmware  # announced at boot; a firmware update changes it
        self.firmware_agent = FirmwareAgent(self)  # may load an installed firmware and its faults
        self.settings = Settings()
        self.outbox = Outbox()
        self.connectors: list[Connector] = []
        number = 0
        for evse_id in range(1, spec.evse_count + 1):
            for connector_id in range(1, spec.connectors_per_evse + 1):
                number += 1
                stage = self.plant.add_stage(spec, evse_id, connector_id)
                factor = OVERREPORT_FACTOR if self.has("meter-overreports-energy") else 1.0
                conn = Connector(evse_id=evse_id, connector_id=connector_id, number=number,
                                 meter=ChargerMeter(stage, INITIAL_REGISTER_WH, factor),
                                 stage=stage)
                stage.on_ev_change = functools.partial(self._ev_changed, conn)
                self.connectors.append(conn)
        frequency_service.attach(self)  # 2.1 LocalFrequency (testbench.sim.frequency_service)
        self.operative = True  # whole-station availability
        self.scheduled_station_operative: bool | None = None
        self.registration: str | None = None  # last boot answer
        self.online = False  # connected and boot Accepted
        self.boot_reason = "PowerUp"
        self.scheduled_reset: str | None = None
        self._boot_wakeup = asyncio.Event()
        self._heartbeat_wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._client: Any = None
        self._ws: Any = None
        self.powered = True
        self._power_on = asyncio.Event()
        self._power_on.set()
        self._power_off = asyncio.Event()
        self._power_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ helpers

    def has(self, fault: str) -> bool:
        """Is the fault personality ``fault`` switched on?"""
        return fault in self.faults

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a coroutine as a task owned by this charger."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def post(self, source: Any, *, retain: bool = False,
             on_result: Callable[[Any], None] | None = None,
             on_error: Callable[[Exception], None] | None = None,
             while_pending: bool = False) -> None:
        """Queue a CALL. Volatile messages are dropped (on_error) while off line.

        ``while_pending``: a message the central system triggered may go out while the
        boot is Pending (sent at once, beside the boot loop).
        """
        item = Outgoing(source, retain=retain, on_result=on_result, on_error=on_error)
        if not self.online and while_pending and self._client is not None \
                and self.registration == "Pending":
            self.spawn(self._send_direct(self._client, item))
            return
        if not self.online and not retain:
            asyncio.get_running_loop().call_soon(item.fail, Offline("charger is off line"))
            return
        self.outbox.put(item)

    async def _send_direct(self, client: Any, item: Outgoing) -> None:
        try:
            result = await client.call(item.build(), suppress=False)
        except Exception as error:  # noqa: BLE001 - reported through the item
            item.fail(error)
            return
        if item.on_result is not None:
            item.on_result(result)

    def connector(self, evse_id: int, connector_id: int = 1) -> Connector | None:
        for conn in self.connectors:
            if conn.evse_id == evse_id and conn.connector_id == connector_id:
                return conn
        return None

    def is_operative(self, conn: Connector) -> bool:
        return self.operative and conn.operative

    def transactions(self) -> list[tuple[Connector, Transaction]]:
        return [(c, c.tx) for c in self.connectors if c.tx is not None]

    def find_transaction(self, tx_id: str) -> Connector | None:
        for conn in self.connectors:
            if conn.tx is not None and conn.tx.id is not None and conn.tx.id == tx_id:
                return conn
        return None

    # ------------------------------------------------------------------ electrical model

    def offered_current_a(self, conn: Connector) -> float:
        """The current offered on the pilot: the charger's maximum or the plant's limit.

        Negative: the limit asks a bidirectional pairing to discharge.
        """
        offered = conn.stage.offered_limit_a()
        if self.has("exceeds-max-current"):
            offered *= OVERCURRENT_FACTOR
        return offered

    def pwm_on(self, conn: Connector) -> bool:
        """The charger offers current on the pilot (state x2)."""
        return (self.powered and conn.plugged and self.is_operative(conn)
                and conn.tx is not None and conn.tx.energy_allowed)

    def _flow(self, conn: Connector) -> tuple[float, int]:
        """What the EV would draw with the contactor closed: (current per phase, phases)."""
        if conn.ev is None or not conn.requests_energy or not self.pwm_on(conn):
            ev_personality.idle(conn)
            return 0.0, 0
        battery = conn.stage.battery
        offered = self.offered_current_a(conn)
        phases = min(conn.ev.phases, self.spec.phases)
        if offered < 0:  # discharge asked: only a bidirectional pair, within the EV's limit
            if not (self.spec.bidirectional and conn.ev.bidirectional) or battery is None:
                return 0.0, 0
            current = min(battery.discharge_limit_a(), -offered)
            return (-current, phases) if current >= conn.ev.min_current_a else (0.0, 0)
        ev_limit = battery.charge_limit_a() if battery is not None else conn.ev.max_current_a
        current = 0.0 if offered < MIN_OFFER_A else ev_personality.draw_a(  # EV reads the duty
            self, conn, pilot_faults.duty_pct(self, duty_cycle_pct(offered)), ev_limit)
        if current < conn.ev.min_current_a or current <= 0:
            return 0.0, 0  # below its minimum the EV pauses
        return current, phases

    def contactor_closing(self, conn: Connector) -> bool:
        """Energy is wanted and allowed but the contactor has not closed yet."""
        return conn.contactor_timer is not None

    def _drive_contactor(self, conn: Connector, wanted: bool) -> None:
        pilot_faults.drive_contactor(self, conn, wanted, CONTACTOR_CLOSE_S)

    def _contactor_closes(self, conn: Connector) -> None:
        conn.contactor_timer = None
        pilot_faults.contactor_switched(self, conn, True)
        self.refresh(conn)

    def update_power(self, conn: Connector) -> None:
        """Recompute what the EV draws and feed it to the energy meter."""
        current, phases = self._flow(conn)
        self._drive_contactor(conn, current != 0)
        if not conn.contactor_closed:
            current, phases = 0.0, 0
        conn.current_a, conn.phases = current, phases
        conn.stage.command(current, phases, conn.contactor_closed)
        if current != 0 and conn.tx is not None:
            conn.tx.has_charged = True

    def _ev_changed(self, conn: Connector) -> None:
        """The plant says the EV's limit or the offered limit moved: recompute and report."""
        if self.powered:
            self.refresh(conn)

    def pilot_state(self, conn: Connector) -> str:
        if not self.powered or not self.is_operative(conn):
            return "F"
        line = pilot_faults.line_state(self, conn)  # pilot shorted, EV diode failed
        if line is not None:
            return line
        if conn.ev_state == "E":
            return "E"
        return conn.ev_state + ("2" if self.pwm_on(conn) else "1")

    def duty_cycle_pct(self, conn: Connector) -> float:
        if not self.pwm_on(conn):
            return 100.0
        duty = duty_cycle_pct(abs(self.offered_current_a(conn)))
        return round(pilot_faults.duty_pct(self, duty), 1)

    # ------------------------------------------------------------------ EV side (twin)

    def select_ev(self, conn: Connector, ev_id: str | None) -> None:
        conn.ev = self.evs[ev_id] if ev_id is not None else None
        conn.stage.attach_ev(conn.ev, fresh=not conn.plugged)
        self.refresh(conn)

    def set_ev_state(self, conn: Connector, state: str) -> None:
        if state in ("C", "D") and conn.ev is not None and "never-requests-energy" in conn.ev.faults:
            state = "B"  # fault personality: the EV never closes S2, so it never asks for energy
        state = pilot_faults.charger_view(self, conn, state)
        old = conn.ev_state
        if state == old:
            return
        conn.ev_state = state
        was_plugged, now_plugged = old in ("B", "C", "D"), state in ("B", "C", "D")
        log.info("%s connector %d: EV %s -> %s", self.spec.id, conn.number, old, state)
        if now_plugged and not was_plugged:
            conn.finishing = False
            self.refresh(conn, cause="plug")
            if conn.pending is not None and conn.tx is None:
                pending = self._take_pending(conn)
                self.start_transaction(conn, pending.id_token, pending.token_type,
                                       trigger="CablePluggedIn",
                                       remote_start_id=pending.remote_start_id,
                                       id_token_data=pending.id_token_data)
        elif was_plugged and not now_plugged:
            if conn.tx is not None:
                self.stop_transaction(conn, "EVDisconnected" if state == "A" else "Other",
                                      trigger="EVCommunicationLost")
            conn.finishing = False
            self.refresh(conn)
        else:
            self.refresh(conn)

    def present_rfid(self, conn: Connector, token: str) -> None:
        log.info("%s connector %d: card %s presented", self.spec.id, conn.number, token)
        if conn.tx is not None:
            if token == conn.tx.id_token:
                self.stop_transaction(conn, "Local", trigger="StopAuthorized", id_token=token)
            else:
                log.info("%s: card %s ignored, another card's transaction runs",
                         self.spec.id, token)
            return
        if not self.powered or not self.is_operative(conn) or conn.ev_state == "E":
            log.info("%s: card %s ignored, connector unavailable", self.spec.id, token)
            return
        self.authorize(token, "ISO14443",
                       lambda status: self._after_card_authorized(conn, token, status))

    def _after_card_authorized(self, conn: Connector, token: str, status: str | None) -> None:
        accepted = status == "Accepted"
        if not accepted and not self.has("ignores-authorization"):
            log.info("%s: card %s not accepted (%s)", self.spec.id, token, status)
            return
        if conn.tx is not None or not self.is_operative(conn):
            return
        self.begin(conn, token, "ISO14443", trigger="Authorized", remote_start_id=None,
                   id_token_data=None)

    # ------------------------------------------------------------------ transactions

    def begin(self, conn: Connector, token: str, token_type: str, *, trigger: str,
              remote_start_id: int | None, id_token_data: dict[str, Any] | None) -> None:
        """Authorised: start now if the EV is plugged in, else wait for it (ConnectionTimeOut)."""
        if conn.plugged:
            self.start_transaction(conn, token, token_type, trigger=trigger,
                                   remote_start_id=remote_start_id, id_token_data=id_token_data)
            return
        self._take_pending(conn)
        pending = PendingStart(token, token_type, remote_start_id, id_token_data)
        delay_s = self.clock.wall_duration(float(self.settings.connection_timeout_s))
        pending.timer = asyncio.get_running_loop().call_later(
            delay_s, self._pending_expired, conn, pending)
        conn.pending = pending
        self.refresh(conn)

    def _take_pending(self, conn: Connector) -> PendingStart:
        pending = conn.pending
        conn.pending = None
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()
        return pending  # type: ignore[return-value]

    def _pending_expired(self, conn: Connector, pending: PendingStart) -> None:
        if conn.pending is pending:
            log.info("%s: no EV plugged in within the connection timeout", self.spec.id)
            conn.pending = None
            self.refresh(conn)

    def start_transaction(self, conn: Connector, token: str, token_type: str, *, trigger: str,
                          remote_start_id: int | None = None,
                          id_token_data: dict[str, Any] | None = None) -> None:
        if conn.tx is not None:
            return
        tx = Transaction(id=self.new_transaction_id(), id_token=token, token_type=token_type,
                         meter_start_wh=conn.meter.read_wh(), started_lab_s=self.clock.now(),
                         remote_start_id=remote_start_id, id_token_data=id_token_data)
        conn.tx = tx
        conn.finishing = False
        if conn.pending is not None:
            self._take_pending(conn)
        self.update_power(conn)
        log.info("%s connector %d: transaction starts (%s, token %s)",
                 self.spec.id, conn.number, trigger, token)
        self.send_started(conn, tx, trigger)
        tx.sampler = self.spawn(self._sample_loop(conn, tx))
        robustness.transaction_started(self, conn, tx)  # fault drops-connection-...
        self.refresh(conn)

    def stop_transaction(self, conn: Connector, reason: str, *, trigger: str,
                         id_token: str | None = None) -> None:
        tx = conn.tx
        if tx is None:
            return
        meter_stop_wh = conn.meter.read_wh()
        conn.tx = None
        if tx.sampler is not None:
            tx.sampler.cancel()
        self.update_power(conn)
        conn.finishing = conn.plugged
        log.info("%s connector %d: transaction %s ends (%s)", self.spec.id, conn.number,
                 tx.id, reason)
        self.send_ended(conn, tx, reason, trigger, meter_stop_wh, id_token)
        self.refresh(conn)
        self._after_transaction(conn)

    def deauthorize(self, conn: Connector, tx: Transaction) -> None:
        """The central system refused the token of a running transaction."""
        if self.has("ignores-authorization") or conn.tx is not tx:
            return
        tx.energy_allowed = False
        self.stop_transaction(conn, "DeAuthorized", trigger="Deauthorized")

    def _after_transaction(self, conn: Connector) -> None:
        if conn.scheduled_operative is not None:
            value, conn.scheduled_operative = conn.scheduled_operative, None
            conn.operative = value
            self.refresh(conn)
        if self.scheduled_station_operative is not None and not self.transactions():
            value, self.scheduled_station_operative = self.scheduled_station_operative, None
            self.set_station_operative(value)
        if self.scheduled_reset is not None and not self.transactions():
            kind, self.scheduled_reset = self.scheduled_reset, None
            self.reset_now(kind)

    async def _sample_loop(self, conn: Connector, tx: Transaction) -> None:
        while conn.tx is tx:
            interval_s = self.settings.sample_interval_s
            await self.clock.asleep(float(interval_s) if interval_s > 0 else 1.0)
            if conn.tx is not tx or interval_s <= 0:
                continue
            tx.periodic_samples += 1
            self.send_periodic(conn, tx)
            if tx.periodic_samples == 2 and self.has("meter-goes-backwards"):
                conn.meter.adjust(-500.0)

    # ------------------------------------------------------------------ status

    def refresh(self, conn: Connector, cause: str | None = None) -> None:
        """Recompute power and status; report what changed."""
        self.update_power(conn)
        status = self.connector_status(conn)
        if status != conn.reported_status:
            if (cause == "plug" and status in ("Preparing", "Occupied")
                    and self.has("skips-status-notification")):
                conn.reported_status = status
            elif self.online:
                conn.reported_status = status
                self.post(robustness.status_message(self, conn, status, cause))
        self.after_refresh(conn)

    def after_refresh(self, conn: Connector) -> None:
        """Hook for version-specific reports (2.x chargingState)."""

    def report_all_statuses(self) -> None:
        """Report every connector (after a boot)."""
        for conn in self.connectors:
            status = self.connector_status(conn)
            conn.reported_status = status
            self.post(self.status_payload(conn, status))

    # ------------------------------------------------------------------ availability, reset

    def set_station_operative(self, operative: bool) -> None:
        """The whole station (and with it every connector) becomes (in)operative."""
        self.operative = operative
        for conn in self.connectors:
            conn.operative = operative
            conn.scheduled_operative = None
            self.refresh(conn)

    def request_availability(self, targets: list[Connector] | None, operative: bool) -> str:
        """Decide the answer to ChangeAvailability (``targets`` None: whole station)."""
        if self.has("ignores-availability"):
            return "Accepted"
        scope = self.connectors if targets is None else targets
        if not operative and any(c.tx is not None for c in scope):
            return "Scheduled"
        return "Accepted"

    def apply_availability(self, targets: list[Connector] | None, operative: bool) -> None:
        """Apply ChangeAvailability (after it was answered)."""
        if self.has("ignores-availability"):
            log.info("%s: ignoring ChangeAvailability (fault personality)", self.spec.id)
            return
        if targets is None:
            if not operative and self.transactions():
                self.scheduled_station_operative = operative
            else:
                self.scheduled_station_operative = None
                self.set_station_operative(operative)
            return
        for conn in targets:
            if not operative and conn.tx is not None:
                conn.scheduled_operative = operative
            else:
                conn.scheduled_operative = None
                conn.operative = operative
                self.refresh(conn)

    def accept_reset(self, kind: str) -> None:
        """Reset now (Hard/Soft/Immediate) or when idle (OnIdle), unless the fault ignores it."""
        if self.has("ignores-reset"):
            log.info("%s: ignoring Reset (fault personality)", self.spec.id)
            return
        if kind == "OnIdle" and self.transactions():
            self.scheduled_reset = kind
            return
        self.reset_now(kind)

    def reset_now(self, kind: str) -> None:
        for conn, _tx in self.transactions():
            self.stop_transaction(conn, self.reset_stop_reason(kind), trigger="ResetCommand")
        for conn in self.connectors:
            if conn.pending is not None:
                self._take_pending(conn)
        self.boot_reason = "RemoteReset"
        if self.online:  # close once the stop messages are out
            self.outbox.put(Outgoing(None, close_after=True))
        elif self._ws is not None:  # reset while the boot is not accepted: reconnect
            self.spawn(self._ws.close())
        log.info("%s: %s reset, rebooting", self.spec.id, kind)

    def _after_reboot(self) -> None:
        for conn in self.connectors:
            conn.finishing = False
            conn.reported_status = None
            self.update_power(conn)

    # ------------------------------------------------------------------ supply

    def set_supply(self, on: bool) -> None:
        """Switch the charger's mains supply (the station I/O box's supply relay)."""
        if self._power_timer is not None:
            self._power_timer.cancel()
            self._power_timer = None
        self._switch(on)

    def power_cycle(self, off_s: float) -> None:
        """Supply off now, on again after ``off_s`` lab seconds."""
        self.set_supply(False)
        self._power_timer = asyncio.get_running_loop().call_later(
            self.clock.wall_duration(off_s), self._switch, True)

    def _switch(self, on: bool) -> None:
        if on == self.powered:
            return
        log.info("%s: supply %s", self.spec.id, "on" if on else "off")
        self.powered = on
        self.plant.set_supplied(self.spec.id, on)
        if on:
            self._power_off.clear()
            self.boot_reason = "PowerUp"
            self.registration = None
            self._after_reboot()
            self._power_on.set()
            return
        self._power_on.clear()
        self._power_off.set()
        if self._ws is not None:
            _abort(self._ws)  # the connection dies at once, without a closing handshake
        self.online = False
        self.scheduled_reset = None
        self.outbox.drop_close_markers()
        for conn, _tx in self.transactions():
            self.stop_transaction(conn, "PowerLoss", trigger="AbnormalCondition")
        for conn in self.connectors:
            if conn.pending is not None:
                self._take_pending(conn)
            self.update_power(conn)

    async def wait_powered(self) -> None:
        await self._power_on.wait()
        await self.firmware_agent.wait_not_bricked()

    # ------------------------------------------------------------------ authorisation

    def authorize(self, token: str, token_type: str,
                  then: Callable[[str | None], None]) -> None:
        """Send Authorize; ``then(status)`` with the answer (None when there is none)."""
        self.post(self.authorize_payload(token, token_type),
                  on_result=lambda result: then(self.authorize_status(result)),
                  on_error=lambda _error: then(None))

    # ------------------------------------------------------------------ session

    async def serve(self, ws: Any) -> str:
        """Run one websocket connection until it ends; why: closed, reboot or power-off."""
        client = self.make_client(ws)
        client._response_timeout = CALL_TIMEOUT_WALL_S
        robustness.wrap_client(self, client)  # fault stops-answering
        self._client = client
        self._ws = ws
        self.outbox.drop_close_markers()
        receiver = asyncio.ensure_future(client.start())
        session = asyncio.ensure_future(self._session(client, ws))
        power_cut = asyncio.ensure_future(self._power_off.wait())
        outcome = "closed"
        try:
            done, _pending = await asyncio.wait({receiver, session, power_cut},
                                                return_when=asyncio.FIRST_COMPLETED)
            if power_cut in done:
                outcome = "power-off"
            elif session in done and not session.cancelled() and session.exception() is None \
                    and session.result():
                outcome = "reboot"
        finally:
            self.online = False
            self._client = None
            self._ws = None
            for task in (receiver, session, power_cut):
                task.cancel()
            await asyncio.gather(receiver, session, power_cut, return_exceptions=True)
            self.outbox.purge_volatile()
        if outcome == "reboot":
            self._after_reboot()
        return outcome

    async def _session(self, client: Any, ws: Any) -> bool:
        await self._boot(client)
        self.online = True
        self.boot_reason = "Unknown"  # a later boot without reset: reconnection
        self.report_all_statuses()
        heartbeat = asyncio.ensure_future(self._heartbeat_loop())
        try:
            rebooted = await self._drain(client)
        finally:
            heartbeat.cancel()
        if rebooted:
            self.online = False
            await ws.close()
        return rebooted

    async def _boot(self, client: Any) -> None:
        while True:
            self._boot_wakeup.clear()
            interval_s = BOOT_RETRY_DEFAULT_S
            try:
                result = await client.call(self.boot_payload(self.boot_reason), suppress=False)
                status, interval = self.boot_result(result)
            except (TimeoutError, OCPPError) as error:
                log.warning("%s: BootNotification failed: %s", self.spec.id, error)
                status, interval = "Error", 0
            self.registration = status
            log.info("%s: boot %s (interval %s)", self.spec.id, status, interval)
            if status == "Accepted":
                if interval > 0:
                    self.settings.heartbeat_interval_s = interval
                return
            if interval > 0:
                interval_s = float(interval)
            if status == "Pending" and self.has("ignores-boot-pending"):
                await self._misbehave_while_pending(client)
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                async with asyncio.timeout(self.clock.wall_duration(interval_s)):
                    await self._boot_wakeup.wait()
            except TimeoutError:
                pass

    async def _misbehave_while_pending(self, client: Any) -> None:
        """Fault ignores-boot-pending: report statuses and heartbeat anyway."""
        try:
            for conn in self.connectors:
                await client.call(self.status_payload(conn, self.connector_status(conn)),
                                  suppress=False)
            await client.call(self.heartbeat_payload(), suppress=False)
        except (TimeoutError, OCPPError) as error:
            log.info("%s: call while Pending refused: %s", self.spec.id, error)

    def wake_boot(self) -> None:
        """A triggered BootNotification while not accepted: boot again now."""
        self._boot_wakeup.set()

    def heartbeat_changed(self) -> None:
        """The heartbeat interval changed: restart the heartbeat timer."""
        self._heartbeat_wakeup.set()

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat_wakeup.clear()
            interval_s = float(self.settings.heartbeat_interval_s)
            if self.has("wrong-heartbeat-interval"):
                interval_s *= 2
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                async with asyncio.timeout(self.clock.wall_duration(max(interval_s, 1.0))):
                    await self._heartbeat_wakeup.wait()
                continue  # interval changed: start timing again
            except TimeoutError:
                pass
            self.post(self.heartbeat_payload())

    async def _drain(self, client: Any) -> bool:
        """Send queued CALLs in order; True when a reboot marker is reached."""
        while True:
            item = await self.outbox.get()
            if item.close_after:
                return True
            try:
                payload = item.build()
                if payload is None:
                    continue
                if isinstance(payload, robustness.RawFrames):  # fault sends-malformed-frames
                    await payload.send(client)
                    continue
                result = await client.call(payload, suppress=False)
            except OCPPError as error:
                log.warning("%s: %s answered with CALLERROR %s", self.spec.id,
                            type(item.source).__name__, error)
                item.fail(error)
                continue
            except TimeoutError as error:
                item.fail(error)
                continue
            except BaseException:
                if item.retain:
                    self.outbox.put_front(item)
                else:
                    item.fail(Offline("connection lost while sending"))
                raise
            if item.on_result is not None:
                try:
                    item.on_result(result)
                except Exception:
                    log.exception("%s: handling the answer to %s failed", self.spec.id,
                                  type(payload).__name__)

    # ------------------------------------------------------------------ version specific

    @abstractmethod
    def make_client(self, ws: Any) -> Any:
        """The ocpp ChargePoint (of this version) for a connection."""

    @abstractmethod
    def new_transaction_id(self) -> str | None:
        """A transaction id chosen by the charger (None when the central system assigns it)."""

    @abstractmethod
    def boot_payload(self, reason: str) -> Any: ...

    @abstractmethod
    def boot_result(self, result: Any) -> tuple[str, int]: ...

    @abstractmethod
    def heartbeat_payload(self) -> Any: ...

    @abstractmethod
    def connector_status(self, conn: Connector) -> str: ...

    @abstractmethod
    def status_payload(self, conn: Connector, status: str) -> Any: ...

    @abstractmethod
    def authorize_payload(self, token: str, token_type: str) -> Any: ...

    @abstractmethod
    def authorize_status(self, result: Any) -> str | None: ...

    @abstractmethod
    def send_started(self, conn: Connector, tx: Transaction, trigger: str) -> None: ...

    @abstractmethod
    def send_ended(self, conn: Connector, tx: Transaction, reason: str, trigger: str,
                   meter_stop_wh: float, id_token: str | None) -> None: ...

    @abstractmethod
    def send_periodic(self, conn: Connector, tx: Transaction) -> None: ...

    @abstractmethod
    def reset_stop_reason(self, kind: str) -> str: ...


def _abort(ws: Any) -> None:
    """Drop a connection without a closing handshake (the charger lost its supply)."""
    transport = getattr(ws, "transport", None)
    if transport is not None:
        transport.abort()
