r"""Rule portraits usable on any fitted rule (Ramesh et al. 2023, Figs. 2–4, D–E), and the
per-time-point comparison of activity distributions.

For one synapse with presynaptic rate ``x``, postsynaptic rate ``y`` and weight ``w``:

- :func:`delta_grid`: ``Δw = h(x, y, w)`` over a grid of ``(x, y)`` at fixed ``w``;
- :func:`vector_field`: the coupled system at fixed ``x``,

  .. math:: \dot w = h(x, y, w), \qquad \dot y = w x − y

  (the postsynaptic rate relaxes to its feed-forward drive ``w x``; its fixed points lie on
  ``y = w x``), with nullclines ``h = 0`` and ``y = w x``;
- :func:`fixed_points`: the roots of ``h(x, w x, w)`` in ``w`` and their stability from the
  eigenvalues of the Jacobian of ``(\dot w, \dot y)``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize, stats


def _h(rule, x, y, w):
    """Δw of one synapse for scalar ``x``, ``y``, ``w``: a 1 × 1 layer and one sample, or —
    for a rule built for a fixed layer (a global MLP: ``n_in``, ``n_out`` attributes) — the
    homogeneous layer in which every input has rate ``x``, every output ``y`` and every
    weight ``w`` (synapse (0, 0) reported). Rules that see layer means (semi-global) see
    ``x`` and ``w`` there, as in the homogeneous layer."""
    n_in, n_out = getattr(rule, "n_in", 1), getattr(rule, "n_out", 1)
    xs = jnp.broadcast_to(x, (1, n_in))
    ys = jnp.broadcast_to(y, (1, n_out))
    return rule(xs, ys, jnp.broadcast_to(w, (n_out, n_in)))[0, 0]


@eqx.filter_jit
def _grid_h(rule, xs, ys, ws):
    """``h`` elementwise over equally shaped 2-D grids (compiled once per rule structure and grid shape)."""
    return jax.vmap(jax.vmap(lambda x, y, w: _h(rule, x, y, w)))(xs, ys, ws)


def delta_grid(rule, x_values, y_values, w: float = 0.01) -> np.ndarray:
    """``(len(y_values), len(x_values))`` grid of ``Δw = h(x, y, w)`` at fixed ``w``."""
    xs, ys = jnp.meshgrid(jnp.asarray(x_values, jnp.float32), jnp.asarray(y_values, jnp.float32))
    return np.asarray(_grid_h(rule, xs, ys, jnp.full_like(xs, w)))


def vector_field(rule, w_values, y_values, x: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(dw, dy)`` on the grid ``y_values × w_values`` (each ``(len(y), len(w))``) at fixed ``x``."""
    ws, ys = jnp.meshgrid(jnp.asarray(w_values, jnp.float32), jnp.asarray(y_values, jnp.float32))
    dw = _grid_h(rule, jnp.full_like(ws, x), ys, ws)
    return np.asarray(dw), np.asarray(ws * x - ys)


def fixed_points(rule, x: float = 0.5, w_range: tuple[float, float] = (-3.0, 3.0), n_grid: int = 601) -> list[dict]:
    """Fixed points ``(w*, y* = w* x)`` of the (w, y) system at fixed ``x``: sign changes of
    ``φ(w) = h(x, w x, w)`` on a grid of ``w``, refined with Brent's method (exact zeros on the
    grid are kept). Each comes with the Jacobian's eigenvalues (``[real, imag]`` pairs) and
    ``stable`` (all real parts < 0)."""
    phi = jax.jit(jax.vmap(lambda w: _h(rule, jnp.float32(x), w * x, w)))
    grid = np.linspace(*w_range, n_grid)
    vals = np.asarray(phi(jnp.asarray(grid, jnp.float32)), np.float64)
    scalar = lambda w: float(phi(jnp.asarray([w], jnp.float32))[0])  # noqa: E731
    roots = []
    for i in range(n_grid - 1):
        a, b = vals[i], vals[i + 1]
        if a == 0.0:
            roots.append(grid[i])
        elif a * b < 0:
            roots.append(optimize.brentq(scalar, grid[i], grid[i + 1], xtol=1e-7))
    jac = jax.jit(jax.jacfwd(lambda v: jnp.stack([_h(rule, jnp.float32(x), v[1], v[0]), v[0] * x - v[1]])))
    out = []
    for w in roots:
        if out and abs(w - out[-1]["w"]) < 1e-5:
            continue
        eig = np.linalg.eigvals(np.asarray(jac(jnp.asarray([w, w * x], jnp.float32)), np.float64))
        out.append({"w": float(w), "y": float(w * x), "eigenvalues": [[float(e.real), float(e.imag)] for e in eig],
                    "stable": bool(np.all(eig.real < 0))})
    return out


def activity_distance(a, b) -> np.ndarray:
    """Per-time-point two-sample distance between two sets of traces ``a (n, T)`` and
    ``b (m, T)``: the 1-Wasserstein distance between the empirical distributions of the
    activity at each time point (scipy), ``(T,)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"traces must be (n, T) with the same T, got {a.shape} and {b.shape}")
    return np.array([stats.wasserstein_distance(a[:, t], b[:, t]) for t in range(a.shape[1])])
