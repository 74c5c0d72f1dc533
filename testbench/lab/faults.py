"""Catalogue of fault personalities a simulated device can be given in lab.toml.

Only names and descriptions live here (validation and reports use them); the behaviour
is implemented inside the simulated lab. Every suite check has at least one fault here
that it must catch, proven by a self-test in tests/.
"""

from __future__ import annotations

CHARGER_FAULTS: dict[str, str] = {
    "boots-with-wrong-firmware": "announces a firmware version in BootNotification other than its inventory entry",
    "ignores-boot-pending": "sends other requests while its boot is Pending instead of retrying the boot",
    "wrong-heartbeat-interval": "sends heartbeats at twice the interval the central system gave it",
    "skips-status-notification": "does not report the connector becoming occupied when an EV plugs in",
    "ignores-authorization": "starts a transaction even when the central system rejects the id token",
    "ignores-remote-stop": "accepts a remote stop but keeps the transaction running",
    "meter-goes-backwards": "energy register decreases during a transaction",
    "ignores-reset": "accepts a Reset but never reboots",
    "ignores-availability": "accepts ChangeAvailability but keeps its connector status",
    "meter-overreports-energy": "its OCPP energy register counts 10 % more energy than it delivers",
    "exceeds-max-current": "offers and delivers 15 % more current than its max_current_a",
    "firmware-wrong-status-sequence": "reports a firmware update's statuses out of order "
                                      "(Installing before Downloaded)",
    "firmware-installed-but-old-version": "reports a firmware update Installed but boots the "
                                          "version it ran before",
    "firmware-accepts-invalid-signature": "installs signed firmware whose signature does not "
                                          "verify (2.x), instead of reporting InvalidSignature",
    "firmware-bricks-after-failed-download": "after reporting DownloadFailed it goes off line and "
                                             "never comes back",
    "upload-reported-without-file": "reports a diagnostics or log upload Uploaded without "
                                    "sending the file",
    "firmware-never-back-after-install": "installs a firmware, reboots and never comes back "
                                         "on line",
    "wrong-droop": "grid code: its LFSM-O / LFSM-U droop is 1.6 times the parameter set's "
                   "(a weaker power response to a frequency deviation)",
    "too-slow": "grid code: its LFSM-O / LFSM-U power response reaches 90 % only after three "
                "times the required response time",
    "protection-trips-late": "grid code: its interface protection trips 0.5 s plus the set "
                             "trip time late",
    "reconnects-early": "grid code: after a protection trip it reconnects after half the "
                        "observation time",
    "ramps-too-fast": "grid code: after reconnecting it ramps its power up at twice the "
                      "allowed rate",
    "ignores-stack-level": "smart charging: among profiles of one purpose the lowest stack "
                           "level leads instead of the highest",
    "applies-limit-late": "smart charging: a new limit reaches its power stage 20 s after the "
                          "profile makes it due",
    "overshoots-limit": "smart charging: its power stage delivers 25 % more current than the "
                        "charging-profile limit",
    "wrong-composite-schedule": "smart charging: GetCompositeSchedule reports 4 A more than "
                                "the limits it applies",
    "clear-ignores-criteria": "smart charging: ClearChargingProfile with criteria clears every "
                              "profile and answers Accepted, even when none matched",
    "get-profiles-ignores-filter": "smart charging: GetChargingProfiles reports every installed "
                                   "profile, whatever the criteria and EVSE asked for",
    "remote-start-accepts-any-profile": "smart charging: a remote start carrying a profile whose "
                                        "purpose is not TxProfile is accepted and started",
    "composite-for-unknown-evse": "smart charging: GetCompositeSchedule for an EVSE (connector) "
                                  "it does not have is Accepted instead of Rejected",
    "applies-profile-without-smart-charging": "smart charging: reports no smart charging, yet "
                                              "applies the charging profile a remote start "
                                              "carries",
    "accepts-unsupported-rate-unit": "smart charging: GetCompositeSchedule in a rate unit it "
                                     "does not list (SmartChargingCtrlr.RateUnit) is Accepted "
                                     "instead of Rejected",
    "rejects-negative-limits": "V2X (2.1): SetChargingProfile with a negative limit or "
                               "dischargeLimit is answered Rejected",
    "discharges-wrong-sign": "V2X (2.1): discharges when told to charge and charges when told "
                             "to discharge (sign of setpoints and negative limits flipped)",
    "ignores-idle": "V2X (2.1): keeps power flowing during an Idle operationMode period",
    "accepts-idle-with-limits": "V2X (2.1): Accepts a charging profile whose Idle period "
                                "carries a limit, dischargeLimit or setpoint (must be Rejected)",
    "ignores-evse-sleep": "V2X (2.1): reports SmartChargingCtrlr.SupportsEvseSleep true, yet "
                          "never reports evseSleep true in an Idle period that asks for it",
    "claims-evse-sleep": "V2X (2.1): reports no evseSleep support, yet reports evseSleep true "
                         "in an Idle period that asks for it",
    "ignores-randomized-delay": "V2X (2.1): applies every schedule change at once, ignoring "
                                "the schedule's randomizedDelay",
    "ignores-limit-at-soc": "V2X (2.1): a schedule's limitAtSoC has no effect",
    "never-pulls-dynamic-schedule": "V2X (2.1): never sends PullDynamicScheduleUpdate for a "
                                    "Dynamic profile with a dynUpdateInterval",
    "charging-needs-without-v2x": "V2X (2.1): NotifyEVChargingNeeds of a bidirectional session "
                                  "asks for AC_three_phase without v2xChargingParameters",
    "discharges-after-needs-rejected": "V2X (2.1): discharges on a negative limit or setpoint "
                                       "although the CSMS answered its NotifyEVChargingNeeds "
                                       "Rejected (the session must stay charge-only)",
    "ignores-pulled-update": "V2X (2.1): sends PullDynamicScheduleUpdate but never applies the "
                             "values of an Accepted answer",
    "slow-contactor": "IEC 61851: closes its contactor 5 s after the EV asks for energy (C2) "
                      "and opens it 1 s after the EV stops (C -> B)",
    "wrong-duty-cycle": "IEC 61851: its PWM duty cycle is 10 % (relative) higher than the "
                        "current limit in force calls for",
    "ignores-state-e": "IEC 61851: keeps its contactor closed and power flowing when the "
                       "pilot is shorted (state E) or the EV's diode fails (state F)",
    "ignores-modbus-limit": "energy services: its Modbus energy-management interface accepts "
                            "and reads back a current limit but never applies it",
    "slow-frequency-response": "energy services (2.1 LocalFrequency): reaches full activation "
                               "of its frequency-watt curve only after three times the 30 s "
                               "allowed",
    "no-frequency-response": "energy services (2.1 LocalFrequency): accepts a frequency-watt "
                             "curve but keeps its power at the curve's nominal-frequency value",
    "chademo-overcurrent": "CHAdeMO: delivers 10 % more DC current than the vehicle requests",
    "chademo-ignores-stop": "CHAdeMO: keeps delivering current after the vehicle's normal "
                            "stop request",
    "wrong-volt-var": "grid code: its Q(U) (volt-var) response is half the set curve's (slopes "
                      "and reactive-power limits halved)",
    "trips-in-ride-through": "grid code: disconnects inside the ride-through envelopes "
                             "(under-voltage 0.7 Un / 0.1 s, over-voltage 1.15 Un / 0.05 s, "
                             "RoCoF above half the set immunity)",
    "no-reactive-power": "grid code: accepts every reactive-power setting (Q(U), cos phi(P), "
                         "fixed cos phi, fixed Q) and delivers no reactive power",
    "der-report-differs": "grid code: GetDERControl / ReportDERControl report its DER controls "
                          "otherwise than they were set (curve y values, setpoints and droops "
                          "x 1.2, displacement / 1.2); behaviour unchanged",
    "ignores-freq-watt": "grid code: accepts an OCPP 2.1 FreqWatt (P(f)) curve and reports it "
                         "back, but never caps its feed-in by it",
    "qu-wrong-sign": "grid code: its Q(U) response has the wrong sign (injects reactive power "
                     "where the volt-var curve asks it to absorb, and the reverse)",
    "sunspec-ignores-writes": "grid code: its SunSpec Modbus DER interface accepts setting writes "
                              "(704/705/711) and reads the new values back, but never applies "
                              "them",
    "sunspec-drops-sign": "grid code: its SunSpec Modbus DER interface stores signed setpoints "
                          "(fixed Q, the volt-var curve's Q points) without their sign, reads "
                          "them back and applies them so",
    "wrong-ev-charging-needs": "ISO 15118: NotifyEVChargingNeeds reports 1.5 x the EV's maximum "
                               "current/power and 1.25 x its energy request",
    "session-timeout-not-enforced": "ISO 15118: its SECC never ends a session whose EV stops "
                                    "sending requests (no V2G_SECC_Sequence_Timeout)",
    "schedule-ignores-profiles": "ISO 15118: offers the EV its rating as schedule instead of the "
                                 "operator's charging-profile limits",
    "no-schedule-renegotiation": "ISO 15118: keeps the EV on the old schedule when the operator "
                                 "sends a new charging profile during the session",
    "pnc-authorizes-locally": "ISO 15118: accepts a Plug & Charge contract certificate without "
                              "asking the operator (no Authorize)",
    "exceeds-discharge-limit": "ISO 15118-20 BPT: offers 1.5 x the negotiated maximum "
                               "discharge power in the discharging schedule",
    "no-soc-in-meter-values": "ISO 15118: never reports the state of charge the EV sends in "
                              "its meter values",
    "drops-connection-mid-transaction": "robustness: 6 lab s after a transaction starts its "
                                        "websocket dies (no closing handshake); it queues its "
                                        "transaction messages, stays off line 10 lab s, then "
                                        "reconnects and replays them in order",
    "sends-malformed-frames": "robustness: on the first plug-in of a connection it sends "
                              "invalid JSON, a frame with an unknown message type id and its "
                              "StatusNotification with a schema-violating payload (instead of "
                              "a valid one), then carries on",
    "stops-answering": "robustness: once its boot is accepted it never answers a CALL of the "
                       "central system (the socket stays open, its own messages still go out)",
    "sends-wrong-unique-id": "robustness: once its boot is accepted it answers every CALL of "
                             "the central system with a CALLRESULT carrying another unique id",
    "sends-oversized-frame": "robustness: reports its first plug-in by one StatusNotification "
                             "frame of 1.06 MiB (above the central system's 1 MiB limit), then "
                             "reconnects after the central system closes the link",
    "sends-unknown-action": "robustness: before the StatusNotification of the first plug-in of "
                            "a connection it sends a CALL whose action is not in its OCPP "
                            "version (StartTransaction in 2.x, TransactionEvent in 1.6)",
    "floods-heartbeats": "robustness: after a TriggerMessage for a Heartbeat (once) it sends "
                         "2,000 Heartbeats back to back, each as soon as the last is answered",
}

