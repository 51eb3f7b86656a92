"""confavreux-fig2 probe (issue 21): CMA-ES with IPOP restarts on the sphere, 5 → 5.

    python docs/probes/fig2_ipop_sphere.py GENERATIONS_PER_RUN SCALE|none RESTARTS [N_DATASETS]
"""
import sys, time, jax, numpy as np
from plastinfer.experiments.confavreux import fig2_task
from plastinfer.analysis import angles_per_rule
from plastinfer.infer import MetaConfig, meta_fit
from plastinfer.rules import Taylor, oja, anti_hebb
gens = int(sys.argv[1]); scale = None if sys.argv[2] == "none" else float(sys.argv[2]); restarts = int(sys.argv[3])
nd = int(sys.argv[4]) if len(sys.argv) > 4 else 4
task = fig2_task(5, 300, nd)
k1, k2 = jax.random.split(jax.random.PRNGKey(200))
start = (Taylor.init(k1, scale=0.1), Taylor.init(k2, scale=0.1))
t = time.perf_counter()
cfg = MetaConfig(generations=gens, l1=0.05, sigma_init=0.1, seed=0, scale=scale, restarts=restarts)
f = meta_fit(start, task, config=cfg, reference=(oja(), anti_hebb()), progress=False)
a = angles_per_rule(f.rule, (oja(), anti_hebb()))
print(scale, restarts, "A %.1f° B %.1f°" % tuple(a), "best loss %.3f" % f.metrics["best_loss"], "%.0f s" % (time.perf_counter() - t), f.metrics["population_sizes"])
print("  ", [r.equation(threshold=0.05) for r in f.rule])
print("   joint angle every 20:", np.round(f.history["angle_deg"][::20], 1))
print("   best_loss every 20:", np.round(f.history["best_loss"][::20], 2))
