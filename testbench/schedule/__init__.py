"""Reference schedule: an independent model of OCPP composite-schedule semantics.

Used to judge a charger's GetCompositeSchedule answer and the measured current or power at
each moment against what its installed charging profiles allow.

>>> profiles = ProfileSet("2.0.1")
>>> profiles.set_charging_profile(set_charging_profile_payload, installed_at_s=clock.now())
>>> ref = composite_schedule(profiles, evse_id=1, start_s=t0, duration_s=900, unit="A",
...                          transactions=[Transaction(evse_id=1, start_s=t_tx, transaction_id="T1")])
>>> ref.limit_at(t0 + 60)                       # judge a measurement
>>> diffs = compare_composite(ref, get_composite_schedule_answer, "2.0.1")
>>> assert not diffs, format_differences(diffs)

What is supported (and the interpretation choices) is described in ``profiles``,
``composite`` and ``compare``; ``Rules`` holds the choices where chargers legitimately differ.
"""

from testbench.schedule.compare import (
    DEFAULT_VALUE_TOL,
    Difference,
    ReportedComposite,
    compare_composite,
    format_differences,
    parse_composite_response,
)
from testbench.schedule.composite import (
    CompositePeriod,
    CompositeSchedule,
    Rules,
    Supply,
    Transaction,
    composite_schedule,
    convert_limit,
    limit_at,
)
from testbench.schedule.profiles import (
    ChargingProfile,
    ChargingSchedule,
    InstalledProfile,
    Kind,
    ProfileConflictError,
    ProfileError,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    check_placement,
    parse_charging_profile,
    parse_remote_start_profile,
    parse_set_charging_profile,
    parse_time,
    wire_purpose,
)
from testbench.schedule.store import ProfileSet

__all__ = [
    "DEFAULT_VALUE_TOL",
    "ChargingProfile",
    "ChargingSchedule",
    "CompositePeriod",
    "CompositeSchedule",
    "Difference",
    "InstalledProfile",
    "Kind",
    "ProfileConflictError",
    "ProfileError",
    "ProfileSet",
    "Purpose",
    "RateUnit",
    "Recurrency",
    "ReportedComposite",
    "Rules",
    "SchedulePeriod",
    "Supply",
    "Transaction",
    "check_placement",
    "compare_composite",
    "composite_schedule",
    "convert_limit",
    "format_differences",
    "limit_at",
    "parse_charging_profile",
    "parse_composite_response",
    "parse_remote_start_profile",
    "parse_set_charging_profile",
    "parse_time",
    "wire_purpose",
]
