"""Goodness-of-fit metrics."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array


def r2_score(y_true: Array, y_pred: Array) -> Array:
    r"""Coefficient of determination, averaged uniformly over outputs.

    For ``y_true, y_pred`` of shape ``(samples, outputs)`` (further trailing axes are
    flattened into outputs):

    .. math::
        R^2 = \frac{1}{n}\sum_{j=1}^{n}\Big(1 - \frac{\sum_t (y_{tj} - \hat y_{tj})^2}
                                                    {\sum_t (y_{tj} - \bar y_j)^2}\Big)

    An output with zero variance scores 1 if predicted exactly and 0 otherwise —
    the conventions of ``sklearn.metrics.r2_score`` (``multioutput="uniform_average"``),
    which is how Mehta et al. (2024) score weight and activity trajectories: samples are
    time steps, outputs are synapses (weights) or units (activity).
    """
    # NumPy in → NumPy out (no per-shape XLA compilation for host-side scoring); JAX otherwise
    xp = np if isinstance(y_true, np.ndarray) and isinstance(y_pred, np.ndarray) else jnp
    y_true = xp.asarray(y_true)
    y_pred = xp.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"r2_score: shapes differ, {y_true.shape} vs {y_pred.shape}")
    y_true = y_true.reshape(y_true.shape[0], -1)
    y_pred = y_pred.reshape(y_pred.shape[0], -1)
    ss_res = xp.sum((y_true - y_pred) ** 2, axis=0)
    ss_tot = xp.sum((y_true - xp.mean(y_true, axis=0)) ** 2, axis=0)
    safe = xp.where(ss_tot > 0, ss_tot, 1.0)
    per_output = xp.where(ss_tot > 0, 1.0 - ss_res / safe, xp.where(ss_res == 0, 1.0, 0.0))
    return xp.mean(per_output)
