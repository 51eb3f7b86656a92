"""End-to-end smoke run of nayebi-fig2 on a tiny population."""

import json

from plastinfer.experiments import nayebi
from plastinfer.identify import PopulationSpec

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
    payload = json.loads((tmp_path / "metrics.json").read_text())
    for name in payload["figures"]:
        assert (tmp_path / name).stat().st_size > 0
    # a second run into the same folder reuses the population instead of retraining it
    stamp = sorted((tmp_path / "population" / "runs").glob("*.npz"))[0].stat().st_mtime_ns
    monkeypatch.setattr(nayebi, "FIG2_QUICK", dict(TINY, n_splits=1))
    nayebi.run_fig2(tmp_path, quick=True, progress=False)
    assert sorted((tmp_path / "population" / "runs").glob("*.npz"))[0].stat().st_mtime_ns == stamp
