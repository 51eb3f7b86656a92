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

Both are strategies of the one fitting engine (:func:`plastinfer.infer.fit`) on a
:class:`FunctionProblem`; a candidate whose inner loop diverges gets a large finite loss
(weights are clipped in the circuits, non-finite scores replaced), never a NaN in the
optimiser, and the returned rule is the best one seen on a fixed set of data sets.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ..errors import ConfigError
from .._checks import check_fields
from ..analysis._angles import rule_coefficients
from ..objectives import DIVERGED_LOSS, FunctionTask
from ..rules import AbstractRule
from ._engine import fit
from ._problem import (AbstractProblem, check_finite_params, coefficient_names, coefficient_vector, rule_l1,
                       rule_params)
from ._result import FitResult, result_from_engine
from ._strategies import Evolution, Gradient, evosax_algorithms, make_optimizer


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
    - ``eval_every``: generations between scorings of the current rule on the fixed
      selection data sets (best-so-far bookkeeping; each costs one candidate's evaluation);
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
    eval_every: int = 1
    seed: int = 0

    def __post_init__(self):
        check_fields(self, "meta")
        if self.generations < 1 or self.sigma_init <= 0 or self.learning_rate <= 0 or self.l1 < 0:
            raise ConfigError("meta: generations ≥ 1, sigma_init > 0, learning_rate > 0 and l1 ≥ 0 required")
        if self.population_size is not None and self.population_size < 2:
            raise ConfigError("meta: population_size must be ≥ 2")
        if self.eval_every < 1:
            raise ConfigError("meta: eval_every must be ≥ 1")
        if self.method != "gradient" and self.method not in evosax_algorithms():
            raise ConfigError(f"meta: unknown method {self.method!r}; use 'gradient' or an evosax strategy "
                              f"({', '.join(sorted(evosax_algorithms()))})")
        make_optimizer(self.optimizer, self.learning_rate)

    def strategy(self):
        if self.method == "gradient":
            return Gradient(self.optimizer, self.learning_rate, self.clip)
        return Evolution(self.method, self.population_size, self.sigma_init, self.optimizer, self.learning_rate)


class FunctionProblem(AbstractProblem):
    r"""Meta-learning a rule from what a circuit should compute (Confavreux et al. 2020):

    .. math:: J(θ) = \mathcal L(θ) + λ_1 \lVert θ \rVert_1

    with :math:`\mathcal L` a task's loss (``task.loss(rule, key)``: e.g. a
    :class:`~plastinfer.objectives.FunctionTask` — the objective after the inner loop,
    averaged over data sets drawn from ``key`` — or a spiking target-rate task). The
    parameters are those of one rule or a tuple of co-optimised rules. :meth:`objective`
    scores on the data sets of a fixed key (``selection_seed``)."""

    task: Any
    rule_static: Any
    l1: float = eqx.field(static=True, default=0.0)
    selection_seed: int = eqx.field(static=True, default=12345)
    start: object = None

    def rule(self, params):
        return eqx.combine(params, self.rule_static)

    def loss(self, params, batch, key):
        rule = self.rule(params)
        raw = self.task.loss(rule, key)
        return raw + self.l1 * rule_l1(rule), {"task_loss": raw}

    def objective(self, params):
        return self.loss(params, None, jax.random.PRNGKey(self.selection_seed))[0]

    def coefficients(self, params):
        return coefficient_vector(self.rule(params))


def meta_fit(
    rule: AbstractRule | tuple[AbstractRule, ...],
    task,
    *,
    config: MetaConfig = MetaConfig(),
    reference: AbstractRule | tuple[AbstractRule, ...] | None = None,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> FitResult:
    """Search the coefficients of ``rule`` (one rule or a tuple, co-optimised; any family:
    Taylor, MLP, spike-trace, …) that minimise ``task``'s loss, starting from ``rule``.

    A thin wrapper: a :class:`FunctionProblem` fitted by the engine with
    :class:`Evolution` (``config.method`` an evosax name; at each generation the whole
    population × data sets is simulated in one ``vmap`` on common data sets) or
    :class:`Gradient` (``"gradient"``: optax on ``∇_θ J`` through the inner loop).

    Returns a :class:`FitResult` whose ``rule`` is the best rule seen (the search mean or
    the gradient iterate) on the fixed selection data sets — never worse there than the
    start. ``history``: ``loss`` (penalised loss per generation: for ES the best in the
    population, ``population_mean`` the mean), ``theta`` ``(generations + 1, n)`` the
    coefficients of all rules concatenated, ``best_loss`` / ``objective`` on the selection
    data sets, and ``angle_deg`` to ``reference`` (when given). ``metrics``: final
    ``angle_deg``, ``seconds``, ``evaluations`` (inner-loop runs: candidates × data sets)
    and ``evaluations_per_second``, ``generations_run``.
    """
    cfg = config
    params0, static = rule_params(rule)
    check_finite_params(params0, "meta")
    problem = FunctionProblem(task, static, cfg.l1, start=params0)
    strategy = cfg.strategy()
    ref = None if reference is None else rule_coefficients(reference)

    def angles(coef: np.ndarray) -> np.ndarray:
        c = np.asarray(coef, np.float64).reshape(-1, ref.size)
        cos = c @ ref / np.maximum(np.linalg.norm(c, axis=1) * np.linalg.norm(ref), 1e-300)
        out = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        return np.where(np.linalg.norm(c, axis=1) == 0, 90.0, out)

    callbacks = []
    if ref is not None and cfg.stop_angle_deg is not None:
        callbacks.append(lambda info: float(angles(problem_coef(info["params"]))[0]) <= cfg.stop_angle_deg)
    if callback is not None:
        callbacks.append(lambda info: callback(info["step"], {"loss": info["loss"]}))

    def problem_coef(p):
        return np.asarray(coefficient_vector(problem.rule(p)))

    res = fit(problem, strategy, params0, steps=cfg.generations, key=jax.random.PRNGKey(cfg.seed),
              eval_every=cfg.eval_every, callbacks=callbacks, checkpoint=checkpoint, resume=resume,
              progress=f"meta ({cfg.method})" if progress else False)
    fitted = problem.rule(res.params)
    result = result_from_engine(res, fitted, per_step="generation", names=coefficient_names(fitted))
    h = result.history
    h["theta"] = h["coefficients"]
    if ref is not None:
        h["angle_deg"] = angles(h["coefficients"])
    if cfg.method == "gradient" and float(h["objective"][0]) >= DIVERGED_LOSS:
        warnings.warn("meta: the starting rule diverges on every data set, so its gradient is zero and "
                      "gradient meta-learning cannot move; start from smaller coefficients or use an "
                      "evolution strategy (method='CMA_ES')", RuntimeWarning, stacklevel=2)
    pop = 1 if cfg.method == "gradient" else strategy.size(_n_params(params0))
    done = res.steps_run
    per_gen = pop * task.n_datasets
    elapsed, first = res.seconds, res.first_chunk_seconds
    result.metrics.update({
        "method": cfg.method,
        "generations_run": done,
        "population_size": pop,
        "seconds": elapsed,
        "first_generation_seconds": first,
        "evaluations": done * per_gen,
        "evaluations_per_second": (done - 1) * per_gen / (elapsed - first) if done > 1 and elapsed > first else None,
        "final_best_loss": float(h["loss"][-1]) if done else None,
        "angle_deg": float(angles(coefficient_vector(fitted))[0]) if ref is not None else None,
    })
    return result


def _n_params(params) -> int:
    return int(sum(np.size(a) for a in jax.tree_util.tree_leaves(params)))


def evaluate_meta(rule, task: FunctionTask, key: jax.Array, n_datasets: int | None = None) -> dict:
    """Held-out check of a rule on fresh data sets: per-data-set objective (``scores``),
    mean and median."""
    n = n_datasets or task.n_datasets
    k_data, k_init = jax.random.split(key)
    data = task.datasets.sample(k_data, n)
    scores = np.asarray(eqx.filter_jit(task.scores)(rule, data, k_init))
    return {"scores": scores.tolist(), "mean": float(scores.mean()), "median": float(np.median(scores))}
