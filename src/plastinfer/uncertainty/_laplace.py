r"""Laplace approximation of a fit's posterior, and which coefficient combinations the data
determine.

For a problem with a per-observation log-likelihood :math:`\ell_i(θ)` and an optional
Gaussian prior :math:`θ_j \sim N(0, s^2)`, the negative log posterior is

.. math:: U(θ) = -\sum_i \ell_i(θ) + \tfrac{1}{2 s^2}\lVert θ\rVert^2 ,

and around its minimum :math:`\hatθ` the posterior is approximated by
:math:`N(\hatθ, H^{-1})` with :math:`H = ∇^2 U(\hatθ)` (computed exactly by JAX). The
eigen-decomposition :math:`H = \sum_k λ_k v_k v_k^\top` names the combinations
:math:`v_k^\top θ` the data determine (sd :math:`λ_k^{-1/2}`) and those they do not
(:math:`λ_k ≤` ``rtol`` · :math:`λ_{\max}`: a flat direction, infinite sd without a prior).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import PyTree

from ..errors import ConfigError


@dataclasses.dataclass
class Laplace:
    """A Gaussian approximation of the posterior at ``mean`` (shapes: ``d`` coefficients).

    - ``names`` ``(d,)``; ``mean`` ``(d,)``; ``hessian`` ``(d, d)`` of the negative log
      posterior; ``eigenvalues`` (ascending) and ``eigenvectors`` (columns) of it;
    - ``determined`` ``(d,)`` bool per eigen-direction (``λ > rtol · λ_max``);
    - ``log_likelihood``: :math:`\\sum_i \\ell_i(\\hatθ)`; ``n_observations``.
    """

    names: list[str]
    mean: np.ndarray
    hessian: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    determined: np.ndarray
    log_likelihood: float
    n_observations: int

    @property
    def condition_number(self) -> float:
        """``λ_max / λ_min`` of the curvature (``inf`` when a direction is flat)."""
        lo, hi = float(self.eigenvalues[0]), float(self.eigenvalues[-1])
        return math.inf if lo <= 0 else hi / lo

    @property
    def covariance(self) -> np.ndarray:
        """``H⁻¹`` restricted to the determined directions (the pseudo-inverse); see :attr:`sd`
        for what an undetermined direction does to a coefficient."""
        v = self.eigenvectors[:, self.determined]
        return (v / self.eigenvalues[self.determined]) @ v.T

    @property
    def sd(self) -> np.ndarray:
        """Marginal posterior sd of each coefficient; ``inf`` when it loads on a flat direction."""
        sd = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        flat = self.eigenvectors[:, ~self.determined]
        loads = np.any(np.abs(flat) > 1e-3, axis=1) if flat.size else np.zeros(len(sd), bool)
        return np.where(loads, np.inf, sd)

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        from scipy.stats import norm

        z = norm.ppf(0.5 + level / 2)
        return self.mean - z * self.sd, self.mean + z * self.sd

    def sign_probability(self, name: str) -> float:
        """``P(θ_name > 0)`` under the approximation (0.5 on a flat direction)."""
        from scipy.stats import norm

        if name not in self.names:
            raise ConfigError(f"unknown coefficient {name!r}; known: {self.names}")
        i = self.names.index(name)
        sd = self.sd[i]
        return 0.5 if not np.isfinite(sd) else float(norm.cdf(self.mean[i] / sd)) if sd > 0 else float(self.mean[i] > 0)

    def aic(self) -> float:
        """``−2 log L + 2k`` (``k``: determined directions)."""
        return -2 * self.log_likelihood + 2 * int(self.determined.sum())

    def bic(self) -> float:
        """``−2 log L + k ln n``."""
        return -2 * self.log_likelihood + int(self.determined.sum()) * math.log(max(self.n_observations, 1))

    def summary(self):
        """A table (pandas): mean, sd, 2.5 % and 97.5 % bounds and ``P(>0)`` per coefficient."""
        import pandas as pd

        lo, hi = self.interval()
        return pd.DataFrame({"mean": self.mean, "sd": self.sd, "2.5%": lo, "97.5%": hi,
                             "P(>0)": [self.sign_probability(n) for n in self.names]}, index=self.names)

    def identifiable_directions(self, terms: int = 3) -> list[dict]:
        """Every eigen-direction, best determined first: ``{"direction": "0.71·θ[a] + …",
        "sd": …, "determined": bool, "vector": (d,)}`` (the ``terms`` largest loadings named)."""
        out = []
        for k in np.argsort(-self.eigenvalues):
            v = self.eigenvectors[:, k]
            v = v * np.sign(v[np.argmax(np.abs(v))])
            top = np.argsort(-np.abs(v))[:terms]
            text = " ".join(f"{'+' if v[j] >= 0 else '−'} {abs(v[j]):.2f}·θ[{self.names[j]}]" for j in top)
            lam = float(self.eigenvalues[k])
            out.append({"direction": text.lstrip("+ "), "sd": lam ** -0.5 if self.determined[k] else math.inf,
                        "determined": bool(self.determined[k]), "vector": v})
        return out

    def report(self) -> str:
        """A plain-language identifiability report."""
        dirs = self.identifiable_directions()
        n_flat = int((~self.determined).sum())
        lines = [f"curvature condition number {self.condition_number:.3g}; "
                 f"{len(dirs) - n_flat} of {len(dirs)} directions determined by the data"]
        for d in dirs[:3]:
            lines.append(f"  determined: {d['direction']}  (±{d['sd']:.3g})")
        for d in [d for d in dirs if not d["determined"]][:3]:
            lines.append(f"  NOT determined: {d['direction']}")
        if n_flat:
            lines.append("verdict: some coefficients are not determined by these data; read them only through the "
                         "determined combinations")
        else:
            lines.append("verdict: every coefficient is determined (intervals above)")
        return "\n".join(lines)


def laplace(problem, params: PyTree, *, names: list[str] | None = None, prior_sd: float | None = None,
            rtol: float = 1e-5) -> Laplace:
    """The Laplace approximation of ``problem``'s posterior at ``params`` (a fit's best
    parameters — the mode, when the fit converged). ``problem.log_likelihood(params)`` gives
    the per-observation log-likelihood; ``prior_sd``: an isotropic Gaussian prior on every
    parameter (``None``: flat). ``names`` label the flattened parameters (default
    ``θ0, θ1, …``). Grouped problems are not supported here (fit one group at a time)."""
    if getattr(problem, "n_groups", 0):
        raise ConfigError("laplace: grouped problems (one rule per subject) are approximated one subject at a time")
    flat, unravel = ravel_pytree(params)
    if names is None:
        names = [f"θ{i}" for i in range(flat.size)]
    if len(names) != flat.size:
        raise ConfigError(f"laplace: {len(names)} names for {flat.size} parameters")

    def neg_log_post(v):
        u = -jnp.sum(problem.log_likelihood(unravel(v)))
        return u if prior_sd is None else u + 0.5 * jnp.sum((v / prior_sd) ** 2)

    h = np.asarray(jax.hessian(neg_log_post)(flat), np.float64)
    if not np.all(np.isfinite(h)):
        raise FloatingPointError("laplace: the curvature is not finite at these parameters")
    h = 0.5 * (h + h.T)
    lam, vec = np.linalg.eigh(h)
    determined = lam > rtol * max(float(lam[-1]), 0.0)
    ll = problem.log_likelihood(params)
    return Laplace(list(names), np.asarray(flat, np.float64), h, lam, vec, determined,
                   float(jnp.sum(ll)), int(np.size(ll)))
