"""The contract every plasticity rule fulfils."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array
from ..errors import ConfigError

#: Canonical order of the synaptic variables a rule may depend on.
VARIABLES: tuple[str, ...] = ("x", "y", "w", "r")


def _as_samples(x: Array, y: Array, r: Array | float | None) -> tuple[Array, Array, Array]:
    """Give ``x`` and ``y`` a leading sample axis ``K`` and ``r`` shape ``(K,)``."""
    x = jnp.asarray(x)
    y = jnp.asarray(y)
    if x.ndim == 1:
        x = x[None, :]
    if y.ndim == 1:
        y = y[None, :]
    if x.shape[0] != y.shape[0]:
        raise ConfigError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
    k = x.shape[0]
    r = jnp.zeros((k,), x.dtype) if r is None else jnp.broadcast_to(jnp.asarray(r, x.dtype), (k,))
    return x, y, r


class AbstractRule(eqx.Module):
    """A synaptic plasticity rule ``Δw_ij = g_θ(x_j, y_i, w_ij, r)``.

    A rule is a pure function of the local variables of one synapse — presynaptic
    rate ``x_j``, postsynaptic rate ``y_i``, weight ``w_ij`` — and an optional global
    reward ``r``, broadcast over a ``(post, pre)`` weight matrix.

    Call signature (shapes):

    - ``x``: ``(pre,)`` or ``(K, pre)`` — ``K`` input samples presented in one step;
    - ``y``: ``(post,)`` or ``(K, post)``;
    - ``w``: ``(post, pre)``;
    - ``r``: ``None``, a scalar or ``(K,)``.

    Returns ``Δw`` with shape ``(post, pre)``: for ``K > 1`` samples the average
    ``(1/K) Σ_k g_θ(x_kj, y_ki, w_ij, r_k)`` (the batch-averaged update of
    Confavreux et al. 2020 and Ramesh et al. 2023).

    Concrete rules provide :meth:`delta`, :meth:`equation` and :meth:`l1`. Families with
    interpretable coefficients (Taylor, spike-trace) set ``has_coefficients`` and give them
    by name (:meth:`coefficients`, ``names``); black-box families (MLPs) raise a clear
    ``TypeError`` there. Every rule flattens its learned arrays with :meth:`parameter_vector`.
    """

    #: whether the family has named, interpretable coefficients
    has_coefficients: ClassVar[bool] = False

    def coefficients(self) -> dict[str, float]:
        """Every interpretable coefficient by name."""
        raise TypeError(f"{type(self).__name__} is a black-box family: it has no named coefficients (its "
                        "parameters are network weights); compare such rules by their updates "
                        "(plastinfer.analysis.delta_grid) or use parameter_vector()")

    def parameter_vector(self) -> Array:
        """All learned (inexact) arrays of the rule, flattened."""
        return ravel_pytree(eqx.filter(self, eqx.is_inexact_array))[0]

    def __call__(self, x: Array, y: Array, w: Array, r=None) -> Array:
        x, y, r = _as_samples(x, y, r)
        if w.shape != (y.shape[1], x.shape[1]):
            raise ConfigError(
                f"weight matrix has shape {w.shape}, expected (post, pre) = {(y.shape[1], x.shape[1])}"
            )
        return self.delta(x, y, w, r)

    def many(self, x: Array, y: Array, w: Array, r=None) -> Array:
        """``Δw`` of ``N`` independent circuits at once (e.g. ``N`` trajectories).

        Shapes: ``x`` ``(N, pre)`` or ``(N, K, pre)``, ``y`` ``(N, post)`` or ``(N, K, post)``,
        ``w`` ``(N, post, pre)``, ``r`` ``None``, ``(N,)`` or ``(N, K)``; returns
        ``(N, post, pre)``, equal to ``jax.vmap(rule)(x, y, w, r)``. Families override
        :meth:`delta_many` where an explicitly batched form is faster than ``vmap``.
        """
        x, y, w = jnp.asarray(x), jnp.asarray(y), jnp.asarray(w)
        if x.ndim == 2:
            x = x[:, None, :]
        if y.ndim == 2:
            y = y[:, None, :]
        n, k = x.shape[:2]
        if y.shape[:2] != (n, k) or w.shape != (n, y.shape[2], x.shape[2]):
            raise ConfigError(f"many(): x {x.shape}, y {y.shape} and w {w.shape} do not describe N circuits of "
                              "(post, pre) weights with K samples each")
        if r is None:
            r = jnp.zeros((n, k), x.dtype)
        else:
            r = jnp.asarray(r, x.dtype)
            r = jnp.broadcast_to(r[:, None] if r.ndim == 1 else r, (n, k))
        return self.delta_many(x, y, w, r)

    @abc.abstractmethod
    def delta(self, x: Array, y: Array, w: Array, r: Array) -> Array:
        """``Δw`` for ``x (K, pre)``, ``y (K, post)``, ``w (post, pre)``, ``r (K,)``."""

    def delta_many(self, x: Array, y: Array, w: Array, r: Array) -> Array:
        """:meth:`delta` of ``N`` circuits: ``x (N, K, pre)``, ``y (N, K, post)``, ``w (N, post, pre)``,
        ``r (N, K)`` → ``(N, post, pre)``. Default: ``vmap`` of :meth:`delta`."""
        return jax.vmap(self.delta)(x, y, w, r)

    @abc.abstractmethod
    def equation(self, precision: int = 2, threshold: float | None = None) -> str:
        """The rule written as an equation, e.g. ``Δw = 1.00·x·y − 0.99·y²·w``."""

    def l1(self) -> Array:
        """L1 norm of the rule's interpretable coefficients (0 for black-box rules)."""
        return jnp.zeros(())

    def __add__(self, other: "AbstractRule") -> "AbstractRule":
        from ._sum import RuleSum

        left = self.rules if isinstance(self, RuleSum) else (self,)
        right = other.rules if isinstance(other, RuleSum) else (other,)
        return RuleSum(tuple(left) + tuple(right))

    def __str__(self) -> str:
        return self.equation()
