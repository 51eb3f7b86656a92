import jax
import numpy as np
import pytest

from plastinfer.circuits import ChoiceCircuit
from plastinfer.data import simulate_choices
from plastinfer.infer import ChoiceFitConfig, evaluate_choices, fit_choices
from plastinfer.infer.behavior import _NoPlasticity, stack_rules
from plastinfer.rules import Taylor, parse_equation

XWR = ("x", "w", "r")


@pytest.fixture(scope="module")
def simulated():
    circuit = ChoiceCircuit(trials_per_block=50)
    truth = parse_equation("x*r")
    return circuit, truth, simulate_choices(jax.random.PRNGKey(0), circuit, truth, 6)


def test_null_model_explains_zero_deviance_and_truth_explains_much(simulated):
    circuit, truth, data = simulated
    null = evaluate_choices(_NoPlasticity(), circuit, data)
    assert null["percent_deviance"] == [0.0] * 6
    assert evaluate_choices(Taylor.zeros(XWR), circuit, data)["percent_deviance"] == [0.0] * 6
    ev = evaluate_choices(truth, circuit, data, truth=truth)
    assert ev["median_r2_weights"] == pytest.approx(1.0) and ev["median_r2_activity"] == pytest.approx(1.0)
    assert ev["median_percent_deviance"] > 30.0  # the truth predicts choices far better than no plasticity


def test_small_fit_recovers_sign_and_rank_of_x_times_r(simulated):
    circuit, truth, data = simulated
    rule = Taylor.init(jax.random.PRNGKey(3), XWR)
    res = fit_choices(rule, circuit, data, config=ChoiceFitConfig(epochs=25, learning_rate=3e-3), progress=False)
    coef = res.rule.coefficients()
    top = max(coef, key=lambda k: abs(coef[k]))
    assert top == "x1w0r1" and coef[top] > 0.1, res.rule.equation()
    assert res.history["loss"][-1] < res.history["loss"][0]
    assert res.history["theta"].shape == (26, 27)


def test_per_subject_fits_find_a_negative_weight_term_in_every_subject():
    circuit = ChoiceCircuit(readout="two_alternative")
    truth = parse_equation("x*r - 0.2*w")
    data = simulate_choices(jax.random.PRNGKey(4), circuit, truth, 4)
    terms = ("x0w0r0", "x1w0r0", "x0w0r1", "x1w0r1", "x0w1r0")
    rule = Taylor.zeros(XWR, active=terms)
    res = fit_choices(rule, circuit, data, config=ChoiceFitConfig(epochs=150, learning_rate=1e-2, l1=1e-3,
                                                                  per_subject=True), progress=False)
    w_terms = [r.coefficients()["x0w1r0"] for r in res.extras["rules"]]
    xr_terms = [r.coefficients()["x1w0r1"] for r in res.extras["rules"]]
    assert all(w < 0 for w in w_terms), w_terms
    assert all(v > 0 for v in xr_terms), xr_terms
    assert res.history["theta"].shape == (151, 4, 27)
    ev = evaluate_choices(res.extras["rules"], circuit, data)
    assert len(ev["percent_deviance"]) == 4 and ev["median_percent_deviance"] > 0


def test_readout_mismatch_is_an_error(simulated):
    circuit, truth, data = simulated
    from plastinfer.errors import DatasetError

    with pytest.raises(DatasetError, match="readout"):
        fit_choices(truth, ChoiceCircuit(readout="two_alternative"), data, progress=False)


