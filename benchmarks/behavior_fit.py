"""Speed of behavioural fits (Mehta et al. 2024, §4–5).

1. The default simulated fit: 18 training sessions (+7 held out) of 240 trials of the
   2-10-1 choice circuit (accept readout, so ~400–500 presentations per session), an
   81-term Taylor rule, 250 epochs of one-session Adam updates, then held-out
   evaluation. Reported: total wall time, compile time (first epoch), steady seconds per
   epoch, and that the epoch function compiled once (no recompiles per session).
2. Per-subject fits of the fly analysis: 21 two-alternative sessions of 240 trials, one
   rule per subject, all subjects updated together in one ``vmap``: seconds per 100 steps.

Target (2-core CPU): ≤ 20 s for (1); the authors' code takes about 4 minutes for it.

    python benchmarks/behavior_fit.py [--epochs 250]
"""

from __future__ import annotations

import argparse
import json
import time

import jax

from plastinfer.circuits import ChoiceCircuit
from plastinfer.data import simulate_choices
from plastinfer.runs import machine
from plastinfer.infer import ChoiceFitConfig, evaluate_choices, fit_choices
from plastinfer.rules import Taylor, parse_equation


def default_fit(epochs: int) -> dict:
    circuit = ChoiceCircuit()
    truth = parse_equation("x*r")
    train = simulate_choices(jax.random.PRNGKey(0), circuit, truth, 18)
    test = simulate_choices(jax.random.PRNGKey(1), circuit, truth, 7)
    rule = Taylor.init(jax.random.PRNGKey(2), ("x", "y", "w", "r"), 2)
    t0 = time.perf_counter()
    res = fit_choices(rule, circuit, train, config=ChoiceFitConfig(epochs=epochs), progress=False)
    ev = evaluate_choices(res.rule, circuit, test, truth=truth)
    total = time.perf_counter() - t0
    return {
        "seconds_total_fit_and_eval": total,
        "seconds_fit": res.metrics["train_seconds"],
        "first_epoch_seconds_incl_compile": res.metrics["first_epoch_seconds"],
        "seconds_per_epoch": res.metrics["seconds_per_epoch"],
        "presentations_per_session": int(train.choices.shape[1]),
        "epochs": epochs,
        "held_out": {k: ev[k] for k in ("median_r2_weights", "median_r2_activity", "median_percent_deviance")},
    }


def per_subject(steps: int = 100) -> dict:
    circuit = ChoiceCircuit(readout="two_alternative")
    data = simulate_choices(jax.random.PRNGKey(3), circuit, parse_equation("x*r - 0.05*w"), 21)
    rule = Taylor.zeros(("x", "w", "r"), active=("x0w0r0", "x1w0r0", "x0w0r1", "x1w0r1", "x0w1r0"))
    res = fit_choices(rule, circuit, data, config=ChoiceFitConfig(epochs=steps + 1, learning_rate=1e-2,
                                                                  per_subject=True), progress=False)
    return {"subjects": 21, "seconds_per_100_steps": 100 * res.metrics["seconds_per_epoch"],
            "first_step_seconds_incl_compile": res.metrics["first_epoch_seconds"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=250)
    args = p.parse_args()
    m = machine()
    print(f"machine: {m['device']} ({m['platform']}), {m['cpu_count']} CPUs, jax {m['jax']}")
    a = default_fit(args.epochs)
    print(f"default behavioural fit (18 + 7 sessions × 240 trials, {a['presentations_per_session']} presentations, "
          f"81-term Taylor, {args.epochs} epochs): {a['seconds_total_fit_and_eval']:.1f} s total "
          f"(compile + first epoch {a['first_epoch_seconds_incl_compile']:.1f} s, "
          f"{a['seconds_per_epoch']:.3f} s/epoch)   target ≤ 20 s; authors' code ≈ 240 s")
    print(f"  held-out: {a['held_out']}")
    b = per_subject()
    print(f"per-subject fits, 21 sessions in one vmap: {b['seconds_per_100_steps']:.2f} s per 100 steps "
          f"(compile {b['first_step_seconds_incl_compile']:.1f} s)")
    print(json.dumps({"machine": m, "default_fit": a, "per_subject": b}, indent=1))


if __name__ == "__main__":
    main()
