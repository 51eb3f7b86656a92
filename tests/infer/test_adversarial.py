import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastinfer.errors import PlastinferInputError
from plastinfer.analysis import activity_distance
from plastinfer.circuits import PlasticLayer
from plastinfer.infer.adversarial import ActivityGenerator, AdversarialConfig, adversarial_fit
from plastinfer.rules import GlobalMLPRule, MLPRule, SemiGlobalMLPRule, Taylor, oja

GEN = ActivityGenerator(PlasticLayer(3, 1, "linear", eta=0.05, init_std=0.1), jnp.diag(jnp.sqrt(jnp.array([2.0, 1.0, 0.5]))),
                        n_samples=50, n_steps=60)


def test_generator_follows_the_batch_averaged_update():
    x, y, w = GEN.network(oja(), jax.random.PRNGKey(0))
    np.testing.assert_allclose(y[:, :, 0], jnp.einsum("tj,kj->tk", w[:, 0], x), rtol=1e-5, atol=1e-6)
    step = w[0] + 0.05 * oja()(x, y[0], w[0])
    np.testing.assert_allclose(w[1], step, rtol=1e-5, atol=1e-7)


def test_postsynaptic_noise_enters_the_activity():
    noisy = ActivityGenerator(GEN.circuit, GEN.cov_sqrt, GEN.n_samples, GEN.n_steps, noise_std=0.25)
    _, y, w = noisy.network(oja(), jax.random.PRNGKey(0))
    x, _, _ = noisy.network(oja(), jax.random.PRNGKey(0))
    resid = y[:, :, 0] - jnp.einsum("tj,kj->tk", w[:, 0], x)
    assert float(jnp.std(resid)) == pytest.approx(0.25, rel=0.05)


@pytest.mark.parametrize("family", ["oja2", "local", "oja+local", "semi-global", "global"])
def test_every_rule_family_plugs_into_the_generator(family):
    k = jax.random.PRNGKey(1)
    rule = {"oja2": Taylor.from_terms({"x1y1w0": 0.5, "x0y2w1": -0.5}, active=["x1y1w0", "x0y2w1"]),
            "local": MLPRule(k), "oja+local": oja() + MLPRule(k), "semi-global": SemiGlobalMLPRule(k),
            "global": GlobalMLPRule(k, 3, 1)}[family]
    traces = GEN.traces(rule, jax.random.PRNGKey(2), 2)
    assert traces.shape == (2 * GEN.n_samples, GEN.n_steps) and bool(jnp.all(jnp.isfinite(traces)))
    import equinox as eqx
    grads = eqx.filter_grad(lambda r: jnp.mean(GEN.traces(r, jax.random.PRNGKey(2), 2)[:, -1] ** 2))(rule)
    leaves = jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert leaves and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert any(float(jnp.abs(g).max()) > 0 for g in leaves)


def test_true_rule_is_within_sampling_noise_and_a_wrong_rule_is_not():
    data = GEN.traces(oja(), jax.random.PRNGKey(10), 20)
    floor = activity_distance(data[:500], data[500:]).max()
    same = activity_distance(GEN.traces(oja(), jax.random.PRNGKey(11), 20), data).max()
    wrong = activity_distance(GEN.traces(Taylor.from_terms({"x1y1w0": 0.5}), jax.random.PRNGKey(11), 20), data).max()
    assert same < 2 * floor
    assert wrong > 5 * floor


def test_discriminator_separates_oja_from_a_random_rule_after_brief_training():
    data = GEN.traces(oja(), jax.random.PRNGKey(10), 20)
    frozen = AdversarialConfig(steps=60, networks=2, lr_generator=1e-12, lr_discriminator=3e-3)
    fit = adversarial_fit(Taylor.init(jax.random.PRNGKey(3), scale=0.05), GEN, data, config=frozen, progress=False)
    # single traces overlap (an Oja trace whose pattern has a small PC1 projection stays small
    # too), so per-trace accuracy has a ceiling below 1; chance is 0.5 and BCE 2 ln 2
    assert fit.history["d_accuracy"][0] < 0.7 and np.mean(fit.history["d_accuracy"][-10:]) > 0.8
    assert np.mean(fit.history["d_loss"][-10:]) < 0.8 * 2 * np.log(2)
    assert {"d_loss", "g_loss", "d_accuracy", "loss", "rejected", "step", "objective", "best_loss", "seconds",
            "coefficients"} <= set(fit.history) and fit.metrics["seconds_per_step"] > 0
    assert fit.history["d_loss"].shape == (60,) and fit.history["coefficients"].shape == (61, 27)  # start + each step
    assert fit.history["eval_step"].tolist() == [0, 50, 60]  # scored every select_every = 50 steps and at the end


