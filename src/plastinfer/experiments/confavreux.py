"""``confavreux-fig1`` / ``confavreux-fig2``: rules meta-learned from a PCA objective
(Confavreux et al. 2020, §3.1–3.2).

Fig. 1: one linear neuron, ``N`` inputs, batch learning (``N_b = 200``, ``η = 1/20``); a
27-term Taylor rule over ``(x, y, w)``, coefficients initialised ``N(0, 0.1²)``, searched
by CMA-ES (evosax) to minimise ``⟨‖w − PC₁‖⟩`` over 20 fresh data sets per generation
(+ L1 on the coefficients). CMA-ES runs with IPOP restarts (issue 21): after a run of
``generations``, further runs with doubled populations continue from the best rule so far —
one run of 13 candidates does not reach 10° of Oja in 600 generations, the larger
populations average out the noise of fresh data sets (``docs/confavreux.md``). Reported:
the angle to Oja's rule over generations, the coefficients (Fig. 1B), the loss (Fig. 1C),
for ``N = 3`` and ``N = 100``, several seeds; gradient meta-learning beside it.

Fig. 2: ``N → 5`` network with hierarchical lateral connections, feed-forward rule ``A``
and lateral rule ``B`` (27 terms each) co-optimised; reported: angles to Oja (``A``) and
anti-Hebb (``B``), and each output's distance to ``±PC_i`` on held-out data sets.

Protocol details the paper leaves open, chosen here and documented in
``docs/confavreux.md``: the spectrum (top variances then a flat floor), the number of
inner steps, L1 weight and CMA-ES step size.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..analysis import angles_per_rule, rule_angle  # noqa: E402
from ..analysis import figures as figs  # noqa: E402
from ..circuits import LateralNetwork, PlasticLayer  # noqa: E402
from ..infer import MetaConfig, meta_fit, sphere_profile  # noqa: E402
from ..objectives import FunctionTask, GaussianDatasets, linear_spectrum, pc_distances  # noqa: E402
from ..rules import Taylor, anti_hebb, oja  # noqa: E402
from . import Experiment  # noqa: E402
from ._common import finish, side_by_side  # noqa: E402

#: ``generations``: per CMA-ES run; ``ipop``: further runs, each with twice the population, from the best so far
FIG1_FULL = dict(sizes=(3, 100), gradient_sizes=(3, 100), restarts=3, generations=300, ipop=2, gradient_steps=400,
                 n_steps=200, n_datasets=20, l1=0.05, sigma=0.1, learning_rate=0.01)
FIG1_QUICK = dict(sizes=(3, 100), gradient_sizes=(3,), restarts=1, generations=225, ipop=2, gradient_steps=250,
                  n_steps=100, n_datasets=8, l1=0.05, sigma=0.1, learning_rate=0.01)
#: the paper's evolution strategy (with IPOP restarts), and gradients through the inner loop → what one iteration is called
METHODS = {"CMA_ES": "CMA-ES generations", "gradient": "Adam steps"}
#: ``scale``: the search runs on the sphere where each rule's coefficients have this norm (issue 21)
FIG2_FULL = dict(sizes=(5, 50), restarts=2, generations=300, ipop=2, scale=1.0, n_steps=600, n_datasets=20, l1=0.05,
                 sigma=0.1)
FIG2_QUICK = dict(sizes=(5,), restarts=1, generations=30, ipop=2, scale=1.0, n_steps=300, n_datasets=4, l1=0.05,
                  sigma=0.1)
HELD_OUT = 50  # fresh data sets for the final check


#: Fig. 1 spectrum: PC1 variance 2, every other direction 0.1. Not 1: with λ₁ = 1 in every data
#: set, ``a·x·y − b·y²·w − c·w`` with ``a − c = b`` has the same fixed point (±PC1, unit norm) and
#: the same L1 as Oja's rule (c = 0), so neither the objective nor the penalty can prefer Oja;
#: for λ₁ > 1 the L1 cost ``a + b + λ₁(a − b)`` is smallest at ``c = 0`` (docs/confavreux.md).
FIG1_TOP = (2.0,)


def fig1_task(n: int, n_steps: int, n_datasets: int, top: tuple[float, ...] = FIG1_TOP) -> FunctionTask:
    return FunctionTask(PlasticLayer(n, 1, "linear", eta=1 / 20, init_std=0.1), GaussianDatasets(n, top=top),
                        n_steps=n_steps, n_datasets=n_datasets)


def fig2_task(n: int, n_steps: int, n_datasets: int, m: int = 5) -> FunctionTask:
    data = GaussianDatasets(n, top=linear_spectrum(m, 1.0, 0.2), floor=0.05)
    return FunctionTask(LateralNetwork(n, m), data, n_steps=n_steps, n_datasets=n_datasets)


def _per_output_distance(task: FunctionTask, rule, key) -> np.ndarray:
    """``(D, M)`` distance of each output's weights to ±PC_i on ``HELD_OUT`` fresh data sets."""
    k_data, k_init = jax.random.split(key)
    data = task.datasets.sample(k_data, HELD_OUT)
    keys = jax.random.split(k_init, HELD_OUT)

    return np.asarray(jax.jit(jax.vmap(lambda d, k: pc_distances(task.inner(rule, d, k).w, d.pcs)))(data, keys))


