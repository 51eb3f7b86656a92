"""Bandit choice models: closed forms, agreement between the plasticity and Q-learning forms,
sessions, ignored trials, held-out continuation, recovery of planted parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastinfer.data import ChoiceDataset
from plastinfer.errors import ConfigError, DatasetError
from plastinfer.infer import (BanditArrays, BlockSchedule, ConstantBias, LogisticHistory, PlasticityModel, QLearning,
                              WinStayLoseShift, fit_bandit, plasticity_model, session_folds, session_log_probs,
                              simulate_bandit, split_within)
from plastinfer.rules import Taylor


def _data(choices, rewards, sessions=None, ignored=None, n_arms=2):
    c = np.atleast_2d(choices)
    return ChoiceDataset(tuple(f"s{i}" for i in range(c.shape[0])), np.full(c.shape, -1), c, np.atleast_2d(rewards),
                         np.ones(c.shape, bool), "bandit", sessions=None if sessions is None else np.atleast_2d(sessions),
                         ignored=None if ignored is None else np.atleast_2d(ignored), n_arms=n_arms)


def _log_probs(model, data, sessions="reset"):
    a = BanditArrays.from_dataset(data, sessions)
    return np.asarray(session_log_probs(model, a.choices[0], a.rewards[0], a.observed[0], a.resets[0]))


def _q_by_hand(choices, rewards, alpha, beta, resets, forget=0.0):
    q, out = np.zeros(2), []
    for c, r, reset in zip(choices, rewards, resets):
        if reset:
            q = np.zeros(2)
        logits = beta * q
        out.append(logits[c] - np.log(np.exp(logits).sum()))
        unchosen = 1 - c
        q[unchosen] *= 1 - forget
        q[c] += alpha * (r - q[c])
    return np.array(out)


def test_q_learning_matches_the_recursion_by_hand_with_session_resets():
    rng = np.random.default_rng(0)
    c, r = rng.integers(0, 2, 30), (rng.random(30) < 0.5).astype(float)
    sessions = np.repeat([0, 1, 2], 10)
    model = QLearning.make(2, alpha=0.3, beta=2.5, forgetting=True)
    model = jax.tree_util.tree_map(lambda a: a, model)
    forget = float(jax.nn.sigmoid(model.forget_raw))
    reset = _log_probs(model, _data(c, r, sessions), "reset")
    carry = _log_probs(model, _data(c, r, sessions), "carry")
    np.testing.assert_allclose(reset, _q_by_hand(c, r, 0.3, 2.5, sessions != np.r_[-1, sessions[:-1]], forget), atol=1e-5)
    np.testing.assert_allclose(carry, _q_by_hand(c, r, 0.3, 2.5, np.arange(30) == 0, forget), atol=1e-5)
    assert not np.allclose(reset[10:], carry[10:])


def test_plasticity_rule_reproduces_q_learning_exactly():
    """Q-learning with forgetting is the Taylor rule Δw = αβ·y·r − (α − φ)·y·w − φ·w (w = β·Q)."""
    alpha, beta = 0.25, 3.0
    q = QLearning.make(2, alpha=alpha, beta=beta, forgetting=True, side_bias=True)
    phi = float(jax.nn.sigmoid(q.forget_raw))
    q = QLearning(2, q.alpha_raw, q.beta, q.forget_raw, q.readout.__class__(jnp.array([0.4]), None, None))
    rule = Taylor.zeros(("y", "w", "r"), order=1).with_terms(
        {"y1w0r1": alpha * beta, "y1w1r0": -(alpha - phi), "y0w1r0": -phi})
    pm = PlasticityModel.make(rule, 2, side_bias=True)
    pm = PlasticityModel(2, pm.circuit, pm.rule, pm.readout.__class__(jnp.array([0.4]), None, None))
    rng = np.random.default_rng(1)
    d = _data(rng.integers(0, 2, 80), (rng.random(80) < 0.6).astype(float), np.repeat([0, 1], 40))
    np.testing.assert_allclose(_log_probs(pm, d), _log_probs(q, d), atol=1e-5)
    # the same mapping, as the comparison's warm start writes it
    mapped = plasticity_model(2).from_q_learning(q)
    np.testing.assert_allclose(_log_probs(mapped, d), _log_probs(q, d), atol=1e-5)
    assert plasticity_model(2, terms=["y1w0r1"]).from_q_learning(q) is None  # cannot express y·w and w


def test_ignored_trials_neither_update_nor_score():
    rng = np.random.default_rng(2)
    c, r = rng.integers(0, 2, 20), (rng.random(20) < 0.5).astype(float)
    model = QLearning.make(2, alpha=0.5, beta=2.0)
    plain = _log_probs(model, _data(c, r))
    ign = np.zeros(23, bool)
    ign[[3, 9, 15]] = True
    c2, r2 = np.full(23, -1), np.zeros(23)
    c2[~ign], r2[~ign] = c, r
    with_ignored = _log_probs(model, _data(c2, r2, ignored=ign))
    assert np.all(with_ignored[ign] == 0)
    np.testing.assert_allclose(with_ignored[~ign], plain, atol=1e-6)


@pytest.mark.parametrize("solver", ["joint", "per_subject"])
def test_constant_bias_fit_is_the_closed_form_and_never_worse_than_start(solver):
    rng = np.random.default_rng(3)
    c = (rng.random((3, 200)) < np.array([[0.2], [0.5], [0.9]])).astype(int)
    d = _data(c, np.zeros_like(c, float))
    fit = fit_bandit(ConstantBias.make(2), d, n_starts=2, steps=50, solver=solver)
    want = np.log(c.mean(1) / (1 - c.mean(1)))
    np.testing.assert_allclose([m.describe()["bias[1]"] for m in fit.models], want, atol=1e-3)
    p = c.mean(1)
    np.testing.assert_allclose(fit.nll, -200 * (p * np.log(p) + (1 - p) * np.log(1 - p)), rtol=1e-4)
    assert fit.n_params == 1
    np.testing.assert_allclose(fit.bic, 2 * fit.nll + np.log(200))


def test_logistic_history_recovers_a_planted_kernel():
    truth = LogisticHistory(2, jnp.array([0.3]), jnp.array([1.5, 0.7, 0.2]), jnp.array([0.8, 0.0, 0.0]))
    d = simulate_bandit(jax.random.PRNGKey(0), truth, n_subjects=1, n_trials=6000, schedule=BlockSchedule(length=(30, 60)))
    fit = fit_bandit(LogisticHistory.make(2, n_back=3), d, n_starts=1, steps=100)
    got = fit.models[0]
    np.testing.assert_allclose(got.beta_reward, truth.beta_reward, atol=0.2)
    np.testing.assert_allclose(got.beta_choice, truth.beta_choice, atol=0.2)
    np.testing.assert_allclose(got.bias, truth.bias, atol=0.15)


def test_q_learning_parameters_are_recovered_from_simulated_sessions():
    truth = QLearning.make(2, alpha=0.4, beta=4.0, side_bias=True)
    d = simulate_bandit(jax.random.PRNGKey(1), truth, n_subjects=4, n_trials=1500, n_sessions=3, p_ignore=0.05)
    assert d.ignored.any() and d.n_sessions.tolist() == [3] * 4
    fit = fit_bandit(QLearning.make(2, side_bias=True), d, n_starts=2, steps=150)
    table = fit.parameters()
    assert abs(table.alpha.median() - 0.4) < 0.1 and abs(table.beta.median() - 4.0) < 0.8
    assert np.all(np.abs(table["bias[1]"]) < 0.3)
    # the true model explains the data better than win-stay/lose-shift and the null, by BIC
    others = [fit_bandit(m, d, n_starts=1, steps=100) for m in (WinStayLoseShift.make(2), ConstantBias.make(2))]
    assert all(fit.bic.sum() < o.bic.sum() for o in others)


def test_heldout_scoring_continues_the_state_and_fresh_start_differs():
    truth = QLearning.make(2, alpha=0.3, beta=3.0)
    d = simulate_bandit(jax.random.PRNGKey(2), truth, n_subjects=2, n_trials=600)
    train, test = split_within(d, 0.75)
    assert not (train & test).any() and ((train | test) == d.observed).all()
    fit = fit_bandit(truth, d, train=train, validation=test, n_starts=1, steps=1)  # stays at the truth
    full = np.stack([_log_probs(fit.models[i], d.select([i])) for i in range(2)])
    np.testing.assert_allclose(fit.heldout["nll"], -np.sum(np.where(test, full, 0), axis=1), rtol=1e-4)
    assert np.all(fit.heldout["nll_fresh"] != fit.heldout["nll"])


def test_session_folds_hold_out_whole_sessions():
    d = simulate_bandit(jax.random.PRNGKey(3), QLearning.make(2), n_subjects=2, n_trials=500, n_sessions=5)
    folds = session_folds(d, 5)
    assert len(folds) == 5
    covered = np.zeros_like(d.observed)
    for train, test in folds:
        sess = np.unique(d.sessions[test])
        assert sess.size == 1 and not (train & test).any()
        covered |= test
    assert (covered == d.observed).all()
    with pytest.raises(DatasetError, match="at least 2 sessions"):
        session_folds(simulate_bandit(jax.random.PRNGKey(0), QLearning.make(2), n_subjects=1, n_trials=50), 2)


def test_block_schedule_and_baiting():
    sched = BlockSchedule(probs=((0.9, 0.1), (0.1, 0.9)), length=(20, 30))
    p = sched.draw(np.random.default_rng(0), 1000)
    changes = np.flatnonzero(np.any(p[1:] != p[:-1], axis=1)) + 1
    lengths = np.diff(np.r_[0, changes])
    assert lengths.min() >= 20 and lengths.max() <= 30
    # unbaited: the reward rate of each arm is its probability
    d = simulate_bandit(jax.random.PRNGKey(4), ConstantBias.make(2), n_subjects=1, n_trials=20000, schedule=sched)
    chosen_p = d.reward_probs[0, np.arange(20000), d.choices[0]]
    assert abs(d.rewards[0].mean() - chosen_p.mean()) < 0.015
    # baited: waiting rewards raise the rate of the poor arm above its probability
    baited = BlockSchedule(probs=((0.9, 0.1), (0.1, 0.9)), length=(20, 30), baited=True)
    db = simulate_bandit(jax.random.PRNGKey(4), ConstantBias.make(2), n_subjects=1, n_trials=20000, schedule=baited)
    pb = db.reward_probs[0, np.arange(20000), db.choices[0]]
    poor = pb < 0.5
    assert db.rewards[0][poor].mean() > 0.1 + 0.05


def test_plasticity_model_fits_and_counts_its_free_terms():
    d = simulate_bandit(jax.random.PRNGKey(5), QLearning.make(2, alpha=0.5, beta=3.0), n_subjects=2, n_trials=800)
    fit = fit_bandit(plasticity_model(2), d, n_starts=1, steps=60)
    assert fit.n_params == 9  # 8 Taylor terms + a side bias
    null = fit_bandit(ConstantBias.make(2), d, n_starts=1, steps=30)
    assert np.all(fit.nll < null.nll - 50)


def test_bad_inputs():
    d = _data(np.zeros((1, 10), int), np.zeros((1, 10)))
    with pytest.raises(DatasetError, match="arms"):
        fit_bandit(QLearning.make(3), d)
    with pytest.raises(ConfigError, match="n_starts"):
        fit_bandit(QLearning.make(2), d, n_starts=0)
    with pytest.raises(DatasetError, match="no training trials"):
        fit_bandit(QLearning.make(2), d, train=np.zeros((1, 10), bool))
    with pytest.raises(ConfigError, match="sessions must be"):
        BanditArrays.from_dataset(d, "sometimes")
    with pytest.raises(ConfigError, match="probs"):
        BlockSchedule(probs=((1.2, 0.1),))