FIRMWARE_FAULTS: tuple[str, ...] = (
    "firmware-wrong-status-sequence", "firmware-installed-but-old-version",
    "firmware-accepts-invalid-signature", "firmware-bricks-after-failed-download",
    "upload-reported-without-file", "firmware-never-back-after-install",
)
"""Charger faults caught by the firmware and diagnostics suites (suites/firmware)."""

GRIDCODE_VOLTAGE_FAULTS: tuple[str, ...] = ("wrong-volt-var", "trips-in-ride-through",
                                             "no-reactive-power", "qu-wrong-sign",
                                             "der-report-differs", "ignores-freq-watt")
"""Grid-code faults of the voltage, reactive-power, ride-through and RoCoF checks (caught in
tests/selftest/test_gridcode_voltage_faults.py); behaviour in testbench.sim.reactive and
testbench.sim.ride_through."""

GRIDCODE_FAULTS: tuple[str, ...] = ("wrong-droop", "too-slow", "protection-trips-late",
                                     "reconnects-early", "ramps-too-fast",
                                     *GRIDCODE_VOLTAGE_FAULTS)
"""Charger faults caught by the grid-code checks (suites/gridcode); the simulated behaviour
is in testbench.sim.gridcode."""

SUNSPEC_FAULTS: tuple[str, ...] = ("sunspec-ignores-writes", "sunspec-drops-sign")
"""Charger faults caught by the SunSpec settings case (suites/gridcode/
test_sunspec_settings.py; self-test tests/selftest/test_sunspec_faults.py); the simulated
behaviour is in testbench.sim.sunspec."""

