"""``mehta-fly``: plasticity rules of real fruit flies from their choices (Mehta et al. 2024, §5, Fig. 4, A.6).

Data: the per-fly folders of Rajagopalan et al. 2023 (``--data``, default
``../shared/data/rajagopalan-flies``): one two-odor choice per trial in a Y-arena, 3
blocks × 80 trials (5 of the 21 sessions end early). The model is the choice circuit with
the two-alternative readout (P(odor 2) = σ(ℓ(x₂) − ℓ(x₁)); plasticity with the chosen
odor's pattern), fitted separately to every fly (all flies in one ``vmap``), with Taylor
rules over ``(x, w, r)`` restricted as in Fig. 4C:

- ``without_w``: ``θ000 + θ100·x + θ001·r + θ101·x·r`` (bias, x, r, x·r), reward ``R − E[R]``;
- ``with_w``: the same plus ``θ010·w``;
- ``with_w_raw_reward``: ``with_w`` with ``r = R`` (no reward expectation).

It reports per-fly percent deviance explained, the paired differences and Wilcoxon
signed-rank tests (Fig. 4D, F), the distribution of the ``w`` coefficient (Fig. 4C), the
held-out validation of A.6 (fit the first x % of each session, test on the rest from fresh
weights), and a simulated-flies control: flies simulated with a known negative weight
term, fitted the same way, must show that sign in every fly.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import PlastinferInputError  # noqa: E402
from ..analysis import figures as figs  # noqa: E402
from ..analysis import paired_comparison  # noqa: E402
from ..circuits import ChoiceCircuit  # noqa: E402
from ..data import ChoiceDataset, load_fly_folders, simulate_choices  # noqa: E402
from ..infer import ChoiceFitConfig, evaluate_choices, fit_choices  # noqa: E402
from ..rules import Taylor, parse_equation  # noqa: E402
from . import Experiment  # noqa: E402
from ._common import finish, side_by_side  # noqa: E402

DEFAULT_DATA = Path("../shared/data/rajagopalan-flies")
XWR = ("x", "w", "r")
BASE_TERMS = ("x0w0r0", "x1w0r0", "x0w0r1", "x1w0r1")
W_TERM = "x0w1r0"
LABELS = {"x0w0r0": "bias", "x1w0r0": "x", "x0w0r1": "r", "x1w0r1": "x·r", W_TERM: "w"}
MODELS = {
    "without_w": dict(terms=BASE_TERMS, window=10),
    "with_w": dict(terms=BASE_TERMS + (W_TERM,), window=10),
    "with_w_raw_reward": dict(terms=BASE_TERMS + (W_TERM,), window=0),
}
SIM_TRUTH = "x*r - 0.05*w"

FULL = dict(epochs=400, learning_rate=1e-2, l1=1e-2, fractions=(0.5, 0.75), seed=0, cohorts=3)
QUICK = dict(epochs=150, learning_rate=1e-2, l1=1e-2, fractions=(0.75,), seed=0, cohorts=1)
PAPER = {"with_vs_without_w_p": 5e-5, "expectation_p": 0.067, "w_sign": "negative", "n_flies": 18}


def _circuit(window: int) -> ChoiceCircuit:
    return ChoiceCircuit(readout="two_alternative", window=window)


def _fit(model: str, data: ChoiceDataset, s: dict, progress: bool, warm: list | None = None):
    """Per-fly fits of ``model`` from zero coefficients and, with ``warm`` (one rule per fly
    of another model), also from those coefficients; per fly the start with the better
    in-sample deviance is kept (local optima: the nested model must not end worse than
    the model it contains). Returns circuit, rules, coefficients by label, in-sample
    deviance and, per fly, whether the warm start won."""
    spec = MODELS[model]
    circuit = _circuit(spec["window"])
    zero = Taylor.zeros(XWR, active=spec["terms"])
    cfg = ChoiceFitConfig(epochs=s["epochs"], learning_rate=s["learning_rate"], l1=s["l1"], per_subject=True,
                          seed=s["seed"])
    starts = [zero]
    if warm is not None:
        starts.append([zero.with_terms({t: v for t, v in r.coefficients().items() if t in spec["terms"]}) for r in warm])
    fits = []
    for start in starts:
        rules = fit_choices(start, circuit, data, config=cfg, progress=progress).extras["rules"]
        fits.append((rules, np.asarray(_deviance(rules, circuit, data, noise_seed=s["seed"]))))
    best = np.argmax(np.stack([d for _, d in fits]), axis=0)
    rules = [fits[b][0][i] for i, b in enumerate(best)]
    dev = [float(fits[b][1][i]) for i, b in enumerate(best)]
    coefs = {LABELS[t]: [float(r.coefficients()[t]) for r in rules] for t in spec["terms"]}
    return circuit, rules, coefs, dev, (best == 1).tolist()


def _deviance(rules, circuit, data, seed=1, noise_seed=None):
    return evaluate_choices(rules, circuit, data, key=jax.random.PRNGKey(seed), noise_seed=noise_seed)["percent_deviance"]


def run(out: Path, quick: bool = False, progress: bool = True, data: str | Path | None = None) -> dict:
    out = Path(out)
    s = QUICK if quick else FULL
    t0 = time.perf_counter()
    root = Path(data) if data is not None else DEFAULT_DATA
    if not root.exists():
        raise PlastinferInputError(f"{root}: no such folder (pass --data DIR, a folder of per-fly folders)")
    flies = load_fly_folders(root)
    n = flies.n_subjects
    print(f"[mehta-fly] {n} flies from {root} ({int(flies.n_choices.min())}–{int(flies.n_choices.max())} trials each)")

    # 1. three rule families, per fly (the larger models also warm-started, see _fit)
    fits, devs, coefs, warm_won = {}, {}, {}, {}
    for m, warm in (("without_w", None), ("with_w", "without_w"), ("with_w_raw_reward", "with_w")):
        print(f"[mehta-fly] fit '{m}' to every fly ({s['epochs']} Adam steps, all flies in one vmap"
              f"{'' if warm is None else f'; from zero and from the {warm} fit'})")
        circuit, rules, coefs[m], devs[m], warm_won[m] = _fit(m, flies, s, progress,
                                                              warm=None if warm is None else fits[warm][1])
        fits[m] = (circuit, rules)  # devs: in sample, as Fig. 4D
    cmp_w = paired_comparison(devs["without_w"], devs["with_w"], names=("without_w", "with_w"))
    cmp_e = paired_comparison(devs["with_w_raw_reward"], devs["with_w"], names=("raw_reward", "expectation"))
    w = np.asarray(coefs["with_w"]["w"])

    # 2. held-out validation (A.6)
    heldout = {}
    for frac in s["fractions"]:
        head, tail = flies.split_session(frac)
        print(f"[mehta-fly] held-out: fit the first {frac:.0%} of each session, test on the rest")
        row = {}
        circuit, rules0, c0, dev0, _ = _fit("without_w", head, s, progress)
        circuit, rules1, c1, dev1, _ = _fit("with_w", head, s, progress, warm=rules0)
        for m, rules, c, dev in (("without_w", rules0, c0, dev0), ("with_w", rules1, c1, dev1)):
            row[m] = {"train": dev, "test": _deviance(rules, circuit, tail), "w": c.get("w")}
        good = np.asarray(row["with_w"]["test"]) > 0
        row["n_positive_test"] = int(good.sum())
        row["with_vs_without_w_test"] = paired_comparison(row["without_w"]["test"], row["with_w"]["test"],
                                                          names=("without_w", "with_w"))
        row["w_negative_in_good_flies"] = int(np.sum(np.asarray(row["with_w"]["w"])[good] < 0))
        row["w_negative_in_poor_flies"] = int(np.sum(np.asarray(row["with_w"]["w"])[~good] < 0))
        heldout[f"{int(frac * 100)}%"] = row

    # 3. simulated flies with a known negative weight term, fitted by the same pipeline
    cohorts = []
    for c in range(s["cohorts"]):
        print(f"[mehta-fly] control {c + 1}/{s['cohorts']}: {n} simulated flies with Δw = {SIM_TRUTH}")
        sim = simulate_choices(jax.random.PRNGKey(7 + c), _circuit(10), parse_equation(SIM_TRUTH), n)
        _, sim_rules0, _, _, _ = _fit("without_w", sim, s, progress)
        _, _, sim_coefs, _, _ = _fit("with_w", sim, s, progress, warm=sim_rules0)
        cohorts.append(np.asarray(sim_coefs["w"]))
    sim_w = np.concatenate(cohorts)

    rows = [
        ("flies", f"{n}", f"{PAPER['n_flies']}"),
        ("w coefficient (median over flies)", f"{np.median(w):+.3f}", "negative"),
        ("flies with w < 0", f"{int(np.sum(w < 0))}/{n}", "most"),
        ("% deviance without w (median)", f"{np.median(devs['without_w']):.1f}", "—"),
        ("% deviance with w (median)", f"{np.median(devs['with_w']):.1f}", "—"),
        ("with w better: flies", f"{cmp_w['n_with_w_better']}/{n}", "—"),
        ("with vs without w: Wilcoxon p", _p(cmp_w["p_value"]), f"{PAPER['with_vs_without_w_p']:g}"),
        ("expectation vs raw reward: flies better", f"{cmp_e['n_expectation_better']}/{n}", "majority"),
        ("expectation vs raw reward: Wilcoxon p", _p(cmp_e["p_value"]), f"{PAPER['expectation_p']:g}"),
        ("simulated flies: w < 0 (truth −0.05)", f"{int(np.sum(sim_w < 0))}/{sim_w.size}", "(all, required)"),
        ("simulated flies: largest w", f"{sim_w.max():+.4f}", "< 0"),
        ("warm start kept: with_w / raw reward", f"{sum(warm_won['with_w'])} / {sum(warm_won['with_w_raw_reward'])}",
         "—"),
    ]
    for k, row in heldout.items():
        rows.append((f"held-out {k}: flies with test deviance > 0", f"{row['n_positive_test']}/{n}", "some"))
        rows.append((f"held-out {k}: w < 0 in flies good / poor on test",
                     f"{row['w_negative_in_good_flies']} / {row['w_negative_in_poor_flies']}", "all / all"))
    print(side_by_side(rows, "mehta-fly: Fig. 4 on the real flies"))

    figures = _figures(out, coefs, devs, heldout, sim_w)
    results = {
        "n_flies": n,
        "subjects": list(flies.subjects),
        "percent_deviance": devs,
        "coefficients": coefs,
        "with_vs_without_w": cmp_w,
        "expectation_vs_raw_reward": cmp_e,
        "w_median": float(np.median(w)),
        "w_negative": int(np.sum(w < 0)),
        "heldout": heldout,
        "warm_start_kept": warm_won,
        "simulated": {"truth": SIM_TRUTH, "cohorts": len(cohorts), "w": [c.tolist() for c in cohorts],
                      "w_negative": int(np.sum(sim_w < 0)), "n": int(sim_w.size), "w_max": float(sim_w.max()),
                      "all_negative": bool(np.all(sim_w < 0)),
                      "all_negative_per_cohort": [bool(np.all(c < 0)) for c in cohorts]},
        "paper": PAPER,
    }
    finish(out, "mehta-fly", results, {**s, "data": str(root)}, t0, figures)
    return results


def _p(p) -> str:
    return "n/a" if p is None else f"{p:.2g}"


def _figures(out: Path, coefs, devs, heldout, sim_w) -> list[Path]:
    paths = []
    groups = {f"{lab} ({'w/o' if m == 'without_w' else 'w/'} w)": v for m in ("without_w", "with_w")
              for lab, v in coefs[m].items()}
    paths.append(figs.plot_boxes(groups, out / "fig4c_theta.png", "plasticity term", "Fig. 4C: θ per fly", ylabel="θ"))
    for name, title, (a, b) in (("fig4d_w_term.png", "Fig. 4D: with vs without the w term", ("without_w", "with_w")),
                                ("fig4f_expectation.png", "Fig. 4F: reward expectation vs raw reward",
                                 ("with_w_raw_reward", "with_w"))):
        fig, ax = plt.subplots(1, 2, figsize=(8, 3.5))
        for da, db in zip(devs[a], devs[b]):
            ax[0].plot([0, 1], [da, db], "o-", color="0.5", ms=3)
        ax[0].set_xticks([0, 1], [a, b])
        ax[0].set_ylabel("% deviance explained")
        ax[1].boxplot(np.asarray(devs[b]) - np.asarray(devs[a]))
        ax[1].axhline(0, color="k", lw=0.5)
        ax[1].set_ylabel(f"Δ % deviance ({b} − {a})")
        fig.suptitle(title)
        paths.append(figs._save(fig, out / name))
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for k, row in heldout.items():
        ax.scatter(row["with_w"]["train"], row["with_w"]["test"], s=12, label=f"train on first {k}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("% deviance, training part")
    ax.set_ylabel("% deviance, held-out part")
    ax.legend(fontsize=8)
    ax.set_title("A.6 / Fig. 8: held-out validation (with w)")
    paths.append(figs._save(fig, out / "fig8_heldout.png"))
    paths.append(figs.plot_boxes({"simulated flies": sim_w}, out / "simulated_w.png", "",
                                 f"control: w term fitted to flies simulated with {SIM_TRUTH}", ylabel="θ (w)"))
    return paths


EXPERIMENT = Experiment("mehta-fly", "Mehta et al. 2024, Fig. 4 + A.6", "per-fly rules from real Drosophila choices",
                        run, options=("data",))
