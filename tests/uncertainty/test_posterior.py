"""NUTS and hierarchical posteriors: closed forms, planted population effects, the front end."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastinfer.errors import ConfigError
from plastinfer.infer import AbstractProblem
from plastinfer.uncertainty import hierarchical, make_target, nuts, population_summary, posterior

from .test_laplace import _problem


def _closed_form(a, y, sigma, prior_sd):
    precision = a.T @ a / sigma**2 + np.eye(a.shape[1]) / prior_sd**2
    cov = np.linalg.inv(precision)
    return cov @ (a.T @ y / sigma**2), cov


@pytest.fixture(scope="module")
def linear_posterior():
    a = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (40, 3)))
    p = _problem(a, [1.0, -0.5, 0.2])
    post = nuts(p, {"theta": jnp.zeros(3)}, prior_scale=2.0, warmup=200, draws=1000, key=jax.random.PRNGKey(0),
                progress=False)
    return a, p, post


def test_nuts_matches_the_closed_form_posterior(linear_posterior):
    a, p, post = linear_posterior
    mean, cov = _closed_form(a, np.asarray(p.y), 0.5, 2.0)
    sd = np.sqrt(np.diag(cov))
    n_eff = post.ess("bulk")
    assert post.samples.shape == (4, 1000, 3)
    # Monte Carlo error of a mean: sd / √ESS; allow 4 of them
    np.testing.assert_array_less(np.abs(post.mean - mean), 4 * sd / np.sqrt(n_eff))
    np.testing.assert_allclose(post.sd, sd, rtol=0.08)
    np.testing.assert_allclose(post.covariance, cov, atol=0.15 * sd.max() ** 2)
    assert np.nanmax(post.r_hat()) < 1.01 and sum(post.info["divergences"]) == 0
    from scipy.stats import norm

    assert post.sign_probability("θ2") == pytest.approx(norm.cdf(mean[2] / sd[2]), abs=0.02)
    lo, hi = post.interval()
    np.testing.assert_allclose(lo, mean - 1.96 * sd, atol=0.25 * sd.max())
    table = post.summary()
    assert list(table.columns) == ["mean", "sd", "2.5%", "97.5%", "P(>0)", "r_hat", "ess_bulk", "ess_tail"]


def test_waic_and_loo_agree_with_the_plug_in_log_likelihood(linear_posterior):
    a, p, post = linear_posterior
    waic, loo = post.waic(), post.loo()
    assert post.pointwise.shape[-1] == 40
    # three well-determined parameters: effective number ≈ 3, elpd ≈ log-lik at the mode − p
    assert 2.0 < loo["p"] < 4.5 and abs(waic["elpd"] - loo["elpd"]) < 0.5
    mean, _ = _closed_form(a, np.asarray(p.y), 0.5, 2.0)
    ll_mode = float(jnp.sum(p.log_likelihood({"theta": jnp.asarray(mean, jnp.float32)})))
    assert loo["elpd"] == pytest.approx(ll_mode - loo["p"], abs=1.0)
    assert loo["n_bad_k"] == 0


def test_posterior_save_writes_a_pickle_free_file(linear_posterior, tmp_path):
    *_, post = linear_posterior
    path = post.save(tmp_path / "posterior.npz")
    with np.load(path, allow_pickle=False) as z:
        assert z["samples"].shape == (4, 1000, 3) and list(z["names"]) == ["θ0", "θ1", "θ2"]
        assert "hessian" in z and "pointwise" in z


def test_a_flat_direction_gets_the_prior_and_a_warning():
    a = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (50, 2)))
    a = np.concatenate([a, a[:, :1]], axis=1)  # only θ0 + θ2 is determined
    p = _problem(a, [0.5, 1.0, 0.5])
    post = nuts(p, {"theta": jnp.zeros(3)}, prior_scale=1.0, warmup=200, draws=500, key=jax.random.PRNGKey(3),
                progress=False, pointwise=0)
    # along (1, 0, −1)/√2 only the prior speaks: sd 1; along (1, 0, 1)/√2 the data: tiny
    d = post.draws @ np.array([1.0, 0.0, -1.0]) / np.sqrt(2)
    s = post.draws @ np.array([1.0, 0.0, 1.0]) / np.sqrt(2)
    assert 0.8 < d.std() < 1.2 and s.std() < 0.1
    assert any("undetermined direction" in w for w in post.warnings())
    with pytest.raises(ConfigError, match="pointwise"):
        post.loo()


def test_nuts_refuses_bad_options():
    p = _problem(np.eye(3), [1.0, 0.0, 0.0])
    for kw, msg in [({"chains": 0}, "chains"), ({"draws": 2.5}, "draws"), ({"prior": "cauchy"}, "prior"),
                    ({"prior_scale": -1.0}, "prior scale"), ({"over": "everything"}, "over")]:
        with pytest.raises(ConfigError, match=msg):
            nuts(p, {"theta": jnp.zeros(3)}, progress=False, **kw)
    with pytest.raises(ConfigError, match="method"):
        posterior(p, {"theta": jnp.zeros(3)}, method="mcmc")


class GroupedLinear(AbstractProblem):
    """Subject ``s``: ``y_s = A_s θ_s + ε`` — a grouped problem (one θ per subject)."""

    a: jax.Array  # (S, n, k)
    y: jax.Array  # (S, n)
    sigma: float = 0.5

    @property
    def n_groups(self):
        return int(self.y.shape[0])

    def loss(self, params, batch, key):
        return -jnp.mean(self.log_likelihood(params), axis=1), {}

    def log_likelihood(self, params):
        r = self.y - jnp.einsum("snk,sk->sn", self.a, params["theta"])
        return -0.5 * (jnp.log(2 * jnp.pi * self.sigma**2) + (r / self.sigma) ** 2)

    def subject(self, i):
        return _Single(self.a[i], self.y[i], self.sigma)


class _Single(AbstractProblem):
    a: jax.Array
    y: jax.Array
    sigma: float = 0.5

    def loss(self, params, batch, key):
        return -jnp.mean(self.log_likelihood(params)), {}

    def log_likelihood(self, params):
        r = self.y - self.a @ params["theta"]
        return -0.5 * (jnp.log(2 * jnp.pi * self.sigma**2) + (r / self.sigma) ** 2)


def test_hierarchical_recovers_a_planted_population_mean():
    s, n = 12, 20
    ka, kt, ke = jax.random.split(jax.random.PRNGKey(5), 3)
    a = jax.random.normal(ka, (s, n, 2))
    mu, tau = np.array([-0.5, 0.3]), np.array([0.2, 0.1])
    theta = mu + tau * np.asarray(jax.random.normal(kt, (s, 2)))
    y = jnp.einsum("snk,sk->sn", a, jnp.asarray(theta, jnp.float32)) + 0.5 * jax.random.normal(ke, (s, n))
    prob = GroupedLinear(a, y)
    fits = np.stack([np.linalg.lstsq(np.asarray(a[i]), np.asarray(y[i]), rcond=None)[0] for i in range(s)])
    post = hierarchical(prob, {"theta": jnp.asarray(fits, jnp.float32)}, key=jax.random.PRNGKey(0), warmup=300,
                        draws=500, progress=False, pointwise=0)
    pop = population_summary(post)
    assert list(pop.index) == ["mu[θ0]", "mu[θ1]", "tau[θ0]", "tau[θ1]"]
    assert post.samples.shape == (4, 500, 4 + 2 * s)
    lo, hi = post.interval()
    # subjects measured equally well: μ's posterior ≈ the mean of the per-subject estimates ± their
    # standard error (the planted subjects' own mean, −0.69 / 0.27 for this seed, lies inside)
    np.testing.assert_allclose(post.mean[:2], fits.mean(0), atol=0.02)
    np.testing.assert_allclose(post.sd[:2], fits.std(0, ddof=1) / np.sqrt(s), rtol=0.3)
    assert np.all(lo[:2] < theta.mean(0)) and np.all(theta.mean(0) < hi[:2])
    assert post.sign_probability("mu[θ0]") < 0.01 and post.sign_probability("mu[θ1]") > 0.99
    # the population mean is pinned down better than any one subject's coefficient
    assert post.sd[0] < np.min(post.sd[4::2])
    assert np.nanmax(post.r_hat()) < 1.05
    with pytest.raises(ConfigError, match="grouped"):
        hierarchical(prob.subject(0), {"theta": jnp.zeros(2)})


def test_posterior_front_end_splits_grouped_problems_by_subject():
    s = 3
    a = jax.random.normal(jax.random.PRNGKey(0), (s, 15, 2))
    y = jnp.einsum("snk,sk->sn", a, jnp.ones((s, 2)))
    posts = posterior(GroupedLinear(a, y), {"theta": jnp.ones((s, 2))}, method="laplace")
    assert len(posts) == s
    for i, p in enumerate(posts):
        cov = np.linalg.inv(np.asarray(a[i]).T @ np.asarray(a[i]) / 0.25)
        np.testing.assert_allclose(p.covariance, cov, rtol=1e-3)
    with pytest.raises(ConfigError, match="grouped"):
        make_target(GroupedLinear(a, y), {"theta": jnp.ones((s, 2))})


def test_laplace_pooled_hierarchy_equals_the_exact_one_on_gaussian_subjects():
    """Linear-Gaussian subjects: the per-subject Laplace likelihoods are exact, so the pooled
    model must give the same population posterior as NUTS over every subject's coefficients."""
    from plastinfer.uncertainty import hierarchical_laplace

    s, n = 8, 15
    ka, kt, ke = jax.random.split(jax.random.PRNGKey(8), 3)
    a = jax.random.normal(ka, (s, n, 2))
    theta = np.array([0.4, -0.2]) + np.array([0.3, 0.1]) * np.asarray(jax.random.normal(kt, (s, 2)))
    y = jnp.einsum("snk,sk->sn", a, jnp.asarray(theta, jnp.float32)) + 0.5 * jax.random.normal(ke, (s, n))
    prob = GroupedLinear(a, y)
    start = {"theta": jnp.zeros((s, 2))}
    exact = hierarchical(prob, start, key=jax.random.PRNGKey(1), warmup=300, draws=1000, progress=False, pointwise=0)
    pooled = hierarchical_laplace(prob, start, key=jax.random.PRNGKey(2), warmup=300, draws=1000, progress=False,
                                  subject_prior_scale=1e3)
    assert pooled.names == exact.names
    # Monte Carlo error of a mean ≈ sd / √ESS (ESS ≥ 400 here): allow 0.15 sd, and 15 % on the sd
    np.testing.assert_allclose(pooled.mean[:2], exact.mean[:2], atol=0.15 * exact.sd[:2].max())
    np.testing.assert_allclose(pooled.sd[:2], exact.sd[:2], rtol=0.15)
    np.testing.assert_allclose(np.median(pooled.draws[:, 2:4], 0), np.median(exact.draws[:, 2:4], 0), rtol=0.3)
    np.testing.assert_allclose(pooled.mean[4:], exact.mean[4:], atol=0.05)  # every subject's θ


