r"""Fit plasticity rules to choice behaviour (Mehta et al. 2024, §4–5).

The model circuit (:class:`~plastinfer.circuits.ChoiceCircuit`, driven mode) follows
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
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.metrics import r2_score as _sk_r2

from .._errors import ConfigError, DatasetError
from ..analysis._behavior import bernoulli_deviance, percent_deviance_explained
from ..circuits import ChoiceCircuit, ChoiceInput, rollout
from ..data import ChoiceDataset, choice_inputs
from ..rules import AbstractRule, Taylor
from ._result import FitResult
from .trajectory import _make_optimizer, _progress, _rule_vector


@dataclasses.dataclass(frozen=True)
class ChoiceFitConfig:
    """Settings of a behavioural fit (defaults: Mehta et al. 2024, A.4 and the authors'
    configuration: 250 epochs, L1 1e-2 on Taylor coefficients, Adam)."""

    epochs: int = 250
    learning_rate: float = 1e-3
    l1: float = 1e-2
    clip: float | None = 0.2
    optimizer: str = "adam"
    per_subject: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.epochs < 0 or self.learning_rate <= 0 or self.l1 < 0 or (self.clip is not None and self.clip < 0):
            raise ConfigError("fit: epochs ≥ 0, learning_rate > 0, l1 ≥ 0 and clip ≥ 0 required")




def _subject_nll(circuit: ChoiceCircuit, rule: AbstractRule, w0, inputs: ChoiceInput):
    """Mean BCE of one subject's choices under the model, and its number of choices."""
    _, rec = rollout(circuit, rule, circuit.init_state(w0), inputs)
    bce = optax.sigmoid_binary_cross_entropy(rec.logit, inputs.choice)
    n = jnp.sum(inputs.valid)
    return jnp.sum(jnp.where(inputs.valid, bce, 0.0)) / jnp.maximum(n, 1)


def _loss(params, static, key, circuit, inputs, l1):
    rule = eqx.combine(params, static)
    w0 = circuit.init(key).w
    nll = _subject_nll(circuit, rule, w0, inputs)
    return nll + l1 * rule.l1(), nll


def _update(params, opt_state, key, inputs, static, circuit, cfg):
    (loss, nll), g = jax.value_and_grad(_loss, has_aux=True)(params, static, key, circuit, inputs, cfg.l1)
    updates, opt_state = _make_optimizer(cfg).update(g, opt_state, params)
    finite = jnp.isfinite(loss)
    return optax.apply_updates(params, updates), opt_state, jnp.where(finite, loss, 1e6), jnp.where(finite, nll, 1e6), ~finite


@eqx.filter_jit
def _shared_epoch(params, opt_state, key, inputs: ChoiceInput, static, circuit, cfg):
    """One pass over the subjects in random order, one update each (a ``lax.scan``)."""
    n = inputs.valid.shape[0]
    key, k_perm = jax.random.split(key)
    order = jax.random.permutation(k_perm, n)

    def body(carry, i):
        p, s, k = carry
        k, sub = jax.random.split(k)
        one = jax.tree_util.tree_map(lambda a: a[i], inputs)
        p, s, loss, nll, bad = _update(p, s, sub, one, static, circuit, cfg)
        return (p, s, k), (loss, nll, bad)

    (params, opt_state, key), (loss, nll, bad) = jax.lax.scan(body, (params, opt_state, key), order)
    return params, opt_state, key, jnp.mean(loss), jnp.mean(nll), jnp.sum(bad)


@eqx.filter_jit
def _per_subject_epoch(params, opt_state, key, inputs: ChoiceInput, static, circuit, cfg):
    """One update of every subject's own rule, in parallel (``vmap`` over subjects)."""
    n = inputs.valid.shape[0]
    key, sub = jax.random.split(key)
    keys = jax.random.split(sub, n)
    params, opt_state, loss, nll, bad = jax.vmap(_update, in_axes=(0, 0, 0, 0, None, None, None))(
        params, opt_state, keys, inputs, static, circuit, cfg
    )
    return params, opt_state, key, loss, nll, bad


def _check(circuit: ChoiceCircuit, data: ChoiceDataset) -> None:
    if not isinstance(circuit, ChoiceCircuit):
        raise ConfigError(f"choice fits need a ChoiceCircuit, got {type(circuit).__name__}")
    if data.readout != circuit.readout:
        raise DatasetError(f"data readout {data.readout!r} does not match the circuit's {circuit.readout!r}")
    if circuit.closed_loop:
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


