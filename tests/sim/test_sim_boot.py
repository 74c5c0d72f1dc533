"""Boot, heartbeat and the READY line of the simulated lab."""

from __future__ import annotations

from itertools import pairwise

import pytest
from sim_fleet import HEARTBEAT_S, PENDING_RETRY_S, VERSIONS, SimLab, charger_defs
from sim_harness import statuses, wait_for_status


def test_ready_line_maps_every_twin(simlab: SimLab) -> None:
    ready = simlab.ready
    assert set(ready) >= {"twins", "instruments"}
    boxes = sum(c.evse_count for c in charger_defs())
    assert len(ready["twins"]) == boxes  # port 0: one twin per instrument
    assert len(simlab.ports) == boxes and "multi-16-e2" in simlab.ports
    assert all(isinstance(p, int) and p > 0 for p in simlab.ports.values())


@pytest.mark.parametrize("tag", VERSIONS)
def test_boot_reports_identity_then_connectors(simlab: SimLab, tag: str) -> None:
    csms, charger = simlab.csms, f"hb-{tag}"
    boot = csms.wait(charger, "BootNotification")
    if tag == "16":
        assert boot.payload == {"chargePointVendor": "Testco", "chargePointModel": "M-1.6",
                                "firmwareVersion": "1.2.3"}
    else:
        assert boot.payload["chargingStation"] == {
            "vendorName": "Testco", "model": f"M-{VERSIONS[tag]}", "firmwareVersion": "1.2.3"}
        assert boot.payload["reason"] == "PowerUp"
    wait_for_status(csms, charger, "Available")
    reported = csms.requests(charger, "StatusNotification")
    connector_ids = sorted(f.payload["connectorId"] for f in reported)
    assert connector_ids == ([0, 1] if tag == "16" else [1])
    first_other = min(f.wall_s for f in csms.requests(charger) if f.action != "BootNotification")
    assert first_other >= boot.wall_s


@pytest.mark.parametrize("tag", VERSIONS)
def test_heartbeat_follows_boot_interval(simlab: SimLab, tag: str) -> None:
    csms, charger = simlab.csms, f"hb-{tag}"
    beats = [csms.wait(charger, "Heartbeat", count=n, timeout_s=15) for n in (1, 2, 3, 4)]
    gaps = [csms.lab_s(b) - csms.lab_s(a) for a, b in pairwise(beats)]
    assert all(0.7 * HEARTBEAT_S <= g <= 1.4 * HEARTBEAT_S for g in gaps), gaps


def test_wrong_heartbeat_interval_fault_doubles_it(simlab: SimLab) -> None:
    csms, charger = simlab.csms, "f-wrong-heartbeat-interval"
    beats = [csms.wait(charger, "Heartbeat", count=n, timeout_s=15) for n in (1, 2, 3)]
    gaps = [csms.lab_s(b) - csms.lab_s(a) for a, b in pairwise(beats)]
    assert all(1.6 * HEARTBEAT_S <= g <= 2.5 * HEARTBEAT_S for g in gaps), gaps


@pytest.mark.parametrize("tag", VERSIONS)
def test_pending_boot_sends_only_boots_until_accepted(simlab: SimLab, tag: str) -> None:
    csms, charger = simlab.csms, f"pend-{tag}"
    first = csms.wait(charger, "BootNotification")
    second = csms.wait(charger, "BootNotification", count=2, timeout_s=15)
    between = [f for f in csms.requests(charger) if first.wall_s < f.wall_s < second.wall_s]
    assert between == []
    assert csms.lab_s(second) - csms.lab_s(first) >= 0.8 * PENDING_RETRY_S
    wait_for_status(csms, charger, "Available")
    assert csms.requests(charger, "StatusNotification")[0].wall_s > second.wall_s


def test_ignores_boot_pending_fault_talks_while_pending(simlab: SimLab) -> None:
    csms, charger = simlab.csms, "f-ignores-boot-pending"
    first = csms.wait(charger, "BootNotification")
    second = csms.wait(charger, "BootNotification", count=2, timeout_s=15)
    between = {f.action for f in csms.requests(charger) if first.wall_s < f.wall_s < second.wall_s}
    assert between == {"StatusNotification", "Heartbeat"}


def test_wrong_firmware_fault(simlab: SimLab) -> None:
    boot = simlab.csms.wait("f-boots-with-wrong-firmware", "BootNotification")
    assert boot.payload["chargingStation"]["firmwareVersion"] == "1.2.3-rc1"
    conformant = simlab.csms.wait("hb-201", "BootNotification")
    assert conformant.payload["chargingStation"]["firmwareVersion"] == "1.2.3"


def test_basic_auth_header_sent_for_security_profile_1(simlab: SimLab) -> None:
    from sim_fleet import AUTH_PASSWORD
    from sim_harness import basic_auth

    simlab.csms.wait("auth-16", "BootNotification")
    assert simlab.csms.auth_headers["auth-16"] == basic_auth("auth-16", AUTH_PASSWORD)
    assert simlab.csms.auth_headers["hb-16"] is None
    assert statuses(simlab.csms, "auth-16") or True