def test_pooling_from_subject_samples_agrees_with_the_exact_hierarchy():
    """Per-subject NUTS draws (Gaussian prior sd 2), reweighted to the population: the same
    population posterior as NUTS over every subject's coefficients."""
    from plastinfer.uncertainty import hierarchical_from_samples

    s, n = 6, 15
    ka, kt, ke = jax.random.split(jax.random.PRNGKey(8), 3)
    a = jax.random.normal(ka, (s, n, 2))
    theta = np.array([0.4, -0.2]) + np.array([0.3, 0.1]) * np.asarray(jax.random.normal(kt, (s, 2)))
    y = jnp.einsum("snk,sk->sn", a, jnp.asarray(theta, jnp.float32)) + 0.5 * jax.random.normal(ke, (s, n))
    prob = GroupedLinear(a, y)
    exact = hierarchical(prob, {"theta": jnp.zeros((s, 2))}, key=jax.random.PRNGKey(1), warmup=300, draws=1000,
                         progress=False, pointwise=0)
    subjects = [nuts(prob.subject(i), {"theta": jnp.zeros(2)}, prior_scale=2.0, warmup=200, draws=1000,
                     key=jax.random.PRNGKey(10 + i), progress=False, pointwise=0) for i in range(s)]
    pooled = hierarchical_from_samples(subjects, key=jax.random.PRNGKey(3), warmup=300, draws=1000, max_samples=400)
    assert pooled.names == exact.names[:4]
    np.testing.assert_allclose(pooled.mean[:2], exact.mean[:2], atol=0.15 * exact.sd[:2].max())
    np.testing.assert_allclose(pooled.sd[:2], exact.sd[:2], rtol=0.2)
    assert pooled.info["min_effective_draws"] > 50
    with pytest.raises(ConfigError, match="same prior"):
        hierarchical_from_samples([subjects[0], nuts(prob.subject(1), {"theta": jnp.zeros(2)}, prior_scale=3.0,
                                                     warmup=20, draws=20, progress=False, pointwise=0)])


