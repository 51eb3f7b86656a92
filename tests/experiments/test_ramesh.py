"""End-to-end smoke run of ramesh-fig2 on tiny settings."""

import json

from plastinfer.experiments import ramesh

TINY = dict(steps=3, networks=1, lr_generator=1e-3, lr_discriminator=1e-3, data_networks=4, held_out_networks=3,
            width=4, depth=1)


def test_fig2_writes_metrics_and_figures(tmp_path, monkeypatch):
    monkeypatch.setattr(ramesh, "FIG2_QUICK", TINY)
    res = ramesh.run_fig2(tmp_path, quick=True, progress=False)
    payload = json.loads((tmp_path / "metrics.json").read_text())
    d = payload["results"]["activity_distance"]
    assert len(d["learned_per_time"]) == 200 and d["oja_vs_held_out_mean"] >= 0
    # Oja's own fixed points at x = 0.5 are reported: w* = −1, 0, 1
    assert [round(f["w"], 3) for f in res["fixed_points_x0.5"]["Oja"]] == [-1.0, 0.0, 1.0]
    assert res["final_distance_to_pc1_median"]["Oja"] < 0.1  # Oja converges within the 200 steps
    for name in payload["figures"]:
        assert (tmp_path / name).stat().st_size > 0
