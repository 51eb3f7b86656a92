"""Two-layer rate network with hierarchical plastic lateral connections (Confavreux et al. 2020, §3.2)."""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..rules import AbstractRule
from ._base import AbstractCircuit
from ._feedforward import LayerInput
from ..errors import ConfigError


class LateralState(NamedTuple):
    """State of a :class:`LateralNetwork`: feed-forward weights ``w`` ``(n_out, n_in)`` and
    lateral weights ``w_lat`` ``(n_out, n_out)`` (post × pre, zero outside the hierarchy)."""

    w: Array
    w_lat: Array


class LateralRecord(NamedTuple):
    """One step's record: activity ``y`` (``(K, n_out)``) and, when recorded, both weight matrices."""

    y: Array
    w: Array | None = None
    w_lat: Array | None = None


class LateralNetwork(AbstractCircuit):
    r"""Linear rate network ``n_in → n_out`` with hierarchical plastic lateral connections.

    Activity (Confavreux et al. 2020, Eq. 6), for every sample ``x`` of the batch:

    .. math::
        y_i = \sum_j w_{ij} x_j + \sum_{j<i} \hat w_{ij} y_j
        \quad\Longleftrightarrow\quad y = (I - \hat W)^{-1} W x,

    where output ``i`` receives lateral input only from earlier outputs ``j < i`` (``\hat W``
    strictly lower triangular: the first output only sends, the last only receives), so
    the fixed point is found exactly by forward substitution. Two rules act, each
    batch-averaged over the ``K`` samples of a step (Eq. 3 and 7):

    .. math::
        Δw_{ij} = η\, A(x_j, y_i, w_{ij}), \qquad
        Δ\hat w_{ij} = η_l\, B(y_j, y_i, \hat w_{ij})\ \ (j < i),

    i.e. the lateral rule sees the *presynaptic output* ``y_j`` in the place of ``x``.
    ``step`` takes the pair of rules as ``rule = (A, B)``. Defaults: ``η = 1/20``,
    ``η_l = 1/10`` (the paper's hand-tuned values), feed-forward weights ``N(0, init_std²)``
    (default ``1/√n_in``), lateral weights start at zero. Weights are clipped at
    ``±w_max`` so a diverging rule gives a large finite loss.
    """

    n_in: int = eqx.field(static=True)
    n_out: int = eqx.field(static=True)
    eta: float = eqx.field(static=True, default=1.0 / 20)
    eta_lateral: float = eqx.field(static=True, default=1.0 / 10)
    init_std: float | None = eqx.field(static=True, default=None)
    w_max: float = eqx.field(static=True, default=1e4)

    def __check_init__(self):
        if self.n_in < 1 or not 1 <= self.n_out:
            raise ConfigError(f"layer sizes must be positive, got n_in={self.n_in}, n_out={self.n_out}")

    @property
    def weight_std(self) -> float:
        return 1.0 / math.sqrt(self.n_in) if self.init_std is None else float(self.init_std)

    @property
    def mask(self) -> Array:
        """``(n_out, n_out)`` 1 where a lateral synapse ``j → i`` exists (``j < i``)."""
        return jnp.tril(jnp.ones((self.n_out, self.n_out), jnp.float32), k=-1)

    def init(self, key: Array) -> LateralState:
        w = self.weight_std * jax.random.normal(key, (self.n_out, self.n_in), jnp.float32)
        return LateralState(w, jnp.zeros((self.n_out, self.n_out), jnp.float32))

    def state_from_weights(self, w: Array) -> LateralState:
        """Feed-forward weights ``w``; lateral weights start at zero."""
        return LateralState(jnp.asarray(w, jnp.float32), jnp.zeros((self.n_out, self.n_out), jnp.float32))

    def make_inputs(self, stimuli: Array, rewards: Array | None = None) -> LayerInput:
        return LayerInput(stimuli, rewards)

    def forward(self, state: LateralState, x: Array) -> Array:
        """``y = (I − Ŵ)^{-1} W x`` for ``x`` of shape ``(K, n_in)`` → ``(K, n_out)``.

        ``Ŵ`` is strictly lower triangular, hence nilpotent: ``(I − Ŵ)^{-1} = Σ_{k<M} Ŵ^k``,
        and ``M − 1`` sweeps ``y ← W x + Ŵ y`` reach the exact solution (one output further
        down the hierarchy per sweep) — small dense products that batch well under ``vmap``,
        unlike a batched triangular solve on CPU.
        """
        ff = x @ state.w.T  # (K, n_out)
        lat = state.w_lat * self.mask
        y = ff
        for _ in range(self.n_out - 1):
            y = ff + y @ lat.T
        return y

    def step(self, state: LateralState, inputs: LayerInput, rule: tuple[AbstractRule, AbstractRule],
             record_weights: bool = False):
        ff_rule, lat_rule = rule
        x = jnp.atleast_2d(inputs.x)
        y = self.forward(state, x)
        w = jnp.clip(state.w + self.eta * ff_rule(x, y, state.w), -self.w_max, self.w_max)
        dlat = self.eta_lateral * lat_rule(y, y, state.w_lat) * self.mask
        w_lat = jnp.clip(state.w_lat + dlat, -self.w_max, self.w_max)
        rec = LateralRecord(y, w if record_weights else None, w_lat if record_weights else None)
        return LateralState(w, w_lat), rec

    def config(self) -> dict:
        """Every setting, with ``kind``: :func:`circuit_from_spec` rebuilds this circuit."""
        from ._spec import circuit_to_spec

        return circuit_to_spec(self)
