"""ISO 15118 sessions with real EXI: the ``iso15118`` package's EVCC and SECC as bench emulators.

``netns`` gives each pairing its own veth link, ``runner`` starts the emulators (in their own
virtual environment, see ``scripts/setup-iso15118.sh``), ``messages`` reads what they
recorded, ``session`` turns it into a :class:`SessionResult` for suites to judge.

In the bench: ``resources`` names where an emulator runs in a lab file (``iface:eth1`` or a
simulated lab's ``netns:<tag>-evcc/v2g-ev``), ``lab_profiles`` makes the EV emulator play a
lab EV, ``consistency`` compares what the EV said over ISO 15118 with what the operator got
over OCPP. The EV emulator driver is ``instruments.drivers.iso15118_evcc``; the simulated
charger's SECC (asking its OCPP side through a bridge) is ``testbench.sim.iso15118_secc``.
"""

from testbench.iso15118.messages import V2GEvent, V2GMessage, read_records, write_evidence
from testbench.iso15118.netns import V2GLink, create_link, netns_problem, remove_leftovers, v2g_link
from testbench.iso15118.runner import (
    ALL_PROTOCOLS,
    EV_PRESETS,
    ChargerParams,
    EvccSettings,
    EVParams,
    Faults,
    Iso15118Install,
    PairSession,
    SchedulePoint,
    SeccSettings,
    V2GProcess,
    ev_preset,
    find_install,
    install_problem,
    make_pki,
    run_session,
    start_evcc,
    start_secc,
)
from testbench.iso15118.session import (
    RoundTrip,
    SessionResult,
    Timings,
    best_common_protocol,
    physical_value,
)

__all__ = [
    "ALL_PROTOCOLS",
    "EV_PRESETS",
    "ChargerParams",
    "EVParams",
    "EvccSettings",
    "Faults",
    "Iso15118Install",
    "PairSession",
    "RoundTrip",
    "SchedulePoint",
    "SeccSettings",
    "SessionResult",
    "Timings",
    "V2GEvent",
    "V2GLink",
    "V2GMessage",
    "V2GProcess",
    "best_common_protocol",
    "create_link",
    "ev_preset",
    "find_install",
    "install_problem",
    "make_pki",
    "netns_problem",
    "physical_value",
    "read_records",
    "remove_leftovers",
    "run_session",
    "start_evcc",
    "start_secc",
    "v2g_link",
    "write_evidence",
]
