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
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
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
    - ``scale``: search on a sphere — each rule's coefficient vector is held at this
      Euclidean norm (``θ = scale · u/‖u‖``; the search moves ``u``), so a search cannot
      spend its steps along the scale direction (shrinking every coefficient toward a
      do-nothing or pure-decay rule, or growing them) and the L1 penalty can only buy
      sparsity, not smallness. ``None`` (default): the paper's unconstrained search. The
      angle to a reference rule ignores scale, so the sphere loses nothing it measures;
    - ``restarts``: IPOP — after the first run of ``generations``, this many further runs,
      each with twice the previous population and ``generations`` of its own, started from
      the best rule so far with the initial step size (evolution strategies only);
    - ``stop_angle_deg``: stop early once the rule the fit would return (the best-scored
      so far) is within this angle of ``reference``;
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
    scale: float | None = None
    restarts: int = 0
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
        if self.scale is not None and not self.scale > 0:
            raise ConfigError(f"meta: scale (the sphere's radius) must be positive, got {self.scale}")
        if self.restarts < 0 or (self.restarts and self.method == "gradient"):
            raise ConfigError("meta: restarts must be ≥ 0, and only evolution strategies restart (IPOP)")
        if self.method != "gradient" and self.method not in evosax_algorithms():
            raise ConfigError(f"meta: unknown method {self.method!r}; use 'gradient' or an evosax strategy "
                              f"({', '.join(sorted(evosax_algorithms()))})")
        make_optimizer(self.optimizer, self.learning_rate)

    def strategy(self, population_size: int | None = None):
        if self.method == "gradient":
            return Gradient(self.optimizer, self.learning_rate, self.clip)
        return Evolution(self.method, population_size or self.population_size, self.sigma_init, self.optimizer,
                         self.learning_rate)


class FunctionProblem(AbstractProblem):
    r"""Meta-learning a rule from what a circuit should compute (Confavreux et al. 2020):

    .. math:: J(θ) = \mathcal L(θ) + λ_1 \lVert θ \rVert_1

    with :math:`\mathcal L` a task's loss (``task.loss(rule, key)``: e.g. a
    :class:`~plastinfer.objectives.FunctionTask` — the objective after the inner loop,
    averaged over data sets drawn from ``key`` — or a spiking target-rate task). The
    parameters are those of one rule or a tuple of co-optimised rules. :meth:`objective`
    scores on the data sets of a fixed key (``selection_seed``). With ``scale`` the
    parameters are directions: each rule's arrays are rescaled to Euclidean norm ``scale``
    (:func:`on_sphere`) before use."""

    task: Any
    rule_static: Any
    l1: float = eqx.field(static=True, default=0.0)
    selection_seed: int = eqx.field(static=True, default=12345)
    scale: float | None = eqx.field(static=True, default=None)
    start: object = None

    def rule(self, params):
        if self.scale is not None:
            params = on_sphere(params, self.scale)
        return eqx.combine(params, self.rule_static)

    def loss(self, params, batch, key):
        rule = self.rule(params)
        raw = self.task.loss(rule, key)
        return raw + self.l1 * rule_l1(rule), {"task_loss": raw}

    def objective(self, params):
        return self.loss(params, None, jax.random.PRNGKey(self.selection_seed))[0]

    def coefficients(self, params):
        return coefficient_vector(self.rule(params))


def on_sphere(params, scale: float = 1.0):
    r"""Each rule's parameters (one rule's arrays, or a tuple of rules' arrays) rescaled to
    Euclidean norm ``scale``: :math:`θ = \text{scale}·u/\lVert u\rVert` (``u = 0`` stays 0)."""
    def one(p):
        leaves = [a for a in jax.tree_util.tree_leaves(p) if eqx.is_inexact_array(a)]
        norm = jnp.sqrt(sum(jnp.sum(a**2) for a in leaves))
        factor = scale / jnp.where(norm > 0, norm, 1.0)
        return jax.tree_util.tree_map(lambda a: a * factor if eqx.is_inexact_array(a) else a, p)

    return tuple(one(p) for p in params) if isinstance(params, tuple) else one(params)


