"""Tidy choice tables (CSV / Parquet), the column map, and NWB sessions written by pynwb."""

import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastinfer.data import IGNORED, ChoiceColumns, ChoiceDataset, load_choice_nwb, load_choice_table
from plastinfer.errors import DatasetError


def _bandit_frame(seed=0, subjects=("m1", "m2"), sessions=("2024-01-01", "2024-01-02"), trials=8, arms=2):
    rng = np.random.default_rng(seed)
    rows = []
    for subj in subjects:
        for sess in sessions:
            for t in range(trials):
                ignored = rng.random() < 0.2
                arm = int(rng.integers(0, arms))
                rows.append(dict(subject=subj, session=sess, trial=t, choice=-1 if ignored else arm,
                                 reward=0.0 if ignored else float(rng.random() < 0.5), lick_rate=float(rng.random()),
                                 outcome="miss" if ignored else "done"))
    return pd.DataFrame(rows)


def test_csv_and_parquet_read_the_same_sessions(tmp_path):
    df = _bandit_frame()
    shuffled = df.sample(frac=1, random_state=1)  # row order must not matter
    shuffled.to_csv(tmp_path / "t.csv", index=False)
    shuffled.to_parquet(tmp_path / "t.parquet")
    a, b = load_choice_table(tmp_path / "t.csv"), load_choice_table(tmp_path / "t.parquet")
    assert a.subjects == ("m1", "m2") and a.n_arms == 2 and a.readout == "bandit"
    for x in (a, b):
        assert x.n_sessions.tolist() == [2, 2]
        # trials in session order then trial order: equal to the unshuffled table's rows
        want = df[df.subject == "m1"].choice.to_numpy()
        np.testing.assert_array_equal(x.choices[0], want)
        np.testing.assert_array_equal(x.ignored[0], want == -1)
        np.testing.assert_array_equal(x.sessions[0], np.repeat([0, 1], 8))
        np.testing.assert_allclose(x.covariates["lick_rate"][0], df[df.subject == "m1"].lick_rate, rtol=1e-6)
        assert x.meta["categories"]["outcome"] == ["done", "miss"]
    np.testing.assert_array_equal(a.choices, b.choices)
    np.testing.assert_array_equal(a.rewards, b.rewards)
    assert a.meta["session_labels"]["m1"] == ["2024-01-01", "2024-01-02"]
    assert a.observed.sum() == (df.choice >= 0).sum()


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 4), st.integers(0, 10_000), st.booleans())
def test_save_and_load_round_trip(tmp_path_factory, n_subjects, n_sessions, arms, seed, parquet):
    df = _bandit_frame(seed, [f"s{i}" for i in range(n_subjects)], [f"d{j}" for j in range(n_sessions)], 6, arms)
    df.loc[df.index[:2], "choice"] = arms - 1  # every arm appears, so n_arms is inferred
    df.loc[df.index[:2], "reward"] = 1.0
    path = tmp_path_factory.mktemp("rt") / ("t.parquet" if parquet else "t.csv")
    df.to_csv(path, index=False) if not parquet else df.to_parquet(path)
    data = load_choice_table(path)
    assert data.n_arms == arms
    out = path.with_name("again" + path.suffix)
    data.save_table(out)
    back = load_choice_table(out)
    for field in ("choices", "rewards", "mask", "sessions", "ignored"):
        np.testing.assert_array_equal(getattr(back, field), getattr(data, field))
    np.testing.assert_allclose(back.covariates["lick_rate"], data.covariates["lick_rate"], rtol=1e-6)
    assert back.meta["session_labels"] == data.meta["session_labels"]
    with pytest.raises(FileExistsError):
        data.save_table(out)


def test_column_map_labels_and_per_arm_rewards(tmp_path):
    df = pd.DataFrame({"mouse": ["a"] * 5, "day": [1] * 5, "resp": ["left", "right", "miss", "right", "left"],
                       "rewL": [1, 0, 0, 0, 0], "rewR": [0, 1, 0, 0, 0], "pL": [0.8] * 5, "pR": [0.2] * 5})
    df.to_csv(tmp_path / "lab.csv", index=False)
    cols = {"subject": "mouse", "session": "day", "trial": None, "choice": "resp", "reward": None,
            "reward_per_arm": ["rewL", "rewR"], "reward_probs": ["pL", "pR"],
            "choice_values": {"left": 0, "right": 1, "miss": None}}
    d = load_choice_table(tmp_path / "lab.csv", columns=cols)
    np.testing.assert_array_equal(d.choices[0], [0, 1, IGNORED, 1, 0])
    np.testing.assert_array_equal(d.rewards[0], [1, 1, 0, 0, 0])
    np.testing.assert_allclose(d.reward_probs[0, :, 0], 0.8)
    assert d.covariates == {} and d.n_arms == 2


