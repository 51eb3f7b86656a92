r"""Adversarial inference of plasticity rules (Ramesh et al. 2023).

The generator is a plastic circuit plus a candidate rule, run from fresh random initial
weights and fresh inputs on every pass (:class:`~plastinfer.data.ActivityGenerator`), so
its output — postsynaptic activity traces — is a random variable ``y = g_θ(x, ω⁰)``. A
discriminator ``D_ψ`` (an MLP on a trace, with spectrally normalised layers, Miyato et al.
2018) tells generated from recorded traces. Both are trained on the minimax loss (Eq. 7)

.. math::
    \min_θ \max_ψ\; \mathbb E_{p(y')} \log D_ψ(y') + \mathbb E_{p(ω^0) p(x)} \log\big(1 − D_ψ(g_θ(x, ω^0))\big)

with alternating Adam updates, the non-saturating generator loss ``−log D_ψ(g_θ)``
(Goodfellow et al. 2014; same fixed point), gradient clipping, and diverging candidate
rules kept finite by the circuit's weight clip. This is the :class:`Adversarial`
strategy of the one fitting engine on an :class:`AdversarialProblem`; the same problem
can be fitted by an evolution strategy on its distribution distance.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..errors import ConfigError, DatasetError
from .._checks import check_fields
from ..data import ActivityGenerator
from ..rules import AbstractRule
from ._engine import fit
from ._problem import AbstractProblem, check_finite_params, coefficient_vector, rule_params
from ._result import FitResult, result_from_engine
from ._strategies import Adversarial, Discriminator

__all__ = ["ActivityGenerator", "AdversarialConfig", "AdversarialProblem", "Discriminator", "adversarial_fit",
           "wasserstein_per_time"]


def wasserstein_per_time(a: Array, b: Array, n_quantiles: int = 200, sorted_b: bool = False) -> Array:
    r"""Per-time-point 1-Wasserstein distance between trace sets ``a (n, T)`` and ``b (m, T)``,
    ``(T,)``, in JAX: :math:`W_1 = \int_0^1 |F_a^{-1}(u) − F_b^{-1}(u)|\,du`, exact (mean absolute
    difference of sorted values) when ``n = m``, else on ``n_quantiles`` midpoint quantiles.
    ``sorted_b``: ``b`` is already sorted along its first axis."""
    a = jnp.sort(a, axis=0)
    b = b if sorted_b else jnp.sort(b, axis=0)
    if a.shape[0] == b.shape[0]:
        return jnp.mean(jnp.abs(a - b), axis=0)
    u = (jnp.arange(n_quantiles) + 0.5) / n_quantiles

    def quantiles(s):  # inverted CDF of sorted samples s (n, T): s[⌈u n⌉ − 1]
        return s[jnp.clip(jnp.ceil(u * s.shape[0]).astype(jnp.int32) - 1, 0, s.shape[0] - 1)]

    return jnp.mean(jnp.abs(quantiles(a) - quantiles(b)), axis=0)


class AdversarialProblem(AbstractProblem):
    r"""Match the *distribution* of recorded traces ``data (n_traces, T)`` with those of a
    generator (circuit + rule from fresh initial weights and inputs).

    - :meth:`real` / :meth:`fake`: a batch of recorded / generated traces (``networks``
      generator networks per batch, as many recorded traces), for the
      :class:`Adversarial` strategy;
    - :meth:`loss`: the mean per-time-point 1-Wasserstein distance between one generated
      batch and the recorded traces — what an evolution strategy minimises, and (with a
      fixed key and ``select_networks`` networks) the :meth:`objective` on which the best
      rule is kept.
    """

    generator: ActivityGenerator
    rule_static: object
    data: Array
    networks: int = eqx.field(static=True, default=4)
    select_networks: int = eqx.field(static=True, default=50)
    data_sorted: Array | None = None
    start: object = None

    def __check_init__(self):
        if self.data.ndim != 2 or self.data.shape[1] != self.generator.n_steps:
            raise ConfigError(f"adversarial: data must be (n_traces, {self.generator.n_steps}), got "
                              f"{tuple(self.data.shape)}")

    @property
    def trace_length(self) -> int:
        return self.generator.n_steps

    @property
    def batch(self) -> int:
        return self.networks * self.generator.n_samples * self.generator.circuit.n_out

    def rule(self, params) -> AbstractRule:
        return eqx.combine(params, self.rule_static)

    def real(self, key) -> Array:
        return self.data[jax.random.randint(key, (self.batch,), 0, self.data.shape[0])]

    def fake(self, params, key, networks: int | None = None) -> Array:
        return self.generator.traces(self.rule(params), key, networks or self.networks)

    def _sorted(self) -> Array:
        return jnp.sort(self.data, axis=0) if self.data_sorted is None else self.data_sorted

    def loss(self, params, batch, key):
        d = jnp.mean(wasserstein_per_time(self.fake(params, key), self._sorted(), sorted_b=True))
        return d, {}

    def objective(self, params):
        fake = self.fake(params, jax.random.PRNGKey(2024), self.select_networks)
        return jnp.mean(wasserstein_per_time(fake, self._sorted(), sorted_b=True))

    def coefficients(self, params):
        return coefficient_vector(self.rule(params))


@dataclasses.dataclass(frozen=True)
class AdversarialConfig:
    """Settings of :func:`adversarial_fit`.

    - ``steps``: generator updates (each preceded by ``d_steps`` discriminator updates);
    - ``networks``: fresh generator networks per step (each gives ``K`` traces); the same
      number of recorded traces is drawn per step;
    - ``lr_generator``, ``lr_discriminator``: Adam step sizes; ``clip``: global-norm
      gradient clipping for both; ``hidden``: discriminator widths; ``seed``;
    - ``chunk``: steps per compiled call between host visits (1 is fastest on a CPU, where
      XLA runs the generator's products slower inside a loop);
    - ``select_every``: steps between scorings that keep the best rule — the mean
      per-time-point W1 of ``select_networks`` fixed generator networks to the recorded
      traces (the start and the end are always scored);
    - ``average``: β of the running average of the generator's parameters that is scored
      and returned instead of the last iterate (0: off; see :class:`Adversarial`).
    """

    steps: int = 500
    networks: int = 4
    d_steps: int = 1
    lr_generator: float = 1e-3
    lr_discriminator: float = 1e-3
    clip: float = 1.0
    hidden: tuple[int, ...] = (64, 64)
    chunk: int = 1
    select_every: int = 50
    select_networks: int = 50
    seed: int = 0
    average: float = 0.0

    def strategy(self) -> Adversarial:
        """The :class:`Adversarial` strategy these settings describe."""
        return Adversarial(self.d_steps, self.lr_generator, self.lr_discriminator, self.clip, tuple(self.hidden),
                           seed=self.seed, average=self.average)

    def __post_init__(self):
        check_fields(self, "adversarial")
        if min(self.steps, self.networks, self.d_steps, self.chunk, self.select_every, self.select_networks) < 1:
            raise ConfigError("adversarial: steps, networks, d_steps, chunk, select_every and select_networks must "
                              "be ≥ 1")
        if self.lr_generator <= 0 or self.lr_discriminator <= 0 or self.clip <= 0:
            raise ConfigError("adversarial: learning rates and clip must be positive")
        self.strategy()  # the strategy checks its own fields (``average``) once, for both


def adversarial_fit(rule: AbstractRule, generator: ActivityGenerator, data: Array, *,
                    config: AdversarialConfig = AdversarialConfig(), progress: bool = True,
                    callback: Callable[[int, AbstractRule], bool | None] | None = None,
                    callback_every: int | None = None, checkpoint: str | os.PathLike | None = None,
                    resume: bool = False) -> FitResult:
    """Fit ``rule``'s parameters so that ``generator``'s traces are distributed like ``data``.

    ``data``: recorded traces ``(n_traces, T)``. Returns a :class:`FitResult` whose rule is
    the best generator seen (lowest W1 to ``data`` on fixed networks, never worse than the
    start); ``history`` holds, per step, ``loss`` / ``g_loss`` (non-saturating generator
    loss), ``d_loss`` (discriminator BCE), ``d_accuracy`` (fraction of the step's real and
    generated traces the discriminator classifies correctly; 0.5 = indistinguishable), and
    per evaluation ``objective`` (W1) and ``best_loss``; ``extras['discriminator']`` the
    trained discriminator and its state. ``callback(step, rule)`` is called every
    ``callback_every`` steps (default ``config.select_every``) with the current rule;
    returning ``True`` stops the fit there (``metrics['steps']`` says where).
    """
    data = jnp.asarray(data, jnp.float32)
    if data.ndim != 2 or data.shape[1] != generator.n_steps:
        raise ConfigError(f"adversarial: data must be (n_traces, {generator.n_steps}), got {tuple(data.shape)}")
    if data.shape[0] < 2:
        raise DatasetError(f"adversarial: data hold {data.shape[0]} trace(s); at least 2 are needed")
    if not bool(jnp.all(jnp.isfinite(data))):
        raise DatasetError("adversarial: data contain NaN or infinite values")
    cfg = config
    params0, static = rule_params(rule)
    check_finite_params(params0, "adversarial")
    problem = AdversarialProblem(generator, static, data, cfg.networks, cfg.select_networks,
                                 data_sorted=jnp.sort(data, axis=0),  # per time point, once for every W1 score
                                 start=params0)
    strategy = cfg.strategy()
    every = callback_every or cfg.select_every
    callbacks = [] if callback is None else [
        lambda info: info["step"] % every == 0 and callback(info["step"], problem.rule(info["params"]))]
    res = fit(problem, strategy, params0, steps=cfg.steps, key=jax.random.PRNGKey(cfg.seed), chunk=cfg.chunk,
              eval_every=max(1, cfg.select_every // cfg.chunk), callbacks=callbacks, checkpoint=checkpoint, resume=resume, progress="adversarial" if progress else False)
    fitted = problem.rule(res.params)
    result = result_from_engine(res, fitted, per_step="step", aliases={"g_loss": "loss"})
    g_opt, d_params, d_state, _ = res.state[:4]  # (a fifth entry: the generator average)
    d_static = strategy.discriminator_static(problem)
    result.metrics.update({"steps": res.steps_run, "seconds": res.seconds,
                           "seconds_per_step": result.metrics["seconds_per_step"],
                           "final_d_accuracy": float(np.mean(res.history["d_accuracy"][-20:]))})
    result.extras["discriminator"] = (eqx.combine(d_params, d_static), d_state)
    return result
