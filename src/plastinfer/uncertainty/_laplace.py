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

import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from ..errors import ConfigError


@dataclasses.dataclass
class Laplace:
    """A Gaussian approximation of the posterior at ``mean`` (shapes: ``d`` coefficients).

    - ``names`` ``(d,)``; ``mean`` ``(d,)``; ``hessian`` ``(d, d)`` of the negative log
      posterior (likelihood + prior);
    - ``eigenvalues`` (ascending) and ``eigenvectors`` (columns) of the *likelihood's*
      curvature — what the data alone determine; ``determined`` ``(d,)`` bool per
      eigen-direction (``λ > rtol · λ_max``);
    - ``prior_precision`` ``(d,)``: the prior's curvature (``None``: flat prior). With a
      proper prior every sd is finite (an undetermined direction gets the prior's spread);
      without one, a coefficient on a flat direction has ``sd = inf``;
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
    method: str = "laplace"
    prior_precision: np.ndarray | None = None

    @property
    def proper(self) -> bool:
        """Whether a prior bounds every direction (then the posterior is a proper Gaussian)."""
        return self.prior_precision is not None and bool(np.all(self.prior_precision > 0))

    def sample(self, n: int = 4000, seed: int = 0) -> np.ndarray:
        """``n`` draws ``(n, d)`` from the approximation (without a proper prior: along the
        determined directions only — a flat direction has no finite spread to draw from)."""
        lam, vec = np.linalg.eigh(self.covariance)
        z = np.random.default_rng(seed).standard_normal((n, len(self.mean)))
        return self.mean + (z * np.sqrt(np.clip(lam, 0, None))) @ vec.T

    def warnings(self) -> list[str]:
        """Every reason to distrust a number in :meth:`summary`."""
        lo, hi = self.interval()
        flat = [n for n, s in zip(self.names, self.sd) if not np.isfinite(s)]
        spans = [n for n, a, b, s in zip(self.names, lo, hi, self.sd) if np.isfinite(s) and a < 0 < b]
        return _grouped_warnings(flat, spans)

    def save(self, path):
        """``posterior.npz``: mode, curvature, names (no pickles)."""
        from pathlib import Path

        from .._io import atomic_write

        arrays = {"mode": self.mean, "hessian": self.hessian, "names": np.asarray(self.names, dtype=str),
                  "method": np.asarray(self.method), "sd": self.sd,
                  "log_likelihood": np.asarray(self.log_likelihood), "n_observations": np.asarray(self.n_observations)}
        atomic_write(Path(path), lambda fh: np.savez(fh, **arrays))
        return Path(path)

    @property
    def condition_number(self) -> float:
        """``λ_max / λ_min`` of the curvature (``inf`` when a direction is flat)."""
        lo, hi = float(self.eigenvalues[0]), float(self.eigenvalues[-1])
        return math.inf if lo <= 0 else hi / lo

    @property
    def covariance(self) -> np.ndarray:
        """``H⁻¹`` of the posterior; without a proper prior, restricted to the determined
        directions (the pseudo-inverse) — see :attr:`sd` for what an undetermined direction
        does to a coefficient then."""
        if self.proper:
            return np.linalg.inv(self.hessian)
        v = self.eigenvectors[:, self.determined]
        return (v / self.eigenvalues[self.determined]) @ v.T

    @property
    def sd(self) -> np.ndarray:
        """Marginal posterior sd of each coefficient; without a proper prior ``inf`` when it
        loads on a flat direction."""
        sd = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        if self.proper:
            return sd
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


def _grouped_warnings(flat: list[str], spans: list[str]) -> list[str]:
    out = []
    if flat:
        out.append(f"on an undetermined direction (no interval): {', '.join(flat)}")
    if spans:
        out.append(f"sign not determined (95 % interval contains 0): {', '.join(spans)}")
    return out


def laplace(problem, params: PyTree, *, names: list[str] | None = None, prior_sd: float | None = None,
            prior: str | None = None, prior_scale: float | None = None, over: str = "rule", refine: int = 0,
            rtol: float = 1e-5) -> Laplace:
    """The Laplace approximation of ``problem``'s posterior at ``params`` (a fit's best
    parameters — the mode, when the fit converged; ``refine`` > 0 first runs that many L-BFGS
    iterations towards the mode of the posterior, never ending worse than ``params``).

    ``problem.log_likelihood(params)`` gives the per-observation log-likelihood. The prior:
    ``prior_sd`` (an isotropic Gaussian, the short form) or ``prior`` (``"gaussian"``,
    ``"laplace"``, ``"flat"``) with ``prior_scale``; none: flat. ``over``: the free
    coefficients (``"rule"``: the rule's active terms, other parameters such as latent initial
    weights held at the fit; ``"all"``). ``names`` label the free coefficients (default: the
    rule's term names, else ``θ0, θ1, …``). Grouped problems are approximated one subject at a
    time (``problem.subject(i)``)."""
    from ._target import find_mode, make_target

    if prior_sd is not None:
        if prior not in (None, "gaussian"):
            raise ConfigError("laplace: give either prior_sd (a Gaussian prior) or prior/prior_scale")
        prior, prior_scale = "gaussian", prior_sd
    target = make_target(problem, params, over=over, prior=prior or "flat", prior_scale=prior_scale)
    return laplace_of_target(target, find_mode(target, refine) if refine else target.x0, names=names, rtol=rtol)


def laplace_of_target(target, x, *, names: list[str] | None = None, rtol: float = 1e-5) -> Laplace:
    """:func:`laplace` of a :class:`~plastinfer.uncertainty.PosteriorTarget` at ``x``."""
    from ._target import hessian, pointwise_log_likelihood

    names = list(target.names) if names is None else list(names)
    if len(names) != target.k:
        raise ConfigError(f"laplace: {len(names)} names for {target.k} free parameters")
    h_lik = hessian(target, x, prior=False)
    prior = target.prior_precision()
    lam, vec = np.linalg.eigh(h_lik)
    determined = lam > rtol * max(float(lam[-1]), 0.0)
    ll = pointwise_log_likelihood(target, jnp.asarray(x, jnp.float32))
    return Laplace(names, np.asarray(x, np.float64), h_lik + np.diag(prior), lam, vec, determined,
                   float(jnp.sum(ll)), int(np.size(ll)), prior_precision=None if target.prior == "flat" else prior)
