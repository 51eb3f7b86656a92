"""Fitters: trajectory (gradients through rollouts); later meta and adversarial."""

from ._result import FitResult
from .trajectory import TrajectoryFitConfig, evaluate, fit_trajectory, truth_rule, weight_error_over_time

__all__ = ["FitResult", "TrajectoryFitConfig", "fit_trajectory", "evaluate", "truth_rule", "weight_error_over_time"]