def test_per_subject_fit_starts_from_one_rule_per_subject():
    circuit = ChoiceCircuit(readout="two_alternative", trials_per_block=20)
    data = simulate_choices(jax.random.PRNGKey(5), circuit, parse_equation("x*r"), 3)
    terms = ("x1w0r1", "x0w1r0")
    starts = [Taylor.zeros(XWR, active=terms).with_terms({"x1w0r1": v}) for v in (0.5, 1.0, -2.0)]
    res = fit_choices(starts, circuit, data, config=ChoiceFitConfig(epochs=0, per_subject=True), progress=False)
    assert [r.coefficients()["x1w0r1"] for r in res.extras["rules"]] == [0.5, 1.0, -2.0]
    moved = fit_choices(starts, circuit, data, config=ChoiceFitConfig(epochs=3, learning_rate=1e-2, per_subject=True),
                        progress=False)
    # three Adam steps move each coefficient by at most 3 × lr from its own start
    got = np.array([r.coefficients()["x1w0r1"] for r in moved.extras["rules"]])
    np.testing.assert_allclose(got, [0.5, 1.0, -2.0], atol=3e-2 + 1e-6)
    from plastinfer.errors import ConfigError

    with pytest.raises(ConfigError, match="one rule per subject"):
        fit_choices(starts[:2], circuit, data, config=ChoiceFitConfig(epochs=1, per_subject=True), progress=False)
    with pytest.raises(ConfigError, match="per_subject=True"):
        fit_choices(starts, circuit, data, config=ChoiceFitConfig(epochs=1), progress=False)


def test_a_subject_that_starts_at_its_optimum_keeps_it():
    """The defect that motivated the engine: per-subject fits handed back the last step. Subject 0
    starts at the planted rule; a large step size makes Adam wander off it. The result is the
    best seen per subject, so subject 0 is returned at least as good as its start (scored on
    the same fixed initial-weight draws), while the others still move."""
    circuit = ChoiceCircuit(readout="two_alternative", trials_per_block=30)
    truth = parse_equation("x*r")
    data = simulate_choices(jax.random.PRNGKey(6), circuit, truth, 3)
    terms = ("x1w0r1", "x0w1r0", "x0w0r0")
    at_truth = Taylor.zeros(XWR, active=terms).with_terms({"x1w0r1": 1.0})
    far = Taylor.zeros(XWR, active=terms).with_terms({"x1w0r1": -1.0})
    res = fit_choices([at_truth, far, far], circuit, data,
                      config=ChoiceFitConfig(epochs=30, learning_rate=0.3, l1=0.0, per_subject=True, select_every=5),
                      progress=False)
    start = np.asarray(res.metrics["start_loss_per_subject"])
    best = np.asarray(res.metrics["best_loss_per_subject"])
    engine = res.extras["engine"]
    from plastinfer.infer import ChoiceProblem  # noqa: F401  (the problem the engine scored on)

    last = np.asarray(engine.history["objective"][-1])
    assert np.all(best <= start + 1e-7)
    assert last[0] > start[0]  # the last step of subject 0 is worse than its start …
    assert best[0] <= start[0] and best[1] < start[1] and best[2] < start[2]  # … the result is not
    assert res.history["best_loss"].shape == (len(engine.history["eval_step"]), 3)


def test_the_choice_likelihood_is_a_fixed_function_and_splits_by_subject():
    from plastinfer.infer import ChoiceFitConfig, choice_problem
    from plastinfer.infer._problem import rule_params

    circuit = ChoiceCircuit(readout="two_alternative")
    data = simulate_choices(jax.random.PRNGKey(9), circuit, parse_equation("x*r - 0.05*w"), 3)
    rule = Taylor.zeros(("x", "w", "r"), active=("x1w0r1", "x0w1r0")).with_terms({"x1w0r1": 0.8, "x0w1r0": -0.1})
    problem, _, _ = choice_problem(rule, circuit, data, config=ChoiceFitConfig(per_subject=True))
    params = rule_params(stack_rules([rule] * 3))[0]
    ll = problem.log_likelihood(params)
    assert ll.shape == data.choices.shape
    np.testing.assert_array_equal(ll, problem.log_likelihood(params))  # no hidden randomness
    np.testing.assert_array_equal(ll == 0, ~np.asarray(data.mask))  # masked trials are not observations
    assert problem.initial_weights().shape == (3, circuit.n_hidden, circuit.n_in)
    for i in range(3):
        sub = problem.subject(i)
        assert sub.n_groups == 0
        np.testing.assert_allclose(sub.log_likelihood(rule_params(rule)[0])[0], ll[i], rtol=1e-6, atol=1e-7)
    # the weights it conditions on are part of the model: others give another likelihood
    import equinox as eqx

    sub = problem.subject(0)
    other = eqx.tree_at(lambda p: p.w0, sub, sub.w0 + 0.05)
    assert not np.allclose(other.log_likelihood(rule_params(rule)[0]), ll[:1])
