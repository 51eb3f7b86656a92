"""Speed and memory of trajectory inference.

1. The Fig. 2 setting of Mehta et al. (100 → 1000 sigmoid, 50 trajectories × 50 steps,
   one Adam update per trajectory): seconds per epoch (steady state, compilation
   excluded) and synapse-steps per second (forward + backward).
2. A 1000 × 1000 layer (10⁶ synapses) over 1000 steps: time and peak memory of one
   forward + backward pass, with ``jax.checkpoint`` over time (segments of ≈√T steps),
   plus XLA's compiled temporary-memory estimate with and without checkpointing.

3. ``--second-order N``: Levenberg–Marquardt (``solver="lm"``) on the Fig. 2 data, N
   iterations, with the true and with resampled (one fixed draw) initial weights: θ110,
   θ021, the largest other |θ|, the first iteration within 0.1 of Oja, seconds per iteration.

Targets (2-core CPU): ≤ 2 s per Fig. 2 epoch; the 10⁶-synapse × 1000-step pass within
4 GB peak memory; LM with the true initial weights within 0.1 of Oja (issue 21).

    python benchmarks/trajectory_fit.py [--epochs 5] [--skip-large] [--second-order 15]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp

from plastinfer.circuits import LayerInput, LayerState, PlasticLayer, rollout
from plastinfer.data import simulate
from plastinfer.runs import machine
from plastinfer.infer import TrajectoryFitConfig, fit_trajectory
from plastinfer.rules import Taylor, oja


def fig2_epoch(epochs: int) -> dict:
    circuit = PlasticLayer(100, 1000, "sigmoid", eta=1.0)
    data = simulate(jax.random.PRNGKey(0), circuit, oja(), 50, 50, input_std=math.sqrt(0.1))
    cfg = TrajectoryFitConfig(epochs=epochs + 1, learning_rate=1e-3, clip=0.2)
    res = fit_trajectory(Taylor.init(jax.random.PRNGKey(1)), circuit, data, config=cfg, progress=False)
    sec = res.metrics["seconds_per_epoch"]
    synapse_steps = 50 * 50 * 100 * 1000
    return {"seconds_per_epoch": sec, "first_epoch_seconds_incl_compile": res.metrics["first_epoch_seconds"],
            "synapse_steps_per_second": synapse_steps / sec, "epochs_timed": epochs}


def fig2_second_order(iters: int) -> dict:
    circuit = PlasticLayer(100, 1000, "sigmoid", eta=1.0)
    data = simulate(jax.random.PRNGKey(0), circuit, oja(), 50, 50, input_std=math.sqrt(0.1))
    out = {}
    for mode in ("true", "resample"):
        cfg = TrajectoryFitConfig(epochs=iters, solver="lm", init_weights=mode, select_every=1)
        t0 = time.perf_counter()
        res = fit_trajectory(Taylor.init(jax.random.PRNGKey(1000), scale=1e-2), circuit, data, config=cfg,
                             progress=False)
        seconds = time.perf_counter() - t0
        names = res.names
        theta = res.history["theta"]
        i110, i021 = names.index("x1y1w0"), names.index("x0y2w1")
        close = (abs(theta[:, i110] - 1) <= 0.1) & (abs(theta[:, i021] + 1) <= 0.1)
        c = res.rule.coefficients()
        out[mode] = {"theta_x1y1w0": c["x1y1w0"], "theta_x0y2w1": c["x0y2w1"],
                     "max_other_abs": max(abs(v) for k, v in c.items() if k not in ("x1y1w0", "x0y2w1")),
                     "first_iteration_within_0.1": int(close.argmax()) if close.any() else None,
                     "iterations_run": res.metrics["epochs"], "seconds": seconds,
                     "seconds_per_iteration": res.metrics["seconds_per_epoch"]}
    return out


def large_pass() -> dict:
    """Run in a child process so that its peak RSS is its own."""
    n, steps = 1000, 1000
    circuit = PlasticLayer(n, n, "sigmoid", eta=0.01)
    w0 = circuit.init(jax.random.PRNGKey(0)).w
    x = math.sqrt(0.1) * jax.random.normal(jax.random.PRNGKey(1), (steps, n))
    target = jax.jit(lambda: rollout(circuit, oja(), LayerState(w0), LayerInput(x))[1].y)()
    rule = Taylor.init(jax.random.PRNGKey(2))

    def loss(theta, ckpt):
        r = Taylor(theta, rule.variables, rule.order)
        y = rollout(circuit, r, LayerState(w0), LayerInput(x), checkpoint=ckpt)[1].y
        return jnp.mean((y - target) ** 2)

    out = {}
    for name, ckpt in (("checkpointed", True), ("plain", None)):
        compiled = jax.jit(jax.value_and_grad(loss), static_argnums=1).lower(rule.theta, ckpt).compile()
        mem = compiled.memory_analysis()
        out[f"xla_temp_bytes_{name}"] = getattr(mem, "temp_size_in_bytes", None) if mem is not None else None
    step = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    jax.block_until_ready(step(rule.theta, True))
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        jax.block_until_ready(step(rule.theta, True))
    out["seconds_fwd_bwd"] = (time.perf_counter() - t0) / reps
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    dev = jax.devices()[0]
    if dev.platform == "gpu":
        stats = dev.memory_stats() or {}
        out["peak_device_bytes"] = stats.get("peak_bytes_in_use")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5, help="epochs timed in the Fig. 2 setting")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the numbers to this file")
    ap.add_argument("--second-order", type=int, default=0, metavar="N",
                    help="also run N Levenberg–Marquardt iterations on the Fig. 2 data (true / resampled w0)")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(large_pass()))
        return
    info = machine()
    print(f"machine: {info['device']} ({info['platform']}), {info['cpu_count']} CPUs, jax {info['jax']}")
    fig2 = fig2_epoch(args.epochs)
    print(f"Fig. 2 setting (100→1000 sigmoid, 50 traj × 50 steps, batch 1): {fig2['seconds_per_epoch']:.2f} s/epoch "
          f"(target ≤ 2 s on 2 CPU cores), {fig2['synapse_steps_per_second']:.3g} synapse-steps/s "
          f"(first epoch incl. compile {fig2['first_epoch_seconds_incl_compile']:.1f} s)")
    result = {"machine": info, "fig2": fig2}
    if args.second_order:
        result["second_order"] = so = fig2_second_order(args.second_order)
        for mode, r in so.items():
            print(f"Fig. 2, Levenberg–Marquardt, {mode} initial weights: θ110 {r['theta_x1y1w0']:+.3f}, θ021 "
                  f"{r['theta_x0y2w1']:+.3f}, max other |θ| {r['max_other_abs']:.3f} (Oja: +1, −1, 0); within 0.1 of "
                  f"Oja from iteration {r['first_iteration_within_0.1']} (target: true w0 within 0.1); "
                  f"{r['iterations_run']} iterations, {r['seconds_per_iteration']:.1f} s each, {r['seconds']:.0f} s")
    if not args.skip_large:
        proc = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True, env=os.environ)
        if proc.returncode:
            raise SystemExit(f"large pass failed:\n{proc.stderr[-2000:]}")
        large = json.loads(proc.stdout.strip().splitlines()[-1])
        result["large"] = large
        gb = 1024**3
        print(f"10⁶ synapses × 1000 steps, one forward + backward (checkpointed): {large['seconds_fwd_bwd']:.2f} s, "
              f"peak RSS {large['peak_rss_bytes'] / gb:.2f} GB (target ≤ 4 GB)"
              + (f", peak device memory {large['peak_device_bytes'] / gb:.2f} GB" if large.get("peak_device_bytes") else ""))
        t_c, t_p = large.get("xla_temp_bytes_checkpointed"), large.get("xla_temp_bytes_plain")
        if t_c and t_p:
            print(f"   XLA temporary memory: {t_c / gb:.2f} GB checkpointed vs {t_p / gb:.2f} GB without checkpointing")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
