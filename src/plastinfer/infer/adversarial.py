r"""Adversarial inference of plasticity rules (Ramesh et al. 2023).

The generator is a plastic circuit plus a candidate rule, run from fresh random initial
weights and fresh inputs on every pass, so its output — postsynaptic activity traces — is
a random variable ``y = g_θ(x, ω⁰)``. A discriminator ``D_ψ`` (an MLP on a trace, with
spectrally normalised layers, Miyato et al. 2018) tells generated from recorded traces.
Both are trained on the minimax loss (Eq. 7)

.. math::
    \min_θ \max_ψ\; \mathbb E_{p(y')} \log D_ψ(y') + \mathbb E_{p(ω^0) p(x)} \log\big(1 − D_ψ(g_θ(x, ω^0))\big)

with alternating Adam updates, the non-saturating generator loss ``−log D_ψ(g_θ)``
(Goodfellow et al. 2014; same fixed point), gradient clipping, and diverging candidate
rules kept finite by the circuit's weight clip.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .._errors import ConfigError
from ..circuits import LayerInput, PlasticLayer
from ..data import Dataset
from ..objectives import pc_distances
from ..rules import AbstractRule
from ._result import FitResult
from .trajectory import _progress


class ActivityGenerator(eqx.Module):
    r"""Activity traces of a batch-learning plastic layer (Ramesh et al. 2023, §4.1–4.2).

    One *network*: initial weights from ``circuit.init`` (``N(0, 0.1²)`` in the paper), ``K``
    presynaptic patterns ``x_k = L z_k``, ``z_k ~ N(0, I)`` (``L = cov_sqrt``, fixed over
    time), ``T`` steps of

    .. math:: y_k^t = w^t x_k + ε_k^t, \qquad w^{t+1} = w^t + η\,\frac1K \sum_k h_θ(x_k, y_k^t, w^t)

    with postsynaptic noise ``ε ~ N(0, noise_std²)`` (0 by default; 0.25 in the paper's
    Fig. 3A). A *trace* is ``y_k^{1..T}`` of one pattern of one output unit.
    """

    circuit: PlasticLayer
    cov_sqrt: Array
    n_samples: int = eqx.field(static=True, default=100)
    n_steps: int = eqx.field(static=True, default=200)
    noise_std: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        if self.cov_sqrt.shape != (self.circuit.n_in, self.circuit.n_in):
            raise ValueError(f"cov_sqrt has shape {self.cov_sqrt.shape}; expected ({self.circuit.n_in}, {self.circuit.n_in})")
        if self.n_samples < 1 or self.n_steps < 1 or self.noise_std < 0:
            raise ValueError("n_samples ≥ 1, n_steps ≥ 1 and noise_std ≥ 0 required")

    def network(self, rule: AbstractRule, key: Array) -> tuple[Array, Array, Array]:
        """One network: ``x (K, n_in)``, traces ``y (T, K, n_out)`` and weights ``w (T, n_out, n_in)``
        (the weights *used* at each step, i.e. before its update)."""
        c = self.circuit
        k_x, k_w, k_n = jax.random.split(key, 3)
        x = jax.random.normal(k_x, (self.n_samples, c.n_in)) @ self.cov_sqrt.T
        noise = self.noise_std * jax.random.normal(k_n, (self.n_steps, self.n_samples, c.n_out))

        def body(state, eps):
            new, rec = c.step(state, LayerInput(x, noise=eps), rule)
            return new, (rec.y, state.w)

        _, (y, w) = jax.lax.scan(body, c.init(k_w), noise)
        return x, y, w

    def traces(self, rule: AbstractRule, key: Array, n_networks: int) -> Array:
        """``(n_networks · K · n_out, T)`` traces from ``n_networks`` fresh networks."""
        _, y, _ = self.networks(rule, jax.random.split(key, n_networks))
        return jnp.moveaxis(y, 1, -1).reshape(-1, self.n_steps)

    def networks(self, rule: AbstractRule, keys: Array) -> tuple[Array, Array, Array]:
        """:meth:`network` for each key of ``keys (D, 2)``, batched with ``vmap`` (and compiled
        once per rule structure and ``D`` outside a trace): ``x (D, K, n_in)``,
        ``y (D, T, K, n_out)``, ``w (D, T, n_out, n_in)``."""
        return _networks(self, rule, keys)

    def pc1(self) -> np.ndarray:
        """``(n_in,)`` unit first principal component of the input covariance ``L Lᵀ`` (sign
        arbitrary)."""
        cov = np.asarray(self.cov_sqrt, np.float64) @ np.asarray(self.cov_sqrt, np.float64).T
        return np.linalg.eigh(cov)[1][:, -1]

    def weight_distances(self, rule: AbstractRule, key: Array, n_networks: int) -> np.ndarray:
        r"""``(n_networks, n_out, T)`` sign-invariant distance ``min(‖w_i^t − PC_1‖, ‖w_i^t + PC_1‖)``
        of each output's weight vector to the first principal component (Ramesh et al. Fig. 2C)."""
        _, _, w = self.networks(rule, jax.random.split(key, n_networks))
        pcs = jnp.broadcast_to(jnp.asarray(self.pc1(), jnp.float32), w.shape[2:])  # every output against PC1
        d = jax.vmap(jax.vmap(lambda wt: pc_distances(wt, pcs)))(w)  # (D, T, n_out)
        return np.asarray(jnp.moveaxis(d, 1, -1))

    def dataset(self, rule: AbstractRule, key: Array, n_networks: int) -> Dataset:
        """The same networks as :meth:`traces` (same ``key``) as a trajectory :class:`Dataset`
        — stimuli ``(n_networks, T, K, n_in)`` (the fixed patterns repeated over time),
        activity ``(n_networks, T, K, n_out)`` and the true initial weights — so that a
        trajectory fit (MSE on paired traces, :func:`plastinfer.fit_trajectory`) can be run on
        exactly the data an adversarial fit sees."""
        x, y, w = self.networks(rule, jax.random.split(key, n_networks))
        stimuli = np.broadcast_to(np.asarray(x)[:, None], (n_networks, self.n_steps) + x.shape[1:])
        return Dataset(stimuli=np.ascontiguousarray(stimuli), activity=np.asarray(y),
                       units=np.arange(self.circuit.n_out), n_out=self.circuit.n_out,
                       init_weights=np.asarray(w[:, 0]),
                       meta={"source": "ActivityGenerator", "rule": None, "noise_std": self.noise_std,
                             "circuit": self.circuit.config()})


