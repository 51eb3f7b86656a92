"""Angles between rules: how close a found rule is to a reference, up to a positive scale."""

from __future__ import annotations

import numpy as np


def rule_coefficients(rule) -> np.ndarray:
    """The interpretable coefficients of a rule, or of a tuple of rules concatenated
    (``effective_theta`` of each Taylor rule, flattened)."""
    rules = rule if isinstance(rule, (tuple, list)) else (rule,)
    parts = []
    for r in rules:
        if not hasattr(r, "effective_theta"):
            raise TypeError(f"{type(r).__name__} has no coefficients to compare (a Taylor rule is needed)")
        parts.append(np.asarray(r.effective_theta(), np.float64).ravel())
    return np.concatenate(parts)


def rule_angle(rule, reference) -> float:
    r"""Angle in degrees between the coefficient vectors of ``rule`` and ``reference``:

    .. math:: \angle(θ, θ^*) = \arccos \frac{θ \cdot θ^*}{\lVert θ\rVert\,\lVert θ^*\rVert}

    invariant to a positive rescaling of either rule (the paper's comparison "up to a
    scalar factor"); a sign flip gives 180° − angle. Both must have the same families
    and shapes (a tuple compares rule by rule, concatenated). A zero rule gives 90°.
    """
    a, b = rule_coefficients(rule), rule_coefficients(reference)
    if a.shape != b.shape:
        raise ValueError(f"rules have {a.size} and {b.size} coefficients; they must match")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 90.0
    return float(np.degrees(np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))))


def angles_per_rule(rule, reference) -> list[float]:
    """:func:`rule_angle` for each member of tuples of rules (e.g. A and B separately)."""
    return [rule_angle(r, q) for r, q in zip(rule, reference, strict=True)]
