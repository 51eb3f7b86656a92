import numpy as np
import pytest
from scipy.io import savemat

from plastinfer.errors import DatasetError
from plastinfer.data import ChoiceDataset, load_choice_csv, load_fly_folder, load_fly_folders, load_xyr_mat


def _fly(folder, choice, reward):
    folder.mkdir(parents=True)
    savemat(folder / "choice_order.mat", {"choice_order": np.asarray(choice, np.uint8)})
    savemat(folder / "reward_order.mat", {"reward_order": np.asarray(reward, np.uint8)})


def test_fly_folders_block_order_and_trailing_missing_trials(tmp_path):
    choice = np.array([[1, 2, 2], [2, 1, 0]])  # (trials per block, blocks); last trial missing
    reward = np.array([[1, 0, 2], [0, 1, 0]])
    _fly(tmp_path / "condA" / "fly1", choice, reward)
    _fly(tmp_path / "condA" / "fly2", np.ones((2, 3)), np.zeros((2, 3)))
    c, r = load_fly_folder(tmp_path / "condA" / "fly1")
    assert c.tolist() == [0, 1, 1, 0, 1] and r.tolist() == [1, 0, 0, 1, 1]  # block by block
    ds = load_fly_folders(tmp_path)
    assert ds.subjects == ("condA/fly1", "condA/fly2") and ds.readout == "two_alternative"
    assert ds.n_trials.tolist() == [5, 6] and ds.mask[0].tolist() == [True] * 5 + [False]


@pytest.mark.parametrize(
    "choice, reward, message",
    [
        ([[1, 3]], [[0, 0]], "must hold odors 1 or 2"),
        ([[1, 2]], [[2, 0]], "equal to the chosen odor"),
        ([[1, 2]], [[0, 0, 0]], "has shape"),
        ([[0, 2]], [[0, 0]], "missing trial"),
    ],
)
def test_fly_folder_errors_name_file_and_field(tmp_path, choice, reward, message):
    _fly(tmp_path / "f", choice, reward)
    with pytest.raises(DatasetError, match=message) as err:
        load_fly_folder(tmp_path / "f")
    assert "_order.mat" in str(err.value)


def test_missing_files_and_variables(tmp_path):
    with pytest.raises(DatasetError, match="no fly folders"):
        load_fly_folders(tmp_path)
    (tmp_path / "f").mkdir()
    savemat(tmp_path / "f" / "choice_order.mat", {"wrong": np.ones((2, 2))})
    savemat(tmp_path / "f" / "reward_order.mat", {"reward_order": np.ones((2, 2))})
    with pytest.raises(DatasetError, match="missing variable 'choice_order'"):
        load_fly_folder(tmp_path / "f")
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "choice_order.mat").write_text("junk")
    (tmp_path / "g" / "reward_order.mat").write_text("junk")
    with pytest.raises(DatasetError, match="not a readable MATLAB file"):
        load_fly_folder(tmp_path / "g")


def test_csv_loader(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("subject,trial,odor,choice,reward\nA,2,1,1,1\nA,1,0,0,0\nB,1,1,1,0\n")
    ds = load_choice_csv(p)
    assert ds.subjects == ("A", "B") and ds.odors[0].tolist() == [0, 1] and ds.choices[0].tolist() == [0, 1]
    assert ds.rewards[0].tolist() == [0.0, 1.0] and ds.n_trials.tolist() == [2, 1]
    bad = tmp_path / "bad.csv"
    bad.write_text("subject,trial,odor,choice,reward\nA,1,0,0,1\n")
    with pytest.raises(DatasetError, match="rejected odor cannot be rewarded"):
        load_choice_csv(bad)
    bad.write_text("subject,trial,choice,reward\nA,1,0,1\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['odor'\]"):
        load_choice_csv(bad)
    bad.write_text("subject,trial,odor,choice,reward\nA,x,0,0,1\n")
    with pytest.raises(DatasetError, match="line 2: column 'trial': 'x' is not a number"):
        load_choice_csv(bad)


def test_xyr_mat_loader(tmp_path):
    p = tmp_path / "fly.mat"
    savemat(p, {"X": np.array([[1, 0], [0, 1], [1, 0]]), "Y": np.array([1, 0, 1]), "R": np.array([1, 0])})
    ds = load_xyr_mat(p)
    assert ds.odors[0].tolist() == [0, 1, 0] and ds.choices[0].tolist() == [1, 0, 1]
    assert ds.rewards[0].tolist() == [1.0, 0.0, 0.0] and ds.readout == "accept"
    savemat(p, {"X": np.array([[1, 1]]), "Y": np.array([1]), "R": np.array([1])})
    with pytest.raises(DatasetError, match="one-hot"):
        load_xyr_mat(p)


def test_real_flies_if_present():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "shared" / "data" / "rajagopalan-flies" / "raw"
    if not root.exists():
        pytest.skip("real fly data not beside this checkout")
    ds = load_fly_folders(root)
    assert ds.n_subjects == 21 and ds.n_trials.max() == 240


def test_simulated_sessions_split_and_csv_round_trip(tmp_path):
    import jax

    from plastinfer.circuits import ChoiceCircuit
    from plastinfer.data import simulate_choices
    from plastinfer.rules import parse_equation

    circuit = ChoiceCircuit(trials_per_block=20)
    data = simulate_choices(jax.random.PRNGKey(0), circuit, parse_equation("x*r"), 3)
    assert data.n_choices.tolist() == [60, 60, 60] and data.meta["rule"]
    head, tail = data.split_session(0.75)
    assert head.n_choices.tolist() == [45] * 3 and tail.n_choices.tolist() == [15] * 3
    assert (head.n_trials + tail.n_trials).tolist() == data.n_trials.tolist()
    assert head.choices[0, head.n_trials[0] - 1] == 1  # a head ends with its 45th acceptance
    data.to_csv(tmp_path / "choices.csv")
    back = load_choice_csv(tmp_path / "choices.csv", readout="accept")
    np.testing.assert_array_equal(back.choices, data.choices)
    np.testing.assert_array_equal(back.rewards, data.rewards)
    with pytest.raises(FileExistsError):
        data.to_csv(tmp_path / "choices.csv")
    with pytest.raises(DatasetError, match="fraction"):
        data.split_session(1.0)
    assert data.select([2, 0]).subjects == ("sim002", "sim000")


def test_bom_csv_is_read_and_validated_arrays_are_read_only(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeffsubject,trial,odor,choice,reward\r\nA,1,0,1,1\r\nA,2,1,0,0\r\n".encode("utf-8"))
    ds = load_choice_csv(p)
    assert ds.subjects == ("A",) and ds.choices[0].tolist() == [1, 0]
    with pytest.raises(ValueError, match="read-only"):
        ds.choices[0, 0] = 5  # validated once: an edit afterwards would skip validation


def test_no_subjects_or_an_empty_subject_is_refused():
    with pytest.raises(DatasetError, match="no subjects"):
        ChoiceDataset((), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3), bool))
    with pytest.raises(DatasetError, match="'b' has no trials"):
        ChoiceDataset(("a", "b"), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), [[True, True], [False, False]])
