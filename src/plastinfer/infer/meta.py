r"""Meta-learning of plasticity rules from a function objective (Confavreux et al. 2020).

The outer loop searches the coefficients θ of one rule — or of several co-optimised rules
(e.g. ``(A, B)``: feed-forward and lateral) — to minimise

.. math:: J(θ) = \mathcal L(θ) + λ_1 \lVert θ \rVert_1,

where :math:`\mathcal L` is a :class:`~plastinfer.objectives.FunctionTask`'s loss: the
objective after the inner loop (the circuit learning with the candidate rule), averaged
over data sets drawn afresh at every meta-iteration. Two kinds of optimiser:

- an evolution strategy from ``evosax`` (``method="CMA_ES"`` by default, or any name in
  :data:`evosax.algorithms.algorithms`): at each generation the whole population × data
  sets is simulated in one ``vmap``, on common data sets so candidates are compared
  fairly;
- ``method="gradient"``: an optax optimiser on :math:`∇_θ J`, back-propagated through the
  inner loop.

A candidate whose inner loop diverges gets a large finite loss (weights are clipped in
the circuits, non-finite scores replaced), never a NaN in the optimiser.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import PyTree

from .._errors import ConfigError
from ..analysis._angles import rule_angle, rule_coefficients
from ..objectives import DIVERGED_LOSS, FunctionTask
from ..rules import AbstractRule
from ._result import FitResult
from .trajectory import _progress


def _evosax_algorithms() -> dict[str, Any]:
    from evosax.algorithms import algorithms

    return algorithms


@dataclasses.dataclass(frozen=True)
class MetaConfig:
    """Settings of a meta-learning run.

    - ``method``: ``"CMA_ES"`` (default) or another evosax strategy name, or ``"gradient"``;
    - ``generations``: outer iterations (ES generations or gradient steps);
    - ``population_size``: ES population (default ``4 + ⌊3 ln n⌋`` for ``n`` coefficients,
      CMA-ES's own default);
    - ``sigma_init``: initial ES step size;
    - ``learning_rate``, ``optimizer``, ``clip``: the gradient method's optax settings; the
      optimizer and learning rate also drive the evosax strategies that step along an
      estimated gradient (``"Open_ES"``: Adam on antithetic Gaussian-smoothed finite
      differences, ``σ = sigma_init`` — the paper's choice for spiking rules, whose loss
      has no useful exact gradient; ``"PGPE"``);
    - ``l1``: weight of ``‖θ‖₁`` (Taylor coefficients; 0 for black-box rules);
    - ``stop_angle_deg``: stop early once the angle to ``reference`` is at most this;
    - ``seed``.
    """

    method: str = "CMA_ES"
    generations: int = 200
    population_size: int | None = None
    sigma_init: float = 0.1
    learning_rate: float = 1e-2
    optimizer: str = "adam"
    clip: float | None = 1.0
    l1: float = 1e-3
    stop_angle_deg: float | None = None
    seed: int = 0

    def __post_init__(self):
        if self.generations < 1 or self.sigma_init <= 0 or self.learning_rate <= 0 or self.l1 < 0:
            raise ConfigError("meta: generations ≥ 1, sigma_init > 0, learning_rate > 0 and l1 ≥ 0 required")
        if self.population_size is not None and self.population_size < 2:
            raise ConfigError("meta: population_size must be ≥ 2")
        if self.method != "gradient" and self.method not in _evosax_algorithms():
            raise ConfigError(f"meta: unknown method {self.method!r}; use 'gradient' or an evosax strategy "
                              f"({', '.join(sorted(_evosax_algorithms()))})")


#: evosax strategies that estimate a gradient by smoothed finite differences and step along it:
#: they get ``MetaConfig.optimizer`` / ``learning_rate`` and σ = ``sigma_init``. The others (CMA-ES,
#: SNES, xNES, …) keep evosax's own step-size and learning-rate defaults.
_GRADIENT_ESTIMATORS = frozenset({"Open_ES", "PGPE"})


def _l1(rule: PyTree) -> jax.Array:
    rules = rule if isinstance(rule, (tuple, list)) else (rule,)
    return sum((r.l1() for r in rules), jnp.zeros(()))


def _objective(flat, unravel, static, task: FunctionTask, key, l1):
    rule = eqx.combine(unravel(flat), static)
    loss = task.loss(rule, key)
    return loss + l1 * _l1(rule), loss


def _es_generation(es, es_params, unravel, static, task, l1):
    @eqx.filter_jit
    def generation(state, key):
        k_ask, k_eval, k_tell = jax.random.split(key, 3)
        pop, state = es.ask(k_ask, state, es_params)
        fit, raw = jax.vmap(lambda f: _objective(f, unravel, static, task, k_eval, l1))(pop)
        state, _ = es.tell(k_tell, pop, fit, state, es_params)
        return state, fit, raw

    return generation


def _gradient_step(opt, unravel, static, task, l1):
    @eqx.filter_jit
    def step(flat, opt_state, key):
        (fit, raw), g = jax.value_and_grad(_objective, has_aux=True)(flat, unravel, static, task, key, l1)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        updates, opt_state = opt.update(g, opt_state, flat)
        return optax.apply_updates(flat, updates), opt_state, fit, raw

    return step


def meta_fit(
    rule: AbstractRule | tuple[AbstractRule, ...],
    task: FunctionTask,
    *,
    config: MetaConfig = MetaConfig(),
    reference: AbstractRule | tuple[AbstractRule, ...] | None = None,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
) -> FitResult:
    """Search the coefficients of ``rule`` (one rule or a tuple, co-optimised) that
    minimise ``task``'s loss, starting from ``rule``.

    Returns a :class:`FitResult` whose ``rule`` is the search distribution's mean (ES) or
    the final parameters (gradient). ``history``: ``loss`` (penalised loss of the mean /
    current rule's population: for ES the best and mean over the population are in
    ``best_loss`` and ``mean_loss``), ``theta`` ``(generations + 1, n_coefficients)`` the
    effective coefficients of all rules concatenated, and ``angle_deg`` to ``reference``
    (when given). ``metrics``: final ``angle_deg``, ``seconds``, ``evaluations`` (inner-loop
    runs: candidates × data sets) and ``evaluations_per_second``, ``generations_run``.
    """
    cfg = config
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    n = flat.size
    key = jax.random.PRNGKey(cfg.seed)

    history: dict[str, list] = {"loss": [], "best_loss": [], "mean_loss": [], "theta": [], "angle_deg": []}

    def current(f) -> Any:
        return eqx.combine(unravel(f), static)

    def snapshot(f):
        r = current(f)
        history["theta"].append(rule_coefficients(r))
        if reference is not None:
            history["angle_deg"].append(rule_angle(r, reference))

    snapshot(flat)
    if cfg.method == "gradient":
        opt = optax.chain(optax.clip_by_global_norm(cfg.clip) if cfg.clip else optax.identity(),
                          getattr(optax, cfg.optimizer)(cfg.learning_rate))
        opt_state = opt.init(flat)
        step = _gradient_step(opt, unravel, static, task, cfg.l1)
        pop_size = 1
    else:
        pop_size = cfg.population_size or 4 + int(3 * math.log(n))
        cls = _evosax_algorithms()[cfg.method]
        accepts = inspect.signature(cls.__init__).parameters
        extra = {}
        if cfg.method in _GRADIENT_ESTIMATORS:  # step along an estimated gradient with our optax settings
            if "optimizer" in accepts:
                extra["optimizer"] = getattr(optax, cfg.optimizer)(cfg.learning_rate)
            if "std_schedule" in accepts:
                extra["std_schedule"] = optax.constant_schedule(cfg.sigma_init)
        es = cls(population_size=pop_size, solution=flat, **extra)
        es_params = es.default_params
        if hasattr(es_params, "std_init"):
            es_params = es_params.replace(std_init=cfg.sigma_init)
        key, k_init = jax.random.split(key)
        state = es.init(k_init, flat, es_params)
        generation = _es_generation(es, es_params, unravel, static, task, cfg.l1)

    t0 = time.perf_counter()
    first = None
    bar = _progress(range(cfg.generations), progress, desc=f"meta ({cfg.method})")
    done = 0
    for g in bar:
        key, sub = jax.random.split(key)
        if cfg.method == "gradient":
            flat, opt_state, fit, raw = step(flat, opt_state, sub)
            fit = np.asarray(fit)[None]
            if g == 0 and float(raw) >= DIVERGED_LOSS:
                warnings.warn("meta: the starting rule diverges on every data set, so its gradient is zero and "
                              "gradient meta-learning cannot move; start from smaller coefficients or use an "
                              "evolution strategy (method='CMA_ES')", RuntimeWarning, stacklevel=2)
            mean = flat
        else:
            state, fit, raw = generation(state, sub)
            fit = np.asarray(fit)
            mean = state.mean
        if first is None:
            first = time.perf_counter() - t0
        history["best_loss"].append(float(np.min(fit)))
        history["mean_loss"].append(float(np.mean(fit)))
        history["loss"].append(float(np.min(fit)))
        snapshot(mean)
        done = g + 1
        info = {"best_loss": history["best_loss"][-1]}
        if reference is not None:
            info["angle_deg"] = history["angle_deg"][-1]
        if hasattr(bar, "set_postfix"):
            bar.set_postfix({k: f"{v:.3g}" for k, v in info.items()})
        if callback is not None:
            callback(done, info)
        if cfg.stop_angle_deg is not None and reference is not None and history["angle_deg"][-1] <= cfg.stop_angle_deg:
            break
    elapsed = time.perf_counter() - t0
    fitted = current(mean)
    evaluations = done * pop_size * task.n_datasets
    metrics: dict[str, Any] = {
        "method": cfg.method,
        "generations_run": done,
        "population_size": pop_size,
        "seconds": elapsed,
        "first_generation_seconds": first,
        "evaluations": evaluations,
        "evaluations_per_second": (evaluations - pop_size * task.n_datasets) / (elapsed - first)
        if done > 1 and elapsed > first else None,
        "final_best_loss": history["best_loss"][-1] if done else None,
        "angle_deg": history["angle_deg"][-1] if reference is not None else None,
    }
    hist = {k: np.asarray(v, np.float32) for k, v in history.items() if len(v)}
    return FitResult(rule=fitted, history=hist, metrics=metrics, names=_names(fitted))


def _names(rule) -> list[str] | None:
    rules = rule if isinstance(rule, (tuple, list)) else (rule,)
    if not all(hasattr(r, "names") for r in rules):
        return None
    if len(rules) == 1:
        return list(rules[0].names)
    return [f"{chr(ord('A') + i)}:{n}" for i, r in enumerate(rules) for n in r.names]


def evaluate_meta(rule, task: FunctionTask, key: jax.Array, n_datasets: int | None = None) -> dict:
    """Held-out check of a rule on fresh data sets: per-data-set objective (``scores``),
    mean and median."""
    n = n_datasets or task.n_datasets
    k_data, k_init = jax.random.split(key)
    data = task.datasets.sample(k_data, n)
    scores = np.asarray(eqx.filter_jit(task.scores)(rule, data, k_init))
    return {"scores": scores.tolist(), "mean": float(scores.mean()), "median": float(np.median(scores))}
