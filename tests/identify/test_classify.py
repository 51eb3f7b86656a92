import numpy as np
import pytest

from plastinfer._errors import ConfigError
from plastinfer.identify._classify import feature_matrix, make_classifier, score_holdouts, score_splits
from plastinfer.identify._learners import RULES
from plastinfer.identify._observables import feature_names
from plastinfer.identify._population import Population


PLANTED = ("weight_raw_median", "weight_raw_mean", "weight_sq_norm", "weight_abs_q3")


def _population(planted: bool, n_networks: int = 48, n_ck: int = 6, seed: int = 0) -> Population:
    """Networks of 2 layers; when ``planted``, the rule shifts one statistic's trajectory."""
    rng = np.random.default_rng(seed)
    names = feature_names()
    rules = np.repeat(np.array(RULES), n_networks // 4)
    feats, cols = [], {"rule": [], "network": [], "position": [], "layer": [], "arch": []}
    for i, r in enumerate(rules):
        for layer in range(2):
            f = rng.standard_normal((n_ck, len(names)))
            if planted:  # each rule raises its own statistic: separable one-vs-rest
                f[:, names.index(PLANTED[RULES.index(r)])] += 4.0
            feats.append(f)
            cols["rule"].append(r)
            cols["network"].append(f"net{i}")
            cols["position"].append(("early", "deep")[layer])
            cols["layer"].append(layer)
            cols["arch"].append(("a", "b")[i % 2])
    return Population(np.asarray(feats, np.float32), names, {k: np.asarray(v) for k, v in cols.items()},
                      np.zeros((len(feats), n_ck, 2), np.float32))


@pytest.mark.parametrize("classifier", ["svm", "random_forest", "conv1d"])
def test_planted_observables_are_separated_and_shuffled_labels_are_at_chance(classifier):
    f = feature_matrix(_population(True), measures=("weight",))
    grid = "none" if classifier == "conv1d" else "small"
    res = score_splits(f, classifier, n_splits=2, grouped=True, grid=grid)
    assert res["mean"] >= 0.95 and res["confusion"].sum() == 2 * 24
    noise = feature_matrix(_population(False, seed=1), measures=("weight",))
    chance = score_splits(noise, classifier, n_splits=3, grid="none")
    assert chance["mean"] < 0.5  # 4 balanced classes: 0.25 expected


def test_feature_matrix_selects_measures_checkpoints_and_drops_divergent_statistics():
    pop = _population(True)
    pop.features[0, 0, pop.feature_names.index("act_raw_kurtosis")] = np.nan
    f = feature_matrix(pop, measures=("act",), checkpoints=[0, 5])
    assert "act_raw_kurtosis" not in f.names and all(n.startswith("act_") for n in f.names)
    assert f.X.shape == (pop.n_rows, 2 * len(f.names) + 3)
    assert set(feature_matrix(pop, measures=("gradavg",)).names) == {"gradavg_raw", "gradavg_abs", "gradavg_sq"}
    with pytest.raises(ConfigError, match="unknown measures"):
        feature_matrix(pop, measures=("spikes",))
    with pytest.raises(ConfigError, match="classifier"):
        make_classifier("knn")


def test_holdout_of_an_architecture_generalises_when_the_signal_is_shared():
    pop = _population(True)
    f = feature_matrix(pop, measures=("weight",))
    acc = score_holdouts(f, pop.factors["arch"], "random_forest")
    assert set(acc) == {"a", "b"} and min(acc.values()) >= 0.9
