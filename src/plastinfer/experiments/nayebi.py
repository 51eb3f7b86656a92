"""``nayebi-fig2``: which learning rule trained a network, from its observables (Nayebi et
al. 2020, Fig. 2), on a CPU-scale population.

The population (``plastinfer.identify``): small MLPs and a small CNN trained with SGDM,
Adam, FA and IA on offline tasks, batch sizes × model seeds × data-order seeds, 21
checkpoints each. It is generated once into ``DIR/population`` (resumable) and reused by
later runs into the same folder.

Reported: test accuracy of the SVM, random forest and Conv1D classifiers on all measures
and per measure (ten category-balanced 75 / 25 % per-layer splits, as in the paper);
the same with splits grouped by network (the paper's per-layer splits put layers of one
network on both sides); confusion matrices; random-forest hold-outs of architecture,
curriculum (batch size × data seed) and task; and three controls the paper lacks: the
last checkpoint only, task performance only, and the layer-wise activity change taken
through the rule's backward path (``B``, as the original code did) instead of the true
Jacobian.
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..analysis import figures as figs  # noqa: E402
from ..identify import (PopulationSpec, feature_matrix, generate_population, load_population,  # noqa: E402
                        score_holdouts, score_splits)
from ..identify._classify import Features  # noqa: E402
from ..identify._learners import RULES  # noqa: E402
from . import Experiment  # noqa: E402
from ._common import finish, side_by_side  # noqa: E402

FIG2_QUICK = dict(spec=PopulationSpec(archs=("mlp1x64", "mlp2x32"), tasks=("digits", "breast_cancer"),
                                      batch_sizes=(16, 32)),
                  n_splits=3, grid="small", workers=2, conv1d_grid="none", classifiers=("svm", "random_forest", "conv1d"))
FIG2_FULL = dict(spec=PopulationSpec(), n_splits=10, grid="small", workers=2, conv1d_grid="none",
                 classifiers=("svm", "random_forest", "conv1d"))

#: the paper's Fig. 2a (read off the bars; random forest on all measures ≈ 0.95+, SVM and
#: Conv1D lower), for the side-by-side print
PAPER = {"random forest, all measures": "highest of the three (Fig. 2a)",
         "ordering": "random forest > Conv1D ≳ SVM", "confusions": "Adam ↔ SGDM more than FA ↔ IA"}

MEASURE_SETS = {"all": ("weight", "act", "gradavg"), "weight": ("weight",), "act": ("act",), "gradavg": ("gradavg",)}


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


def run_fig2(out: Path, quick: bool = False, progress: bool = True) -> dict:
    out = Path(out)
    s = FIG2_QUICK if quick else FIG2_FULL
    t0 = time.perf_counter()
    spec: PopulationSpec = s["spec"]
    print(f"[nayebi-fig2] population: {len(spec.configs())} networks in {len(spec.groups())} groups → {out / 'population'}")
    generate_population(spec, out / "population", workers=s["workers"], progress=progress)
    t_pop = time.perf_counter() - t0
    pop = load_population(out / "population")
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
    settings = {k: (v.to_json() if isinstance(v, PopulationSpec) else v) for k, v in s.items()}
    finish(out, "nayebi-fig2", results, settings, t0, figures)
    return results


FIG2 = Experiment("nayebi-fig2", "Nayebi et al. 2020, Fig. 2",
                  "classifiers tell SGDM, Adam, FA and IA apart from observable trajectories", run_fig2)
