"""Choice data ⇄ choice-circuit inputs, and simulated subjects (Mehta et al. 2024, §4)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import DatasetError
from ..circuits import ChoiceCircuit, ChoiceInput, rollouts
from ..rules import AbstractRule, rule_to_spec
from ._choice import ChoiceDataset


def choice_inputs(data: ChoiceDataset, circuit: ChoiceCircuit, key: jax.Array) -> ChoiceInput:
    """Drive ``circuit`` with ``data``: arrays ``(subjects, steps, ...)``.

    The odors' noisy firing patterns are not observed in behaviour, so they are drawn
    afresh from ``key`` (the paper's "resampled" inputs); choices, rewards and which odor
    was presented come from the data.
    """
    if data.readout != circuit.readout:
        raise DatasetError(f"data readout {data.readout!r} does not match the circuit's {circuit.readout!r}")
    if data.n_odors != circuit.n_odors:
        raise DatasetError(f"data has {data.n_odors} odors but the circuit has {circuit.n_odors}")
    s, t = data.choices.shape
    noise = jax.random.normal(key, (s, t, circuit.n_odors, circuit.n_in), jnp.float32)
    return ChoiceInput(
        odor=jnp.asarray(np.maximum(data.odors, 0), jnp.int32),
        noise=noise,
        choice=jnp.asarray(np.maximum(data.choices, 0), jnp.float32),
        reward=jnp.asarray(data.rewards, jnp.float32),
        valid=jnp.asarray(data.observed),  # ignored trials: no update, no likelihood
        u=jnp.zeros((s, t, 1 + circuit.n_odors), jnp.float32),
    )


def closed_loop_inputs(key, circuit: ChoiceCircuit, n_subjects: int, n_steps: int) -> ChoiceInput:
    """Random inputs ``(n_subjects, n_steps, ...)`` for a closed-loop session: presented odors,
    odor-pattern noise and the uniforms that sample choices and baiting."""
    k_odor, k_noise, k_u = jax.random.split(key, 3)
    shape = (n_subjects, n_steps)
    return ChoiceInput(
        odor=jax.random.randint(k_odor, shape, 0, circuit.n_odors),
        noise=jax.random.normal(k_noise, shape + (circuit.n_odors, circuit.n_in), jnp.float32),
        choice=jnp.zeros(shape, jnp.float32),
        reward=jnp.zeros(shape, jnp.float32),
        valid=jnp.ones(shape, bool),
        u=jax.random.uniform(k_u, shape + (1 + circuit.n_odors,), jnp.float32),
    )


def simulate_choices(
    key: jax.Array,
    circuit: ChoiceCircuit,
    rule: AbstractRule,
    n_subjects: int,
    *,
    max_steps: int | None = None,
) -> ChoiceDataset:
    """Simulated subjects: ``circuit`` in closed loop with ``rule``, each from its own
    random initial weights, for ``circuit.n_trials`` trials (blocks × trials per block).

    With the accept readout a trial lasts until an odor is accepted, so a session is a
    variable number of presentations; ``max_steps`` (default ``8 × n_trials``) bounds it.
    A subject that does not finish in time raises :class:`DatasetError`.

    The ground truth goes into ``meta``: the rule (as a spec, when it has one), the circuit
    configuration and the initial weights.
    """
    if n_subjects < 1:
        raise DatasetError(f"n_subjects must be ≥ 1, got {n_subjects}")
    loop = dataclasses.replace(circuit, closed_loop=True)
    n_steps = circuit.n_trials if circuit.readout == "two_alternative" else (max_steps or 8 * circuit.n_trials)
    k_w, k_in = jax.random.split(key)
    states = jax.vmap(loop.init)(jax.random.split(k_w, n_subjects))
    inputs = closed_loop_inputs(k_in, loop, n_subjects, n_steps)
    final, rec = jax.jit(rollouts, static_argnums=(0,))(loop, rule, states, inputs)
    done = np.asarray(final.trial)
    if np.any(done < circuit.n_trials):
        bad = int(np.argmin(done))
        raise DatasetError(
            f"subject {bad} completed {done[bad]} of {circuit.n_trials} trials in {n_steps} presentations; "
            "raise max_steps (the rule may make the circuit reject almost everything)"
        )
    valid = np.asarray(rec.valid)
    lengths = valid.sum(axis=1)
    t = int(lengths.max())
    odors = np.asarray(rec.odor)[:, :t]
    if circuit.readout == "two_alternative":
        odors = np.full_like(odors, -1)
    meta = {
        "circuit": circuit.config(),
        "init_weights": np.asarray(states.w).tolist(),
        "source": "simulate_choices",
    }
    try:
        meta["rule"] = rule_to_spec(rule)
    except (TypeError, ValueError):
        pass
    return ChoiceDataset(
        subjects=tuple(f"sim{i:03d}" for i in range(n_subjects)),
        odors=np.where(valid[:, :t], odors, -1),
        choices=np.where(valid[:, :t], np.asarray(rec.choice)[:, :t], 0).astype(int),
        rewards=np.where(valid[:, :t], np.asarray(rec.reward)[:, :t], 0.0),
        mask=valid[:, :t],
        readout=circuit.readout,
        n_odors=circuit.n_odors,
        meta=meta,
    )
