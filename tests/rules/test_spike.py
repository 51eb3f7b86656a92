import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastinfer.rules import SpikeTraceRule, rule_from_spec, rule_to_spec, vogels_istdp


def test_on_spikes_moves_weight_by_the_per_spike_amounts():
    r = SpikeTraceRule.create(alpha=-0.1, beta=0.2, gamma=0.3, kappa=0.4)
    x_pre, x_post = jnp.array([0.5, 2.0]), jnp.asarray(1.5)
    # pre spike only at synapse 0: α + κ x_post; post spike only: β + γ x_pre; both: sum
    np.testing.assert_allclose(r.on_spikes(jnp.array([1.0, 0.0]), 0.0, x_pre, x_post), [-0.1 + 0.4 * 1.5, 0.0], rtol=1e-6)
    np.testing.assert_allclose(r.on_spikes(jnp.zeros(2), 1.0, x_pre, x_post), [0.2 + 0.3 * 0.5, 0.2 + 0.3 * 2.0], rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(nu_pre=st.floats(0.5, 100.0), eta=st.floats(1e-4, 1e-1), target=st.floats(1.0, 20.0))
def test_vogels_steady_state_is_the_target_for_every_presynaptic_rate(nu_pre, eta, target):
    # Eq. 17 with α = −2ηρ₀τ, β = 0, γ = κ = η: ν_post = ρ₀ whatever ν_pre
    assert float(vogels_istdp(eta, target).steady_state_rate(nu_pre)) == pytest.approx(target, rel=1e-4)


def test_mean_drift_on_rates_is_eq15_and_vanishes_at_the_steady_state():
    r = SpikeTraceRule.create(alpha=-0.3, beta=0.5, gamma=2.0, kappa=1.0, tau_pre=0.01, tau_post=0.03)
    nu_pre = jnp.array([[4.0, 10.0]])
    nu_post = jnp.array([[7.0]])
    expect = -0.3 * nu_pre + 0.5 * 7.0 + (2.0 * 0.01 + 1.0 * 0.03) * 7.0 * nu_pre
    np.testing.assert_allclose(r(nu_pre, nu_post, jnp.zeros((1, 2))), expect, rtol=1e-5)
    star = r.steady_state_rate(10.0)
    np.testing.assert_allclose(r(jnp.array([[10.0]]), star.reshape(1, 1), jnp.zeros((1, 1))), 0.0, atol=1e-5)


def test_mean_drift_matches_simulated_independent_poisson_trains():
    """Eq. 15 from Eq. 14: time-average of on_spikes with independent Poisson pre/post trains."""
    r = SpikeTraceRule.create(alpha=-0.2, beta=0.1, gamma=0.5, kappa=0.8, tau_pre=0.02, tau_post=0.05)
    dt, steps, nu_pre, nu_post = 1e-4, 400_000, 10.0, 20.0
    u = jax.random.uniform(jax.random.PRNGKey(0), (steps, 2))
    s = (u < jnp.array([nu_pre, nu_post]) * dt).astype(jnp.float32)

    def body(carry, sp):
        x_pre, x_post = carry
        x_pre, x_post = x_pre * np.exp(-dt / 0.02), x_post * np.exp(-dt / 0.05)
        dw = r.on_spikes(sp[0], sp[1], x_pre, x_post)
        return (x_pre + sp[0], x_post + sp[1]), dw

    _, dw = jax.lax.scan(body, (jnp.zeros(()), jnp.zeros(())), s)
    simulated = float(jnp.sum(dw)) / (steps * dt)
    emp_pre, emp_post = [float(v) / (steps * dt) for v in s.sum(0)]
    predicted = float(r(jnp.array([[emp_pre]]), jnp.array([[emp_post]]), jnp.zeros((1, 1)))[0, 0])
    assert simulated == pytest.approx(predicted, rel=0.05)


def test_time_constants_stay_positive_and_invalid_ones_are_refused():
    r = SpikeTraceRule.create(tau_pre=0.01, tau_post=0.2)
    bent = SpikeTraceRule(r.alpha, r.beta, r.gamma, r.kappa, jnp.asarray(-30.0), jnp.asarray(30.0))
    assert float(bent.tau_pre) > 0 and float(bent.tau_post) > 0
    assert float(r.tau_pre) == pytest.approx(0.01) and float(r.tau_post) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="positive"):
        SpikeTraceRule.create(tau_pre=0.0)


def test_spec_round_trip_and_units():
    r = SpikeTraceRule.create(alpha=-0.002, beta=0.01, gamma=0.03, kappa=0.004, tau_pre=0.015, tau_post=0.04)
    back = rule_from_spec(rule_to_spec(r))
    np.testing.assert_allclose(np.asarray(back.effective_theta()), np.asarray(r.effective_theta()), rtol=1e-6)
    # learned arrays are in units of `unit` (O(1) for optimisers); coefficients in weight units
    assert float(r.alpha) == pytest.approx(-0.2) and r.coefficients()["alpha"] == pytest.approx(-0.002)
    assert "x_pre·S_post" in r.equation()
