import jax

import plastinfer as pi


def test_readme_tour_runs_at_small_size(tmp_path):
    circuit = pi.PlasticLayer(n_in=8, n_out=12, nonlinearity="sigmoid", eta=1.0)
    assert str(pi.oja()) == "Δw = 1.00·x·y − 1.00·y²·w"
    data = pi.simulate(jax.random.PRNGKey(0), circuit, pi.oja(), 6, 10, noise_std=0.05, fraction_recorded=0.5)
    data.save(tmp_path / "oja.npz")
    train, test = pi.Dataset.load(tmp_path / "oja.npz").split(2)
    rule0 = pi.Taylor.init(jax.random.PRNGKey(1), variables=("x", "y", "w"), order=2, scale=1e-2)
    fit = pi.fit_trajectory(rule0, circuit, train, test=test, config=pi.TrajectoryFitConfig(epochs=2), progress=False)
    assert fit.metrics["test_r2_weights"] <= 1.0 and fit.history["theta"].shape == (3, 27)
    assert set(pi.__all__) <= set(dir(pi))
