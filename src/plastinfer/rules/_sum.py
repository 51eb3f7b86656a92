"""Sums of rules (e.g. ``oja() + MLPRule(...)``)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ._base import AbstractRule
from ..errors import ConfigError


class RuleSum(AbstractRule):
    """``Δw = Σ_k g_k(x, y, w, r)`` over the component rules (Ramesh et al. 2023: Oja + MLP)."""

    rules: tuple[AbstractRule, ...]

    def __check_init__(self):
        if not self.rules:
            raise ConfigError("RuleSum needs at least one rule")

    def delta(self, x, y, w, r):
        return sum((rule.delta(x, y, w, r) for rule in self.rules), jnp.zeros_like(w))

    def delta_many(self, x, y, w, r):
        return sum((rule.delta_many(x, y, w, r) for rule in self.rules), jnp.zeros_like(w))

    def l1(self):
        return sum((rule.l1() for rule in self.rules), jnp.zeros(()))

    def equation(self, precision: int = 2, threshold: float | None = None) -> str:
        parts = [rule.equation(precision, threshold).removeprefix("Δw = ") for rule in self.rules]
        return "Δw = " + " + ".join(f"[{p}]" for p in parts)




class Frozen(AbstractRule):
    """A rule that takes part in a sum but is not learned: its parameters are behind
    :func:`jax.lax.stop_gradient`, so gradient-based fits (trajectory, adversarial,
    gradient meta-learning) leave them unchanged (Adam on a zero gradient moves nothing).
    Ramesh et al.'s *Oja + local MLP* is ``Frozen(oja()) + MLPRule(key)``: the fixed Oja
    term plus a learned perturbation. Evolution strategies perturb every array, so freeze
    by leaving the rule out of the search there."""

    rule: AbstractRule

    def delta(self, x, y, w, r):
        params, static = eqx.partition(self.rule, eqx.is_inexact_array)
        return eqx.combine(jax.lax.stop_gradient(params), static).delta(x, y, w, r)

    def delta_many(self, x, y, w, r):
        params, static = eqx.partition(self.rule, eqx.is_inexact_array)
        return eqx.combine(jax.lax.stop_gradient(params), static).delta_many(x, y, w, r)

    def equation(self, precision: int = 2, threshold: float | None = None) -> str:
        return self.rule.equation(precision, threshold) + " (fixed)"
