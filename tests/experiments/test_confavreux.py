"""End-to-end smoke runs of the Confavreux reproductions on tiny settings."""

import json

import pytest

from plastinfer.errors import ConfigError
from plastinfer.experiments import confavreux as cf

TINY1 = dict(sizes=(3,), gradient_sizes=(3,), restarts=1, generations=3, ipop=1, gradient_steps=3, n_steps=10,
             n_datasets=2, l1=0.05, sigma=0.1, learning_rate=0.01)
TINY2 = dict(sizes=(5,), restarts=1, generations=2, ipop=1, scale=1.0, n_steps=10, n_datasets=2, l1=0.05, sigma=0.1)


def test_fig1_runs_both_meta_optimisers_and_writes_metrics(tmp_path, monkeypatch):
    monkeypatch.setattr(cf, "FIG1_QUICK", TINY1)
    res = cf.run_fig1(tmp_path, quick=True, progress=False)
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert set(payload["results"]["angle_to_oja_deg"]) == set(cf.METHODS)
    for method in cf.METHODS:
        r = res["sizes"]["3"][method]
        assert len(r["angle_to_oja_deg"]) == 1 and 0.0 <= r["angle_to_oja_deg"][0] <= 180.0
        # sign-invariant distance of w to a unit vector: finite and at most 1 + ‖w‖ for these small weights
        assert 0.0 <= r["held_out_distance_to_pc1"]["found_median"] < 2.0
    for name in payload["figures"]:
        assert (tmp_path / name).stat().st_size > 0
    assert any("gradient" in name for name in payload["figures"])
    cma = res["sizes"]["3"]["CMA_ES"]
    assert cma["population_sizes"] == [13, 26] and cma["iterations_run"] == [6]  # IPOP: one restart, doubled


def test_fig2_searches_on_the_sphere_and_profiles_the_loss_to_the_target(tmp_path, monkeypatch):
    monkeypatch.setattr(cf, "FIG2_QUICK", TINY2)
    res = cf.run_fig2(tmp_path, quick=True, progress=False)
    r = res["sizes"]["5"]
    assert r["population_sizes"] == [15, 30]
    for p in r["sphere_profiles"].values():
        assert len(p["angle_deg"]) == len(p["loss"]) == 19 and p["angle_deg"][0] == 0.0
    assert (tmp_path / "fig2_sphere_landscape.png").stat().st_size > 0


@pytest.mark.parametrize("bad", [dict(generations=0)])
def test_fig1_settings_are_validated_by_the_meta_config(tmp_path, monkeypatch, bad):
    monkeypatch.setattr(cf, "FIG1_QUICK", {**TINY1, **bad})
    with pytest.raises(ConfigError, match="generations"):
        cf.run_fig1(tmp_path, quick=True, progress=False)