@pytest.mark.parametrize("bad, match", [(np.zeros((5, 7)), "must be"), (np.full((5, 60), np.nan), "NaN")])
def test_bad_data_are_refused(bad, match):
    with pytest.raises(PlastinferInputError, match=match):
        adversarial_fit(oja(), GEN, bad, config=AdversarialConfig(steps=1), progress=False)


def test_callback_sees_the_current_rule_and_can_stop_the_fit():
    data = GEN.traces(oja(), jax.random.PRNGKey(10), 4)
    seen = []

    def stop_at_four(step, rule):
        seen.append((step, float(rule.theta.ravel()[0])))
        return step >= 4

    fit = adversarial_fit(Taylor.init(jax.random.PRNGKey(3), scale=0.05), GEN, data, progress=False,
                          config=AdversarialConfig(steps=50, networks=1), callback=stop_at_four, callback_every=2)
    assert [s for s, _ in seen] == [2, 4] and fit.metrics["steps"] == 4 and len(fit.history["d_loss"]) == 4
    assert seen[1][1] == pytest.approx(float(fit.rule.theta.ravel()[0]))


def test_dataset_holds_the_same_networks_and_a_trajectory_loss_is_zero_at_the_truth():
    from plastinfer.infer.trajectory import evaluate

    data = GEN.dataset(oja(), jax.random.PRNGKey(4), 3)
    traces = GEN.traces(oja(), jax.random.PRNGKey(4), 3)
    assert data.stimuli.shape == (3, GEN.n_steps, GEN.n_samples, 3) and data.init_weights.shape == (3, 1, 3)
    np.testing.assert_allclose(np.moveaxis(data.activity[..., 0], 1, -1).reshape(-1, GEN.n_steps), traces, rtol=1e-6)
    assert evaluate(oja(), GEN.circuit, data)["mse_activity"] < 1e-10
    # weight distances: Oja converges to ±PC1 (here the first axis)
    assert np.allclose(GEN.pc1() ** 2, [1, 0, 0], atol=1e-6)
    assert np.median(GEN.weight_distances(oja(), jax.random.PRNGKey(4), 3)[:, 0, -1]) < 0.2


def test_generator_average_is_the_running_mean_of_the_iterates_and_is_what_is_kept():
    """With ``average=β`` the engine scores and keeps θ̄_t = β θ̄_{t−1} + (1 − β) θ_t, not θ_t."""
    data = GEN.traces(oja(), jax.random.PRNGKey(10), 4)
    cfg = AdversarialConfig(steps=6, networks=1, select_every=1, select_networks=4, average=0.5, lr_generator=1e-2)
    fit = adversarial_fit(Taylor.init(jax.random.PRNGKey(3), scale=0.05), GEN, data, progress=False, config=cfg)
    iterates = np.asarray(fit.history["coefficients"])  # (steps + 1, terms): θ_0 … θ_6
    assert iterates.shape[0] == 7 and int(np.sum(fit.history["rejected"])) == 0
    mean = [iterates[0]]
    for th in iterates[1:]:
        mean.append(0.5 * mean[-1] + 0.5 * th)
    best = int(np.argmin(fit.history["objective"]))
    assert best > 0  # six Adam steps at 1e-2 from a random start: some average beats the start
    np.testing.assert_allclose(fit.rule.theta.ravel(), mean[best], rtol=1e-5, atol=1e-7)
    assert np.max(np.abs(mean[best] - iterates[best])) > 1e-4  # … which is not the iterate itself
    with pytest.raises(Exception, match="average"):
        AdversarialConfig(average=1.0)
