"""Fitting: one engine (:func:`fit`) under every method.

- **Problems** — *what* is fitted: :class:`ActivityProblem` (recorded activity, Mehta et
  al. 2024), :class:`ChoiceProblem` (choices), :class:`FunctionProblem` (a function
  objective, Confavreux et al. 2020), :class:`AdversarialProblem` (activity
  distributions, Ramesh et al. 2023); all subclass :class:`AbstractProblem`.
- **Strategies** — *how*: :class:`Gradient` (any optax transformation, mini-batches),
  :class:`LBFGS`, :class:`Evolution` (any evosax strategy), :class:`Adversarial`.
- **The engine** :func:`fit` — best-so-far parameters, one divergence policy, one history
  format, checkpoint / resume, callbacks, progress.
- **Fitters** — thin wrappers that pick a problem and a strategy: :func:`fit_trajectory`,
  :func:`fit_choices`, :func:`meta_fit`, :func:`adversarial_fit`; and their evaluations.
"""

from ._engine import EngineResult, FitInterrupted, fit
from ._problem import DIVERGED, AbstractProblem, coefficient_names, coefficient_vector, rule_equation
from ._result import FitResult
from ._strategies import LBFGS, AbstractStrategy, Adversarial, Discriminator, Evolution, Gradient, lazy_rows
from .adversarial import ActivityGenerator, AdversarialConfig, AdversarialProblem, adversarial_fit, wasserstein_per_time
from .behavior import (ChoiceFitConfig, ChoiceProblem, Choices, choice_problem, evaluate_choices, fit_choices,
                       stack_rules, unstack_rules)
from .meta import FunctionProblem, MetaConfig, evaluate_meta, meta_fit
from .trajectory import (ActivityProblem, TrajectoryFitConfig, Trajectories, activity_problem, evaluate, fit_trajectory,
                         truth_rule, weight_error_over_time)

__all__ = ["fit", "EngineResult", "FitInterrupted", "FitResult", "DIVERGED", "AbstractProblem", "AbstractStrategy",
           "coefficient_names", "coefficient_vector", "rule_equation",
           "Gradient", "LBFGS", "Evolution", "Adversarial", "Discriminator", "lazy_rows",
           "ActivityProblem", "Trajectories", "ChoiceProblem", "Choices", "FunctionProblem", "AdversarialProblem",
           "TrajectoryFitConfig", "fit_trajectory", "evaluate", "truth_rule", "weight_error_over_time",
           "ChoiceFitConfig", "fit_choices", "choice_problem", "activity_problem", "evaluate_choices", "stack_rules",
           "unstack_rules",
           "MetaConfig", "meta_fit", "evaluate_meta",
           "ActivityGenerator", "AdversarialConfig", "adversarial_fit", "wasserstein_per_time"]
