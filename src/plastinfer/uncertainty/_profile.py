r"""Profile likelihoods and multi-start ensembles: what a point-estimate user can check without
a posterior.

**Profile likelihood** of a named coefficient :math:`θ_j`:
:math:`\ell_p(c) = \max_{θ: θ_j = c} \sum_i \ell_i(θ)`, each maximisation an L-BFGS fit through
the engine (warm-started from the previous grid point). The likelihood-ratio interval is
:math:`\{c : 2(\ell_p(\hatθ_j) − \ell_p(c)) ≤ χ^2_{1, 0.95} = 3.84\}` — it follows curved ridges
that a Laplace interval cannot.

**Ensemble**: the same fit from ``n`` starts (the problem's ``init`` with fresh keys, plus a
perturbation of scale ``spread``), keeping each start's best parameters: the spread of
coefficients and of loss says whether the optimiser, not the data, decides a coefficient.
It is not a posterior.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..infer import LBFGS, AbstractProblem
from ..infer import fit as engine_fit
from ._posterior import Posterior
from ._target import PosteriorTarget, find_mode, make_target

CHI2_95 = 3.841458820694124


class _Pinned(AbstractProblem):
    """The target with coefficient ``j`` pinned to ``value``: free vector ``z (k − 1,)``."""

    target: PosteriorTarget
    value: jax.Array
    j: int = eqx.field(static=True)

    @property
    def deterministic(self) -> bool:
        return True

    def full(self, z):
        return jnp.concatenate([z[: self.j], self.value[None], z[self.j:]])

    def loss(self, params, batch, key):
        return self.target.loss(self.full(params), batch, key)


@dataclasses.dataclass
class Profile:
    """``values`` ``(m,)`` of the coefficient ``name``, the profile log-likelihood ``log_lik``
    ``(m,)`` (+ log prior when the target has one), the maximising other coefficients
    ``others`` ``(m, k)``, the mode, and the likelihood-ratio ``interval(level)``."""

    name: str
    values: np.ndarray
    log_lik: np.ndarray
    others: np.ndarray
    mode: float
    mode_log_lik: float

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The likelihood-ratio interval; an end is ``±inf`` when the profile never drops far
        enough inside the grid (the data do not bound the coefficient on that side)."""
        from scipy.stats import chi2

        cut = self.mode_log_lik - 0.5 * chi2.ppf(level, 1)
        inside = self.log_lik >= cut
        lo = hi = None
        below, above = self.values < self.mode, self.values > self.mode
        if np.any(below & ~inside):
            i = np.max(np.flatnonzero(below & ~inside))  # last grid point outside, left of the mode
            lo = np.interp(cut, [self.log_lik[i], self.log_lik[i + 1]], [self.values[i], self.values[i + 1]])
        if np.any(above & ~inside):
            i = np.min(np.flatnonzero(above & ~inside))
            hi = np.interp(cut, [self.log_lik[i], self.log_lik[i - 1]], [self.values[i], self.values[i - 1]])
        return (-np.inf if lo is None else float(lo), np.inf if hi is None else float(hi))


@dataclasses.dataclass
class LikelihoodRatio:
    r"""Likelihood-ratio tests of ``name = value`` for each of ``values``:
    ``statistic`` :math:`Λ(c) = 2\big(\max_θ \ell(θ) − \max_{θ: θ_j = c} \ell(θ)\big)` ``(m,)``, its
    χ²₁ ``p_value``, and ``mode`` (the unrestricted maximiser of coefficient ``name``).
    ``c`` lies in the 95 % likelihood-ratio interval exactly when ``Λ(c) ≤ 3.84``."""

    name: str
    values: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    mode: float

    def inside(self, level: float = 0.95) -> np.ndarray:
        """Whether each value lies in the ``level`` likelihood-ratio interval ``(m,)``."""
        from scipy.stats import chi2

        return self.statistic <= chi2.ppf(level, 1)


def likelihood_ratio(problem, params, name: str, values, *, steps: int = 200, over: str = "rule",
                     prior: str = "flat", prior_scale: float | None = None) -> LikelihoodRatio:
    """Test coefficient ``name`` = each of ``values`` by the likelihood ratio (each value one
    L-BFGS fit of the other coefficients from the mode, through the engine; the statistic is
    floored at 0 when a restricted fit ends below the mode). The frequentist companion of the
    posterior: its coverage does not depend on a prior (``prior`` other than flat makes it a
    ratio of penalised likelihoods). Cheaper than :func:`profile` when only a few values
    matter, e.g. "is the truth inside the interval" or "is 0 excluded"."""
    from scipy.stats import chi2

    target = make_target(problem, params, over=over, prior=prior, prior_scale=prior_scale)
    if name not in target.names:
        raise ConfigError(f"unknown coefficient {name!r}; known: {list(target.names)}")
    values = np.atleast_1d(np.asarray(values, np.float64))
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise ConfigError("likelihood_ratio: values must be finite numbers")
    j = target.names.index(name)
    x_mode = find_mode(target, steps)
    best = float(target.log_density(x_mode))
    z_mode = jnp.concatenate([x_mode[:j], x_mode[j + 1:]])
    restricted = np.empty(values.size)
    for i, v in enumerate(values):
        pinned = _Pinned(target, jnp.asarray(v, jnp.float32), j)
        res = engine_fit(pinned, LBFGS(), z_mode, steps=steps, key=jax.random.PRNGKey(0), chunk=min(10, steps),
                         select="train", progress=False, patience=2)
        restricted[i] = float(target.log_density(pinned.full(res.params)))
    best = max(best, float(restricted.max()))
    stat = np.maximum(2.0 * (best - restricted), 0.0)
    return LikelihoodRatio(name, values, stat, chi2.sf(stat, 1), float(x_mode[j]))


