import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from plastinfer.identify._learners import apply_layer, init_params, layers_for, transport
from plastinfer.identify._observables import (FUNCTIONS, STATISTICS, _fn, feature_names, function_statistics,
                                              layer_observables, statistics)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False, width=32), min_size=3, max_size=40))
def test_each_statistic_equals_its_numpy_scipy_definition(values):
    v = np.asarray(values, np.float64)
    got = dict(zip(STATISTICS, np.asarray(statistics(jnp.asarray(v, jnp.float32)), np.float64)))
    scale = max(1.0, np.abs(v).max())
    assert got["norm"] == pytest.approx(np.linalg.norm(v), rel=1e-4, abs=1e-4 * scale)
    assert got["mean"] == pytest.approx(v.mean(), rel=1e-4, abs=1e-4 * scale)
    assert got["var"] == pytest.approx(v.var(), rel=1e-3, abs=1e-4 * scale ** 2)
    assert got["median"] == pytest.approx(np.median(v), rel=1e-5, abs=1e-5 * scale)
    assert got["q3"] == pytest.approx(np.percentile(v, 75), rel=1e-5, abs=1e-5 * scale)
    if v.std() > 1e-2 * scale:
        assert got["skew"] == pytest.approx(3 * (v.mean() - np.median(v)) / v.std(), rel=1e-3, abs=1e-3)
        assert got["kurtosis"] == pytest.approx(sps.kurtosis(v, fisher=False), rel=1e-3)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([2, 3, 7, 8]), st.integers(0, 2**31 - 1), st.booleans())
def test_function_statistics_equal_the_statistics_of_each_function(n, seed, ties):
    # two sorts for three functions: sorted |v| squared stands for sorted v². Odd and even
    # lengths (the median and q3 fall on an element or between two); few shapes, few compiles
    rows = 3
    v = np.random.default_rng(seed).normal(size=(rows, n)).astype(np.float32)
    if ties:  # repeated values and exact zeros (a silent ReLU)
        v = np.round(v) * (v > 0)
    got = np.asarray(function_statistics(jnp.asarray(v)))
    assert got.shape == (rows, len(FUNCTIONS), len(STATISTICS))
    for r in range(rows):
        want = np.stack([np.asarray(statistics(_fn(jnp.asarray(v[r]), f))) for f in FUNCTIONS])
        np.testing.assert_allclose(got[r], want, rtol=1e-5, atol=1e-6)


def test_constant_measures_have_undefined_shape_statistics():
    s = dict(zip(STATISTICS, np.asarray(statistics(jnp.ones(10)))))
    assert np.isnan(s["skew"]) and np.isnan(s["kurtosis"]) and s["mean"] == 1.0


def test_layer_observables_match_direct_computation_for_a_dense_layer():
    layers = layers_for("mlp1x64", (5,), 3)
    p = init_params(layers, jax.random.PRNGKey(0))[0]
    x = jax.random.normal(jax.random.PRNGKey(1), (9, 5))
    f = dict(zip(feature_names(), np.asarray(layer_observables(layers[0], p, x, path="rule"))))
    w = np.asarray(p["W"])
    assert f["weight_sq_mean"] == pytest.approx(np.mean(w ** 2), rel=1e-5)
    y = np.asarray(apply_layer(layers[0], p, x))
    assert f["act_abs_norm"] == pytest.approx(np.mean(np.linalg.norm(y, axis=1)), rel=1e-5)
    # true Jacobian of relu(Wx + b): Σ_i Σ_j 1[z_i > 0] W_ij / n_out per example
    z = np.asarray(x) @ w.T + np.asarray(p["b"])
    g_true = ((z > 0) @ w).sum(axis=1) / w.shape[0]
    assert f["gradavg_raw"] == pytest.approx(g_true.mean(), rel=1e-4)
    assert f["gradavg_sq"] == pytest.approx(np.mean(g_true ** 2), rel=1e-4)
    # through B: Σ_i Σ_j 1[z_i > 0] B_ji / n_out — differs unless B = Wᵀ
    g_rule = ((z > 0) @ np.asarray(p["B"]).T).sum(axis=1) / w.shape[0]
    assert f["gradavg_rule_raw"] == pytest.approx(g_rule.mean(), rel=1e-4)
    q = dict(p, B=transport(layers[0], p["W"]))
    f2 = dict(zip(feature_names(), np.asarray(layer_observables(layers[0], q, x, path="rule"))))
    assert f2["gradavg_rule_raw"] == pytest.approx(f2["gradavg_raw"], rel=1e-5)


def test_unit_subsampling_and_noise_change_the_features_in_the_expected_direction():
    layers = layers_for("mlp1x64", (20,), 3)
    p = init_params(layers, jax.random.PRNGKey(0))[0]
    x = jax.random.normal(jax.random.PRNGKey(1), (64, 20))
    names = feature_names()
    full = dict(zip(names, np.asarray(layer_observables(layers[0], p, x))))
    sub = dict(zip(names, np.asarray(layer_observables(layers[0], p, x, unit_frac=0.25))))
    noisy = dict(zip(names, np.asarray(layer_observables(layers[0], p, x, noise_std=5.0))))
    # a quarter of the weights: the norm shrinks by about √4; the mean square stays
    assert sub["weight_raw_norm"] == pytest.approx(full["weight_raw_norm"] / 2, rel=0.2)
    assert sub["weight_sq_mean"] == pytest.approx(full["weight_sq_mean"], rel=0.3)
    # noise of σ = 5 adds σ² to the mean square of the weights
    assert noisy["weight_sq_mean"] == pytest.approx(full["weight_sq_mean"] + 25.0, rel=0.1)


def test_observables_grid_agrees_with_one_measurement_at_a_time():
    """The vmapped grid (traced noise level, one compile per unit fraction) gives what
    network_observables gives for each measurement alone; σ = 0 with every unit is the
    perfect recording."""
    from plastinfer.identify._observables import network_observables, observables_grid

    layers = layers_for("mlp1x64", (20,), 3)
    params = init_params(layers, jax.random.PRNGKey(0))
    ck = jax.tree_util.tree_map(lambda a: jnp.stack([a, 1.5 * a]), params)  # 2 checkpoints
    x = jax.random.normal(jax.random.PRNGKey(1), (32, 20))
    path = jnp.asarray(False)
    perfect = network_observables(layers, ck, x, path=path)
    keys = jnp.stack([jax.random.PRNGKey(3), jax.random.PRNGKey(4)])
    grid = observables_grid(layers, ck, x, jnp.array([0.0, 0.5]), keys, path=path, unit_frac=0.5)
    alone = network_observables(layers, ck, x, path=path, noise_std=0.5, unit_frac=0.5, key=jax.random.PRNGKey(4))
    np.testing.assert_allclose(np.asarray(grid[1]), np.asarray(alone), rtol=1e-5, atol=1e-6)
    full = observables_grid(layers, ck, x, jnp.array([0.0]), keys[:1], path=path)
    np.testing.assert_allclose(np.asarray(full[0]), np.asarray(perfect), rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(grid[0]), np.asarray(perfect))  # half the units: other statistics
