r"""A k-armed bandit circuit: action values as plastic weights from a constant input.

No sensory input: one presynaptic unit with constant activity :math:`x = 1` projects onto
``n_arms`` action units; weight :math:`w_a` is arm :math:`a`'s value. The postsynaptic activity
is the choice, :math:`y_a = [a = c_t]`, and the reward :math:`r_t` is the third factor, so a
plasticity rule :math:`Δw_a = η\,f(x, y_a, w_a, r_t)` is a value-learning rule. Q-learning with
forgetting is the Taylor rule :math:`Δw = α\,y r − (α − φ)\,y w − φ\,w` (with the inverse
temperature folded into :math:`w`); other rules (e.g. a reward term that moves every arm) are
not Q-learning. The readout (softmax over values plus side bias and a choice kernel) belongs to
the model that is fitted (:mod:`plastinfer.infer.bandit`), which holds its learned parameters.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..errors import ConfigError
from ..rules import AbstractRule
from ._base import AbstractCircuit


class BanditState(NamedTuple):
    """``w``: ``(n_arms, 1)`` action values (post × pre, the one presynaptic unit)."""

    w: Array


class BanditInput(NamedTuple):
    """One trial: ``choice`` (int, the chosen arm), ``reward`` (float), ``valid`` (bool: a
    choice was made; False on ignored and padding trials — no update)."""

    choice: Array
    reward: Array
    valid: Array


class BanditRecord(NamedTuple):
    """``values``: ``(n_arms,)`` the action values the trial's choice was made on (before the
    update); ``w``: the weights after the update (``record_weights``) or ``None``."""

    values: Array
    w: Array | None = None


class BanditCircuit(AbstractCircuit):
    """``n_arms`` action values updated by a plasticity rule, :math:`w ← w + η\\,Δw` on trials
    with a choice (clipped to ``± w_max``). ``init_value``: every value at the start of a session."""

    n_arms: int = eqx.field(static=True, default=2)
    eta: float = eqx.field(static=True, default=1.0)
    init_value: float = eqx.field(static=True, default=0.0)
    #: values are clipped to ± this: a rule that blows up gives large but finite log-odds (a
    #: finite, large loss the optimiser backs away from), never NaN
    w_max: float = eqx.field(static=True, default=1e3)

    def __check_init__(self):
        if isinstance(self.n_arms, bool) or not isinstance(self.n_arms, int) or self.n_arms < 2:
            raise ConfigError(f"BanditCircuit: n_arms must be an integer ≥ 2, got {self.n_arms!r}")
        if not self.eta > 0:
            raise ConfigError(f"BanditCircuit: eta must be > 0, got {self.eta!r}")

    @property
    def readout(self) -> str:
        return "bandit"

    def init(self, key: Array | None = None) -> BanditState:
        return BanditState(jnp.full((self.n_arms, 1), self.init_value, jnp.float32))

    def state_from_weights(self, w: Array) -> BanditState:
        return BanditState(jnp.asarray(w, jnp.float32).reshape(self.n_arms, 1))

    def observable(self, records: BanditRecord) -> Array:
        return records.values

    def step(self, state: BanditState, inputs: BanditInput, rule: AbstractRule, record_weights: bool = False):
        w = state.w
        x = jnp.ones((1, 1), jnp.float32)  # one sample (K = 1), one presynaptic unit
        y = jax.nn.one_hot(inputs.choice, self.n_arms, dtype=jnp.float32)[None]
        dw = self.eta * rule.delta(x, y, w, jnp.asarray(inputs.reward, jnp.float32).reshape(1))
        new = jnp.where(inputs.valid, jnp.clip(jnp.nan_to_num(w + dw), -self.w_max, self.w_max), w)
        return BanditState(new), BanditRecord(w[:, 0], new if record_weights else None)
