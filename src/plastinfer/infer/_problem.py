"""What the engine fits: the contract every Problem fulfils."""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, PyTree

from ..errors import ConfigError

#: A loss at or above this (or a non-finite one) marks a diverged candidate or step.
DIVERGED = 1e6


class AbstractProblem(eqx.Module):
    r"""What is being fitted, independent of how (the :class:`~plastinfer.infer.Strategy`).

    A Problem holds its data and model as arrays and static configuration, so the
    engine can ``jit`` one step for all problems of one shape. Concrete problems provide

    - :meth:`loss` ``(params, batch, key) -> (loss, aux)``: the scalar to minimise on the
      items ``batch`` (an index array into the problem's ``n_items`` trajectories /
      subjects, or ``None`` for all of them) with randomness from ``key`` (resampled
      initial weights, fresh data sets); ``aux`` is a dict of scalars logged per step.
      A *grouped* problem (``n_groups > 0``: independent fits run side by side, e.g. one
      rule per subject) returns a ``(n_groups,)`` loss, and its parameters carry a
      leading group axis;
    - :meth:`objective` ``(params) -> loss``: a deterministic version (fixed key, all
      items) on which best-so-far parameters are chosen;
    - optionally :meth:`validation_loss` (held-out items: selection uses it when present),
      :meth:`log_likelihood` (per observation, where the loss is a likelihood),
      :meth:`coefficients` (the trace the history records) and :meth:`init` (the ``start``
      rule's arrays the fitters record in the problem, plus nuisance parameters such as
      latent initial weights drawn from the key — what multi-start ensembles re-draw).
    """

    @property
    def n_items(self) -> int:
        """Number of independent items the loss averages over (0: not batched)."""
        return 0

    @property
    def n_groups(self) -> int:
        """Independent fits side by side (0: one fit)."""
        return 0

    @property
    def deterministic(self) -> bool:
        """Whether :meth:`loss` ignores its key (full-batch quasi-Newton needs this)."""
        return False

    def init(self, key: Array) -> PyTree:
        """Starting parameters: the problem's ``start`` (a rule's arrays, set by the fitters or
        by hand) plus whatever nuisance parameters the problem draws from ``key``."""
        start = getattr(self, "start", None)
        if start is None:
            raise NotImplementedError(f"{type(self).__name__} was built without a start; pass params0 to fit")
        return start

    @abc.abstractmethod
    def loss(self, params: PyTree, batch: Array | None, key: Array) -> tuple[Array, dict[str, Array]]:
        ...

    def objective(self, params: PyTree) -> Array:
        """The loss on all items with a fixed key: the score best-so-far parameters are kept on."""
        return self.loss(params, None, jax.random.PRNGKey(0))[0]

    @property
    def has_validation(self) -> bool:
        """Whether :meth:`validation_loss` scores held-out data (default: a ``validation`` field that is set)."""
        return getattr(self, "validation", None) is not None

    def validation_loss(self, params: PyTree) -> Array | None:
        return None

    def log_likelihood(self, params: PyTree) -> Array:
        """Log-likelihood of every observation under ``params`` (shape: one entry per
        observation, e.g. ``(trajectories, T, units)`` or ``(subjects, trials)``)."""
        raise NotImplementedError(f"{type(self).__name__}'s loss is not a likelihood")

    def coefficients(self, params: PyTree) -> Array:
        """A flat vector (``(n_groups, n)`` when grouped) recorded in the history."""
        if self.n_groups:
            return jax.vmap(lambda p: ravel_pytree(p)[0])(params)
        return ravel_pytree(params)[0]


def rule_params(rule: Any) -> tuple[PyTree, PyTree]:
    """``(params, static)`` of a rule (or tuple of rules): its inexact arrays and the rest."""
    return eqx.partition(rule, eqx.is_inexact_array)


def check_finite_params(params: PyTree, what: str) -> None:
    for leaf in jax.tree_util.tree_leaves(params):
        if not bool(jnp.all(jnp.isfinite(leaf))):
            raise ConfigError(f"{what}: the starting parameters hold NaN or infinite values")


def coefficient_vector(rule: Any) -> np.ndarray:
    """Effective interpretable coefficients of a rule or tuple of rules, concatenated
    (Taylor: its θ; other families: all their parameters)."""
    rules = rule if isinstance(rule, (tuple, list)) else (rule,)
    out = []
    for r in rules:
        c = r.effective_theta() if hasattr(r, "effective_theta") else ravel_pytree(eqx.filter(r, eqx.is_inexact_array))[0]
        out.append(jnp.ravel(c))
    return jnp.concatenate(out) if out else jnp.zeros((0,))


def rule_l1(rule: Any) -> Array:
    """``‖θ‖₁`` of a rule's interpretable coefficients, summed over a tuple of rules."""
    rules = rule if isinstance(rule, (tuple, list)) else (rule,)
    return sum((r.l1() for r in rules), jnp.zeros(()))


def coefficient_names(rule: Any) -> list[str] | None:
    """Names of :func:`coefficient_vector`'s entries, when every rule has named coefficients
    (a tuple's are prefixed ``A:``, ``B:``, …); ``None`` for black-box families."""
    rules = rule if isinstance(rule, (tuple, list)) else (rule,)
    if not all(getattr(r, "has_coefficients", False) and hasattr(r, "names") for r in rules):
        return None
    if len(rules) == 1:
        return list(rules[0].names)
    return [f"{chr(ord('A') + i)}:{n}" for i, r in enumerate(rules) for n in r.names]


def rule_equation(rule: Any, threshold: float | None = None) -> str:
    """A rule's equation; a tuple of rules as ``A: …; B: …``."""
    if isinstance(rule, (tuple, list)):
        return "; ".join(f"{chr(ord('A') + i)}: {r.equation(threshold=threshold)}" for i, r in enumerate(rule))
    return rule.equation(threshold=threshold)
