"""Objectives on what a circuit computes after plasticity (function meta-learning)."""

from ._function import (
    DIVERGED_LOSS,
    FunctionTask,
    GaussianDatasets,
    InputData,
    firing_rate_error,
    linear_spectrum,
    pc_distance,
    pc_distances,
    pc_objective,
)
from ._spiking import SpikingTask

__all__ = ["SpikingTask", "FunctionTask", "GaussianDatasets", "InputData", "pc_distance", "pc_distances", "pc_objective", "firing_rate_error",
           "linear_spectrum", "DIVERGED_LOSS"]
