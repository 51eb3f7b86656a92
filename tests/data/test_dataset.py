import json
import zipfile

import jax
import numpy as np
import pytest

from plastinfer.errors import DatasetError
from plastinfer.circuits import PlasticLayer
from plastinfer.data import Dataset, simulate
from plastinfer.rules import oja


@pytest.fixture(scope="module")
def small():
    return simulate(jax.random.PRNGKey(0), PlasticLayer(6, 8), oja(), 4, 7, noise_std=0.05, fraction_recorded=0.5)


def test_simulate_shapes_subsampling_and_noise(small):
    assert small.stimuli.shape == (4, 7, 6)
    assert small.activity.shape == (4, 7, 4) and small.units.tolist() == sorted(set(small.units.tolist()))
    assert small.init_weights.shape == (4, 8, 6)
    clean = simulate(jax.random.PRNGKey(0), PlasticLayer(6, 8), oja(), 4, 7, fraction_recorded=0.5)
    resid = small.activity - clean.activity
    assert 0.03 < resid.std() < 0.07  # the requested noise level, measured
    assert small.meta["equation"] == "Δw = 1.00·x·y − 1.00·y²·w"


def test_round_trip(tmp_path, small):
    path = small.save(tmp_path / "d.npz")
    back = Dataset.load(path)
    for f in ("stimuli", "activity", "units", "init_weights"):
        np.testing.assert_array_equal(getattr(back, f), getattr(small, f))
    assert back.meta == small.meta and back.n_out == 8


def test_save_never_overwrites_without_force(tmp_path, small):
    path = tmp_path / "d.npz"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="--force"):
        small.save(path)
    assert path.read_bytes() == b"precious"
    small.save(path, force=True)
    assert Dataset.load(path).n_trajectories == 4


def _write(path, header=None, **arrays):
    if header is not None:
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)
    return path


GOOD_HEADER = {"format": "plastinfer.dataset", "version": 1, "n_out": 3, "meta": {}}


@pytest.mark.parametrize(
    "arrays, header, message",
    [
        ({"stimuli": np.zeros((2, 5, 4)), "activity": np.zeros((2, 6, 3)), "units": np.arange(3)}, GOOD_HEADER, "field 'activity'"),
        ({"stimuli": np.zeros((2, 5, 4)), "activity": np.zeros((2, 5, 3)), "units": np.array([0, 1, 7])}, GOOD_HEADER, "field 'units' holds indices outside"),
        ({"stimuli": np.full((2, 5, 4), np.nan), "activity": np.zeros((2, 5, 3)), "units": np.arange(3)}, GOOD_HEADER, "field 'stimuli' holds 40 non-finite"),
        ({"stimuli": np.zeros((2, 5, 4)), "units": np.arange(3)}, GOOD_HEADER, "missing field 'activity'"),
        ({"stimuli": np.zeros((2, 5, 4)), "activity": np.zeros((2, 5, 3)), "units": np.arange(3)}, None, "missing field 'header'"),
        ({"stimuli": np.zeros((2, 5, 4)), "activity": np.zeros((2, 5, 3)), "units": np.arange(3), "init_weights": np.zeros((2, 4, 3))}, GOOD_HEADER, "field 'init_weights' has shape"),
        ({"stimuli": np.zeros((2, 5, 4)), "activity": np.zeros((2, 5, 3)), "units": np.arange(3)}, {"format": "other"}, "header format"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path, arrays, header, message):
    path = _write(tmp_path / "bad.npz", header, **arrays)
    with pytest.raises(DatasetError, match=message):
        Dataset.load(path)


def test_missing_and_non_npz_files(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        Dataset.load(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DatasetError, match="not an .npz archive"):
        Dataset.load(tmp_path / "junk.npz")


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, stimuli=np.array([object()], dtype=object), header=np.zeros(1, np.uint8))
    with pytest.raises(DatasetError):
        Dataset.load(path)
    assert zipfile.is_zipfile(path)


def test_split(small):
    train, test = small.split(1)
    assert train.n_trajectories == 3 and test.n_trajectories == 1
    np.testing.assert_array_equal(test.init_weights[0], small.init_weights[-1])
    with pytest.raises(DatasetError):
        small.split(4)


def test_validated_arrays_are_read_only(small):
    with pytest.raises(ValueError, match="read-only"):
        small.activity[0, 0, 0] = np.nan


def test_a_huge_declared_array_is_refused_before_allocation(tmp_path, small):
    import io

    path = tmp_path / "huge.npz"
    small.save(path)
    buf = io.BytesIO()
    np.lib.format.write_array_header_2_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**7, 10**7)})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("rewards.npy", buf.getvalue() + b"\0" * 16)
    with pytest.raises(DatasetError, match="declares shape"):
        Dataset.load(path)
