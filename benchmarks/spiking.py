"""Speed of the spiking simulator (Confavreux et al. 2020, §3.3).

1. Simulated seconds per wall second for one conductance-based LIF neuron with 1000
   afferents (800 E + 200 plastic I, dt = 0.1 ms, Vogels iSTDP), and for a population of
   64 candidate rules in one ``vmap`` (inputs shared: common random numbers).
2. One meta-iteration of ``confavreux-fig3`` (population × data sets × 90 s of biological
   time, the paper's protocol): wall time. Target: seconds, not minutes.
3. The same single-neuron model in Brian2 (optional: ``--brian-python PYTHON``, an
   interpreter with Brian2 installed — Brian2 2.9 needs numpy < 2.4, so use a separate
   environment: ``python -m venv .brian && .brian/bin/pip install brian2 'numpy<2.4'``).

    python benchmarks/spiking.py [--quick] [--brian-python .brian/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import jax

from plastinfer.circuits import LIFNeuron, simulate_lif
from plastinfer.runs import machine
from plastinfer.objectives import SpikingTask
from plastinfer.rules import SpikeTraceRule

# the settings of `plastinfer reproduce confavreux-fig3` (full and --quick): Open_ES, 8 candidates
FIG3_FULL = dict(population_size=8, n_datasets=4, train_s=60.0, score_s=30.0, window_s=10.0, sigma=0.3,
                 learning_rate=0.1)
FIG3_QUICK = dict(population_size=8, n_datasets=2, train_s=20.0, score_s=10.0, window_s=5.0, sigma=0.3,
                  learning_rate=0.1)


def fig3_task(s: dict) -> SpikingTask:
    return SpikingTask(train_s=s["train_s"], score_s=s["score_s"], window_s=s["window_s"], n_datasets=s["n_datasets"],
                       target_hz=5.0)


random_start = SpikeTraceRule.random
from plastinfer.rules import vogels_istdp


def _timed(f, *args, reps: int = 2) -> float:
    jax.block_until_ready(f(*args))  # compile
    t0 = time.perf_counter()
    for _ in range(reps):
        jax.block_until_ready(f(*args))
    return (time.perf_counter() - t0) / reps


def single_neuron(seconds: float) -> dict:
    c = LIFNeuron()
    f = jax.jit(lambda r, k: simulate_lif(c, r, k, seconds)[1].spikes)
    wall = _timed(f, vogels_istdp(), jax.random.PRNGKey(0))
    return {"what": "1 neuron, 1000 afferents", "seconds_simulated": seconds, "wall_s": wall,
            "sim_s_per_wall_s": seconds / wall}


def population(seconds: float, n: int = 64) -> dict:
    c = LIFNeuron()
    rules = jax.vmap(random_start)(jax.random.split(jax.random.PRNGKey(1), n))
    f = jax.jit(jax.vmap(lambda r, k: simulate_lif(c, r, k, seconds)[1].spikes, in_axes=(0, None)))
    wall = _timed(f, rules, jax.random.PRNGKey(0))
    return {"what": f"{n} candidate rules in one vmap", "seconds_simulated": seconds, "wall_s": wall,
            "sim_s_per_wall_s": n * seconds / wall, "per_candidate_sim_s_per_wall_s": seconds / wall}


def meta_iteration(settings: dict) -> dict:
    task = fig3_task(settings)
    pop = settings["population_size"]
    rules = jax.vmap(random_start)(jax.random.split(jax.random.PRNGKey(2), pop))
    f = jax.jit(jax.vmap(task.loss, in_axes=(0, None)))
    wall = _timed(f, rules, jax.random.PRNGKey(0), reps=1)
    bio = pop * task.n_datasets * (task.train_s + task.score_s)
    return {"what": f"one meta-iteration: {pop} candidates × {task.n_datasets} inputs × "
                    f"{task.train_s + task.score_s:.0f} s", "wall_s": wall, "biological_s": bio,
            "sim_s_per_wall_s": bio / wall}


def brian(python: str, seconds: float) -> list[dict]:
    script = Path(__file__).with_name("_brian_lif.py")
    out = []
    for target in ("numpy", "cython"):
        proc = subprocess.run([python, str(script), str(seconds), target], capture_output=True, text=True)
        if proc.returncode != 0:
            out.append({"simulator": f"brian2 ({target})", "error": proc.stderr.strip().splitlines()[-1][:200]})
            continue
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="shorter simulations (and the quick meta-iteration)")
    p.add_argument("--brian-python", help="an interpreter with Brian2 installed, for the comparison")
    a = p.parse_args()
    seconds = 5.0 if a.quick else 20.0
    print(f"machine: {json.dumps(machine())}")
    rows = [single_neuron(seconds), population(seconds / 5 if a.quick else seconds / 2)]
    rows.append(meta_iteration(FIG3_QUICK if a.quick else FIG3_FULL))
    if a.brian_python:
        rows += brian(a.brian_python, seconds)
    else:
        rows.append({"simulator": "brian2", "error": "not run (pass --brian-python)"})
    print(f"{'what':55s} {'wall (s)':>9s} {'simulated s / wall s':>22s}")
    for r in rows:
        if "error" in r:
            print(f"{r['simulator']:55s} {r['error']}")
            continue
        print(f"{r.get('what', r.get('simulator')):55s} {r['wall_s']:9.2f} {r['sim_s_per_wall_s']:22.2f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