def _first_below(angles: np.ndarray, limit: float) -> int | None:
    hit = np.nonzero(angles <= limit)[0]
    return int(hit[0]) if hit.size else None


def run_fig1(out: Path, quick: bool = False, progress: bool = True) -> dict:
    out = Path(out)
    s = FIG1_QUICK if quick else FIG1_FULL
    t0 = time.perf_counter()
    ref = oja()
    results: dict = {"sizes": {}, "paper": {"angle_to_oja_deg": "recovered (Fig. 1B, C), up to 100 inputs; CMA-ES"}}
    runs: dict = {}
    for n in s["sizes"]:
        task = fig1_task(n, s["n_steps"], s["n_datasets"])
        oja_dist = _per_output_distance(task, ref, jax.random.PRNGKey(7))[:, 0]
        results["sizes"][str(n)] = {}
        for method in METHODS:
            if method == "gradient" and n not in s["gradient_sizes"]:
                continue
            fits = []
            steps = s["generations"] if method == "CMA_ES" else s["gradient_steps"]
            ipop = s["ipop"] if method == "CMA_ES" else 0
            for r in range(s["restarts"]):
                what = (f"{ipop + 1} CMA-ES runs (IPOP) of {steps} generations" if ipop
                        else f"{steps} {METHODS[method]}")
                print(f"[confavreux-fig1] N = {n}, seed {r + 1}/{s['restarts']}: {what}")
                start = Taylor.init(jax.random.PRNGKey(100 + r), scale=0.1)
                cfg = MetaConfig(method=method, generations=steps, l1=s["l1"], sigma_init=s["sigma"],
                                 learning_rate=s["learning_rate"], seed=r, restarts=ipop)
                fits.append(meta_fit(start, task, config=cfg, reference=ref, progress=progress))
            runs[(n, method)] = fits
            angles = [f.metrics["angle_deg"] for f in fits]
            best = fits[int(np.argmin(angles))]
            dist = _per_output_distance(task, best.rule, jax.random.PRNGKey(7))[:, 0]
            results["sizes"][str(n)][method] = {
                "angle_to_oja_deg": angles,
                "median_angle_to_oja_deg": float(np.median(angles)),
                "iteration_angle_le_10": [_first_below(f.history["angle_deg"], 10.0) for f in fits],
                "theta": [{k: v for k, v in f.rule.coefficients().items() if abs(v) >= 0.01} for f in fits],
                "equation": [f.rule.equation() for f in fits],
                "seconds": [f.metrics["seconds"] for f in fits],
                "population_sizes": fits[0].metrics["population_sizes"],
                "iterations_run": [f.metrics["generations_run"] for f in fits],
                "evaluations_per_second": [f.metrics["evaluations_per_second"] for f in fits],
                "held_out_distance_to_pc1": {"found_median": float(np.median(dist)),
                                             "oja_median": float(np.median(oja_dist))},
            }
    rows = []
    for n, per in results["sizes"].items():
        for method, r in per.items():
            tag = f"N = {n}, {method}"
            rows.append((f"{tag}: angle to Oja (°), per seed", ", ".join(f"{a:.1f}" for a in r["angle_to_oja_deg"]),
                         "≤ 10 (issue); 'recovered'"))
            rows.append((f"{tag}: first iteration ≤ 10°", str(r["iteration_angle_le_10"]), "—"))
            rows.append((f"{tag}: held-out ‖w − PC1‖ found / Oja",
                         f"{r['held_out_distance_to_pc1']['found_median']:.3f}"
                         f" / {r['held_out_distance_to_pc1']['oja_median']:.3f}", "—"))
            rows.append((f"{tag}: wall time per seed (s)", ", ".join(f"{t:.0f}" for t in r["seconds"]), "—"))
    print(side_by_side(rows, "confavreux-fig1: Oja's rule from the PC1 objective (CMA-ES: IPOP populations "
                             f"{' → '.join(str(p) for p in next(iter(results['sizes'].values()))['CMA_ES']['population_sizes'])})"))
    for n, per in results["sizes"].items():
        for method, r in per.items():
            print(f"  N = {n}, {method}, best seed: {min(zip(r['angle_to_oja_deg'], r['equation']))[1]}")
    results["angle_to_oja_deg"] = {m: {n: per[m]["median_angle_to_oja_deg"] for n, per in results["sizes"].items()
                                       if m in per} for m in METHODS}
    results["theta"] = {m: {n: per[m]["theta"][int(np.argmin(per[m]["angle_to_oja_deg"]))]
                            for n, per in results["sizes"].items() if m in per} for m in METHODS}
    results["all_within_10_deg"] = {m: bool(all(min(per[m]["angle_to_oja_deg"]) <= 10.0
                                                for per in results["sizes"].values() if m in per)) for m in METHODS}
    figures = []
    for (n, method), fits in runs.items():
        f = fits[int(np.argmin([x.metrics["angle_deg"] for x in fits]))]
        figures.append(figs.plot_coefficients(
            f.history["theta"], f.names, out / f"fig1b_coefficients_N{n}_{method}.png",
            title=f"Fig. 1B: coefficients over {METHODS[method]} (N = {n})"))
    figures.append(_plot_runs({f"N = {n}, {m}": v for (n, m), v in runs.items()}, out / "fig1c_loss_angle.png",
                              "Fig. 1C"))
    finish(out, "confavreux-fig1", results, dict(s, spectrum_top=FIG1_TOP, spectrum_floor=0.1), t0, figures)
    return results


