import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastinfer.circuits import LayerInput, LayerState, PlasticLayer, circuit_from_spec, rollout, rollouts
from plastinfer.rules import Taylor, oja


def _setup(n_traj=3, steps=12, pre=5, post=4, k=None):
    circuit = PlasticLayer(pre, post, "sigmoid", eta=0.5)
    w0 = jax.vmap(circuit.init)(jax.random.split(jax.random.PRNGKey(0), n_traj)).w
    shape = (n_traj, steps) + ((k,) if k else ()) + (pre,)
    x = 0.3 * jax.random.normal(jax.random.PRNGKey(1), shape)
    return circuit, w0, x


@pytest.mark.parametrize("k", [None, 3])
def test_vmapped_rollout_equals_python_loop(k):
    circuit, w0, x = _setup(k=k)
    rule = oja()
    _, rec = rollouts(circuit, rule, LayerState(w0), LayerInput(x), record_weights=True)
    for n in range(x.shape[0]):
        w = np.asarray(w0[n])
        for t in range(x.shape[1]):
            xt = np.asarray(x[n, t]).reshape(-1, circuit.n_in)
            y = 1 / (1 + np.exp(-(xt @ w.T)))
            dw = np.mean([np.outer(y[i], xt[i]) - (y[i] ** 2)[:, None] * w for i in range(xt.shape[0])], axis=0)
            np.testing.assert_allclose(np.asarray(rec.y[n, t]).reshape(y.shape), y, rtol=1e-5, atol=1e-6)
            w = w + 0.5 * dw
            np.testing.assert_allclose(rec.w[n, t], w, rtol=1e-4, atol=1e-5)


def test_checkpointed_rollout_matches_plain_values_and_gradients():
    circuit, w0, x = _setup(n_traj=1, steps=16)
    rule = Taylor.init(jax.random.PRNGKey(2), scale=0.1)

    def loss(theta, ckpt):
        r = Taylor(theta, rule.variables, rule.order)
        _, rec = rollout(circuit, r, LayerState(w0[0]), LayerInput(x[0]), checkpoint=ckpt)
        return jnp.sum(rec.y**2)

    for ckpt in (True, 4, 2):
        np.testing.assert_allclose(loss(rule.theta, ckpt), loss(rule.theta, None), rtol=1e-6)
        np.testing.assert_allclose(
            jax.grad(loss)(rule.theta, ckpt), jax.grad(loss)(rule.theta, None), rtol=1e-4, atol=1e-6
        )
    with pytest.raises(ValueError, match="must divide"):
        loss(rule.theta, 5)


def test_gradient_matches_finite_differences():
    circuit, w0, x = _setup(n_traj=1, steps=10)
    target = rollout(circuit, oja(), LayerState(w0[0]), LayerInput(x[0]))[1].y
    rule = Taylor.init(jax.random.PRNGKey(5), scale=0.2)

    def loss(theta):
        r = Taylor(theta, rule.variables, rule.order)
        y = rollout(circuit, r, LayerState(w0[0]), LayerInput(x[0]))[1].y
        return jnp.mean((y - target) ** 2)

    g = np.asarray(jax.grad(loss)(rule.theta)).ravel()
    f = jax.jit(loss)
    eps = 1e-2
    for i in [0, 4, 10, 13, 26]:
        e = np.zeros(27, np.float32)
        e[i] = eps
        e = jnp.asarray(e.reshape(3, 3, 3))
        fd = (float(f(rule.theta + e)) - float(f(rule.theta - e))) / (2 * eps)
        assert abs(fd - g[i]) <= 2e-2 * max(abs(g).max(), 1e-8), (i, fd, g[i])


def test_jit_compiles_once_per_shape():
    circuit, w0, x = _setup()
    traces = []

    @jax.jit
    def run(theta, w, xs):
        traces.append(1)
        return rollouts(circuit, Taylor(theta, ("x", "y", "w"), 2), LayerState(w), LayerInput(xs))[1].y

    for s in range(3):
        run(Taylor.init(jax.random.PRNGKey(s)).theta, w0, x)
    assert len(traces) == 1


def test_linear_layer_and_spec():
    c = circuit_from_spec({"n_in": 3, "n_out": 2, "nonlinearity": "linear", "eta": 0.1})
    w = jnp.eye(2, 3)
    assert jnp.allclose(c.forward(w, jnp.array([1.0, 2.0, 3.0])), jnp.array([1.0, 2.0]))
    assert abs(float(jnp.std(PlasticLayer(200, 300).init(jax.random.PRNGKey(0)).w)) - (2 / 200) ** 0.5) < 0.005


@pytest.mark.parametrize("checkpoint", [None, True])
def test_rollouts_equal_vmap_of_rollout_with_reward_and_noise(checkpoint):
    """The batched scan of rollouts (step_many) gives vmap(rollout)'s numbers, checkpointed
    or not, with rewards and postsynaptic noise; so does observe_many (to float32 rounding:
    the batched products sum in another order)."""
    circuit, w0, x = _setup(steps=12)
    rule = Taylor.init(jax.random.PRNGKey(3), variables=("x", "y", "w", "r"), order=2, scale=0.3)
    r = jax.random.normal(jax.random.PRNGKey(4), x.shape[:2])
    noise = 0.1 * jax.random.normal(jax.random.PRNGKey(5), x.shape[:2] + (circuit.n_out,))
    inputs = LayerInput(x, r, noise)
    final, rec = rollouts(circuit, rule, LayerState(w0), inputs, record_weights=True, checkpoint=checkpoint)
    f2, rec2 = jax.vmap(lambda s, i: rollout(circuit, rule, s, i, record_weights=True))(LayerState(w0), inputs)
    np.testing.assert_allclose(rec.y, rec2.y, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rec.w, rec2.w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(final.w, f2.w, rtol=1e-4, atol=1e-5)
    y, w = circuit.observe_many(rule, LayerState(w0), inputs, record_weights=True, checkpoint=checkpoint)
    np.testing.assert_allclose(y, rec2.y, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w, rec2.w, rtol=1e-4, atol=1e-5)
