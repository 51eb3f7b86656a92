r"""Hierarchical posteriors across subjects (partial pooling), sampled with NUTS.

Every subject :math:`s` has its own free coefficients :math:`θ_s ∈ \mathbb{R}^k`, drawn from a
population distribution; per coefficient :math:`j`

.. math::
    μ_j \sim N(0, s_μ^2), \qquad τ_j \sim \text{Half-}N(0, s_τ^2), \qquad
    θ_{s,j} = μ_j + τ_j z_{s,j}, \quad z_{s,j} \sim N(0, 1)

(the non-centred form, which samples well when some subjects say little), and the data of
subject :math:`s` enter through the grouped problem's log-likelihood at :math:`θ_s`. The
question "is the ``w`` term negative across flies?" is then answered by the posterior of
:math:`μ_w` — a credible interval for the population mean that accounts for how much every
fly's own data say.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..errors import ConfigError
from ._posterior import Posterior, _over_chains, _run_chains
from ._target import make_target


def hierarchical(problem, params, *, key: Array | None = None, chains: int = 4, warmup: int = 500,
                 draws: int = 1000, mu_scale: float = 1.0, tau_scale: float = 1.0, pointwise: int = 1000,
                 chunk: int = 100, progress: bool = True, dense_mass: bool = True) -> Posterior:
    """NUTS over the population means ``mu``, spreads ``tau`` and every subject's coefficients
    of a grouped problem (one rule per subject, e.g. a per-subject
    :func:`~plastinfer.fit_choices`), started around ``params`` (the per-subject fits, leading
    subject axis). The returned :class:`Posterior` names its columns ``mu[θ]``, ``tau[θ]`` and
    ``S3[θ]`` (subject 3's coefficient), in that order; ``info["subjects"]`` counts subjects and
    :func:`population_summary` tables the population rows."""
    import blackjax

    n = getattr(problem, "n_groups", 0)
    if not n or not hasattr(problem, "subject"):
        raise ConfigError("hierarchical: needs a grouped problem (one rule per subject), e.g. a per-subject choice fit")
    if n < 2:
        raise ConfigError("hierarchical: needs at least 2 subjects")
    for name, v in (("mu_scale", mu_scale), ("tau_scale", tau_scale)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise ConfigError(f"hierarchical: {name} must be a finite number > 0, got {v!r}")
    key = jax.random.PRNGKey(0) if key is None else key
    t0 = time.perf_counter()
    take = lambda i: jax.tree_util.tree_map(lambda a: a[i], params)  # noqa: E731
    first = make_target(problem.subject(0), take(0))
    k = first.k
    names = list(first.names)
    x_fit = jnp.stack([make_target(problem.subject(i), take(i)).x0 for i in range(n)])  # (S, k)

    def thetas(pos):
        return pos["mu"] + jnp.exp(pos["log_tau"]) * pos["z"]

    def logdensity(pos):
        theta = thetas(pos)
        stacked = jax.vmap(first.embed)(theta)
        ll = jnp.sum(problem.log_likelihood(stacked))
        tau = jnp.exp(pos["log_tau"])
        lp = (-0.5 * jnp.sum((pos["mu"] / mu_scale) ** 2) - 0.5 * jnp.sum((tau / tau_scale) ** 2)
              + jnp.sum(pos["log_tau"]) - 0.5 * jnp.sum(pos["z"] ** 2))
        return ll + lp

    mu0 = jnp.mean(x_fit, 0)
    tau0 = jnp.std(x_fit, 0) + 0.1 * tau_scale
    k_init, k_adapt, k_draw = jax.random.split(key, 3)
    jit = jax.random.normal(k_init, (chains, 2 + n, k)) * 0.1

    def start(c):
        return {"mu": mu0 + jit[c, 0] * tau0, "log_tau": jnp.log(tau0) + jit[c, 1],
                "z": (x_fit - mu0) / tau0 + jit[c, 2:]}

    u0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[start(c) for c in range(chains)])
    if not bool(jnp.isfinite(logdensity(start(0)))):
        raise FloatingPointError("hierarchical: the log posterior is not finite at the per-subject fits")
    adapt = blackjax.window_adaptation(blackjax.nuts, logdensity, initial_step_size=0.1,
                                       is_mass_matrix_diagonal=not dense_mass)

    @jax.jit
    def run_warmup(keys, u):
        def one(kk, u_):
            (state, p), _ = adapt.run(kk, u_, num_steps=warmup)
            return state, p["step_size"], p["inverse_mass_matrix"]
        return _over_chains(one)(keys, u)

    @jax.jit
    def run_chunk(states, step_size, inv_mass, keys):
        def one(state, s, m, ks):
            kernel = blackjax.nuts(logdensity, step_size=s, inverse_mass_matrix=m)

            def body(st, kk):
                st, info = kernel.step(kk, st)
                out = jnp.concatenate([st.position["mu"], jnp.exp(st.position["log_tau"]),
                                       thetas(st.position).reshape(-1)])
                return st, (out, info.is_divergent, info.num_integration_steps)
            return jax.lax.scan(body, state, ks)
        return _over_chains(one)(states, step_size, inv_mass, keys)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=draws, desc=f"hierarchical nuts ({n} subjects, {chains} chains, warmup {warmup})", leave=False)
    states, step_size, inv_mass = _run_chains(run_warmup, jax.random.split(k_adapt, chains), u0)
    t_warm = time.perf_counter() - t0
    xs, div, nsteps, done = [], [], [], 0
    for kk in jax.random.split(k_draw, -(-draws // chunk)):
        m = min(chunk, draws - done)
        states, (x, d, s) = _run_chains(run_chunk, states, step_size, inv_mass,
                                        jax.random.split(kk, chains * chunk).reshape(chains, chunk, -1))
        xs.append(np.asarray(x)[:, :m]); div.append(np.asarray(d)[:, :m]); nsteps.append(np.asarray(s)[:, :m])
        done += m
        if bar is not None:
            bar.update(m)
    if bar is not None:
        bar.close()
    samples = np.concatenate(xs, 1)
    point = None
    if pointwise:
        thin = max(1, -(-draws * chains // pointwise))
        sub = jnp.asarray(samples[:, ::thin, 2 * k:], jnp.float32).reshape(chains, -1, n, k)
        f = jax.jit(lambda th: jax.lax.map(lambda t: problem.log_likelihood(jax.vmap(first.embed)(t)).reshape(-1), th))
        point = np.stack([np.asarray(f(sub[c])) for c in range(chains)])
        point = point[..., np.any(point != 0, axis=(0, 1))]
    col = [f"mu[{a}]" for a in names] + [f"tau[{a}]" for a in names] + [f"S{i}[{a}]" for i in range(n) for a in names]
    info = {"chains": chains, "warmup": warmup, "draws": draws, "subjects": n, "coefficients": names,
            "mu_scale": mu_scale, "tau_scale": tau_scale, "divergences": np.concatenate(div, 1).sum(1).tolist(),
            "step_size": np.asarray(step_size).tolist(), "mean_steps": float(np.concatenate(nsteps, 1).mean()),
            "seconds": time.perf_counter() - t0, "warmup_seconds": t_warm,
            "model": "θ_s = μ + τ·z_s, z ~ N(0, 1), μ ~ N(0, mu_scale²), τ ~ Half-N(0, tau_scale²)"}
    return Posterior(col, samples, "hierarchical nuts", point, None, info)


def _marginal_log_likelihood(theta_hat: Array, h: Array, mu: Array, tau: Array) -> Array:
    r"""``log ∫ N_H(θ̂ | θ) N(θ | μ, diag τ²) dθ`` up to a constant, for one subject whose
    likelihood is approximated by ``exp(−½ (θ − θ̂)ᵀ H (θ − θ̂))`` (``H`` may be singular: a
    flat direction then carries no information about μ). With ``S = diag τ`` and
    ``A = I + S H S``: ``−½ [dᵀH d − (S H d)ᵀ A⁻¹ (S H d)] − ½ log det A``, ``d = θ̂ − μ``."""
    d = theta_hat - mu
    hd = h @ d
    a = jnp.eye(h.shape[0]) + tau[:, None] * h * tau[None, :]
    chol = jnp.linalg.cholesky(a)
    v = jax.scipy.linalg.solve_triangular(chol, tau * hd, lower=True)
    return -0.5 * (d @ hd - v @ v) - jnp.sum(jnp.log(jnp.diag(chol)))


def _sample_population(logdensity, keys, u0, warmup: int, draws: int):
    """Window adaptation then ``draws`` NUTS draws of every chain (``vmap``) for a small,
    cheap population density over ``(μ, log τ)``: ``(positions, divergent, steps)``."""
    import blackjax

    adapt = blackjax.window_adaptation(blackjax.nuts, logdensity, initial_step_size=0.1)

    @jax.jit
    def run(keys, u):
        def one(kk, u_):
            k1, k2 = jax.random.split(kk)
            (state, p), _ = adapt.run(k1, u_, num_steps=warmup)
            kernel = blackjax.nuts(logdensity, **p)

            def body(st, k_):
                st, info = kernel.step(k_, st)
                return st, (st.position, info.is_divergent, info.num_integration_steps)
            return jax.lax.scan(body, state, jax.random.split(k2, draws))[1]
        return jax.vmap(one)(keys, u)

    return run(keys, u0)


def hierarchical_laplace(problem, params, *, key: Array | None = None, chains: int = 4, warmup: int = 500,
                         draws: int = 1000, mu_scale: float = 1.0, tau_scale: float = 1.0, refine: int = 50,
                         subject_prior_scale: float = 10.0, pointwise: int = 1000,
                         progress: bool = True) -> Posterior:
    r"""The hierarchical model of :func:`hierarchical` with every subject's likelihood replaced by
    its Laplace approximation — a Gaussian in :math:`θ_s` with mode :math:`\hatθ_s` and
    curvature :math:`H_s` (taken at the subject's posterior mode under a weak Gaussian prior,
    sd ``subject_prior_scale``, after ``refine`` L-BFGS iterations). The subjects' coefficients
    then integrate out in closed form,

    .. math:: \hatθ_s \mid μ, τ \sim N\big(μ,\ H_s^{-1} + \operatorname{diag} τ^2\big),

    NUTS samples only :math:`(μ, \log τ)` (``2k`` numbers, microseconds per gradient), and every
    subject's :math:`θ_s` is drawn exactly from its Gaussian conditional given each draw of
    :math:`(μ, τ)`. Exact when the subject likelihoods are Gaussian (linear-Gaussian models);
    otherwise as good as the per-subject Laplace fits (their ``report()`` says where they are
    not). Same output layout as :func:`hierarchical`; ``info["subject_laplace"]`` keeps the
    per-subject approximations. ``pointwise``: draws (thinned) whose per-observation
    log-likelihood under the *exact* model is kept for WAIC / PSIS-LOO (0: none)."""

    from ._laplace import laplace

    n = getattr(problem, "n_groups", 0)
    if not n or not hasattr(problem, "subject"):
        raise ConfigError("hierarchical: needs a grouped problem (one rule per subject), e.g. a per-subject choice fit")
    if n < 2:
        raise ConfigError("hierarchical: needs at least 2 subjects")
    for name, v in (("mu_scale", mu_scale), ("tau_scale", tau_scale), ("subject_prior_scale", subject_prior_scale)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise ConfigError(f"hierarchical: {name} must be a finite number > 0, got {v!r}")
    key = jax.random.PRNGKey(0) if key is None else key
    t0 = time.perf_counter()
    laps = []
    for i in range(n):
        lap = laplace(problem.subject(i), jax.tree_util.tree_map(lambda a: a[i], params), prior="gaussian",
                      prior_scale=subject_prior_scale, refine=refine)
        laps.append(lap)
        if progress and (i + 1) % 10 == 0:
            print(f"  subject Laplace fits: {i + 1}/{n}", flush=True)
    names = list(laps[0].names)
    k = len(names)
    prior_h = np.eye(k) / subject_prior_scale**2
    h_lik = []
    for lap in laps:  # the likelihood's curvature: the posterior's minus the weak prior's, clipped to ≥ 0
        lam, vec = np.linalg.eigh(lap.hessian - prior_h)
        h_lik.append((vec * np.clip(lam, 0, None)) @ vec.T)
    hs = jnp.asarray(np.stack(h_lik), jnp.float32)
    th = jnp.asarray(np.stack([lap.mean for lap in laps]), jnp.float32)

    def logdensity(pos):
        tau = jnp.exp(pos["log_tau"])
        ll = jnp.sum(jax.vmap(_marginal_log_likelihood, in_axes=(0, 0, None, None))(th, hs, pos["mu"], tau))
        return (ll - 0.5 * jnp.sum((pos["mu"] / mu_scale) ** 2) - 0.5 * jnp.sum((tau / tau_scale) ** 2)
                + jnp.sum(pos["log_tau"]))

    k_init, k_adapt, k_draw, k_theta = jax.random.split(key, 4)
    mu0, tau0 = jnp.mean(th, 0), jnp.std(th, 0) + 0.1 * tau_scale
    jit = 0.1 * jax.random.normal(k_init, (chains, 2, k))
    u0 = {"mu": mu0 + jit[:, 0] * tau0, "log_tau": jnp.log(tau0) + jit[:, 1]}
    pos, div, nsteps = _sample_population(logdensity, jax.random.split(k_adapt, chains), u0, warmup, draws)
    mu, tau = pos["mu"], jnp.exp(pos["log_tau"])  # (C, D, k)

    def subject_draw(kk, m, t):  # θ_s | μ, τ, θ̂_s for every subject: Gaussian
        prec = hs + jnp.diag(1.0 / t**2)[None]
        mean = jnp.linalg.solve(prec, (jnp.einsum("sij,sj->si", hs, th) + m / t**2)[..., None])[..., 0]
        chol = jnp.linalg.cholesky(prec)
        z = jax.random.normal(kk, (n, k))
        return mean + jax.scipy.linalg.solve_triangular(jnp.swapaxes(chol, -1, -2), z[..., None], lower=False)[..., 0]

    keys = jax.random.split(k_theta, chains * draws).reshape(chains, draws, -1)
    thetas = jax.jit(jax.vmap(jax.vmap(subject_draw)))(keys, mu, tau)  # (C, D, S, k)
    samples = np.concatenate([np.asarray(mu), np.asarray(tau), np.asarray(thetas).reshape(chains, draws, n * k)], -1)
    point = None
    if pointwise:
        first = make_target(problem.subject(0), jax.tree_util.tree_map(lambda a: a[0], params))
        thin = max(1, -(-draws * chains // pointwise))
        sub = jnp.asarray(thetas)[:, ::thin]
        f = jax.jit(lambda th_: jax.lax.map(lambda t: problem.log_likelihood(jax.vmap(first.embed)(t)).reshape(-1), th_))
        point = np.stack([np.asarray(f(sub[c])) for c in range(chains)])  # (C, D', S·T)
    col = [f"mu[{a}]" for a in names] + [f"tau[{a}]" for a in names] + [f"S{i}[{a}]" for i in range(n) for a in names]
    info = {"chains": chains, "warmup": warmup, "draws": draws, "subjects": n, "coefficients": names,
            "mu_scale": mu_scale, "tau_scale": tau_scale, "divergences": np.asarray(div).sum(1).tolist(),
            "mean_steps": float(np.asarray(nsteps).mean()), "seconds": time.perf_counter() - t0,
            "subject_laplace": laps,
            "model": "θ̂_s ~ N(μ, H_s⁻¹ + diag τ²) (per-subject Laplace likelihoods), μ ~ N(0, mu_scale²), "
                     "τ ~ Half-N(0, tau_scale²)"}
    if point is not None:
        keep = np.any(point != 0, axis=(0, 1))
        info["observation_subject"] = np.repeat(np.arange(n), point.shape[-1] // n)[keep].tolist()
        point = point[..., keep]
    return Posterior(col, samples, "hierarchical (Laplace subjects) nuts", point, None, info)


def hierarchical_from_samples(posts: list[Posterior], *, key: Array | None = None, chains: int = 4,
                              warmup: int = 500, draws: int = 1000, mu_scale: float = 1.0, tau_scale: float = 1.0,
                              max_samples: int = 1000) -> Posterior:
    r"""Partial pooling from per-subject posterior *samples* (e.g. one :func:`nuts` per subject),
    by reweighting each subject's draws from the prior they were sampled under, :math:`π_0`, to
    the population distribution (the importance-sampling estimate used for hierarchical
    inference from posterior samples):

    .. math:: p(D_s \mid μ, τ) \propto \frac{1}{M}\sum_{m=1}^{M}
              \frac{N(θ_s^{(m)} \mid μ, \operatorname{diag} τ^2)}{π_0(θ_s^{(m)})}, \qquad
              θ_s^{(m)} \sim p(θ_s \mid D_s)\ \text{under}\ π_0 .

    Exact up to Monte Carlo error and valid for any per-subject posterior shape (no Gaussian
    approximation of the subjects), as long as each subject's draws cover where the population
    puts mass: ``info["min_effective_draws"]`` (the smallest per-subject effective sample size
    of the weights at the posterior mean of ``(μ, τ)``) says how well. NUTS samples only
    ``(μ, log τ)``. Columns ``mu[θ]``, ``tau[θ]``."""

    if len(posts) < 2:
        raise ConfigError("hierarchical: needs at least 2 subjects")
    names = list(posts[0].names)
    if any(list(p.names) != names for p in posts):
        raise ConfigError("hierarchical: every subject's posterior must have the same coefficients")
    prior = posts[0].info.get("prior", "flat")
    scale = posts[0].info.get("prior_scale")
    if any(p.info.get("prior") != prior or p.info.get("prior_scale") != scale for p in posts):
        raise ConfigError("hierarchical: every subject must have been sampled under the same prior")
    if prior not in ("gaussian", "flat"):
        raise ConfigError(f"hierarchical: reweighting from a {prior} prior is not supported (use gaussian)")
    key = jax.random.PRNGKey(0) if key is None else key
    t0 = time.perf_counter()
    k = len(names)
    th = []
    for p in posts:
        d = p.draws
        th.append(d[:: max(1, len(d) // max_samples)][:max_samples])
    m = min(len(t) for t in th)
    th = jnp.asarray(np.stack([t[:m] for t in th]), jnp.float32)  # (S, M, k)
    log_pi0 = (-0.5 * jnp.sum((th / scale) ** 2, -1) - k * jnp.log(scale)) if prior == "gaussian" else jnp.zeros(th.shape[:2])

    def log_weights(mu, tau):
        return -0.5 * jnp.sum(((th - mu) / tau) ** 2, -1) - jnp.sum(jnp.log(tau)) - log_pi0  # (S, M)

    def logdensity(pos):
        tau = jnp.exp(pos["log_tau"])
        ll = jnp.sum(jax.scipy.special.logsumexp(log_weights(pos["mu"], tau), axis=1))
        return (ll - 0.5 * jnp.sum((pos["mu"] / mu_scale) ** 2) - 0.5 * jnp.sum((tau / tau_scale) ** 2)
                + jnp.sum(pos["log_tau"]))

    means = jnp.mean(th, 1)
    mu0, tau0 = jnp.mean(means, 0), jnp.std(means, 0) + 0.1 * tau_scale
    k_init, k_run = jax.random.split(key)
    jit = 0.1 * jax.random.normal(k_init, (chains, 2, k))
    u0 = {"mu": mu0 + jit[:, 0] * tau0, "log_tau": jnp.log(tau0) + jit[:, 1]}
    pos, div, nsteps = _sample_population(logdensity, jax.random.split(k_run, chains), u0, warmup, draws)
    mu, tau = np.asarray(pos["mu"]), np.exp(np.asarray(pos["log_tau"]))
    lw = np.asarray(log_weights(jnp.asarray(mu.reshape(-1, k).mean(0)), jnp.asarray(tau.reshape(-1, k).mean(0))))
    w = np.exp(lw - lw.max(1, keepdims=True))
    ess = (w.sum(1) ** 2) / (w**2).sum(1)
    col = [f"mu[{a}]" for a in names] + [f"tau[{a}]" for a in names]
    info = {"chains": chains, "warmup": warmup, "draws": draws, "subjects": len(posts), "coefficients": names,
            "mu_scale": mu_scale, "tau_scale": tau_scale, "divergences": np.asarray(div).sum(1).tolist(),
            "mean_steps": float(np.asarray(nsteps).mean()), "seconds": time.perf_counter() - t0,
            "samples_per_subject": m, "effective_draws_per_subject": ess.tolist(),
            "min_effective_draws": float(ess.min()),
            "model": "θ_s ~ N(μ, diag τ²), per-subject posterior draws reweighted from their sampling prior; "
                     "μ ~ N(0, mu_scale²), τ ~ Half-N(0, tau_scale²)"}
    return Posterior(col, np.concatenate([mu, tau], -1), "hierarchical (reweighted subject draws) nuts", None, None,
                     info)


def population_summary(post: Posterior):
    """The population rows (``mu[…]``, ``tau[…]``) of a hierarchical posterior's summary."""
    table = post.summary()
    return table[[i.startswith(("mu[", "tau[")) for i in table.index]]
