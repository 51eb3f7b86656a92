"""Activity traces of batch-learning plastic networks: what adversarial inference fits
(Ramesh et al. 2023, §4.1–4.2), and the input covariance of its experiments."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..circuits import LayerInput, PlasticLayer
from ..objectives import pc_distances
from ..rules import AbstractRule
from ._dataset import Dataset
from ..errors import ConfigError


def covariance_sqrt(spectrum=(1.0, 0.5, 0.25), seed: int = 0) -> jnp.ndarray:
    """``L (n, n)`` with ``L Lᵀ = R diag(spectrum) Rᵀ``, ``R`` a fixed random rotation (``seed``):
    inputs ``x = L z``, ``z ~ N(0, I)`` have covariance eigenvalues ``spectrum`` (default
    1, 0.5, 0.25 — our choice for Ramesh et al.'s 3-input setting; their Supp. B.1 is not in
    the text we have)."""
    n = len(spectrum)
    q, r = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(seed), (n, n)))
    q = q * jnp.sign(jnp.diag(r))
    return q @ jnp.diag(jnp.sqrt(jnp.asarray(spectrum, jnp.float32)))


class ActivityGenerator(eqx.Module):
    r"""Activity traces of a batch-learning plastic layer (Ramesh et al. 2023, §4.1–4.2).

    One *network*: initial weights from ``circuit.init`` (``N(0, 0.1²)`` in the paper), ``K``
    presynaptic patterns ``x_k = L z_k``, ``z_k ~ N(0, I)`` (``L = cov_sqrt``, fixed over
    time), ``T`` steps of

    .. math:: y_k^t = w^t x_k + ε_k^t, \qquad w^{t+1} = w^t + η\,\frac1K \sum_k h_θ(x_k, y_k^t, w^t)

    with postsynaptic noise ``ε ~ N(0, noise_std²)`` (0 by default; 0.25 in the paper's
    Fig. 3A). A *trace* is ``y_k^{1..T}`` of one pattern of one output unit.
    """

    circuit: PlasticLayer
    cov_sqrt: Array
    n_samples: int = eqx.field(static=True, default=100)
    n_steps: int = eqx.field(static=True, default=200)
    noise_std: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        if self.cov_sqrt.shape != (self.circuit.n_in, self.circuit.n_in):
            raise ConfigError(f"cov_sqrt has shape {self.cov_sqrt.shape}; expected ({self.circuit.n_in}, {self.circuit.n_in})")
        if self.n_samples < 1 or self.n_steps < 1 or self.noise_std < 0:
            raise ConfigError("n_samples ≥ 1, n_steps ≥ 1 and noise_std ≥ 0 required")

    def network(self, rule: AbstractRule, key: Array) -> tuple[Array, Array, Array]:
        """One network: ``x (K, n_in)``, traces ``y (T, K, n_out)`` and weights ``w (T, n_out, n_in)``
        (the weights *used* at each step, i.e. before its update)."""
        c = self.circuit
        k_x, k_w, k_n = jax.random.split(key, 3)
        x = jax.random.normal(k_x, (self.n_samples, c.n_in)) @ self.cov_sqrt.T
        noise = self.noise_std * jax.random.normal(k_n, (self.n_steps, self.n_samples, c.n_out))

        def body(state, eps):
            new, rec = c.step(state, LayerInput(x, noise=eps), rule)
            return new, (rec.y, state.w)

        _, (y, w) = jax.lax.scan(body, c.init(k_w), noise)
        return x, y, w

    def traces(self, rule: AbstractRule, key: Array, n_networks: int) -> Array:
        """``(n_networks · K · n_out, T)`` traces from ``n_networks`` fresh networks."""
        _, y, _ = self.networks(rule, jax.random.split(key, n_networks))
        return jnp.moveaxis(y, 1, -1).reshape(-1, self.n_steps)

    def networks(self, rule: AbstractRule, keys: Array) -> tuple[Array, Array, Array]:
        """:meth:`network` for each key of ``keys (D, 2)``, batched with ``vmap`` (and compiled
        once per rule structure and ``D`` outside a trace): ``x (D, K, n_in)``,
        ``y (D, T, K, n_out)``, ``w (D, T, n_out, n_in)``."""
        return _networks(self, rule, keys)

    def pc1(self) -> np.ndarray:
        """``(n_in,)`` unit first principal component of the input covariance ``L Lᵀ`` (sign
        arbitrary)."""
        cov = np.asarray(self.cov_sqrt, np.float64) @ np.asarray(self.cov_sqrt, np.float64).T
        return np.linalg.eigh(cov)[1][:, -1]

    def weight_distances(self, rule: AbstractRule, key: Array, n_networks: int) -> np.ndarray:
        r"""``(n_networks, n_out, T)`` sign-invariant distance ``min(‖w_i^t − PC_1‖, ‖w_i^t + PC_1‖)``
        of each output's weight vector to the first principal component (Ramesh et al. Fig. 2C)."""
        _, _, w = self.networks(rule, jax.random.split(key, n_networks))
        pcs = jnp.broadcast_to(jnp.asarray(self.pc1(), jnp.float32), w.shape[2:])  # every output against PC1
        d = jax.vmap(jax.vmap(lambda wt: pc_distances(wt, pcs)))(w)  # (D, T, n_out)
        return np.asarray(jnp.moveaxis(d, 1, -1))

    def dataset(self, rule: AbstractRule, key: Array, n_networks: int) -> Dataset:
        """The same networks as :meth:`traces` (same ``key``) as a trajectory :class:`Dataset`
        — stimuli ``(n_networks, T, K, n_in)`` (the fixed patterns repeated over time),
        activity ``(n_networks, T, K, n_out)`` and the true initial weights — so that a
        trajectory fit (MSE on paired traces, :func:`plastinfer.fit_trajectory`) can be run on
        exactly the data an adversarial fit sees."""
        x, y, w = self.networks(rule, jax.random.split(key, n_networks))
        stimuli = np.broadcast_to(np.asarray(x)[:, None], (n_networks, self.n_steps) + x.shape[1:])
        return Dataset(stimuli=np.ascontiguousarray(stimuli), activity=np.asarray(y),
                       units=np.arange(self.circuit.n_out), n_out=self.circuit.n_out,
                       init_weights=np.asarray(w[:, 0]),
                       meta={"source": "ActivityGenerator", "rule": None, "noise_std": self.noise_std,
                             "circuit": self.circuit.config()})


@eqx.filter_jit
def _networks(gen: ActivityGenerator, rule: AbstractRule, keys: Array):
    return jax.vmap(lambda k: gen.network(rule, k))(keys)
