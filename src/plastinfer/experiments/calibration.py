"""Are plastinfer's intervals honest? Calibration of the posterior over many simulated data sets.

- ``calibration-activity``: the demo setting (Oja's rule, linear 10 → 20 layer, 24
  trajectories × 50 steps, observation noise σ = 0.05, true initial weights), ``n`` data sets
  with different inputs and noise; a 27-term Taylor rule is fitted by L-BFGS and its Laplace
  posterior taken. Reported: how often the 95 % interval of θ[x·y] (θ110) and θ[y²·w] (θ021)
  covers the truth (1, −1), and the PIT values Φ((truth − mean)/sd), which are uniform when
  the intervals are calibrated (figure: their histograms).
- ``calibration-flies``: ``n`` simulated flies with Δw = x·r − 0.05·w (240 trials, the fly
  circuit), each fitted by the mehta-fly pipeline (per-fly Adam, L1 1e-2), then two posteriors
  of the fixed-initial-weight likelihood with a Gaussian prior (sd 1) on every coefficient:
  Laplace (after 50 L-BFGS iterations to the mode) for every fly, and NUTS (``--quick``: the
  first 10 flies, 2 chains × 400 draws; full: every fly, 4 × 1,000; dense mass matrices), and
  the frequentist likelihood-ratio (profile) interval of the flat-prior likelihood for every fly
  (:func:`~plastinfer.uncertainty.likelihood_ratio` at θ_w = −0.05 and at 0). Reported per
  method: coverage of θ_w = −0.05 by the 95 % interval, how many flies get a *confidently
  wrong* sign (posteriors: P(θ_w < 0) < 0.05; profile: the interval excludes 0 on the positive
  side) while the truth is negative, how many leave the sign open, PIT histograms (profile:
  Φ of the signed root of the likelihood ratio at the truth).

Targets (issue 19): activity coverage 95 ± 7 %; flies coverage 90–99 % and no confidently
wrong sign.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import chi2, norm  # noqa: E402

from ..circuits import ChoiceCircuit, PlasticLayer  # noqa: E402
from ..data import simulate, simulate_choices  # noqa: E402
from ..infer import LBFGS, ActivityProblem, ChoiceFitConfig, Trajectories, choice_problem, fit, fit_choices  # noqa: E402
from ..infer._problem import rule_params  # noqa: E402
from ..rules import Taylor, oja, parse_equation  # noqa: E402
from ..uncertainty import laplace, likelihood_ratio, nuts  # noqa: E402
from . import Experiment  # noqa: E402
from ._common import finish, side_by_side  # noqa: E402

TERMS = {"x1y1w0": 1.0, "x0y2w1": -1.0}
#: the fly rule's coefficients (bias, x, r, x·r, w), as mehta-fly fits them
FLY_TERMS = ("x0w0r0", "x1w0r0", "x0w0r1", "x1w0r1", "x0w1r0")
#: interval methods compared on the simulated flies (profile: the likelihood-ratio interval)
METHODS = ("laplace", "nuts", "profile")


def _pit_figure(pits: dict[str, np.ndarray], path: Path, title: str) -> Path:
    fig, axes = plt.subplots(1, len(pits), figsize=(3.4 * len(pits), 2.8), squeeze=False)
    for ax, (name, p) in zip(axes[0], pits.items()):
        ax.hist(p, bins=np.linspace(0, 1, 11), color="C0", edgecolor="w")
        ax.axhline(len(p) / 10, color="k", ls=":", lw=1)
        ax.set_xlabel(f"PIT of θ[{name}]")
        ax.set_xlim(0, 1)
    axes[0][0].set_ylabel("data sets")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_activity(out: Path, quick: bool = False, progress: bool = True) -> dict:
    out = Path(out)
    t0 = time.perf_counter()
    n = 20 if quick else 50
    circuit = PlasticLayer(n_in=10, n_out=20, nonlinearity="linear", eta=0.05)
    rows = []
    for i in range(n):
        data = simulate(jax.random.PRNGKey(100 + i), circuit, oja(), n_trajectories=24, n_steps=50, input_std=0.5,
                        noise_std=0.05)
        rule0 = Taylor.init(jax.random.PRNGKey(1), variables=("x", "y", "w"), order=2, scale=1e-2)
        p0, static = rule_params(rule0)
        problem = ActivityProblem(circuit, static, Trajectories.from_dataset(circuit, data), None, "true", 0.0,
                                  noise_std=0.05, start=p0)
        res = fit(problem, LBFGS(), {"rule": p0}, steps=300, key=jax.random.PRNGKey(i), chunk=10, patience=3,
                  select="train", progress=False)
        post = laplace(problem, res.params, refine=0)
        row = {"condition_number": post.condition_number}
        for term, truth in TERMS.items():
            j = post.names.index(term)
            m, s = float(post.mean[j]), float(post.sd[j])
            row[term] = {"mean": m, "sd": s, "covered": bool(abs(m - truth) <= 1.96 * s),
                         "pit": float(norm.cdf((truth - m) / s))}
        rows.append(row)
        if progress:
            print(f"[calibration-activity] data set {i + 1}/{n}: " + ", ".join(
                f"θ[{t}] = {row[t]['mean']:.4f} ± {row[t]['sd']:.4f}" for t in TERMS), flush=True)
    results = {"n_datasets": n}
    for term, truth in TERMS.items():
        cov = np.mean([r[term]["covered"] for r in rows])
        z = np.array([(r[term]["mean"] - truth) / r[term]["sd"] for r in rows])
        results[term] = {"truth": truth, "coverage_95": float(cov), "z_mean": float(z.mean()), "z_sd": float(z.std(ddof=1)),
                         "median_sd": float(np.median([r[term]["sd"] for r in rows]))}
    results["median_condition_number"] = float(np.median([r["condition_number"] for r in rows]))
    results["per_dataset"] = rows
    fig = _pit_figure({t: np.array([r[t]["pit"] for r in rows]) for t in TERMS}, out / "pit_activity.png",
                      f"Laplace PIT over {n} simulated activity data sets (uniform = calibrated)")
    print(side_by_side([(f"95 % coverage of θ[{t}] = {v:+g}", f"{results[t]['coverage_95']:.0%} "
                         f"(z sd {results[t]['z_sd']:.2f})", "target 95 ± 7 %") for t, v in TERMS.items()],
                       f"calibration-activity ({n} data sets, Laplace)"))
    finish(out, "calibration-activity", results, {"n": n, "quick": quick}, t0, [fig])
    return results


def run_flies(out: Path, quick: bool = False, progress: bool = True) -> dict:
    out = Path(out)
    t0 = time.perf_counter()
    n = 20 if quick else 60
    n_nuts = 10 if quick else n
    nuts_cfg = (dict(chains=2, warmup=200, draws=400, target_accept=0.9, dense_mass=True) if quick
                else dict(chains=4, warmup=500, draws=1000, target_accept=0.95, dense_mass=True))
    circuit = ChoiceCircuit(readout="two_alternative", window=10)
    truth = parse_equation("x*r - 0.05*w")
    sim = simulate_choices(jax.random.PRNGKey(11), circuit, truth, n)
    zero = Taylor.zeros(("x", "w", "r"), active=FLY_TERMS)
    cfg = ChoiceFitConfig(epochs=150 if quick else 400, learning_rate=1e-2, l1=1e-2, per_subject=True)
    if progress:
        print(f"[calibration-flies] fitting {n} simulated flies (Δw = x·r − 0.05·w), {cfg.epochs} epochs", flush=True)
    res = fit_choices(zero, circuit, sim, config=cfg, progress=progress)
    problem, params = res.extras["problem"], res.extras["params"]
    rows = []
    for i in range(n):
        sub, p_i = problem.subject(i), jax.tree_util.tree_map(lambda a: a[i], params)
        lap = laplace(sub, p_i, prior="gaussian", prior_scale=1.0, refine=50)
        j = lap.names.index("x0w1r0")
        row = {"fit_w": float(res.extras["rules"][i].coefficients()["x0w1r0"]),
               "w_determined_by_data": bool(np.all(lap.determined[np.abs(lap.eigenvectors[j]) > 0.5]))}
        m, sd = float(lap.mean[j]), float(lap.sd[j])
        row["laplace"] = {"mean": m, "sd": sd, "p_negative": 1 - lap.sign_probability("x0w1r0"),
                          "covered": bool(abs(m + 0.05) <= 1.96 * sd), "pit": float(norm.cdf((-0.05 - m) / sd))}
        lr = likelihood_ratio(sub, p_i, "x0w1r0", [-0.05, 0.0])
        excl0 = not bool(lr.inside()[1])
        row["profile"] = {"mode": lr.mode, "lr_truth": float(lr.statistic[0]), "lr_zero": float(lr.statistic[1]),
                          "covered": bool(lr.inside()[0]),
                          "pit": float(norm.cdf(np.sign(-0.05 - lr.mode) * np.sqrt(lr.statistic[0]))),
                          "sign": "open" if not excl0 else ("right" if lr.mode < 0 else "wrong")}
        if i < n_nuts:
            post = nuts(sub, p_i, prior_scale=1.0, key=jax.random.PRNGKey(i), progress=False, pointwise=0, **nuts_cfg)
            lo, hi = post.interval()
            d = post.draws[:, post.names.index("x0w1r0")]
            row["nuts"] = {"mean": float(d.mean()), "sd": float(d.std()), "p_negative": float(np.mean(d < 0)),
                           "covered": bool(lo[j] <= -0.05 <= hi[j]), "pit": float(np.mean(d < -0.05)),
                           "r_hat": float(np.nanmax(post.r_hat())), "divergences": int(sum(post.info["divergences"]))}
        rows.append(row)
        if progress:
            print(f"[calibration-flies] fly {i + 1}/{n}: Laplace θ_w = {m:.3f} ± {sd:.3f}"
                  + (f"; NUTS {row['nuts']['mean']:.3f} ± {row['nuts']['sd']:.3f}" if "nuts" in row else ""), flush=True)
    results = {"n_flies": n, "epochs": cfg.epochs, "n_nuts": n_nuts, "nuts": nuts_cfg,
               "w_determined_by_data": int(sum(r["w_determined_by_data"] for r in rows)),
               "point_estimate_wrong_sign": int(np.sum(np.array([r["fit_w"] for r in rows]) > 0)), "per_fly": rows}
    for r in rows:  # a Bayesian sign: P(θ_w < 0) beyond 0.95 either way
        for m in ("laplace", "nuts"):
            if m in r:
                p_neg = r[m]["p_negative"]
                r[m]["sign"] = "right" if p_neg > 0.95 else "wrong" if p_neg < 0.05 else "open"
    for method in METHODS:
        got = [r[method] for r in rows if method in r]
        signs = [g["sign"] for g in got]
        results[method] = {"n": len(got), "coverage_95": float(np.mean([g["covered"] for g in got])),
                           "confidently_wrong_sign": signs.count("wrong"), "confident_right_sign": signs.count("right"),
                           "sign_open": signs.count("open")}
        if method != "profile":
            results[method]["median_sd_w"] = float(np.median([g["sd"] for g in got]))
    lr = np.array([r["profile"]["lr_truth"] for r in rows])
    results["profile"]["lr_at_truth_mean"] = float(lr.mean())  # χ²₁: mean 1 when calibrated
    results["nuts"]["max_r_hat"] = float(max(r["nuts"]["r_hat"] for r in rows if "nuts" in r))
    fig = _pit_figure({f"w ({m})": np.array([r[m]["pit"] for r in rows if m in r]) for m in METHODS},
                      out / "pit_flies.png", f"PIT of θ_w over simulated flies (Laplace: {n}, NUTS: {n_nuts})")
    fig2 = out / "p_negative_flies.png"
    f, ax = plt.subplots(figsize=(4.5, 2.8))
    for m, c in (("laplace", "C0"), ("nuts", "C1")):
        ax.hist([r[m]["p_negative"] for r in rows if m in r], bins=np.linspace(0, 1, 21), color=c, alpha=0.6, label=m)
    ax.set_xlabel("P(θ_w < 0 | data) per simulated fly (truth −0.05)")
    ax.set_ylabel("flies")
    ax.legend(fontsize=7)
    f.tight_layout()
    f.savefig(fig2, dpi=110)
    plt.close(f)
    table = []
    for m in METHODS:
        r = results[m]
        table += [(f"{m}: 95 % coverage of θ_w = −0.05 ({r['n']} flies)", f"{r['coverage_95']:.0%}", "target 90–99 %"),
                  (f"{m}: confidently wrong sign", str(r["confidently_wrong_sign"]), "target 0"),
                  (f"{m}: sign left open", str(r["sign_open"]), "—")]
    table.append(("point estimate with the wrong sign", f"{results['point_estimate_wrong_sign']}/{n}",
                  "8 of 63 (issue 19)"))
    print(side_by_side(table, f"calibration-flies ({n} simulated flies, Gaussian prior sd 1)"))
    finish(out, "calibration-flies", results, {"n": n, "quick": quick, "epochs": cfg.epochs, **nuts_cfg}, t0,
           [fig, fig2])
    return results


def run_sbc(out: Path, quick: bool = False, progress: bool = True) -> dict:
    """Simulation-based calibration (Talts et al. 2018) of NUTS on the fly likelihood: each
    replicate draws the 5 coefficients from the prior N(0, s²), simulates one fly (240 trials,
    closed loop), and samples the posterior under that same prior. When the sampler and the
    likelihood are right, the rank of the true value among the (thinned) draws is uniform and
    every central interval covers at its nominal rate — whatever the prior, which is what
    separates a sampler error from the prior dependence seen in ``calibration-flies``."""
    out = Path(out)
    t0 = time.perf_counter()
    n = 30 if quick else 100
    scale = 0.5
    n_rank = 99  # thinned draws per replicate: ranks 0..99
    cfg = dict(chains=2, warmup=300, draws=500, target_accept=0.9, dense_mass=True)
    circuit = ChoiceCircuit(readout="two_alternative", window=10)
    zero = Taylor.zeros(("x", "w", "r"), active=FLY_TERMS)
    keys = jax.random.split(jax.random.PRNGKey(2024), n)
    ranks, covered, rows = [], [], []
    for i in range(n):
        k_theta, k_sim, k_nuts = jax.random.split(keys[i], 3)
        truth = scale * np.asarray(jax.random.normal(k_theta, (len(FLY_TERMS),)))
        sim = simulate_choices(k_sim, circuit, zero.with_terms(dict(zip(FLY_TERMS, truth.tolist()))), 1)
        problem, p0, _ = choice_problem(zero, circuit, sim, config=ChoiceFitConfig(l1=0.0))
        post = nuts(problem, p0, key=k_nuts, prior="gaussian", prior_scale=scale, refine=100, progress=False,
                    pointwise=0, **cfg)
        order = [post.names.index(t) for t in FLY_TERMS]
        draws = post.draws[:, order]
        thin = draws[np.linspace(0, len(draws) - 1, n_rank).astype(int)]
        ranks.append(np.sum(thin < truth[None], axis=0))
        lo, hi = np.quantile(draws, 0.025, axis=0), np.quantile(draws, 0.975, axis=0)
        covered.append((lo <= truth) & (truth <= hi))
        rows.append({"truth": truth.tolist(), "r_hat": float(np.nanmax(post.r_hat())),
                     "divergences": int(sum(post.info["divergences"])), "rank": ranks[-1].tolist(),
                     "covered": covered[-1].tolist(), "mean": draws.mean(0).tolist(), "sd": draws.std(0).tolist()})
        if progress:
            print(f"[calibration-sbc] replicate {i + 1}/{n}: θ_w true {truth[-1]:+.3f}, posterior "
                  f"{draws[:, -1].mean():+.3f} ± {draws[:, -1].std():.3f}, R-hat {rows[-1]['r_hat']:.3f}", flush=True)
    ranks, covered = np.array(ranks), np.array(covered)
    bins = 10  # rank histogram bins (n_rank + 1 = 100 ranks, 10 per bin)
    results = {"n_replicates": n, "prior_sd": scale, "nuts": cfg, "per_replicate": rows,
               "max_r_hat": float(max(r["r_hat"] for r in rows)),
               "replicates_r_hat_above_1_01": int(sum(r["r_hat"] > 1.01 for r in rows)),
               "divergences": int(sum(r["divergences"] for r in rows))}
    for j, t in enumerate(FLY_TERMS):
        counts = np.histogram(ranks[:, j], bins=bins, range=(0, n_rank + 1))[0]
        stat = float(np.sum((counts - n / bins) ** 2 / (n / bins)))
        results[t] = {"coverage_95": float(covered[:, j].mean()), "rank_counts": counts.tolist(),
                      "uniformity_p": float(chi2.sf(stat, bins - 1))}
    results["coverage_95_all"] = float(covered.mean())
    # the same where the sampler reports convergence (R-hat < 1.05): what a user who heeds
    # the warnings gets (conditioning on a diagnostic can itself bias SBC a little)
    ok = np.array([r["r_hat"] < 1.05 for r in rows])
    results["converged"] = {"n": int(ok.sum()), "coverage_95_all": float(covered[ok].mean()) if ok.any() else None,
                            **{t: float(covered[ok, j].mean()) if ok.any() else None for j, t in enumerate(FLY_TERMS)}}
    fig, axes = plt.subplots(1, len(FLY_TERMS), figsize=(2.8 * len(FLY_TERMS), 2.6), sharey=True)
    for ax, (j, t) in zip(axes, enumerate(FLY_TERMS)):
        ax.hist(ranks[:, j], bins=bins, range=(0, n_rank + 1), color="C0", edgecolor="w")
        ax.axhline(n / bins, color="k", ls=":", lw=1)
        ax.set_xlabel(f"rank of θ[{t}]")
        ax.set_title(f"p = {results[t]['uniformity_p']:.2f}", fontsize=8)
    axes[0].set_ylabel("replicates")
    fig.suptitle(f"SBC of NUTS on the fly likelihood: {n} replicates, prior N(0, {scale}²) (uniform = calibrated)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "sbc_ranks.png", dpi=110)
    plt.close(fig)
    table = [(f"95 % coverage of θ[{t}] (rank uniformity p)", f"{results[t]['coverage_95']:.0%} "
              f"(p = {results[t]['uniformity_p']:.2f})", "95 % (p not small)") for t in FLY_TERMS]
    table.append(("replicates with R-hat > 1.01", f"{results['replicates_r_hat_above_1_01']}/{n}", "0"))
    if results["converged"]["n"]:
        table.append((f"95 % coverage, all 5, replicates with R-hat < 1.05 ({results['converged']['n']})",
                      f"{results['converged']['coverage_95_all']:.0%}", "95 %"))
    print(side_by_side(table, f"calibration-sbc ({n} replicates, truths from the prior N(0, {scale}²))"))
    finish(out, "calibration-sbc", results, {"n": n, "quick": quick, "prior_sd": scale, **cfg}, t0,
           [out / "sbc_ranks.png"])
    return results


ACTIVITY = Experiment("calibration-activity", "issue 19",
                      "coverage of Laplace intervals over simulated activity data sets (demo setting)", run_activity)
FLIES = Experiment("calibration-flies", "issue 19",
                   "coverage and sign errors of θ_w over simulated flies (x·r − 0.05·w)", run_flies)
SBC = Experiment("calibration-sbc", "issue 19",
                 "simulation-based calibration of NUTS on the fly likelihood (truths drawn from the prior)", run_sbc)
