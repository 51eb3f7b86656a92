"""plastinfer: infer synaptic plasticity rules from activity, behaviour and function (JAX).

The public API, by group (each group is also a subpackage: ``plastinfer.rules``, …);
everything else is private. See the README for a tour.

- **rules** — how a synapse changes: :class:`Taylor`, :class:`MLPRule`, sums,
  :class:`Frozen`, semi-global and global MLPs, :class:`SpikeTraceRule`, named rules,
  :func:`parse_equation`, specs (:func:`rule_from_spec`, :func:`rule_to_spec`).
- **circuits** — plastic networks in discrete time: :class:`PlasticLayer`,
  :class:`ChoiceCircuit`, :class:`LateralNetwork`, :class:`LIFNeuron`; :func:`rollout`.
- **data** — :class:`Dataset`, :class:`ChoiceDataset` (subjects, sessions, ignored trials),
  loaders (tidy CSV / Parquet tables with a column map, NWB, fly folders), simulators,
  :class:`ActivityGenerator`.
- **objectives** — what a circuit should compute: :class:`FunctionTask`,
  :class:`SpikingTask`.
- **infer** — the engine :func:`fit` (problems × strategies) and the fitters
  :func:`fit_trajectory`, :func:`fit_choices`, :func:`meta_fit`, :func:`adversarial_fit`;
  bandit choice models (plasticity and reinforcement-learning baselines) :func:`fit_bandit`.
- **analysis** — R², deviance, angles, portraits, comparisons.
- **identify** — which learning rule trained a network (Nayebi et al. 2020).
- **uncertainty** — how much to believe a fit: :func:`posterior` (Laplace or NUTS),
  :func:`laplace`, :func:`nuts`, hierarchical pooling across subjects; intervals, sign
  probabilities, AIC/BIC, WAIC/LOO, which coefficient combinations the data determine.
- **runs** — run folders: :class:`RunFolder` (staged, never destroys what it did not write), :func:`load_rule`, :func:`save_rule`, :func:`write_run`.
- **errors** — one error type per kind of user mistake.
"""

# rules
from .rules import (AbstractRule, Frozen, GlobalMLPRule, MLPRule, RuleSum, SemiGlobalMLPRule, SpikeTraceRule, Taylor,
                    anti_hebb, hebb, known_rule, oja, parse_equation, rule_from_spec, rule_from_vector, rule_to_spec,
                    rule_vector, vogels_istdp)
# circuits
from .circuits import (AbstractCircuit, BanditCircuit, ChoiceCircuit, InputProtocol, LateralNetwork, LayerInput, LayerState,
                       LIFNeuron, PlasticLayer, circuit_from_spec, lif_realisation, rollout, rollouts, simulate_lif)
# data
from .data import (ActivityGenerator, ChoiceColumns, ChoiceDataset, Dataset, choice_inputs, covariance_sqrt,
                   load_choice_csv, load_choice_nwb, load_choice_table, load_fly_folders, simulate, simulate_choices)
# objectives
from .objectives import FunctionTask, GaussianDatasets, SpikingTask, pc_distance
# infer: the engine, its problems and strategies, and the fitters
from .infer import (LBFGS, AbstractProblem, LevenbergMarquardt, AbstractStrategy, ActivityProblem, Adversarial, AdversarialConfig,
                    AdversarialProblem, ChoiceFitConfig, ChoiceProblem, EngineResult, Evolution, FitInterrupted,
                    FitResult,
                    FunctionProblem, Gradient, MetaConfig, TrajectoryFitConfig, adversarial_fit, evaluate,
                    evaluate_choices, evaluate_meta, fit, fit_choices, fit_trajectory, meta_fit, rule_equation,
                    BanditProblem, BlockSchedule, ConstantBias, LogisticHistory, PlasticityModel, QLearning,
                    WinStayLoseShift, baseline_models, compare_models, fit_bandit, plasticity_model, session_folds,
                    simulate_bandit, split_within)
# analysis
from .analysis import (coefficient_conditioning, compare_rules, comparison_markdown, paired_comparison,
                       percent_deviance_explained, r2_score, rule_angle)
# uncertainty
from .uncertainty import (Laplace, Posterior, hierarchical, hierarchical_from_samples, hierarchical_laplace, laplace,
                          make_target, nuts, posterior, population_summary)
# identify
from .identify import (LearnerConfig, Measurement, PopulationSpec, feature_matrix, generate_population,
                       load_population, rf_importances, score_holdouts, score_splits, subsample_trajectory)
# runs and errors
from .runs import RunFolder, load_rule, save_rule, write_run
from .errors import ConfigError, DatasetError, PlastinferInputError
from .runs import RunExistsError

__version__ = "0.1.0"

__all__ = [
    # rules
    "AbstractRule", "Taylor", "MLPRule", "RuleSum", "Frozen", "SemiGlobalMLPRule", "GlobalMLPRule", "SpikeTraceRule",
    "oja", "hebb", "anti_hebb", "vogels_istdp", "known_rule", "parse_equation", "rule_from_spec", "rule_to_spec",
    "rule_vector", "rule_from_vector",
    # circuits
    "AbstractCircuit", "BanditCircuit", "PlasticLayer", "LayerState", "LayerInput", "ChoiceCircuit", "LateralNetwork", "LIFNeuron",
    "InputProtocol", "lif_realisation", "simulate_lif", "rollout", "rollouts", "circuit_from_spec",
    # data
    "Dataset", "ChoiceDataset", "simulate", "simulate_choices", "load_fly_folders", "load_choice_csv", "choice_inputs",
    "load_choice_table", "load_choice_nwb", "ChoiceColumns",
    "ActivityGenerator", "covariance_sqrt",
    # objectives
    "FunctionTask", "GaussianDatasets", "SpikingTask", "pc_distance",
    # infer
    "fit", "EngineResult", "FitInterrupted", "FitResult", "AbstractProblem", "AbstractStrategy", "ActivityProblem", "ChoiceProblem",
    "FunctionProblem", "AdversarialProblem", "Gradient", "LBFGS", "LevenbergMarquardt", "Evolution", "Adversarial",
    "TrajectoryFitConfig", "fit_trajectory", "evaluate", "ChoiceFitConfig", "fit_choices", "evaluate_choices",
    "MetaConfig", "meta_fit", "evaluate_meta", "AdversarialConfig", "adversarial_fit", "rule_equation",
    "BanditProblem", "BlockSchedule", "QLearning", "WinStayLoseShift", "LogisticHistory", "ConstantBias",
    "PlasticityModel", "baseline_models", "plasticity_model", "fit_bandit", "simulate_bandit", "split_within",
    "session_folds", "compare_models",
    # analysis
    "r2_score", "percent_deviance_explained", "paired_comparison", "rule_angle", "coefficient_conditioning",
    "compare_rules", "comparison_markdown",
    # uncertainty
    "Laplace", "laplace", "Posterior", "posterior", "nuts", "hierarchical", "hierarchical_laplace",
    "hierarchical_from_samples", "population_summary", "make_target",
    # identify
    "LearnerConfig", "PopulationSpec", "Measurement", "generate_population", "load_population", "feature_matrix",
    "score_splits", "score_holdouts", "rf_importances", "subsample_trajectory",
    # runs, errors
    "RunFolder", "load_rule", "save_rule", "write_run", "PlastinferInputError", "DatasetError", "ConfigError", "RunExistsError",
]
