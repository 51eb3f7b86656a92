import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend import core as jax_core
from hypothesis import given, settings
from hypothesis import strategies as st

from plastinfer.rules import MLPRule, RuleSum, Taylor, anti_hebb, hebb, oja, rule_from_spec, rule_to_spec, term_names


def _rand(seed, k, pre, post):
    kx, ky, kw = jax.random.split(jax.random.PRNGKey(seed), 3)
    return (
        jax.random.normal(kx, (k, pre)),
        jax.nn.sigmoid(jax.random.normal(ky, (k, post))),
        0.3 * jax.random.normal(kw, (post, pre)),
    )


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), pre=st.integers(1, 7), post=st.integers(1, 7))
def test_oja_taylor_equals_oja_formula(seed, pre, post):
    x, y, w = _rand(seed, 1, pre, post)
    expected = jnp.outer(y[0], x[0]) - (y[0] ** 2)[:, None] * w
    np.testing.assert_allclose(oja()(x[0], y[0], w), expected, rtol=1e-5, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.integers(1, 5), with_r=st.booleans())
def test_factored_taylor_equals_naive_sum(seed, k, with_r):
    """The factored contraction equals Σ_terms θ·x^a y^b w^c r^d term by term."""
    variables = ("x", "y", "w", "r") if with_r else ("x", "y", "w")
    rule = Taylor.init(jax.random.PRNGKey(seed + 1), variables, order=2, scale=1.0)
    x, y, w = _rand(seed, k, 4, 3)
    r = jax.random.normal(jax.random.PRNGKey(seed + 2), (k,)) if with_r else jnp.zeros((k,))
    naive = jnp.zeros_like(w)
    for name, value in rule.coefficients().items():
        p = {v: int(name[name.index(v) + 1]) for v in variables}
        mono = (x[:, None, :] ** p["x"]) * (y[:, :, None] ** p["y"]) * (w[None] ** p["w"])
        if with_r:
            mono = mono * (r[:, None, None] ** p["r"])
        naive = naive + value * jnp.mean(mono, axis=0)
    got = rule(x, y, w, r if with_r else None)
    np.testing.assert_allclose(got, naive, rtol=2e-4, atol=2e-4)


def test_term_names_and_counts():
    assert len(term_names(("x", "y", "w"), 2)) == 27
    assert len(term_names(("x", "y", "w", "r"), 2)) == 81
    assert term_names(("w", "x"), 1) == ["x0w0", "x0w1", "x1w0", "x1w1"]  # canonical order
    rule = oja()
    assert rule["x1y1w0"] == 1.0 and rule["x0y2w1"] == -1.0
    assert sum(abs(v) for v in rule.coefficients().values()) == 2.0


def test_equation_prints_signs_and_order():
    rule = Taylor.from_terms({"x1y1w0": 1.0, "x0y2w1": -0.99})
    assert rule.equation() == "Δw = 1.00·x·y − 0.99·y²·w"
    assert hebb().equation() == "Δw = 1.00·x·y"
    assert anti_hebb().equation() == "Δw = −1.00·x·y"
    assert Taylor.zeros().equation() == "Δw = 0"
    assert Taylor.from_terms({"x0y0w0": 0.5}).equation() == "Δw = 0.50"


def test_active_mask_zeroes_other_terms_and_their_gradient():
    rule = Taylor.init(jax.random.PRNGKey(0), ("x", "w", "r"), 2, scale=1.0, active=["x1r1", "w1"])
    nonzero = {k for k, v in rule.coefficients().items() if v != 0}
    assert nonzero == {"x1w0r1", "x0w1r0"}
    x, y, w = _rand(0, 1, 3, 2)
    g = jax.grad(lambda t: jnp.sum(Taylor(t, rule.variables, rule.order, rule.active)(x, y, w, 1.0) ** 2))(rule.theta)
    assert int(jnp.sum(g != 0)) == 2


def test_bad_names_are_rejected():
    with pytest.raises(ValueError, match="malformed"):
        Taylor.from_terms({"xy": 1.0})
    with pytest.raises(ValueError, match="power above"):
        Taylor.from_terms({"x3y0w0": 1.0})
    with pytest.raises(ValueError, match="does not have"):
        Taylor.from_terms({"r1": 1.0})
    with pytest.raises(ValueError, match="unknown rule variable"):
        Taylor.zeros(("x", "q"))


def test_shape_mismatch_is_an_error():
    x, y, w = _rand(0, 1, 3, 2)
    with pytest.raises(ValueError, match="expected \\(post, pre\\)"):
        oja()(x, y, w.T)


def test_mlp_and_sum_rules():
    key = jax.random.PRNGKey(3)
    mlp = MLPRule(key, ("x", "y", "w"), width=10)
    x, y, w = _rand(1, 4, 5, 3)
    dw = mlp(x, y, w)
    assert dw.shape == (3, 5) and jnp.all(jnp.isfinite(dw))
    # the MLP is local: synapse (i, j) depends only on x_j, y_i, w_ij
    manual = jnp.mean(jnp.stack([jnp.stack([jnp.stack([mlp.mlp(jnp.array([x[k, j], y[k, i], w[i, j]])) for j in range(5)]) for i in range(3)]) for k in range(4)]), 0)
    np.testing.assert_allclose(dw, manual, rtol=1e-5, atol=1e-7)
    both = oja() + mlp
    assert isinstance(both, RuleSum)
    np.testing.assert_allclose(both(x, y, w), oja()(x, y, w) + dw, rtol=1e-5, atol=1e-6)
    assert both.equation().startswith("Δw = [1.00·x·y − 1.00·y²·w] + [MLP(x, y, w)")


