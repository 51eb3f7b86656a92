"""Probe behind docs/confavreux-spiking.md: where the Vogels 2011 rule balances the LIF
neuron, for the Fig. 3 inputs and for constant uncorrelated inputs (~8 minutes on 2 cores).

    python docs/probes/vogels_rates.py
"""

import jax
import numpy as np

from plastinfer.circuits import InputProtocol, LIFNeuron, simulate_lif
from plastinfer.rules import vogels_istdp


def rates(protocol: InputProtocol, eta: float, seconds: float) -> np.ndarray:
    c = LIFNeuron()
    keys = jax.random.split(jax.random.PRNGKey(9000), 4)
    run = jax.jit(jax.vmap(lambda r, k: simulate_lif(c, r, k, seconds, protocol=protocol)[1].spikes, in_axes=(None, 0)))
    counts = np.asarray(run(vogels_istdp(eta), keys)).reshape(4, -1, 100).sum(2)
    return counts.mean(0) / 10.0  # Hz per 10 s window, mean over 4 realisations


def main() -> None:
    for eta in (1e-3, 3e-3, 1e-2, 3e-2):
        print(f"Fig. 3 inputs, η = {eta}:", np.round(rates(InputProtocol(), eta, 150.0), 1))
    print("bumps of 10 Hz, η = 0.01:", np.round(rates(InputProtocol(amplitude_hz=10.0), 1e-2, 90.0), 1))
    for eta in (3e-3, 1e-2):
        flat = InputProtocol(amplitude_hz=0.0, baseline_hz=10.0)
        print(f"constant 10 Hz, η = {eta}:", np.round(rates(flat, eta, 90.0), 1))


if __name__ == "__main__":
    main()
