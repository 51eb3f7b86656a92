"""A rule ↔ its flat coefficient vector: the order is θ.ravel() and the names are the rule's."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plastinfer as pi
from plastinfer.errors import ConfigError


@settings(max_examples=25, deadline=None)
@given(order=st.integers(0, 3), seed=st.integers(0, 1000),
       variables=st.sampled_from([("x", "y", "w"), ("x", "w", "r"), ("x", "y", "w", "r")]))
def test_taylor_vector_round_trips_in_the_documented_order(order, seed, variables):
    rule = pi.Taylor.init(jax.random.PRNGKey(seed), variables=variables, order=order, scale=1.0)
    vec, names = pi.rule_vector(rule)
    np.testing.assert_array_equal(vec, np.asarray(rule.theta).ravel())
    assert names == list(rule.names)
    assert {n: float(v) for n, v in zip(names, vec)} == pytest.approx(rule.coefficients())
    again = pi.rule_from_vector(rule, vec * 3.0)
    np.testing.assert_allclose(pi.rule_vector(again)[0], vec * 3.0, rtol=1e-6)


def test_other_families_and_bad_vectors():
    mlp = pi.MLPRule(jax.random.PRNGKey(0))
    vec, names = pi.rule_vector(mlp)
    assert names[0] == "p0" and len(names) == vec.size > 10
    x, y, w = np.full((1, 3), 0.3), np.full((1, 2), 0.7), np.full((2, 3), 0.1)
    np.testing.assert_allclose(pi.rule_from_vector(mlp, vec)(x, y, w), mlp(x, y, w), rtol=1e-6)
    assert not np.allclose(pi.rule_from_vector(mlp, vec * 2)(x, y, w), mlp(x, y, w))
    rule = pi.oja()
    with pytest.raises(ConfigError, match="27 coefficients"):
        pi.rule_from_vector(rule, np.zeros(5))
    with pytest.raises(ConfigError, match="NaN"):
        pi.rule_from_vector(rule, np.full(27, np.nan))
