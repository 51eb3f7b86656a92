"""A rule as a flat coefficient vector, and back: the documented order every posterior uses."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError


def rule_vector(rule) -> tuple[np.ndarray, list[str]]:
    """``(vector, names)``: every learned array of ``rule`` (a rule or a tuple of rules),
    flattened in ``jax.tree_util`` leaf order, each leaf in C order — for a Taylor rule exactly
    ``θ.ravel()``, named like ``rule.names`` (``x1y1w0`` …); a tuple's names are prefixed
    ``A:``, ``B:``; other families' entries are named ``p0, p1, …``. The inverse is
    :func:`rule_from_vector`."""
    from ..infer._problem import coefficient_names

    leaves = jax.tree_util.tree_leaves(eqx.filter(rule, eqx.is_inexact_array))
    vec = np.concatenate([np.ravel(np.asarray(a)) for a in leaves]) if leaves else np.zeros(0, np.float32)
    names = coefficient_names(rule)
    if names is None or len(names) != vec.size:
        names = [f"p{i}" for i in range(vec.size)]
    return vec, list(names)


def rule_from_vector(rule, vector):
    """A copy of ``rule`` whose learned arrays hold ``vector`` (the order of :func:`rule_vector`)."""
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    vector = np.asarray(vector)
    total = sum(int(np.size(a)) for a in leaves)
    if vector.ndim != 1 or vector.size != total:
        raise ConfigError(f"rule_from_vector: the rule has {total} coefficients, got a vector of shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise ConfigError("rule_from_vector: the vector holds NaN or infinite values")
    out, i = [], 0
    for a in leaves:
        n = int(np.size(a))
        out.append(jnp.asarray(vector[i:i + n], a.dtype).reshape(a.shape))
        i += n
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, out), static)
