"""``mehta-fig2``: recovering Oja's rule from simulated neural activity (Mehta et al. 2024, Fig. 2).

Setting (appendix A.3): 100 inputs, 1000 sigmoid outputs, 50 training trajectories of 50
steps, inputs ``N(0, 0.1)``, Kaiming-normal initial weights resampled for the model, a
27-term Taylor rule initialised ``N(0, 1e-4)``, Adam (lr 1e-3), gradient clipping 0.2, no
regularisation, ground truth Oja. Held-out evaluation on 10 further trajectories.

What it runs and writes (``metrics.json → results``):

1. ``theta``, ``r2_weights``, ``r2_activity``: the paper's protocol on clean data with all
   units recorded; figures ``fig2b_weight_error.png``, ``fig2c_coefficients.png``.
2. ``grid``: held-out R² of weights over noise × fraction recorded (Fig. 2D,
   ``fig2d_grid.png``) and its first row/column across seeds (Fig. 2E/F, ``fig2ef_*.png``).
3. ``conditioning``: why the coefficients are hard to pin down in this setting — the
   condition number of the monomials' Gram matrix along true trajectories, and the share of
   the fitted coefficients' error that lies in its weakest directions.
4. ``fixes``: second-order fits of the same data. Trajectory fitting is nonlinear least
   squares over 27 collinear monomials, so Levenberg–Marquardt (``solver="lm"``) follows the
   ill-conditioned valley that Adam crawls along: (a) with the true initial weights it
   recovers Oja to numerical precision; (b) with resampled initial weights it fits one fixed
   draw per trajectory (a sample-average approximation of the paper's protocol) and reports
   what that identifies; (c) full-batch L-BFGS with initial weights fitted as latent
   parameters — which cannot work here: with 100 inputs and 50 steps a *static* weight row
   fits any unit's 50 activities exactly, so the latent weights absorb the data (loss ≈ 0)
   and leave the rule no signal.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import numpy as np

from ..analysis import coefficient_conditioning, error_in_weak_directions
from ..analysis import figures as figs
from ..circuits import PlasticLayer
from ..data import simulate
from ..infer import TrajectoryFitConfig, fit_trajectory
from ..rules import Taylor, oja
from . import Experiment
from ._common import finish, side_by_side

FULL = dict(n_in=100, n_out=1000, n_train=50, n_test=10, n_steps=50, epochs=100, grid_epochs=30,
            noise=(0.0, 0.1, 0.5, 1.0), fractions=(1.0, 0.5, 0.25, 0.1), seeds=2, lm_iters=15, latent_iters=30)
QUICK = dict(n_in=100, n_out=100, n_train=20, n_test=5, n_steps=50, epochs=30, grid_epochs=15,
             noise=(0.0, 1.0), fractions=(1.0, 0.25), seeds=1, lm_iters=12, latent_iters=5)


def _oja_error(coefs: dict) -> tuple[float, float, float]:
    """(|θ110 − 1|, |θ021 + 1|, max |other θ|)."""
    others = [abs(v) for k, v in coefs.items() if k not in ("x1y1w0", "x0y2w1")]
    return abs(coefs["x1y1w0"] - 1.0), abs(coefs["x0y2w1"] + 1.0), max(others)


def _data(seed, s, noise=0.0, fraction=1.0):
    circuit = PlasticLayer(s["n_in"], s["n_out"], "sigmoid", eta=1.0)
    d = simulate(jax.random.PRNGKey(seed), circuit, oja(), s["n_train"] + s["n_test"], s["n_steps"],
                 input_std=math.sqrt(0.1), noise_std=noise, fraction_recorded=fraction)
    train, test = d.split(s["n_test"])
    return circuit, train, test


def _fit(circuit, train, test, epochs, seed, progress, **kw):
    rule0 = Taylor.init(jax.random.PRNGKey(1000 + seed), scale=1e-2)  # N(0, 1e-4)
    cfg = TrajectoryFitConfig(epochs=epochs, learning_rate=1e-3, clip=0.2, l1=0.0, seed=seed, **kw)
    return fit_trajectory(rule0, circuit, train, test=test, config=cfg, progress=progress)


def _identifiability(rule, circuit, train) -> dict:
    """The Laplace report of the fitted rule on the training data with the true initial weights
    (σ profiled): which coefficient combinations the data determine, how far Oja lies from the
    fit in the curvature's metric, and how much of the coefficient gap lies in the five least
    determined directions."""
    from ..infer import activity_problem
    from ..infer._problem import rule_params
    from ..uncertainty import laplace

    problem, params, _ = activity_problem(rule, circuit, train, config=TrajectoryFitConfig(init_weights="true"))
    lap = laplace(problem, {**params, "rule": rule_params(rule)[0]})
    gap = np.asarray(oja().effective_theta()).ravel() - lap.mean
    proj = lap.eigenvectors.T @ gap  # gap in eigen-coordinates (ascending curvature)
    weak = float(np.sum(proj[:5] ** 2) / max(np.sum(proj**2), 1e-30))
    dirs = lap.identifiable_directions()
    return {
        "condition_number": lap.condition_number,
        "n_determined": int(lap.determined.sum()),
        "least_determined": [{"direction": d["direction"], "sd": d["sd"]} for d in dirs[-3:]],
        "best_determined": [{"direction": d["direction"], "sd": d["sd"]} for d in dirs[:3]],
        "oja_gap_share_in_5_weakest_directions": weak,
        "oja_gap_euclidean": float(np.linalg.norm(gap)),
        "oja_gap_in_posterior_sds": float(np.sqrt(max(gap @ lap.hessian @ gap, 0.0))),
        "report": lap.report() + "\n  least determined: " + "; ".join(
            f"{d['direction']} (±{d['sd']:.3g})" for d in dirs[-3:]),
    }


def run(out: Path, quick: bool = False, progress: bool = True) -> dict:
    out = Path(out)
    s = QUICK if quick else FULL
    t0 = time.perf_counter()
    say = print

    # 1. the paper's protocol, clean data, all units
    say(f"[mehta-fig2] 1/4 paper protocol: {s['n_in']}→{s['n_out']} sigmoid, {s['n_train']} trajectories × "
        f"{s['n_steps']} steps, {s['epochs']} epochs of Adam")
    circuit, train, test = _data(0, s)
    main = _fit(circuit, train, test, s["epochs"], 0, progress)
    coefs = main.rule.coefficients()
    e110, e021, other = _oja_error(coefs)
    figures = [
        figs.plot_weight_error(main.history["weight_error"], out / "fig2b_weight_error.png"),
        figs.plot_coefficients(main.history["theta"], main.names, out / "fig2c_coefficients.png",
                               title="Fig. 2C: coefficients (paper protocol)"),
    ]

    # 2. conditioning of the coefficients along true trajectories
    say("[mehta-fig2] 2/4 conditioning of the 27 monomials along the true trajectories")
    cond = coefficient_conditioning(Taylor.zeros(), circuit, oja(), train.init_weights[0], train.stimuli[0])
    theta_true = np.asarray(oja().effective_theta()).ravel()
    theta_fit = np.asarray(main.rule.effective_theta()).ravel()
    weak = error_in_weak_directions(theta_fit, theta_true, cond, n_weak=5)
    conditioning = {
        "condition_number": cond["condition"],
        "smallest_eigenvalues": cond["eigenvalues"][:5].tolist(),
        "largest_eigenvalue": float(cond["eigenvalues"][-1]),
        "error_share_in_5_weakest_directions": weak,
        "activity_std_across_units_t0": float(np.std(test.activity[:, 0], axis=1).mean()),
        "activity_std_across_units_tlast": float(np.std(test.activity[:, -1], axis=1).mean()),
    }

    # baselines: how lenient is R² of weights here?
    from ..infer import evaluate

    baselines = {
        "no plasticity (Δw = 0)": evaluate(Taylor.zeros(), circuit, test, truth=oja())["r2_weights"],
        "Oja with y frozen at 0.5 (Δw = 0.5·x − 0.25·w)": evaluate(
            Taylor.from_terms({"x1y0w0": 0.5, "x0y0w1": -0.25}), circuit, test, truth=oja())["r2_weights"],
    }
    conditioning["r2_weights_baselines"] = baselines

    # 3. grid over noise × fraction recorded
    say(f"[mehta-fig2] 3/4 grid: noise {list(s['noise'])} × fraction {list(s['fractions'])} × {s['seeds']} seed(s)")
    grid = np.full((len(s["noise"]), len(s["fractions"]), s["seeds"]), np.nan)
    for i, noise in enumerate(s["noise"]):
        for j, frac in enumerate(s["fractions"]):
            if s["seeds"] > 1 and i > 0 and j > 0:
                seeds = [0]  # several seeds only along the first row and column (Fig. 2E, F)
            else:
                seeds = range(s["seeds"])
            for k in seeds:
                c, tr, te = _data(100 + k, s, noise, frac)
                r = _fit(c, tr, te, s["grid_epochs"], k, False)
                grid[i, j, k] = r.metrics["test_r2_weights"]
            say(f"    noise {noise:<5g} fraction {frac:<5g} R²(weights) = {np.nanmean(grid[i, j]):.3f}")
    grid_mean = np.nanmean(grid, axis=2)
    figures.append(figs.plot_r2_grid(grid_mean, s["noise"], s["fractions"], out / "fig2d_grid.png",
                                     title="Fig. 2D: R² of weights (held out)"))
    figures.append(figs.plot_boxes({f"{n:g}": grid[i, 0][~np.isnan(grid[i, 0])] for i, n in enumerate(s["noise"])},
                                   out / "fig2e_noise.png", "noise std (all units)", "Fig. 2E"))
    figures.append(figs.plot_boxes({f"{f:g}": grid[0, j][~np.isnan(grid[0, j])] for j, f in enumerate(s["fractions"])},
                                   out / "fig2f_fraction.png", "fraction recorded (no noise)", "Fig. 2F"))

    # 4. second-order fits: Levenberg–Marquardt with true / resampled initial weights; L-BFGS with latent ones
    say(f"[mehta-fig2] 4/4 Levenberg–Marquardt ({s['lm_iters']} iterations; true and resampled initial weights), "
        f"L-BFGS ({s['latent_iters']} iterations; latent initial weights)")
    fixes = {}
    for mode, solver, iters in (("true", "lm", s["lm_iters"]), ("resample", "lm", s["lm_iters"]),
                                ("latent", "lbfgs", s["latent_iters"])):
        t_fix = time.perf_counter()
        r = _fit(circuit, train, test, iters, 0, progress, solver=solver, init_weights=mode, select_every=1)
        c = r.rule.coefficients()
        a, b, o = _oja_error(c)
        fixes[mode] = {"solver": solver, "theta_x1y1w0": c["x1y1w0"], "theta_x0y2w1": c["x0y2w1"], "max_other_abs": o,
                       "within_0.1_of_oja": bool(a <= 0.1 and b <= 0.1),
                       "r2_weights": r.metrics["test_r2_weights"], "r2_activity": r.metrics["test_r2_activity"],
                       "equation": r.rule.equation(threshold=0.05), "theta": c, "iterations": iters,
                       "first_loss": float(r.history["loss"][0]), "final_loss": float(r.history["loss"][-1]),
                       "seconds": time.perf_counter() - t_fix}
        say(f"    {solver:>5} {mode:<8} θ110 {c['x1y1w0']:+.3f}  θ021 {c['x0y2w1']:+.3f}  max|other| {o:.3f}  "
            f"({fixes[mode]['seconds']:.0f} s)")
        figures.append(figs.plot_coefficients(r.history["theta"], r.names, out / f"fix_{mode}_coefficients.png",
                                              title=f"{'Levenberg–Marquardt' if solver == 'lm' else 'L-BFGS'}, "
                                                    f"{mode} initial weights"))

    # 5. identifiability: the curvature of the data fit around the fitted rule (true initial weights)
    say("[mehta-fig2] identifiability report at the fitted rule (Laplace, true initial weights, σ profiled)")
    ident = _identifiability(main.rule, circuit, train)
    say(ident.pop("report"))

    results = {
        "theta": coefs,
        "identifiability": ident,
        "equation": main.rule.equation(threshold=0.05),
        "r2_weights": main.metrics["test_r2_weights"],
        "r2_activity": main.metrics["test_r2_activity"],
        "oja_recovered": bool(e110 <= 0.2 and e021 <= 0.2 and other < 0.1),
        "grid": {"noise_std": list(s["noise"]), "fraction_recorded": list(s["fractions"]),
                 "r2_weights": grid_mean.tolist(), "r2_weights_per_seed": grid.tolist()},
        "conditioning": conditioning,
        "fixes": fixes,
        "lm_true_within_0.1_of_oja": fixes["true"]["within_0.1_of_oja"],
        "seconds_per_epoch": main.metrics["train_seconds"] / max(1, s["epochs"]),
    }
    rows = [
        ("θ110 (x·y)", f"{coefs['x1y1w0']:+.3f}", "→ +1"),
        ("θ021 (y²·w)", f"{coefs['x0y2w1']:+.3f}", "→ −1"),
        ("max |other θ|", f"{other:.3f}", "→ 0"),
        ("R² weights (held out)", f"{results['r2_weights']:.3f}", "≈ 1 (Fig. 2D, no noise, all units)"),
        ("R² activity (held out)", f"{results['r2_activity']:.3f}", "not reported"),
        ("R² weights, noise max", f"{grid_mean[-1, 0]:.3f}", "falls with noise (Fig. 2E)"),
        ("R² weights, fewest units", f"{grid_mean[0, -1]:.3f}", "high down to 50 % (Fig. 2F)"),
        ("condition number", f"{cond['condition']:.3g}", "not reported"),
        ("Oja's distance from the fit, posterior sds", f"{ident['oja_gap_in_posterior_sds']:.3g}", "—"),
        ("share of the gap in the 5 weakest directions", f"{ident['oja_gap_share_in_5_weakest_directions']:.2f}", "—"),
        ("R² weights, Δw = 0.5x − 0.25w", f"{baselines['Oja with y frozen at 0.5 (Δw = 0.5·x − 0.25·w)']:.3f}", "—"),
        ("LM, true w0: θ110/θ021", f"{fixes['true']['theta_x1y1w0']:+.3f}/{fixes['true']['theta_x0y2w1']:+.3f}",
         "+1/−1 within 0.1 (issue 21)"),
        ("LM, resampled w0 (one draw): θ110/θ021",
         f"{fixes['resample']['theta_x1y1w0']:+.3f}/{fixes['resample']['theta_x0y2w1']:+.3f}", "Fig. 2C: → +1/−1"),
        ("LM, resampled w0: max |other θ|", f"{fixes['resample']['max_other_abs']:.3f}", "→ 0"),
        ("L-BFGS, latent w0: θ110/θ021", f"{fixes['latent']['theta_x1y1w0']:+.2f}/{fixes['latent']['theta_x0y2w1']:+.2f}",
         "—"),
    ]
    say(side_by_side(rows, f"mehta-fig2{' (quick)' if quick else ''}: ours vs paper"))
    say(f"fitted (paper protocol): {results['equation']}")
    payload = finish(out, "mehta-fig2", results, {"quick": quick, **{k: list(v) if isinstance(v, tuple) else v for k, v in s.items()}},
                     t0, figures)
    say(f"wrote {out / 'metrics.json'} and {len(figures)} figures in {payload['seconds']:.0f} s")
    return payload


EXPERIMENT = Experiment("mehta-fig2", "Mehta et al. 2024", "recover Oja's rule from activity; R² over noise × sparsity (Fig. 2)", run)