def test_split_and_select_keep_sessions_ignored_and_covariates(tmp_path):
    _bandit_frame(3).to_csv(tmp_path / "t.csv", index=False)
    d = load_choice_table(tmp_path / "t.csv")
    head, tail = d.split_session(0.5)
    for s in range(d.n_subjects):
        n = int(d.mask[s].sum())
        joined = np.concatenate([head.choices[s][head.mask[s]], tail.choices[s][tail.mask[s]]])
        np.testing.assert_array_equal(joined, d.choices[s][:n])
        np.testing.assert_array_equal(np.concatenate([head.ignored[s][head.mask[s]], tail.ignored[s][tail.mask[s]]]),
                                      d.ignored[s][:n])
    assert head.observed.sum() + tail.observed.sum() == d.observed.sum()
    assert tail.sessions[tail.mask].min() == 0 and set(tail.covariates) == set(d.covariates)
    one = d.select([1])
    np.testing.assert_array_equal(one.sessions[0], d.sessions[1])
    np.testing.assert_array_equal(one.covariates["lick_rate"][0], d.covariates["lick_rate"][1])


@pytest.mark.parametrize("edit, message", [
    (lambda df: df.drop(columns="reward"), "missing column(s) ['reward']"),
    (lambda df: df.assign(choice=df.choice.where(df.index != 5, 2)), "line 7: choice 2 but the task has 2 arms"),
    (lambda df: df.assign(reward=df.reward.where(df.index != 3, np.nan).where(df.choice >= 0, 0.0)),
     "line 5: column 'reward' is missing or not finite"),
    (lambda df: df.assign(choice=df.choice.astype(object).where(df.index != 4, "up")), "line 6: column 'choice' holds 'up'"),
    (lambda df: pd.concat([df, df.iloc[[2]]]), "trial 2 repeats"),
    (lambda df: df.iloc[:0], "no rows"),
    (lambda df: df.assign(subject=df.subject.where(df.index != 1, None)), "line 3: column 'subject' is empty"),
])
def test_bad_tables_name_file_column_and_row(tmp_path, edit, message):
    df = _bandit_frame(0, ("m1",), ("d1",), 8)
    df.loc[3, "choice"], df.loc[5, "choice"] = 1, 0  # trials with a choice where the edits land
    path = tmp_path / "bad.csv"
    edit(df).to_csv(path, index=False)
    with pytest.raises(DatasetError) as err:
        load_choice_table(path, n_arms=2)
    assert message in str(err.value) and str(path) in str(err.value)


