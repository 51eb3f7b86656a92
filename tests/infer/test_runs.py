import json

import jax
import numpy as np
import pytest

from plastinfer.circuits import PlasticLayer
from plastinfer.data import simulate
from plastinfer.infer import TrajectoryFitConfig, fit_trajectory
from plastinfer.runs import RunExistsError, load_rule, prepare_run_dir, write_run
from plastinfer.rules import MLPRule, Taylor, oja


@pytest.fixture(scope="module")
def setup():
    circuit = PlasticLayer(6, 8, "linear", eta=0.05)
    data = simulate(jax.random.PRNGKey(0), circuit, oja(), 6, 20, input_std=0.5)
    return circuit, data


def test_run_folder_round_trip_and_resume(tmp_path, setup):
    circuit, data = setup
    run = prepare_run_dir(tmp_path / "run")
    cfg = TrajectoryFitConfig(epochs=4, learning_rate=1e-2, init_weights="true")
    res = fit_trajectory(Taylor.init(jax.random.PRNGKey(1)), circuit, data, config=cfg, progress=False,
                         checkpoint=run / "checkpoint.npz")
    figs = write_run(run, res, {"fit": {"epochs": 4}})
    assert {p.name for p in figs} >= {"loss.png", "coefficients.png", "weight_error.png"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["results"]["epochs"] == 4
    back = load_rule(run / "rule.npz")
    assert back.coefficients() == res.rule.coefficients()

    # resuming 4 → 8 epochs equals one 8-epoch run
    cfg8 = TrajectoryFitConfig(epochs=8, learning_rate=1e-2, init_weights="true")
    resumed = fit_trajectory(Taylor.init(jax.random.PRNGKey(1)), circuit, data, config=cfg8, progress=False,
                             checkpoint=run / "checkpoint.npz", resume=True)
    straight = fit_trajectory(Taylor.init(jax.random.PRNGKey(1)), circuit, data, config=cfg8, progress=False)
    np.testing.assert_allclose(resumed.rule.theta, straight.rule.theta, rtol=0, atol=1e-6)
    assert resumed.history["loss"].shape == (8,) and resumed.history["theta"].shape == (9, 27)


def test_existing_run_is_not_overwritten(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    with pytest.raises(RunExistsError, match="--force"):
        prepare_run_dir(run)
    assert (run / "metrics.json").read_text() == "{}"
    with pytest.raises(RunExistsError, match="nothing to resume"):
        prepare_run_dir(run, resume=True)
    prepare_run_dir(run, force=True)
    assert not (run / "metrics.json").exists()


def test_mlp_rule_fits_and_saves(tmp_path, setup):
    circuit, data = setup
    rule = MLPRule(jax.random.PRNGKey(0), ("x", "y", "w"), width=4)
    res = fit_trajectory(rule, circuit, data, config=TrajectoryFitConfig(epochs=2, init_weights="true"), progress=False)
    assert res.names is None and res.history["params"].shape[0] == 3
    write_run(tmp_path, res, {}, figures=False)
    back = load_rule(tmp_path / "rule.npz")
    x = np.ones((1, 6), np.float32)
    y = np.ones((1, 8), np.float32)
    w = np.zeros((8, 6), np.float32)
    np.testing.assert_allclose(back(x, y, w), res.rule(x, y, w), rtol=1e-6)
