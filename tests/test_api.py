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
    again = pi.evaluate(fit.rule, circuit, test, truth=pi.oja())  # two computations of the held-out R²
    assert fit.metrics["test_r2_weights"] == again["r2_weights"] and fit.history["theta"].shape == (3, 27)
    assert set(pi.__all__) <= set(dir(pi))


def test_readme_choice_tour_runs_at_small_size():
    circuit = pi.ChoiceCircuit(readout="two_alternative", window=10, trials_per_block=20)
    flies = pi.simulate_choices(jax.random.PRNGKey(0), circuit, pi.parse_equation("x*r - 0.1*w"), 3)
    without_w = pi.Taylor.zeros(("x", "w", "r"), active=("x0w0r0", "x1w0r0", "x0w0r1", "x1w0r1"))
    with_w = pi.Taylor.zeros(("x", "w", "r"), active=without_w.active + ("x0w1r0",))
    cfg = pi.ChoiceFitConfig(epochs=5, learning_rate=1e-2, l1=1e-2, per_subject=True)
    dev = {}
    for name, rule in {"without_w": without_w, "with_w": with_w}.items():
        fit = pi.fit_choices(rule, circuit, flies, config=cfg, progress=False)
        dev[name] = pi.evaluate_choices(fit.extras["rules"], circuit, flies)["percent_deviance"]
    out = pi.paired_comparison(dev["without_w"], dev["with_w"], names=("without_w", "with_w"))
    assert out["n"] == 3 and len(out["difference"]) == 3


def test_readme_meta_tour_runs_at_small_size():
    circuit = pi.PlasticLayer(n_in=3, n_out=1, nonlinearity="linear", eta=1 / 20, init_std=0.1)
    task = pi.FunctionTask(circuit, pi.GaussianDatasets(n_in=3), n_steps=150, n_datasets=4)
    start = pi.Taylor.init(jax.random.PRNGKey(1), scale=0.1)
    fit = pi.meta_fit(start, task, config=pi.MetaConfig(method="CMA_ES", generations=3, l1=0.05), reference=pi.oja(),
                      progress=False)
    import numpy as np

    theta, ref = np.asarray(fit.rule.theta, np.float64).ravel(), np.asarray(pi.oja().theta, np.float64).ravel()
    closed_form = np.degrees(np.arccos(theta @ ref / (np.linalg.norm(theta) * np.linalg.norm(ref))))
    assert fit.history["angle_deg"].shape == (4,) and abs(pi.rule_angle(fit.rule, pi.oja()) - closed_form) < 1e-6
    assert pi.evaluate_meta(pi.oja(), task, jax.random.PRNGKey(2))["mean"] < 0.3


def test_readme_engine_tour_runs_as_written(tmp_path, monkeypatch):
    """The README's engine example, executed verbatim: the lateral network's (Oja, anti-Hebb)
    pair is recovered, and running it again resumes from its checkpoint to the same result."""
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = readme[readme.index("### The engine"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    first, again = {}, {}
    exec(code, first)
    exec(code, again)  # resumes the finished checkpoint: nothing left to run, same parameters
    a, b = first["problem"].rule(first["res"].params)
    assert abs(float(a["x1y1w0"]) - 1) < 0.05 and abs(float(a["x0y2w1"]) + 1) < 0.05 and abs(float(b["x1y1w0"]) + 1) < 0.05
    import numpy as np

    np.testing.assert_array_equal(np.asarray(first["res"].best_score), np.asarray(again["res"].best_score))
    assert first["es"].best_score <= first["problem"].objective({"rule": first["params0"]})