SMART_CHARGING_FAULTS: tuple[str, ...] = ("ignores-stack-level", "applies-limit-late",
                                          "overshoots-limit", "wrong-composite-schedule",
                                          "clear-ignores-criteria", "get-profiles-ignores-filter",
                                          "remote-start-accepts-any-profile",
                                          "composite-for-unknown-evse",
                                          "applies-profile-without-smart-charging",
                                          "accepts-unsupported-rate-unit")
"""Charger faults caught by the smart-charging checks (suites/smart_charging); the simulated
behaviour is in testbench.sim.smart."""

V2X_FAULTS: tuple[str, ...] = ("rejects-negative-limits", "discharges-wrong-sign", "ignores-idle",
                               "ignores-randomized-delay", "ignores-limit-at-soc",
                               "never-pulls-dynamic-schedule", "charging-needs-without-v2x",
                               "discharges-after-needs-rejected", "ignores-pulled-update",
                               "accepts-idle-with-limits", "ignores-evse-sleep",
                               "claims-evse-sleep")
"""Charger faults caught by the OCPP 2.1 V2X checks (suites/v2x); the simulated behaviour is
in testbench.sim.v2x_control."""

IEC61851_FAULTS: tuple[str, ...] = ("slow-contactor", "wrong-duty-cycle", "ignores-state-e")
"""Charger faults caught by the control-pilot checks (suites/iec61851); the simulated
behaviour is in testbench.sim.pilot_faults."""

