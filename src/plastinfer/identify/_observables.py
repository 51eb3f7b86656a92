r"""Observable statistics of a network's layers (Nayebi et al. 2020, §3 and B.1).

For each layer and checkpoint, on a fixed validation batch, three *measures*:

- ``weight``: the layer's forward weights ``W`` (all elements);
- ``act``: the layer's output (after its ReLU) — statistics over units for each
  validation example, then averaged over examples;
- ``gradavg``: the layer-wise activity change, per example
  ``g = (1/n_out) Σ_i Σ_j ∂y_i/∂x_j`` (the summed Jacobian of the layer's outputs with
  respect to its inputs, averaged over output units), computed two ways: through ``W``
  (the true Jacobian, ``gradavg``) and through the backward path the rule uses
  (``gradavg_rule``: through ``B`` for FA and IA, as the original TensorFlow code did —
  which leaks the rule's identity; for SGDM and Adam both are equal).

Each measure goes through three *functions* (``raw``, ``abs``, ``sq``). ``weight`` and
``act`` then get seven *statistics* (:data:`STATISTICS`) as the original code defines
them: ``norm`` (L2 norm of the flattened tensor), ``mean``, ``var`` (population
variance), ``skew`` (Pearson's second coefficient ``3 (mean − median) / std``),
``kurtosis`` (``E[(v − μ)^4] / var²``, i.e. non-excess, ``scipy.stats.kurtosis(fisher=False)``),
``median`` and ``q3`` (75th percentile, linear interpolation). ``gradavg`` gets the mean
over examples only. That makes 21 + 21 + 3 (+ 3) features per layer per checkpoint.
Where an example's activations are constant (a silent ReLU layer), its skew and kurtosis
are undefined and that example is left out of the average.

Measurement realism (§6, B.4): ``noise_std`` adds independent Gaussian noise to every
measured element (weights, activations, Jacobian entries) before the statistics, and
``unit_frac`` keeps a random ``ceil(frac · n)`` of the units (weight elements; output
units of ``act``; input and output units of ``gradavg``).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from ._learners import Layer, apply_layer

FUNCTIONS = ("raw", "abs", "sq")
STATISTICS = ("norm", "mean", "var", "skew", "kurtosis", "median", "q3")
MEASURES = ("weight", "act", "gradavg", "gradavg_rule")


def feature_names(measures=MEASURES) -> list[str]:
    """Names of the per-layer features, in the order :func:`layer_observables` returns them."""
    names = []
    for m in measures:
        if m.startswith("gradavg"):
            names += [f"{m}_{f}" for f in FUNCTIONS]
        else:
            names += [f"{m}_{f}_{s}" for f in FUNCTIONS for s in STATISTICS]
    return names


def _fn(v, f):
    return v if f == "raw" else (jnp.abs(v) if f == "abs" else v * v)


def _quantile_sorted(s: jax.Array, q: float) -> jax.Array:
    """The ``q``-quantile of the sorted ``s`` (last axis) by linear interpolation between
    order statistics (numpy's default): position ``q (n − 1)``."""
    pos = q * (s.shape[-1] - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, s.shape[-1] - 1)
    return s[..., lo] + (pos - lo) * (s[..., hi] - s[..., lo])


def _statistics_sorted(v: jax.Array, s: jax.Array) -> jax.Array:
    """The seven statistics over the last axis of ``v``, given ``s``, its sorted copy:
    ``(..., 7)``."""
    mean = jnp.mean(v, axis=-1)
    var = jnp.mean((v - mean[..., None]) ** 2, axis=-1)
    med = _quantile_sorted(s, 0.5)
    std = jnp.sqrt(var)
    skew = jnp.where(std > 0, 3.0 * (mean - med) / jnp.where(std > 0, std, 1.0), jnp.nan)
    safe_var = jnp.where(var > 0, var, 1.0)
    kurt = jnp.where(var > 0, jnp.mean((v - mean[..., None]) ** 4, axis=-1) / safe_var ** 2, jnp.nan)
    return jnp.stack([jnp.linalg.norm(v, axis=-1), mean, var, skew, kurt, med, _quantile_sorted(s, 0.75)], axis=-1)


def statistics(v: jax.Array) -> jax.Array:
    """The seven statistics of the flattened ``v``, ``(7,)`` in :data:`STATISTICS` order."""
    v = v.ravel()
    return _statistics_sorted(v, jnp.sort(v))


def function_statistics(v: jax.Array) -> jax.Array:
    """The statistics of ``raw``, ``abs`` and ``sq`` of ``v`` over its last axis,
    ``(..., 3, 7)`` (:data:`FUNCTIONS` × :data:`STATISTICS`), equal to :func:`statistics` of
    each function. Two sorts, not three: ``|v|`` sorted and squared is ``v²`` sorted
    (squaring is monotone on non-negative numbers, in floating point too). The sorts are
    most of the observables' cost (≈ 85 % on ``cnn2``)."""
    a = jnp.abs(v)
    s_a = jnp.sort(a, axis=-1)
    return jnp.stack([_statistics_sorted(v, jnp.sort(v, axis=-1)), _statistics_sorted(a, s_a),
                      _statistics_sorted(v * v, s_a * s_a)], axis=-2)


def _noisy(v, noise_std, key):
    """``v`` plus additive white Gaussian noise of standard deviation ``noise_std`` (a Python
    float, skipped when 0, or a traced scalar, so one compile serves every noise level)."""
    if isinstance(noise_std, (int, float)) and noise_std == 0:
        return v
    return v + noise_std * jax.random.normal(key, v.shape, v.dtype)


def _subsample(key, n: int, frac: float) -> jax.Array | None:
    if frac >= 1.0:
        return None
    return jax.random.permutation(key, n)[: max(1, math.ceil(frac * n))]


def layer_observables(layer: Layer, p: dict, x: jax.Array, *, path="rule", noise_std: float = 0.0,
                      unit_frac: float = 1.0, key: jax.Array | None = None,
                      noise_key: jax.Array | None = None) -> jax.Array:
    """Features of one layer with parameters ``p`` on its validation inputs ``x`` (batch
    first), in :func:`feature_names` order. ``path`` is the rule's backward path for
    ``gradavg_rule`` (``"true"`` for backprop rules, ``"rule"`` for FA/IA, or a traced
    boolean, see :func:`~plastinfer.identify._learners.apply_layer`). ``key`` picks
    the recorded units, ``noise_key`` the measurement noise."""
    key = jax.random.PRNGKey(0) if key is None else key
    noise_key = jax.random.fold_in(key, 1) if noise_key is None else noise_key
    k_ws, k_as, k_gi, k_go = jax.random.split(key, 4)
    k_wn, k_an, k_gn = jax.random.split(noise_key, 3)
    feats = []
    # weights: all elements are units
    w = p["W"].ravel()
    w = _noisy(w, noise_std, k_wn)
    sel = _subsample(k_ws, w.size, unit_frac)
    w = w if sel is None else w[sel]
    feats.append(function_statistics(w).ravel())
    # activations: per example over (subsampled) output units, then the mean over examples
    y = apply_layer(layer, p, x).reshape(x.shape[0], -1)
    y = _noisy(y, noise_std, k_an)
    sel = _subsample(k_as, y.shape[1], unit_frac)
    y = y if sel is None else y[:, sel]
    feats.append(jnp.nanmean(function_statistics(y), axis=0).ravel())
    # layer-wise activity change, through W and through the rule's path
    n_out = int(np.prod(apply_layer(layer, p, x[:1]).shape[1:]))
    out_sel = _subsample(k_go, n_out, unit_frac)
    cot = jnp.ones((x.shape[0], n_out)) if out_sel is None else jnp.zeros((x.shape[0], n_out)).at[:, out_sel].set(1.0)
    n_counted = n_out if out_sel is None else out_sel.size
    for pth in ("true", path):
        _, vjp = jax.vjp(lambda xx: apply_layer(layer, p, xx, pth).reshape(x.shape[0], -1), x)
        jac = vjp(cot)[0].reshape(x.shape[0], -1)  # Σ_i ∂y_i/∂x_j per example, (n, n_in)
        jac = _noisy(jac, noise_std, k_gn)
        in_sel = _subsample(k_gi, jac.shape[1], unit_frac)
        jac = jac if in_sel is None else jac[:, in_sel]
        g = jnp.sum(jac, axis=1) / n_counted
        feats.append(jnp.stack([jnp.mean(_fn(g, f)) for f in FUNCTIONS]))
    return jnp.concatenate(feats)


@functools.partial(jax.jit, static_argnames=("layers", "unit_frac"))
def network_observables(layers: tuple[Layer, ...], checkpoints: list[dict], x_val: jax.Array, *, path=True,
                        noise_std: float | jax.Array = 0.0, unit_frac: float = 1.0,
                        key: jax.Array | None = None) -> jax.Array:
    """``(n_checkpoints, n_layers, n_features)`` features of every layer at every checkpoint
    (``checkpoints``: per-layer parameter dicts with a leading checkpoint axis; ``path``: a
    boolean array, ``True`` when the rule's backward path runs through ``B``). The same
    units are recorded at every checkpoint (``key``); the measurement noise is drawn
    afresh for each checkpoint. ``noise_std`` is traced (any level, one compile; it can be
    ``vmap``-ped); ``unit_frac`` fixes the recorded units' count, so each value compiles once."""
    key = jax.random.PRNGKey(0) if key is None else key
    n_ck = jax.tree_util.tree_leaves(checkpoints)[0].shape[0]

    def at(args):
        params, c = args
        h, out = x_val, []
        for i, (layer, p) in enumerate(zip(layers, params)):
            if layer.kind == "dense" and h.ndim > 2:
                h = h.reshape(h.shape[0], -1)
            out.append(layer_observables(layer, p, h, path=path, noise_std=noise_std, unit_frac=unit_frac,
                                         key=jax.random.fold_in(key, i),
                                         noise_key=jax.random.fold_in(jax.random.fold_in(key, 10_000 + i), c)))
            h = apply_layer(layer, p, h)
        return jnp.stack(out)

    return jax.lax.map(at, (checkpoints, jnp.arange(n_ck)))


@functools.partial(jax.jit, static_argnames=("layers", "unit_frac"))
def observables_grid(layers: tuple[Layer, ...], checkpoints: list[dict], x_val: jax.Array, noise_stds: jax.Array,
                     keys: jax.Array, *, path=True, unit_frac: float = 1.0) -> jax.Array:
    """:func:`network_observables` under several measurements at one unit fraction:
    ``(n, n_checkpoints, n_layers, n_features)`` for ``noise_stds (n,)`` and PRNG ``keys
    (n, 2)`` (each key picks the recorded units and the noise, as in B.4)."""
    return jax.vmap(lambda s, k: network_observables(layers, checkpoints, x_val, path=path, noise_std=s,
                                                     unit_frac=unit_frac, key=k))(noise_stds, keys)
