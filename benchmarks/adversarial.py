"""Speed of adversarial rule inference (Ramesh et al. 2023, Fig. 2 setting).

1. Seconds per generator/discriminator round (4 generator networks × 100 patterns × 200
   steps of a local-MLP rule, back-propagated; one discriminator update on 400 + 400
   traces), compilation excluded.
2. Wall time until the fit is converged: the mean per-time-point 1-Wasserstein distance
   between the learned rule's activity and held-out Oja data is within 25 % of the
   sampling floor (fresh Oja networks against the same held-out data), checked every 250
   rounds (the check's own time included), at most ``--max-steps`` rounds. Target: minutes.

    python benchmarks/adversarial.py [--max-steps 3000]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from plastinfer.analysis import activity_distance
from plastinfer.runs import machine
from plastinfer.data import ActivityGenerator, covariance_sqrt
from plastinfer.circuits import PlasticLayer
from plastinfer.infer import AdversarialConfig, adversarial_fit
from plastinfer.rules import MLPRule, oja


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-steps", type=int, default=3000)
    a = p.parse_args()
    print(f"machine: {json.dumps(machine())}")
    # Ramesh et al. Fig. 2 (our full protocol: plastinfer reproduce ramesh-fig2): a 3 → 1 linear layer,
    # η = 0.05, initial weights N(0, 0.1²), input covariance eigenvalues 1, 0.5, 0.25
    s = dict(networks=4, lr_generator=1e-3, lr_discriminator=1e-3, data_networks=200, held_out_networks=100,
             width=10, depth=2)
    gen = ActivityGenerator(PlasticLayer(3, 1, "linear", eta=0.05, init_std=0.1), covariance_sqrt((1.0, 0.5, 0.25)),
                            n_samples=100, n_steps=200)
    k_data, k_held, k_fresh, k_eval, k_rule = jax.random.split(jax.random.PRNGKey(2023), 5)
    data = np.asarray(gen.traces(oja(), k_data, s["data_networks"]))
    held = np.asarray(gen.traces(oja(), k_held, s["held_out_networks"]))
    floor = float(activity_distance(np.asarray(gen.traces(oja(), k_fresh, s["held_out_networks"])), held).mean())
    start = MLPRule(k_rule, ("x", "y", "w"), width=s["width"], depth=s["depth"])
    cfg = dict(networks=s["networks"], lr_generator=s["lr_generator"], lr_discriminator=s["lr_discriminator"])

    warm = adversarial_fit(start, gen, data, config=AdversarialConfig(steps=5, **cfg), progress=False)  # compile
    timed = adversarial_fit(start, gen, data, config=AdversarialConfig(steps=200, **cfg), progress=False)
    per_round = timed.metrics["seconds_per_step"]
    del warm

    trace = []

    def check(step, rule):
        d = float(activity_distance(np.asarray(gen.traces(rule, k_eval, s["held_out_networks"])), held).mean())
        trace.append((step, d, time.perf_counter() - t0))
        print(f"  step {step}: mean W1 {d:.4f} (floor {floor:.4f}), {trace[-1][2]:.0f} s")
        return d <= 1.25 * floor

    t0 = time.perf_counter()
    fit = adversarial_fit(start, gen, data, config=AdversarialConfig(steps=a.max_steps, **cfg), progress=False,
                          callback=check, callback_every=250)
    converged = bool(trace and trace[-1][1] <= 1.25 * floor)
    rows = [("seconds per generator/discriminator round (compiled)", f"{per_round:.3f}"),
            ("rounds until mean W1 ≤ 1.25 × floor", str(fit.metrics["steps"]) if converged else f"not in {a.max_steps}"),
            ("wall time to that point (s)", f"{trace[-1][2]:.0f}" if trace else "—"),
            ("sampling floor (mean W1, fresh Oja vs held-out)", f"{floor:.4f}")]
    for name, value in rows:
        print(f"{name:55s} {value}")
    print(json.dumps({"seconds_per_round": per_round, "converged": converged, "rounds": fit.metrics["steps"],
                      "floor": floor, "trace": trace}))


if __name__ == "__main__":
    main()
