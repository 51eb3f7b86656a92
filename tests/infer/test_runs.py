import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastinfer.circuits import PlasticLayer
from plastinfer.data import simulate
from plastinfer.infer import TrajectoryFitConfig, fit_trajectory
from plastinfer.runs import MANIFEST, RunExistsError, RunFolder, load_rule, write_run
from plastinfer.rules import MLPRule, Taylor, oja


@pytest.fixture(scope="module")
def setup():
    circuit = PlasticLayer(6, 8, "linear", eta=0.05)
    data = simulate(jax.random.PRNGKey(0), circuit, oja(), 6, 20, input_std=0.5)
    return circuit, data


def test_run_folder_round_trip_and_resume(tmp_path, setup):
    circuit, data = setup
    run = tmp_path / "run"
    run.mkdir()
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


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_existing_folder_is_never_replaced_unless_it_is_a_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    with pytest.raises(RunExistsError, match="--force"):
        RunFolder(run)
    with pytest.raises(RunExistsError, match="nothing to resume"):
        RunFolder(run, resume=True)
    with pytest.raises(RunExistsError, match="not a plastinfer run folder"):  # no manifest: the user's folder
        RunFolder(run, force=True)
    assert _tree(run) == {"metrics.json": b"{}"}


def test_run_folder_is_staged_and_replaced_atomically(tmp_path):
    run = tmp_path / "a" / "run"
    with RunFolder(run) as stage:
        assert stage.name == ".run.partial" and not run.exists()
        (stage / "x.txt").write_text("one")
    assert _tree(run).keys() == {"x.txt", MANIFEST} and not stage.exists()
    # a failing command leaves the old run as it was and creates nothing
    before = _tree(tmp_path)
    with pytest.raises(ZeroDivisionError):
        with RunFolder(run, force=True) as stage:
            (stage / "x.txt").write_text("two")
            1 / 0
    assert _tree(tmp_path) == before
    with pytest.raises(ZeroDivisionError):
        with RunFolder(tmp_path / "new" / "deeper" / "run") as stage:
            1 / 0
    assert not (tmp_path / "new").exists()
    # --force replaces a run folder whose every file plastinfer wrote …
    with RunFolder(run, force=True) as stage:
        (stage / "y.txt").write_text("two")
    assert _tree(run).keys() == {"y.txt", MANIFEST}
    # … but not once the user has put something of their own inside
    (run / "notes.md").write_text("mine")
    with pytest.raises(RunExistsError, match="did not write.*notes.md"):
        RunFolder(run, force=True)
    assert (run / "notes.md").read_text() == "mine"


def test_force_refuses_inputs_inside_and_the_working_folder(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with RunFolder(run) as stage:
        (stage / "data.npz").write_text("d")
    with pytest.raises(RunExistsError, match="lies inside"):
        RunFolder(run, force=True, inputs=(run / "data.npz",))
    monkeypatch.chdir(run)
    with pytest.raises(RunExistsError, match="working folder"):
        RunFolder(".", force=True)
    (tmp_path / "file").write_text("f")
    with pytest.raises(RunExistsError, match="is a file"):
        RunFolder(tmp_path / "file" / "run")


def test_interrupted_stage_is_kept_for_resume(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        with RunFolder(run) as stage:
            (stage / "checkpoint.npz").write_bytes(b"ck")
            raise KeyboardInterrupt
    assert (tmp_path / ".run.partial" / "checkpoint.npz").exists() and not run.exists()
    with pytest.raises(RunExistsError, match="interrupted run"):
        RunFolder(run)
    with RunFolder(run, resume=True) as stage:
        assert (stage / "checkpoint.npz").read_bytes() == b"ck"
    assert (run / "checkpoint.npz").exists() and not (tmp_path / ".run.partial").exists()


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


def test_non_finite_rules_are_never_written(tmp_path):
    from plastinfer.runs import save_rule

    bad = Taylor.from_terms({"x1y1w0": 1.0})
    bad = eqx.tree_at(lambda r: r.theta, bad, bad.theta.at[0, 0, 0].set(jnp.nan))
    with pytest.raises(FloatingPointError, match="non-finite"):
        save_rule(tmp_path / "rule.npz", bad)
    assert not (tmp_path / "rule.npz").exists()