def test_spec_round_trip():
    rule = Taylor.from_terms({"x1r1": 1.0, "w1": -0.05}, ("x", "w", "r"))
    again = rule_from_spec(rule_to_spec(rule))
    assert again.coefficients() == rule.coefficients()
    assert rule_from_spec({"name": "oja"}).coefficients() == oja().coefficients()


@pytest.mark.parametrize("k", [1, 4])
def test_taylor_never_builds_a_terms_by_synapses_tensor(k):
    """Every intermediate of Δw is at most a few (post × pre) matrices, never 27 or 81 of them."""
    post, pre = 50, 40
    rule = Taylor.init(jax.random.PRNGKey(0), ("x", "y", "w", "r"), 2, scale=1.0)
    x, y, w = _rand(0, k, pre, post)
    jaxpr = jax.make_jaxpr(lambda r_: rule(x, y, w, r_))(jnp.ones((k,)))

    def sizes(jx):
        for eqn in jx.eqns:
            for v in eqn.outvars:
                yield int(np.prod(v.aval.shape))
        for sub in jax_core.subjaxprs(jx):
            yield from sizes(getattr(sub, "jaxpr", sub))

    biggest = max(sizes(jaxpr.jaxpr))
    assert biggest <= 3 * post * pre, biggest
    # the check can fail: a naive term-by-term stack is caught
    naive = jax.make_jaxpr(lambda: jnp.stack([w**i * y[0][:, None] ** j for i in range(3) for j in range(9)]).sum(0))()
    assert max(sizes(naive.jaxpr)) >= 27 * post * pre


def test_frozen_rule_gets_no_gradient_and_keeps_its_value():
    import equinox as eqx

    from plastinfer.rules import Frozen

    k = jax.random.PRNGKey(0)
    rule = Frozen(oja()) + MLPRule(k, out_bias=0.0)
    x, y, w = jax.random.normal(k, (5, 3)), jax.random.normal(k, (5, 2)), 0.3 * jnp.ones((2, 3))
    g = eqx.filter_grad(lambda r: jnp.sum(r(x, y, w) ** 2))(rule)
    assert float(jnp.abs(g.rules[0].rule.theta).max()) == 0.0
    assert float(jnp.abs(g.rules[1].mlp.layers[0].weight).max()) > 0.0
    np.testing.assert_allclose(Frozen(oja())(x, y, w), oja()(x, y, w), rtol=1e-6)
    # out_bias=0 starts the MLP near "no plasticity": Oja + MLP ≈ Oja
    np.testing.assert_allclose(rule(x, y, w), oja()(x, y, w), atol=0.05)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 4), k=st.integers(1, 3),
       variables=st.sampled_from([("x", "y", "w"), ("x", "y", "w", "r"), ("x", "w", "r"), ("y",)]),
       order=st.integers(1, 3), with_r=st.booleans(), summed=st.booleans())
def test_many_equals_vmap_of_the_rule(seed, n, k, variables, order, with_r, summed):
    """``rule.many`` (the explicitly batched form behind fast rollouts) gives exactly the
    numbers of ``vmap(rule)`` for every variable subset, order, sample count and reward."""
    from plastinfer.rules import Frozen

    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    rule = Taylor.init(keys[0], variables=variables, order=order, scale=0.5)
    if summed:
        rule = Frozen(oja()) + rule
    x = jax.random.normal(keys[1], (n, k, 4))
    y = jax.nn.sigmoid(jax.random.normal(keys[2], (n, k, 3)))
    w = 0.5 * jax.random.normal(keys[3], (n, 3, 4))
    r = jax.random.normal(keys[4], (n, k)) if with_r else None
    expected = jax.vmap(lambda a, b, c, d: rule(a, b, c, d))(x, y, w, jnp.zeros((n, k)) if r is None else r)
    np.testing.assert_allclose(rule.many(x, y, w, r), expected, rtol=2e-5, atol=2e-5)
    if k == 1:  # one sample per circuit may come without the sample axis
        np.testing.assert_allclose(rule.many(x[:, 0], y[:, 0], w, None if r is None else r[:, 0]), expected,
                                   rtol=2e-5, atol=2e-5)


def test_many_default_is_vmap_and_bad_shapes_are_named():
    mlp = MLPRule(jax.random.PRNGKey(0))
    x, y, w = jnp.ones((2, 4)), jnp.full((2, 3), 0.5), jnp.zeros((2, 3, 4))
    np.testing.assert_allclose(mlp.many(x, y, w), jax.vmap(mlp)(x, y, w), rtol=1e-6)
    with pytest.raises(Exception, match="N circuits"):
        oja().many(x, y, jnp.zeros((3, 3, 4)))
