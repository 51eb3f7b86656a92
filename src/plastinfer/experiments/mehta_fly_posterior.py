"""``mehta-fly-posterior``: how much to believe the real flies' ``w`` term (issue 19).

The mehta-fly reproduction fits the rule ``θ000 + θ100·x + θ001·r + θ101·x·r (+ θ010·w)`` to
each of the 21 flies and reads the sign of the ``w`` coefficient from point estimates. Here
the same per-fly fits (same pipeline, same data) get posteriors:

1. per fly, NUTS posteriors of both rules (Gaussian prior sd 1 on every coefficient; the
   fixed-initial-weight likelihood): ``P(θ_w < 0 | data)`` and its interval; the Laplace
   approximation beside it, and whether the fly's data determine ``θ_w`` at all (the
   likelihood's curvature along it);
2. across flies, partial pooling from the per-fly draws
   (:func:`~plastinfer.uncertainty.hierarchical_from_samples`): the population mean ``μ_w``
   with a 95 % credible interval and ``P(μ_w < 0)``;
3. model comparison, with-w vs without-w: PSIS-LOO per fly (per trial, summed), paired
   Wilcoxon over flies and the total difference with its standard error.

The conclusion is printed either way.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..analysis import paired_comparison  # noqa: E402
from ..data import load_fly_folders  # noqa: E402
from ..errors import PlastinferInputError  # noqa: E402
from ..infer import ChoiceFitConfig, choice_problem  # noqa: E402
from ..infer._problem import rule_params  # noqa: E402
from ..infer.behavior import stack_rules  # noqa: E402
from ..uncertainty import hierarchical_from_samples, laplace, nuts, population_summary  # noqa: E402
from . import Experiment  # noqa: E402
from ._common import finish, side_by_side  # noqa: E402
from .mehta_fly import DEFAULT_DATA, FULL, QUICK, W_TERM, _fit  # noqa: E402

PAPER = {"w_sign": "negative (θ_w < 0 in the flies the model fits well)", "with_vs_without_w_p": 5e-5}


def _posteriors(model: str, flies, s: dict, progress: bool, warm=None):
    circuit, rules, coefs, dev, _ = _fit(model, flies, s, progress, warm=warm)
    cfg = ChoiceFitConfig(epochs=s["epochs"], learning_rate=s["learning_rate"], l1=s["l1"], per_subject=True,
                          seed=s["seed"])
    problem, _, _ = choice_problem(rules, circuit, flies, config=cfg)
    params = rule_params(stack_rules(rules))[0]
    return problem, params, rules


def run(out: Path, quick: bool = False, progress: bool = True, data: str | Path | None = None) -> dict:
    out = Path(out)
    s = QUICK if quick else FULL
    t0 = time.perf_counter()
    root = Path(data) if data is not None else DEFAULT_DATA
    if not root.exists():
        raise PlastinferInputError(f"{root}: no such folder (pass --data DIR, a folder of per-fly folders)")
    flies = load_fly_folders(root)
    n = flies.n_subjects
    print(f"[mehta-fly-posterior] {n} flies from {root}; per-fly fits ({s['epochs']} epochs) as in mehta-fly")
    prob0, par0, rules0 = _posteriors("without_w", flies, s, progress)
    prob1, par1, _ = _posteriors("with_w", flies, s, progress, warm=rules0)

    # 1. per-fly posteriors: NUTS (the Laplace approximation is also recorded: on some flies the
    #    posterior is far from Gaussian, see docs/uncertainty.md)
    nuts_cfg = (dict(chains=2, warmup=200, draws=300, target_accept=0.9, dense_mass=True) if quick
                else dict(chains=4, warmup=500, draws=1000, target_accept=0.95, dense_mass=True))
    posts, per_fly = {"without_w": [], "with_w": []}, []
    t1 = time.perf_counter()
    for i in range(n):
        for name, prob, par in (("without_w", prob0, par0), ("with_w", prob1, par1)):
            sub, p_i = prob.subject(i), jax.tree_util.tree_map(lambda a: a[i], par)
            posts[name].append(nuts(sub, p_i, prior_scale=1.0, key=jax.random.PRNGKey(i), progress=False, **nuts_cfg))
        post = posts["with_w"][-1]
        lap = laplace(prob1.subject(i), jax.tree_util.tree_map(lambda a: a[i], par1), prior="gaussian",
                      prior_scale=1.0, refine=50)
        j = post.names.index(W_TERM)
        d = post.draws[:, j]
        lo, hi = post.interval()
        loading = np.abs(lap.eigenvectors[j])
        per_fly.append({"mean": float(d.mean()), "sd": float(d.std()), "lo95": float(lo[j]), "hi95": float(hi[j]),
                        "p_negative": float(np.mean(d < 0)), "r_hat": float(np.nanmax(post.r_hat())),
                        "divergences": int(sum(post.info["divergences"])),
                        "laplace_mean": float(lap.mean[j]), "laplace_sd": float(lap.sd[j]),
                        "w_undetermined_by_data": bool(np.any(loading[~lap.determined] > 0.5)),
                        "loo_with_w": posts["with_w"][-1].loo()["elpd"],
                        "loo_without_w": posts["without_w"][-1].loo()["elpd"]})
        if progress:
            f = per_fly[-1]
            print(f"[mehta-fly-posterior] fly {i + 1}/{n}: θ_w = {f['mean']:.3f} ± {f['sd']:.3f}, "
                  f"P(θ_w < 0) = {f['p_negative']:.2f}; LOO with − without w = "
                  f"{f['loo_with_w'] - f['loo_without_w']:+.2f}", flush=True)
    nuts_seconds = time.perf_counter() - t1
    p_neg = np.array([f["p_negative"] for f in per_fly])

    # 2. population, from the per-fly draws
    pop_post = hierarchical_from_samples(posts["with_w"], key=jax.random.PRNGKey(0), mu_scale=1.0, tau_scale=1.0)
    pop = population_summary(pop_post)
    mu_row = pop.loc[f"mu[{W_TERM}]"]
    p_mu_neg = 1 - pop_post.sign_probability(f"mu[{W_TERM}]")
    # 3. LOO per fly and in total
    d_all = np.array([f["loo_with_w"] - f["loo_without_w"] for f in per_fly])
    ok = np.isfinite(d_all)  # a fly whose draws overflowed the likelihood has no LOO (reported)
    d_loo = d_all[ok]
    test = paired_comparison([f["loo_without_w"] for f, g in zip(per_fly, ok) if g],
                             [f["loo_with_w"] for f, g in zip(per_fly, ok) if g], names=("without_w", "with_w"))
    total = float(d_loo.sum())
    se_total = float(np.sqrt(len(d_loo)) * np.std(d_loo, ddof=1))
    comps = {"nuts": nuts_cfg, "nuts_seconds_both_models": nuts_seconds,
             "population_min_effective_draws": pop_post.info["min_effective_draws"]}
    if p_mu_neg > 0.975:
        verdict_mu = f"the population mean of θ_w is negative (P = {p_mu_neg:.3f})"
    elif p_mu_neg < 0.025:
        verdict_mu = f"the population mean of θ_w is positive (P(μ_w < 0) = {p_mu_neg:.3f})"
    else:
        verdict_mu = f"the data do not decide the sign of the population mean of θ_w (P(μ_w < 0) = {p_mu_neg:.2f})"
    verdict_loo = ("adding the w term improves held-out (LOO) prediction" if total > 2 * se_total else
                   "adding the w term worsens held-out (LOO) prediction" if total < -2 * se_total else
                   "with-w and without-w predict held-out trials equally well (LOO difference within 2 se)")
    results = {
        "n_flies": n,
        "per_fly": per_fly,
        "p_w_negative_per_fly": p_neg.tolist(),
        "flies_confidently_negative": int(np.sum(p_neg > 0.95)),
        "flies_confidently_positive": int(np.sum(p_neg < 0.05)),
        "flies_sign_open": int(np.sum((p_neg >= 0.05) & (p_neg <= 0.95))),
        "flies_w_undetermined_by_data": int(sum(f["w_undetermined_by_data"] for f in per_fly)),
        "flies_laplace_far_from_nuts": int(sum(abs(f["laplace_mean"] - f["mean"]) > f["sd"] for f in per_fly)),
        "population_mu_w": {"mean": float(mu_row["mean"]), "sd": float(mu_row["sd"]), "lo95": float(mu_row["2.5%"]),
                            "hi95": float(mu_row["97.5%"]), "p_negative": float(p_mu_neg),
                            "r_hat": float(mu_row["r_hat"])},
        "population_tau_w": float(pop.loc[f"tau[{W_TERM}]", "mean"]),
        "model_comparison": comps,
        "loo_difference_with_minus_without": {"total": float(total), "se": se_total,
                                              "flies_without_loo": [i for i, g in enumerate(ok) if not g],
                                              "flies_better_with_w": int(np.sum(d_loo > 0)),
                                              "wilcoxon_p": test.get("p_value")},
        "verdict_population": verdict_mu, "verdict_loo": verdict_loo,
    }
    # figures
    figs = []
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    order = np.argsort([f["mean"] for f in per_fly])
    m = np.array([per_fly[i]["mean"] for i in order])
    err = np.array([[per_fly[i]["mean"] - per_fly[i]["lo95"], per_fly[i]["hi95"] - per_fly[i]["mean"]] for i in order]).T
    und = np.array([per_fly[i]["w_undetermined_by_data"] for i in order])
    x = np.arange(n)
    ax.errorbar(x[~und], m[~und], yerr=err[:, ~und], fmt="o", color="C0", label="θ_w determined by data")
    ax.errorbar(x[und], m[und], yerr=err[:, und], fmt="o", color="C3", label="not determined (prior)")
    ax.axhline(0, color="k", lw=0.6)
    ax.axhspan(float(mu_row["2.5%"]), float(mu_row["97.5%"]), color="C2", alpha=0.25, label="population mean, 95 %")
    ax.set_xlabel("fly (sorted)")
    ax.set_ylabel("θ_w  (NUTS, 95 % interval)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    figs.append(out / "w_per_fly.png")
    fig.savefig(figs[-1], dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 3.0))
    ax.bar(np.arange(len(d_loo)), np.sort(d_loo), color=np.where(np.sort(d_loo) > 0, "C0", "C3"))
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("fly (sorted)")
    ax.set_ylabel("LOO elpd: with-w − without-w")
    fig.tight_layout()
    figs.append(out / "loo_difference.png")
    fig.savefig(figs[-1], dpi=110)
    plt.close(fig)

    print(side_by_side([
        ("flies with P(θ_w < 0) > 0.95", f"{results['flies_confidently_negative']}/{n}", "—"),
        ("flies with P(θ_w < 0) < 0.05", f"{results['flies_confidently_positive']}/{n}", "—"),
        ("flies whose data do not determine θ_w", f"{results['flies_w_undetermined_by_data']}/{n}", "—"),
        ("population mean μ_w (95 %)", f"{mu_row['mean']:.3f} [{mu_row['2.5%']:.3f}, {mu_row['97.5%']:.3f}]",
         PAPER["w_sign"]),
        ("P(μ_w < 0)", f"{p_mu_neg:.3f}", "—"),
        ("LOO elpd with-w − without-w", f"{total:.1f} ± {se_total:.1f} ({int(np.sum(d_loo > 0))}/{len(d_loo)} flies "
                                        f"better{'' if ok.all() else f'; {int((~ok).sum())} without LOO'})",
         f"in-sample deviance p = {PAPER['with_vs_without_w_p']:g}"),
    ], f"mehta-fly-posterior ({n} flies)"))
    print(f"[mehta-fly-posterior] {verdict_mu}; {verdict_loo}")
    finish(out, "mehta-fly-posterior", results, {**s, **nuts_cfg, "prior_sd": 1.0}, t0, figs)
    return results


EXPERIMENT = Experiment("mehta-fly-posterior", "Mehta et al. 2024 + issue 19",
                        "real flies: per-fly P(θ_w < 0), population interval, LOO with vs without w", run,
                        options=("data",))
