r"""Compare choice models on the same subjects: plasticity rules against the reinforcement-learning
baselines, fitted by the same engine and scored the same way.

For every model and subject: the in-sample fit on all trials (log-likelihood, AIC, BIC) and
held-out scores from a split (``"within:0.8"``: each subject's last 20 % of trials;
``"sessions:5"``: leave-sessions-out, 5 folds, every held-out trial scored once). Held-out
trials are scored with the state **continued** from the trials before them (and the
fresh-start variant, labelled ``fresh``); held-out deviance explained is relative to the
constant-bias null, :math:`100\,(1 − \mathrm{NLL}_{model} / \mathrm{NLL}_{null})`. Across subjects:
each model against the best by a paired Wilcoxon test on held-out log-likelihood per trial,
and a ranking.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ..data import ChoiceDataset
from ..errors import ConfigError
from .bandit import BanditFit, fit_bandit, session_folds, split_within
from .baselines import AbstractChoiceModel, ConstantBias, PlasticityModel, QLearning, baseline_models, plasticity_model

#: a comparison's default models: every baseline and the order-2 plasticity rule (8 terms + side bias)
DEFAULT_MODELS = ("q_learning", "q_learning_bias", "q_learning_bias_forget", "q_learning_bias_forget_kernel", "wsls",
                  "logistic_5", "constant_bias", "plasticity")


def model_registry(n_arms: int = 2) -> dict[str, AbstractChoiceModel]:
    """Every named model: the baselines (:func:`~plastinfer.infer.baseline_models`), ``plasticity``
    (order-2 Taylor rule in y, w, r with a side bias) and ``plasticity_kernel`` (plus a choice kernel)."""
    out = dict(baseline_models(n_arms))
    out["plasticity"] = plasticity_model(n_arms, label="plasticity")
    out["plasticity_kernel"] = plasticity_model(n_arms, choice_kernel=True, label="plasticity_kernel")
    return out


def parse_split(split: str) -> tuple[str, float | int]:
    """``"within:0.8"`` or ``"sessions:5"`` → ``(kind, value)``."""
    kind, _, value = str(split).partition(":")
    try:
        if kind == "within":
            v = float(value or 0.8)
            if not 0 < v < 1:
                raise ValueError
            return kind, v
        if kind == "sessions":
            v = int(value or 5)
            if v < 2:
                raise ValueError
            return kind, v
    except ValueError:
        pass
    raise ConfigError(f"split must be 'within:F' (0 < F < 1) or 'sessions:K' (K ≥ 2), got {split!r}")


def _p(test: dict) -> float:
    p = test.get("p_value")
    return float("nan") if p is None else float(p)


def is_plasticity(model: AbstractChoiceModel) -> bool:
    return isinstance(model, PlasticityModel)


@dataclasses.dataclass
class ModelComparison:
    """What :func:`compare_models` found.

    - ``table``: one row per subject and model (pandas): ``n_params``, ``n_trials``, ``nll``,
      ``aic``, ``bic`` (in-sample, all trials); ``heldout_nll``, ``heldout_nll_fresh``,
      ``heldout_trials``, ``heldout_ll_per_trial``, ``heldout_deviance_explained`` (%);
    - ``summary``: one row per model, ranked by total held-out log-likelihood: totals, medians,
      subjects for which it is best, subjects it predicts worse than the null, Wilcoxon p
      against the best model;
    - ``verdict``: the best plasticity model against the best baseline on held-out choices
      (``"beats"``, ``"ties"`` or ``"loses"``, with the test behind it);
    - ``fits``: every model's in-sample :class:`~plastinfer.infer.BanditFit`.
    """

    table: Any
    summary: Any
    verdict: dict | None
    fits: dict[str, BanditFit]
    settings: dict
    seconds: float

    def save(self, folder: str | Path) -> list[Path]:
        """``table.csv``, ``summary.csv``, ``parameters_<model>.csv``, ``comparison.json`` and the
        figures into ``folder`` (which must exist); returns the figure paths."""
        from .._io import atomic_write

        folder = Path(folder)
        atomic_write(folder / "table.csv", lambda fh: fh.write(self.table.to_csv(index=False).encode()))
        atomic_write(folder / "summary.csv", lambda fh: fh.write(self.summary.to_csv().encode()))
        for name, f in self.fits.items():
            params = f.parameters()
            params.insert(0, "subject", self.settings["subjects"])
            atomic_write(folder / f"parameters_{name}.csv", lambda fh, p=params: fh.write(p.to_csv(index=False).encode()))
        doc = {"settings": self.settings, "verdict": self.verdict, "seconds": self.seconds,
               "summary": json.loads(self.summary.to_json(orient="index"))}
        atomic_write(folder / "comparison.json", lambda fh: fh.write(json.dumps(doc, indent=1, default=float).encode()))
        return comparison_figures(self, folder)

    def markdown(self) -> str:
        cols = ["n_params", "heldout_ll_per_trial", "median_heldout_deviance_explained", "bic_total", "n_best",
                "n_worse_than_null", "wilcoxon_p_vs_best"]
        s = self.summary[cols]
        lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, row in s.iterrows():
            cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.to_list()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _warm(model, fits: dict[str, BanditFit], models: dict, policies: dict, policy: str):
    """A plasticity model's warm start from the best-fitting Q-learning model it contains
    (fitted under the same session policy): ``(source name, per-subject models)``."""
    if not is_plasticity(model):
        return None, None
    best = None
    for name, f in fits.items():
        if isinstance(models[name], QLearning) and policies[name] == policy:
            mapped = [model.from_q_learning(q) for q in f.models]
            if all(m is not None for m in mapped) and (best is None or f.nll.sum() < best[2]):
                best = (name, mapped, f.nll.sum())
    return (best[0], best[1]) if best else (None, None)


def _heldout(model, data, split, sessions, n_starts, steps, key, warm=None, l1=0.0) -> dict[str, np.ndarray]:
    kind, value = split
    folds = [split_within(data, value)] if kind == "within" else session_folds(data, value)
    n = data.n_subjects
    out = {"nll": np.zeros(n), "nll_fresh": np.zeros(n), "n_trials": np.zeros(n, int)}
    for j, (train, test) in enumerate(folds):
        ok = train.any(axis=1)
        if not ok.all():  # a subject with nothing to train on in this fold keeps its test trials unscored
            test = test & ok[:, None]
            train = np.where(ok[:, None], train, data.observed)
        w = None if warm is None else warm(train)
        f = fit_bandit(model, data, sessions=sessions, train=train, validation=test, n_starts=n_starts, steps=steps,
                       key=jax.random.fold_in(key, j), warm=w, l1=l1)
        for k in out:
            out[k] = out[k] + f.heldout[k]
    return out


def compare_models(models: dict[str, AbstractChoiceModel] | list[str] | None, data: ChoiceDataset, *,
                   split: str = "within:0.8", sessions: str = "reset", n_starts: int = 3, steps: int = 150,
                   alpha: float = 0.05, l1: float = 0.0, key: jax.Array | None = None,
                   progress: bool = True) -> ModelComparison:
    """Fit every model to every subject of ``data`` and compare them (see the module docstring).

    ``models``: a dict name → model, a list of names from :func:`model_registry`, or ``None``
    (:data:`DEFAULT_MODELS`). ``sessions``: the model state at a session start — ``"reset"``,
    ``"carry"``, or ``"both"`` (every model fitted and compared both ways; the carried ones
    are named ``MODEL@carry``). The constant-bias null is always added (deviance explained
    needs it). ``n_starts`` / ``steps``: per model, as in :func:`~plastinfer.infer.fit_bandit`.
    ``alpha``: the level at which the verdict calls a difference. ``l1``: an L1 penalty (a
    Laplace prior of scale 1/l1) on the plasticity models' rule coefficients — it keeps a
    flexible rule from running away on held-out sessions (docs/choices.md); their NLL, AIC
    and BIC are then those of the penalised fit."""
    if not (np.isfinite(l1) and l1 >= 0):
        raise ConfigError(f"l1 must be a finite number ≥ 0, got {l1!r}")
    import pandas as pd

    from ..analysis import paired_comparison

    t0 = time.perf_counter()
    kind_value = parse_split(split)
    registry = model_registry(data.n_arms)
    if models is None:
        models = list(DEFAULT_MODELS)
    if isinstance(models, (list, tuple)):
        unknown = [m for m in models if m not in registry]
        if unknown:
            raise ConfigError(f"unknown model(s) {unknown}; known: {sorted(registry)}")
        models = {m: registry[m] for m in models}
    models = dict(models)
    if not any(isinstance(m, ConstantBias) for m in models.values()):
        models["constant_bias"] = registry["constant_bias"]
    if sessions not in ("reset", "carry", "both"):
        raise ConfigError(f"sessions must be 'reset', 'carry' or 'both', got {sessions!r}")
    if sessions == "both":  # every model twice: state reset at session starts, and carried across them
        models = {**{n: m for n, m in models.items()}, **{f"{n}@carry": m for n, m in models.items()}}
        policies = {n: ("carry" if n.endswith("@carry") else "reset") for n in models}
    else:
        policies = {n: sessions for n in models}
    key = jax.random.PRNGKey(0) if key is None else key
    rows, fits, warmed = [], {}, {}
    # Q-learning first: a plasticity family that contains a Q-learning model starts also from its fit
    order = sorted(models, key=lambda n: is_plasticity(models[n]))
    for i, name in enumerate(order):
        model = models[name]
        t = time.perf_counter()
        k = jax.random.fold_in(key, list(models).index(name))
        policy = policies[name]
        source, warm = _warm(model, fits, models, policies, policy)
        pen = float(l1) if is_plasticity(model) else 0.0
        fit = fit_bandit(model, data, sessions=policy, n_starts=n_starts, steps=steps, key=k, warm=warm, l1=pen)
        if source is not None:
            warmed[name] = source

            def warm_for(train, src=source, m=model, pol=policy):
                q = fit_bandit(models[src], data, sessions=pol, train=train, n_starts=1, steps=steps, key=k)
                return [m.from_q_learning(x) for x in q.models]
        else:
            warm_for = None
        held = _heldout(model, data, kind_value, policy, n_starts, steps, k, warm_for, pen)
        fits[name] = fit
        for s, subj in enumerate(data.subjects):
            rows.append({"subject": subj, "model": name, "sessions": policy, "plasticity": is_plasticity(model),
                         "n_params": fit.n_params,
                         "n_trials": int(fit.n_trials[s]), "nll": float(fit.nll[s]), "aic": float(fit.aic[s]),
                         "bic": float(fit.bic[s]), "heldout_nll": float(held["nll"][s]),
                         "heldout_nll_fresh": float(held["nll_fresh"][s]), "heldout_trials": int(held["n_trials"][s])})
        if progress:
            print(f"[compare] {name}: {time.perf_counter() - t:.1f} s, in-sample NLL {fit.nll.sum():.1f}, "
                  f"held-out NLL {held['nll'].sum():.1f} over {int(held['n_trials'].sum())} trials", flush=True)
    table = pd.DataFrame(rows)
    table["heldout_ll_per_trial"] = -table.heldout_nll / table.heldout_trials.clip(lower=1)
    null_name = next(n for n, m in models.items() if isinstance(m, ConstantBias) and policies[n] != "carry") \
        if sessions == "both" else next(n for n, m in models.items() if isinstance(m, ConstantBias))
    null = table[table.model == null_name].set_index("subject").heldout_nll
    table["heldout_deviance_explained"] = 100 * (1 - table.heldout_nll / table.subject.map(null))

    wide = table.pivot(index="subject", columns="model", values="heldout_ll_per_trial")
    scored = table.groupby("model").agg(heldout_nll=("heldout_nll", "sum"), heldout_trials=("heldout_trials", "sum"),
                                        bic_total=("bic", "sum"), aic_total=("aic", "sum"), n_params=("n_params", "first"),
                                        median_heldout_deviance_explained=("heldout_deviance_explained", "median"),
                                        plasticity=("plasticity", "first"))
    scored["heldout_ll_per_trial"] = -scored.heldout_nll / scored.heldout_trials.clip(lower=1)
    scored = scored.sort_values("heldout_ll_per_trial", ascending=False)
    scored["rank"] = np.arange(1, len(scored) + 1)
    best = scored.index[0]
    scored["n_best"] = [int((wide.idxmax(axis=1) == m).sum()) for m in scored.index]
    # subjects whose held-out choices a model predicts worse than the constant-bias null (an
    # overfitted rule whose values run away on the held-out trials shows up here)
    scored["n_worse_than_null"] = [int((table[table.model == m].set_index("subject").heldout_nll
                                        > null + 1e-9).sum()) for m in scored.index]
    pvals = []
    for m in scored.index:
        if m == best or data.n_subjects < 2:
            pvals.append(np.nan)
        else:
            pvals.append(_p(paired_comparison(wide[m].to_numpy(), wide[best].to_numpy(), names=(m, best))))
    scored["wilcoxon_p_vs_best"] = pvals

    verdict = None
    plast = [m for m in scored.index if scored.loc[m, "plasticity"]]
    base = [m for m in scored.index if not scored.loc[m, "plasticity"] and m != null_name]
    if plast and base:
        bp, bb = plast[0], base[0]
        test = paired_comparison(wide[bb].to_numpy(), wide[bp].to_numpy(), names=(bb, bp)) if data.n_subjects >= 2 \
            else {"median_difference": float(wide[bp].iloc[0] - wide[bb].iloc[0])}
        p = _p(test)
        diff = float(scored.loc[bp, "heldout_ll_per_trial"] - scored.loc[bb, "heldout_ll_per_trial"])
        word = "ties" if not (np.isfinite(p) and p < alpha) else ("beats" if test["median_difference"] > 0 else "loses")
        verdict = {"best_plasticity": bp, "best_baseline": bb, "outcome": word, "wilcoxon_p": p,
                   "median_subject_difference_ll_per_trial": test["median_difference"],
                   "total_difference_ll_per_trial": diff,
                   "subjects_plasticity_better": int((wide[bp] > wide[bb]).sum()), "subjects": data.n_subjects,
                   "statement": (f"on held-out choices the best plasticity model ({bp}) {word} the best baseline "
                                 f"({bb}): {int((wide[bp] > wide[bb]).sum())} of {data.n_subjects} subjects better, "
                                 f"median difference {test['median_difference']:+.4f} log-likelihood per trial, "
                                 f"Wilcoxon p = {p:.3g}")}
    settings = {"split": split, "sessions": sessions, "n_starts": n_starts, "steps": steps, "alpha": alpha, "l1": l1,
                "warm_started_from": warmed,
                "models": list(models), "subjects": list(data.subjects), "n_arms": data.n_arms,
                "trials": int(data.observed.sum())}
    return ModelComparison(table, scored, verdict, fits, settings, time.perf_counter() - t0)


def comparison_figures(comp: ModelComparison, folder: Path) -> list[Path]:
    """``heldout.png`` (every subject's held-out log-likelihood per trial, relative to the best
    model, per model) and ``kernels.png`` (the logistic history kernels, when fitted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    t = comp.table
    order = list(comp.summary.index)
    wide = t.pivot(index="subject", columns="model", values="heldout_ll_per_trial")[order]
    rel = wide.sub(wide[order[0]], axis=0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(order), 3.2))
    for j, m in enumerate(order):
        x = j + np.linspace(-0.2, 0.2, len(rel))
        ax.scatter(x, rel[m], s=10, color="C3" if comp.summary.loc[m, "plasticity"] else "C0", alpha=0.8)
        ax.plot([j - 0.3, j + 0.3], [rel[m].median()] * 2, color="k", lw=1.5)
    ax.axhline(0, color="k", lw=0.5, ls=":")
    ax.set_xticks(range(len(order)), order, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel(f"held-out log-lik / trial\n(relative to {order[0]})")
    ax.set_title(f"{len(wide)} subjects; red: plasticity models", fontsize=9)
    fig.tight_layout()
    paths.append(folder / "heldout.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    logistic = [n for n in comp.fits if n.startswith("logistic")]
    if logistic:
        f = comp.fits[logistic[0]]
        br = np.stack([np.asarray(m.beta_reward) for m in f.models])
        bc = np.stack([np.asarray(m.beta_choice) for m in f.models])
        lags = np.arange(1, br.shape[1] + 1)
        fig, ax = plt.subplots(figsize=(4, 3))
        for arr, label, c in ((br, "reward", "C2"), (bc, "choice", "C1")):
            ax.plot(lags, arr.T, color=c, alpha=0.2, lw=0.8)
            ax.plot(lags, np.median(arr, 0), color=c, lw=2, label=f"{label} (median)")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("trials back")
        ax.set_ylabel("weight on choosing that arm")
        ax.legend(fontsize=8)
        ax.set_title("logistic history kernels (Lau & Glimcher)", fontsize=9)
        fig.tight_layout()
        paths.append(folder / "kernels.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
