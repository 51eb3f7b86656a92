import dataclasses
import json

import numpy as np
import pytest

from plastinfer.errors import ConfigError, DatasetError
from plastinfer.identify._population import Measurement, PopulationSpec, generate_population, load_population

# the same design as tests/experiments/test_nayebi.py's, so one test process compiles it once
SPEC = PopulationSpec(archs=("mlp1x64",), tasks=("wine", "breast_cancer"), batch_sizes=(16,), model_seeds=(0,),
                      data_seeds=(0, 1), steps=20, n_checkpoints=3, n_val=32)


# FA and IA networks recorded under a 2 × 2 grid of noise × unit fraction; the same design as
# tests/experiments/test_nayebi.py's fig5 smoke test (one compile per test process)
MEASURED = PopulationSpec(rules=("fa", "ia"), archs=("mlp1x64",), tasks=("wine",), batch_sizes=(16,), model_seeds=(0,),
                          data_seeds=(0, 1), steps=20, n_checkpoints=3, n_val=32,
                          measurements=tuple(Measurement(s, f) for f in (0.5, 1.0) for s in (2.0, 0.0)))


class _Killed(Exception):
    pass


def test_a_killed_sweep_resumes_without_retraining_finished_groups(tmp_path):
    def kill(group):
        raise _Killed(group)

    with pytest.raises(_Killed):
        generate_population(SPEC, tmp_path, progress=False, on_group=kill)
    first = sorted((tmp_path / "runs").glob("*.npz"))
    assert len(first) == 1 and not list((tmp_path / "runs").glob("*.part"))
    stamp = first[0].stat().st_mtime_ns
    trained = []
    generate_population(SPEC, tmp_path, progress=False, on_group=trained.append)
    assert len(trained) == 1 and trained[0] != first[0].stem  # only the missing group was trained
    assert first[0].stat().st_mtime_ns == stamp
    pop = load_population(tmp_path)
    # 2 tasks × 4 rules × 2 data seeds networks, 2 layers each; 3 checkpoints
    assert pop.features.shape == (32, 3, len(pop.feature_names))
    assert sorted(set(pop.factors["rule"])) == ["adam", "fa", "ia", "sgdm"] and len(set(pop.factors["network"])) == 16
    assert set(pop.factors["position"]) <= {"early", "middle", "deep"}
    # the backprop rule's two activity-change variants agree; FA's differ in the first layer
    names = pop.feature_names
    g, gr = names.index("gradavg_raw"), names.index("gradavg_rule_raw")
    sg = (pop.factors["rule"] == "sgdm")
    np.testing.assert_allclose(pop.features[sg, :, g], pop.features[sg, :, gr], rtol=1e-4, atol=1e-6)
    fa0 = (pop.factors["rule"] == "fa") & (pop.factors["layer"] == 0)
    assert not np.allclose(pop.features[fa0, :, g], pop.features[fa0, :, gr], atol=1e-3)
    # another design in the same folder is refused; a folder without spec.json is not a population
    with pytest.raises(ConfigError, match="another design"):
        generate_population(PopulationSpec(rules=("adam",), archs=("mlp1x64",), tasks=("wine",)), tmp_path,
                            progress=False)
    with pytest.raises(DatasetError, match="spec.json"):
        load_population(tmp_path / "runs")
    assert json.loads((tmp_path / "spec.json").read_text())["spec"]["steps"] == 20


def test_measured_recordings_are_stored_beside_the_perfect_one(tmp_path):
    perfect, noisy = Measurement(), Measurement(noise_std=2.0, unit_frac=0.5)
    spec = dataclasses.replace(MEASURED, measurements=MEASURED.measurements[:3] + ({"noise_std": 0.0, "unit_frac": 1.0},))
    assert spec.measurements == MEASURED.measurements and noisy in spec.measurements
    generate_population(spec, tmp_path, progress=False)
    plain, same, other = (load_population(tmp_path), load_population(tmp_path, perfect),
                          load_population(tmp_path, noisy))
    np.testing.assert_allclose(same.features, plain.features, rtol=1e-5, atol=1e-6)
    sq = plain.feature_names.index("weight_sq_mean")
    # noise of σ = 2 adds σ² = 4 to the mean square of the (sub-sampled) weights; over n
    # recorded weights the estimate's standard error is about √(2σ⁴ / n) ≤ 0.6 (n ≥ 96 here)
    delta = other.features[:, :, sq] - plain.features[:, :, sq]
    assert np.all(np.abs(delta - 4.0) < 4 * 0.6) and abs(delta.mean() - 4.0) < 0.4
    # every network gets its own noise draw: a shared draw would shift all networks alike
    mean = plain.feature_names.index("weight_raw_mean")
    shift = load_population(tmp_path, Measurement(2.0, 1.0)).features[:, 0, mean] - plain.features[:, 0, mean]
    first_layer = plain.factors["layer"] == 0
    assert np.std(shift[first_layer]) > 0.01  # each ≈ mean of 832 N(0, 4) draws: s.d. 0.07
    with pytest.raises(ConfigError, match="not recorded"):
        load_population(tmp_path, Measurement(noise_std=1.0))
    with pytest.raises(ConfigError, match="noise_std"):
        Measurement(noise_std=float("nan"))
    with pytest.raises(ConfigError, match="unit_frac"):
        Measurement(unit_frac=0.0)
    with pytest.raises(ConfigError, match="twice"):
        PopulationSpec(measurements=(perfect, perfect))
    # a spec without measurements keeps the digest it had before measurements existed
    assert "measurements" not in SPEC.to_json()


def test_a_population_table_round_trips_through_one_tidy_file(tmp_path):
    from plastinfer.identify._classify import feature_matrix
    from tests.identify.test_classify import _population

    pop = _population(True)
    path = pop.save(tmp_path / "table.npz")
    back = load_population(path)
    np.testing.assert_array_equal(back.features, pop.features)
    assert back.feature_names == pop.feature_names and set(back.factors) == set(pop.factors)
    np.testing.assert_array_equal(feature_matrix(back).X, feature_matrix(pop).X)
    with pytest.raises(FileExistsError):
        pop.save(path)
    np.savez(tmp_path / "bad.npz", features=np.zeros((2, 3, 4)))
    with pytest.raises(DatasetError, match="missing"):
        load_population(tmp_path / "bad.npz")


def test_a_sweep_on_a_ray_cluster_writes_the_same_groups(tmp_path):
    """Runs only where Ray is installed (``pip install 'plastinfer[ray]'``): a local cluster
    trains the groups and the result equals the in-process sweep's."""
    ray = pytest.importorskip("ray")
    spec = dataclasses.replace(SPEC, tasks=("wine",))
    try:
        generate_population(spec, tmp_path / "ray", ray_address="local", progress=False)
    finally:
        ray.shutdown()
    generate_population(spec, tmp_path / "local", progress=False)
    a, b = load_population(tmp_path / "ray"), load_population(tmp_path / "local")
    np.testing.assert_allclose(a.features, b.features, rtol=1e-5, atol=1e-6)
