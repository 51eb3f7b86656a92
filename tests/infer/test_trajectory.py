import warnings

import jax
import numpy as np
import pytest

from plastinfer.errors import ConfigError, DatasetError
from plastinfer.circuits import PlasticLayer
from plastinfer.data import simulate
from plastinfer.infer import TrajectoryFitConfig, evaluate, fit_trajectory
from plastinfer.rules import Taylor, hebb, oja


@pytest.fixture(scope="module")
def linear_oja():
    circuit = PlasticLayer(10, 20, "linear", eta=0.05)
    data = simulate(jax.random.PRNGKey(0), circuit, oja(), 24, 50, input_std=0.5)
    return circuit, *data.split(4)


def test_small_recovery_finds_ojas_two_terms(linear_oja):
    circuit, train, test = linear_oja
    cfg = TrajectoryFitConfig(epochs=40, learning_rate=1e-2, init_weights="true", seed=0, solver="adam")
    res = fit_trajectory(Taylor.init(jax.random.PRNGKey(1)), circuit, train, test=test, config=cfg, progress=False)
    c = res.rule.coefficients()
    assert abs(c["x1y1w0"] - 1) < 0.1 and abs(c["x0y2w1"] + 1) < 0.1
    assert max(abs(v) for k, v in c.items() if k not in ("x1y1w0", "x0y2w1")) < 0.1
    assert res.metrics["test_r2_weights"] > 0.95
    assert res.history["theta"].shape == (41, 27) and res.history["loss"].shape == (40,)
    assert res.history["loss"][-1] < 0.1 * res.history["loss"][0]


def test_lbfgs_solver_recovers_oja(linear_oja):
    circuit, train, test = linear_oja
    cfg = TrajectoryFitConfig(epochs=25, solver="lbfgs", init_weights="true")
    res = fit_trajectory(Taylor.init(jax.random.PRNGKey(1)), circuit, train, test=test, config=cfg, progress=False)
    c = res.rule.coefficients()
    assert abs(c["x1y1w0"] - 1) < 0.1 and abs(c["x0y2w1"] + 1) < 0.1


def test_auto_solver_is_levenberg_marquardt_for_known_initial_weights_and_stops_when_converged(linear_oja):
    circuit, train, test = linear_oja
    cfg = TrajectoryFitConfig(epochs=200, init_weights="true")
    res = fit_trajectory(Taylor.init(jax.random.PRNGKey(1)), circuit, train, test=test, config=cfg, progress=False)
    c = res.rule.coefficients()
    assert res.metrics["solver"] == "lm"
    assert abs(c["x1y1w0"] - 1) < 1e-3 and abs(c["x0y2w1"] + 1) < 1e-3
    assert max(abs(v) for k, v in c.items() if k not in ("x1y1w0", "x0y2w1")) < 1e-3
    assert len(res.history["loss"]) < 60  # converged long before 200 iterations, and stopped
    assert TrajectoryFitConfig().resolved_solver(27) == "adam"  # resampled initial weights: the paper's Adam
    assert TrajectoryFitConfig(init_weights="true", l1=0.1).resolved_solver(27) == "adam"
    assert TrajectoryFitConfig(init_weights="true").resolved_solver(5000) == "adam"


def test_truth_scores_perfectly(linear_oja):
    circuit, _, test = linear_oja
    m = evaluate(oja(), circuit, test, truth=oja())
    assert m["r2_weights"] == pytest.approx(1.0) and m["r2_activity"] == pytest.approx(1.0)
    m0 = evaluate(Taylor.zeros(), circuit, test, truth=oja())
    assert m0["r2_weights"] < 0.9


def test_diverging_rule_gives_finite_loss_and_parameters():
    circuit = PlasticLayer(5, 5, "linear", eta=1.0)
    data = simulate(jax.random.PRNGKey(0), circuit, oja(), 4, 30, input_std=0.5)
    explosive = Taylor.from_terms({"x1y1w0": 50.0, "x0y0w2": 50.0})
    cfg = TrajectoryFitConfig(epochs=2, learning_rate=1e-3, init_weights="true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = fit_trajectory(explosive, circuit, data, config=cfg, progress=False)
    assert np.all(np.isfinite(res.history["loss"])) and res.history["loss"][0] > 1.0
    assert np.all(np.isfinite(np.asarray(res.rule.theta)))


def test_resample_mode_draws_model_weights_independently(linear_oja):
    """The paper's protocol runs without ever touching the data's initial weights."""
    circuit, train, _ = linear_oja
    import dataclasses

    no_w0 = dataclasses.replace(train, init_weights=None)
    res = fit_trajectory(hebb(0.0), circuit, no_w0, config=TrajectoryFitConfig(epochs=1), progress=False)
    assert np.isfinite(res.metrics["final_loss"]) and "weight_error" not in res.history


def test_config_and_data_errors(linear_oja):
    circuit, train, _ = linear_oja
    with pytest.raises(ConfigError, match="lbfgs"):
        TrajectoryFitConfig(solver="lbfgs", init_weights="resample")
    with pytest.raises(ConfigError, match="init_weights"):
        TrajectoryFitConfig(init_weights="guess")
    with pytest.raises(DatasetError, match="n_in=7"):
        fit_trajectory(oja(), PlasticLayer(7, 20), train, progress=False)


def test_latent_initial_weights_recover_oja_without_knowing_them(linear_oja):
    """In a linear layer the initial weights persist; resampling them (the paper's
    protocol) fails, fitting them as latent parameters (with a warm-up) recovers Oja."""
    circuit, train, test = linear_oja
    kw = dict(epochs=60, learning_rate=1e-2, seed=0)
    latent = fit_trajectory(Taylor.init(jax.random.PRNGKey(1)), circuit, train, test=test,
                            config=TrajectoryFitConfig(init_weights="latent", **kw), progress=False)
    c = latent.rule.coefficients()
    assert abs(c["x1y1w0"] - 1) < 0.1 and abs(c["x0y2w1"] + 1) < 0.1
    assert latent.metrics["test_r2_weights"] > 0.95
    resampled = fit_trajectory(Taylor.init(jax.random.PRNGKey(1)), circuit, train, test=test,
                               config=TrajectoryFitConfig(init_weights="resample", **kw), progress=False)
    assert resampled.metrics["test_r2_weights"] < 0.5
