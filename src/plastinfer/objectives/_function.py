"""Function objectives: what a circuit should compute after plasticity (Confavreux et al. 2020)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from ..circuits import AbstractCircuit, LayerInput
from ..errors import ConfigError

#: Loss given to a candidate whose inner loop produced a non-finite value.
DIVERGED_LOSS = 1e4


class InputData(NamedTuple):
    """One or many input data sets (leading axis ``D`` when many).

    - ``x``: ``(n_samples, n_in)`` centred samples;
    - ``pcs``: ``(n_pcs, n_in)`` the data set's leading principal vectors (unit norm,
      from its sample covariance, largest variance first);
    - ``variances``: ``(n_pcs,)`` the variances along them.
    """

    x: Array
    pcs: Array
    variances: Array


class GaussianDatasets(eqx.Module):
    r"""Gaussian input data sets with a fixed spectrum under a random rotation.

    Every data set draws a fresh random rotation ``U`` and ``n_samples`` samples from
    ``N(0, C)``, ``C = U diag(λ) Uᵀ`` with eigenvalues ``λ = (top…, floor, …, floor)``:
    the same diagonal spectrum for every data set, rotated at random (Confavreux et al.
    2020, Fig. 1A), so that a rule cannot over-fit one data set. Only the ``len(top)``
    distinct directions need a rotation, so sampling costs ``O(n_samples · n_in · len(top))``
    — cheap for thousands of inputs. Samples are centred; the targets ``pcs`` are the
    principal vectors of the sample (the paper's "principal vector of the input data
    set"), from a thin SVD.

    The paper does not give its spectrum; the default ``top=(1.0,)``, ``floor=0.1`` puts a
    clear gap after PC1. For ``M`` outputs use ``M`` distinct leading variances, e.g.
    :func:`linear_spectrum`.
    """

    n_in: int = eqx.field(static=True)
    n_samples: int = eqx.field(static=True, default=200)
    top: tuple[float, ...] = eqx.field(static=True, default=(1.0,))
    floor: float = eqx.field(static=True, default=0.1)

    def __check_init__(self):
        if self.n_in < 1 or self.n_samples < 2:
            raise ConfigError(f"need n_in ≥ 1 and n_samples ≥ 2, got {self.n_in}, {self.n_samples}")
        if len(self.top) > self.n_in or not all(t > self.floor >= 0 for t in self.top):
            raise ConfigError(f"top variances {self.top} must exceed floor {self.floor} ≥ 0, at most n_in of them")
        if list(self.top) != sorted(self.top, reverse=True):
            raise ConfigError(f"top variances must be decreasing, got {self.top}")

    @property
    def n_pcs(self) -> int:
        return min(len(self.top), self.n_samples, self.n_in)

    def sample_one(self, key: Array) -> InputData:
        k_u, k_z, k_n = jax.random.split(key, 3)
        m = len(self.top)
        u, _ = jnp.linalg.qr(jax.random.normal(k_u, (self.n_in, m), jnp.float32))  # (n_in, m) orthonormal
        extra = jnp.sqrt(jnp.asarray(self.top, jnp.float32) - self.floor)
        x = (jax.random.normal(k_z, (self.n_samples, m)) * extra) @ u.T
        x = x + jnp.sqrt(jnp.float32(self.floor)) * jax.random.normal(k_n, (self.n_samples, self.n_in))
        x = x - jnp.mean(x, axis=0)
        _, s, vt = jnp.linalg.svd(x, full_matrices=False)
        return InputData(x, vt[: self.n_pcs], s[: self.n_pcs] ** 2 / self.n_samples)

    def sample(self, key: Array, n: int) -> InputData:
        """``n`` independent data sets (arrays with a leading axis ``n``)."""
        return jax.vmap(self.sample_one)(jax.random.split(key, n))


def linear_spectrum(n_components: int, largest: float = 1.0, smallest: float = 0.4) -> tuple[float, ...]:
    """``n_components`` variances decreasing linearly from ``largest`` to ``smallest``."""
    if n_components == 1:
        return (float(largest),)
    step = (largest - smallest) / (n_components - 1)
    return tuple(float(largest - i * step) for i in range(n_components))


def pc_distances(w: Array, pcs: Array) -> Array:
    """``(M,)`` sign-invariant distance of each output's weights ``w[i]`` to ``±pcs[i]``."""
    p = pcs[: w.shape[0]]
    return jnp.minimum(jnp.linalg.norm(w - p, axis=1), jnp.linalg.norm(w + p, axis=1))


def pc_distance(w: Array, pcs: Array) -> Array:
    r"""Sign-invariant distance of each output's weights to its principal vector, summed:

    .. math:: \sum_{i=1}^{M} \min\big(\lVert w_i - PC_i\rVert,\ \lVert w_i + PC_i\rVert\big)

    (Confavreux et al. 2020, Eq. 5 for one output, Eq. 9 for ``M``). ``w``: ``(M, n_in)``;
    ``pcs``: at least ``M`` rows.
    """
    return jnp.sum(pc_distances(w, pcs))


def pc_objective(state: Any, data: InputData) -> Array:
    """:func:`pc_distance` of the final feed-forward weights ``state.w`` to the data's PCs."""
    return pc_distance(state.w, data.pcs)


def firing_rate_error(rate: Array, target: float) -> Array:
    r"""``(r̄ − r_tg)² / (r̄ + 0.1)`` (Confavreux et al. 2020, Eq. 16): the denominator
    penalises near-silent solutions."""
    return (rate - target) ** 2 / (rate + 0.1)


def _finite(loss: Array) -> Array:
    loss = jnp.nan_to_num(loss, nan=DIVERGED_LOSS, posinf=DIVERGED_LOSS, neginf=DIVERGED_LOSS)
    return jnp.minimum(loss, DIVERGED_LOSS)


class FunctionTask(eqx.Module):
    """What a rule must achieve: a circuit, its inputs, an inner loop and a loss on the result.

    The inner loop (batch learning, Confavreux et al. 2020): the circuit starts from
    random weights and sees its whole data set (``n_samples`` samples, ``N_b = 200`` by
    default) at every one of ``n_steps`` steps, the update batch-averaged; then
    ``objective(final_state, data)`` scores it. :meth:`loss` averages over ``n_datasets``
    data sets drawn from ``key`` (default 20), so the meta-loss of a rule is

    .. math:: \\mathcal L(θ) = \\big\\langle \\text{objective}(\\text{inner}(θ, D)) \\big\\rangle_{D}.

    A non-finite score becomes :data:`DIVERGED_LOSS` (a large finite value).
    ``objective`` is any function ``(state, InputData) -> scalar`` (default
    :func:`pc_objective`).
    """

    circuit: AbstractCircuit
    datasets: GaussianDatasets
    n_steps: int = eqx.field(static=True, default=200)
    n_datasets: int = eqx.field(static=True, default=20)
    objective: Callable[[Any, InputData], Array] = eqx.field(static=True, default=pc_objective)

    def __check_init__(self):
        if self.circuit.n_in != self.datasets.n_in:
            raise ConfigError(f"circuit has {self.circuit.n_in} inputs but the data sets {self.datasets.n_in}")
        if self.n_steps < 1 or self.n_datasets < 1:
            raise ConfigError("n_steps and n_datasets must be ≥ 1")

    def inner(self, rule: PyTree, data: InputData, key: Array) -> Any:
        """Final circuit state after ``n_steps`` batch updates on one data set."""
        inputs = LayerInput(x=data.x)

        def body(state, _):
            return self.circuit.step(state, inputs, rule)[0], None

        final, _ = jax.lax.scan(body, self.circuit.init(key), None, length=self.n_steps)
        return final

    def scores(self, rule: PyTree, data: InputData, key: Array) -> Array:
        """``(D,)`` objective per data set (``data`` with a leading axis ``D``)."""
        keys = jax.random.split(key, data.x.shape[0])
        return jax.vmap(lambda d, k: _finite(self.objective(self.inner(rule, d, k), d)))(data, keys)

    def loss(self, rule: PyTree, key: Array) -> Array:
        """The meta-loss: mean objective over ``n_datasets`` fresh data sets drawn from ``key``."""
        k_data, k_init = jax.random.split(key)
        return jnp.mean(self.scores(rule, self.datasets.sample(k_data, self.n_datasets), k_init))
