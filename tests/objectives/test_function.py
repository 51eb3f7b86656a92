import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastinfer import PlasticLayer, Taylor, oja
from plastinfer.objectives import DIVERGED_LOSS, FunctionTask, GaussianDatasets, pc_distance


def _task(n=3, steps=150, datasets=8):
    return FunctionTask(PlasticLayer(n, 1, "linear", eta=1 / 20, init_std=0.1), GaussianDatasets(n), n_steps=steps,
                        n_datasets=datasets)


def test_datasets_have_the_requested_spectrum_and_orthonormal_pcs():
    spec = GaussianDatasets(20, n_samples=20000, top=(1.0, 0.5), floor=0.1)
    d = spec.sample(jax.random.PRNGKey(0), 3)
    assert d.x.shape == (3, 20000, 20) and d.pcs.shape == (3, 2, 20)
    np.testing.assert_allclose(np.asarray(d.variances), [[1.0, 0.5]] * 3, rtol=0.05)
    gram = np.einsum("dij,dkj->dik", d.pcs, d.pcs)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(2), (3, 2, 2)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(d.x.mean(axis=1)), 0.0, atol=1e-5)
    # the rotation differs between data sets
    assert abs(float(d.pcs[0, 0] @ d.pcs[1, 0])) < 0.9


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(2, 8), st.integers(0, 2**31 - 1))
def test_pc_distance_is_sign_invariant_and_zero_at_the_pcs(m, n, seed):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    w = jax.random.normal(k1, (m, n))
    pcs = jax.random.normal(k2, (m, n))
    signs = jnp.where(jax.random.bernoulli(k3, 0.5, (m, 1)), 1.0, -1.0)
    assert float(pc_distance(w, pcs)) == pytest.approx(float(pc_distance(w, signs * pcs)), rel=1e-6)
    assert float(pc_distance(signs * pcs, pcs)) == pytest.approx(0.0, abs=1e-6)
    # each term is the smaller of the two distances
    expect = sum(min(np.linalg.norm(w[i] - pcs[i]), np.linalg.norm(w[i] + pcs[i])) for i in range(m))
    assert float(pc_distance(w, pcs)) == pytest.approx(expect, rel=1e-5)


def test_oja_scores_far_better_than_random_rules():
    task = _task()
    loss = jax.jit(task.loss)
    key = jax.random.PRNGKey(0)
    oja_loss = float(loss(oja(), key))
    random = [float(loss(Taylor.init(jax.random.PRNGKey(i), scale=0.1), key)) for i in range(5)]
    assert oja_loss < 0.01  # Oja converges to ±PC1, unit norm
    assert min(random) > 10 * oja_loss, random


def test_a_diverging_rule_gets_a_large_finite_loss():
    task = _task(steps=200)
    grow = Taylor.from_terms({"x0y0w1": 5.0})  # Δw = 5 w: exponential growth
    value = float(task.loss(grow, jax.random.PRNGKey(1)))
    assert np.isfinite(value) and value > 100.0
    nan_rule = Taylor.from_terms({"x0y0w2": 1e30, "x0y0w0": 1e30})
    assert float(task.loss(nan_rule, jax.random.PRNGKey(1))) <= DIVERGED_LOSS


def test_task_checks_sizes():
    with pytest.raises(ValueError, match="inputs"):
        FunctionTask(PlasticLayer(3, 1, "linear"), GaussianDatasets(4))
    with pytest.raises(ValueError, match="floor"):
        GaussianDatasets(4, top=(0.05,), floor=0.1)


def test_first_order_x_or_y_terms_are_invisible_on_centred_batches():
    # batch learning on centred data: mean_k x_kj = 0 and mean_k y_k = w·mean_k x_k = 0, so the terms
    # x·w^c and y·w^c add exactly nothing to Δw — flat directions only the L1 penalty constrains
    task = _task(n=5, steps=80, datasets=3)
    key = jax.random.PRNGKey(3)
    base = float(task.loss(oja(), key))
    flat = Taylor.zeros().with_terms({"x1y1w0": 1.0, "x0y2w1": -1.0, "x1y0w0": 0.7, "x0y1w1": -0.5, "x1y0w2": 0.3})
    seen = Taylor.zeros().with_terms({"x1y1w0": 1.0, "x0y2w1": -1.0, "x2y0w1": 0.7})
    assert abs(float(task.loss(flat, key)) - base) < 1e-4
    assert abs(float(task.loss(seen, key)) - base) > 1e-2
