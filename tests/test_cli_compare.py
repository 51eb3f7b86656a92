"""``plastinfer compare``: fits and compares models on choice files; bad input exits 2 and writes nothing."""

import json

import jax
import numpy as np
import pandas as pd
import pytest

from plastinfer.cli import main
from plastinfer.infer import QLearning, simulate_bandit
from plastinfer.infer.compare import compare_models


@pytest.fixture(scope="module")
def sim_table(tmp_path_factory):
    d = simulate_bandit(jax.random.PRNGKey(0), QLearning.make(2, alpha=0.4, beta=5.0), n_subjects=3, n_trials=500,
                        n_sessions=2, p_ignore=0.05)
    path = tmp_path_factory.mktemp("cmp") / "sim.csv"
    d.save_table(path)
    return d, path


def test_compare_ranks_the_generating_model_above_the_null(sim_table):
    data, _ = sim_table
    comp = compare_models(["q_learning", "wsls"], data, n_starts=1, steps=60, progress=False)
    assert list(comp.summary.index)[0] == "q_learning"
    assert set(comp.summary.index) == {"q_learning", "wsls", "constant_bias"}  # the null is always added
    t = comp.table
    assert len(t) == 3 * 3 and (t.heldout_trials > 0).all()
    # held-out deviance explained is 0 for the null by definition and positive for the generating model
    np.testing.assert_allclose(t[t.model == "constant_bias"].heldout_deviance_explained, 0, atol=1e-9)
    assert (t[t.model == "q_learning"].heldout_deviance_explained > 20).all()
    assert comp.verdict is None  # no plasticity model in the list
    assert comp.summary.loc["q_learning", "n_worse_than_null"] == 0 and comp.summary.loc["constant_bias", "n_worse_than_null"] == 0


def test_cli_compare_writes_tables_figures_and_a_verdict(sim_table, tmp_path, capsys):
    _, path = sim_table
    out = tmp_path / "cmp"
    rc = main(["compare", "--data", str(path), "-o", str(out), "--models", "q_learning,plasticity", "--starts", "1",
               "--steps", "40", "--split", "sessions:2", "--l1", "5", "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "best plasticity model (plasticity)" in printed and "q_learning" in printed
    for name in ("table.csv", "summary.csv", "comparison.json", "heldout.png", "parameters_q_learning.csv",
                 "parameters_plasticity.csv", "data.json"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "comparison.json").read_text())
    assert doc["verdict"]["outcome"] in ("beats", "ties", "loses") and doc["settings"]["l1"] == 5.0
    table = pd.read_csv(out / "table.csv")
    # leave-sessions-out: every trial with a choice is held out exactly once
    assert table.groupby("model").heldout_trials.sum().eq(int(sim_table[0].observed.sum())).all()
    assert main(["compare", "--data", str(path), "-o", str(out), "--quiet"]) == 2  # exists, no --force


def _bad(tmp_path, frame: pd.DataFrame, name="bad.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_bad_inputs_exit_2_and_write_nothing(sim_table, tmp_path, capsys):
    data, good = sim_table
    df = pd.read_csv(good)
    cases = {
        "missing column": (_bad(tmp_path, df.drop(columns="reward"), "a.csv"), [], "missing column(s) ['reward']"),
        "three options in a two-alternative task": (
            _bad(tmp_path, df.assign(choice=df.choice.where(df.index != 7, 2)), "b.csv"),
            ["--readout", "two_alternative"], "line 9"),
        "NaN reward": (_bad(tmp_path, df.assign(reward=df.reward.where(df.index != 4, np.nan))
                            .assign(choice=df.choice.where(df.index != 4, 1)), "c.csv"), [], "line 6"),
        "a subject with no choices": (
            _bad(tmp_path, pd.concat([df, pd.DataFrame({"subject": ["ghost"] * 3, "session": [0] * 3, "trial": [0, 1, 2],
                                                        "choice": [-1] * 3, "reward": [0.0] * 3})]), "d.csv"),
            [], "no trials with a choice"),
        "unreadable NWB": (tmp_path / "e.nwb", [], "not a readable NWB file"),
        "unknown preset": (good, ["--columns", "nonesuch"], "unknown column preset"),
        "bad JSON column map": (good, ["--columns", "{not json"], "not a JSON object"),
        "bad split": (good, ["--split", "sessions:1"], "split must be"),
        "bad starts": (good, ["--starts", "0"], "--starts must be"),
        "negative l1": (good, ["--l1", "-1"], "--l1 must be"),
    }
    (tmp_path / "e.nwb").write_bytes(b"\x89HDF\r\n\x1a\n garbage")
    for label, (path, extra, message) in cases.items():
        out = tmp_path / f"out-{label.replace(' ', '-')}"
        rc = main(["compare", "--data", str(path), "-o", str(out), "--quiet", *extra])
        err = capsys.readouterr().err
        assert rc == 2, label
        assert err.startswith("plastinfer: error:") and err.count("\n") == 1 and message in err, (label, err)
        assert not out.exists() and not list(tmp_path.glob(f".{out.name}*")), label


def test_sessions_both_fits_every_model_reset_and_carried(sim_table):
    data, _ = sim_table
    comp = compare_models(["q_learning"], data, sessions="both", n_starts=1, steps=40, progress=False)
    assert set(comp.summary.index) == {"q_learning", "q_learning@carry", "constant_bias", "constant_bias@carry"}
    t = comp.table.set_index(["model", "subject"])
    assert (t.loc["q_learning@carry", "sessions"] == "carry").all()
    # the data reset their state at session starts (simulate_bandit's default): reset fits them at least as well
    assert comp.table.query("model == 'q_learning'").nll.sum() <= comp.table.query("model == 'q_learning@carry'").nll.sum() + 1


def test_fit_reads_a_folder_of_nwb_sessions(tmp_path):
    """``plastinfer fit CONFIG --data FOLDER`` with one NWB file per session (tidy column names)."""
    import datetime

    import tomli_w
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject

    rng = np.random.default_rng(0)
    folder = tmp_path / "nwb"
    folder.mkdir()
    for k, subject in enumerate(("f1", "f2")):
        nwb = NWBFile(session_description="two odors", identifier=f"{subject}-s1", session_id="s1",
                      session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
                      subject=Subject(subject_id=subject, species="Drosophila melanogaster"))
        nwb.add_trial_column("choice", "chosen odor, 0 or 1")
        nwb.add_trial_column("reward", "1 if rewarded")
        for t in range(40):
            c = int(rng.integers(0, 2))
            nwb.add_trial(start_time=float(t), stop_time=t + 0.5, choice=c, reward=float(rng.random() < 0.5))
        with NWBHDF5IO(str(folder / f"{subject}.nwb"), "w") as io:
            io.write(nwb)
    cfg = {"circuit": {"kind": "choice", "readout": "two_alternative"},
           "model": {"family": "taylor", "variables": ["x", "r"], "order": 1}, "fit": {"epochs": 2}}
    (tmp_path / "cfg.toml").write_bytes(tomli_w.dumps(cfg).encode())
    rc = main(["fit", str(tmp_path / "cfg.toml"), "--data", str(folder), "-o", str(tmp_path / "run"), "--quiet"])
    assert rc == 0 and (tmp_path / "run" / "metrics.json").is_file()
    (folder / "broken.nwb").write_bytes(b"not hdf5")
    assert main(["fit", str(tmp_path / "cfg.toml"), "--data", str(folder), "-o", str(tmp_path / "run2"), "--quiet"]) == 2
    assert not (tmp_path / "run2").exists()
