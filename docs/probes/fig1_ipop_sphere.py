"""confavreux-fig1 probe (issue 21): one CMA-ES run vs IPOP restarts, with and without the sphere.

    python docs/probes/fig1_ipop_sphere.py N GENERATIONS_PER_RUN SCALE|none RESTARTS L1

Quick settings: 100 inner steps, 8 data sets, start N(0, 0.1²) (key 100), σ 0.1, seed 0.
"""
import sys, time, jax, numpy as np
from plastinfer.experiments.confavreux import fig1_task
from plastinfer.infer import MetaConfig, meta_fit
from plastinfer.rules import Taylor, oja
n = int(sys.argv[1]); gens = int(sys.argv[2]); scale = None if sys.argv[3] == "none" else float(sys.argv[3])
restarts = int(sys.argv[4]) if len(sys.argv) > 4 else 0
l1 = float(sys.argv[5]) if len(sys.argv) > 5 else 0.05
task = fig1_task(n, 100, 8)
t = time.perf_counter()
cfg = MetaConfig(generations=gens, l1=l1, sigma_init=0.1, seed=0, scale=scale, restarts=restarts)
f = meta_fit(Taylor.init(jax.random.PRNGKey(100), scale=0.1), task, config=cfg, reference=oja(), progress=False)
a = f.history["angle_deg"]
print(n, scale, "final %.1f°" % f.metrics["angle_deg"], "min %.1f" % a.min(), "first≤10:", np.nonzero(a <= 10)[0][:1], "%.0f s" % (time.perf_counter() - t), f.metrics["population_sizes"])
print("  ", f.rule.equation(threshold=0.03))
print("   angle every 25:", np.round(a[::25], 1))
