"""plastinfer: infer synaptic plasticity rules from activity, behaviour and function (JAX).

The public API; everything else is private. See the README for a tour.
"""

from .analysis import rule_angle, coefficient_conditioning, paired_comparison, percent_deviance_explained, r2_score, compare_rules, comparison_markdown
from .circuits import LateralNetwork, ChoiceCircuit, AbstractCircuit, LayerInput, LayerState, PlasticLayer, circuit_from_spec, rollout, rollouts
from .data import ChoiceDataset, Dataset, load_choice_csv, load_fly_folders, simulate, simulate_choices
from .infer import ActivityGenerator, AdversarialConfig, adversarial_fit, MetaConfig, meta_fit, evaluate_meta, ChoiceFitConfig, evaluate_choices, fit_choices, FitResult, TrajectoryFitConfig, evaluate, fit_trajectory
from .infer._run import load_rule
from .objectives import FunctionTask, GaussianDatasets, SpikingTask, pc_distance
from .circuits import LIFNeuron, InputProtocol, simulate_lif
from .identify import LearnerConfig, PopulationSpec, generate_population, load_population, feature_matrix, score_splits, score_holdouts
from .rules import (
    AbstractRule,
    MLPRule,
    RuleSum,
    Frozen,
    GlobalMLPRule,
    SemiGlobalMLPRule,
    SpikeTraceRule,
    Taylor,
    anti_hebb,
    hebb,
    known_rule,
    oja,
    parse_equation,
    rule_from_spec,
    rule_to_spec,
    vogels_istdp,
)

__version__ = "0.1.0"

__all__ = [
    "AbstractRule",
    "Taylor",
    "MLPRule",
    "RuleSum",
    "Frozen",
    "oja",
    "hebb",
    "anti_hebb",
    "known_rule",
    "rule_from_spec",
    "parse_equation",
    "rule_to_spec",
    "AbstractCircuit",
    "PlasticLayer",
    "LayerState",
    "LayerInput",
    "rollout",
    "rollouts",
    "circuit_from_spec",
    "Dataset",
    "simulate",
    "TrajectoryFitConfig",
    "fit_trajectory",
    "evaluate",
    "FitResult",
    "load_rule",
    "r2_score",
    "compare_rules",
    "LearnerConfig",
    "PopulationSpec",
    "generate_population",
    "load_population",
    "feature_matrix",
    "score_splits",
    "score_holdouts",
    "comparison_markdown",
    "coefficient_conditioning",
    "ChoiceCircuit",
    "ChoiceDataset",
    "load_fly_folders",
    "load_choice_csv",
    "simulate_choices",
    "ChoiceFitConfig",
    "fit_choices",
    "evaluate_choices",
    "percent_deviance_explained",
    "paired_comparison",
    "LateralNetwork",
    "FunctionTask",
    "GaussianDatasets",
    "pc_distance",
    "MetaConfig",
    "meta_fit",
    "evaluate_meta",
    "rule_angle",
    "LIFNeuron",
    "InputProtocol",
    "simulate_lif",
    "SpikingTask",
    "SpikeTraceRule",
    "vogels_istdp",
    "ActivityGenerator",
    "AdversarialConfig",
    "adversarial_fit",
    "SemiGlobalMLPRule",
    "GlobalMLPRule",
]
