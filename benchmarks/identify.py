"""Speed of the identification study (Nayebi et al. 2020 at CPU scale).

1. Population: a fresh sweep of the ``--scale`` design (``quick``: 128 networks in 4
   groups; ``default``: 864 networks in 18 groups) with ``--workers`` processes; networks
   trained (and measured: 21 checkpoints of observables each) per minute, and the wall
   time of every group (compilation included: it dominates at this scale).
2. ``--analyses``: the wall time of each reproduction's analysis on that population
   (``nayebi-fig2``, ``-fig3``, ``-fig4``; the population is reused, so this is the
   classifiers alone) and of ``nayebi-fig5`` (which trains and records its own FA / IA
   population). Target: default population + all analyses ≤ 30 minutes on 2 cores.

    python benchmarks/identify.py [--scale quick|default] [--workers 2] [--analyses] [-o DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from plastinfer.experiments import get_experiment
from plastinfer.identify import PopulationSpec, generate_population
from plastinfer.runs import machine

# the populations of `plastinfer reproduce nayebi-fig2 [--quick]`
SCALES = {"quick": PopulationSpec(archs=("mlp1x64", "mlp2x32"), tasks=("digits", "breast_cancer"), batch_sizes=(16, 32)),
          "default": PopulationSpec()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", choices=list(SCALES), default="quick")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--analyses", action="store_true", help="also time the fig2–fig5 analyses")
    p.add_argument("-o", "--output", type=Path, help="folder to keep (default: a temporary one)")
    a = p.parse_args()
    if a.workers < 1:
        print("identify.py: error: --workers must be at least 1", file=sys.stderr)
        return 2
    if a.output is not None and a.output.exists() and any(a.output.iterdir()):
        print(f"identify.py: error: {a.output} is not empty; give a new folder", file=sys.stderr)
        return 2
    print(f"machine: {json.dumps(machine())}")
    root = a.output or Path(tempfile.mkdtemp(prefix="bench-identify-"))
    spec = SCALES[a.scale]
    n = len(spec.configs())
    t0 = time.perf_counter()
    generate_population(spec, root / "population", workers=a.workers)
    t_pop = time.perf_counter() - t0
    groups = {}
    for f in sorted((root / "population" / "runs").glob("*.npz")):
        with np.load(f, allow_pickle=False) as z:
            groups[f.stem] = {"networks": int(z["rule"].shape[0]), "seconds": float(z["seconds"])}
    rows = [(f"{a.scale} population: {n} networks in {len(groups)} groups, {a.workers} workers (s)", f"{t_pop:.0f}"),
            ("networks trained and measured per minute", f"{60 * n / t_pop:.1f}"),
            ("slowest group (s, compilation included)", "{} {:.0f}".format(*max(
                ((g, v["seconds"]) for g, v in groups.items()), key=lambda gv: gv[1])))]
    timings = {"population": t_pop}
    if a.analyses:
        runs = {name: get_experiment(name).run for name in ("nayebi-fig2", "nayebi-fig3", "nayebi-fig4")}
        quick = a.scale == "quick"
        for name, run in runs.items():
            (root / name).mkdir(parents=True, exist_ok=True)  # the CLI makes it; run_* write into it
            t = time.perf_counter()
            run(root / name, quick=quick, progress=False, population=root / "population", workers=a.workers)
            timings[name] = time.perf_counter() - t
            rows.append((f"{name} analysis on that population (s)", f"{timings[name]:.0f}"))
        (root / "nayebi-fig5").mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        get_experiment("nayebi-fig5").run(root / "nayebi-fig5", quick=quick, progress=False, workers=a.workers)
        timings["nayebi-fig5"] = time.perf_counter() - t
        rows.append(("nayebi-fig5, its own population + analysis (s)", f"{timings['nayebi-fig5']:.0f}"))
        total = sum(timings.values())
        rows.append((f"{a.scale} population + all analyses (min; target ≤ 30 for default)", f"{total / 60:.1f}"))
    for name, value in rows:
        print(f"{name:75s} {value}")
    print(json.dumps({"scale": a.scale, "workers": a.workers, "networks": n, "networks_per_minute": 60 * n / t_pop,
                      "seconds": timings, "groups": groups, "folder": str(root)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
