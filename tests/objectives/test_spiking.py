import jax
import numpy as np
import pytest

from plastinfer.objectives import SpikingTask
from plastinfer.rules import SpikeTraceRule, vogels_istdp


def _small(**kw):
    return SpikingTask(train_s=2.0, score_s=2.0, window_s=1.0, n_datasets=2, **kw)


def test_loss_is_eq16_of_the_window_rate_and_finite_for_extreme_rules():
    task = _small()
    key = jax.random.PRNGKey(0)
    rates = np.asarray(task.rates(vogels_istdp(), key))
    assert float(task.loss(vogels_istdp(), key)) == pytest.approx(np.mean((rates - 5.0) ** 2 / (rates + 0.1)), rel=1e-5)
    wild = SpikeTraceRule.create(alpha=1e6, beta=-1e6, gamma=1e6, kappa=1e6, tau_pre=1e3, tau_post=1e-6)
    assert np.isfinite(float(task.loss(wild, key)))


def test_bad_windows_are_refused():
    with pytest.raises(ValueError, match="window"):
        SpikingTask(score_s=5.0, window_s=10.0)