def profile(problem, params, name: str, values=None, *, width: float = 4.0, n: int = 21, steps: int = 100,
            over: str = "rule", prior: str = "flat", prior_scale: float | None = None) -> Profile:
    """The profile log-likelihood of coefficient ``name`` over ``values`` (default: ``n`` points
    across the mode ± ``width`` Laplace sds, or ± ``width`` · 0.1 when the Laplace sd is
    infinite), each point an L-BFGS fit of the other coefficients (``steps`` iterations,
    warm-started outward from the mode)."""
    from ._laplace import laplace_of_target

    target = make_target(problem, params, over=over, prior=prior, prior_scale=prior_scale)
    if name not in target.names:
        raise ConfigError(f"unknown coefficient {name!r}; known: {list(target.names)}")
    j = target.names.index(name)
    x_mode = find_mode(target, steps)
    m = float(x_mode[j])
    if values is None:
        sd = float(laplace_of_target(target, x_mode).sd[j])
        half = width * (sd if np.isfinite(sd) and sd > 0 else 0.1)
        values = np.linspace(m - half, m + half, n)
    values = np.sort(np.asarray(values, np.float64))
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
        raise ConfigError("profile: values must be a 1-D array of at least 2 finite numbers")
    mode_ll = float(target.log_density(x_mode))
    out_ll = np.empty(values.size)
    others = np.empty((values.size, target.k))
    z_mode = jnp.concatenate([x_mode[:j], x_mode[j + 1:]])
    # walk outward from the mode on each side, each fit starting at its neighbour's optimum
    right = [i for i in range(values.size) if values[i] >= m]
    left = [i for i in reversed(range(values.size)) if values[i] < m]
    for side in (right, left):
        z = z_mode
        for i in side:
            pinned = _Pinned(target, jnp.asarray(values[i], jnp.float32), j)
            res = engine_fit(pinned, LBFGS(), z, steps=steps, key=jax.random.PRNGKey(0), chunk=min(10, steps),
                             select="train", progress=False, patience=2)
            z = res.params
            x = pinned.full(z)
            out_ll[i] = float(target.log_density(x))
            others[i] = np.asarray(x)
    return Profile(name, values, out_ll, others, m, max(mode_ll, float(out_ll.max())))


def ensemble(problem, strategy, *, starts: int = 8, steps: int = 200, key=None, spread: float = 0.1,
             params0=None, **fit_options) -> Posterior:
    """``starts`` fits of ``problem`` by ``strategy`` (the engine; each keeps its best
    parameters), from ``params0`` (default ``problem.init``) plus Gaussian perturbations of
    scale ``spread`` (start 0 unperturbed). Returns a :class:`Posterior`-shaped record
    (``method="ensemble"``, one "chain" of ``starts`` draws) with ``info["losses"]`` — the
    spread of optima, not a posterior."""
    if starts < 2:
        raise ConfigError(f"ensemble: starts must be ≥ 2, got {starts}")
    key = jax.random.PRNGKey(0) if key is None else key
    base = problem.init(key) if params0 is None else params0
    flat0, names = None, None
    rows, losses = [], []
    for s, k in enumerate(jax.random.split(key, starts)):
        k_p, k_fit = jax.random.split(k)
        leaves, treedef = jax.tree_util.tree_flatten(base)
        noise = jax.random.split(k_p, len(leaves))
        start = base if s == 0 else jax.tree_util.tree_unflatten(
            treedef, [a + spread * jax.random.normal(kk, jnp.shape(a), jnp.asarray(a).dtype)
                      if eqx.is_inexact_array(a) else a for a, kk in zip(leaves, noise)])
        res = engine_fit(problem, strategy, start, steps=steps, key=k_fit, progress=False, **fit_options)
        target = make_target(problem, res.params) if _has_likelihood(problem, res.params) else None
        if target is not None:
            vec, names = np.asarray(target.x0), list(target.names)
        else:
            vec = np.asarray(problem.coefficients(res.params))
            names = names or [f"θ{i}" for i in range(vec.size)]
        flat0 = vec if flat0 is None else flat0
        rows.append(vec)
        losses.append(float(np.mean(res.best_score)))
    return Posterior(names, np.stack(rows)[None], "ensemble", None, None,
                     {"losses": losses, "starts": starts, "steps": steps, "spread": spread})


def _has_likelihood(problem, params) -> bool:
    try:
        problem.log_likelihood(params)
        return True
    except NotImplementedError:
        return False
