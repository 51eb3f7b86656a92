"""How well the data constrain a Taylor rule's coefficients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..circuits import LayerInput, LayerState, PlasticLayer, rollout
from ..rules import AbstractRule, Taylor


def taylor_features(template: Taylor, x, y, w, r=None) -> jax.Array:
    r"""Monomials ``φ_n(x, y, w, r) = ∂Δw/∂θ_n`` at ``n`` synapse samples.

    A Taylor rule is linear in its coefficients, ``Δw = Σ_n θ_n φ_n``; the features are
    obtained by differentiating the rule itself, so they match any variable subset or
    order. ``x, y, w`` (and ``r``) are 1-D arrays of equal length; returns ``(samples, terms)``.
    """

    def one(xi, yi, wi, ri):
        f = lambda th: Taylor(th, template.variables, template.order, template.active)(  # noqa: E731
            xi[None, None], yi[None, None], wi[None, None], ri
        )[0, 0]
        return jax.grad(f)(template.theta).ravel()

    r = jnp.zeros_like(x) if r is None else r
    return jax.vmap(one)(x, y, w, r)


def coefficient_conditioning(
    template: Taylor,
    circuit: PlasticLayer,
    truth: AbstractRule,
    w0: jax.Array,
    x: jax.Array,
    *,
    n_samples: int = 50_000,
    key: jax.Array | None = None,
) -> dict:
    r"""Eigen-decomposition of the normalised Gram matrix of the rule's monomials.

    Along a ground-truth trajectory (initial weights ``w0`` ``(post, pre)``, inputs ``x``
    ``(T, pre)``), sample synapse-time points ``(x_j, y_i, w_ij)`` and form
    ``G = E[φ̃ φ̃ᵀ]`` with ``φ̃_n = φ_n / ‖φ_n‖`` (unit-RMS columns). A small eigenvalue
    ``λ`` means that moving θ along its eigenvector barely changes ``Δw`` on the data:
    such directions are not identifiable from these data, whatever the fitter.
    Returns ``eigenvalues`` (ascending), ``eigenvectors`` (columns, in scaled units),
    ``scale`` (RMS of each monomial), ``condition`` (λ_max / λ_min) and ``names``.
    """
    key = jax.random.PRNGKey(0) if key is None else key
    _, rec = rollout(circuit, truth, LayerState(w0), LayerInput(x), record_weights=True)
    ws = jnp.concatenate([w0[None], rec.w[:-1]])  # weights in force at each step, (T, post, pre)
    t_n, post, pre = ws.shape
    kt, ki, kj = jax.random.split(key, 3)
    t = jax.random.randint(kt, (n_samples,), 0, t_n)
    i = jax.random.randint(ki, (n_samples,), 0, post)
    j = jax.random.randint(kj, (n_samples,), 0, pre)
    phi = taylor_features(template, x[t, j], rec.y[t, i], ws[t, i, j])
    scale = jnp.sqrt(jnp.mean(phi**2, axis=0))
    scale = jnp.where(scale > 0, scale, 1.0)
    g = (phi / scale).T @ (phi / scale) / n_samples
    evals, evecs = np.linalg.eigh(np.asarray(g, np.float64))
    return {
        "eigenvalues": evals,
        "eigenvectors": evecs,
        "scale": np.asarray(scale),
        "condition": float(evals[-1] / max(evals[0], 1e-300)),
        "names": template.names,
    }


def error_in_weak_directions(theta_fit, theta_true, conditioning: dict, n_weak: int) -> float:
    """Fraction of the (scaled) coefficient error ``‖θ̃_fit − θ̃_true‖²`` that lies in the
    ``n_weak`` least-constrained eigen-directions of :func:`coefficient_conditioning`."""
    diff = (np.asarray(theta_fit).ravel() - np.asarray(theta_true).ravel()) * conditioning["scale"]
    proj = conditioning["eigenvectors"].T @ diff
    total = float(np.sum(proj**2))
    return float(np.sum(proj[:n_weak] ** 2) / total) if total > 0 else 0.0
