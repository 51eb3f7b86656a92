"""Goodness of fit of choice models, and model comparison across subjects."""

from __future__ import annotations

import numpy as np


def bernoulli_deviance(p, choices, mask=None) -> float:
    r"""Deviance of predicted choice probabilities: :math:`D = -2\sum_t [o_t \log p_t + (1-o_t)\log(1-p_t)]`
    over the trials where ``mask`` is true (``p`` clipped to ``[1e-7, 1 − 1e-7]``)."""
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    o = np.asarray(choices, np.float64)
    m = np.ones(o.shape, bool) if mask is None else np.asarray(mask, bool)
    if p.shape != o.shape or m.shape != o.shape:
        raise ValueError(f"shapes differ: p {p.shape}, choices {o.shape}, mask {m.shape}")
    ll = o * np.log(p) + (1 - o) * np.log1p(-p)
    return float(-2.0 * np.sum(ll[m]))


def percent_deviance_explained(d_model: float, d_null: float) -> float:
    r"""Mehta et al. (2024), Eq. 11: :math:`100\,(1 - D_{model} / D_{null})`; the null model
    is the same circuit without plasticity. 0 for the null itself, 100 for a perfect
    predictor, negative for a model worse than no plasticity."""
    if not d_null > 0:
        raise ValueError(f"null deviance must be positive, got {d_null}")
    return 100.0 * (1.0 - d_model / d_null)


def paired_comparison(a, b, *, names: tuple[str, str] = ("a", "b"), alternative: str = "two-sided") -> dict:
    """Compare two models fit to the same subjects (Fig. 4D/F of Mehta et al. 2024).

    ``a``, ``b``: per-subject scores (e.g. percent deviance explained), paired by subject.
    Returns the per-subject difference ``b − a``, its median and mean, how many subjects
    ``b`` fits better, and the Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`).
    """
    from scipy.stats import wilcoxon

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired_comparison needs two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("paired_comparison: scores must be finite")
    diff = b - a
    out = {
        "models": list(names),
        "n": int(a.size),
        "difference": diff.tolist(),
        "median_difference": float(np.median(diff)),
        "mean_difference": float(np.mean(diff)),
        f"n_{names[1]}_better": int(np.sum(diff > 0)),
    }
    if a.size >= 2 and np.any(diff != 0):
        res = wilcoxon(b, a, alternative=alternative)
        out.update({"wilcoxon_statistic": float(res.statistic), "p_value": float(res.pvalue)})
    else:
        out.update({"wilcoxon_statistic": None, "p_value": None})
    return out
