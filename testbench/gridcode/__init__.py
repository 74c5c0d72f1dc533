"""Grid-code compliance: national parameter sets and stimulus programs for the grid emulator.

>>> params = load_parameter_set("vde-4105")
>>> params.lfsm_o.threshold_hz, params.protection["81>"].trip_time_s
>>> program = frequency_steps([50.0, 50.7, 50.0], dwell_s=30.0, voltage_v=230.0)
"""

from testbench.gridcode.params import (
    Curve,
    FrequencyBand,
    GridCodeParameters,
    ParameterSetError,
    ProtectionStage,
    UnknownParameterError,
    Value,
    list_parameter_sets,
    load_parameter_set,
)
from testbench.gridcode.stimulus import (
    Segment,
    StimulusBuilder,
    StimulusProgram,
    frequency_ramp,
    frequency_steps,
    outage_and_restore,
    ride_through,
    voltage_steps,
)
from testbench.gridcode.stimulus_run import (
    PointOptions,
    StimulusRun,
    run_stimulus,
    start_stimulus,
)

__all__ = [
    "Curve",
    "FrequencyBand",
    "GridCodeParameters",
    "ParameterSetError",
    "PointOptions",
    "ProtectionStage",
    "Segment",
    "StimulusBuilder",
    "StimulusProgram",
    "StimulusRun",
    "UnknownParameterError",
    "Value",
    "frequency_ramp",
    "frequency_steps",
    "list_parameter_sets",
    "load_parameter_set",
    "outage_and_restore",
    "ride_through",
    "run_stimulus",
    "start_stimulus",
    "voltage_steps",
]
