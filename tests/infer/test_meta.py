import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastinfer import PlasticLayer, Taylor, oja
from plastinfer.errors import ConfigError
from plastinfer.infer import MetaConfig, evaluate_meta, meta_fit
from plastinfer.objectives import FunctionTask, GaussianDatasets


@pytest.fixture(scope="module")
def tiny():
    return FunctionTask(PlasticLayer(3, 1, "linear", eta=1 / 20, init_std=0.1), GaussianDatasets(3), n_steps=60,
                        n_datasets=4)


def _start():
    return Taylor.init(jax.random.PRNGKey(1), scale=0.1)


@pytest.mark.parametrize("method", ["CMA_ES", "SNES"])
def test_evolution_strategies_lower_the_loss(tiny, method):
    start = _start()
    key = jax.random.PRNGKey(9)
    before = evaluate_meta(start, tiny, key, n_datasets=16)["mean"]
    res = meta_fit(start, tiny, config=MetaConfig(method=method, generations=20, population_size=16, l1=0.0,
                                                                   sigma_init=0.3),
                   reference=oja(), progress=False)
    after = evaluate_meta(res.rule, tiny, key, n_datasets=16)["mean"]
    assert after < 0.6 * before, (before, after)
    h = res.history
    assert h["theta"].shape == (21, 27) and h["angle_deg"].shape == (21,) and h["loss"].shape == (20,)
    assert h["best_loss"].shape == (21,) and np.all(np.diff(h["best_loss"]) <= 0)  # best so far, never rises
    assert res.metrics["evaluations"] == 20 * 16 * 4 and res.metrics["evaluations_per_second"] > 0


def test_one_cma_generation_scores_its_population_on_common_data_sets(tiny):
    """The generation's best candidate is one of the population members scored on one key; the
    population mean is at least its best; the returned rule is never worse than the start on
    the fixed selection data sets."""
    start = _start()
    res = meta_fit(start, tiny, config=MetaConfig(generations=1, population_size=24, l1=0.0), progress=False)
    h = res.history
    assert h["loss"][0] <= h["population_mean"][0]
    assert h["best_loss"][-1] <= h["objective"][0] and res.metrics["best_loss"] == pytest.approx(h["best_loss"][-1])


def test_gradient_meta_learning_lowers_the_loss_and_moves_toward_oja(tiny):
    start = _start()
    key = jax.random.PRNGKey(9)
    before = evaluate_meta(start, tiny, key)["mean"]
    res = meta_fit(start, tiny, config=MetaConfig(method="gradient", generations=40, learning_rate=2e-2, l1=1e-3),
                   reference=oja(), progress=False)
    assert evaluate_meta(res.rule, tiny, key)["mean"] < 0.5 * before
    assert res.history["angle_deg"][-1] < res.history["angle_deg"][0]


def test_the_angle_stop_waits_for_the_rule_the_fit_returns(tiny):
    # at this learning rate the iterate blows up on the selection data sets from step 2 to
    # 16 while its angle falls below 85°: the kept rule stays the step-1 one (≈ 91°) until
    # step 18. A stop that looked at the iterate would end at step 8 and return a 91° rule.
    res = meta_fit(_start(), tiny, config=MetaConfig(method="gradient", generations=40, learning_rate=2e-2, l1=1e-3,
                                                     stop_angle_deg=85.0), reference=oja(), progress=False)
    assert res.metrics["angle_deg"] <= 85.0
    assert 18 <= res.metrics["generations_run"] < 40
    assert np.min(res.history["angle_deg"][:9]) <= 85.0  # the iterate got there first


def test_co_optimises_a_tuple_of_rules_and_stops_at_the_angle():
    from plastinfer.circuits import LateralNetwork
    from plastinfer.objectives import linear_spectrum
    from plastinfer.rules import anti_hebb

    task = FunctionTask(LateralNetwork(3, 2), GaussianDatasets(3, top=linear_spectrum(2)), n_steps=50, n_datasets=2)
    ref = (oja(), anti_hebb())
    res = meta_fit(ref, task, config=MetaConfig(generations=5, population_size=8, sigma_init=1e-3,
                                                stop_angle_deg=5.0), reference=ref, progress=False)
    assert res.metrics["generations_run"] == 1  # started at the reference: stops after one generation
    assert res.history["theta"].shape[1] == 54 and res.names[0] == "A:x0y0w0" and res.names[27] == "B:x0y0w0"


def test_bad_configs_are_rejected():
    with pytest.raises(ConfigError, match="unknown method"):
        MetaConfig(method="CMA-ESS")
    with pytest.raises(ConfigError, match="generations"):
        MetaConfig(generations=0)


def test_gradient_method_warns_when_the_start_diverges_everywhere(tiny):
    # a large constant term drives every weight past the clip: loss pinned at DIVERGED_LOSS, zero gradient
    start = Taylor.zeros().with_terms({"x0y0w0": 1e6, "x1y1w0": 1e6})
    with pytest.warns(RuntimeWarning, match="diverges on every data set"):
        res = meta_fit(start, tiny, config=MetaConfig(method="gradient", generations=2), progress=False)
    assert np.all(np.isfinite(res.history["loss"]))


