"""Every rule family and every circuit saves to and loads from its spec with identical
outputs, and ``plastinfer fit`` accepts each from a config."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tomli_w
import tomllib

import plastinfer as pi
from plastinfer.cli import main

K = jax.random.PRNGKey(0)
RULES = {
    "taylor": lambda: pi.Taylor.init(K, ("x", "y", "w", "r"), 2, 0.1),
    "taylor-active": lambda: pi.Taylor.zeros(("x", "w", "r"), active=("x1w0r1", "x0w1r0")).with_terms({"x1w0r1": 0.7}),
    "mlp": lambda: pi.MLPRule(K, ("x", "y", "w", "r"), width=4, depth=2, out_scale=1.0),
    "sum": lambda: pi.oja() + pi.MLPRule(K, width=3, out_scale=1.0),
    "frozen": lambda: pi.Frozen(pi.oja()) + pi.MLPRule(K, width=3, out_scale=1.0),
    "semi-global": lambda: pi.SemiGlobalMLPRule(K, width=4, out_scale=1.0),
    "global": lambda: pi.GlobalMLPRule(K, 5, 4, width=4, out_scale=1.0),
    "spike-trace": lambda: pi.SpikeTraceRule.create(alpha=-1e-3, beta=2e-3, gamma=3e-4, kappa=1e-4, tau_pre=0.01),
    "tuple": lambda: (pi.oja(), pi.anti_hebb(0.5)),
}


def _outputs(rule):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(7), 3)
    x, y, w = jax.random.normal(k1, (3, 5)), jax.random.normal(k2, (3, 4)), jax.random.normal(k3, (4, 5))
    rules = rule if isinstance(rule, tuple) else (rule,)
    return [np.asarray(r(x, y, w, jnp.array([1.0, -0.5, 0.2]))) for r in rules]


@pytest.mark.parametrize("family", list(RULES))
def test_every_rule_family_saves_and_loads_with_identical_outputs(family, tmp_path):
    rule = RULES[family]()
    pi.save_rule(tmp_path / "rule.npz", rule)
    back = pi.load_rule(tmp_path / "rule.npz")
    assert type(back) is type(rule)
    for a, b in zip(_outputs(rule), _outputs(back), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.abs(np.concatenate([o.ravel() for o in _outputs(rule)])).max() > 1e-3  # not a trivially zero rule
    spec = tomllib.loads(tomli_w.dumps({"model": pi.rule_to_spec(rule)}))["model"]  # through TOML
    rebuilt = pi.rule_from_spec(spec, key=K)
    if family in ("taylor", "taylor-active", "spike-trace", "tuple"):  # specs that hold every coefficient
        for a, b in zip(_outputs(rule), _outputs(rebuilt), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    else:  # black-box families: the spec is the architecture, the arrays live in rule.npz
        assert jax.tree_util.tree_structure(rebuilt) == jax.tree_util.tree_structure(rule)


def test_black_box_rules_say_they_have_no_named_coefficients():
    mlp = RULES["mlp"]()
    assert not mlp.has_coefficients and pi.Taylor.zeros().has_coefficients
    with pytest.raises(TypeError, match="black-box"):
        mlp.coefficients()
    assert mlp.parameter_vector().size == sum(a.size for a in jax.tree_util.tree_leaves(mlp) if hasattr(a, "size"))


def test_meta_fit_runs_with_an_mlp_rule():
    task = pi.FunctionTask(pi.PlasticLayer(3, 1, "linear", eta=0.05, init_std=0.1), pi.GaussianDatasets(3), n_steps=30,
                           n_datasets=2)
    res = pi.meta_fit(pi.MLPRule(K, width=3), task, config=pi.MetaConfig(method="gradient", generations=3, l1=0.0),
                      progress=False)
    assert isinstance(res.rule, pi.MLPRule) and res.names is None
    assert res.history["coefficients"].shape == (4, res.rule.parameter_vector().size)
    assert res.metrics["best_loss"] <= res.history["objective"][0]


CIRCUITS = {
    "plastic_layer": lambda: pi.PlasticLayer(5, 4, "tanh", eta=0.3, init_std=0.2, w_max=7.0),
    "choice": lambda: pi.ChoiceCircuit(readout="two_alternative", window=5, trials_per_block=12, odor_noise_std=0.1),
    "lateral_network": lambda: pi.LateralNetwork(5, 3, eta=0.02, eta_lateral=0.2),
    "lif_neuron": lambda: pi.LIFNeuron(n_groups=2, n_exc_per_group=10, n_inh_per_group=3, v_th=-52.0, w_max=20.0),
}


@pytest.mark.parametrize("kind", list(CIRCUITS))
def test_every_circuit_round_trips_through_its_toml_spec(kind):
    circuit = CIRCUITS[kind]()
    spec = circuit.config()
    assert spec["kind"] == kind
    text = tomli_w.dumps({"circuit": {k: v for k, v in spec.items() if v is not None}})
    back = pi.circuit_from_spec(tomllib.loads(text)["circuit"])
    assert back == circuit
    state = circuit.init(jax.random.PRNGKey(1))
    for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(back.init(jax.random.PRNGKey(1)))):
        np.testing.assert_array_equal(a, b)


def test_circuit_spec_errors_name_the_key():
    from plastinfer.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key"):
        pi.circuit_from_spec({"kind": "lateral_network", "n_in": 3, "n_out": 2, "n_hidden": 4})
    with pytest.raises(ConfigError, match="missing key 'n_out'"):
        pi.circuit_from_spec({"kind": "plastic_layer", "n_in": 3})
    with pytest.raises(ConfigError, match="unknown kind"):
        pi.circuit_from_spec({"kind": "hopfield"})


LATERAL = """
[circuit]
kind = "lateral_network"
n_in = 4
n_out = 2