@eqx.filter_jit
def _networks(gen: ActivityGenerator, rule: AbstractRule, keys: Array):
    return jax.vmap(lambda k: gen.network(rule, k))(keys)


class Discriminator(eqx.Module):
    """MLP on a trace ``(T,) → logit`` with spectrally normalised linear layers and
    leaky-ReLU activations. Stateful (the power-iteration vectors): build it with
    :func:`equinox.nn.make_with_state` and call ``d(trace, state) -> (logit, state)``."""

    layers: tuple

    def __init__(self, n_steps: int, key: Array, hidden: tuple[int, ...] = (64, 64)):
        sizes = (n_steps,) + tuple(hidden) + (1,)
        keys = jax.random.split(key, 2 * (len(sizes) - 1))
        self.layers = tuple(
            eqx.nn.SpectralNorm(eqx.nn.Linear(a, b, key=keys[2 * i]), "weight", key=keys[2 * i + 1])
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))

    def __call__(self, x: Array, state: eqx.nn.State) -> tuple[Array, eqx.nn.State]:
        for i, layer in enumerate(self.layers):
            x, state = layer(x, state)
            if i < len(self.layers) - 1:
                x = jax.nn.leaky_relu(x, 0.2)
        return x[0], state


def _logits(d: Discriminator, state: eqx.nn.State, traces: Array) -> tuple[Array, eqx.nn.State]:
    return jax.vmap(d, in_axes=(0, None), out_axes=(0, None), axis_name="batch")(traces, state)


@dataclasses.dataclass(frozen=True)
class AdversarialConfig:
    """Settings of :func:`adversarial_fit`.

    - ``steps``: generator updates (each preceded by ``d_steps`` discriminator updates);
    - ``networks``: fresh generator networks per step (each gives ``K`` traces); the same
      number of recorded traces is drawn per step;
    - ``lr_generator``, ``lr_discriminator``: Adam step sizes; ``clip``: global-norm
      gradient clipping for both; ``hidden``: discriminator widths; ``seed``.
    """

    steps: int = 500
    networks: int = 4
    d_steps: int = 1
    lr_generator: float = 1e-3
    lr_discriminator: float = 1e-3
    clip: float = 1.0
    hidden: tuple[int, ...] = (64, 64)
    seed: int = 0

    def __post_init__(self):
        if self.steps < 1 or self.networks < 1 or self.d_steps < 1:
            raise ConfigError("adversarial: steps, networks and d_steps must be ≥ 1")
        if self.lr_generator <= 0 or self.lr_discriminator <= 0 or self.clip <= 0:
            raise ConfigError("adversarial: learning rates and clip must be positive")


def _bce(logits: Array, label: float) -> Array:
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