IEC61851_EV_FAULTS: tuple[str, ...] = ("ignores-duty-cycle", "slow-to-follow-duty")
"""EV faults caught by the control-pilot checks (suites/iec61851); the simulated behaviour
is in testbench.sim.ev_personality."""

CHADEMO_FAULTS: tuple[str, ...] = ("chademo-overcurrent", "chademo-ignores-stop")
"""Charger faults caught by the CHAdeMO suite (suites/chademo); the simulated behaviour is
in testbench.sim.chademo."""

CHADEMO_EV_FAULTS: tuple[str, ...] = ("chademo-requests-above-available",
                                      "chademo-ignores-charger-fault",
                                      "chademo-enables-before-charger",
                                      "chademo-faults-on-normal-stop")
"""EV faults caught by the CHAdeMO vehicle suite (suites/chademo/test_chademo_vehicle.py);
the simulated behaviour is in testbench.sim.chademo_vehicle."""

ENERGY_SERVICE_FAULTS: tuple[str, ...] = ("ignores-modbus-limit", "slow-frequency-response",
                                          "no-frequency-response")
"""Charger faults caught by the energy-service scenarios (suites/energy_services); the
simulated behaviour is in testbench.sim.lem and testbench.sim.frequency_service."""

ISO15118_FAULTS: tuple[str, ...] = ("wrong-ev-charging-needs", "session-timeout-not-enforced",
                                     "schedule-ignores-profiles", "no-schedule-renegotiation",
                                     "pnc-authorizes-locally", "exceeds-discharge-limit",
                                     "no-soc-in-meter-values")
"""Charger faults caught by the ISO 15118 suite (suites/iso15118; self-tests in
tests/selftest/test_iso15118_faults.py); the simulated behaviour is in
testbench.sim.iso15118_secc."""

ROBUSTNESS_FAULTS: tuple[str, ...] = ("drops-connection-mid-transaction",
                                      "sends-malformed-frames", "stops-answering",
                                      "sends-wrong-unique-id", "sends-oversized-frame",
                                      "sends-unknown-action", "floods-heartbeats")
"""Charger faults of the fault-injection table (tests/faults/test_fault_table.py: full runs
of suites/ocpp); the simulated behaviour is in testbench.sim.robustness."""

ISO15118_EV_FAULTS: tuple[str, ...] = ("ev-exceeds-schedule", "ev-overstates-limits")
"""EV faults caught by the ISO 15118 EV suite (suites/iso15118/test_ev_sessions.py, the bench
as the charger; self-tests in tests/selftest/test_iso15118_ev_faults.py); the simulated
behaviour is in testbench.sim.iso15118_evcc_host."""

EV_FAULTS: dict[str, str] = {
    "never-requests-energy": "stays in state B after plug-in instead of moving to C",
    "ignores-duty-cycle": "IEC 61851: draws its maximum current whatever duty cycle the "
                          "charger applies",
    "slow-to-follow-duty": "IEC 61851: follows a new duty cycle only after 10 s",
    "chademo-requests-above-available": "CHAdeMO: requests its own maximum current whatever "
                                        "available current the charger announces",
    "chademo-ignores-charger-fault": "CHAdeMO: keeps charging when the charger flags a "
                                     "malfunction",
    "chademo-enables-before-charger": "CHAdeMO: enables charging before the charger has sent "
                                      "its parameters (0x108/0x109)",
    "chademo-faults-on-normal-stop": "CHAdeMO: answers the charger's stop control with its "
                                     "charging-system fault flag",
    "ev-exceeds-schedule": "ISO 15118: plans 1.5 x the charger's PMaxSchedule in its "
                           "ChargingProfile (asks above the schedule)",
    "ev-overstates-limits": "ISO 15118: announces 1.5 x its maximum current and power in its "
                            "charge parameters",
}

INSTRUMENT_FAULTS: dict[str, str] = {
    "garbage": "the simulated instrument answers every query with bytes that are not a reply",
    "silent": "the simulated instrument reads commands but never executes or answers them",
    "error-queue": "every setting command leaves an execution error in the instrument's error "
                   "queue (Modbus: every request gets an exception response)",
    "disconnect": "from options.sim_fault_after_s lab seconds after the simulated lab starts "
                  "(default 0), the instrument drops each connection as soon as a request arrives",
}
"""Fault personalities of simulated instruments: ``options = { sim_fault = "<name>" }`` on a
``[[stations.instruments]]`` entry whose driver has a twin in the simulated lab."""


def unknown_faults(requested: tuple[str, ...], catalogue: dict[str, str]) -> list[str]:
    """The requested fault names that the catalogue does not know."""
    return [name for name in requested if name not in catalogue]
