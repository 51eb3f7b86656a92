"""Sums of rules (e.g. ``oja() + MLPRule(...)``)."""

from __future__ import annotations

import jax.numpy as jnp

from ._base import AbstractRule


class RuleSum(AbstractRule):
    """``Δw = Σ_k g_k(x, y, w, r)`` over the component rules (Ramesh et al. 2023: Oja + MLP)."""

    rules: tuple[AbstractRule, ...]

    def __check_init__(self):
        if not self.rules:
            raise ValueError("RuleSum needs at least one rule")

    def delta(self, x, y, w, r):
        return sum((rule.delta(x, y, w, r) for rule in self.rules), jnp.zeros_like(w))

    def l1(self):
        return sum((rule.l1() for rule in self.rules), jnp.zeros(()))

    def equation(self, precision: int = 2, threshold: float | None = None) -> str:
        parts = [rule.equation(precision, threshold).removeprefix("Δw = ") for rule in self.rules]
        return "Δw = " + " + ".join(f"[{p}]" for p in parts)


