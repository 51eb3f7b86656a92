"""Nayebi et al. 2020 on a CPU-scale population: which learning rule trained a network,
from its observables.

The population (``plastinfer.identify``): small MLPs and a small CNN trained with SGDM,
Adam, FA and IA on offline tasks, batch sizes × model seeds × data-order seeds, 21
checkpoints each. ``nayebi-fig2``, ``-fig3`` and ``-fig4`` share it: it is generated once
(resumable) into ``DIR/population``, or into the folder given as ``population=`` (CLI
``--population``), which later runs reuse.

- ``nayebi-fig2``: test accuracy of the SVM, random forest and Conv1D classifiers on all
  measures and per measure (ten category-balanced 75 / 25 % per-layer splits, as in the
  paper); the same with splits grouped by network (the paper's per-layer splits put layers
  of one network on both sides); confusion matrices; random-forest hold-outs of
  architecture, curriculum (batch size × data seed) and task; and three controls the paper
  lacks: the last checkpoint only, task performance only, and the layer-wise activity
  change taken through the rule's backward path (``B``, as the original code did) instead
  of the true Jacobian.
- ``nayebi-fig3``: Gini importances of each statistic (summed over the trajectory; mean and
  s.e.m. over trees and splits) and grouped permutation importances.
- ``nayebi-fig4``: trajectory subsampling — dense / intermediate / sparse periods at equal
  sample counts (a), and training on one consecutive third, testing on another (b).
- ``nayebi-fig5``: FA vs IA on the CNN (supervised and contrastive digits, the paper's
  ImageNet + SimCLR) under measurement noise × unit subsampling, per measure.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import ConfigError  # noqa: E402
from ..analysis import figures as figs  # noqa: E402
from ..identify import (PopulationSpec, feature_matrix, generate_population, load_population,  # noqa: E402
                        score_each, score_holdouts, score_splits)
from ..identify._classify import Features, rf_importances, subsample_trajectory  # noqa: E402
from ..identify._learners import RULES  # noqa: E402
from ..identify._population import Measurement  # noqa: E402
from . import Experiment  # noqa: E402
from ._common import finish, side_by_side  # noqa: E402

#: the population fig2–fig4 share: quick (128 networks) and default (864 networks)
POPULATION_QUICK = PopulationSpec(archs=("mlp1x64", "mlp2x32"), tasks=("digits", "breast_cancer"), batch_sizes=(16, 32))
POPULATION_FULL = PopulationSpec()

FIG2_QUICK = dict(spec=POPULATION_QUICK, n_splits=3, grid="small", workers=2, conv1d_grid="none",
                  classifiers=("svm", "random_forest", "conv1d"))
FIG2_FULL = dict(spec=POPULATION_FULL, n_splits=10, grid="small", workers=2, conv1d_grid="none",
                 classifiers=("svm", "random_forest", "conv1d"))
FIG3_QUICK = dict(spec=POPULATION_QUICK, n_splits=3, grid="small", n_repeats=3, workers=2)
FIG3_FULL = dict(spec=POPULATION_FULL, n_splits=10, grid="small", n_repeats=5, workers=2)
#: B.3.1: 21 checkpoints 5 epochs apart; periods of 5 / 15 / 25 epochs = 1 / 3 / 5 checkpoints
REGIMES = {"dense": (1, (2, 4, 6, 9, 11, 13, 16, 18, 21)), "intermediate": (3, (2, 4, 6)), "sparse": (5, (2, 4))}
FIG4_QUICK = dict(spec=POPULATION_QUICK, n_splits=3, grid="none", workers=2, regimes=REGIMES)
FIG4_FULL = dict(spec=POPULATION_FULL, n_splits=10, grid="none", workers=2, regimes=REGIMES)


def _fig5_spec(unit_fracs, noise_stds, seeds_for, batch_sizes=(16, 32, 64)) -> PopulationSpec:
    grid = tuple(Measurement(s, f, seed) for f in unit_fracs for s in noise_stds for seed in range(seeds_for(f)))
    return PopulationSpec(rules=("fa", "ia"), archs=("cnn2",), tasks=("digits", "digits_contrastive"),
                          batch_sizes=batch_sizes, measurements=grid)


#: B.4's noise levels (absolute σ, as the paper adds them) and unit fractions scaled to our
#: layers (72–1,152 weights, 10–128 units): 1e-4 records one unit of every layer, the
#: paper's smallest fractions of ResNet-18 (3e-5 … 1.4e-3) a few hundred; more seeds at
#: small fractions, as in B.4
FIG5_NOISE = (10.0, 5.0, 1.0, 0.5, 0.0)
FIG5_QUICK = dict(spec=_fig5_spec((1e-4, 0.1, 1.0), (10.0, 1.0, 0.0), lambda f: 1, batch_sizes=(16, 32)),
                  n_splits=3, grid="none", workers=2)
FIG5_FULL = dict(spec=_fig5_spec((1e-4, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0), FIG5_NOISE,
                                 lambda f: 3 if f < 0.1 else 2), n_splits=10, grid="none", workers=2)

#: the paper's Fig. 2a (read off the bars; random forest on all measures ≈ 0.95+, SVM and
#: Conv1D lower), for the side-by-side print
PAPER = {"random forest, all measures": "highest of the three (Fig. 2a)",
         "ordering": "random forest > Conv1D ≳ SVM", "confusions": "Adam ↔ SGDM more than FA ↔ IA"}

MEASURE_SETS = {"all": ("weight", "act", "gradavg"), "weight": ("weight",), "act": ("act",), "gradavg": ("gradavg",)}
SINGLE_MEASURES = ("weight", "act", "gradavg")
MEASURE_LABELS = {"weight": "weights", "act": "activations", "gradavg": "activity change"}


def _population(out: Path, spec: PopulationSpec, *, population=None, workers: int = 2, ray=None,
                progress: bool = True, tag: str = "") -> tuple:
    """Generate (or resume, or reuse) the population; ``(folder, seconds)``."""
    folder = Path(population) if population is not None else out / "population"
    print(f"[{tag}] population: {len(spec.configs())} networks in {len(spec.groups())} groups → {folder}")
    t0 = time.perf_counter()
    generate_population(spec, folder, workers=workers, ray_address=ray, progress=progress)
    return folder, time.perf_counter() - t0


def _performance_features(pop, rows=None) -> Features:
    """Control: the validation loss (and accuracy, 0 where undefined) trajectory only."""
    rows = np.ones(pop.n_rows, bool) if rows is None else rows
    perf = np.nan_to_num(pop.performance[rows], nan=0.0)
    pos = np.stack([pop.factors["position"][rows] == p for p in ("early", "middle", "deep")], 1).astype(np.float32)
    X = np.concatenate([perf.reshape(perf.shape[0], -1), pos], axis=1)
    y = np.array([RULES.index(r) for r in pop.factors["rule"][rows]])
    return Features(X, y, pop.factors["network"][rows], ["val_loss", "val_acc"], perf.shape[1])


def _plot_accuracy(acc: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    sets = list(MEASURE_SETS)
    for i, clf in enumerate(acc):
        m = [acc[clf][k]["mean"] for k in sets]
        e = [acc[clf][k]["sem"] for k in sets]
        ax.bar(np.arange(len(sets)) + (i - 1) * 0.27, m, 0.27, yerr=e, label=clf, capsize=2)
    ax.axhline(0.25, color="k", ls=":", lw=0.8)
    ax.set_xticks(range(len(sets)), sets)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test accuracy")
    ax.set_title("Fig. 2a: four rules from observables (per-layer 75/25 splits; chance 0.25)")
    ax.legend(fontsize=8)
    return figs._save(fig, path)


def _plot_confusions(conf: dict, path: Path) -> Path:
    fig, ax = plt.subplots(1, len(conf), figsize=(4 * len(conf), 3.6), squeeze=False)
    for a, (name, cm) in zip(ax[0], conf.items()):
        cm = np.asarray(cm, float)
        cm = cm / cm.sum(axis=1, keepdims=True)
        a.imshow(cm, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(RULES)):
            for j in range(len(RULES)):
                a.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                       color="white" if cm[i, j] > 0.5 else "black")
        a.set_xticks(range(len(RULES)), RULES)
        a.set_yticks(range(len(RULES)), RULES)
        a.set_xlabel("predicted")
        a.set_ylabel("true")
        a.set_title(name)
    fig.suptitle("Fig. 2c: confusion matrices (all measures, rows normalised)")
    return figs._save(fig, path)


def _plot_holdouts(hold: dict, ref: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 3.6))
    labels, vals, colors = [], [], []
    for i, (factor, accs) in enumerate(hold.items()):
        for level, v in accs.items():
            labels.append(f"{factor}:{level}")
            vals.append(v)
            colors.append(f"C{i}")
    ax.bar(range(len(vals)), vals, color=colors)
    ax.axhline(ref, color="r", lw=1, label="random forest, random splits")
    ax.axhline(0.25, color="k", ls=":", lw=0.8)
    ax.set_xticks(range(len(vals)), labels, rotation=70, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test accuracy on the held-out level")
    ax.set_title("Fig. 2b: hold-outs (random forest, all measures)")
    ax.legend(fontsize=8)
    return figs._save(fig, path)


def _shared_population(out: Path, s: dict, population, workers, ray, progress: bool, tag: str) -> tuple:
    """fig2–fig4: the settings' population, generated or reused, loaded; ``(Population,
    folder, seconds)``."""
    folder, t_pop = _population(out, s["spec"], population=population, workers=workers or s["workers"], ray=ray,
                                progress=progress, tag=tag)
    return load_population(folder), folder, t_pop


def _settings(s: dict, **extra) -> dict:
    out = {k: (v.to_json() if isinstance(v, PopulationSpec) else v) for k, v in s.items()}
    return {**out, **{k: (str(v) if isinstance(v, Path) else v) for k, v in extra.items() if v is not None}}


def run_fig2(out: Path, quick: bool = False, progress: bool = True, population=None, workers=None,
             ray=None) -> dict:
    out = Path(out)
    s = FIG2_QUICK if quick else FIG2_FULL
    t0 = time.perf_counter()
    spec: PopulationSpec = s["spec"]
    pop, folder, t_pop = _shared_population(out, s, population, workers, ray, progress, "nayebi-fig2")
    pop.save(out / "observables.npz", force=True)  # the tidy table: one row per (network, layer)
    finite = pop.finite_features()
    print(f"[nayebi-fig2] {pop.n_rows} examples (network × layer); {int(finite.sum())} of {len(finite)} statistics "
          f"finite everywhere; classifiers ({s['n_splits']} splits)")
    acc: dict = {}
    conf: dict = {}
    for clf in s["classifiers"]:
        acc[clf] = {}
        grid = s["conv1d_grid"] if clf == "conv1d" else s["grid"]
        for name, measures in MEASURE_SETS.items():
            r = score_splits(feature_matrix(pop, measures), clf, n_splits=s["n_splits"], grid=grid, n_jobs=2)
            acc[clf][name] = {"mean": r["mean"], "sem": r["sem"], "per_split": r["accuracy"].tolist()}
            if name == "all":
                conf[clf] = r["confusion"].tolist()
            if progress:
                print(f"  {clf:14s} {name:8s} {r['mean']:.3f} ± {r['sem']:.3f}", flush=True)
    f_all = feature_matrix(pop, MEASURE_SETS["all"])
    grouped = score_splits(f_all, "random_forest", n_splits=s["n_splits"], grouped=True, grid=s["grid"], n_jobs=2)
    n_ck = pop.features.shape[1]
    controls = {
        "last_checkpoint_only": score_splits(feature_matrix(pop, MEASURE_SETS["all"], checkpoints=[n_ck - 1]),
                                             "random_forest", n_splits=s["n_splits"], grid=s["grid"], n_jobs=2)["mean"],
        "task_performance_only": score_splits(_performance_features(pop), "random_forest", n_splits=s["n_splits"],
                                              grid=s["grid"], n_jobs=2)["mean"],
        "gradavg_through_B": score_splits(feature_matrix(pop, ("gradavg_rule",)), "random_forest",
                                          n_splits=s["n_splits"], grid=s["grid"], n_jobs=2)["mean"],
        "gradavg_true_jacobian": acc["random_forest"]["gradavg"]["mean"],
    }
    curriculum = np.array([f"b{b}-d{d}" for b, d in zip(pop.factors["batch_size"], pop.factors["data_seed"])])
    hold = {"arch": score_holdouts(f_all, pop.factors["arch"], grid=s["grid"], n_jobs=2),
            "curriculum": score_holdouts(f_all, curriculum, grid=s["grid"], n_jobs=2),
            "task": score_holdouts(f_all, pop.factors["task"], grid=s["grid"], n_jobs=2)}
    cm_rf = np.asarray(conf["random_forest"], float)
    rates = cm_rf / cm_rf.sum(axis=1, keepdims=True)
    confusion_pairs = {"adam<->sgdm": float(rates[0, 1] + rates[1, 0]) / 2, "fa<->ia": float(rates[2, 3] + rates[3, 2]) / 2}
    results = {
        "test_accuracy": acc,
        "grouped_by_network_random_forest": {"mean": grouped["mean"], "sem": grouped["sem"]},
        "confusion": conf,
        "confusion_rates_random_forest": confusion_pairs,
        "holdouts_random_forest": hold,
        "controls_random_forest": controls,
        "population": {"networks": len(spec.configs()), "examples": pop.n_rows, "seconds": t_pop,
                       "finite_statistics": int(finite.sum())},
        "paper": PAPER,
    }
    best = max(acc, key=lambda c: acc[c]["all"]["mean"])
    rows = [(f"{c}, all measures", f"{acc[c]['all']['mean']:.3f} ± {acc[c]['all']['sem']:.3f}",
             PAPER["random forest, all measures"] if c == "random_forest" else "—") for c in acc]
    rows += [("best classifier", best, PAPER["ordering"]),
             ("random forest, splits grouped by network", f"{grouped['mean']:.3f}", "not reported"),
             ("confusion Adam↔SGDM / FA↔IA (random forest)",
              f"{confusion_pairs['adam<->sgdm']:.3f} / {confusion_pairs['fa<->ia']:.3f}", PAPER["confusions"]),
             ("control: last checkpoint only", f"{controls['last_checkpoint_only']:.3f}", "not reported"),
             ("control: task performance only", f"{controls['task_performance_only']:.3f}", "not reported"),
             ("activity change: true Jacobian / through B", f"{controls['gradavg_true_jacobian']:.3f} / "
              f"{controls['gradavg_through_B']:.3f}", "computed through B")]
    rows += [(f"hold out {k}: min / mean", f"{min(v.values()):.3f} / {np.mean(list(v.values())):.3f}",
              "not much worse than random splits") for k, v in hold.items() if v]
    print(side_by_side(rows, "nayebi-fig2: identifying the learning rule from observables"))
    figures = [_plot_accuracy(acc, out / "fig2a_accuracy.png"), _plot_confusions(conf, out / "fig2c_confusion.png"),
               _plot_holdouts(hold, acc["random_forest"]["all"]["mean"], out / "fig2b_holdouts.png")]
    finish(out, "nayebi-fig2", results, _settings(s, population=folder, ray=ray), t0, figures)
    return results



# --------------------------------------------------------------------------- Fig. 3

#: Fig. 3 / §4 of the paper, for the side-by-side print
PAPER_FIG3 = {"weight": "median most important (of all statistics)", "act": "norm statistics most important",
              "gradavg": "abs and sq similar", "position": "lowest importance"}


def _measure_colour(name: str) -> str:
    return {"weight": "C0", "act": "C1", "gradavg": "C2"}.get(name.split("_")[0], "0.5")


def _plot_importances(imp: dict, path: Path) -> Path:
    names = imp["names"]
    fig, axes = plt.subplots(1, 2, figsize=(12, max(4.0, 0.17 * len(names))), sharey=True)
    y = np.arange(len(names))
    colours = [_measure_colour(n) for n in names]
    for ax, key, label in ((axes[0], "gini", "Gini importance (summed over the trajectory)"),
                           (axes[1], "permutation", "permutation importance (drop in test accuracy)")):
        ax.barh(y, imp[f"{key}_mean"], xerr=imp[f"{key}_sem"], color=colours, capsize=1.5)
        ax.set_xlabel(label)
        ax.axvline(0, color="k", lw=0.6)
    axes[0].set_yticks(y, names, fontsize=6)
    axes[0].invert_yaxis()
    handles = [plt.Rectangle((0, 0), 1, 1, color=_measure_colour(m)) for m in ("weight", "act", "gradavg", "pos")]
    axes[1].legend(handles, ["weights", "activations", "activity change", "layer position"], fontsize=8)
    fig.suptitle("Fig. 3: importances for the random forest on all measures (mean ± s.e.m. over trees × splits; "
                 "permutation: over splits × shuffles)", fontsize=9)
    return figs._save(fig, path)


def _top(names, values, prefix):
    idx = [i for i, n in enumerate(names) if n.startswith(prefix) and not n.startswith("gradavg_rule")]
    best = max(idx, key=lambda i: values[i])
    return names[best], float(values[best])


def run_fig3(out: Path, quick: bool = False, progress: bool = True, population=None, workers=None,
             ray=None) -> dict:
    out = Path(out)
    s = FIG3_QUICK if quick else FIG3_FULL
    t0 = time.perf_counter()
    pop, folder, t_pop = _shared_population(out, s, population, workers, ray, progress, "nayebi-fig3")
    f = feature_matrix(pop, MEASURE_SETS["all"])
    print(f"[nayebi-fig3] random forest on {f.X.shape[0]} examples × {len(f.names)} statistics "
          f"({s['n_splits']} splits, {s['n_repeats']} shuffles each)")
    imp = rf_importances(f, n_splits=s["n_splits"], grid=s["grid"], n_repeats=s["n_repeats"], n_jobs=2)
    names = imp["names"]
    tops = {m: {"gini": _top(names, imp["gini_mean"], m + "_"), "permutation": _top(names, imp["permutation_mean"],
                                                                                   m + "_")}
            for m in ("weight", "act", "gradavg")}
    pos = [i for i, n in enumerate(names) if n.startswith("position_")]
    order = np.argsort(imp["gini_mean"])
    rank_pos = sorted(int(np.where(order == i)[0][0]) for i in pos)  # 0 = least important
    grad = {k: float(imp["gini_mean"][names.index(f"gradavg_{k}")]) for k in ("raw", "abs", "sq")
            if f"gradavg_{k}" in names}
    measure_share = {m: float(sum(imp["gini_mean"][i] for i, n in enumerate(names) if n.startswith(m + "_")))
                     for m in ("weight", "act", "gradavg")}
    results = {
        "statistics": {n: {"gini_mean": float(imp["gini_mean"][i]), "gini_sem": float(imp["gini_sem"][i]),
                           "permutation_mean": float(imp["permutation_mean"][i]),
                           "permutation_sem": float(imp["permutation_sem"][i])} for i, n in enumerate(names)},
        "top_per_measure": {m: {k: {"statistic": v[0], "importance": v[1]} for k, v in t.items()}
                            for m, t in tops.items()},
        "gini_share_per_measure": measure_share,
        "position_gini_ranks_from_bottom": rank_pos,
        "gradavg_gini": grad,
        "test_accuracy": {"mean": float(imp["accuracy"].mean()), "per_split": imp["accuracy"].tolist()},
        "population": {"networks": len(s["spec"].configs()), "examples": int(f.X.shape[0]), "seconds": t_pop},
        "paper": PAPER_FIG3,
    }
    rows = [(f"{MEASURE_LABELS[m]}: top statistic (Gini / permutation)",
             f"{tops[m]['gini'][0]} / {tops[m]['permutation'][0]}", PAPER_FIG3[m]) for m in tops]
    rows += [("activity change Gini raw / abs / sq", " / ".join(f"{v:.4f}" for v in grad.values()),
              PAPER_FIG3["gradavg"]),
             ("layer-position indicators' Gini ranks (0 = lowest)", str(rank_pos), PAPER_FIG3["position"]),
             ("Gini share weights / activations / activity change",
              " / ".join(f"{v:.2f}" for v in measure_share.values()), "—"),
             ("random forest test accuracy", f"{imp['accuracy'].mean():.3f}", "Fig. 2a")]
    print(side_by_side(rows, "nayebi-fig3: which observable statistics the random forest uses"))
    figures = [_plot_importances(imp, out / "fig3_importances.png")]
    finish(out, "nayebi-fig3", results, _settings(s, population=folder, ray=ray), t0, figures)
    return results


# --------------------------------------------------------------------------- Fig. 4

THIRDS = ("early", "middle", "late")


def _thirds(n_ck: int) -> list[np.ndarray]:
    """Three consecutive, equally long windows (7 of 21 checkpoints each)."""
    w = n_ck // 3
    return [np.arange(i * w, (i + 1) * w) for i in range(3)]


def _plot_subsampling(sub: dict, regimes: dict, n_ck: int, path: Path) -> Path:
    fig, axes = plt.subplots(1, len(sub), figsize=(4.2 * len(sub), 3.4), sharey=True, squeeze=False)
    for ax, (m, by_regime) in zip(axes[0], sub.items()):
        for i, (regime, pts) in enumerate(by_regime.items()):
            if not pts:
                continue
            n = np.array([int(k) for k in pts])
            ax.errorbar(100 * n / n_ck, [pts[k]["mean"] for k in pts], yerr=[pts[k]["sem"] for k in pts],
                        marker="o", ms=3, capsize=2, label=f"{regime} (period {regimes[regime][0]})", color=f"C{i}")
        ax.axhline(0.25, color="k", ls=":", lw=0.8)
        ax.set_title(MEASURE_LABELS[m])
        ax.set_xlabel(f"subsample proportion (% of {n_ck} checkpoints)")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("test accuracy (random forest)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Fig. 4a: trajectory subsampling (random start per example; chance 0.25)", fontsize=9)
    return figs._save(fig, path)


def _plot_thirds(thirds: dict, path: Path) -> Path:
    fig, axes = plt.subplots(1, len(thirds), figsize=(3.8 * len(thirds), 3.4), squeeze=False)
    for ax, (m, mat) in zip(axes[0], thirds.items()):
        a = np.array([[mat[tr][te]["mean"] for te in THIRDS] for tr in THIRDS])
        ax.imshow(a, vmin=0.25, vmax=1, cmap="viridis")
        for i in range(3):
            for j in range(3):
                ax.text(j, i, f"{a[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if a[i, j] > 0.7 else "white")
        ax.set_xticks(range(3), THIRDS)
        ax.set_yticks(range(3), THIRDS)
        ax.set_xlabel("tested on third")
        ax.set_ylabel("trained on third")
        ax.set_title(MEASURE_LABELS[m])
    fig.suptitle("Fig. 4b / S6: train on one consecutive third, test on another (random forest)", fontsize=9)
    return figs._save(fig, path)


def run_fig4(out: Path, quick: bool = False, progress: bool = True, population=None, workers=None,
             ray=None) -> dict:
    out = Path(out)
    s = FIG4_QUICK if quick else FIG4_FULL
    t0 = time.perf_counter()
    pop, folder, t_pop = _shared_population(out, s, population, workers, ray, progress, "nayebi-fig4")
    n_ck = pop.features.shape[1]
    if n_ck < 3:
        raise ConfigError(f"nayebi-fig4 needs at least 3 checkpoints, the population has {n_ck}")
    score = dict(classifier="random_forest", n_splits=s["n_splits"], grid=s["grid"], n_jobs=2)
    sub: dict = {}
    for m in SINGLE_MEASURES:
        sub[m] = {}
        for regime, (period, counts) in s["regimes"].items():
            sub[m][regime] = {}
            for n in counts:
                if (n - 1) * period >= n_ck:
                    continue
                idx = subsample_trajectory(pop.n_rows, n_ck, n, period, seed=n * 100 + period)
                r = score_splits(feature_matrix(pop, (m,), checkpoints=idx), **score)
                sub[m][regime][str(n)] = {"mean": r["mean"], "sem": r["sem"]}
                if progress:
                    print(f"  {m:8s} {regime:12s} {n:2d} samples  {r['mean']:.3f} ± {r['sem']:.3f}", flush=True)
    windows = _thirds(n_ck)
    thirds: dict = {}
    for m in SINGLE_MEASURES:
        feats = [feature_matrix(pop, (m,), checkpoints=w) for w in windows]
        thirds[m] = {tr: {te: {k: v for k, v in score_splits(feats[i], test_features=feats[j], **score).items()
                               if k in ("mean", "sem")} for j, te in enumerate(THIRDS)} for i, tr in enumerate(THIRDS)}
        if progress:
            print(f"  {m:8s} thirds (rows train, cols test): " + "; ".join(
                " ".join(f"{thirds[m][tr][te]['mean']:.2f}" for te in THIRDS) for tr in THIRDS), flush=True)
    # the paper's claims, as numbers: at equal sample counts, sparse vs dense; same vs other third
    equal = {m: {str(n): {reg: sub[m][reg][str(n)]["mean"] for reg in sub[m] if str(n) in sub[m][reg]}
                 for n in (2, 4)} for m in sub}
    same_vs_other = {m: {"same": float(np.mean([thirds[m][t][t]["mean"] for t in THIRDS])),
                         "other": float(np.mean([thirds[m][a][b]["mean"] for a in THIRDS for b in THIRDS if a != b]))}
                     for m in thirds}
    results = {"subsampling": sub, "thirds": thirds, "equal_samples": equal, "thirds_same_vs_other": same_vs_other,
               "n_checkpoints": n_ck, "examples": pop.n_rows,
               "population": {"networks": len(s["spec"].configs()), "seconds": t_pop},
               "paper": {"4a": "sparse > intermediate > dense at equal sample counts, for every measure",
                         "4b": "training on one third and testing on another loses accuracy"}}
    rows = []
    for m in equal:
        for n, by in equal[m].items():
            rows.append((f"{MEASURE_LABELS[m]}, {n} samples: {' / '.join(s['regimes'])}",
                         " / ".join(f"{by[r]:.3f}" if r in by else "—" for r in s["regimes"]), "sparse best"))
    rows += [(f"{MEASURE_LABELS[m]}, thirds: same / other", f"{v['same']:.3f} / {v['other']:.3f}", "same > other")
             for m, v in same_vs_other.items()]
    print(side_by_side(rows, "nayebi-fig4: access to portions of the learning trajectory"))
    figures = [_plot_subsampling(sub, s["regimes"], n_ck, out / "fig4a_subsampling.png"), _plot_thirds(thirds, out / "fig4b_thirds.png")]
    finish(out, "nayebi-fig4", results, _settings(s, population=folder, ray=ray), t0, figures)
    return results


# --------------------------------------------------------------------------- Fig. 5

#: the paper's Fig. 5 (random forest, FA vs IA on ResNet-18, ImageNet + SimCLR), read from its
#: heatmaps: unit percentage → accuracy (%) at noise σ = 10, 5, 1, 0.5, 0
PAPER_FIG5 = {
    "weight": {"100": (70, 77, 86, 88, 89), "75": (72, 76, 88, 88, 88), "50": (63, 67, 86, 85, 87),
               "25": (78, 80, 81, 85, 87), "10": (77, 77, 82, 80, 84), "1": (62, 67, 71, 76, 85),
               "1.44e-01": (45, 51, 58, 67, 82), "2.08e-02": (40, 42, 48, 58, 79), "3e-03": (52, 47, 57, 57, 74)},
    "act": {"100": (77, 79, 82, 84, 86), "75": (79, 78, 81, 82, 87), "50": (78, 80, 82, 82, 87),
            "25": (77, 80, 82, 83, 86), "10": (78, 79, 82, 81, 87), "1": (79, 80, 80, 82, 85),
            "1.44e-01": (81, 81, 82, 82, 86), "2.08e-02": (81, 81, 84, 85, 89), "3e-03": (82, 83, 84, 84, 84)},
    "gradavg": {"100": (88, 90, 92, 91, 95), "75": (87, 89, 93, 93, 94), "50": (84, 88, 93, 93, 95),
                "25": (87, 88, 89, 91, 93), "10": (84, 85, 86, 89, 95), "1": (74, 78, 89, 88, 94),
                "1.44e-01": (63, 71, 79, 82, 89), "2.08e-02": (55, 56, 64, 68, 76), "3e-03": (48, 43, 48, 45, 44)},
}


def _grid_summary(grid: dict) -> dict:
    """Mean, minimum and range of a heatmap (``{frac: {noise: acc}}`` or the paper's rows)."""
    v = np.array([list(row.values()) if isinstance(row, dict) else list(row) for row in grid.values()], float)
    return {"mean": float(v.mean()), "min": float(v.min()), "range": float(v.max() - v.min())}


def _frac_label(f: float) -> str:
    return "1 unit" if f < 1e-3 else f"{100 * f:g}%"


def _plot_noise_units(acc: dict, fracs, noises, path: Path) -> Path:
    fig, axes = plt.subplots(1, len(acc), figsize=(4.2 * len(acc), 3.6), squeeze=False)
    for ax, (m, grid) in zip(axes[0], acc.items()):
        a = np.array([[grid[str(f)][str(s)] for s in noises] for f in fracs])
        ax.imshow(a, vmin=0.5, vmax=1.0, cmap="viridis", origin="lower", aspect="auto")
        for i in range(len(fracs)):
            for j in range(len(noises)):
                ax.text(j, i, f"{100 * a[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="black" if a[i, j] > 0.8 else "white")
        ax.set_xticks(range(len(noises)), [f"{s:g}" for s in noises])
        ax.set_yticks(range(len(fracs)), [_frac_label(f) for f in fracs])
        ax.set_xlabel("Gaussian noise σ")
        ax.set_ylabel("units recorded")
        ax.set_title(MEASURE_LABELS[m])
    fig.suptitle("Fig. 5: FA vs IA (random forest, cnn2 on digits + contrastive digits; chance 0.5)", fontsize=9)
    return figs._save(fig, path)


def run_fig5(out: Path, quick: bool = False, progress: bool = True, workers=None, ray=None) -> dict:
    out = Path(out)
    s = FIG5_QUICK if quick else FIG5_FULL
    t0 = time.perf_counter()
    spec: PopulationSpec = s["spec"]
    fracs = sorted({m.unit_frac for m in spec.measurements})
    noises = sorted({m.noise_std for m in spec.measurements}, reverse=True)  # the paper: noise decreases left → right
    missing = [(f, sd) for f in fracs for sd in noises
               if not any(m.unit_frac == f and m.noise_std == sd for m in spec.measurements)]
    if missing:
        raise ConfigError(f"nayebi-fig5: the measurements are not a full grid (missing (unit_frac, noise) {missing})")
    folder, t_pop = _population(out, spec, workers=workers or s["workers"], ray=ray, progress=progress,
                                tag="nayebi-fig5")
    print(f"[nayebi-fig5] {len(spec.measurements)} recordings ({len(fracs)} unit fractions × {len(noises)} noise "
          f"levels × seeds); random forest FA vs IA, {s['n_splits']} splits each")
    acc: dict = {m: {str(f): {} for f in fracs} for m in SINGLE_MEASURES}
    # every (recording, measure) cell is one small data set: they run side by side in worker
    # processes (score_each), in heatmap-row order so each row prints as it completes
    cells = []  # (unit fraction, noise, measure, seed, features)
    for f in fracs:
        for sd in noises:
            for meas in (m for m in spec.measurements if m.unit_frac == f and m.noise_std == sd):
                pop = load_population(folder, meas)
                cells += [(f, sd, m, meas.seed, feature_matrix(pop, (m,))) for m in SINGLE_MEASURES]
    scores = score_each([c[4] for c in cells], "random_forest", seeds=[c[3] for c in cells],
                        n_jobs=workers or s["workers"], n_splits=s["n_splits"], grid=s["grid"])
    per: dict = {}
    row_size = collections.Counter((c[0], c[1]) for c in cells)  # cells per heatmap cell (seeds × measures)
    for (f, sd, m, _, _), r in zip(cells, scores):
        per.setdefault((f, sd), {k: [] for k in SINGLE_MEASURES})[m].append(r["mean"])
        row = per[(f, sd)]
        if sum(map(len, row.values())) == row_size[(f, sd)]:
            for k in SINGLE_MEASURES:
                acc[k][str(f)][str(sd)] = float(np.mean(row[k]))
            if progress:
                print(f"  units {_frac_label(f):>7s}  σ {sd:>4g}: " + "  ".join(
                    f"{k} {acc[k][str(f)][str(sd)]:.3f}" for k in SINGLE_MEASURES), flush=True)
    ours = {m: _grid_summary(acc[m]) for m in acc}
    paper = {m: {k: v / 100 for k, v in _grid_summary(PAPER_FIG5[m]).items()} for m in PAPER_FIG5}
    corners = {m: {"all units, no noise": acc[m][str(fracs[-1])]["0.0"] if "0.0" in acc[m][str(fracs[-1])] else None,
                   "fewest units, most noise": acc[m][str(fracs[0])][str(noises[0])]} for m in acc}
    most_robust = {"ours": max(ours, key=lambda m: ours[m]["min"]), "paper": max(paper, key=lambda m: paper[m]["min"])}
    results = {"accuracy": acc, "summary": ours, "paper_summary": paper, "corners": corners,
               "most_robust_by_worst_cell": most_robust, "paper_grid_percent": PAPER_FIG5,
               "unit_fracs": fracs, "noise_stds": noises,
               "population": {"networks": len(spec.configs()), "recordings": len(spec.measurements),
                              "seconds": t_pop}}
    rows = [(f"{MEASURE_LABELS[m]}: mean / worst / range over the grid",
             f"{ours[m]['mean']:.3f} / {ours[m]['min']:.3f} / {ours[m]['range']:.3f}",
             f"{paper[m]['mean']:.3f} / {paper[m]['min']:.3f} / {paper[m]['range']:.3f}") for m in ours]
    rows += [(f"{MEASURE_LABELS[m]}: all units σ=0 / fewest units σ={noises[0]:g}",
              " / ".join("—" if v is None else f"{v:.3f}" for v in corners[m].values()),
              f"{PAPER_FIG5[m]['100'][-1] / 100:.2f} / {PAPER_FIG5[m]['3e-03'][0] / 100:.2f}") for m in ours]
    rows += [("most robust measure (best worst cell)", MEASURE_LABELS[most_robust["ours"]],
              MEASURE_LABELS[most_robust["paper"]])]
    print(side_by_side(rows, "nayebi-fig5: measurement noise × unit subsampling, FA vs IA"))
    figures = [_plot_noise_units(acc, fracs, noises, out / "fig5_noise_units.png")]
    finish(out, "nayebi-fig5", results, _settings(s, population=folder, ray=ray), t0, figures)
    return results


_SHARED = ("population", "workers", "ray")
FIG2 = Experiment("nayebi-fig2", "Nayebi et al. 2020, Fig. 2",
                  "classifiers tell SGDM, Adam, FA and IA apart from observable trajectories", run_fig2, _SHARED)
FIG3 = Experiment("nayebi-fig3", "Nayebi et al. 2020, Fig. 3",
                  "Gini and permutation importances of the observable statistics", run_fig3, _SHARED)
FIG4 = Experiment("nayebi-fig4", "Nayebi et al. 2020, Fig. 4",
                  "trajectory subsampling: sparse vs dense periods, consecutive thirds", run_fig4, _SHARED)
FIG5 = Experiment("nayebi-fig5", "Nayebi et al. 2020, Fig. 5",
                  "FA vs IA under measurement noise × unit subsampling, per measure", run_fig5, ("workers", "ray"))
