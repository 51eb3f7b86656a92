"""The contract every plastic circuit fulfils, and the rollout that drives it."""

from __future__ import annotations

import abc
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from ..rules import AbstractRule
from ..errors import ConfigError


class AbstractCircuit(eqx.Module):
    """A plastic network in discrete time.

    A circuit holds only *static* configuration (sizes, nonlinearity, step size); what
    changes over time lives in an explicit ``state`` pytree and what is learned lives
    in the rule. Concrete circuits provide

    - ``init(key) -> state``: a random initial state (e.g. initial weights);
    - ``step(state, inputs, rule, record_weights=False) -> (state, record)``: one time
      step: activity from the current weights, then the plastic update.
    """

    @abc.abstractmethod
    def init(self, key: Array) -> PyTree:
        ...

    @abc.abstractmethod
    def step(self, state: PyTree, inputs: PyTree, rule: AbstractRule, record_weights: bool = False):
        ...

    def step_many(self, states: PyTree, inputs: PyTree, rule: AbstractRule, record_weights: bool = False):
        """One :meth:`step` of ``N`` independent circuits (a leading axis on every leaf of
        ``states`` and ``inputs``). Default: ``vmap`` of :meth:`step`; circuits override it
        where an explicitly batched step is faster (see :meth:`AbstractRule.many`)."""
        return jax.vmap(lambda s, i: self.step(s, i, rule, record_weights=record_weights))(states, inputs)

    # What a Problem needs from a circuit (so that no fitter names one) -------------
    def state_from_weights(self, w: Array) -> PyTree:
        """The initial state whose plastic weights are ``w`` (known or latent initial weights)."""
        raise NotImplementedError(f"{type(self).__name__} cannot start from given weights")

    def weights(self, state: PyTree) -> Array:
        """The plastic weights held in ``state`` (the inverse of :meth:`state_from_weights`)."""
        return state.w

    def make_inputs(self, stimuli: Array, rewards: Array | None = None) -> PyTree:
        """One trajectory's input pytree (leading time axis) from a data set's
        ``stimuli (T, [K,] n_in)`` and optional ``rewards (T,)``."""
        raise NotImplementedError(f"{type(self).__name__} takes no stimulus arrays")

    def observable(self, records: PyTree) -> Array:
        """What is observed of a rollout's records, ``(T, ...)``: the activity ``y`` by default."""
        return records.y

    def observe(self, rule: AbstractRule, state: PyTree, inputs: PyTree, *, record_weights: bool = False,
                checkpoint: int | bool | None = None) -> tuple[Array, Array | None]:
        """Run the circuit from ``state`` on one trajectory's ``inputs``: the observed
        activity :meth:`observable` ``(T, ...)`` and, with ``record_weights``, the weights
        after every step ``(T, ...)`` (else ``None``)."""
        _, rec = rollout(self, rule, state, inputs, record_weights=record_weights, checkpoint=checkpoint)
        return self.observable(rec), (rec.w if record_weights else None)

    def observe_many(self, rule: AbstractRule, states: PyTree, inputs: PyTree, *, record_weights: bool = False,
                     checkpoint: int | bool | None = None) -> tuple[Array, Array | None]:
        """:meth:`observe` for ``N`` trajectories (leading axis on ``states`` and ``inputs``):
        ``(N, T, ...)`` activity and optional weights, by :func:`rollouts`."""
        if type(self).observe is not AbstractCircuit.observe:  # the circuit observes its own way
            return jax.vmap(lambda s, i: self.observe(rule, s, i, record_weights=record_weights,
                                                      checkpoint=checkpoint))(states, inputs)
        _, rec = rollouts(self, rule, states, inputs, record_weights=record_weights, checkpoint=checkpoint)
        return jax.vmap(self.observable)(rec), (rec.w if record_weights else None)


def _segment_length(n_steps: int, checkpoint: int | bool | None) -> int | None:
    """Segment length for checkpointed scans: ``True`` → the divisor of ``T`` nearest ``√T``."""
    if checkpoint is None or checkpoint is False:
        return None
    if checkpoint is True:
        target = max(1, round(math.sqrt(n_steps)))
        divisors = [d for d in range(1, n_steps + 1) if n_steps % d == 0]
        return min(divisors, key=lambda d: abs(d - target))
    seg = int(checkpoint)
    if seg <= 0 or n_steps % seg:
        raise ConfigError(f"checkpoint segment {seg} must divide the number of time steps {n_steps}")
    return seg


def rollout(
    circuit: AbstractCircuit,
    rule: AbstractRule,
    state: PyTree,
    inputs: PyTree,
    *,
    record_weights: bool = False,
    checkpoint: int | bool | None = None,
    unroll: int = 1,
) -> tuple[PyTree, Any]:
    """Run ``circuit`` with ``rule`` over time: one ``jax.lax.scan``.

    ``inputs`` is a pytree whose leaves have a leading time axis ``T``. Returns
    ``(final_state, records)`` where ``records`` stacks each step's record along time.

    ``checkpoint`` trades compute for memory in the backward pass: with a segment length
    ``S`` (``True`` picks ``S ≈ √T``) the scan runs over ``T/S`` segments whose inner
    scans are rematerialised (``jax.checkpoint``), so reverse mode stores ``T/S + S``
    states instead of every intermediate of every step.

    ``unroll`` (without checkpointing) unrolls that many steps per loop iteration — on CPU
    it amortises the per-iteration overhead that dominates tiny circuits.

    To run many trajectories, ``jax.vmap`` this function over ``state`` and ``inputs``
    (see :func:`rollouts`).
    """

    def body(carry, inp):
        return circuit.step(carry, inp, rule, record_weights=record_weights)

    return _scan(body, state, inputs, checkpoint, unroll)


def _scan(body, state: PyTree, inputs: PyTree, checkpoint: int | bool | None, unroll: int = 1):
    """``lax.scan`` of ``body`` over the leading (time) axis of ``inputs``, optionally in
    rematerialised segments (see :func:`rollout`)."""
    n_steps = jax.tree_util.tree_leaves(inputs)[0].shape[0]
    seg = _segment_length(n_steps, checkpoint)
    if seg is None:
        return jax.lax.scan(body, state, inputs, unroll=unroll)

    @jax.checkpoint
    def segment(carry, seg_inputs):
        return jax.lax.scan(body, carry, seg_inputs)

    chunked = jax.tree_util.tree_map(lambda a: a.reshape((n_steps // seg, seg) + a.shape[1:]), inputs)
    final, recs = jax.lax.scan(segment, state, chunked)
    recs = jax.tree_util.tree_map(lambda a: a.reshape((n_steps,) + a.shape[2:]), recs)
    return final, recs


def rollouts(
    circuit: AbstractCircuit,
    rule: AbstractRule,
    states: PyTree,
    inputs: PyTree,
    *,
    record_weights: bool = False,
    checkpoint: int | bool | None = None,
):
    """:func:`rollout` of ``N`` trajectories: a leading axis ``N`` on ``states`` and
    ``inputs`` (whose second axis is time); records come back ``(N, T, ...)``.

    The same numbers as ``vmap`` of :func:`rollout`, computed as one scan over time of the
    circuit's :meth:`~AbstractCircuit.step_many`, so circuits and rules with an explicitly
    batched step use it.
    """

    def body(carry, inp):
        return circuit.step_many(carry, inp, rule, record_weights=record_weights)

    time_major = jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), inputs)
    final, recs = _scan(body, states, time_major, checkpoint)
    return final, jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), recs)
