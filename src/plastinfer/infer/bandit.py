r"""Bandit choice data, fitted by the engine: one Problem for every choice model
(plasticity rules and the reinforcement-learning baselines of :mod:`~plastinfer.infer.baselines`).

The log-likelihood of subject :math:`s` under its parameters :math:`θ_s` is

.. math:: \ell_s(θ_s) = \sum_{t ∈ \text{scored}} \log \mathrm{softmax}\big(\ell(s_t)\big)_{c_t},

with the model's state run over *every* trial with a choice (scored or not: held-out trials
still move the state on, which is how held-out scoring **continues** from the trials before);
ignored trials neither update nor score. At each session start the state is reset to the
model's initial state (``sessions="reset"``) or carried over (``"carry"``); ``fresh`` marks
extra reset points (the fresh-start held-out variant). Per-subject parameters carry a
leading subject axis; the loss is the mean negative log-likelihood over all scored trials.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from ..data import ChoiceDataset
from ..errors import ConfigError, DatasetError
from ._engine import fit as engine_fit
from ._problem import AbstractProblem, rule_l1
from ._strategies import LBFGS, _where
from .behavior import stack_rules, unstack_rules
from .baselines import AbstractChoiceModel

SESSION_POLICIES = ("reset", "carry")


class BanditArrays(eqx.Module):
    """``(S, T)`` arrays: ``choices`` (int, 0 where none), ``rewards``, ``observed`` (a choice
    was made), ``resets`` (the state restarts before this trial)."""

    choices: Array
    rewards: Array
    observed: Array
    resets: Array

    @classmethod
    def from_dataset(cls, data: ChoiceDataset, sessions: str = "reset", fresh: np.ndarray | None = None) -> "BanditArrays":
        if sessions not in SESSION_POLICIES:
            raise ConfigError(f"sessions must be one of {list(SESSION_POLICIES)}, got {sessions!r}")
        resets = np.zeros(data.mask.shape, bool)
        resets[:, 0] = True
        if sessions == "reset":
            resets |= data.session_starts
        if fresh is not None:
            resets |= np.asarray(fresh, bool)
        return cls(jnp.asarray(np.maximum(data.choices, 0), jnp.int32), jnp.asarray(data.rewards, jnp.float32),
                   jnp.asarray(data.observed), jnp.asarray(resets))


def session_log_probs(model: AbstractChoiceModel, choices, rewards, observed, resets) -> Array:
    """``(T,)`` log-probability of every trial's choice (0 where no choice) for one subject."""
    init = model.init_state()

    def body(state, t):
        c, r, obs, reset = t
        state = _where(reset, init, state)
        lp = jax.nn.log_softmax(model.logits(state))[c]
        state = _where(obs, model.update(state, c, r), state)
        return state, jnp.where(obs, lp, 0.0)

    return jax.lax.scan(body, init, (choices, rewards, observed, resets))[1]


