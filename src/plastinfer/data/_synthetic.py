"""Synthetic data: simulate a plastic circuit with a known rule."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..circuits import LayerInput, LayerState, PlasticLayer, rollouts
from ..rules import AbstractRule, rule_to_spec
from ._dataset import Dataset
from ..errors import ConfigError


def gaussian_inputs(key, n_trajectories: int, n_steps: int, n_in: int, std: float, samples_per_step: int | None = None):
    """Inputs ``x(t) ~ N(0, std²)`` i.i.d. over trajectories, time (and samples) and units."""
    shape = (n_trajectories, n_steps) + (() if samples_per_step is None else (samples_per_step,)) + (n_in,)
    return std * jax.random.normal(key, shape, jnp.float32)


def simulate(
    key: jax.Array,
    circuit: PlasticLayer,
    rule: AbstractRule,
    n_trajectories: int,
    n_steps: int,
    *,
    input_std: float = math.sqrt(0.1),
    samples_per_step: int | None = None,
    noise_std: float = 0.0,
    fraction_recorded: float = 1.0,
) -> Dataset:
    """Simulate ``n_trajectories`` of ``circuit`` learning with ``rule``.

    Each trajectory starts from its own initial weights (``circuit.init``), sees inputs
    ``x(t) ~ N(0, input_std²)`` (default variance 0.1, as in Mehta et al. A.3) and
    records the activity ``y(t)`` of a random subset of ``round(fraction_recorded ·
    n_out)`` units (at least one) plus additive Gaussian noise ``N(0, noise_std²)``.
    The initial weights are kept, so the weight trajectories can be recomputed for
    validation.
    """
    if not 0.0 < fraction_recorded <= 1.0:
        raise ConfigError(f"fraction_recorded must be in (0, 1], got {fraction_recorded}")
    if noise_std < 0:
        raise ConfigError(f"noise_std must be ≥ 0, got {noise_std}")
    k_w, k_x, k_noise, k_units = jax.random.split(key, 4)
    w0 = jax.vmap(circuit.init)(jax.random.split(k_w, n_trajectories)).w
    x = gaussian_inputs(k_x, n_trajectories, n_steps, circuit.n_in, input_std, samples_per_step)
    _, rec = jax.jit(lambda w, xs: rollouts(circuit, rule, LayerState(w), LayerInput(xs)))(w0, x)
    n_rec = max(1, int(round(fraction_recorded * circuit.n_out)))
    units = np.sort(np.asarray(jax.random.permutation(k_units, circuit.n_out)[:n_rec]))
    y = rec.y[..., units]
    y = y + noise_std * jax.random.normal(k_noise, y.shape, y.dtype)
    meta = {
        "source": "plastinfer.simulate",
        "circuit": circuit.config(),
        "rule": rule_to_spec(rule),
        "equation": rule.equation(),
        "input_std": float(input_std),
        "samples_per_step": samples_per_step,
        "noise_std": float(noise_std),
        "fraction_recorded": float(fraction_recorded),
    }
    return Dataset(
        stimuli=np.asarray(x),
        activity=np.asarray(y),
        units=units,
        n_out=circuit.n_out,
        init_weights=np.asarray(w0),
        meta=meta,
    )
