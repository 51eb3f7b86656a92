"""mehta-fig2's identifiability block: the Laplace report of a fitted rule, and Oja's distance from it."""

import math

import jax

from plastinfer.circuits import PlasticLayer
from plastinfer.data import simulate
from plastinfer.experiments.mehta_fig2 import _identifiability
from plastinfer.rules import oja


def test_identifiability_measures_the_gap_to_oja_in_the_curvature_metric():
    circuit = PlasticLayer(6, 8, "sigmoid", eta=1.0)
    data = simulate(jax.random.PRNGKey(0), circuit, oja(), 6, 20, input_std=math.sqrt(0.1), noise_std=0.01)
    at_truth = _identifiability(oja(), circuit, data)
    assert at_truth["oja_gap_euclidean"] < 1e-6 and at_truth["oja_gap_in_posterior_sds"] < 1e-3
    assert at_truth["condition_number"] > 1 and "condition number" in at_truth["report"]
    moved = oja().with_terms({"x1y1w0": 0.9})
    off = _identifiability(moved, circuit, data)
    assert abs(off["oja_gap_euclidean"] - 0.1) < 1e-5
    assert off["oja_gap_in_posterior_sds"] > 1 and 0 <= off["oja_gap_share_in_5_weakest_directions"] <= 1
    assert len(off["least_determined"]) == 3
