"""The engine's contract, for every (problem, strategy) pair that makes sense:

- a planted optimum is reached (exactly known for a least-squares problem; a planted rule
  elsewhere — see the per-problem tests);
- the returned parameters score what the engine says and never worse than the start;
- a diverging candidate (a loss that is NaN at random steps) leaves finite parameters and
  is counted;
- resuming from a checkpoint ends where an uninterrupted run ends (also after ``kill -9``).
"""

import os
import signal
import subprocess
import sys
import textwrap
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from plastinfer.circuits import ChoiceCircuit, PlasticLayer
from plastinfer.data import ActivityGenerator, covariance_sqrt, simulate, simulate_choices
from plastinfer.errors import ConfigError
from plastinfer.infer import (LBFGS, AbstractProblem, LevenbergMarquardt, Adversarial, AdversarialProblem, ChoiceProblem, Choices,
                              Evolution, FunctionProblem, Gradient, fit)
from plastinfer.infer.trajectory import ActivityProblem, Trajectories
from plastinfer.objectives import FunctionTask, GaussianDatasets
from plastinfer.rules import Taylor, oja, parse_equation


class LeastSquares(AbstractProblem):
    """``mean_i (a_i · θ − b_i)²`` over items ``i``: the optimum is the least-squares solution."""

    a: jax.Array
    b: jax.Array

    @property
    def n_items(self):
        return self.a.shape[0]

    @property
    def deterministic(self):
        return True

    def loss(self, params, batch, key):
        idx = jnp.arange(self.a.shape[0]) if batch is None else batch
        r = self.a[idx] @ params["theta"] - self.b[idx]
        return jnp.mean(r**2), {}

    def log_likelihood(self, params):
        r = self.a @ params["theta"] - self.b
        return -0.5 * (jnp.log(2 * jnp.pi) + r**2)

    def residuals(self, params, key):
        return (self.a @ params["theta"] - self.b) / jnp.sqrt(self.a.shape[0])


class GroupedLeastSquares(LeastSquares):
    """One independent least-squares fit per group (``a (G, n, d)``)."""

    @property
    def n_items(self):
        return 0

    @property
    def n_groups(self):
        return self.a.shape[0]

    def loss(self, params, batch, key):
        r = jnp.einsum("gnd,gd->gn", self.a, params["theta"]) - self.b
        return jnp.mean(r**2, axis=1), {}


class SometimesNaN(AbstractProblem):
    """Wraps a problem; its loss is NaN at about half of the keys (never in the objective)."""

    inner: AbstractProblem

    @property
    def n_items(self):
        return self.inner.n_items

    @property
    def n_groups(self):
        return self.inner.n_groups

    @property
    def deterministic(self):
        return self.inner.deterministic

    @property
    def trace_length(self):
        return self.inner.trace_length

    def real(self, key):
        return self.inner.real(key)

    def fake(self, params, key):
        x = self.inner.fake(params, key)
        return jnp.where(jax.random.bernoulli(jax.random.fold_in(key, 7)), jnp.nan, x)

    def loss(self, params, batch, key):
        loss, aux = self.inner.loss(params, batch, key)
        if self.inner.deterministic:  # the key is fixed: NaN at pseudo-random parameter values instead
            frac = jnp.mod(jnp.abs(jnp.sum(self.inner.coefficients(params))) * 1e4, 1.0)
            return jnp.where(frac < 0.5, jnp.nan, loss), aux
        return jnp.where(jax.random.bernoulli(jax.random.fold_in(key, 7)), jnp.nan, loss), aux

    def objective(self, params):
        return self.inner.objective(params)

    def coefficients(self, params):
        return self.inner.coefficients(params)


def _least_squares(key=0, n=64, d=3):
    k1, k2 = jax.random.split(jax.random.PRNGKey(key))
    a = jax.random.normal(k1, (n, d))
    theta = jnp.array([1.5, -0.5, 0.25])[:d]
    b = a @ theta + 0.05 * jax.random.normal(k2, (n,))
    return LeastSquares(a, b), np.linalg.lstsq(np.asarray(a), np.asarray(b), rcond=None)[0]


