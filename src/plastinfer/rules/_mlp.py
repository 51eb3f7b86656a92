"""Multilayer-perceptron plasticity rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractRule
from ._taylor import _check_variables

_ACTIVATIONS: dict[str, Callable] = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}


class MLPRule(AbstractRule):
    r"""A local MLP rule ``Δw_ij = η_out · MLP([x_j, y_i, w_ij, r])`` (Mehta et al. 2024 §4).

    The MLP (an :class:`equinox.nn.MLP`) sees the chosen subset of the local variables of
    one synapse (canonical order ``x, y, w, r``) and is shared by all synapses. With
    ``K`` samples per step the update is averaged over samples. The paper's behavioural
    fits use a ``4-10-1`` network (``width=10, depth=1``).

    Unlike :class:`Taylor` this builds a ``(K, post, pre, width)`` hidden tensor: it has no
    factorised form.
    """

    mlp: eqx.nn.MLP
    variables: tuple[str, ...] = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        key: Array,
        variables: Sequence[str] = ("x", "y", "w"),
        width: int = 10,
        depth: int = 1,
        activation: str = "tanh",
        out_scale: float = 1e-2,
    ):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}")
        self.variables = _check_variables(variables)
        self.activation = activation
        mlp = eqx.nn.MLP(
            len(self.variables), "scalar", width, depth, activation=_ACTIVATIONS[activation], key=key
        )
        # a small last layer so that the initial rule is close to "no plasticity"
        self.mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, mlp.layers[-1].weight * out_scale)

    def delta(self, x, y, w, r):
        k, pre = x.shape
        post = y.shape[1]
        cols = {
            "x": jnp.broadcast_to(x[:, None, :], (k, post, pre)),
            "y": jnp.broadcast_to(y[:, :, None], (k, post, pre)),
            "w": jnp.broadcast_to(w[None], (k, post, pre)),
            "r": jnp.broadcast_to(r[:, None, None], (k, post, pre)),
        }
        feats = jnp.stack([cols[v] for v in self.variables], axis=-1)  # (K, post, pre, V)
        f = jax.vmap(jax.vmap(jax.vmap(self.mlp)))
        return jnp.mean(f(feats), axis=0)

    def equation(self, precision: int = 2, threshold: float | None = None) -> str:
        sizes = [self.mlp.in_size] + [self.mlp.width_size] * self.mlp.depth + [1]
        return f"Δw = MLP({', '.join(self.variables)}) [{'-'.join(map(str, sizes))}, {self.activation}]"