def fit_choices(
    rule: AbstractRule | list[AbstractRule],
    circuit: ChoiceCircuit,
    data: ChoiceDataset,
    *,
    config: ChoiceFitConfig = ChoiceFitConfig(),
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
) -> FitResult:
    """Fit ``rule`` (its family and shape are kept) to the choices in ``data``.

    ``circuit`` is the model (driven mode, same readout as the data). With
    ``config.per_subject`` every subject gets its own copy of ``rule`` and the result's
    ``rule`` has a leading subject axis (see :func:`unstack_rules`;
    ``result.extras["rules"]`` holds the list); ``history["theta"]`` is then
    ``(epochs + 1, subjects, n_terms)``. A per-subject fit may also start from a list of
    rules, one per subject (same family and shape) — e.g. a nested model warm-started from
    the smaller model's fit.

    Noisy odor patterns are drawn once per subject (``config.seed``) and kept through the
    fit; initial weights are resampled at every update. Non-finite updates (a diverging
    candidate) are skipped and counted in ``history["diverged"]``.
    """
    _check(circuit, data)
    cfg = config
    if isinstance(rule, (list, tuple)):
        if not cfg.per_subject or len(rule) != data.n_subjects:
            raise ConfigError(f"fit: a list of {len(rule)} starting rules needs per_subject=True and one rule per "
                              f"subject ({data.n_subjects})")
        start = stack_rules(list(rule))
        rule = rule[0]
    else:
        start = stack_rules([rule] * data.n_subjects) if cfg.per_subject else rule
    key = jax.random.PRNGKey(cfg.seed)
    key, k_in = jax.random.split(key)
    inputs = choice_inputs(data, circuit, k_in)
    n = data.n_subjects
    opt = _make_optimizer(cfg)
    params, static = eqx.partition(start, eqx.is_inexact_array)
    opt_state = jax.vmap(opt.init)(params) if cfg.per_subject else opt.init(params)
    epoch_fn = _per_subject_epoch if cfg.per_subject else _shared_epoch

    history: dict[str, list] = {"loss": [], "nll": [], "diverged": [], "theta": [], "params": []}

    def snapshot(p):
        if cfg.per_subject:
            rules = unstack_rules(eqx.combine(p, static), n)
            history["params"].append(np.stack([_rule_vector(r) for r in rules]))
            if isinstance(rules[0], Taylor):
                history["theta"].append(np.stack([np.asarray(r.effective_theta()).ravel() for r in rules]))
        else:
            rl = eqx.combine(p, static)
            history["params"].append(_rule_vector(rl))
            if isinstance(rl, Taylor):
                history["theta"].append(np.asarray(rl.effective_theta()).ravel())

    snapshot(params)
    t0 = time.perf_counter()
    first = 0.0
    bar = _progress(range(cfg.epochs), progress, desc="fit choices")
    for epoch in bar:
        t_ep = time.perf_counter()
        params, opt_state, key, loss, nll, bad = epoch_fn(params, opt_state, key, inputs, static, circuit, cfg)
        loss, nll, bad = np.asarray(loss), np.asarray(nll), np.asarray(bad)
        if epoch == 0:
            first = time.perf_counter() - t_ep
        history["loss"].append(loss)
        history["nll"].append(nll)
        history["diverged"].append(bad)
        snapshot(params)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{float(np.mean(loss)):.4g}")
        if callback is not None:
            callback(epoch + 1, {"loss": float(np.mean(loss)), "nll": float(np.mean(nll))})
    elapsed = time.perf_counter() - t0
    fitted = eqx.combine(params, static)
    n_bad = int(np.sum(history["diverged"])) if history["diverged"] else 0
    metrics: dict[str, Any] = {
        "epochs": cfg.epochs,
        "train_seconds": elapsed,
        "first_epoch_seconds": first,
        "seconds_per_epoch": (elapsed - first) / (cfg.epochs - 1) if cfg.epochs > 1 else None,
        "diverged_updates": n_bad,
        "final_loss": float(np.mean(history["loss"][-1])) if history["loss"] else None,
    }
    extras: dict[str, Any] = {"inputs_seed": cfg.seed}
    if cfg.per_subject:
        rules = unstack_rules(fitted, n)
        extras["rules"] = rules
        metrics["equations"] = [r.equation() for r in rules]
    else:
        metrics["equation"] = fitted.equation()
    hist = {k: np.asarray(v, np.float32) for k, v in history.items() if len(v)}
    return FitResult(rule=fitted, history=hist, metrics=metrics,
                     names=rule.names if isinstance(rule, Taylor) else None, extras=extras)


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
        return rollout(circuit, r, circuit.init_state(w), i, record_weights=True)[1]

    if not per_subject:
        return jax.vmap(one, in_axes=(None, 0, 0))(rule, w0, inputs)
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    return jax.vmap(lambda p, w, i: one(eqx.combine(p, static), w, i))(params, w0, inputs)


def evaluate_choices(
    rule: AbstractRule | list[AbstractRule],
    circuit: ChoiceCircuit,
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

    mask = np.asarray(data.mask)
    choices = np.asarray(data.choices)
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
            out["r2_weights"].append(float(_sk_r2(wt, wm)))
            out["r2_activity"].append(float(_sk_r2(np.asarray(true.y[s])[mask[s]], np.asarray(rec.y[s])[mask[s]])))
    result: dict[str, Any] = {k: [float(v) for v in vals] for k, vals in out.items()}
    for k in [k for k in out if k not in ("deviance", "null_deviance")]:
        result[f"median_{k}"] = float(np.median(out[k]))
        result[f"mean_{k}"] = float(np.mean(out[k]))
    return result

