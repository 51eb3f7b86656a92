"""Fitters: trajectory (gradients through rollouts); meta (function objectives); adversarial (GAN on activity distributions)."""

from ._result import FitResult
from .adversarial import ActivityGenerator, AdversarialConfig, Discriminator, adversarial_fit
from .behavior import ChoiceFitConfig, evaluate_choices, fit_choices, stack_rules, unstack_rules
from .meta import MetaConfig, evaluate_meta, meta_fit
from .trajectory import TrajectoryFitConfig, evaluate, fit_trajectory, truth_rule, weight_error_over_time

__all__ = ["FitResult", "TrajectoryFitConfig", "fit_trajectory", "evaluate", "truth_rule", "weight_error_over_time",
           "ChoiceFitConfig", "fit_choices", "evaluate_choices", "stack_rules", "unstack_rules", "MetaConfig", "meta_fit", "evaluate_meta",
           "ActivityGenerator", "AdversarialConfig", "Discriminator", "adversarial_fit"]
