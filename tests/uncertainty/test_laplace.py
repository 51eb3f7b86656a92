"""Laplace approximation: closed forms on a linear-Gaussian problem, and a planted flat direction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastinfer.errors import ConfigError
from plastinfer.infer import AbstractProblem
from plastinfer.uncertainty import laplace


class LinearGaussian(AbstractProblem):
    """``y = A θ + ε``, ``ε ~ N(0, σ²)``: the posterior is Gaussian in closed form."""

    a: jax.Array
    y: jax.Array
    sigma: float = 0.5

    @property
    def deterministic(self):
        return True

    def loss(self, params, batch, key):
        return -jnp.mean(self.log_likelihood(params)), {}

    def log_likelihood(self, params):
        r = self.y - self.a @ params["theta"]
        return -0.5 * (jnp.log(2 * jnp.pi * self.sigma**2) + (r / self.sigma) ** 2)


def _problem(a, theta, seed=0, sigma=0.5):
    a = jnp.asarray(a, jnp.float32)
    y = a @ jnp.asarray(theta, jnp.float32) + sigma * jax.random.normal(jax.random.PRNGKey(seed), (a.shape[0],))
    return LinearGaussian(a, y, sigma)


@pytest.mark.parametrize("prior_sd", [None, 0.3])
def test_linear_gaussian_posterior_matches_the_closed_form(prior_sd):
    a = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (40, 3)))
    p = _problem(a, [1.0, -0.5, 0.2])
    precision = a.T @ a / 0.5**2 + (0 if prior_sd is None else np.eye(3) / prior_sd**2)
    cov = np.linalg.inv(precision)
    mode = cov @ (a.T @ np.asarray(p.y) / 0.5**2)
    post = laplace(p, {"theta": jnp.asarray(mode, jnp.float32)}, names=["a", "b", "c"], prior_sd=prior_sd)
    np.testing.assert_allclose(post.covariance, cov, rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(post.sd, np.sqrt(np.diag(cov)), rtol=1e-3)
    from scipy.stats import norm

    assert post.sign_probability("b") == pytest.approx(norm.cdf(mode[1] / np.sqrt(cov[1, 1])), rel=1e-3)
    assert post.determined.all() and np.isfinite(post.condition_number)
    table = post.summary()
    assert list(table.index) == ["a", "b", "c"] and (table["2.5%"] < table["mean"]).all()
    k, n = 3, 40
    assert post.bic() - post.aic() == pytest.approx(k * np.log(n) - 2 * k, rel=1e-6)


def test_a_planted_flat_direction_is_found_and_named():
    a = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (50, 2)))
    a = np.concatenate([a, a[:, :1]], axis=1)  # column 2 repeats column 0: only θ0 + θ2 is determined
    p = _problem(a, [0.5, 1.0, 0.5])
    mode = np.linalg.lstsq(a, np.asarray(p.y), rcond=None)[0]
    post = laplace(p, {"theta": jnp.asarray(mode, jnp.float32)}, names=["xy", "w", "xy2"])
    assert int((~post.determined).sum()) == 1 and post.condition_number > 1e5
    flat = [d for d in post.identifiable_directions() if not d["determined"]]
    assert len(flat) == 1 and set(flat[0]["direction"].split()) >= {"0.71·θ[xy]", "0.71·θ[xy2]"}
    assert np.isinf(post.sd[0]) and np.isinf(post.sd[2]) and np.isfinite(post.sd[1])
    assert post.sign_probability("xy") == 0.5
    assert "NOT determined" in post.report() and "not determined" in post.report()
    with pytest.raises(ConfigError, match="unknown coefficient"):
        post.sign_probability("q")


def test_a_prior_bounds_the_flat_direction_and_the_report_still_names_it():
    a = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (50, 2)))
    a = np.concatenate([a, a[:, :1]], axis=1)
    p = _problem(a, [0.5, 1.0, 0.5])
    precision = a.T @ a / 0.5**2 + np.eye(3) / 2.0**2
    cov = np.linalg.inv(precision)
    mode = cov @ (a.T @ np.asarray(p.y) / 0.5**2)
    post = laplace(p, {"theta": jnp.asarray(mode, jnp.float32)}, names=["xy", "w", "xy2"], prior="gaussian",
                   prior_scale=2.0)
    np.testing.assert_allclose(post.sd, np.sqrt(np.diag(cov)), rtol=1e-3)  # finite: the prior's spread
    assert int((~post.determined).sum()) == 1 and "NOT determined" in post.report()
    draws = post.sample(20000, seed=1)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), cov, atol=0.03 * cov.max())
