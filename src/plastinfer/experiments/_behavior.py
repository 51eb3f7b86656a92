"""Shared by the behavioural reproductions (Mehta et al. 2024, §4, appendix A.4)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ..circuits import ChoiceCircuit
from ..data import simulate_choices
from ..infer import ChoiceFitConfig, evaluate_choices, fit_choices
from ..rules import MLPRule, Taylor, parse_equation

XYWR = ("x", "y", "w", "r")

#: Table 3 (appendix A.7): the 53 rules → (MLP R² weights, R² activity, % deviance, Taylor
#: R² w, R² a, % dev). Three rules appear twice in the paper's table with different numbers;
#: the second occurrence is labelled "[row n]".
TABLE3 = {
    "x*y*w*r - 0.05*r": (0.27, 0.34, 79.92, 0.41, 0.51, 84.22),
    "x*w*y*r - 0.05*r [row 2]": (0.61, 0.67, 84.39, 0.33, 0.30, 82.79),
    "x*w*r**2 - 0.05*r": (0.66, 0.66, 84.75, 0.42, 0.47, 79.33),
    "x*y*w*r**2 - 0.05*r": (0.40, 0.57, 80.56, 0.40, 0.48, 79.03),
    "x*r**2 - 0.05*r": (0.75, 0.73, 70.78, 0.66, 0.61, 70.65),
    "x**2*y*w*r - 0.05": (0.59, 0.68, 70.41, 0.59, 0.69, 68.84),
    "x**2*y**2*r**2 - 0.05": (0.59, 0.62, 64.98, 0.55, 0.62, 64.44),
    "x*r - 0.05*x*y*r": (0.81, 0.96, 63.64, 0.81, 0.95, 64.01),
    "x*r - 0.05*x*w*r": (0.84, 0.95, 64.19, 0.82, 0.95, 63.24),
    "x*r - 0.05*x*y": (0.80, 0.96, 62.90, 0.76, 0.94, 62.50),
    "x*r": (0.85, 0.96, 64.76, 0.78, 0.94, 61.91),
    "x*r - 0.05*r": (0.70, 0.76, 62.01, 0.63, 0.68, 61.82),
    "x*r - 0.05*x*y*w*r": (0.82, 0.96, 63.13, 0.73, 0.93, 61.05),
    "x*r - 0.05*x*w": (0.83, 0.95, 61.24, 0.81, 0.95, 60.85),
    "x*r - 0.05*x*y*w": (0.84, 0.96, 63.53, 0.72, 0.92, 60.33),
    "x*r - 0.05*x": (0.89, 0.97, 61.99, 0.77, 0.91, 60.05),
    "x*r**2 - 0.05*x*w": (0.89, 0.95, 54.92, 0.88, 0.94, 53.94),
    "x*r**2 - 0.05*x*y": (0.79, 0.95, 56.40, 0.77, 0.92, 53.76),
    "x*r**2": (0.89, 0.96, 54.32, 0.81, 0.92, 52.87),
    "x*r - 0.05*w": (0.87, 0.91, 57.01, 0.70, 0.86, 51.80),
    "x*r**2 - 0.05*x*y*r": (0.84, 0.96, 53.14, 0.78, 0.93, 51.61),
    "x*r**2 - 0.05*x*y*w": (0.81, 0.95, 54.92, 0.76, 0.93, 51.52),
    "x*r**2 - 0.05*x*w*r": (0.85, 0.96, 53.04, 0.78, 0.92, 51.30),
    "x*r**2 - 0.05*x*y*w*r": (0.90, 0.96, 53.90, 0.82, 0.92, 51.29),
    "x*r**2 - 0.05*x": (0.89, 0.95, 51.52, 0.85, 0.93, 51.03),
    "x*r**2 - 0.05*x*r": (0.88, 0.96, 54.17, 0.79, 0.93, 50.90),
    "x*r - 0.05*y*w*r": (0.91, 0.95, 52.94, 0.84, 0.91, 50.24),
    "x*r - 0.05*y*r": (0.94, 0.95, 52.84, 0.86, 0.92, 50.20),
    "x*r - 0.05*w*r": (0.87, 0.94, 49.72, 0.82, 0.92, 48.90),
    "x*r - 0.05*y*w": (0.94, 0.96, 48.58, 0.90, 0.95, 48.60),
    "y*w*r**2 - 0.05": (0.66, 0.90, 47.26, 0.55, 0.84, 47.00),
    "x*r**2 - 0.05*w": (0.86, 0.94, 46.44, 0.78, 0.91, 46.26),
    "x*r**2 - 0.05*y*w*r": (0.91, 0.92, 43.64, 0.89, 0.93, 44.04),
    "x*r**2 - 0.05*y*r": (0.96, 0.97, 43.74, 0.93, 0.95, 43.18),
    "x*r**2 - 0.05*w [row 35]": (0.92, 0.93, 42.68, 0.91, 0.94, 42.43),
    "x**2*y*w*r**2 - 0.05*r": (0.65, 0.53, 43.26, 0.65, 0.57, 42.32),
    "x*r**2 - 0.05*y*r [row 37]": (0.93, 0.92, 44.13, 0.91, 0.94, 41.69),
    "y*w*r - 0.05": (0.69, 0.89, 38.52, 0.61, 0.85, 37.74),
    "y**2*r**2 - 0.05": (0.52, 0.87, 37.01, 0.60, 0.82, 36.81),
    "x*r**2 - 0.05*y": (0.97, 0.97, 34.55, 0.96, 0.97, 34.36),
    "x**2*y**2*r**2 - 0.05*r": (0.72, 0.65, 33.94, 0.68, 0.60, 33.57),
    "x**2*y*w*r - 0.05*r": (0.60, 0.53, 34.82, 0.65, 0.57, 33.45),
    "y*w*r - 0.05*x*r": (0.04, 0.45, 28.56, 0.08, 0.46, 28.63),
    "x**2*y**2*r - 0.05*r": (0.50, 0.44, 28.81, 0.70, 0.60, 28.08),
    "y*w*r**2 - 0.05*x*r": (0.17, 0.47, 26.90, 0.31, 0.44, 24.92),
    "y*w*r**2 - 0.05*r": (0.38, 0.32, 16.49, 0.60, 0.59, 15.87),
    "y**2*r**2 - 0.05*r": (0.01, -0.01, 14.06, 0.24, 0.29, 13.62),
    "x**2*y**2*w*r - 0.05*x*r": (0.82, 0.94, 4.64, 0.86, 0.95, 4.35),
    "x**2*y**2*w*r**2 - 0.05*x*r": (0.78, 0.94, 4.31, 0.90, 0.96, 4.01),
    "x*r - 0.05*x*r": (0.75, 0.92, 4.30, 0.92, 0.96, 3.96),
    "x*y**2*w*r**2 - 0.05*x*r": (0.79, 0.93, 4.39, 0.89, 0.97, 3.87),
    "x*y*w*r - 0.05*x*r": (0.70, 0.91, 3.49, 0.87, 0.96, 3.29),
    "x*y**2*r - 0.05*x*r": (0.63, 0.90, 3.28, 0.83, 0.96, 3.04),
}

#: Table 1 of the paper: five rows of Table 3 (same numbers).
TABLE1 = {rule: TABLE3[rule] for rule in
          ("x*r", "x*r**2 - 0.05*y", "x*r - 0.05*w", "x*r**2 - 0.05*x*w*r", "x*y*w*r - 0.05*r")}

COLUMNS = ("r2_weights", "r2_activity", "percent_deviance")


def paper_row(equation: str, table: dict = TABLE3) -> dict:
    v = table[equation]
    return {"mlp": dict(zip(COLUMNS, v[:3])), "taylor": dict(zip(COLUMNS, v[3:]))}


def equation_of(label: str) -> str:
    """The equation of a Table 3 label (drops a trailing "[row n]")."""
    return label.split(" [")[0]


def initial_rule(family: str, key) -> Taylor | MLPRule:
    """The paper's candidates: 81-term Taylor over (x, y, w, r) initialised N(0, 1e-4), or
    a 4-10-1 MLP."""
    if family == "taylor":
        return Taylor.init(key, XYWR, 2, scale=1e-2)
    if family == "mlp":
        return MLPRule(key, XYWR, width=10, depth=1)
    raise ValueError(f"unknown family {family!r}")


def run_rule(equation: str, family: str, seed: int, *, epochs: int, circuit: ChoiceCircuit | None = None,
             n_train: int = 18, n_test: int = 7, progress: bool = False, keep: bool = False) -> dict:
    """Simulate ``n_train + n_test`` sessions with ``equation``, fit ``family`` on the
    training ones, evaluate on the held-out ones (medians over them, as in A.4)."""
    circuit = circuit or ChoiceCircuit()
    truth = parse_equation(equation_of(equation), variables=XYWR, order=2)
    k = jax.random.split(jax.random.PRNGKey(seed), 4)
    train = simulate_choices(k[0], circuit, truth, n_train)
    test = simulate_choices(k[1], circuit, truth, n_test)
    cfg = ChoiceFitConfig(epochs=epochs, l1=1e-2 if family == "taylor" else 0.0, seed=seed)
    res = fit_choices(initial_rule(family, k[2]), circuit, train, config=cfg, progress=progress)
    ev = evaluate_choices(res.rule, circuit, test, truth=truth, key=k[3])
    out = {c: ev[f"median_{c}"] for c in COLUMNS}
    out["seconds"] = res.metrics["train_seconds"]
    oracle = evaluate_choices(truth, circuit, test, truth=truth, key=k[3])
    out["truth_percent_deviance"] = oracle["median_percent_deviance"]
    if family == "taylor":
        out["theta"] = {n: v for n, v in res.rule.coefficients().items() if abs(v) >= 0.01}
    if keep:
        out["_result"], out["_test"], out["_truth"], out["_key"] = res, test, truth, k[3]
    return out


def mean_over_seeds(runs: list[dict]) -> dict:
    out = {c: float(np.mean([r[c] for r in runs])) for c in COLUMNS + ("truth_percent_deviance",)}
    out["per_seed"] = [{c: r[c] for c in COLUMNS} for r in runs]
    out["seconds"] = float(np.sum([r["seconds"] for r in runs]))
    return out


def circuit_with(**kw) -> ChoiceCircuit:
    return dataclasses.replace(ChoiceCircuit(), **kw)
