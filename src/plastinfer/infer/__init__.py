"""Fitters: trajectory (gradients through rollouts); later meta and adversarial."""

from ._result import FitResult
from .behavior import ChoiceFitConfig, evaluate_choices, fit_choices, stack_rules, unstack_rules
from .trajectory import TrajectoryFitConfig, evaluate, fit_trajectory, truth_rule, weight_error_over_time

__all__ = ["FitResult", "TrajectoryFitConfig", "fit_trajectory", "evaluate", "truth_rule", "weight_error_over_time",
           "ChoiceFitConfig", "fit_choices", "evaluate_choices", "stack_rules", "unstack_rules"]
