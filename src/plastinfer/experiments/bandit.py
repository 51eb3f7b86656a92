"""Choice models on bandit data (issue 20): can the data tell a plasticity rule from
Q-learning, and which explains real choices better?

- ``bandit-recovery``: model recovery. Simulate subjects from Q-learning (side bias,
  forgetting; per-subject α ~ U(0.2, 0.6), β ~ U(2, 6), φ ~ U(0.05, 0.3), bias ~ N(0, 0.3²))
  and from two planted Taylor plasticity rules Q-learning cannot express — A: a reward term
  common to every arm and reward-gated decay, Δw = 1.0·y·r − 0.3·y·w − 0.5·r − 0.2·w·r; B: a
  reward-independent Hebbian term and decay, Δw = 1.0·y·r − 0.4·y·w + 0.3·y − 0.1·w; C:
  counterfactual updating, the unchosen arm moves toward 1 − r (coefficients jittered ±20 %
  per subject) — fit both families to every subject (Q-learning with bias and forgetting, and
  the order-2 plasticity model: 8 terms + side bias) and count which wins per subject — by
  BIC and by held-out log-likelihood (last 20 % of trials, continuation). Full: 15 subjects ×
  2,000 trials (4 sessions, 5 % ignored trials, blocks of 40–80 trials); quick: 15 × 1,000.
  Target (issue 20): diagonal of the confusion matrix ≥ 0.8. Reported with it: how much worse
  Q-learning's best fit is than the generating rule itself (in-sample NLL per subject), which
  says whether a rule is distinguishable from Q-learning at all.
- ``flies-compare``: the 21 real flies (Rajagopalan et al. 2023; two odors offered per
  trial, so a two-armed bandit whose arms are the odors): every default model of
  ``plastinfer compare`` per fly, last 20 % of each fly's trials held out; the verdict of the
  best plasticity model against the best baseline.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..data import load_fly_folders  # noqa: E402
from ..errors import PlastinferInputError  # noqa: E402
from ..infer import (BanditArrays, BlockSchedule, PlasticityModel, QLearning, Readout, session_log_probs,  # noqa: E402
                     simulate_bandit)
from ..infer.compare import compare_models, model_registry  # noqa: E402
from ..rules import Taylor  # noqa: E402
from . import Experiment  # noqa: E402
from ._common import finish, side_by_side  # noqa: E402

#: planted rule A: a reward term common to every arm and reward-gated decay. Softmax choices
#: depend only on value differences, so the common term −0.5·r is invisible to them by
#: construction; only −0.2·w·r separates A from Q-learning in behaviour
PLANTED = {"y1w0r1": 1.0, "y1w1r0": -0.3, "y0w0r1": -0.5, "y0w1r1": -0.2}
#: planted rule B: a reward-independent Hebbian term (choosing an arm raises its value:
#: perseveration inside the values) and decay of every value — not expressible by Q-learning
PLANTED_B = {"y1w0r1": 1.0, "y1w1r0": -0.4, "y1w0r0": 0.3, "y0w1r0": -0.1}
#: planted rule C: counterfactual (fictive) updating — the chosen arm moves toward r, the
#: unchosen toward 1 − r, both at rate α = 0.4 and scaled by 3 (Δw = α[3y·r − y·w + (1 − y)(3(1 − r) − w)]
#: in monomials: 1.2 − 1.2·r − 0.4·w − 1.2·y + 2.4·y·r)
PLANTED_C = {"y0w0r0": 1.2, "y0w0r1": -1.2, "y0w1r0": -0.4, "y1w0r0": -1.2, "y1w0r1": 2.4}
SCHEDULE = BlockSchedule(probs=((0.8, 0.2), (0.2, 0.8), (0.4, 0.1), (0.1, 0.4)), length=(40, 80))
CANDIDATES = ("q_learning_bias_forget", "plasticity")
DEFAULT_FLIES = Path("../shared/data/rajagopalan-flies")
_SHORT = {"q_learning_bias_forget": "Q-learning\n(bias, forget)", "plasticity": "plasticity\n(order 2)"}


def _q_subjects(rng: np.random.Generator, n: int) -> list[QLearning]:
    out = []
    for _ in range(n):
        m = QLearning.make(2, alpha=float(rng.uniform(0.2, 0.6)), beta=float(rng.uniform(2, 6)), side_bias=True,
                           forgetting=True)
        phi = float(rng.uniform(0.05, 0.3))
        out.append(QLearning(2, m.alpha_raw, m.beta, jnp.asarray(np.log(phi / (1 - phi)), jnp.float32),
                             Readout(jnp.asarray([rng.normal(0, 0.3)], jnp.float32), None, None)))
    return out


def _rule_subjects(rng: np.random.Generator, n: int, planted: dict) -> list[PlasticityModel]:
    out = []
    for _ in range(n):
        terms = {k: v * float(rng.uniform(0.8, 1.2)) for k, v in planted.items()}
        rule = Taylor.zeros(("y", "w", "r"), order=2, active=list(planted)).with_terms(terms)
        out.append(PlasticityModel(2, PlasticityModel.make(rule, 2).circuit, rule,
                                   Readout(jnp.asarray([rng.normal(0, 0.3)], jnp.float32), None, None)))
    return out


def _confusion_figure(conf: dict[str, np.ndarray], gens: list[str], cands: list[str], path: Path, title: str) -> Path:
    fig, axes = plt.subplots(1, len(conf), figsize=(4.6 * len(conf), 3.4), squeeze=False)
    for ax, (label, m) in zip(axes[0], conf.items()):
        ax.imshow(m, vmin=0, vmax=1, cmap="Blues")
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="w" if m[i, j] > 0.5 else "k")
        ax.set_xticks(range(len(cands)), [_SHORT.get(c, c) for c in cands], fontsize=6)
        ax.set_yticks(range(len(gens)), gens, fontsize=7)
        ax.set_xlabel("best fitting model")
        ax.set_ylabel("generating model")
        ax.set_title(f"by {label}", fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_recovery(out: Path, quick: bool = False, progress: bool = True) -> dict:
    out = Path(out)
    t0 = time.perf_counter()
    n_subjects, n_trials = 15, (1000 if quick else 2000)
    rng = np.random.default_rng(0)
    generators = {"q_learning": _q_subjects(rng, n_subjects), "rule A (common r)": _rule_subjects(rng, n_subjects, PLANTED),
                  "rule B (Hebbian y)": _rule_subjects(rng, n_subjects, PLANTED_B),
                  "rule C (counterfactual)": _rule_subjects(rng, n_subjects, PLANTED_C)}
    registry = model_registry(2)
    cands = {c: registry[c] for c in CANDIDATES}
    conf = {"BIC": np.zeros((len(generators), 2)), "held-out log-likelihood": np.zeros((len(generators), 2))}
    per_gen = {}
    for g, (gname, models) in enumerate(generators.items()):
        data = simulate_bandit(jax.random.PRNGKey(10 + g), models, n_subjects=n_subjects, n_trials=n_trials,
                               n_sessions=4, p_ignore=0.05, schedule=SCHEDULE)
        comp = compare_models(dict(cands), data, split="within:0.8", n_starts=3, steps=150,
                              key=jax.random.PRNGKey(g), progress=progress)
        arrays = BanditArrays.from_dataset(data)
        truth_nll = np.array([-float(jnp.sum(session_log_probs(m, arrays.choices[i], arrays.rewards[i], arrays.observed[i],
                                                               arrays.resets[i]))) for i, m in enumerate(models)])
        t = comp.table[comp.table.model.isin(CANDIDATES)]
        bic = t.pivot(index="subject", columns="model", values="bic")[list(CANDIDATES)]
        held = t.pivot(index="subject", columns="model", values="heldout_ll_per_trial")[list(CANDIDATES)]
        win_bic = bic.to_numpy().argmin(axis=1)
        win_held = held.to_numpy().argmax(axis=1)
        conf["BIC"][g] = np.bincount(win_bic, minlength=2) / n_subjects
        conf["held-out log-likelihood"][g] = np.bincount(win_held, minlength=2) / n_subjects
        per_gen[gname] = {"bic_wins": np.bincount(win_bic, minlength=2).tolist(),
                          "heldout_wins": np.bincount(win_held, minlength=2).tolist(),
                          "median_bic_difference_q_minus_plasticity": float(np.median(bic.iloc[:, 0] - bic.iloc[:, 1])),
                          "median_heldout_difference_plasticity_minus_q": float(
                              np.median(held.iloc[:, 1] - held.iloc[:, 0])),
                          "reward_rate": float(data.rewards[data.observed].mean()),
                          # how far Q-learning's best fit is from the generating model, per subject (in-sample
                          # NLL; ≈ 0 or negative: the data cannot tell them apart)
                          "median_q_nll_minus_truth_nll": float(np.median(
                              comp.fits[CANDIDATES[0]].nll - truth_nll)),
                          "median_plasticity_nll_minus_truth_nll": float(np.median(
                              comp.fits[CANDIDATES[1]].nll - truth_nll)),
                          "heldout_catastrophes_plasticity": int(np.sum(held.iloc[:, 1] < -2.0)),
                          "fitted_q_params_median": comp.fits[CANDIDATES[0]].parameters().median().round(3).to_dict()}
    gens = list(generators)
    fig = _confusion_figure(conf, gens, list(CANDIDATES), out / "confusion.png",
                            f"model recovery, {n_subjects} subjects × {n_trials} trials per generating model")
    # correct: Q-learning data → the Q-learning model; either planted rule → the plasticity model
    diag = {k: [float(v[0, 0])] + [float(v[g, 1]) for g in range(1, len(gens))] for k, v in conf.items()}
    results = {"confusion_bic": conf["BIC"].tolist(), "confusion_heldout": conf["held-out log-likelihood"].tolist(),
               "generators_order": gens, "correct_bic": diag["BIC"], "correct_heldout": diag["held-out log-likelihood"],
               "target_diagonal": 0.8,
               "target_met_bic": {g: bool(min(diag["BIC"][0], diag["BIC"][i]) >= 0.8) for i, g in enumerate(gens) if i},
               "generators": per_gen, "candidates": list(CANDIDATES), "subjects": n_subjects, "trials": n_trials,
               "planted_rule_a": PLANTED, "planted_rule_b": PLANTED_B, "planted_rule_c": PLANTED_C}
    h = "held-out log-likelihood"
    print(side_by_side([
        ("Q-learning data → Q-learning wins (BIC / held-out)", f"{diag['BIC'][0]:.2f} / {diag[h][0]:.2f}",
         "≥ 0.8 (issue 20)"),
        ("rule A data → plasticity wins (BIC / held-out)", f"{diag['BIC'][1]:.2f} / {diag[h][1]:.2f}", "≥ 0.8 (issue 20)"),
        ("rule B data → plasticity wins (BIC / held-out)", f"{diag['BIC'][2]:.2f} / {diag[h][2]:.2f}", "≥ 0.8 (issue 20)"),
        ("rule C data → plasticity wins (BIC / held-out)", f"{diag['BIC'][3]:.2f} / {diag[h][3]:.2f}", "≥ 0.8 (issue 20)"),
        ("median NLL of Q fit − truth (A / B / C)", " / ".join(
            f"{per_gen[g]['median_q_nll_minus_truth_nll']:+.1f}" for g in gens[1:]), "> 0: Q cannot mimic the rule"),
    ], f"bandit-recovery ({n_subjects} subjects × {n_trials} trials per generator)"))
    return finish(out, "bandit-recovery", results, {"quick": quick, "schedule": str(SCHEDULE), "starts": 3,
                                                   "steps": 150, "split": "within:0.8"}, t0, [fig])


def run_flies(out: Path, quick: bool = False, progress: bool = True, data: str | Path | None = None) -> dict:
    out = Path(out)
    t0 = time.perf_counter()
    root = Path(data) if data is not None else DEFAULT_FLIES
    if not root.exists():
        raise PlastinferInputError(f"{root}: no such folder (pass --data DIR, a folder of per-fly folders)")
    flies = load_fly_folders(root)
    starts, steps = (2, 100) if quick else (4, 200)
    comp = compare_models(None, flies, split="within:0.8", n_starts=starts, steps=steps, progress=progress)
    figs = comp.save(out)
    v = comp.verdict
    results = {"verdict": v, "ranking": list(comp.summary.index),
               "summary": {m: {k: (float(x) if isinstance(x, (int, float, np.floating, np.integer)) else x)
                               for k, x in row.items()} for m, row in comp.summary.to_dict(orient="index").items()},
               "flies": flies.n_subjects, "trials": int(flies.observed.sum())}
    print(comp.markdown())
    print(side_by_side([
        ("best model on held-out choices", comp.summary.index[0], "—"),
        ("best plasticity vs best baseline", f"{v['outcome']} (p = {v['wilcoxon_p']:.3g}, "
                                             f"{v['subjects_plasticity_better']}/{v['subjects']} flies)",
         "Mehta et al.: plasticity rule with w term fits flies (in-sample); no RL baseline"),
    ], f"flies-compare ({flies.n_subjects} flies, last 20 % of trials held out)"))
    return finish(out, "flies-compare", results, {"quick": quick, "starts": starts, "steps": steps,
                                                 "split": "within:0.8", "data": str(root)}, t0, figs)


RECOVERY = Experiment("bandit-recovery", "issue 20",
                      "model recovery: Q-learning vs three planted plasticity rules on simulated bandit sessions",
                      run_recovery)
FLIES = Experiment("flies-compare", "issue 20",
                   "the 21 real flies: plasticity models vs reinforcement-learning baselines on held-out choices",
                   run_flies, options=("data",))
