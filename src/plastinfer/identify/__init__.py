"""Identify the learning rule from observables of trained networks (Nayebi et al. 2020).

Learners (SGD-momentum, Adam, feedback alignment, information alignment) on small
networks and offline tasks; observable statistics of weights, activations and layer-wise
activity changes through training; resumable population sweeps; classifiers and splits.
"""

from ._classify import (CLASSIFIERS, Conv1DClassifier, Features, feature_matrix, make_classifier, rf_importances,
                        score_each, score_holdouts, score_splits, subsample_trajectory)
from ._learners import ARCHITECTURES, RULES, LearnerConfig, train, train_runs
from ._observables import FUNCTIONS, MEASURES, STATISTICS, feature_names, network_observables
from ._population import Measurement, Population, PopulationSpec, generate_population, load_population
from ._tasks import TASKS, load_task

__all__ = ["RULES", "ARCHITECTURES", "TASKS", "CLASSIFIERS", "MEASURES", "FUNCTIONS", "STATISTICS",
           "LearnerConfig", "train", "train_runs", "load_task", "feature_names", "network_observables",
           "PopulationSpec", "Measurement", "Population", "generate_population", "load_population",
           "Features", "feature_matrix", "subsample_trajectory", "make_classifier", "score_splits", "score_each",
           "score_holdouts", "rf_importances", "Conv1DClassifier"]
