"""``plastinfer demo``: simulate Oja data, fit a 27-term Taylor rule, print the equation."""

from __future__ import annotations

import time
from pathlib import Path

from .runs import RunFolder, print_fit, run_fit, simulate_from_config, write_toml

#: The demo's config — also a template for ``plastinfer simulate`` / ``plastinfer fit``.
DEMO_CONFIG = {
    "circuit": {"kind": "plastic_layer", "n_in": 10, "n_out": 20, "nonlinearity": "linear", "eta": 0.05},
    "rule": {"name": "oja"},
    "data": {"n_trajectories": 24, "n_steps": 50, "input_std": 0.5, "noise_std": 0.0, "fraction_recorded": 1.0, "seed": 0},
    "model": {"family": "taylor", "variables": ["x", "y", "w"], "order": 2, "init_scale": 0.01},
    "fit": {"epochs": 60, "learning_rate": 0.01, "clip": 0.2, "init_weights": "latent", "latent_warmup": 50, "n_test": 4, "seed": 0},
}


def run_demo(out: Path, force: bool = False) -> None:
    t0 = time.perf_counter()
    folder = RunFolder(out, force=force)
    with folder as stage:
        config_path = stage / "demo.toml"
        write_toml(config_path, DEMO_CONFIG)
        print(f"plastinfer demo: Oja's rule Δw = x·y − y²·w in a linear 10 → 20 layer; config "
              f"{folder.final(config_path)}")
        simulate_from_config(DEMO_CONFIG, stage / "data.npz", source=str(folder.final(config_path)))
        result, figures = run_fit(DEMO_CONFIG, stage / "data.npz", stage / "run", progress=True)
    print_fit(result, [folder.final(f) for f in figures], folder.path / "run")
    c = result.rule.coefficients()
    print(f"θ[x1y1w0] = {c['x1y1w0']:+.3f} (truth +1),  θ[x0y2w1] = {c['x0y2w1']:+.3f} (truth −1); "
          f"initial weights were unknown to the fit (fitted as latent parameters)")
    print(f"done in {time.perf_counter() - t0:.0f} s")
