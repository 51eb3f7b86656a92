"""Speed of function meta-learning (Confavreux et al. 2020, §3.1).

1. Wall time until the meta-learned rule is within 10° of Oja's rule for a linear neuron
   with N = 100 inputs (27-term Taylor rule from N(0, 0.1²), 20 data sets of 200 samples
   per generation — PC1 variance 2, others 0.1 —, 200 batch steps, L1 0.05) — target under 2 minutes on 2 CPU cores —
   with CMA-ES (the paper's method; the CMA-ES mean; with ``--ipop R``, R restarts with
   doubled populations from the best so far, each of ``--max-generations``) and with
   gradient meta-learning (Adam, learning rate 0.01, through the inner loop).
2. Candidate-rule evaluations per second (one evaluation = one inner loop: a circuit
   learning on one data set), population × data sets in one ``vmap``, for N = 100 and for
   N = 1000 (an order of magnitude beyond the paper's largest network).

    python benchmarks/meta_learning.py [--max-generations 1500] [--ipop 2] [--sizes 3,100] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import jax

from plastinfer import Taylor, oja
from plastinfer.runs import machine
from plastinfer.circuits import PlasticLayer
from plastinfer.objectives import FunctionTask, GaussianDatasets


def fig1_task(n: int, n_steps: int, n_datasets: int) -> FunctionTask:
    """The confavreux-fig1 setting: one linear neuron, η = 1/20, PC1 variance 2 (docs/confavreux.md)."""
    return FunctionTask(PlasticLayer(n, 1, "linear", eta=1 / 20, init_std=0.1), GaussianDatasets(n, top=(2.0,)),
                        n_steps=n_steps, n_datasets=n_datasets)
from plastinfer.errors import ConfigError
from plastinfer.infer import MetaConfig, meta_fit


def time_to_oja(n: int, max_generations: int, n_steps: int, n_datasets: int, method: str = "CMA_ES",
                ipop: int = 0) -> dict:
    task = fig1_task(n, n_steps, n_datasets)
    start = Taylor.init(jax.random.PRNGKey(100), scale=0.1)
    cfg = MetaConfig(method=method, generations=max_generations, l1=0.05, sigma_init=0.1, learning_rate=0.01,
                     stop_angle_deg=10.0, restarts=0 if method == "gradient" else ipop)
    t0 = time.perf_counter()
    res = meta_fit(start, task, config=cfg, reference=oja(), progress=False)
    wall = time.perf_counter() - t0
    return {"n_inputs": n, "method": method, "reached_10_deg": bool(res.metrics["angle_deg"] <= 10.0),
            "final_angle_deg": res.metrics["angle_deg"], "generations": res.metrics["generations_run"],
            "seconds": wall, "first_generation_seconds_incl_compile": res.metrics["first_generation_seconds"],
            "evaluations_per_second": res.metrics["evaluations_per_second"], "equation": res.rule.equation(),
            "population_sizes": res.metrics["population_sizes"], "inner_loops": res.metrics["evaluations"]}


def throughput(n: int, population: int = 16, n_datasets: int = 20, n_steps: int = 200) -> dict:
    task = fig1_task(n, n_steps, n_datasets)
    base = Taylor.init(jax.random.PRNGKey(0), scale=0.1)
    thetas = 0.1 * jax.random.normal(jax.random.PRNGKey(1), (population,) + base.theta.shape)
    f = jax.jit(jax.vmap(lambda th, k: task.loss(Taylor(th, base.variables, base.order, base.active), k),
                         in_axes=(0, None)))
    jax.block_until_ready(f(thetas, jax.random.PRNGKey(2)))
    t0 = time.perf_counter()
    reps = 3
    for i in range(reps):
        jax.block_until_ready(f(thetas, jax.random.PRNGKey(3 + i)))
    dt = (time.perf_counter() - t0) / reps
    return {"n_inputs": n, "population": population, "datasets": n_datasets, "inner_steps": n_steps,
            "seconds_per_generation": dt, "evaluations_per_second": population * n_datasets / dt}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-generations", type=int, default=1500)
    p.add_argument("--methods", default="CMA_ES,gradient", help="comma-separated meta-optimisers to time")
    p.add_argument("--ipop", type=int, default=0, help="CMA-ES restarts with doubled populations (IPOP)")
    p.add_argument("--sizes", default=None, help="comma-separated input counts for time-to-Oja (default 3,100)")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--quick", action="store_true", help="N = 3 time-to-Oja only, and N = 100 throughput")
    args = p.parse_args()
    methods = args.methods.split(",")
    for method in methods:
        try:
            MetaConfig(method=method)
        except ConfigError as e:
            p.error(str(e))
    m = machine()
    print(f"machine: {m['device']} ({m['platform']}), {m['cpu_count']} CPUs, jax {m['jax']}")
    sizes = (3,) if args.quick else (3, 100)
    if args.sizes:
        sizes = tuple(int(v) for v in args.sizes.split(","))
    out = {"machine": m, "time_to_oja": [], "throughput": []}
    for n in sizes:
        for method in methods:
            r = time_to_oja(n, args.max_generations, 200, 20, method, args.ipop)
            out["time_to_oja"].append(r)
            status = "reached" if r["reached_10_deg"] else "NOT reached"
            unit = "steps" if method == "gradient" else "generations"
            pops = "" if method == "gradient" else f", populations {r['population_sizes']}"
            print(f"N = {n}, {method}: 10° to Oja {status} after {r['generations']} {unit}{pops}, {r['seconds']:.1f} s "
                  f"(final {r['final_angle_deg']:.1f}°; {r['inner_loops']} inner loops, "
                  f"{r['evaluations_per_second']:.0f}/s)"
                  + ("   target < 120 s" if n == 100 else ""), flush=True)
    for n in (() if args.skip_throughput else (100,) if args.quick else (100, 1000)):
        t = throughput(n)
        out["throughput"].append(t)
        print(f"throughput N = {n}: {t['evaluations_per_second']:.0f} inner loops/s "
              f"({t['seconds_per_generation']:.2f} s per generation of {t['population']} × {t['datasets']})")
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