def _plot_runs(runs: dict, path: Path, title: str, keys=("loss", "angle_deg")) -> Path:
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for label, fits in runs.items():
        for i, f in enumerate(fits):
            kw = dict(color=f"C{list(runs).index(label)}", alpha=0.8, label=label if i == 0 else None)
            ax[0].semilogy(f.history[keys[0]], **kw)
            ax[1].plot(f.history[keys[1]], **kw)
    ax[0].set_xlabel("generation (ES) / step (gradient)")
    ax[0].set_ylabel("loss incl. L1 (ES: best in population)")
    ax[1].set_xlabel("generation (ES) / step (gradient)")
    ax[1].set_ylabel("angle to the reference rule (°)")
    ax[1].axhline(10, color="k", lw=0.5, ls="--")
    ax[0].legend(fontsize=8)
    fig.suptitle(f"{title}: every restart")
    return figs._save(fig, path)


def _plot_profiles(profiles: dict, path: Path, scale: float) -> Path:
    fig, axes = plt.subplots(1, len(profiles), figsize=(max(7.0, 4.5 * len(profiles)), 4.0), squeeze=False)
    for ax, (n, per) in zip(axes[0], profiles.items()):
        for label, p in per.items():
            ax.plot(p["angle_deg"], p["loss"], marker="o", ms=3, label=f"from {label}")
        ax.set_xlabel("angle along the great circle to (Oja, anti-Hebb) (°)")
        ax.set_ylabel("meta-loss incl. L1 (fixed data sets)")
        ax.set_title(f"{n} → 5, sphere ‖A‖ = ‖B‖ = {scale:g}")
        ax.legend(fontsize=8)
    fig.suptitle("Fig. 2: the loss on the search's sphere, toward the target rules")
    return figs._save(fig, path)


