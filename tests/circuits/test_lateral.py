import jax
import jax.numpy as jnp
import numpy as np

from plastinfer import Taylor, anti_hebb, oja
from plastinfer.circuits import LateralNetwork, LateralState, LayerInput
from plastinfer.objectives import FunctionTask, GaussianDatasets, linear_spectrum


def test_forward_solves_the_recurrent_equation_exactly():
    net = LateralNetwork(6, 4)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    state = LateralState(jax.random.normal(k1, (4, 6)), jax.random.normal(k2, (4, 4)))
    x = jax.random.normal(k3, (7, 6))
    y = net.forward(state, x)
    lat = state.w_lat * net.mask  # only j < i connections exist
    np.testing.assert_allclose(y, x @ state.w.T + y @ lat.T, atol=1e-4)
    # hierarchy: the first output gets no lateral input at all
    np.testing.assert_allclose(y[:, 0], x @ state.w[0], atol=1e-5)


def test_lateral_rule_only_touches_existing_synapses():
    net = LateralNetwork(5, 3)
    state = net.init(jax.random.PRNGKey(1))
    x = jax.random.normal(jax.random.PRNGKey(2), (10, 5))
    new, rec = net.step(state, LayerInput(x), (oja(), Taylor.from_terms({"x0y0w0": 1.0})))
    assert np.all(np.asarray(new.w_lat)[np.triu_indices(3)] == 0.0)
    assert np.all(np.asarray(new.w_lat)[np.tril_indices(3, -1)] == net.eta_lateral)
    assert rec.y.shape == (10, 3)


def test_oja_with_anti_hebbian_lateral_rule_extracts_the_leading_pcs():
    net = LateralNetwork(5, 3)
    task = FunctionTask(net, GaussianDatasets(5, top=linear_spectrum(3)), n_steps=600, n_datasets=4)
    key = jax.random.PRNGKey(3)
    both = float(task.loss((oja(), anti_hebb()), key))
    no_lateral = float(task.loss((oja(), Taylor.zeros()), key))
    assert both < 0.15 * 3, both  # every output within ~0.15 of ±PC_i on average
    assert no_lateral > 1.0  # without lateral decorrelation the outputs collapse onto PC1
    assert jnp.isfinite(both)