def adversarial_fit(rule: AbstractRule, generator: ActivityGenerator, data: Array, *,
                    config: AdversarialConfig = AdversarialConfig(), progress: bool = True,
                    callback: Callable[[int, AbstractRule], bool | None] | None = None,
                    callback_every: int = 100) -> FitResult:
    """Fit ``rule``'s parameters so that ``generator``'s traces are distributed like ``data``.

    ``data``: recorded traces ``(n_traces, T)``. Returns a :class:`FitResult` whose
    ``history`` holds, per step, ``d_loss`` (discriminator BCE), ``g_loss`` (non-saturating
    generator loss), ``d_accuracy`` (fraction of the step's real and generated traces the
    discriminator classifies correctly; 0.5 = indistinguishable) and the rule's
    parameters are the generator's; ``extras['discriminator']`` the trained discriminator
    and its state. ``callback(step, rule)`` is called every ``callback_every`` steps with the
    current rule; returning ``True`` stops the fit there (``metrics['steps']`` says where).
    """
    data = jnp.asarray(data, jnp.float32)
    if data.ndim != 2 or data.shape[1] != generator.n_steps:
        raise ConfigError(f"adversarial: data must be (n_traces, {generator.n_steps}), got {tuple(data.shape)}")
    if not bool(jnp.all(jnp.isfinite(data))):
        raise ConfigError("adversarial: data contain NaN or infinite values")
    cfg = config
    key = jax.random.PRNGKey(cfg.seed)
    key, k_d = jax.random.split(key)
    disc, d_state = eqx.nn.make_with_state(Discriminator)(generator.n_steps, k_d, cfg.hidden)
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    opt_g = optax.chain(optax.clip_by_global_norm(cfg.clip), optax.adam(cfg.lr_generator, b1=0.5))
    opt_d = optax.chain(optax.clip_by_global_norm(cfg.clip), optax.adam(cfg.lr_discriminator, b1=0.5))
    d_params, d_static = eqx.partition(disc, eqx.is_inexact_array)  # only arrays travel through scan / jit
    g_state, dd_state = opt_g.init(params), opt_d.init(d_params)
    n_batch = cfg.networks * generator.n_samples * generator.circuit.n_out

    def fake(p, k):
        return generator.traces(eqx.combine(p, static), k, cfg.networks)

    @eqx.filter_jit
    def step(params, d_params, d_state, g_state, dd_state, key):
        def d_update(carry, k):
            d_params, d_state, dd_state = carry
            k_real, k_fake = jax.random.split(k)
            real = data[jax.random.randint(k_real, (n_batch,), 0, data.shape[0])]
            gen = jax.lax.stop_gradient(fake(params, k_fake))

            def loss(dp):
                d = eqx.combine(dp, d_static)
                lr, st = _logits(d, d_state, real)
                lf, st = _logits(d, st, gen)
                acc = 0.5 * (jnp.mean(lr > 0) + jnp.mean(lf < 0))
                return _bce(lr, 1.0) + _bce(lf, 0.0), (st, acc)

            (l_d, (d_state, acc)), g = jax.value_and_grad(loss, has_aux=True)(d_params)
            updates, dd_state = opt_d.update(g, dd_state, d_params)
            return (optax.apply_updates(d_params, updates), d_state, dd_state), (l_d, acc)

        k_d, k_g = jax.random.split(key)
        (d_params, d_state, dd_state), (l_d, acc) = jax.lax.scan(d_update, (d_params, d_state, dd_state),
                                                              jax.random.split(k_d, cfg.d_steps))

        def g_loss(p):
            logits, _ = _logits(eqx.combine(d_params, d_static), d_state, fake(p, k_g))
            return _bce(logits, 1.0)

        l_g, grad = jax.value_and_grad(g_loss)(params)
        grad = jax.tree_util.tree_map(lambda a: jnp.where(jnp.isfinite(a), a, 0.0), grad)
        updates, g_state = opt_g.update(grad, g_state, params)
        return optax.apply_updates(params, updates), d_params, d_state, g_state, dd_state, l_d[-1], acc[-1], l_g

    history: dict[str, list] = {"d_loss": [], "g_loss": [], "d_accuracy": []}
    t0 = time.perf_counter()
    bar = _progress(range(cfg.steps), progress, desc="adversarial", unit="step")
    done = 0
    for _ in bar:
        key, sub = jax.random.split(key)
        params, d_params, d_state, g_state, dd_state, l_d, acc, l_g = step(params, d_params, d_state, g_state,
                                                                            dd_state, sub)
        history["d_loss"].append(float(l_d))
        history["g_loss"].append(float(l_g))
        history["d_accuracy"].append(float(acc))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix({"d_acc": f"{float(acc):.2f}", "g_loss": f"{float(l_g):.3g}"})
        done += 1
        if callback is not None and done % callback_every == 0 and callback(done, eqx.combine(params, static)):
            break
    fitted = eqx.combine(params, static)
    seconds = time.perf_counter() - t0
    metrics: dict[str, Any] = {"steps": done, "seconds": seconds, "seconds_per_step": seconds / done,
                               "final_d_accuracy": float(np.mean(history["d_accuracy"][-20:]))}
    hist = {k: np.asarray(v, np.float32) for k, v in history.items()}
    return FitResult(rule=fitted, history=hist, metrics=metrics, extras={"discriminator": (eqx.combine(d_params, d_static), d_state)})