class BanditProblem(AbstractProblem):
    """Fit a choice model to bandit choices; see the module docstring.

    ``per_subject`` (default): one model per subject — a grouped problem (parameters with a
    leading subject axis, loss ``(S,)``: each subject's mean negative log-likelihood over its
    scored trials), which L-BFGS fits one subject at a time side by side
    (:meth:`group_loss`); with ``joint`` the same per-subject parameters are fitted as one
    problem whose loss is the sum of the subjects' losses (one line search for all: faster on
    a CPU, but the slowest subject sets the pace); otherwise one model shared by all
    subjects (a pooled fit).
    ``score``: ``(S, T)`` the trials in the loss; ``validation``: held-out trials scored by
    :meth:`validation_loss` (continuing the state). ``l1``: penalty on a plasticity rule's
    coefficients (per scored trial, like the loss)."""

    model_static: Any
    data: BanditArrays
    score: Array
    validation: Array | None = None
    l1: float = eqx.field(static=True, default=0.0)
    start: Any = None
    per_subject: bool = eqx.field(static=True, default=True)
    joint: bool = eqx.field(static=True, default=False)

    @property
    def deterministic(self) -> bool:
        return True

    @property
    def n_groups(self) -> int:
        return int(self.data.choices.shape[0]) if self.per_subject and not self.joint else 0

    def model(self, params) -> AbstractChoiceModel:
        return eqx.combine(params, self.model_static)

    def log_probs(self, params) -> Array:
        """``(S, T)`` log-probabilities of every choice (all observed trials)."""
        d = self.data
        axis = 0 if self.per_subject else None
        return jax.vmap(lambda p, *a: session_log_probs(self.model(p), *a), in_axes=(axis, 0, 0, 0, 0))(
            params, d.choices, d.rewards, d.observed, d.resets)

    def _penalty_one(self, p) -> Array:
        if not self.l1:
            return jnp.zeros(())
        return self.l1 * rule_l1(getattr(self.model(p), "rule", ()))

    def log_likelihood(self, params) -> Array:
        return jnp.where(self.score, self.log_probs(params), 0.0)

    def loss(self, params, batch, key):
        lp = self.log_likelihood(params)
        if self.per_subject:
            n = jnp.maximum(jnp.sum(self.score, axis=1), 1)
            nll = -jnp.sum(lp, axis=1) / n
            per = nll + jax.vmap(self._penalty_one)(params) / n
            return (jnp.sum(per) if self.joint else per), {"nll": jnp.mean(nll)}
        n = jnp.maximum(jnp.sum(self.score), 1)
        nll = -jnp.sum(lp) / n
        return nll + self._penalty_one(params) / n, {"nll": nll}

    def group_loss(self, p, g) -> Array:
        """Subject ``g``'s loss under its own parameters ``p`` alone (what per-subject L-BFGS
        line-searches on)."""
        d = self.data
        take = lambda a: jax.lax.dynamic_index_in_dim(a, g, keepdims=False)  # noqa: E731
        lp = session_log_probs(self.model(p), take(d.choices), take(d.rewards), take(d.observed), take(d.resets))
        score = take(self.score)
        n = jnp.maximum(jnp.sum(score), 1)
        return (-jnp.sum(jnp.where(score, lp, 0.0)) + self._penalty_one(p)) / n

    def validation_loss(self, params):
        if self.validation is None:
            return None
        lp = jnp.where(self.validation, self.log_probs(params), 0.0)
        if self.per_subject:
            per = -jnp.sum(lp, axis=1) / jnp.maximum(jnp.sum(self.validation, axis=1), 1)
            return jnp.sum(per) if self.joint else per
        return -jnp.sum(lp) / jnp.maximum(jnp.sum(self.validation), 1)

    def subject_nll(self, params, mask: Array | None = None) -> Array:
        """``(S,)`` summed negative log-likelihood over ``mask`` (default: the scored trials)."""
        m = self.score if mask is None else mask
        return -jnp.sum(jnp.where(m, self.log_probs(params), 0.0), axis=1)

    def subject(self, i: int) -> "BanditProblem":
        """Subject ``i`` alone, one (not grouped) parameter set: what per-subject posteriors use."""
        if not 0 <= i < self.data.choices.shape[0]:
            raise ConfigError(f"subject index {i} out of range for {self.data.choices.shape[0]} subjects")
        take = lambda a: None if a is None else a[i:i + 1]  # noqa: E731
        start = self.start
        if self.per_subject and start is not None:
            start = jax.tree_util.tree_map(lambda a: a[i], start)
        data = BanditArrays(*(take(getattr(self.data, f)) for f in ("choices", "rewards", "observed", "resets")))
        return BanditProblem(self.model_static, data, take(self.score), take(self.validation), self.l1, start, False)


_subject_nll = eqx.filter_jit(lambda problem, params, mask: problem.subject_nll(params, mask))


def stack_models(models: Sequence[AbstractChoiceModel]) -> tuple[PyTree, Any]:
    """Models of one kind → ``(arrays with a leading subject axis, static)`` (as :func:`stack_rules`)."""
    return eqx.partition(stack_rules(list(models)), eqx.is_inexact_array)


def unstack_models(params: PyTree, static: Any, n: int) -> list[AbstractChoiceModel]:
    """Inverse of :func:`stack_models` (as :func:`unstack_rules`)."""
    return unstack_rules(eqx.combine(params, static), n)


@dataclasses.dataclass
class BanditFit:
    """Per-subject fits of one model.

    - ``models``: the fitted model of every subject (``describe()`` reads its parameters);
    - ``nll`` ``(S,)``: negative log-likelihood of the training trials, ``n_trials`` their count;
    - ``n_params``: free parameters per subject; ``aic`` / ``bic`` ``(S,)``;
    - ``heldout``: on the validation trials, per subject: ``nll`` (state continued from the
      trials before), ``nll_fresh`` (state restarted at the first held-out trial of each
      block of held-out trials), ``n_trials``, ``ll_per_trial`` — when a validation mask was given;
    - ``starts_won`` ``(S,)``: which start (0 = the given model) each subject's best came from.
    """

    name: str
    models: list[AbstractChoiceModel]
    params: PyTree
    static: Any
    nll: np.ndarray
    n_trials: np.ndarray
    n_params: int
    heldout: dict[str, np.ndarray] | None
    starts_won: np.ndarray
    sessions: str
    seconds: float = 0.0

    @property
    def aic(self) -> np.ndarray:
        return 2 * self.nll + 2 * self.n_params

    @property
    def bic(self) -> np.ndarray:
        return 2 * self.nll + self.n_params * np.log(np.maximum(self.n_trials, 1))

    def parameters(self):
        """A table (pandas) of every subject's readable parameters."""
        import pandas as pd

        return pd.DataFrame([m.describe() for m in self.models])