[model]
family = "tuple"
[[model.rules]]
family = "taylor"
active = ["x1y1w0", "x0y2w1"]
terms = {{ x1y1w0 = 0.5 }}
[[model.rules]]
family = "taylor"
active = ["x1y1w0"]

[fit]
epochs = 2
learning_rate = 0.01
init_weights = "true"
n_test = 1
"""

CHOICE = """
[circuit]
kind = "choice"
readout = "two_alternative"
trials_per_block = 10

[model]
family = "taylor"
variables = ["x", "w", "r"]
active = ["x1w0r1", "x0w1r0"]

[fit]
epochs = 2
learning_rate = 0.01
per_subject = true
"""


def test_cli_fits_a_lateral_network_with_a_tuple_of_rules(tmp_path, capsys):
    net = pi.LateralNetwork(4, 2)
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (3, 10, 4, 4)))
    w0 = np.asarray(jax.vmap(lambda k: net.init(k).w)(jax.random.split(jax.random.PRNGKey(1), 3)))
    truth = (pi.oja(), pi.anti_hebb())
    y = np.stack([np.asarray(net.observe(truth, net.state_from_weights(w), net.make_inputs(xx))[0]) for w, xx in zip(w0, x)])
    pi.Dataset(stimuli=x, activity=y, units=np.arange(2), n_out=2, init_weights=w0, meta={}).save(tmp_path / "d.npz")
    (tmp_path / "c.toml").write_text(LATERAL.replace("{{", "{").replace("}}", "}"))
    assert main(["fit", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "run"),
                 "--quiet"]) == 0
    assert "A: Δw" in capsys.readouterr().out
    back = pi.load_rule(tmp_path / "run" / "rule.npz")
    assert isinstance(back, tuple) and len(back) == 2


def test_cli_fits_choices_per_subject_from_a_table(tmp_path, capsys):
    circuit = pi.ChoiceCircuit(readout="two_alternative", trials_per_block=10)
    pi.simulate_choices(jax.random.PRNGKey(0), circuit, pi.parse_equation("x*r"), 3).to_csv(tmp_path / "c.csv")
    (tmp_path / "c.toml").write_text(CHOICE)
    assert main(["fit", str(tmp_path / "c.toml"), "--data", str(tmp_path / "c.csv"), "-o", str(tmp_path / "run"),
                 "--quiet"]) == 0
    assert capsys.readouterr().out.count("subject ") == 3
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["results"]
    assert len(metrics["best_loss_per_subject"]) == 3
    assert (tmp_path / "run" / "checkpoint.npz").exists()
    rules = [pi.load_rule(tmp_path / "run" / "rules" / f"{i:03d}.npz") for i in range(3)]
    assert [r.equation() for r in rules] == metrics["equations"]


def test_cli_explains_why_the_lif_neuron_is_fitted_from_python(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('[circuit]\nkind = "lif_neuron"\n')
    pi.Dataset(stimuli=np.zeros((2, 3, 1)), activity=np.zeros((2, 3, 1)), units=np.arange(1), n_out=1,
               meta={}).save(tmp_path / "d.npz")
    assert main(["fit", str(tmp_path / "c.toml"), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "run")]) == 2
    assert "LIF neuron" in capsys.readouterr().err