def test_gradient_estimating_strategy_uses_the_configured_optimiser(tiny):
    """Open_ES (Adam on smoothed finite differences) takes MetaConfig's learning rate: with a
    zero-ish rate the rule does not move, with 0.05 it lowers the loss."""
    start = _start()
    key = jax.random.PRNGKey(9)
    before = evaluate_meta(start, tiny, key, n_datasets=16)["mean"]
    runs = {lr: meta_fit(start, tiny, config=MetaConfig(method="Open_ES", generations=20, population_size=16, l1=0.0,
                                                        sigma_init=0.05, learning_rate=lr), progress=False)
            for lr in (1e-9, 5e-2)}
    frozen = np.abs(np.asarray(runs[1e-9].rule.theta) - np.asarray(start.theta)).max()
    assert frozen < 1e-6
    assert evaluate_meta(runs[5e-2].rule, tiny, key, n_datasets=16)["mean"] < 0.8 * before


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=27, max_size=27),
       st.floats(0.1, 5.0))
def test_on_sphere_holds_each_rule_at_the_given_norm(values, scale):
    import jax.numpy as jnp

    from plastinfer.infer.meta import on_sphere

    u = Taylor(jnp.asarray(values, jnp.float32).reshape(3, 3, 3), ("x", "y", "w"), 2)
    v = Taylor(2 * u.theta + 1.0, ("x", "y", "w"), 2)
    a, b = on_sphere((u, v), scale)
    norm_u = float(jnp.linalg.norm(u.theta))
    if norm_u > 1e-3:
        assert float(jnp.linalg.norm(a.theta)) == pytest.approx(scale, rel=1e-4)
        np.testing.assert_allclose(np.asarray(a.theta) / scale, np.asarray(u.theta) / norm_u, atol=1e-5)
    assert float(jnp.linalg.norm(b.theta)) == pytest.approx(scale, rel=1e-4)


def test_sphere_search_with_ipop_restarts_keeps_the_norm_and_chains_the_runs(tiny, tmp_path):
    cfg = MetaConfig(generations=6, population_size=8, l1=0.0, scale=1.5, restarts=2, sigma_init=0.2)
    res = meta_fit(_start(), tiny, config=cfg, reference=oja(), progress=False, checkpoint=tmp_path / "m.npz")
    h = res.history
    assert res.metrics["population_sizes"] == [8, 16, 32] and res.metrics["restarts_run"] == 2
    assert h["loss"].shape == (18,) and h["theta"].shape == (19, 27) and h["angle_deg"].shape == (19,)
    np.testing.assert_allclose(np.linalg.norm(h["theta"], axis=1), 1.5, rtol=1e-4)  # every rule on the sphere
    assert np.all(np.diff(h["step"]) > 0) and h["step"][-1] == 18
    assert np.all(np.diff(h["best_loss"]) <= 1e-7)  # each restart starts from the best so far: never rises
    assert res.metrics["evaluations"] == 6 * (8 + 16 + 32) * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "m.restart1.npz", "m.restart2.npz"]
    again = meta_fit(_start(), tiny, config=cfg, reference=oja(), progress=False, checkpoint=tmp_path / "m.npz",
                     resume=True)  # every run already complete: the same rule back
    np.testing.assert_allclose(np.asarray(again.rule.theta), np.asarray(res.rule.theta), atol=1e-6)
    with pytest.raises(ConfigError):
        MetaConfig(method="gradient", restarts=1)
    with pytest.raises(ConfigError):
        MetaConfig(scale=0.0)


def test_sphere_profile_runs_from_one_rule_to_the_other_on_the_sphere():
    """A task whose loss is the squared distance to a fixed coefficient vector: the profile's
    ends are the two rules rescaled to the sphere, its angles span the angle between them."""
    import equinox as eqx
    import jax.numpy as jnp

    from plastinfer.analysis import rule_angle
    from plastinfer.infer import sphere_profile

    class Distance(eqx.Module):
        target: jax.Array

        def loss(self, rule, key):
            return jnp.sum((rule.theta - self.target) ** 2)

    a, b = Taylor.from_terms({"x0y0w1": -1.0}), oja()
    task = Distance(2.0 * oja().theta / jnp.linalg.norm(oja().theta))
    p = sphere_profile(task, a, b, scale=2.0, n_points=9)
    assert p["angle_deg"][0] == 0 and p["angle_deg"][-1] == pytest.approx(rule_angle(a, b), abs=1e-3)
    end_a = 2.0 * a.theta / jnp.linalg.norm(a.theta)
    assert p["loss"][0] == pytest.approx(float(jnp.sum((end_a - task.target) ** 2)), rel=1e-5)
    assert p["loss"][-1] == pytest.approx(0.0, abs=1e-5)  # b on the sphere of radius 2 is the target
    assert np.all(np.diff(p["loss"]) < 0)  # chord distance to the target falls along the great circle
