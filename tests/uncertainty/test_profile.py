"""Profile likelihoods and ensembles: closed forms on linear-Gaussian problems."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastinfer.errors import ConfigError
from plastinfer.infer import LBFGS
from plastinfer.uncertainty import ensemble, likelihood_ratio, profile

from .test_laplace import _problem


def test_the_profile_of_a_gaussian_likelihood_is_its_wald_interval():
    a = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (40, 3)))
    p = _problem(a, [1.0, -0.5, 0.2])
    cov = np.linalg.inv(a.T @ a / 0.25)
    mode = cov @ (a.T @ np.asarray(p.y) / 0.25)
    prof = profile(p, {"theta": jnp.zeros(3)}, "θ1", n=15)
    assert prof.mode == pytest.approx(mode[1], abs=1e-3)
    sd = np.sqrt(cov[1, 1])
    # the profile is the quadratic −(c − θ̂)² / (2 sd²) exactly
    np.testing.assert_allclose(prof.mode_log_lik - prof.log_lik, (prof.values - mode[1]) ** 2 / (2 * sd**2),
                               atol=2e-2)
    lo, hi = prof.interval()
    assert lo == pytest.approx(mode[1] - 1.96 * sd, abs=0.05 * sd) and hi == pytest.approx(mode[1] + 1.96 * sd,
                                                                                           abs=0.05 * sd)
    # the others re-optimised: at θ1 = c they equal the conditional mode
    i = 0
    prec = np.linalg.inv(cov)
    cond = mode[[0, 2]] - np.linalg.solve(prec[np.ix_([0, 2], [0, 2])], prec[[0, 2], 1]) * (prof.values[i] - mode[1])
    np.testing.assert_allclose(prof.others[i, [0, 2]], cond, atol=1e-3)
    with pytest.raises(ConfigError, match="unknown coefficient"):
        profile(p, {"theta": jnp.zeros(3)}, "θ9")


def test_a_flat_direction_gives_an_unbounded_profile_interval():
    a = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (50, 2)))
    a = np.concatenate([a, a[:, :1]], axis=1)
    p = _problem(a, [0.5, 1.0, 0.5])
    prof = profile(p, {"theta": jnp.zeros(3)}, "θ0", values=np.linspace(-3, 3, 7))
    assert np.ptp(prof.log_lik) < 1e-2  # θ2 absorbs any θ0
    assert prof.interval() == (-np.inf, np.inf)


def test_ensemble_spread_is_nil_on_a_convex_problem_and_follows_a_flat_direction():
    a = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (40, 2)))
    p = _problem(a, [1.0, -1.0])
    ens = ensemble(p, LBFGS(), starts=4, steps=50, params0={"theta": jnp.zeros(2)}, spread=1.0, select="train")
    assert ens.samples.shape == (1, 4, 2) and ens.method == "ensemble"
    assert np.max(np.std(ens.draws, 0)) < 1e-3 and np.ptp(ens.info["losses"]) < 1e-4
    flat = _problem(np.concatenate([a, a[:, :1]], axis=1), [0.5, -1.0, 0.5])
    ens = ensemble(flat, LBFGS(), starts=4, steps=50, params0={"theta": jnp.zeros(3)}, spread=1.0, select="train")
    d = ens.draws
    assert np.std(d[:, 0] - d[:, 2]) > 0.1 and np.std(d[:, 0] + d[:, 2]) < 1e-2


def test_likelihood_ratio_of_a_gaussian_likelihood_is_the_squared_z():
    """Λ(c) = ((c − θ̂)/sd)² exactly for a linear-Gaussian likelihood; c is inside the 95 %
    interval iff |c − θ̂| ≤ 1.96 sd; the p-value is χ²₁'s."""
    a = np.asarray(jax.random.normal(jax.random.PRNGKey(4), (40, 3)))
    p = _problem(a, [1.0, -0.5, 0.2])
    cov = np.linalg.inv(a.T @ a / 0.25)
    mode = cov @ (a.T @ np.asarray(p.y) / 0.25)
    sd = np.sqrt(cov[2, 2])
    values = mode[2] + sd * np.array([0.0, 1.0, -1.5, 2.5])
    lr = likelihood_ratio(p, {"theta": jnp.zeros(3)}, "θ2", values)
    assert lr.mode == pytest.approx(mode[2], abs=1e-3)
    np.testing.assert_allclose(lr.statistic, [0.0, 1.0, 2.25, 6.25], atol=0.02)
    assert lr.inside().tolist() == [True, True, True, False]
    np.testing.assert_allclose(lr.p_value, [1.0, 0.3173, 0.1336, 0.0124], atol=0.005)
    with pytest.raises(ConfigError, match="finite"):
        likelihood_ratio(p, {"theta": jnp.zeros(3)}, "θ2", [np.nan])