def test_loo_is_undefined_not_a_number_when_a_draw_overflows():
    from plastinfer.uncertainty import Posterior

    rng = np.random.default_rng(0)
    point = rng.normal(-1.0, 0.1, (2, 50, 10))
    ok = Posterior(["a"], rng.normal(size=(2, 50, 1)), pointwise=point)
    assert np.isfinite(ok.loo()["elpd"])
    point[0, 3, 4] = -np.inf
    bad = Posterior(["a"], rng.normal(size=(2, 50, 1)), pointwise=point).loo()
    assert np.isnan(bad["elpd"]) and bad["n_nonfinite"] == 1


def test_chains_in_threads_give_the_draws_of_one_program(monkeypatch):
    """On a CPU the chains run as parallel calls (one per core); the draws, pointwise
    log-likelihoods and divergences equal those of all chains in one program."""
    from plastinfer.uncertainty import _posterior

    a = np.asarray(jax.random.normal(jax.random.PRNGKey(5), (30, 2)))
    p = _problem(a, [0.5, -1.0])
    kw = dict(prior_scale=2.0, warmup=30, draws=40, chains=2, key=jax.random.PRNGKey(6), progress=False, pointwise=20)
    monkeypatch.setattr(_posterior, "_cores", lambda: 2)
    threaded = nuts(p, {"theta": jnp.zeros(2)}, **kw)
    monkeypatch.setattr(_posterior, "_cores", lambda: 1)
    single = nuts(p, {"theta": jnp.zeros(2)}, **kw)
    np.testing.assert_allclose(threaded.samples, single.samples, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(threaded.pointwise, single.pointwise, rtol=1e-5, atol=1e-6)
    assert threaded.info["divergences"] == single.info["divergences"]
