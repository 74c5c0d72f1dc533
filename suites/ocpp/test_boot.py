"""Boot: the charger announces itself truthfully and respects the central system's answer."""

from __future__ import annotations

import pytest

from testbench.procedures import ocpp

REBOOT_WITHIN_S = 60.0
STATUS_AFTER_BOOT_WITHIN_S = 30.0


@pytest.mark.testcase(v16="TC_001_CS", v201="TC_B_01_CS", v21="TC_B_01_CS")
def test_boot_accepted(charger, csms, station):
    """After a power cycle the charger boots with its inventory identity, then reports its connectors."""
    csms.set_boot_policy(charger.id, "Accepted")
    station.power_cycle_charger()

    boot = charger.expect("BootNotification", REBOOT_WITHIN_S)
    vendor, model, firmware = ocpp.boot_identity(charger, boot.payload)
    spec = charger.spec
    assert (vendor, model) == (spec.vendor, spec.model), (
        f"charger announced itself as {vendor} {model}, inventory says {spec.vendor} {spec.model}")
    assert firmware == spec.firmware, (
        f"charger announced firmware {firmware!r}, inventory (lab.toml) says {spec.firmware!r}: "
        "the matrix would attribute results to the wrong firmware")
    ocpp.expect_connector_status(charger, "Available", STATUS_AFTER_BOOT_WITHIN_S)


@pytest.mark.testcase(v16="TC_002_CS", v201="TC_B_02_CS", v21="TC_B_02_CS")
def test_boot_pending_then_accepted(charger, csms, station):
    """While its boot is Pending the charger sends nothing but the boot, and retries it."""
    csms.set_boot_policy(charger.id, "Pending", pending_boots=1)
    station.power_cycle_charger()

    first = charger.expect("BootNotification", REBOOT_WITHIN_S)
    second = charger.expect("BootNotification", REBOOT_WITHIN_S)
    forbidden = ocpp.non_boot_requests(charger)
    sent_while_pending = [m for m in charger.messages()
                          if m.action in forbidden and first.lab_s < m.lab_s < second.lab_s]
    assert not sent_while_pending, (
        f"while its boot was Pending the charger sent {sent_while_pending[0].action} "
        f"({len(sent_while_pending)} request(s) in all); it may only retry the BootNotification")
    ocpp.expect_connector_status(charger, "Available", STATUS_AFTER_BOOT_WITHIN_S)
