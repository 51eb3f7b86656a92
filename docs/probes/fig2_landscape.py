"""Probe behind docs/confavreux.md, "Why Fig. 2 is hard": losses of hand-built rule pairs
and the meta-gradient along the ray toward (Oja, anti-Hebb). ~3 minutes on 2 cores.

    python docs/probes/fig2_landscape.py
"""

import jax
import numpy as np

from plastinfer.circuits import LateralNetwork
from plastinfer.objectives import FunctionTask, GaussianDatasets, linear_spectrum, pc_distances
from plastinfer.rules import Taylor, anti_hebb, oja


def task(n: int, w_max: float, n_steps: int = 600) -> FunctionTask:
    data = GaussianDatasets(n, top=linear_spectrum(5, 1.0, 0.2), floor=0.05)
    return FunctionTask(LateralNetwork(n, 5, w_max=w_max), data, n_steps=n_steps, n_datasets=20)


def scaled(rule: Taylor, s: float) -> Taylor:
    return Taylor.zeros().with_terms({k: v * s for k, v in rule.coefficients().items()})


def per_output(t: FunctionTask, pair, key=jax.random.PRNGKey(3)) -> np.ndarray:
    k_data, k_init = jax.random.split(key)
    data = t.datasets.sample(k_data, t.n_datasets)
    keys = jax.random.split(k_init, t.n_datasets)
    dist = jax.jit(jax.vmap(lambda d, k: pc_distances(t.inner(pair, d, k).w, d.pcs)))(data, keys)
    return np.asarray(dist).mean(0)


def main() -> None:
    zero, a_oja, b_ah = Taylor.zeros(), oja(), anti_hebb()
    pairs = {"nothing": (zero, zero), "decay only": (zero.with_terms({"x0y0w1": -1.0}), zero),
             "Oja only": (a_oja, zero), "anti-Hebb only": (zero, b_ah),
             "Oja + 0.3 anti-Hebb": (a_oja, scaled(b_ah, 0.3)), "0.3 Oja + anti-Hebb": (scaled(a_oja, 0.3), b_ah)}
    pairs.update({f"{s} (Oja, anti-Hebb)": (scaled(a_oja, s), scaled(b_ah, s)) for s in (0.1, 0.3, 0.5, 1.0, 2.0)})
    for n in (5, 50):
        for w_max in (1e4, 3.0):
            t = task(n, w_max)
            print(f"== {n} → 5, w_max = {w_max:g}")
            for name, pair in pairs.items():
                d = per_output(t, pair)
                print(f"  {name:22s} loss {d.sum():.3f}   per output {np.round(d, 3)}")

    t = task(5, 3.0)
    target = np.concatenate([np.ravel(a_oja.theta), np.ravel(b_ah.theta)])
    names = zero.names
    grad = jax.jit(jax.value_and_grad(lambda pair: t.loss(pair, jax.random.PRNGKey(0))))
    print("== meta-gradient on the ray s·(Oja, anti-Hebb), 5 → 5, w_max = 3")
    for s in (0.0, 0.05, 0.1, 0.3):
        value, g = grad((scaled(a_oja, s), scaled(b_ah, s)))
        ga, gb = np.ravel(g[0].theta), np.ravel(g[1].theta)
        full = np.concatenate([ga, gb])
        cos = float(-full @ target / (np.linalg.norm(full) * np.linalg.norm(target) + 1e-12))
        top = [(names[i], round(-float(ga[i]), 1)) for i in np.argsort(-np.abs(ga))[:4]]
        print(f"  s = {s}: loss {float(value):.3f}, |∂L/∂A| {np.linalg.norm(ga):.3g}, |∂L/∂B| {np.linalg.norm(gb):.3g}, "
              f"cos(−∇L, target) {cos:.3f}; largest −∂L/∂A: {top}")


if __name__ == "__main__":
    main()
