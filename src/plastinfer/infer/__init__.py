"""Fitting: one engine (:func:`fit`) under every method.

- **Problems** — *what* is fitted: :class:`ActivityProblem` (recorded activity, Mehta et
  al. 2024), :class:`ChoiceProblem` (choices), :class:`FunctionProblem` (a function
  objective, Confavreux et al. 2020), :class:`AdversarialProblem` (activity
  distributions, Ramesh et al. 2023); all subclass :class:`AbstractProblem`.
- **Strategies** — *how*: :class:`Gradient` (any optax transformation, mini-batches),
  :class:`LBFGS`, :class:`LevenbergMarquardt` (least-squares problems), :class:`Evolution` (any evosax strategy), :class:`Adversarial`.
- **The engine** :func:`fit` — best-so-far parameters, one divergence policy, one history
  format, checkpoint / resume, callbacks, progress.
- **Bandit choice models** — :class:`BanditProblem` fits any choice model per subject:
  the plasticity model (:func:`plasticity_model`) and the reinforcement-learning baselines
  (:func:`baseline_models`: Q-learning variants, win-stay/lose-shift, logistic history
  regression, constant bias); :func:`fit_bandit`, :func:`simulate_bandit`, session splits.
- **Fitters** — thin wrappers that pick a problem and a strategy: :func:`fit_trajectory`,
  :func:`fit_choices`, :func:`meta_fit`, :func:`adversarial_fit`; and their evaluations.
"""

from ._engine import EngineResult, FitInterrupted, fit
from ._problem import DIVERGED, AbstractProblem, coefficient_names, coefficient_vector, rule_equation
from ._result import FitResult
from ._strategies import LBFGS, AbstractStrategy, LevenbergMarquardt, Adversarial, Discriminator, Evolution, Gradient, lazy_rows
from .adversarial import ActivityGenerator, AdversarialConfig, AdversarialProblem, adversarial_fit, wasserstein_per_time
from .bandit import (BanditArrays, BanditFit, BanditProblem, BlockSchedule, fit_bandit, session_folds,
                     session_log_probs, simulate_bandit, split_within, stack_models, unstack_models)
from .baselines import (AbstractChoiceModel, ConstantBias, LogisticHistory, PlasticityModel, QLearning, Readout,
                        WinStayLoseShift, bandit_terms, baseline_models, plasticity_model)
from .compare import DEFAULT_MODELS, ModelComparison, compare_models, model_registry
from .behavior import (ChoiceFitConfig, ChoiceProblem, Choices, choice_problem, evaluate_choices, fit_choices,
                       stack_rules, unstack_rules)
from .meta import FunctionProblem, MetaConfig, evaluate_meta, meta_fit, on_sphere, sphere_profile
from .trajectory import (ActivityProblem, TrajectoryFitConfig, Trajectories, activity_problem, evaluate, fit_trajectory,
                         truth_rule, weight_error_over_time)

__all__ = ["fit", "EngineResult", "FitInterrupted", "FitResult", "DIVERGED", "AbstractProblem", "AbstractStrategy",
           "coefficient_names", "coefficient_vector", "rule_equation",
           "Gradient", "LBFGS", "LevenbergMarquardt", "Evolution", "Adversarial", "Discriminator", "lazy_rows",
           "ActivityProblem", "Trajectories", "ChoiceProblem", "Choices", "FunctionProblem", "AdversarialProblem",
           "TrajectoryFitConfig", "fit_trajectory", "evaluate", "truth_rule", "weight_error_over_time",
           "ChoiceFitConfig", "fit_choices", "choice_problem", "activity_problem", "evaluate_choices", "stack_rules",
           "unstack_rules",
           "MetaConfig", "meta_fit", "evaluate_meta", "on_sphere", "sphere_profile",
           "BanditProblem", "BanditArrays", "BanditFit", "BlockSchedule", "fit_bandit", "simulate_bandit",
           "session_log_probs", "split_within", "session_folds", "stack_models", "unstack_models",
           "AbstractChoiceModel", "QLearning", "WinStayLoseShift", "LogisticHistory", "ConstantBias", "PlasticityModel",
           "Readout", "bandit_terms", "baseline_models", "plasticity_model",
           "compare_models", "ModelComparison", "model_registry", "DEFAULT_MODELS",
           "ActivityGenerator", "AdversarialConfig", "adversarial_fit", "wasserstein_per_time"]
