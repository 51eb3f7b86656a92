import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastinfer.rules import Taylor, oja, parse_equation, rule_from_spec


def test_reward_rule_signs():
    rule = parse_equation("x*r - 0.05*w")
    assert rule.variables == ("x", "y", "w", "r") and rule.n_terms() == 81
    assert rule["x1y0w0r1"] == pytest.approx(1.0) and rule["x0y0w1r0"] == pytest.approx(-0.05)
    assert sum(v != 0 for v in rule.coefficients().values()) == 2


def test_forms_and_expansion():
    assert parse_equation("Δw = x·y − y²·w").coefficients() == oja().coefficients()
    assert parse_equation("x*y - y**2*w").coefficients() == oja().coefficients()
    expanded = parse_equation("(x - y)*w + 2*(x + 1)^2")
    c = {k: v for k, v in expanded.coefficients().items() if v}
    assert c == {"x1y0w1": 1.0, "x0y1w1": -1.0, "x2y0w0": 2.0, "x1y0w0": 4.0, "x0y0w0": 2.0}
    assert parse_equation("x*r", variables=("x", "w", "r")).variables == ("x", "w", "r")


@pytest.mark.parametrize(
    "bad, message",
    [("x*q", "unknown variable"), ("x**y", "non-negative integers"), ("x*", "not a polynomial"),
     ("__import__('os')", "unsupported"), ("x^3", "above the rule's order"), ("x*r", "not among")],
)
def test_bad_equations(bad, message):
    kw = {"order": 2} if bad == "x^3" else {}
    if bad == "x*r":
        kw = {"variables": ("x", "y", "w")}
    with pytest.raises(ValueError, match=message):
        parse_equation(bad, **kw)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 5))
def test_printed_equation_parses_back(seed, n):
    rng = np.random.default_rng(seed)
    names = list(rng.choice(Taylor.zeros(("x", "y", "w", "r")).names, size=n, replace=False))
    terms = {k: float(np.round(rng.uniform(-2, 2), 3)) or 0.5 for k in names}
    rule = Taylor.from_terms(terms, ("x", "y", "w", "r"))
    back = parse_equation(rule.equation(precision=3), variables=("x", "y", "w", "r"))
    np.testing.assert_allclose(np.asarray(back.theta), np.asarray(rule.theta), atol=1e-6)


def test_spec_accepts_equations():
    rule = rule_from_spec({"equation": "x*r - 0.05*w"}, key=jax.random.PRNGKey(0))
    assert rule["w1"] == pytest.approx(-0.05)
