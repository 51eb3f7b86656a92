import json

import numpy as np
import pytest

from plastinfer.cli import main

CONFIG = """
[circuit]
n_in = 5
n_out = 6
nonlinearity = "linear"
eta = 0.05

[rule]
name = "oja"

[data]
n_trajectories = 6
n_steps = 20
input_std = 0.5

[fit]
epochs = 3
learning_rate = 0.01
init_weights = "true"
n_test = 2
"""


@pytest.fixture()
def cfg(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(CONFIG)
    return p


def test_simulate_fit_resume(tmp_path, cfg, capsys):
    data = tmp_path / "d.npz"
    assert main(["simulate", str(cfg), "-o", str(data)]) == 0
    run = tmp_path / "run"
    assert main(["fit", str(cfg), "--data", str(data), "-o", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "fitted rule" in out and "r2_weights (held out)" in out
    for name in ("config.toml", "metrics.json", "history.npz", "rule.npz", "checkpoint.npz", "coefficients.png", "loss.png"):
        assert (run / name).exists(), name
    # refuses to overwrite, resumes on request
    assert main(["fit", str(cfg), "--data", str(data), "-o", str(run), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["fit", str(cfg), "--data", str(data), "-o", str(run), "--resume", "--epochs", "5", "--quiet"]) == 0
    with np.load(run / "history.npz") as h:
        assert h["loss"].shape == (5,)
    assert json.loads((run / "metrics.json").read_text())["results"]["epochs"] == 5


@pytest.mark.parametrize(
    "content, message",
    [
        ("[circuit\nn_in = 3", "not valid TOML"),
        ("[circuit]\nn_in = 3\nn_out = 2\n[rule]\nname = 'ojas'", "unknown name 'ojas'"),
        ("[circuit]\nn_in = 3\nn_out = 2\nwidth = 4\n[rule]\nname = 'oja'", "unknown key(s) ['width']"),
        ("[circuit]\nn_in = 3\nn_out = 2\n[rule]\nname = 'oja'\n[data]\nfraction_recorded = 2.0", "fraction_recorded"),
        ("[circuit]\nn_in = 3\nn_out = 2", "missing table [rule]"),
        ("[banana]\nx = 1", "unknown table"),
    ],
)
def test_bad_configs_exit_2_with_one_line(tmp_path, content, message, capsys):
    p = tmp_path / "bad.toml"
    p.write_text(content)
    assert main(["simulate", str(p), "-o", str(tmp_path / "d.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("plastinfer: error:")
    assert not (tmp_path / "d.npz").exists()


def test_missing_and_mismatched_data(tmp_path, cfg, capsys):
    assert main(["fit", str(cfg), "--data", str(tmp_path / "none.npz"), "-o", str(tmp_path / "r")]) == 2
    assert "no such file" in capsys.readouterr().err
    data = tmp_path / "d.npz"
    assert main(["simulate", str(cfg), "-o", str(data)]) == 0
    other = tmp_path / "other.toml"
    other.write_text(CONFIG.replace("n_in = 5", "n_in = 7"))
    assert main(["fit", str(other), "--data", str(data), "-o", str(tmp_path / "r"), "--quiet"]) == 2
    assert "n_in=7" in capsys.readouterr().err
    # simulate never overwrites silently
    before = data.read_bytes()
    assert main(["simulate", str(cfg), "-o", str(data)]) == 2
    assert data.read_bytes() == before


def test_reproduce_list_and_unknown(capsys, tmp_path):
    assert main(["reproduce", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("mehta-fig2", "mehta-fig3", "mehta-table1", "mehta-table2", "mehta-fly", "confavreux-fig1",
                 "confavreux-fig2", "confavreux-fig3", "nayebi-fig2", "nayebi-fig3", "nayebi-fig4", "nayebi-fig5"):
        assert name in listed
    assert main(["reproduce", "nope", "-o", str(tmp_path / "x")]) == 2


def test_reproduce_options_are_checked(capsys, tmp_path):
    assert main(["reproduce", "mehta-fig2", "--data", str(tmp_path), "-o", str(tmp_path / "a")]) == 2
    assert "takes no --data" in capsys.readouterr().err
    assert main(["reproduce", "mehta-fly", "--data", str(tmp_path / "missing"), "-o", str(tmp_path / "b")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["reproduce", "mehta-fly", "--data", str(tmp_path / "empty"), "-o", str(tmp_path / "c")]) == 2
    assert "no fly folders" in capsys.readouterr().err


def test_population_options_are_checked_before_anything_runs(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["reproduce", "nayebi-fig5", "--population", str(tmp_path / "pop"), "-o", str(out)]) == 2
    assert "takes no --population" in capsys.readouterr().err
    assert main(["reproduce", "nayebi-fig3", "--workers", "0", "-o", str(out)]) == 2
    assert "--workers" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["reproduce", "nayebi-fig3", "--population", str(tmp_path / "file"), "-o", str(out)]) == 2
    assert "not a folder" in capsys.readouterr().err
    # --force would replace the output folder, and with it a population kept inside it
    (out / "pop" / "runs").mkdir(parents=True)
    (out / "pop" / "runs" / "g.npz").write_bytes(b"kept")
    assert main(["reproduce", "nayebi-fig4", "--force", "--population", str(out / "pop"), "-o", str(out)]) == 2
    assert "inside" in capsys.readouterr().err and (out / "pop" / "runs" / "g.npz").read_bytes() == b"kept"
    assert main(["reproduce", "nayebi-fig2", "--data", str(tmp_path), "-o", str(tmp_path / "r2")]) == 2
    assert "takes no --data" in capsys.readouterr().err


def test_demo_recovers_oja(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "θ[x1y1w0]" in out
    import json

    theta = json.loads((tmp_path / "demo" / "run" / "metrics.json").read_text())["results"]
    assert theta["test_r2_weights"] > 0.95
    assert main(["demo", "-o", str(tmp_path / "demo")]) == 2  # not overwritten without --force


def test_run_config_is_a_valid_config(tmp_path, cfg):
    data = tmp_path / "d.npz"
    assert main(["simulate", str(cfg), "-o", str(data)]) == 0
    run = tmp_path / "run"
    assert main(["fit", str(cfg), "--data", str(data), "-o", str(run), "--quiet"]) == 0
    # the written config.toml can drive a new fit as is
    assert main(["fit", str(run / "config.toml"), "--data", str(data), "-o", str(tmp_path / "run2"), "--quiet"]) == 0


def test_reproduce_writes_through_a_stage_and_force_replaces_only_its_own_output(tmp_path, monkeypatch, capsys):
    import plastinfer.experiments as experiments
    from plastinfer.experiments import Experiment

    calls = []

    def run(out, quick=False, progress=True):
        calls.append(out)
        assert out.name == ".out.partial"  # the reproduction writes into the stage …
        (out / "metrics.json").write_text('{"results": {}}')
        if len(calls) == 2:
            raise experiments_error("late failure")
        return {}

    from plastinfer.errors import DatasetError as experiments_error

    monkeypatch.setattr(experiments, "get_experiment", lambda name: Experiment(name, "paper", "fake", run))
    out = tmp_path / "out"
    assert main(["reproduce", "fake", "-o", str(out)]) == 0
    assert (out / "metrics.json").exists() and (out / ".plastinfer-run.json").exists()  # … moved into place
    before = (out / "metrics.json").stat().st_mtime_ns
    assert main(["reproduce", "fake", "-o", str(out), "--force"]) == 2  # a late error keeps the old output
    assert (out / "metrics.json").stat().st_mtime_ns == before and not (tmp_path / ".out.partial").exists()
    assert main(["reproduce", "fake", "-o", str(out), "--force"]) == 0
    assert len(calls) == 3
