import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastinfer.circuits import ChoiceCircuit, ChoiceInput, rollout, rollouts
from plastinfer.data import closed_loop_inputs
from plastinfer.rules import Taylor, parse_equation


@pytest.mark.parametrize("readout", ["accept", "two_alternative"])
def test_closed_loop_and_driven_modes_agree_on_the_same_choices(readout):
    circuit = ChoiceCircuit(readout=readout, trials_per_block=30)
    loop = dataclasses.replace(circuit, closed_loop=True)
    rule = parse_equation("x*r - 0.05*w")
    states = jax.vmap(loop.init)(jax.random.split(jax.random.PRNGKey(0), 3))
    inputs = closed_loop_inputs(jax.random.PRNGKey(1), loop, 3, 300)
    _, rec = rollouts(loop, rule, states, inputs, record_weights=True)
    driven = inputs._replace(choice=rec.choice, reward=rec.reward, valid=rec.valid)
    _, rec2 = rollouts(circuit, rule, states, driven, record_weights=True)
    v = np.asarray(rec.valid)
    assert v.sum(axis=1).min() >= 90  # every session ran its trials
    # equal up to float32 rounding (the two modes compile to differently fused programs)
    np.testing.assert_allclose(np.asarray(rec.logit)[v], np.asarray(rec2.logit)[v], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(rec.w)[v], np.asarray(rec2.w)[v], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(rec.choice)[v], np.asarray(rec2.choice)[v])
    assert float(jnp.abs(rec.w[:, -1]).max()) > 0.1  # and plasticity did something


def _one_subject(odors, choices, rewards, circuit):
    t = len(choices)
    return ChoiceInput(
        odor=jnp.asarray(odors, jnp.int32),
        noise=jnp.zeros((t, circuit.n_odors, circuit.n_in)),
        choice=jnp.asarray(choices, jnp.float32),
        reward=jnp.asarray(rewards, jnp.float32),
        valid=jnp.ones(t, bool),
        u=jnp.zeros((t, 1 + circuit.n_odors)),
    )


@pytest.mark.parametrize("window", [0, 3])
def test_reward_term_is_reward_minus_moving_average_and_rejections_do_not_learn(window):
    circuit = ChoiceCircuit(window=window)
    rule = Taylor.from_terms({"r1": 1.0}, ("x", "y", "w", "r"))  # Δw = r for every synapse
    odors = [0, 1, 1, 0, 0, 1, 0]
    choices = [1, 0, 1, 1, 0, 1, 1]  # rejections at steps 1 and 4
    rewards = [1, 0, 1, 0, 0, 1, 1]
    w0 = jnp.zeros((circuit.n_hidden, circuit.n_in))
    _, rec = rollout(circuit, rule, circuit.init_state(w0), _one_subject(odors, choices, rewards, circuit),
                     record_weights=True)
    history, expected_r, w = [], [], 0.0
    for c, rew in zip(choices, rewards):
        if c:
            e = np.mean((history[::-1] + [0.0] * window)[:window]) if window else 0.0
            expected_r.append(rew - e)
            w += circuit.step_size * (rew - e)
            history.append(rew)
        else:
            expected_r.append(0.0)
    np.testing.assert_allclose(np.asarray(rec.r), expected_r, atol=1e-6)
    np.testing.assert_allclose(float(rec.w[-1, 0, 0]), w, atol=1e-6)
    steps = np.asarray(rec.w[:, 0, 0])
    assert steps[1] == steps[0] and steps[4] == steps[3]  # no change after a rejection


def test_readouts():
    c = ChoiceCircuit(readout="two_alternative", odor_noise_std=0.0)
    w = jnp.zeros((c.n_hidden, c.n_in)).at[:, 1].set(1.0)  # odor 2 drives the hidden layer
    inp = _one_subject([-1], [1], [0], c)
    _, rec = c.step(c.init_state(w), jax.tree_util.tree_map(lambda a: a[0], inp), Taylor.zeros())
    assert float(rec.logit) == pytest.approx(c.readout_gain * np.tanh(0.75))  # ℓ(x₂) − ℓ(x₁)
    a = ChoiceCircuit(readout="accept", odor_noise_std=0.0)
    _, rec = a.step(a.init_state(w), jax.tree_util.tree_map(lambda v: v[0], _one_subject([0], [1], [0], a)), Taylor.zeros())
    assert float(rec.logit) == pytest.approx(0.0)


def test_bad_configuration():
    with pytest.raises(ValueError, match="readout"):
        ChoiceCircuit(readout="three")
    with pytest.raises(ValueError, match="blocks"):
        ChoiceCircuit(blocks=((0.2, 1.5),))
