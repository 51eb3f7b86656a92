"""End-to-end smoke runs of nayebi-fig2 … fig5 on tiny populations."""

import dataclasses
import json

import pytest

from plastinfer.errors import ConfigError
from plastinfer.experiments import nayebi
from plastinfer.identify import PopulationSpec, generate_population, load_population
from plastinfer.identify._population import Measurement

TINY = dict(spec=PopulationSpec(archs=("mlp1x64",), tasks=("wine", "breast_cancer"), batch_sizes=(16,),
                                model_seeds=(0,), data_seeds=(0, 1), steps=20, n_checkpoints=3, n_val=32),
            n_splits=2, grid="none", workers=1, conv1d_grid="none", classifiers=("svm", "random_forest"))


def test_fig2_writes_accuracies_controls_and_figures(tmp_path, monkeypatch):
    monkeypatch.setattr(nayebi, "FIG2_QUICK", TINY)
    res = nayebi.run_fig2(tmp_path, quick=True, progress=False)
    acc = res["test_accuracy"]
    assert set(acc) == {"svm", "random_forest"}  # conv1d: tests/identify/test_classify.py
    assert all(0.0 <= acc[c][m]["mean"] <= 1.0 for c in acc for m in nayebi.MEASURE_SETS)
    assert set(res["controls_random_forest"]) == {"last_checkpoint_only", "task_performance_only", "gradavg_through_B",
                                                 "gradavg_true_jacobian"}
    assert set(res["holdouts_random_forest"]["task"]) == {"wine", "breast_cancer"}
    assert load_population(tmp_path / "observables.npz").n_rows == 2 * 2 * 4 * 2  # tasks × data seeds × rules × layers
    payload = json.loads((tmp_path / "metrics.json").read_text())
    for name in payload["figures"]:
        assert (tmp_path / name).stat().st_size > 0
    # a second run into the same folder reuses the population instead of retraining it
    stamp = sorted((tmp_path / "population" / "runs").glob("*.npz"))[0].stat().st_mtime_ns
    monkeypatch.setattr(nayebi, "FIG2_QUICK", dict(TINY, n_splits=1))
    nayebi.run_fig2(tmp_path, quick=True, progress=False)
    assert sorted((tmp_path / "population" / "runs").glob("*.npz"))[0].stat().st_mtime_ns == stamp


@pytest.fixture(scope="module")
def tiny_population(tmp_path_factory):
    folder = tmp_path_factory.mktemp("population")
    generate_population(TINY["spec"], folder, progress=False)
    return folder


def test_fig3_importances_cover_every_statistic_and_rank_the_position_indicators(tmp_path, tiny_population, monkeypatch):
    monkeypatch.setattr(nayebi, "FIG3_QUICK", dict(spec=TINY["spec"], n_splits=2, grid="none", n_repeats=2, workers=1))
    res = nayebi.run_fig3(tmp_path, quick=True, progress=False, population=tiny_population)
    stats = res["statistics"]
    assert {"weight_raw_median", "act_sq_norm", "gradavg_abs", "position_early"} <= set(stats)
    assert not any(n.startswith("gradavg_rule") for n in stats)  # fig3 uses the true Jacobian
    assert sum(v["gini_mean"] for v in stats.values()) == pytest.approx(1.0, abs=1e-6)
    assert len(res["position_gini_ranks_from_bottom"]) == 3
    assert (tmp_path / "fig3_importances.png").stat().st_size > 0
    assert not (tmp_path / "population").exists()  # the shared population was reused, not copied


def test_fig4_subsamples_the_trajectory_and_transfers_between_thirds(tmp_path, tiny_population, monkeypatch):
    regimes = {"dense": (1, (2, 3)), "sparse": (2, (2, 3))}  # with 3 checkpoints: (2, 3) does not fit
    monkeypatch.setattr(nayebi, "FIG4_QUICK", dict(spec=TINY["spec"], n_splits=2, grid="none", workers=1,
                                                   regimes=regimes))
    res = nayebi.run_fig4(tmp_path, quick=True, progress=False, population=tiny_population)
    assert set(res["subsampling"]["weight"]["dense"]) == {"2", "3"} and set(res["subsampling"]["act"]["sparse"]) == {"2"}
    assert set(res["thirds"]["gradavg"]) == set(nayebi.THIRDS)
    assert all(0 <= res["thirds"][m][a][b]["mean"] <= 1 for m in res["thirds"] for a in nayebi.THIRDS
               for b in nayebi.THIRDS)
    for name in ("fig4a_subsampling.png", "fig4b_thirds.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_fig5_scores_every_cell_of_the_noise_by_units_grid(tmp_path, monkeypatch):
    spec = PopulationSpec(rules=("fa", "ia"), archs=("mlp1x64",), tasks=("wine",), batch_sizes=(16,), model_seeds=(0,),
                          data_seeds=(0, 1), steps=20, n_checkpoints=3, n_val=32,
                          measurements=tuple(Measurement(s, f) for f in (0.5, 1.0) for s in (2.0, 0.0)))
    monkeypatch.setattr(nayebi, "FIG5_QUICK", dict(spec=spec, n_splits=2, grid="none", workers=1))
    res = nayebi.run_fig5(tmp_path, quick=True, progress=False)
    assert res["noise_stds"] == [2.0, 0.0] and res["unit_fracs"] == [0.5, 1.0]
    for m in ("weight", "act", "gradavg"):
        assert set(res["accuracy"][m]) == {"0.5", "1.0"}
        assert all(0 <= v <= 1 for row in res["accuracy"][m].values() for v in row.values())
    assert res["paper_summary"]["act"]["range"] == pytest.approx(0.12)  # 89 % − 77 % in the paper's Fig. 5
    assert (tmp_path / "fig5_noise_units.png").stat().st_size > 0
    incomplete = dataclasses.replace(spec, measurements=spec.measurements[:3])
    monkeypatch.setattr(nayebi, "FIG5_QUICK", dict(spec=incomplete, n_splits=2, grid="none", workers=1))
    with pytest.raises(ConfigError, match="full grid"):
        nayebi.run_fig5(tmp_path / "other", quick=True, progress=False)