LS_STRATEGIES = {
    "adam-minibatch": (Gradient("adam", 0.05, batch_size=8), 60),
    "sgd-full": (Gradient(optax.sgd(0.1)), 200),
    "lbfgs": (LBFGS(), 20),
    "levenberg-marquardt": (LevenbergMarquardt(), 10),
    "cma-es": (Evolution("CMA_ES", population_size=16, sigma_init=0.5), 80),
}


@pytest.mark.parametrize("name", list(LS_STRATEGIES))
def test_every_strategy_reaches_the_least_squares_optimum(name):
    problem, optimum = _least_squares()
    strategy, steps = LS_STRATEGIES[name]
    p0 = {"theta": jnp.zeros(3)}
    res = fit(problem, strategy, p0, steps=steps, key=jax.random.PRNGKey(0), chunk=10, progress=False)
    tol = 0.05 if name == "adam-minibatch" else 2e-3
    np.testing.assert_allclose(res.params["theta"], optimum, atol=tol)
    assert float(res.best_score) == pytest.approx(float(problem.objective(res.params)), rel=1e-5)
    assert res.history["loss"].shape == (steps,) and res.history["coefficients"].shape == (steps // 10 + 1, 3)


def test_grouped_fits_are_independent_and_keep_each_groups_best():
    problem, _ = _least_squares()
    a = jnp.stack([problem.a, 2 * problem.a])
    b = jnp.stack([problem.b, -problem.b])
    grouped = GroupedLeastSquares(a, b)
    # group 1 (curvature ≈ 8) starts near its optimum, where step size 0.3 makes SGD oscillate
    # outwards; group 0 (curvature ≈ 2) converges. Each keeps its own best.
    opt1 = np.linalg.lstsq(np.asarray(a[1]), np.asarray(b[1]), rcond=None)[0]
    p0 = {"theta": jnp.stack([jnp.zeros(3), jnp.asarray(opt1 + 0.01, jnp.float32)])}
    res = fit(grouped, Gradient("sgd", 0.3), p0, steps=8, progress=False)
    start = np.asarray(grouped.objective(p0))
    last = np.asarray(grouped.objective(res.last_params))
    assert res.best_score.shape == (2,) and last[1] > 10 * start[1]  # group 1's last iterate got worse
    np.testing.assert_array_equal(res.params["theta"][1], p0["theta"][1])  # … so its start is returned
    assert res.best_step.tolist()[1] == 0 and res.best_score[0] < 0.01 * start[0]  # group 0 went on improving


# ----------------------------------------------------------------------------- real problems
def _activity(mode="true"):
    circuit = PlasticLayer(4, 3, "linear", eta=0.05)
    data = simulate(jax.random.PRNGKey(0), circuit, oja(), 6, 20, input_std=0.5)
    rule = Taylor.zeros(active=("x1y1w0", "x0y2w1")).with_terms({"x1y1w0": 0.3, "x0y2w1": -0.2})
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    prob = ActivityProblem(circuit, static, Trajectories.from_dataset(circuit, data), None, mode, 0.0, None)
    return prob, prob.initial_params(rule, jax.random.PRNGKey(3))


def _choices(per_subject=False):
    circuit = ChoiceCircuit(readout="two_alternative", trials_per_block=15)
    data = simulate_choices(jax.random.PRNGKey(4), circuit, parse_equation("x*r"), 3)
    rule = Taylor.zeros(("x", "w", "r"), active=("x1w0r1", "x0w1r0"))
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    if per_subject:
        params = jax.tree_util.tree_map(lambda a: jnp.stack([a] * 3), params)
    prob = ChoiceProblem(circuit, static, Choices.from_dataset(circuit, data, jax.random.PRNGKey(1)), None, 1e-3,
                         per_subject)
    return prob, params


def _function():
    task = FunctionTask(PlasticLayer(3, 1, "linear", eta=1 / 20, init_std=0.1), GaussianDatasets(3), n_steps=30,
                        n_datasets=2)
    rule = Taylor.zeros(active=("x1y1w0", "x0y2w1", "x0y0w1")).with_terms({"x1y1w0": 0.1})
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    return FunctionProblem(task, static, 0.0, selection_seed=1), params


def _adversarial():
    gen = ActivityGenerator(PlasticLayer(3, 1, "linear", eta=0.05, init_std=0.1), covariance_sqrt(), n_samples=20,
                            n_steps=30)
    data = gen.traces(oja(), jax.random.PRNGKey(0), 10)
    rule = Taylor.zeros(active=("x1y1w0", "x0y2w1")).with_terms({"x1y1w0": 0.5})
    params, static = eqx.partition(rule, eqx.is_inexact_array)
    return AdversarialProblem(gen, static, data, networks=2, select_networks=10), params


PAIRS = {
    "activity-true×adam": (_activity, Gradient("adam", 0.02, batch_size=2)),
    "activity-resample×adam": (lambda: _activity("resample"), Gradient("adam", 0.02, batch_size=3)),
    "activity-latent×lbfgs": (lambda: _activity("latent"), LBFGS()),
    "activity-true×cma": (_activity, Evolution("CMA_ES", population_size=6, sigma_init=0.1)),
    "choices×adam": (_choices, Gradient("adam", 0.05, batch_size=1)),
    "choices-per-subject×adam": (lambda: _choices(True), Gradient("adam", 0.05)),
    "function×gradient": (_function, Gradient("adam", 0.02, clip=1.0)),
    "function×open-es": (_function, Evolution("Open_ES", population_size=6, sigma_init=0.05, learning_rate=0.05)),
    "adversarial×gan": (_adversarial, Adversarial(lr_generator=1e-2, lr_discriminator=1e-2, hidden=(16,))),
    "adversarial×snes": (_adversarial, Evolution("SNES", population_size=6, sigma_init=0.1)),
}
STEPS = 4


def _max_diff(a, b):
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@pytest.mark.parametrize("pair", list(PAIRS))
def test_contract(pair, tmp_path):
    """On a problem whose loss is NaN at random steps (one compilation per pair): parameters
    stay finite and the rejections are counted; the result is never worse than the start and
    scores what the engine reports; resuming from a checkpoint ends where a straight run ends."""
    make, strategy = PAIRS[pair]
    inner, p0 = make()
    problem = SometimesNaN(inner)
    kw = dict(key=jax.random.PRNGKey(5), chunk=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = fit(problem, strategy, p0, steps=STEPS, **kw)
        fit(problem, strategy, p0, steps=STEPS - 2, checkpoint=tmp_path / "half.npz", **kw)
        resumed = fit(problem, strategy, p0, steps=STEPS, checkpoint=tmp_path / "half.npz", resume=True, **kw)

    # 1. divergence: rejected and counted, never a NaN in parameters or optimizer state
    assert res.rejected > 0 and res.history["rejected"].sum() == res.rejected
    for tree in (res.params, res.last_params):
        assert all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(a))
    assert not any(bool(jnp.any(jnp.isnan(a))) for a in jax.tree_util.tree_leaves(res.state) if eqx.is_inexact_array(a))
    assert np.all(np.isfinite(res.history["loss"]))

    # 2. never worse than the start; the reported score is the returned parameters' score
    start = np.asarray(inner.objective(p0))
    assert np.all(res.best_score <= start + 1e-6)
    np.testing.assert_allclose(res.best_score, np.asarray(inner.objective(res.params)), rtol=1e-4, atol=1e-6)
    assert {"loss", "rejected", "step", "objective", "best_loss", "seconds", "coefficients"} <= set(res.history)
    assert res.history["step"].tolist() == list(range(0, STEPS + 1, 2))

    # 3. resume: on from the checkpoint = straight through
    assert _max_diff(resumed.last_params, res.last_params) <= 1e-6
    assert _max_diff(resumed.params, res.params) <= 1e-6
    np.testing.assert_array_equal(resumed.history["loss"], res.history["loss"])


def test_a_checkpoint_from_another_problem_is_refused(tmp_path):
    problem, p0 = _activity()
    fit(problem, Gradient("adam", 0.02), p0, steps=1, checkpoint=tmp_path / "ck.npz", progress=False)
    other, q0 = _function()
    from plastinfer.errors import DatasetError

    with pytest.raises(DatasetError, match="checkpoint"):
        fit(other, Gradient("adam", 0.02), q0, steps=2, checkpoint=tmp_path / "ck.npz", resume=True, progress=False)


def test_unsupported_pairs_are_clear_errors():
    problem, p0 = _activity("resample")
    with pytest.raises(ConfigError, match="deterministic"):
        fit(problem, LBFGS(), p0, steps=1, progress=False)
    grouped, g0 = _choices(True)
    with pytest.raises(ConfigError, match="grouped"):
        fit(grouped, Evolution("CMA_ES"), g0, steps=1, progress=False)
    with pytest.raises(ConfigError, match="unknown evolution strategy"):
        Evolution("CMA-ESS")
    with pytest.raises(ConfigError, match="optax optimizer"):
        Gradient("adamm")


def test_early_stopping_and_callbacks():
    problem, _ = _least_squares()
    seen = []
    res = fit(problem, Gradient(optax.sgd(0.0)), {"theta": jnp.zeros(3)}, steps=50, patience=3, progress=False,
              callbacks=[lambda info: seen.append(info["step"])])
    assert res.stopped == "patience" and res.steps_run == 3 and seen == [1, 2, 3]
    res = fit(problem, Gradient("sgd", 0.1), {"theta": jnp.zeros(3)}, steps=50, progress=False,
              callbacks=[lambda info: info["step"] >= 7])
    assert res.stopped == "callback" and res.steps_run == 7


def test_resume_after_kill_9_matches_an_uninterrupted_run(tmp_path):
    """A fit killed by SIGKILL mid-run resumes from its last checkpoint to the same parameters."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        import jax
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_engine import _activity
        from plastinfer.infer import Gradient, fit
        problem, p0 = _activity()
        def die(info):
            if info["step"] == 6:
                os.kill(os.getpid(), signal.SIGKILL)
        fit(problem, Gradient("adam", 0.02, batch_size=2), p0, steps=10, key=jax.random.PRNGKey(5), chunk=2,
            checkpoint={str(tmp_path / 'ck.npz')!r}, callbacks=[die], progress=False)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    saved = np.load(tmp_path / "ck.npz")
    assert int(saved["step"]) == 6
    problem, p0 = _activity()
    kw = dict(key=jax.random.PRNGKey(5), chunk=2, progress=False)
    resumed = fit(problem, Gradient("adam", 0.02, batch_size=2), p0, steps=10, checkpoint=tmp_path / "ck.npz",
                  resume=True, **kw)
    straight = fit(problem, Gradient("adam", 0.02, batch_size=2), p0, steps=10, **kw)
    assert _max_diff(resumed.last_params, straight.last_params) <= 1e-6
    assert _max_diff(resumed.params, straight.params) <= 1e-6


def test_a_problem_built_with_a_start_initialises_itself():
    """``Problem.init(key)``: the start rule's arrays, plus nuisance parameters drawn from the key
    (latent initial weights, one draw of ``circuit.init`` per trajectory)."""
    problem, p0 = _activity("latent")
    with pytest.raises(NotImplementedError, match="start"):
        problem.init(jax.random.PRNGKey(0))
    started = eqx.tree_at(lambda p: p.start, problem, p0["rule"], is_leaf=lambda x: x is None)
    drawn = started.init(jax.random.PRNGKey(3))
    assert _max_diff(drawn, p0) == 0.0  # the same key draws the same latent weights as initial_params
    res = fit(started, LBFGS(), None, steps=2, key=jax.random.PRNGKey(3), progress=False)  # no params0
    k_init = jax.random.split(jax.random.PRNGKey(3), 3)[0]  # the engine's first subkey initialises
    assert res.history["objective"][0] == pytest.approx(float(problem.objective(started.init(k_init))), rel=1e-6)
    assert res.best_score <= res.history["objective"][0]


def test_finite_divergence_is_warned_about_and_flagged():
    problem, _ = _least_squares()
    p0 = {"theta": jnp.zeros(3)}
    with pytest.warns(RuntimeWarning, match="grew more than"):  # SGD with too large a step: |θ| grows ~2× a step
        res = fit(problem, Gradient(optax.sgd(1.2)), p0, steps=12, key=jax.random.PRNGKey(0), progress=False)
    assert any("grew" in w for w in res.warnings) and np.all(np.isfinite(res.params["theta"]))
    assert float(res.best_score) <= float(problem.objective(p0))  # the start is still returned as the best
    with pytest.warns(RuntimeWarning, match=r"\|θ\|"):
        res = fit(problem, Gradient(optax.sgd(0.1)), p0, steps=30, progress=False, warn_bound=1.0)
    assert any("|θ|" in w for w in res.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit(problem, Gradient(optax.sgd(0.1)), p0, steps=30, progress=False).warnings == []


def test_resume_refuses_other_data_and_fewer_steps(tmp_path):
    from plastinfer.errors import DatasetError

    problem, _ = _least_squares()
    p0 = {"theta": jnp.zeros(3)}
    ck = tmp_path / "ck.npz"
    fit(problem, Gradient(optax.sgd(0.1)), p0, steps=10, checkpoint=ck, progress=False)
    other, _ = _least_squares(key=1)
    with pytest.raises(DatasetError, match="other data"):
        fit(other, Gradient(optax.sgd(0.1)), p0, steps=20, checkpoint=ck, resume=True, progress=False)
    with pytest.raises(ConfigError, match="step 10, beyond the 5"):
        fit(problem, Gradient(optax.sgd(0.1)), p0, steps=5, checkpoint=ck, resume=True, progress=False)
    ck.write_bytes(b"not a checkpoint")
    with pytest.raises(DatasetError, match="not a readable checkpoint"):
        fit(problem, Gradient(optax.sgd(0.1)), p0, steps=20, checkpoint=ck, resume=True, progress=False)


def test_ctrl_c_writes_a_checkpoint_and_resumes_exactly(tmp_path):
    from plastinfer.infer import FitInterrupted

    problem, _ = _least_squares()
    p0 = {"theta": jnp.zeros(3)}
    ck = tmp_path / "ck.npz"

    def interrupt(info):
        if info["step"] == 7:
            raise KeyboardInterrupt

    with pytest.raises(FitInterrupted, match="interrupted at step 7") as stop:
        fit(problem, Gradient("adam", 0.05, batch_size=8), p0, steps=20, key=jax.random.PRNGKey(3),
            checkpoint=ck, callbacks=[interrupt], progress=False)
    assert stop.value.step == 7 and ck.exists()
    resumed = fit(problem, Gradient("adam", 0.05, batch_size=8), p0, steps=20, key=jax.random.PRNGKey(3),
                  checkpoint=ck, resume=True, progress=False)
    straight = fit(problem, Gradient("adam", 0.05, batch_size=8), p0, steps=20, key=jax.random.PRNGKey(3),
                   progress=False)
    np.testing.assert_allclose(resumed.params["theta"], straight.params["theta"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(resumed.last_params["theta"], straight.last_params["theta"], rtol=0, atol=1e-6)


def test_periodic_checkpoints_by_wall_time(tmp_path, monkeypatch):
    problem, _ = _least_squares()
    ck = tmp_path / "ck.npz"
    saved = []
    import plastinfer.infer._engine as engine

    real = engine._save_checkpoint
    monkeypatch.setattr(engine, "_save_checkpoint", lambda *a, **k: (saved.append(a[4]), real(*a, **k)))
    fit(problem, Gradient(optax.sgd(0.1)), {"theta": jnp.zeros(3)}, steps=6, eval_every=100, checkpoint=ck,
        checkpoint_seconds=1e-9, progress=False)
    assert saved == [1, 2, 3, 4, 5, 6]  # after every chunk (by time; the last one also as the end)
    with pytest.raises(ConfigError, match="checkpoint_seconds"):
        fit(problem, Gradient(optax.sgd(0.1)), {"theta": jnp.zeros(3)}, steps=1, checkpoint=ck, checkpoint_seconds=0)


class Rosenbrock(AbstractProblem):
    """Residuals ``(10 (y − x²), 1 − x)``: the minimum, 0, is at ``(1, 1)`` at the end of a curved valley."""

    @property
    def deterministic(self):
        return True

    def residuals(self, params, key):
        x, y = params["xy"]
        return jnp.stack([10.0 * (y - x**2), 1.0 - x])

    def loss(self, params, batch, key):
        return jnp.sum(self.residuals(params, key) ** 2), {}


def test_levenberg_marquardt_follows_a_curved_valley_to_its_minimum():
    res = fit(Rosenbrock(), LevenbergMarquardt(), {"xy": jnp.array([-1.2, 1.0])}, steps=60, progress=False)
    np.testing.assert_allclose(res.params["xy"], [1.0, 1.0], atol=1e-3)
    loss = np.asarray(res.history["loss"])
    assert np.all(np.diff(loss) <= 1e-6 * loss[:-1])  # only decreasing steps are accepted
    assert res.rejected == 0 and 0 < np.sum(res.history["accepted"]) <= 60


def test_levenberg_marquardt_refuses_what_it_cannot_fit():
    problem, _ = _least_squares()
    with pytest.raises(ConfigError, match="max_params"):
        fit(problem, LevenbergMarquardt(max_params=2), {"theta": jnp.zeros(3)}, steps=1, progress=False)
    with pytest.raises(ConfigError, match="residuals"):
        fit(SometimesNaN(problem), LevenbergMarquardt(), {"theta": jnp.zeros(3)}, steps=1, progress=False)
    grouped = GroupedLeastSquares(jnp.ones((2, 4, 3)), jnp.ones((2, 4)))
    with pytest.raises(ConfigError):
        fit(grouped, LevenbergMarquardt(), {"theta": jnp.zeros((2, 3))}, steps=1, progress=False)
    with pytest.raises(ConfigError):
        LevenbergMarquardt(damping=0.0)


def test_levenberg_marquardt_recovers_oja_from_activity_with_known_initial_weights():
    """The second-order fit of a trajectory problem: 27 collinear monomials, exact recovery."""
    from plastinfer.infer import TrajectoryFitConfig, fit_trajectory

    circuit = PlasticLayer(10, 20, "sigmoid", eta=1.0)
    data = simulate(jax.random.PRNGKey(0), circuit, oja(), 6, 30, input_std=0.3)
    cfg = TrajectoryFitConfig(epochs=15, solver="lm", init_weights="true", select_every=1)
    res = fit_trajectory(Taylor.init(jax.random.PRNGKey(1), scale=1e-2), circuit, data, config=cfg, progress=False)
    c = res.rule.coefficients()
    assert abs(c["x1y1w0"] - 1.0) < 1e-2 and abs(c["x0y2w1"] + 1.0) < 1e-2
    assert max(abs(v) for k, v in c.items() if k not in ("x1y1w0", "x0y2w1")) < 1e-2
    with pytest.raises(ConfigError, match="L1"):
        TrajectoryFitConfig(solver="lm", l1=0.1, init_weights="true")
    with pytest.raises(ConfigError, match="latent"):
        TrajectoryFitConfig(solver="lm", init_weights="latent")
