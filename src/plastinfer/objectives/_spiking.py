"""The target-rate objective of the spiking experiment (Confavreux et al. 2020, §3.3)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..circuits._lif import InputProtocol, LIFNeuron, simulate_lif
from ..rules._spike import SpikeTraceRule
from ._function import _finite, firing_rate_error
from ..errors import ConfigError


class SpikingTask(eqx.Module):
    r"""A spike-trace rule must bring the LIF neuron to a target rate:

    .. math::
        \mathcal L(θ) = \Big\langle \frac{(\bar r − r_{tg})^2}{\bar r + 0.1} \Big\rangle_{\text{data sets}}

    (Eq. 16), ``r̄`` the postsynaptic rate in a ``window_s`` window placed at random inside a
    ``score_s`` scoring phase that follows ``train_s`` seconds of plasticity (plasticity
    stays on throughout, as in the paper), ``r_tg = target_hz``. Each data set is one input
    realisation (rate signals, spike trains, excitatory jitter, initial inhibitory weights)
    drawn from the key; the paper's protocol is 60 s + 30 s, a 10 s window, 5 Hz.
    The window is placed on the ``bin_s`` grid.
    """

    circuit: LIFNeuron = LIFNeuron()
    protocol: InputProtocol = InputProtocol()
    train_s: float = eqx.field(static=True, default=60.0)
    score_s: float = eqx.field(static=True, default=30.0)
    window_s: float = eqx.field(static=True, default=10.0)
    target_hz: float = eqx.field(static=True, default=5.0)
    n_datasets: int = eqx.field(static=True, default=4)
    bin_s: float = eqx.field(static=True, default=0.1)

    def __check_init__(self):
        if not 0 < self.window_s <= self.score_s:
            raise ConfigError(f"the scoring window ({self.window_s} s) must fit in the scoring phase ({self.score_s} s)")
        if self.train_s < 0 or self.n_datasets < 1 or self.target_hz <= 0:
            raise ConfigError("train_s ≥ 0, n_datasets ≥ 1 and target_hz > 0 required")

    def rate(self, rule: SpikeTraceRule, key: Array) -> Array:
        """Rate (Hz) in the random scoring window for one input realisation ``key``."""
        k_sim, k_win = jax.random.split(key)
        _, rec = simulate_lif(self.circuit, rule, k_sim, self.train_s + self.score_s, protocol=self.protocol,
                              bin_s=self.bin_s)
        first = int(round(self.train_s / self.bin_s))
        width = int(round(self.window_s / self.bin_s))
        slack = int(round(self.score_s / self.bin_s)) - width
        start = first + jax.random.randint(k_win, (), 0, slack + 1)
        return jnp.sum(jax.lax.dynamic_slice(rec.spikes, (start,), (width,))) / self.window_s

    def rates(self, rule: SpikeTraceRule, key: Array, n: int | None = None) -> Array:
        """``(n,)`` window rates on ``n`` (default ``n_datasets``) realisations from ``key``."""
        return jax.vmap(lambda k: self.rate(rule, k))(jax.random.split(key, n or self.n_datasets))

    def loss(self, rule: SpikeTraceRule, key: Array) -> Array:
        """The meta-loss (Eq. 16) averaged over ``n_datasets`` realisations drawn from ``key``."""
        return jnp.mean(_finite(firing_rate_error(self.rates(rule, key), self.target_hz)))