def sphere_profile(task, a, b, *, scale: float = 1.0, n_points: int = 19, key: jax.Array | None = None,
                   l1: float = 0.0) -> dict:
    r"""The meta-loss along the great circle from rule ``a`` to rule ``b`` (one rule or tuples of
    rules of the same families), on the sphere the scale-free search moves on:

    .. math:: θ(φ) = \text{on\_sphere}\big(\cos φ\,\hat a + \sin φ\,\hat b_\perp,\ \text{scale}\big),
              \quad φ ∈ [0, ∠(a, b)],

    with :math:`\hat a` the unit vector of ``a``'s parameters, :math:`\hat b_\perp` the unit part
    of ``b``'s orthogonal to it, and each rule of a tuple rescaled to norm ``scale``. The loss
    is ``task.loss`` on the data sets of ``key`` (common to all points) plus ``l1·‖θ‖₁``.
    Returns ``{"angle_deg": (n_points,), "loss": (n_points,)}``: a barrier between a rule a
    search found and the target shows up as a loss above both ends."""
    pa, static = rule_params(a)
    pb, _ = rule_params(b)
    fa, unravel = ravel_pytree(pa)
    fb, _ = ravel_pytree(pb)
    if fa.shape != fb.shape:
        raise ConfigError(f"sphere_profile: the rules have {fa.size} and {fb.size} parameters; they must match")
    ua = fa / jnp.linalg.norm(fa)
    perp = fb - (fb @ ua) * ua
    ub = perp / jnp.maximum(jnp.linalg.norm(perp), 1e-30)
    total = float(jnp.arctan2(fb @ ub, fb @ ua))
    phis = jnp.linspace(0.0, total, n_points)
    key = jax.random.PRNGKey(12345) if key is None else key

    def loss(phi):
        rule = eqx.combine(on_sphere(unravel(jnp.cos(phi) * ua + jnp.sin(phi) * ub), scale), static)
        return task.loss(rule, key) + l1 * rule_l1(rule)

    values = jax.jit(jax.vmap(loss))(phis)
    return {"angle_deg": np.degrees(np.asarray(phis)), "loss": np.asarray(values)}


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
    if cfg.scale is not None:  # the search moves directions: start on the unit sphere, σ relative to it
        params0 = on_sphere(params0, 1.0)
    problem = FunctionProblem(task, static, cfg.l1, scale=cfg.scale, start=params0)
    strategy = cfg.strategy()
    ref = None if reference is None else rule_coefficients(reference)

    def angles(coef: np.ndarray) -> np.ndarray:
        c = np.asarray(coef, np.float64).reshape(-1, ref.size)
        cos = c @ ref / np.maximum(np.linalg.norm(c, axis=1) * np.linalg.norm(ref), 1e-300)
        out = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        return np.where(np.linalg.norm(c, axis=1) == 0, 90.0, out)

    callbacks = []
    if ref is not None and cfg.stop_angle_deg is not None:
        # the rule the fit would return (the best-scored so far), not the iterate: a stop at
        # 10° then means the returned rule is within 10°
        callbacks.append(lambda info: float(angles(problem_coef(info["best_params"]))[0]) <= cfg.stop_angle_deg)
    if callback is not None:
        callbacks.append(lambda info: callback(info["step"], {"loss": info["loss"]}))

    def problem_coef(p):
        return np.asarray(coefficient_vector(problem.rule(p)))

    runs, pops, start = [], [], params0
    for k in range(cfg.restarts + 1):
        pop = None if cfg.method == "gradient" else strategy.size(_n_params(params0)) * 2**k
        ckpt = None if checkpoint is None else _restart_path(checkpoint, k)
        label = f"meta ({cfg.method}{f', restart {k}, population {pop}' if k else ''})"
        res = fit(problem, cfg.strategy(pop), start, steps=cfg.generations, key=jax.random.fold_in(
                  jax.random.PRNGKey(cfg.seed), k) if k else jax.random.PRNGKey(cfg.seed),
                  eval_every=cfg.eval_every, callbacks=callbacks, checkpoint=ckpt, resume=resume,
                  progress=label if progress else False)
        runs.append(res)
        pops.append(pop or 1)
        if res.stopped == "callback":
            break
        start = res.params
    res = _chain_runs(runs)
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
    done = res.steps_run
    evaluations = sum(r.steps_run * p for r, p in zip(runs, pops)) * task.n_datasets
    per_gen = pops[0] * task.n_datasets
    elapsed, first = runs[0].seconds, runs[0].first_chunk_seconds
    result.metrics.update({
        "method": cfg.method,
        "generations_run": done,
        "population_size": pops[0],
        "population_sizes": pops,
        "restarts_run": len(runs) - 1,
        "scale": cfg.scale,
        "seconds": res.seconds,
        "first_generation_seconds": first,
        "evaluations": evaluations,
        "evaluations_per_second": ((runs[0].steps_run - 1) * per_gen / (elapsed - first)
                                   if runs[0].steps_run > 1 and elapsed > first else None),
        "final_best_loss": float(h["loss"][-1]) if done else None,
        "angle_deg": float(angles(coefficient_vector(fitted))[0]) if ref is not None else None,
    })
    return result


def _restart_path(path, k: int):
    p = Path(path)
    return p if k == 0 else p.with_name(f"{p.stem}.restart{k}{p.suffix}")


def _chain_runs(runs: list):
    """One :class:`~plastinfer.infer.EngineResult` for consecutive runs (IPOP restarts), each
    started from the previous run's best: histories concatenated (a later run's start record
    dropped, its steps and seconds offset), the best parameters over all runs."""
    if len(runs) == 1:
        return runs[0]
    hist: dict[str, list] = {}
    step0, t0 = 0, 0.0
    for i, r in enumerate(runs):
        for key, v in r.history.items():
            v = np.asarray(v)
            if i:
                if key in ("step", "eval_step"):
                    v = v + step0
                elif key == "seconds":
                    v = v + t0
                if len(v) != r.steps_run:  # per chunk / per evaluation: drop the start record
                    v = v[1:]
            hist.setdefault(key, []).append(v)
        step0 += r.steps_run
        t0 += r.seconds
    hist = {k: np.concatenate(v) for k, v in hist.items()}
    best = min(range(len(runs)), key=lambda i: float(np.mean(runs[i].best_score)))
    steps_before = sum(r.steps_run for r in runs[:best])
    return dataclasses.replace(runs[-1], params=runs[best].params, best_score=runs[best].best_score,
                      best_step=np.asarray(runs[best].best_step) + steps_before, history=hist, steps_run=int(step0),
                      rejected=sum(r.rejected for r in runs), seconds=t0,
                      warnings=[w for r in runs for w in r.warnings])


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
