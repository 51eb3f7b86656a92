"""Speed of the uncertainty methods on the demo setting.

Demo setting (issue 19): Oja's rule in a linear 10 → 20 layer, 24 trajectories × 50 steps,
observation noise σ = 0.05, a 27-term Taylor rule fitted by L-BFGS with the true initial
weights (the likelihood then is a fixed function of the 27 coefficients).

1. one gradient of the log-likelihood (jitted, steady state);
2. the Laplace report after the fit (Hessian + eigen-decomposition + report, compilation
   included);
3. NUTS, 4 chains × 1,000 draws (300 warmup), preconditioned by the Laplace fit: wall time,
   max R-hat, min bulk ESS, divergences;
4. (``--flies``) per-fly NUTS on the 21 real flies of ``../shared/data`` — see
   ``plastinfer reproduce mehta-fly-posterior``.

Targets (issue 19, 2 cores): gradient ≤ 2 ms; Laplace ≤ 5 s; NUTS ≤ 3 min with R-hat < 1.01.

    python benchmarks/uncertainty.py [--draws 1000] [--warmup 300] [--skip-nuts]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--skip-nuts", action="store_true")
    ap.add_argument("--dense-mass", action="store_true",
                    help="adapt a dense mass matrix on top of the Laplace whitening (default: diagonal)")
    args = ap.parse_args()
    out = {"machine": machine()}
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
