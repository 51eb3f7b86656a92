import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastinfer.errors import ConfigError
from plastinfer.identify._learners import (LearnerConfig, batch_order, ia_regulariser, init_params, layers_for,
                                           loss_fn, transport)
from plastinfer.identify._tasks import load_task, nt_xent


def _with_transport(layers, params):
    return [dict(p, B=transport(layer, p["W"])) for layer, p in zip(layers, params)]


@pytest.mark.parametrize("arch,task", [("mlp2x32", "wine"), ("cnn2", "digits"), ("cnn2", "mnist1d")])
def test_fa_with_backward_weights_set_to_the_transpose_equals_backprop(arch, task):
    t = load_task(task)
    layers = layers_for(arch, t.input_shape, t.n_out)
    params = _with_transport(layers, init_params(layers, jax.random.PRNGKey(0)))
    x, y = jnp.asarray(t.x_train[:16]), jnp.asarray(t.y_train[:16])
    fa = jax.grad(loss_fn)(params, layers, t, LearnerConfig("fa", arch, task), x, y, jax.random.PRNGKey(1))
    bp = jax.grad(loss_fn)(params, layers, t, LearnerConfig("sgdm", arch, task), x, y, jax.random.PRNGKey(1))
    for g_fa, g_bp in zip(fa, bp):
        np.testing.assert_allclose(g_fa["W"], g_bp["W"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(g_fa["b"], g_bp["b"], rtol=1e-4, atol=1e-6)
    # with random B the pseudo-gradient differs below the last layer, and B gets no task gradient
    params_r = init_params(layers, jax.random.PRNGKey(0))
    fa_r = jax.grad(loss_fn)(params_r, layers, t, LearnerConfig("fa", arch, task), x, y, jax.random.PRNGKey(1))
    assert not np.allclose(fa_r[0]["W"], bp[0]["W"], atol=1e-4)
    np.testing.assert_allclose(fa_r[-1]["W"], bp[-1]["W"], rtol=1e-4, atol=1e-6)  # the output layer's own δ is exact
    assert all(float(jnp.abs(g["B"]).max()) == 0.0 for g in fa_r)


@pytest.mark.parametrize("arch,task", [("mlp2x32", "wine"), ("cnn2", "digits")])
def test_ia_regulariser_gradient_matches_finite_differences_and_only_moves_b(arch, task):
    t = load_task(task)
    layers = layers_for(arch, t.input_shape, t.n_out)
    params = init_params(layers, jax.random.PRNGKey(2))
    layer, p = layers[0], params[0]
    x = jnp.asarray(t.x_train[:8], jnp.float32)
    r = lambda pp: ia_regulariser(layer, pp, x, 2e-3, 1e-3, 1e-3)  # noqa: E731
    g = jax.grad(r)(p)
    assert float(jnp.abs(g["W"]).max()) == 0.0 and float(jnp.abs(g["b"]).max()) == 0.0
    rng = np.random.default_rng(0)
    for _ in range(3):
        d = jnp.asarray(rng.standard_normal(p["B"].shape), jnp.float32)
        d = d / jnp.linalg.norm(d)
        eps = 1e-2
        fd = (r(dict(p, B=p["B"] + eps * d)) - r(dict(p, B=p["B"] - eps * d))) / (2 * eps)
        assert float(fd) == pytest.approx(float(jnp.sum(g["B"] * d)), rel=2e-2, abs=1e-6)


def test_ia_regulariser_closed_form_for_a_dense_layer():
    layers = layers_for("mlp1x64", (5,), 3)
    p = init_params(layers, jax.random.PRNGKey(3))[0]
    x = jax.random.normal(jax.random.PRNGKey(4), (7, 5))
    w, b = np.asarray(p["W"], np.float64), np.asarray(p["B"], np.float64)
    xs = np.asarray(x, np.float64)
    bwx = xs @ w.T @ b.T  # rows: B W x
    amp = -np.mean(np.sum(xs * bwx, axis=1))
    null = np.mean(np.sum(bwx ** 2, axis=1))
    decay = np.sum(w ** 2) + np.sum(b ** 2)
    want = 2e-3 * amp + 1e-3 * null + 1e-3 * decay
    assert float(ia_regulariser(layers[0], p, x, 2e-3, 1e-3, 1e-3)) == pytest.approx(want, rel=1e-4)


def test_nt_xent_is_low_for_identical_views_and_log_2n_minus_1_for_constant_embeddings():
    z = jax.random.normal(jax.random.PRNGKey(0), (16, 8)) * 10
    assert float(nt_xent(z, z, 0.05)) < 0.01
    const = jnp.ones((16, 8))
    assert float(nt_xent(const, const)) == pytest.approx(np.log(31), rel=1e-5)


def test_batch_order_is_shuffled_epochs_and_bad_configs_are_named():
    t = load_task("wine")
    order = batch_order(t, LearnerConfig("sgdm", "mlp1x64", "wine", batch_size=32, steps=20, n_checkpoints=21))
    assert order.shape == (20, 32)
    per_epoch = t.n_train // 32
    first = order[:per_epoch].ravel()
    assert len(set(first.tolist())) == first.size  # no repeats within an epoch
    with pytest.raises(ConfigError, match="learning rule"):
        LearnerConfig("hebb")
    with pytest.raises(ConfigError, match="multiple"):
        LearnerConfig("sgdm", steps=55)