def run_fig2(out: Path, quick: bool = False, progress: bool = True) -> dict:
    out = Path(out)
    s = FIG2_QUICK if quick else FIG2_FULL
    t0 = time.perf_counter()
    ref = (oja(), anti_hebb())
    results: dict = {"sizes": {}, "paper": {"networks": "5 → 5 and 50 → 5; Oja + anti-Hebb recovered up to scale"}}
    runs, profiles = {}, {}
    for n in s["sizes"]:
        task = fig2_task(n, s["n_steps"], s["n_datasets"])
        ref_dist = _per_output_distance(task, ref, jax.random.PRNGKey(7))
        fits = []
        for r in range(s["restarts"]):
            print(f"[confavreux-fig2] {n} → 5, seed {r + 1}/{s['restarts']}: CMA-ES on A and B on the sphere "
                  f"‖A‖ = ‖B‖ = {s['scale']:g}, {s['ipop'] + 1} runs (IPOP) of {s['generations']} generations")
            k1, k2 = jax.random.split(jax.random.PRNGKey(200 + r))
            start = (Taylor.init(k1, scale=0.1), Taylor.init(k2, scale=0.1))
            cfg = MetaConfig(generations=s["generations"], l1=s["l1"], sigma_init=s["sigma"], seed=r,
                             scale=s["scale"], restarts=s["ipop"])
            fits.append(meta_fit(start, task, config=cfg, reference=ref, progress=progress))
        runs[n] = fits
        per = [angles_per_rule(f.rule, ref) for f in fits]
        best = fits[int(np.argmin([max(a) for a in per]))]
        dist = _per_output_distance(task, best.rule, jax.random.PRNGKey(7))
        results["sizes"][str(n)] = {
            "angle_A_to_oja_deg": [a[0] for a in per],
            "angle_B_to_anti_hebb_deg": [a[1] for a in per],
            "angle_joint_deg": [rule_angle(f.rule, ref) for f in fits],
            "equations": [[r_.equation() for r_ in f.rule] for f in fits],
            "median_distance_to_pc_per_output": np.median(dist, axis=0).tolist(),
            "fraction_outputs_within_0.1": float(np.mean(dist <= 0.1)),
            "reference_rules_median_distance_per_output": np.median(ref_dist, axis=0).tolist(),
            "reference_rules_fraction_within_0.1": float(np.mean(ref_dist <= 0.1)),
            "seconds": [f.metrics["seconds"] for f in fits],
            "population_sizes": fits[0].metrics["population_sizes"],
            "best_loss": [f.metrics["best_loss"] for f in fits],
        }
        # the loss on the search's sphere: decay → target and found → target (great circles)
        decay = (Taylor.from_terms({"x0y0w1": -1.0}), Taylor.from_terms({"x0y0w1": -1.0}))
        profiles[n] = {label: sphere_profile(task, a, ref, scale=s["scale"], l1=s["l1"])
                       for label, a in (("decay (A = B = −w)", decay), ("found (best seed)", best.rule))}
        results["sizes"][str(n)]["sphere_profiles"] = {
            label: {"angle_deg": p["angle_deg"].tolist(), "loss": p["loss"].tolist()}
            for label, p in profiles[n].items()}
    rows = []
    for n, r in results["sizes"].items():
        rows.append((f"{n} → 5: angle A to Oja (°)", ", ".join(f"{a:.1f}" for a in r["angle_A_to_oja_deg"]), "≤ 15 (issue)"))
        rows.append((f"{n} → 5: angle B to anti-Hebb (°)", ", ".join(f"{a:.1f}" for a in r["angle_B_to_anti_hebb_deg"]),
                     "≤ 15 (issue)"))
        rows.append((f"{n} → 5: outputs within 0.1 of ±PC_i (held out)", f"{r['fraction_outputs_within_0.1']:.2f}",
                     f"all (issue); Oja + anti-Hebb here: {r['reference_rules_fraction_within_0.1']:.2f}"))
        rows.append((f"{n} → 5: wall time per seed (s)", ", ".join(f"{t:.0f}" for t in r["seconds"]), "—"))
        for label, p in r["sphere_profiles"].items():
            rows.append((f"{n} → 5: sphere loss {label} → target", f"{p['loss'][0]:.2f} → {p['loss'][-1]:.2f} "
                         f"(max {max(p['loss']):.2f})", "—"))
    print(side_by_side(rows, "confavreux-fig2: Oja + anti-Hebbian from the PC objective"))
    figures = [_plot_runs({f"{n} → 5": v for n, v in runs.items()}, out / "fig2c_loss_angle.png", "Fig. 2C")]
    figures.append(_plot_profiles(profiles, out / "fig2_sphere_landscape.png", s["scale"]))
    for n, fits in runs.items():
        f = fits[0]
        figures.append(figs.plot_coefficients(f.history["theta"], f.names, out / f"fig2b_coefficients_N{n}.png",
                                              highlight=("A:x1y1w0", "A:x0y2w1", "B:x1y1w0"),
                                              title=f"Fig. 2B: A and B over generations ({n} → 5)"))
    results["angles_within_15_deg"] = bool(all(
        min(max(a, b) for a, b in zip(r["angle_A_to_oja_deg"], r["angle_B_to_anti_hebb_deg"])) <= 15.0
        for r in results["sizes"].values()))
    finish(out, "confavreux-fig2", results, dict(s), t0, figures)
    return results


FIG1 = Experiment("confavreux-fig1", "Confavreux et al. 2020, Fig. 1", "Oja's rule meta-learned from the PC1 objective",
                  run_fig1)
FIG2 = Experiment("confavreux-fig2", "Confavreux et al. 2020, Fig. 2",
                  "Oja + anti-Hebbian rules co-meta-learned in a lateral PCA network", run_fig2)
