import numpy as np
import pytest

from plastinfer.errors import ConfigError
from hypothesis import given, settings
from hypothesis import strategies as st

from plastinfer.identify._classify import (feature_matrix, make_classifier, rf_importances, score_each, score_holdouts,
                                          score_splits,
                                          subsample_trajectory)
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


def test_score_each_in_worker_processes_equals_score_splits_one_set_at_a_time():
    sets = [feature_matrix(_population(planted, n_networks=24, seed=seed), measures=("weight",))
            for planted, seed in ((True, 0), (False, 1), (True, 2))]
    got = list(score_each(sets, "random_forest", seeds=[3, 4, 5], n_jobs=2, n_splits=2, grid="none"))
    for f, seed, r in zip(sets, (3, 4, 5), got):
        want = score_splits(f, "random_forest", seed=seed, n_splits=2, grid="none")
        np.testing.assert_array_equal(r["accuracy"], want["accuracy"])  # same forests, in the same order
        np.testing.assert_array_equal(r["confusion"], want["confusion"])
    assert got[0]["mean"] > got[1]["mean"]  # planted vs noise: the order is kept
    with pytest.raises(ConfigError, match="2 seeds for 3 feature sets"):
        list(score_each(sets, seeds=[0, 1]))


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


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(1, 8), st.integers(1, 6), st.integers(0, 1000))
def test_trajectory_subsamples_are_evenly_spaced_and_inside_the_trajectory(n_ck, n_samples, period, seed):
    if (n_samples - 1) * period >= n_ck:
        with pytest.raises(ConfigError, match="do not fit"):
            subsample_trajectory(5, n_ck, n_samples, period, seed)
        return
    idx = subsample_trajectory(50, n_ck, n_samples, period, seed)
    assert idx.shape == (50, n_samples) and idx.min() >= 0 and idx.max() < n_ck
    assert np.all(np.diff(idx, axis=1) == period)
    if n_ck - (n_samples - 1) * period > 1:  # more than one admissible start: examples differ
        assert len(set(idx[:, 0])) > 1


def test_per_example_checkpoints_pick_each_examples_own_samples():
    pop = _population(True, n_ck=9)
    idx = subsample_trajectory(pop.n_rows, 9, 3, 2, seed=2)  # starts 0 … 4
    f = feature_matrix(pop, ("weight",), checkpoints=idx)
    keep = [pop.feature_names.index(n) for n in f.names]
    r = 5
    expect = pop.features[r][idx[r]][:, keep].ravel()
    np.testing.assert_array_equal(f.X[r, :-3], expect)
    assert f.n_checkpoints == 3
    with pytest.raises(ConfigError, match="per-example"):
        feature_matrix(pop, ("weight",), checkpoints=idx[:-1])
    with pytest.raises(ConfigError, match="indices"):
        feature_matrix(pop, ("weight",), checkpoints=[0, 9])


def test_testing_on_other_features_of_the_same_examples():
    """Trained and tested on the same features, the transfer score is the plain score; tested
    on features where the planted signal is gone, it falls to chance."""
    pop = _population(True)
    f = feature_matrix(pop, ("weight",))
    same = score_splits(f, "random_forest", n_splits=2, grid="none", test_features=f)
    assert same["mean"] == score_splits(f, "random_forest", n_splits=2, grid="none")["mean"]
    blank = _population(False, seed=3)
    blank.factors["rule"][:] = pop.factors["rule"]
    gone = score_splits(f, "random_forest", n_splits=2, grid="none", test_features=feature_matrix(blank, ("weight",)))
    assert same["mean"] >= 0.95 and gone["mean"] < 0.5
    with pytest.raises(ConfigError, match="same examples"):
        score_splits(f, test_features=feature_matrix(pop, ("weight",), rows=np.arange(pop.n_rows) < 10))


def test_importances_single_out_the_planted_statistics():
    pop = _population(True)
    imp = rf_importances(feature_matrix(pop, ("weight",)), n_splits=2, grid="none", n_repeats=2)
    names = imp["names"]
    planted = [names.index(n) for n in PLANTED]
    others = [i for i in range(len(names)) if i not in planted]
    assert len(names) == 21 + 3 and imp["gini_mean"].shape == (24,) and np.all(imp["gini_sem"] >= 0)
    # per tree, importances sum to 1 over all columns, hence over the groups
    assert imp["gini_mean"].sum() == pytest.approx(1.0, abs=1e-6)
    assert imp["gini_mean"][planted].min() > 5 * imp["gini_mean"][others].max()
    assert imp["permutation_mean"][planted].min() > 0.1 and np.abs(imp["permutation_mean"][others]).max() < 0.05


def test_conv1d_fits_of_one_shape_share_one_compiled_trainer():
    from plastinfer.identify._classify import Conv1DClassifier, _conv_trainer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6 * 5 + 3)).astype(np.float32)
    y = np.arange(40) % 4
    _conv_trainer.cache_clear()
    a = Conv1DClassifier(n_checkpoints=6, epochs=3, seed=0).fit(X, y)
    b = Conv1DClassifier(n_checkpoints=6, epochs=3, seed=1).fit(X, y)  # same shape: reused
    assert _conv_trainer.cache_info().hits == 1 and _conv_trainer.cache_info().misses == 1
    Conv1DClassifier(n_checkpoints=6, epochs=3, pool="avg").fit(X, y)  # another model: compiled anew
    assert _conv_trainer.cache_info().misses == 2
    # the shared trainer starts every fit from its own seed's model
    assert not np.allclose(np.asarray(a.model_[1].weight), np.asarray(b.model_[1].weight))
