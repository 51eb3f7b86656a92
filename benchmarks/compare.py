"""Speed of ``plastinfer compare`` on simulated bandit data as labs record it.

15 subjects × 2,000 trials (4 sessions each, 5 % ignored trials, two-armed reward
probabilities in blocks of 40–80 trials), simulated from Q-learning with side bias and
forgetting; every default model (Q-learning ×4, win-stay/lose-shift, logistic history,
constant bias, the order-2 plasticity rule) fitted to every subject in-sample and on a
within-session split (last 20 % held out, continuation), ``--starts`` starts × ``--steps``
L-BFGS iterations each. Prints the wall time per model and in total, and the ranking.

Target (issue 20, 2 cores): all models ≤ 5 min.

    python benchmarks/compare.py [--subjects 15] [--trials 2000] [--starts 3] [--steps 150]
"""

from __future__ import annotations

import argparse
import json
import time

import jax

import plastinfer as pi
from plastinfer.infer.compare import compare_models
from plastinfer.runs import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=15)
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--split", default="within:0.8")
    args = ap.parse_args()
    truth = pi.QLearning.make(2, alpha=0.4, beta=4.0, side_bias=True, forgetting=True)
    schedule = pi.BlockSchedule(probs=((0.8, 0.2), (0.2, 0.8), (0.4, 0.1), (0.1, 0.4)), length=(40, 80))
    data = pi.simulate_bandit(jax.random.PRNGKey(0), truth, n_subjects=args.subjects, n_trials=args.trials,
                              n_sessions=4, p_ignore=0.05, schedule=schedule)
    t = time.perf_counter()
    comp = compare_models(None, data, split=args.split, n_starts=args.starts, steps=args.steps, progress=True)
    seconds = time.perf_counter() - t
    print(comp.markdown())
    out = {"machine": machine(), "subjects": args.subjects, "trials": args.trials, "starts": args.starts,
           "steps": args.steps, "split": args.split, "seconds": seconds, "ranking": list(comp.summary.index)}
    print(json.dumps(out, indent=1))
    print(f"compare, {len(comp.summary)} models × {args.subjects} subjects × {args.trials} trials: {seconds:.0f} s "
          f"(target ≤ 300) — {out['machine']}")


if __name__ == "__main__":
    main()