def _mask(data: ChoiceDataset, mask, what: str) -> np.ndarray:
    if mask is None:
        return np.asarray(data.observed)
    m = np.asarray(mask, bool)
    if m.shape != data.mask.shape:
        raise DatasetError(f"{what} mask has shape {m.shape}, expected {data.mask.shape} (subjects, trials)")
    return m & np.asarray(data.observed)


def _fresh_points(heldout: np.ndarray) -> np.ndarray:
    """The first trial of every run of held-out trials (where the fresh-start variant resets)."""
    prev = np.concatenate([np.zeros((heldout.shape[0], 1), bool), heldout[:, :-1]], axis=1)
    return heldout & ~prev


def fit_bandit(model: AbstractChoiceModel, data: ChoiceDataset, *, sessions: str = "reset", train=None,
               validation=None, n_starts: int = 4, steps: int = 200, l1: float = 0.0, key: Array | None = None,
               warm: Sequence[AbstractChoiceModel] | None = None, solver: str = "joint",
               progress: bool = False) -> BanditFit:
    """Fit ``model`` to every subject of ``data`` (a ``"bandit"`` or two-alternative
    :class:`~plastinfer.data.ChoiceDataset`) by maximum likelihood.

    ``train`` / ``validation``: ``(S, T)`` masks of the trials that score (default: every trial
    with a choice / none); the state runs over all trials with a choice either way.
    ``n_starts``: the given model plus ``n_starts − 1`` perturbed starts
    (:meth:`~plastinfer.infer.AbstractChoiceModel.perturb`, a different one per subject), each fitted by the engine's L-BFGS for ``steps`` iterations
    (all subjects in one program); each subject keeps its best start on the training trials,
    never worse than the given model. ``warm``: one more start, one model per subject (e.g. a
    nested model's fit written in this model's parameters). ``solver``: ``"joint"`` (one L-BFGS
    over every subject's parameters, summed losses; default, fastest on a CPU) or
    ``"per_subject"`` (one L-BFGS per subject, vmapped: each converges at its own pace, ≈ 4×
    slower here). Either way each subject keeps its best start.
    """
    if solver not in ("joint", "per_subject"):
        raise ConfigError(f"fit_bandit: solver must be 'joint' or 'per_subject', got {solver!r}")
    import time

    if data.readout not in ("bandit", "two_alternative"):
        raise DatasetError(f"fit_bandit needs bandit or two-alternative choices, got readout {data.readout!r}")
    if data.n_arms != model.n_arms:
        raise DatasetError(f"the data have {data.n_arms} arms, the model {model.n_arms}")
    if isinstance(n_starts, bool) or not isinstance(n_starts, int) or n_starts < 1:
        raise ConfigError(f"fit_bandit: n_starts must be an integer ≥ 1, got {n_starts!r}")
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(0) if key is None else key
    tr = _mask(data, train, "train")
    if not tr.any(axis=1).all():
        bad = data.subjects[int(np.flatnonzero(~tr.any(axis=1))[0])]
        raise DatasetError(f"subject {bad!r} has no training trials with a choice")
    va = None if validation is None else _mask(data, validation, "validation")
    arrays = BanditArrays.from_dataset(data, sessions)
    params0, static = stack_models([model] * data.n_subjects)
    problem = BanditProblem(static, arrays, jnp.asarray(tr), None if va is None else jnp.asarray(va), float(l1),
                            start=params0, joint=solver == "joint")
    train_mask = jnp.asarray(tr)

    def score(p):
        return np.asarray(_subject_nll(problem, p, train_mask)) + np.asarray(jax.vmap(problem._penalty_one)(p))

    best, best_score = params0, score(params0)
    won = np.zeros(data.n_subjects, int)
    if warm is not None and len(warm) != data.n_subjects:
        raise ConfigError(f"fit_bandit: {len(warm)} warm starts for {data.n_subjects} subjects")
    keys = jax.random.split(key, n_starts + 1)
    for k in range(n_starts + (warm is not None)):
        if k == n_starts:
            start = stack_models(list(warm))[0]
        else:
            start = params0 if k == 0 else stack_models(
                [model.perturb(kk) for kk in jax.random.split(keys[k], data.n_subjects)])[0]
        res = engine_fit(problem, LBFGS(), start, steps=steps, key=keys[k], chunk=min(10, steps), select="train",
                         patience=2, min_improvement=1e-5,
                         progress=f"{model.name} start {k + 1}/{n_starts}" if progress else False)
        s = score(res.params)
        better = np.isfinite(s) & (s < best_score)
        best = _where(jnp.asarray(better), res.params, best)
        best_score = np.where(better, s, best_score)
        won = np.where(better, k, won)
    nll = np.asarray(_subject_nll(problem, best, train_mask))
    heldout = None
    if va is not None:
        vmask = jnp.asarray(va)
        cont = np.asarray(_subject_nll(problem, best, vmask))
        fresh_problem = BanditProblem(static, BanditArrays.from_dataset(data, sessions, _fresh_points(va)), vmask)
        fresh = np.asarray(_subject_nll(fresh_problem, best, vmask))
        n_va = va.sum(axis=1)
        heldout = {"nll": cont, "nll_fresh": fresh, "n_trials": n_va,
                   "ll_per_trial": -cont / np.maximum(n_va, 1)}
    models = unstack_models(best, static, data.n_subjects)
    return BanditFit(model.name, models, best, static, nll, tr.sum(axis=1), models[0].n_free(), heldout, won,
                     sessions, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- splits
def split_within(data: ChoiceDataset, fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` masks: each subject's first ``fraction`` of trials with a choice, the rest."""
    if not 0 < fraction < 1:
        raise ConfigError(f"split fraction must lie in (0, 1), got {fraction}")
    obs = np.asarray(data.observed)
    rank = np.cumsum(obs, axis=1)
    cut = np.floor(fraction * obs.sum(axis=1, keepdims=True))
    train = obs & (rank <= cut)
    return train, obs & ~train


def session_folds(data: ChoiceDataset, k: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-sessions-out cross-validation: ``k`` folds of ``(train, test)`` masks; fold ``j``
    holds out every subject's sessions ``j, j + k, …`` (subjects with fewer sessions than ``k``
    lose no session in some folds — those subjects then have an empty test set there)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ConfigError(f"session folds: k must be an integer ≥ 2, got {k!r}")
    if int(data.n_sessions.max()) < 2:
        raise DatasetError("leave-sessions-out needs subjects with at least 2 sessions")
    obs = np.asarray(data.observed)
    out = []
    for j in range(k):
        test = obs & (np.asarray(data.sessions) % k == j)
        if not test.any():
            continue
        out.append((obs & ~test, test))
    return out


# ----------------------------------------------------------------------------- simulation
@dataclasses.dataclass(frozen=True)
class BlockSchedule:
    """Per-arm reward probabilities that change in blocks.

    - ``probs``: the block types, each ``(n_arms,)`` reward probabilities; blocks cycle through
      them in random order (never the same type twice in a row when there are several);
    - ``length``: ``(lo, hi)`` block lengths uniform in ``lo … hi`` trials, or with
      ``geometric=True`` ``lo`` + a geometric number of trials with mean ``hi − lo``;
    - ``baited``: an arm's reward, once assigned, waits until collected.
    """

    probs: tuple[tuple[float, ...], ...] = ((0.8, 0.2), (0.2, 0.8))
    length: tuple[int, int] = (40, 80)
    geometric: bool = False
    baited: bool = False

    def __post_init__(self):
        p = np.asarray(self.probs, float)
        if p.ndim != 2 or p.shape[1] < 2 or np.any((p < 0) | (p > 1)):
            raise ConfigError(f"BlockSchedule: probs must be a list of per-arm probabilities in [0, 1], got {self.probs}")
        lo, hi = self.length
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise ConfigError(f"BlockSchedule: length must be (lo, hi) with 1 ≤ lo ≤ hi, got {self.length}")

    @property
    def n_arms(self) -> int:
        return len(self.probs[0])

    def draw(self, rng: np.random.Generator, n_trials: int) -> np.ndarray:
        """``(n_trials, n_arms)`` reward probabilities."""
        p = np.asarray(self.probs, float)
        out, kind = [], int(rng.integers(len(p)))
        while sum(len(b) for b in out) < n_trials:
            lo, hi = self.length
            n = lo + int(rng.geometric(1 / (hi - lo + 1))) - 1 if self.geometric else int(rng.integers(lo, hi + 1))
            out.append(np.repeat(p[kind][None], n, axis=0))
            if len(p) > 1:
                kind = int(rng.choice([i for i in range(len(p)) if i != kind]))
        return np.concatenate(out)[:n_trials]


def simulate_bandit(key: Array, model: AbstractChoiceModel | Sequence[AbstractChoiceModel], *, n_subjects: int,
                    n_trials: int, schedule: BlockSchedule = BlockSchedule(), n_sessions: int = 1,
                    sessions: str = "reset", p_ignore: float = 0.0, seed: int | None = None) -> ChoiceDataset:
    """Closed-loop choices of ``model`` (one for all subjects, or one per subject) on a
    bandit task with block reward probabilities: ``n_trials`` per subject split evenly into
    ``n_sessions`` sessions (state reset or carried across them), each trial ignored with
    probability ``p_ignore`` (no choice, no update). Returns a ``"bandit"``
    :class:`~plastinfer.data.ChoiceDataset` with ``reward_probs``."""
    models = list(model) if isinstance(model, (list, tuple)) else [model] * n_subjects
    if len(models) != n_subjects:
        raise ConfigError(f"simulate_bandit: {len(models)} models for {n_subjects} subjects")
    if schedule.n_arms != models[0].n_arms:
        raise ConfigError(f"simulate_bandit: the schedule has {schedule.n_arms} arms, the model {models[0].n_arms}")
    if not 0 <= p_ignore < 1:
        raise ConfigError(f"simulate_bandit: p_ignore must lie in [0, 1), got {p_ignore}")
    if n_trials < n_sessions:
        raise ConfigError(f"simulate_bandit: {n_trials} trials cannot fill {n_sessions} sessions")
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1)) if seed is None else seed)
    n_arms = models[0].n_arms
    probs = np.stack([schedule.draw(rng, n_trials) for _ in range(n_subjects)]).astype(np.float32)
    session = np.minimum((np.arange(n_trials) * n_sessions) // n_trials, n_sessions - 1)
    starts = np.concatenate([[True], session[1:] != session[:-1]])
    resets = np.broadcast_to(starts if sessions == "reset" else np.arange(n_trials) == 0, (n_subjects, n_trials))
    ignored = rng.random((n_subjects, n_trials)) < p_ignore
    ignored[:, 0] = False
    u = rng.random((n_subjects, n_trials, 1 + n_arms)).astype(np.float32)
    params, static = stack_models(models)
    choices, rewards = _closed_loop(params, static, jnp.asarray(probs), jnp.asarray(~ignored), jnp.asarray(resets),
                                    jnp.asarray(u), schedule.baited)
    choices = np.where(ignored, -1, np.asarray(choices))
    rewards = np.where(ignored, 0.0, np.asarray(rewards))
    names = [f"sim{i:02d}" for i in range(n_subjects)]
    return ChoiceDataset(tuple(names), np.full(choices.shape, -1), choices, rewards, np.ones(choices.shape, bool),
                         "bandit", 2, {"format": "simulated", "model": models[0].name, "baited": schedule.baited},
                         sessions=np.broadcast_to(session, choices.shape), ignored=ignored, n_arms=n_arms,
                         reward_probs=probs)


@eqx.filter_jit
def _closed_loop(params, static, probs, valid, resets, u, baited: bool):
    def one(p, pr, ok, rs, uu):
        model = eqx.combine(p, static)
        init = model.init_state()
        n_arms = pr.shape[-1]

        def body(carry, t):
            state, waiting = carry
            prob, v, reset, ut = t
            state = _where(reset, init, state)
            # inverse-CDF draw of the choice from the uniform ut[0]
            c = jnp.clip(jnp.sum(jnp.cumsum(jax.nn.softmax(model.logits(state))) < ut[0]), 0, n_arms - 1)
            assigned = ut[1:] < prob
            avail = waiting | assigned if baited else assigned
            r = avail[c].astype(jnp.float32)
            if baited:  # an uncollected reward waits; an ignored trial collects nothing
                waiting = jnp.where(v, avail.at[c].set(False), avail)
            state = _where(v, model.update(state, c, r), state)
            return (state, waiting), (c, r)

        return jax.lax.scan(body, (init, jnp.zeros((n_arms,), bool)), (pr, ok, rs, uu))[1]

    return jax.vmap(one)(params, probs, valid, resets, u)