def test_other_bad_inputs(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_choice_table(tmp_path / "none.csv")
    (tmp_path / "x.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DatasetError, match="not a readable"):
        load_choice_table(tmp_path / "x.parquet")
    with pytest.raises(DatasetError, match="unknown column preset"):
        load_choice_table(tmp_path / "x.parquet", columns="nope")
    with pytest.raises(DatasetError, match="unknown field"):
        ChoiceColumns.from_mapping({"choise": "c"})
    # a two-alternative task with a third option
    _bandit_frame(0, ("m1",), ("d1",), 6, arms=3).to_csv(tmp_path / "three.csv", index=False)
    with pytest.raises(DatasetError, match="choices 0 or 1"):
        load_choice_table(tmp_path / "three.csv", readout="two_alternative")
    # the same session in two files
    _bandit_frame(0, ("m1",), ("d1",), 4).to_csv(tmp_path / "a.csv", index=False)
    _bandit_frame(1, ("m1",), ("d1",), 4).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DatasetError, match="is also in"):
        load_choice_table([tmp_path / "a.csv", tmp_path / "b.csv"])
    # a subject whose trials are all ignored
    df = _bandit_frame(0, ("m1",), ("d1",), 4).assign(choice=-1, reward=0.0)
    df.to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(DatasetError, match="no trials with a choice"):
        load_choice_table(tmp_path / "empty.csv")


def test_dataset_validates_sessions_and_ignored():
    z = np.zeros((1, 4))
    with pytest.raises(DatasetError, match="count 0, 1"):
        ChoiceDataset(("a",), z - 1, z, z, np.ones((1, 4), bool), sessions=[[0, 1, 0, 1]])
    with pytest.raises(DatasetError, match="-1 on ignored"):
        ChoiceDataset(("a",), z - 1, z, z, np.ones((1, 4), bool), ignored=[[True, False, False, False]])
    with pytest.raises(DatasetError, match="arms 0 … 2"):
        ChoiceDataset(("a",), z - 1, z + 3, z, np.ones((1, 4), bool), readout="bandit", n_arms=3)


# ----------------------------------------------------------------------------- NWB
def _write_nwb(path, subject, session, frame, start_day=1):
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject

    nwb = NWBFile(session_description="two-armed bandit", identifier=f"{subject}-{session}",
                  session_start_time=datetime.datetime(2024, 1, start_day, tzinfo=datetime.timezone.utc),
                  session_id=session, subject=Subject(subject_id=subject, species="Mus musculus"))
    for c in ("animal_response", "rewarded_historyL", "rewarded_historyR", "reward_probabilityL", "reward_probabilityR"):
        nwb.add_trial_column(c, c)
    for i, r in frame.iterrows():
        nwb.add_trial(start_time=float(i), stop_time=float(i) + 0.5, animal_response=int(r.animal_response),
                      rewarded_historyL=bool(r.rewarded_historyL), rewarded_historyR=bool(r.rewarded_historyR),
                      reward_probabilityL=float(r.reward_probabilityL), reward_probabilityR=float(r.reward_probabilityR))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def _foraging_session(seed, n=12):
    rng = np.random.default_rng(seed)
    resp = rng.integers(0, 3, n)  # 2 = ignored
    rew = rng.random(n) < 0.5
    return pd.DataFrame({"animal_response": resp, "rewarded_historyL": (resp == 0) & rew,
                         "rewarded_historyR": (resp == 1) & rew, "reward_probabilityL": rng.choice([0.1, 0.5], n),
                         "reward_probabilityR": rng.choice([0.1, 0.5], n)})


def test_nwb_sessions_load_like_the_same_trials_from_csv(tmp_path):
    sessions = {("m1", "2024-01-01"): 0, ("m1", "2024-01-02"): 1, ("m2", "2024-01-01"): 2}
    rows = []
    for (subj, sess), seed in sessions.items():
        frame = _foraging_session(seed)
        _write_nwb(tmp_path / f"{subj}_{sess}.nwb", subj, sess, frame)
        arm = np.where(frame.animal_response == 2, -1, frame.animal_response)
        rows.append(pd.DataFrame({"subject": subj, "session": sess, "trial": np.arange(len(frame)), "choice": arm,
                                  "reward": (frame.rewarded_historyL | frame.rewarded_historyR).astype(float),
                                  "reward_prob_0": frame.reward_probabilityL, "reward_prob_1": frame.reward_probabilityR,
                                  "start_time": np.arange(len(frame), dtype=float),
                                  "stop_time": np.arange(len(frame)) + 0.5}))
    pd.concat(rows).to_csv(tmp_path / "same.csv", index=False)
    nwb = load_choice_nwb(tmp_path, columns="aind-foraging")
    csv = load_choice_table(tmp_path / "same.csv", columns={"reward_probs": ["reward_prob_0", "reward_prob_1"]})
    assert nwb.subjects == csv.subjects == ("m1", "m2")
    for field in ("choices", "rewards", "mask", "sessions", "ignored"):
        np.testing.assert_array_equal(getattr(nwb, field), getattr(csv, field))
    np.testing.assert_allclose(nwb.reward_probs, csv.reward_probs, equal_nan=True)
    np.testing.assert_allclose(nwb.covariates["start_time"], csv.covariates["start_time"], equal_nan=True)
    assert nwb.meta["session_labels"]["m1"] == ["2024-01-01", "2024-01-02"]
    # and a fit gives the same numbers from either file format
    from plastinfer.infer import QLearning, fit_bandit

    a, b = (fit_bandit(QLearning.make(2, side_bias=True), d, n_starts=1, steps=30) for d in (nwb, csv))
    np.testing.assert_allclose(a.nll, b.nll, rtol=1e-6)
    np.testing.assert_allclose(a.parameters().to_numpy(), b.parameters().to_numpy(), rtol=1e-5)


def test_unreadable_nwb(tmp_path):
    (tmp_path / "broken.nwb").write_bytes(b"\x89HDF\r\n garbage")
    with pytest.raises(DatasetError, match="broken.nwb: not a readable NWB file"):
        load_choice_nwb(tmp_path / "broken.nwb")
    with pytest.raises(DatasetError, match="holds no .nwb files"):
        load_choice_nwb(tmp_path / "empty_dir" if (tmp_path / "empty_dir").mkdir() is None else tmp_path)
    _write_nwb(tmp_path / "ok.nwb", "m", "s", _foraging_session(0))
    with pytest.raises(DatasetError, match="missing column"):
        load_choice_nwb(tmp_path / "ok.nwb")  # the tidy column names are not in this trials table
