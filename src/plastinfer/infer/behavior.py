r"""Fit plasticity rules to choice behaviour (Mehta et al. 2024, §4–5).

The model circuit (the mushroom-body choice circuit of ``plastinfer.circuits``, driven mode) follows
each subject's recorded odors, choices and rewards; its plasticity depends on the
candidate rule ``g_θ``, and so do its choice probabilities :math:`m^{(t)}`. The fit
minimises the binary cross-entropy of the observed choices :math:`o^{(t)}` (Eq. 10)

.. math::
    L(θ) = \frac{1}{T}\sum_t -o^{(t)}\log m^{(t)} - (1-o^{(t)})\log(1-m^{(t)})
           + λ_1 \lVert θ \rVert_1

by backpropagation through the whole session, one subject per update (the paper's "no
batching"), with gradient clipping and Adam. Initial weights are unknown and resampled
from the circuit's distribution at every update.

Two ways to use subjects:

- ``per_subject=False``: one rule shared by all subjects (simulated data sets: 18
  training trajectories → one rule);
- ``per_subject=True``: an independent fit per subject (the fly analysis: 18 flies → 18
  rules), all run in parallel in one ``vmap``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, PyTree

from ..errors import ConfigError, DatasetError
from .._checks import check_fields
from ..analysis._behavior import bernoulli_deviance, percent_deviance_explained
from ..analysis._metrics import r2_score
from ..circuits import rollout
from ..data import ChoiceDataset, choice_inputs
from ..rules import AbstractRule
from ._engine import fit
from ._problem import AbstractProblem, check_finite_params, coefficient_names, coefficient_vector, rule_params
from ._result import FitResult, result_from_engine
from ._strategies import Gradient, make_optimizer


@dataclasses.dataclass(frozen=True)
class ChoiceFitConfig:
    """Settings of a behavioural fit (defaults: Mehta et al. 2024, A.4 and the authors'
    configuration: 250 epochs, L1 1e-2 on Taylor coefficients, Adam).

    ``select_every``: epochs between scorings of the in-sample loss (fixed initial-weight
    draws; the validation set's when one is given) that keep the best parameters — per
    subject for per-subject fits; the start and the last epoch are always scored. A scoring
    costs about 1.5 epochs of single-subject updates in the default fit, hence every 25."""

    epochs: int = 250
    learning_rate: float = 1e-3
    l1: float = 1e-2
    clip: float | None = 0.2
    optimizer: str = "adam"
    per_subject: bool = False
    select_every: int = 25
    seed: int = 0

    def __post_init__(self):
        check_fields(self, "fit")
        if self.epochs < 0 or self.learning_rate <= 0 or self.l1 < 0 or (self.clip is not None and self.clip < 0):
            raise ConfigError("fit: epochs ≥ 0, learning_rate > 0, l1 ≥ 0 and clip ≥ 0 required")
        if self.select_every < 1:
            raise ConfigError(f"fit: select_every must be ≥ 1, got {self.select_every}")
        make_optimizer(self.optimizer, self.learning_rate)


class Choices(eqx.Module):
    """Choice data as arrays for a circuit: its driven ``inputs`` ``(S, T, ...)``, the
    observed ``choices (S, T)`` (1 = accept / odor 2) and ``mask (S, T)`` (False: padding or
    an ignored trial)."""

    inputs: PyTree
    choices: Array
    mask: Array

    @property
    def n(self) -> int:
        return int(self.choices.shape[0])

    @classmethod
    def from_dataset(cls, circuit, data: ChoiceDataset, key: Array) -> "Choices":
        inputs = choice_inputs(data, circuit, key)
        return cls(inputs, jnp.asarray(np.maximum(data.choices, 0), jnp.float32), jnp.asarray(data.observed, bool))


class ChoiceProblem(AbstractProblem):
    r"""Fit a rule to choices (Mehta et al. 2024, Eq. 10): the circuit is driven by each
    subject's recorded session from freshly drawn initial weights, and

    .. math:: L(θ) = \frac{1}{|B|}\sum_{s∈B}\frac{1}{T_s}\sum_t \mathrm{BCE}\big(o_s^{(t)}, σ(ℓ_s^{(t)}(θ))\big) + λ_1\lVert θ\rVert_1

    with :math:`ℓ` the circuit's observable (log-odds of the choice). ``per_subject``: one
    rule per subject (a grouped problem: parameters carry a leading subject axis, the loss
    is ``(S,)``); otherwise one rule for all subjects, batched over subjects.
    :meth:`log_likelihood` is the Bernoulli log-likelihood of every step ``(S, T)``, 0 where
    ``mask`` is False. It is a fixed function of the parameters: it conditions on each
    subject's odor patterns (drawn once, stored in ``data.inputs``) and on initial weights
    ``w0`` ``(S, n_hidden, n_in)`` — the stored ones when given, else one draw per subject
    from the fixed key 0 (:meth:`initial_weights`). Training updates (:meth:`loss`) still
    resample initial weights, as in the paper. With the default ``init_std = 0.01`` the
    initial weights move the first choices' log-odds by about 0.1; the posterior is
    conditional on them, not marginalised over them.
    """

    circuit: Any
    rule_static: Any
    data: Choices
    validation: Choices | None = None
    l1: float = eqx.field(static=True, default=0.0)
    per_subject: bool = eqx.field(static=True, default=False)
    start: object = None
    w0: Array | None = None

    @property
    def n_items(self) -> int:
        return 0 if self.per_subject else self.data.n

    def initial_weights(self) -> Array:
        """The initial weights the likelihood conditions on, ``(S, n_hidden, n_in)``."""
        if self.w0 is not None:
            return self.w0
        keys = jax.random.split(jax.random.PRNGKey(0), self.data.n)
        return jax.vmap(lambda k: self.circuit.weights(self.circuit.init(k)))(keys)

    def subject(self, i: int) -> "ChoiceProblem":
        """Subject ``i`` alone, as a one-rule problem (its own data, validation and initial
        weights; a grouped problem's start sliced): what per-subject posteriors use."""
        if not 0 <= i < self.data.n:
            raise ConfigError(f"subject index {i} out of range for {self.data.n} subjects")
        take = lambda a: a[i:i + 1]  # noqa: E731
        sl = lambda c: None if c is None else jax.tree_util.tree_map(take, c)  # noqa: E731
        start = self.start
        if self.per_subject and start is not None:
            start = jax.tree_util.tree_map(lambda a: a[i], start)
        return ChoiceProblem(self.circuit, self.rule_static, sl(self.data),
                             sl(self.validation) if self.per_subject else self.validation, self.l1, False, start,
                             self.initial_weights()[i:i + 1])

    @property
    def n_groups(self) -> int:
        return self.data.n if self.per_subject else 0

    def rule(self, params) -> AbstractRule:
        return eqx.combine(params, self.rule_static)

    def _step_bce(self, rule, w_key, inputs, choices, mask):
        """BCE of every step of one subject's session from initial weights drawn with ``w_key``,
        0 where ``mask`` is False, ``(T,)``."""
        logit, _ = self.circuit.observe(rule, self.circuit.init(w_key), inputs)
        return jnp.where(mask, optax.sigmoid_binary_cross_entropy(logit, choices), 0.0)

    def _nll(self, rule, w_key, inputs, choices, mask):
        """Mean BCE of one subject's choices under the model."""
        return jnp.sum(self._step_bce(rule, w_key, inputs, choices, mask)) / jnp.maximum(jnp.sum(mask), 1)

    def _losses(self, params, data: Choices, idx, key, sequential: bool = False):
        take = lambda a: a[idx]  # noqa: E731
        inputs = jax.tree_util.tree_map(take, data.inputs)
        keys = jax.random.split(key, idx.shape[0])
        if self.per_subject:
            def one(p, k, i, c, m):
                rule = self.rule(p)
                nll = self._nll(rule, k, i, c, m)
                return nll + self.l1 * rule.l1(), nll
            return jax.vmap(one)(params, keys, inputs, data.choices[idx], data.mask[idx])
        rule = self.rule(params)
        if idx.shape[0] == 1:
            first = lambda a: a[0]  # noqa: E731
            nll = self._nll(rule, keys[0], jax.tree_util.tree_map(first, inputs), data.choices[idx][0],
                            data.mask[idx][0])
        elif sequential:  # scoring every subject without gradients: one at a time is faster on a CPU
            nll = jnp.mean(jax.lax.map(lambda a: self._nll(rule, *a), (keys, inputs, data.choices[idx], data.mask[idx])))
        else:
            nll = jnp.mean(jax.vmap(lambda k, i, c, m: self._nll(rule, k, i, c, m))(
                keys, inputs, data.choices[idx], data.mask[idx]))
        return nll + self.l1 * rule.l1(), nll

    def loss(self, params, batch, key):
        idx = jnp.arange(self.data.n) if batch is None else batch
        loss, nll = self._losses(params, self.data, idx, key)
        return loss, {"nll": nll}

    def objective(self, params):
        seq = jax.default_backend() == "cpu"
        return self._losses(params, self.data, jnp.arange(self.data.n), jax.random.PRNGKey(0), seq)[0]

    def validation_loss(self, params):
        if self.validation is None:
            return None
        seq = jax.default_backend() == "cpu"
        return self._losses(params, self.validation, jnp.arange(self.validation.n), jax.random.PRNGKey(1), seq)[0]

    def log_likelihood(self, params) -> Array:
        d = self.data

        def one(p, w0, i, c, m):
            logit, _ = self.circuit.observe(self.rule(p), self.circuit.state_from_weights(w0), i)
            return jnp.where(m, -optax.sigmoid_binary_cross_entropy(logit, c), 0.0)

        axes = 0 if self.per_subject else None
        return jax.vmap(one, in_axes=(axes, 0, 0, 0, 0))(params, self.initial_weights(), d.inputs, d.choices, d.mask)

    def coefficients(self, params):
        if self.per_subject:
            return jax.vmap(lambda p: coefficient_vector(self.rule(p)))(params)
        return coefficient_vector(self.rule(params))


def _check(circuit, data: ChoiceDataset) -> None:
    if getattr(circuit, "readout", None) is None or not hasattr(circuit, "observable"):
        raise ConfigError(f"choice fits need a choice circuit (one with a readout), got {type(circuit).__name__}")
    if data.readout != circuit.readout:
        raise DatasetError(f"data readout {data.readout!r} does not match the circuit's {circuit.readout!r}")
    if getattr(circuit, "closed_loop", False):
        raise ConfigError("fit: the model circuit must run in driven mode (closed_loop=False)")


def stack_rules(rules: list[AbstractRule]) -> AbstractRule:
    """Rules of one family → one rule whose arrays have a leading subject axis."""
    params = [eqx.partition(r, eqx.is_inexact_array) for r in rules]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[p for p, _ in params])
    return eqx.combine(stacked, params[0][1])


def unstack_rules(rule: AbstractRule, n: int) -> list[AbstractRule]:
    """Inverse of :func:`stack_rules`."""
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    return [eqx.combine(jax.tree_util.tree_map(lambda a: a[i], params), static) for i in range(n)]


def choice_problem(rule: AbstractRule | list[AbstractRule], circuit, data: ChoiceDataset, *,
                   config: ChoiceFitConfig = ChoiceFitConfig(), validation: ChoiceDataset | None = None):
    """The :class:`ChoiceProblem` :func:`fit_choices` fits, its starting parameters and the key
    the fit continues with: ``(problem, params0, key)``. Odor patterns are drawn from
    ``config.seed`` exactly as in the fit, so a problem rebuilt from a run's config and data
    is the one that was fitted (what ``plastinfer posterior RUN`` relies on)."""
    _check(circuit, data)
    cfg = config
    if isinstance(rule, (list, tuple)):
        if not cfg.per_subject or len(rule) != data.n_subjects:
            raise ConfigError(f"fit: a list of {len(rule)} starting rules needs per_subject=True and one rule per "
                              f"subject ({data.n_subjects})")
        start = stack_rules(list(rule))
    else:
        start = stack_rules([rule] * data.n_subjects) if cfg.per_subject else rule
    params0, static = rule_params(start)
    check_finite_params(params0, "fit")
    key = jax.random.PRNGKey(cfg.seed)
    key, k_in = jax.random.split(key)
    arrays = Choices.from_dataset(circuit, data, k_in)
    val = None
    if validation is not None:
        _check(circuit, validation)
        if cfg.per_subject and validation.n_subjects != data.n_subjects:
            raise DatasetError(f"fit: per-subject validation needs the same {data.n_subjects} subjects, got "
                               f"{validation.n_subjects}")
        val = Choices.from_dataset(circuit, validation, jax.random.fold_in(k_in, 1))
    return ChoiceProblem(circuit, static, arrays, val, cfg.l1, cfg.per_subject, start=params0), params0, key


def fit_choices(
    rule: AbstractRule | list[AbstractRule],
    circuit,
    data: ChoiceDataset,
    *,
    config: ChoiceFitConfig = ChoiceFitConfig(),
    validation: ChoiceDataset | None = None,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> FitResult:
    """Fit ``rule`` (its family and shape are kept) to the choices in ``data``.

    A thin wrapper: a :class:`ChoiceProblem` fitted by the engine with :class:`Gradient`
    (``clip_by_global_norm(clip) → optax.<optimizer>(learning_rate)``). One epoch: a pass
    over the subjects in random order, one update each (shared rule), or one update of
    every subject's own rule in one ``vmap`` (``config.per_subject``).

    The returned rule is the **best** of the epochs on the full in-sample loss (fixed
    initial-weight draws; on ``validation`` when given) — per subject for per-subject fits
    — so it is never worse than the start. With ``config.per_subject`` every subject gets
    its own copy of ``rule`` and the result's ``rule`` has a leading subject axis (see
    :func:`unstack_rules`; ``result.extras["rules"]`` holds the list);
    ``history["theta"]`` is then ``(epochs + 1, subjects, n_terms)``. A per-subject fit may
    also start from a list of rules, one per subject (same family and shape).

    Noisy odor patterns are drawn once per subject (``config.seed``) and kept through the
    fit; initial weights are resampled at every update. Diverging updates are rejected and
    counted in ``history["diverged"]``.
    """
    cfg = config
    problem, params0, key = choice_problem(rule, circuit, data, config=cfg, validation=validation)
    rule = rule[0] if isinstance(rule, (list, tuple)) else rule
    strategy = Gradient(cfg.optimizer, cfg.learning_rate, cfg.clip, batch_size=None if cfg.per_subject else 1)
    callbacks = [] if callback is None else [
        lambda info: callback(info["step"], {"loss": info["loss"], "best_loss": float(np.mean(info.get("best_loss", np.nan)))})]
    res = fit(problem, strategy, params0, steps=cfg.epochs, key=key, eval_every=cfg.select_every,
              callbacks=callbacks, checkpoint=checkpoint,
              resume=resume, progress="fit choices" if progress else False)
    fitted = problem.rule(res.params)
    result = result_from_engine(res, fitted, per_step="epoch", names=coefficient_names(rule))
    result.extras["inputs_seed"] = cfg.seed
    result.extras["problem"] = problem
    result.extras["params"] = res.params
    if cfg.per_subject:
        rules = unstack_rules(fitted, data.n_subjects)
        result.extras["rules"] = rules
        result.metrics["equations"] = [r.equation() for r in rules]
        result.metrics["best_loss_per_subject"] = np.asarray(res.best_score).tolist()
        result.metrics["start_loss_per_subject"] = np.asarray(res.history["objective"][0]).tolist()
    else:
        result.metrics["equation"] = fitted.equation()
    return result


# ----------------------------------------------------------------------------- evaluation
class _NoPlasticity(AbstractRule):
    """``Δw = 0``: the null model of percent deviance explained."""

    def delta(self, x, y, w, r):
        return jnp.zeros_like(w)

    def equation(self, precision: int = 2, threshold: float | None = None) -> str:
        return "Δw = 0"


@eqx.filter_jit
def _replay(circuit, rule, w0, inputs, per_subject: bool = False):
    """Driven rollouts of all subjects from ``w0`` ``(S, n_hidden, n_in)``: records with
    weights. ``per_subject``: ``rule``'s arrays carry a leading subject axis."""
    def one(r, w, i):
        return rollout(circuit, r, circuit.state_from_weights(w), i, record_weights=True)[1]

    if not per_subject:
        return jax.vmap(one, in_axes=(None, 0, 0))(rule, w0, inputs)
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    return jax.vmap(lambda p, w, i: one(eqx.combine(p, static), w, i))(params, w0, inputs)


def evaluate_choices(
    rule: AbstractRule | list[AbstractRule],
    circuit,
    data: ChoiceDataset,
    *,
    truth: AbstractRule | None = None,
    key: jax.Array | None = None,
    noise_seed: int | None = None,
) -> dict[str, Any]:
    """Per-subject goodness of fit of ``rule`` (one rule, or one per subject).

    The model replays each subject's session from fresh initial weights on freshly drawn
    odor patterns (``key``; ``noise_seed=config.seed`` reuses the patterns a fit saw, for
    in-sample scores); the null model is the same circuit without plasticity, from the
    same weights and patterns.

    - ``percent_deviance``: Eq. 11, per subject;
    - with ``truth`` (simulated data): ``r2_weights`` (weight trajectories at completed
      trials, outputs = synapses) and ``r2_activity`` (plastic-layer activity at every
      presentation, outputs = units), per subject, both replayed from the same initial
      weights and patterns as in the authors' evaluation;
    - ``median_*`` / ``mean_*`` summaries (the paper reports medians per seed).
    """
    _check(circuit, data)
    key = jax.random.PRNGKey(1) if key is None else key
    k_in, k_w = jax.random.split(key)
    if noise_seed is not None:
        k_in = jax.random.split(jax.random.PRNGKey(noise_seed))[1]  # as in fit_choices
    inputs = choice_inputs(data, circuit, k_in)
    w0 = jax.vmap(circuit.init)(jax.random.split(k_w, data.n_subjects)).w
    n = data.n_subjects
    if isinstance(rule, (list, tuple)):
        if len(rule) != n:
            raise ValueError(f"{len(rule)} rules for {n} subjects")
        rec = _replay(circuit, stack_rules(list(rule)), w0, inputs, per_subject=True)
    else:
        rec = _replay(circuit, rule, w0, inputs)
    null = _replay(circuit, _NoPlasticity(), w0, inputs)
    true = _replay(circuit, truth, w0, inputs) if truth is not None else None

    mask = np.asarray(data.observed)
    choices = np.maximum(np.asarray(data.choices), 0)
    p_m = np.asarray(jax.nn.sigmoid(rec.logit))
    p_0 = np.asarray(jax.nn.sigmoid(null.logit))
    done = (choices.astype(bool) if data.readout == "accept" else np.ones_like(mask)) & mask
    out: dict[str, list] = {"percent_deviance": [], "deviance": [], "null_deviance": []}
    if true is not None:
        out.update({"r2_weights": [], "r2_activity": []})
    for s in range(n):
        d_m = bernoulli_deviance(p_m[s], choices[s], mask[s])
        d_0 = bernoulli_deviance(p_0[s], choices[s], mask[s])
        out["deviance"].append(d_m)
        out["null_deviance"].append(d_0)
        out["percent_deviance"].append(percent_deviance_explained(d_m, d_0))
        if true is not None:
            wt = np.asarray(true.w[s])[done[s]].reshape(int(done[s].sum()), -1)
            wm = np.asarray(rec.w[s])[done[s]].reshape(int(done[s].sum()), -1)
            out["r2_weights"].append(float(r2_score(wt, wm)))
            out["r2_activity"].append(float(r2_score(np.asarray(true.y[s])[mask[s]], np.asarray(rec.y[s])[mask[s]])))
    result: dict[str, Any] = {k: [float(v) for v in vals] for k, vals in out.items()}
    for k in [k for k in out if k not in ("deviance", "null_deviance")]:
        result[f"median_{k}"] = float(np.median(out[k]))
        result[f"mean_{k}"] = float(np.mean(out[k]))
    return result

