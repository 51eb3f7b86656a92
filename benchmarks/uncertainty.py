"""Speed of the uncertainty methods on the demo setting.

Demo setting (issue 19): Oja's rule in a linear 10 → 20 layer, 24 trajectories × 50 steps,
observation noise σ = 0.05, a 27-term Taylor rule fitted by L-BFGS with the true initial
weights (the likelihood then is a fixed function of the 27 coefficients).

1. one gradient of the log-likelihood (jitted, steady state);
2. the Laplace report after the fit (Hessian + eigen-decomposition + report, compilation
   included);
3. NUTS, 4 chains × 1,000 draws (300 warmup), preconditioned by the Laplace fit: wall time,
   max R-hat, min bulk ESS, divergences;
4. (``--flies [DIR]``) per-fly NUTS on the 21 real flies (default
   ``../shared/data/rajagopalan-flies``): the 5-coefficient rule (bias, x, r, x·r, w) fitted per
   fly as in ``mehta-fly`` (Adam, 150 epochs, L1 1e-2), then for every fly NUTS 4 chains ×
   1,000 draws (300 warmup, dense mass, Gaussian prior sd 1 — the choice posteriors curve):
   wall time of the 21 posteriors, max R-hat, divergences. The scientific run with both
   models, pooling and LOO is ``plastinfer reproduce mehta-fly-posterior``.

Targets (issue 19, 2 cores): gradient ≤ 2 ms; Laplace ≤ 5 s; NUTS ≤ 3 min with R-hat < 1.01;
NUTS for 21 flies ≤ 5 min.

    python benchmarks/uncertainty.py [--draws 1000] [--warmup 300] [--skip-nuts] [--dense-mass]
    python benchmarks/uncertainty.py --flies [DIR]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import plastinfer as pi
from plastinfer.infer import ActivityProblem, Trajectories
from plastinfer.infer._problem import rule_params
from plastinfer.runs import machine
from plastinfer.uncertainty import laplace, make_target, nuts


def demo_problem():
    circuit = pi.PlasticLayer(n_in=10, n_out=20, nonlinearity="linear", eta=0.05)
    data = pi.simulate(jax.random.PRNGKey(0), circuit, pi.oja(), n_trajectories=24, n_steps=50, input_std=0.5,
                       noise_std=0.05)
    rule0 = pi.Taylor.init(jax.random.PRNGKey(1), variables=("x", "y", "w"), order=2, scale=1e-2)
    p0, static = rule_params(rule0)
    problem = ActivityProblem(circuit, static, Trajectories.from_dataset(circuit, data), None, "true", 0.0,
                              noise_std=0.05, start=p0)
    return problem, {"rule": p0}


def flies(root: str, chains: int, draws: int, warmup: int, n_flies: int | None = None) -> dict:
    """Per-fly NUTS over the real flies (see the module docstring); also one fly's gradient cost
    and the leapfrog steps per draw, whose product bounds the time from below."""
    from pathlib import Path

    data = pi.load_fly_folders(Path(root))
    if n_flies is not None:
        data = data.select(list(range(min(n_flies, data.n_subjects))))
    circuit = pi.ChoiceCircuit(readout="two_alternative", window=10)
    zero = pi.Taylor.zeros(("x", "w", "r"), active=("x0w0r0", "x1w0r0", "x0w0r1", "x1w0r1", "x0w1r0"))
    t = time.perf_counter()
    res = pi.fit_choices(zero, circuit, data, config=pi.ChoiceFitConfig(epochs=150, learning_rate=1e-2, l1=1e-2,
                                                                       per_subject=True), progress=False)
    out = {"flies": data.n_subjects, "fit_seconds": time.perf_counter() - t}
    problem, params = res.extras["problem"], res.extras["params"]
    target = make_target(problem.subject(0), jax.tree_util.tree_map(lambda a: a[0], params), prior="gaussian",
                         prior_scale=1.0)
    grad = jax.jit(jax.grad(target.log_density))
    grad(target.x0).block_until_ready()
    t = time.perf_counter()
    for _ in range(200):
        grad(target.x0).block_until_ready()
    out["gradient_ms_one_fly"] = (time.perf_counter() - t) / 200 * 1e3
    t = time.perf_counter()
    r_hat, div, steps = [], 0, []
    for i in range(data.n_subjects):
        post = nuts(problem.subject(i), jax.tree_util.tree_map(lambda a: a[i], params), key=jax.random.PRNGKey(i),
                    chains=chains, draws=draws, warmup=warmup, prior_scale=1.0, dense_mass=True, pointwise=0,
                    progress=False)
        r_hat.append(float(np.nanmax(post.r_hat())))
        div += int(np.sum(post.info["divergences"]))
        steps.append(post.info["mean_steps"])
        print(f"fly {i + 1}/{data.n_subjects}: {post.info['seconds']:.1f} s, max R-hat {r_hat[-1]:.3f}, "
              f"{steps[-1]:.1f} leapfrog steps per draw", flush=True)
    out.update({"nuts_seconds_all_flies": time.perf_counter() - t, "nuts_chains": chains, "nuts_draws": draws,
                "nuts_warmup": warmup, "max_r_hat": max(r_hat), "flies_r_hat_above_1_01": sum(r > 1.01 for r in r_hat),
                "divergences": div, "mean_leapfrog_steps": float(np.mean(steps))})
    # the gradients alone: every chain's warmup and draws × steps per draw × one gradient, chains on all cores
    import os

    out["gradient_floor_seconds"] = (data.n_subjects * chains * (warmup + draws) * out["mean_leapfrog_steps"]
                                     * out["gradient_ms_one_fly"] / 1e3 / min(chains, len(os.sched_getaffinity(0))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--skip-nuts", action="store_true")
    ap.add_argument("--dense-mass", action="store_true",
                    help="adapt a dense mass matrix on top of the Laplace whitening (default: diagonal)")
    ap.add_argument("--flies", nargs="?", const="../shared/data/rajagopalan-flies", metavar="DIR",
                    help="benchmark per-fly NUTS on the real flies instead of the demo")
    ap.add_argument("--n-flies", type=int, default=None, help="with --flies: only the first N flies")
    args = ap.parse_args()
    out = {"machine": machine()}
    if args.flies:
        out.update(flies(args.flies, args.chains, args.draws, args.warmup, args.n_flies))
        print(json.dumps(out, indent=1))
        print(f"NUTS for {out['flies']} flies ({args.chains} chains × {args.draws} draws each): "
              f"{out['nuts_seconds_all_flies']:.0f} s (target ≤ 300), max R-hat {out['max_r_hat']:.3f}, "
              f"{out['flies_r_hat_above_1_01']} flies with R-hat > 1.01; one gradient {out['gradient_ms_one_fly']:.2f} ms × "
              f"{out['mean_leapfrog_steps']:.1f} steps per draw → gradient floor {out['gradient_floor_seconds']:.0f} s "
              f"— {out['machine']}")
        return
    problem, params0 = demo_problem()
    t = time.perf_counter()
    res = pi.fit(problem, pi.LBFGS(), params0, steps=200, key=jax.random.PRNGKey(0), chunk=10, patience=3,
                 select="train", progress=False)
    out["fit_seconds"] = time.perf_counter() - t
    target = make_target(problem, res.params)
    grad = jax.jit(jax.grad(lambda x: jnp.sum(target.log_likelihood(x))))
    grad(target.x0).block_until_ready()
    t = time.perf_counter()
    for _ in range(50):
        grad(target.x0).block_until_ready()
    out["gradient_ms"] = (time.perf_counter() - t) / 50 * 1e3
    t = time.perf_counter()
    lap = laplace(problem, res.params)
    report = lap.report()
    out["laplace_seconds"] = time.perf_counter() - t
    out["condition_number"] = lap.condition_number
    print(report)
    if not args.skip_nuts:
        post = nuts(problem, res.params, key=jax.random.PRNGKey(1), chains=args.chains, warmup=args.warmup,
                    draws=args.draws, progress=True,
                    dense_mass=args.dense_mass)
        out.update({"nuts_seconds": post.info["seconds"], "nuts_warmup_seconds": post.info["warmup_seconds"],
                    "nuts_chains": args.chains, "nuts_draws": args.draws, "nuts_warmup": args.warmup,
                    "dense_mass": post.info["dense_mass"],
                    "max_r_hat": float(np.nanmax(post.r_hat())), "min_ess_bulk": float(np.min(post.ess("bulk"))),
                    "divergences": int(np.sum(post.info["divergences"])), "mean_leapfrog_steps": post.info["mean_steps"],
                    "sd_ratio_nuts_over_laplace": [float(np.min(post.sd / lap.sd)), float(np.max(post.sd / lap.sd))]})
    print(json.dumps(out, indent=1))
    print(f"gradient {out['gradient_ms']:.2f} ms (target ≤ 2); Laplace {out['laplace_seconds']:.1f} s (target ≤ 5)"
          + ("" if args.skip_nuts else f"; NUTS {out['nuts_seconds']:.0f} s (target ≤ 180), max R-hat "
             f"{out['max_r_hat']:.4f}") + f" — {out['machine']}")


if __name__ == "__main__":
    main()
