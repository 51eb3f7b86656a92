"""A single plastic feed-forward layer (Mehta et al. 2024, Eq. 1–2)."""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..rules import AbstractRule
from ._base import AbstractCircuit
from ..errors import ConfigError

_NONLINEARITIES = {"linear": lambda u: u, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}


class LayerState(NamedTuple):
    """State of a plastic layer: the weight matrix ``w`` of shape ``(post, pre)``."""

    w: Array


class LayerInput(NamedTuple):
    """One step's input: ``x`` of shape ``(pre,)`` or ``(K, pre)``; reward ``r`` (scalar or ``(K,)``);
    optional additive postsynaptic noise ``noise`` (shape of ``y``), part of the activity the
    rule sees (Ramesh et al. 2023, Fig. 3A)."""

    x: Array
    r: Array | None = None
    noise: Array | None = None


class LayerRecord(NamedTuple):
    """One step's record: activity ``y`` (``(post,)`` or ``(K, post)``); weights after the update."""

    y: Array
    w: Array | None = None


class PlasticLayer(AbstractCircuit):
    r"""Feed-forward rate layer with plastic weights.

    .. math::
        y^{(t)} = f\big(W^{(t)} x^{(t)}\big), \qquad
        W^{(t+1)} = W^{(t)} + η\, g_θ\big(x^{(t)}, y^{(t)}, W^{(t)}, r^{(t)}\big)

    with ``f`` linear, sigmoid or tanh and plasticity step size ``η``. When one step
    presents ``K`` samples (``x`` of shape ``(K, pre)``) the update is averaged over them
    (the batch-averaged variant of Confavreux et al. 2020 / Ramesh et al. 2023).

    Initial weights: ``N(0, init_std²)``; ``init_std=None`` is Kaiming-normal,
    ``√(2 / n_in)``, as in the paper's appendix A.3.

    Divergence guard: weights are clipped to ``[−w_max, w_max]`` (default 1e4, far beyond
    any weight a stable rule reaches), so a candidate rule that blows up yields a large
    *finite* loss and finite gradients instead of NaN — fitters can then back off.
    """

    n_in: int = eqx.field(static=True)
    n_out: int = eqx.field(static=True)
    nonlinearity: str = eqx.field(static=True, default="sigmoid")
    eta: float = eqx.field(static=True, default=1.0)
    init_std: float | None = eqx.field(static=True, default=None)
    w_max: float = eqx.field(static=True, default=1e4)

    def __check_init__(self):
        if self.nonlinearity not in _NONLINEARITIES:
            raise ConfigError(f"unknown nonlinearity {self.nonlinearity!r}; choose from {sorted(_NONLINEARITIES)}")
        if self.n_in < 1 or self.n_out < 1:
            raise ConfigError(f"layer sizes must be positive, got n_in={self.n_in}, n_out={self.n_out}")

    @property
    def weight_std(self) -> float:
        return math.sqrt(2.0 / self.n_in) if self.init_std is None else float(self.init_std)

    def init(self, key: Array) -> LayerState:
        return LayerState(self.weight_std * jax.random.normal(key, (self.n_out, self.n_in), jnp.float32))

    def state_from_weights(self, w: Array) -> LayerState:
        return LayerState(jnp.asarray(w, jnp.float32))

    def make_inputs(self, stimuli: Array, rewards: Array | None = None) -> LayerInput:
        return LayerInput(stimuli, rewards)

    def forward(self, w: Array, x: Array) -> Array:
        """``f(W x)`` for ``x`` of shape ``(pre,)`` or ``(K, pre)``."""
        return _NONLINEARITIES[self.nonlinearity](x @ w.T)

    def step(self, state: LayerState, inputs: LayerInput, rule: AbstractRule, record_weights: bool = False):
        x = inputs.x
        y = self.forward(state.w, x)
        if inputs.noise is not None:
            y = y + inputs.noise
        w = jnp.clip(state.w + self.eta * rule(x, y, state.w, inputs.r), -self.w_max, self.w_max)
        return LayerState(w), LayerRecord(y, w if record_weights else None)

    def step_many(self, state: LayerState, inputs: LayerInput, rule: AbstractRule, record_weights: bool = False):
        # N layers at once, the rule's batched form (AbstractRule.many): same numbers as vmap(step)
        x = inputs.x  # (N, pre) or (N, K, pre)
        y = _NONLINEARITIES[self.nonlinearity](jnp.einsum("nij,n...j->n...i", state.w, x))
        if inputs.noise is not None:
            y = y + inputs.noise
        w = jnp.clip(state.w + self.eta * rule.many(x, y, state.w, inputs.r), -self.w_max, self.w_max)
        return LayerState(w), LayerRecord(y, w if record_weights else None)

    def config(self) -> dict:
        """Every setting, with ``kind``: :func:`circuit_from_spec` rebuilds this circuit."""
        from ._spec import circuit_to_spec

        return circuit_to_spec(self)
