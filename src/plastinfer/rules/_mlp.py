"""Multilayer-perceptron plasticity rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractRule
from ._taylor import _check_variables
from ..errors import ConfigError

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
        out_bias: float | None = None,
    ):
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}")
        self.variables = _check_variables(variables)
        self.activation = activation
        mlp = eqx.nn.MLP(
            len(self.variables), "scalar", width, depth, activation=_ACTIVATIONS[activation], key=key
        )
        # a small last layer so that the initial rule's x-, y-, w-dependence is weak; the last
        # bias keeps equinox's init (a constant drift of up to 1/√width) unless ``out_bias``
        # sets it — ``out_bias=0`` starts at exactly "no plasticity" where the MLP output is
        # flat, e.g. for Ramesh et al.'s Oja + MLP, a perturbation of Oja's rule
        mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, mlp.layers[-1].weight * out_scale)
        if out_bias is not None:
            mlp = eqx.tree_at(lambda m: m.layers[-1].bias, mlp, jnp.full_like(mlp.layers[-1].bias, out_bias))
        self.mlp = mlp

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


class SemiGlobalMLPRule(AbstractRule):
    r"""Semi-global MLP rule (Ramesh et al. 2023, §4.3): each synapse also sees the mean
    presynaptic activity and the mean weight onto its postsynaptic neuron,

    .. math:: Δw_{ij} = \mathrm{MLP}_θ\big(w_{ij}, x_j, y_i, \tfrac1N \textstyle\sum_j x_j, \tfrac1N \sum_j w_{ij}\big),

    shared by all synapses and averaged over the ``K`` samples of a step.
    """

    mlp: eqx.nn.MLP
    activation: str = eqx.field(static=True)

    def __init__(self, key: Array, width: int = 10, depth: int = 2, activation: str = "tanh", out_scale: float = 1e-2):
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}")
        self.activation = activation
        mlp = eqx.nn.MLP(5, "scalar", width, depth, activation=_ACTIVATIONS[activation], key=key)
        self.mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, mlp.layers[-1].weight * out_scale)

    def delta(self, x, y, w, r):
        k, pre = x.shape
        post = y.shape[1]
        shape = (k, post, pre)
        feats = jnp.stack([
            jnp.broadcast_to(w[None], shape),
            jnp.broadcast_to(x[:, None, :], shape),
            jnp.broadcast_to(y[:, :, None], shape),
            jnp.broadcast_to(jnp.mean(x, axis=1)[:, None, None], shape),
            jnp.broadcast_to(jnp.mean(w, axis=1)[None, :, None], shape),
        ], axis=-1)
        return jnp.mean(jax.vmap(jax.vmap(jax.vmap(self.mlp)))(feats), axis=0)

    def equation(self, precision: int = 2, threshold: float | None = None) -> str:
        sizes = [5] + [self.mlp.width_size] * self.mlp.depth + [1]
        return f"Δw = MLP(w, x, y, mean x, mean w) [{'-'.join(map(str, sizes))}, {self.activation}]"


class GlobalMLPRule(AbstractRule):
    r"""Global MLP rule (Ramesh et al. 2023, §4.3): every synapse's update is a function of
    all rates and weights of the layer,

    .. math:: ΔW = \mathrm{MLP}_θ\big(\{w_{ij}, x_j, y_i\}_{i,j}\big) \in \mathbb R^{M×N},

    one MLP with ``N + M + M·N`` inputs and ``M·N`` outputs (so the layer sizes are fixed
    at construction), averaged over the ``K`` samples of a step.
    """

    mlp: eqx.nn.MLP
    n_in: int = eqx.field(static=True)
    n_out: int = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(self, key: Array, n_in: int, n_out: int, width: int = 10, depth: int = 2, activation: str = "tanh",
                 out_scale: float = 1e-2):
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}")
        self.n_in, self.n_out, self.activation = n_in, n_out, activation
        mlp = eqx.nn.MLP(n_in + n_out + n_in * n_out, n_in * n_out, width, depth,
                         activation=_ACTIVATIONS[activation], key=key)
        self.mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, mlp.layers[-1].weight * out_scale)

    def delta(self, x, y, w, r):
        if w.shape != (self.n_out, self.n_in):
            raise ConfigError(f"this global rule was built for a ({self.n_out}, {self.n_in}) layer, got {w.shape}")
        feats = jnp.concatenate([x, y, jnp.broadcast_to(w.ravel(), (x.shape[0], w.size))], axis=1)
        return jnp.mean(jax.vmap(self.mlp)(feats), axis=0).reshape(w.shape)

    def equation(self, precision: int = 2, threshold: float | None = None) -> str:
        n = self.n_in + self.n_out + self.n_in * self.n_out
        sizes = [n] + [self.mlp.width_size] * self.mlp.depth + [self.n_in * self.n_out]
        return f"ΔW = MLP(all x, y, W) [{'-'.join(map(str, sizes))}, {self.activation}]"
