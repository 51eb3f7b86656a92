"""`plastinfer fit --uncertainty` and `plastinfer posterior RUN`: files, numbers, bad options."""

import numpy as np
import pandas as pd
import pytest

from plastinfer.cli import main

CONFIG = """
[circuit]
n_in = 4
n_out = 5
nonlinearity = "linear"
eta = 0.05

[rule]
name = "oja"

[data]
n_trajectories = 6
n_steps = 25
input_std = 0.5
noise_std = 0.05

[model]
family = "taylor"
variables = ["x", "y", "w"]
order = 2
init_scale = 0.01

[fit]
epochs = 25
solver = "lbfgs"
init_weights = "true"
n_test = 1
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("posterior")
    (tmp / "c.toml").write_text(CONFIG)
    assert main(["simulate", str(tmp / "c.toml"), "-o", str(tmp / "d.npz")]) == 0
    assert main(["fit", str(tmp / "c.toml"), "--data", str(tmp / "d.npz"), "-o", str(tmp / "run"), "--quiet",
                 "--uncertainty", "laplace"]) == 0
    return tmp


def test_fit_uncertainty_writes_the_posterior_and_it_covers_oja(run):
    folder = run / "run" / "posterior"
    for name in ("posterior.npz", "summary.csv", "report.txt", "corner.png", "spectrum.png"):
        assert (folder / name).is_file(), name
    table = pd.read_csv(folder / "summary.csv", index_col=0)
    assert len(table) == 27
    for term, truth in (("x1y1w0", 1.0), ("x0y2w1", -1.0)):
        row = table.loc[term]
        assert row["2.5%"] - 0.05 < truth < row["97.5%"] + 0.05  # within the interval (plus the L-BFGS slack)
        assert row["sd"] < 0.1
    assert table.loc["x1y1w0", "P(>0)"] > 0.999 and table.loc["x0y2w1", "P(>0)"] < 0.001
    assert "directions determined" in (folder / "report.txt").read_text()


def test_posterior_command_rebuilds_the_fit_and_agrees_with_fit_uncertainty(run, capsys):
    assert main(["posterior", str(run / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "sign not determined" in out and "condition number" in out
    a = pd.read_csv(run / "run" / "posterior" / "summary.csv", index_col=0)
    b = pd.read_csv(run / "run" / "posterior-laplace" / "summary.csv", index_col=0)
    np.testing.assert_allclose(a["mean"], b["mean"], atol=1e-5)
    np.testing.assert_allclose(a["sd"], b["sd"], rtol=1e-3)
    # a second time refuses to overwrite; --force replaces; the run stays replaceable by `fit --force`
    assert main(["posterior", str(run / "run"), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["posterior", str(run / "run"), "--quiet", "--force"]) == 0


def test_posterior_nuts_from_the_cli(run, capsys):
    assert main(["posterior", str(run / "run"), "--method", "nuts", "--chains", "2", "--draws", "60", "--warmup",
                 "40", "--quiet"]) == 0
    with np.load(run / "run" / "posterior-nuts" / "posterior.npz", allow_pickle=False) as z:
        assert z["samples"].shape == (2, 60, 27)
    assert "r_hat" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--method", "mcmc"], "invalid choice"),
    (["--chains", "2"], "NUTS option"),
    (["--method", "nuts", "--draws", "3"], "--draws must be at least 10"),
    (["--prior-scale", "-1"], "--prior-scale must be"),
    (["--prior-scale", "nan"], "--prior-scale must be"),
    (["--prior", "laplace"], "needs --prior-scale"),
    (["--dense-mass"], "NUTS options"),
    (["--method", "nuts", "--target-accept", "1.5"], "--target-accept must be"),
    (["--data", "missing.npz"], "no such file"),
])
def test_bad_posterior_options_exit_2_with_one_line(run, args, message, capsys, tmp_path):
    assert main(["posterior", str(run / "run"), *args, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_posterior_of_something_that_is_not_a_run(tmp_path, run, capsys):
    assert main(["posterior", str(tmp_path / "nothing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["posterior", str(tmp_path)]) == 2
    assert "not a fit's run folder" in capsys.readouterr().err


def test_posterior_refuses_other_data(run, tmp_path, capsys):
    other = tmp_path / "other.toml"
    other.write_text(CONFIG.replace("noise_std = 0.05", "noise_std = 0.05\nseed = 9"))
    assert main(["simulate", str(other), "-o", str(tmp_path / "o.npz")]) == 0
    assert main(["posterior", str(run / "run"), "--data", str(tmp_path / "o.npz"), "-o", str(tmp_path / "p")]) == 2
    assert "not the data" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
