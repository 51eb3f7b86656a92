r"""Conductance-based leaky integrate-and-fire neuron with plastic inhibitory afferents
(Confavreux et al. 2020, §3.3; set-up of Vogels et al. 2011).

Units: time in seconds, voltages in mV, conductances in units of ``g_leak`` (10 nS),
rates in Hz.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..rules._spike import SpikeTraceRule
from ._base import AbstractCircuit
from ..errors import ConfigError


class LIFState(NamedTuple):
    """Membrane potential ``v`` (mV), conductances ``g_e``, ``g_i`` (× g_leak), steps left in
    the refractory period ``ref``, presynaptic traces ``x_pre (n_inh,)``, postsynaptic trace
    ``x_post`` and inhibitory weights ``w (n_inh,)``."""

    v: Array
    g_e: Array
    g_i: Array
    ref: Array
    x_pre: Array
    x_post: Array
    w: Array


class SpikeInput(NamedTuple):
    """One time step's presynaptic spikes: ``exc (n_exc,)`` and ``inh (n_inh,)`` (0/1)."""

    exc: Array
    inh: Array


class InputProtocol(eqx.Module):
    r"""The 8 input signals of Vogels et al. (2011), as Confavreux et al. describe them:
    each group's rate is a 5 Hz baseline plus a positive "bump" signal, with every second
    bump removed.

    Per group, white noise is low-pass filtered twice with ``τ = 50 ms`` (an
    Ornstein–Uhlenbeck process, then once more, so that the signal is smooth and its zero
    crossings are isolated), scaled to unit stationary variance, and rectified; the
    positive excursions are the bumps, and every second one (alternating, with a random
    phase per group) is set to zero:

    .. math:: ν_g(t) = ν_0 + A\,[s_g(t)]_+\,\mathbb 1[\text{bump kept}].

    The rate is piecewise constant on a ``dt_rate = 1 ms`` grid. ``A`` (``amplitude``,
    default 30 Hz) is our choice: neither paper's text gives it.
    """

    n_groups: int = eqx.field(static=True, default=8)
    baseline_hz: float = eqx.field(static=True, default=5.0)
    amplitude_hz: float = eqx.field(static=True, default=30.0)
    tau: float = eqx.field(static=True, default=0.05)
    dt_rate: float = eqx.field(static=True, default=1e-3)

    def rates(self, key: Array, duration: float) -> Array:
        """``(T, n_groups)`` rates in Hz on the ``dt_rate`` grid for ``duration`` seconds."""
        n = int(round(duration / self.dt_rate))
        a = math.exp(-self.dt_rate / self.tau)
        k_noise, k_u, k_phase = jax.random.split(key, 3)
        noise = jax.random.normal(k_noise, (n, self.n_groups))
        u0 = jax.random.normal(k_u, (self.n_groups,))
        parity0 = jax.random.bernoulli(k_phase, 0.5, (self.n_groups,))

        def body(carry, xi):
            u, s, keep, was_pos = carry
            u = a * u + math.sqrt(1 - a * a) * xi
            s = a * s + (1 - a) * u
            pos = s > 0
            keep = jnp.where(pos & ~was_pos, ~keep, keep)  # a new bump flips the parity
            return (u, s, keep, pos), s * pos * keep

        std_s = _second_filter_std(a)
        init = (u0, std_s * u0, parity0, jnp.zeros(self.n_groups, bool))
        _, bumps = jax.lax.scan(body, init, noise)
        return self.baseline_hz + self.amplitude_hz * bumps / std_s


def _second_filter_std(a: float) -> float:
    """Stationary std of ``s`` where ``s_{t+1} = a s_t + (1−a) u_t`` and ``u`` is an AR(1) with
    coefficient ``a`` and unit variance: ``Var s = (1−a)² Σ_{i,j≥0} a^{i+j+|i−j|}
    = (1−a)² (1 + a²) / (1 − a²)²``."""
    return float(np.sqrt((1 - a) ** 2 * (1 + a * a) / (1 - a * a) ** 2))


class LIFNeuron(AbstractCircuit):
    r"""One conductance-based LIF neuron, 800 excitatory and 200 inhibitory afferents in 8
    groups of 100 + 25 (Confavreux et al. 2020, Eq. 10–13; Vogels et al. 2011):

    .. math::
        τ_m \frac{dV}{dt} = −(V − V_{rest}) − \frac{g_E}{g_{leak}}(V − E_E) − \frac{g_I}{g_{leak}}(V − E_I),
        \qquad \frac{dg_X}{dt} = −\frac{g_X}{τ_X} + \bar g_X \sum_k w^X_k S_k(t).

    A spike is emitted when ``V`` crosses ``V_th`` from below; ``V`` is reset to ``V_reset``
    and clamped there for ``τ_ref``. Constants: ``τ_m = 20 ms``, ``V_rest = −60 mV``,
    ``E_E = 0``, ``E_I = −80 mV``, ``ḡ_E = 0.014``, ``ḡ_I = 0.035`` (× ``g_leak = 10 nS``),
    ``τ_E = 5 ms``, ``τ_I = 10 ms``; ``V_th = −50 mV``, ``V_reset = −60 mV``, ``τ_ref = 5 ms``
    (Vogels et al. 2011; Confavreux et al. do not restate them).

    Fixed excitatory weights ``w_k^E = 0.3 + 1.1 / (1 + (G_k − P)^4) + ε_k``, ``P = 5``,
    ``ε_k ~ U(0, 0.1)`` — Vogels et al.'s tuning curve; Confavreux et al.'s Eq. 13 prints
    ``(1 + (G_k − P))^4``, which divides by zero for ``G_k = P − 1``. Inhibitory weights
    start weak and random, ``U(0, w_init_max)``, are plastic, and are clipped to
    ``[0, w_max]``.

    Integration (``dt = 0.1 ms``, fixed step): conductances and traces decay exactly
    (``g ← g e^{−dt/τ}`` then the step's spikes are added); ``V`` follows the exact
    solution of Eq. 10 with the conductances held over the step (exponential Euler):
    ``V ← V_∞ + (V − V_∞) e^{−dt (1 + g_E + g_I)/τ_m}``, ``V_∞ = (V_rest + g_E E_E + g_I E_I)/(1 + g_E + g_I)``.
    Plasticity per step uses the traces before this step's spikes are added
    (:meth:`SpikeTraceRule.on_spikes`).
    """

    n_groups: int = eqx.field(static=True, default=8)
    n_exc_per_group: int = eqx.field(static=True, default=100)
    n_inh_per_group: int = eqx.field(static=True, default=25)
    dt: float = eqx.field(static=True, default=1e-4)
    tau_m: float = eqx.field(static=True, default=0.02)
    v_rest: float = eqx.field(static=True, default=-60.0)
    v_th: float = eqx.field(static=True, default=-50.0)
    v_reset: float = eqx.field(static=True, default=-60.0)
    t_ref: float = eqx.field(static=True, default=0.005)
    e_exc: float = eqx.field(static=True, default=0.0)
    e_inh: float = eqx.field(static=True, default=-80.0)
    g_exc_bar: float = eqx.field(static=True, default=0.014)
    g_inh_bar: float = eqx.field(static=True, default=0.035)
    tau_exc: float = eqx.field(static=True, default=0.005)
    tau_inh: float = eqx.field(static=True, default=0.01)
    preferred_group: int = eqx.field(static=True, default=5)
    w_init_max: float = eqx.field(static=True, default=0.1)
    w_max: float = eqx.field(static=True, default=50.0)

    def __check_init__(self):
        if min(self.n_groups, self.n_exc_per_group, self.n_inh_per_group) < 1:
            raise ConfigError("the LIF neuron needs at least one group with one excitatory and one inhibitory afferent")
        if not 0 < self.dt < self.tau_exc:
            raise ConfigError(f"time step dt={self.dt} s must be positive and below the fastest time constant")

    @property
    def n_exc(self) -> int:
        return self.n_groups * self.n_exc_per_group

    @property
    def n_inh(self) -> int:
        return self.n_groups * self.n_inh_per_group

    @property
    def exc_group(self) -> np.ndarray:
        """``(n_exc,)`` input group (1-based) of each excitatory afferent."""
        return np.repeat(np.arange(1, self.n_groups + 1), self.n_exc_per_group)

    @property
    def inh_group(self) -> np.ndarray:
        return np.repeat(np.arange(1, self.n_groups + 1), self.n_inh_per_group)

    @property
    def afferent_group(self) -> Array:
        """``(n_exc + n_inh,)`` 0-based input group of every afferent, excitatory ones first."""
        return jnp.asarray(np.concatenate([self.exc_group, self.inh_group]) - 1)

    def excitatory_weights(self, key: Array) -> Array:
        """``(n_exc,)`` fixed tuned weights ``0.3 + 1.1/(1 + (G − P)^4) + U(0, 0.1)``."""
        g = jnp.asarray(self.exc_group, jnp.float32)
        eps = jax.random.uniform(key, (self.n_exc,), maxval=0.1)
        return 0.3 + 1.1 / (1.0 + (g - self.preferred_group) ** 4) + eps

    def init(self, key: Array) -> LIFState:
        z = jnp.zeros((), jnp.float32)
        w = jax.random.uniform(key, (self.n_inh,), maxval=self.w_init_max)
        return LIFState(jnp.asarray(self.v_rest, jnp.float32), z, z, jnp.zeros((), jnp.int32),
                        jnp.zeros(self.n_inh, jnp.float32), z, w)

    def step(self, state: LIFState, inputs: tuple[SpikeInput, Array], rule: SpikeTraceRule,
             record_weights: bool = False):
        """One ``dt`` step. ``inputs = (spikes, w_exc)``; returns ``(state, spiked)``."""
        spikes, w_exc = inputs
        dt = self.dt
        g_e = state.g_e * math.exp(-dt / self.tau_exc) + self.g_exc_bar * jnp.dot(w_exc, spikes.exc)
        g_i = state.g_i * math.exp(-dt / self.tau_inh) + self.g_inh_bar * jnp.dot(state.w, spikes.inh)
        g_tot = 1.0 + g_e + g_i
        v_inf = (self.v_rest + g_e * self.e_exc + g_i * self.e_inh) / g_tot
        v_free = v_inf + (state.v - v_inf) * jnp.exp(-dt * g_tot / self.tau_m)
        refractory = state.ref > 0
        spiked = (~refractory) & (v_free >= self.v_th)
        v = jnp.where(refractory | spiked, self.v_reset, v_free)
        ref = jnp.where(spiked, int(round(self.t_ref / dt)), jnp.maximum(state.ref - 1, 0))
        s_post = spiked.astype(jnp.float32)
        x_pre = state.x_pre * jnp.exp(-dt / rule.tau_pre)
        x_post = state.x_post * jnp.exp(-dt / rule.tau_post)
        dw = rule.on_spikes(spikes.inh, s_post, x_pre, x_post)
        w = jnp.clip(state.w + dw, 0.0, self.w_max)
        new = LIFState(v, g_e, g_i, ref, x_pre + spikes.inh, x_post + s_post, w)
        return new, spiked

    def state_from_weights(self, w: Array) -> LIFState:
        """Rest state with inhibitory weights ``w (n_inh,)``."""
        return self.init(jax.random.PRNGKey(0))._replace(w=jnp.asarray(w, jnp.float32))

    def observe(self, rule: SpikeTraceRule, state: LIFState, inputs: "LIFInput", *, record_weights: bool = False,
                checkpoint=None) -> tuple[Array, Array | None]:
        """Postsynaptic rate in every bin (Hz), ``(n_bins, 1)``, for one input realisation
        (:func:`lif_realisation`); with ``record_weights`` the mean inhibitory weight per
        group after every bin, ``(n_bins, n_groups)``."""
        w_exc = self.excitatory_weights(inputs.key[0])
        _, out = _run_bins(self, rule, state, inputs.rates, w_exc, inputs.key[1], inputs.steps_per_rate,
                           record_weights)
        bin_s = inputs.rates.shape[1] * inputs.steps_per_rate * self.dt
        return out.spikes[:, None] / bin_s, (out.w if record_weights else None)

    def config(self) -> dict:
        """Every setting, with ``kind``: :func:`circuit_from_spec` rebuilds this circuit."""
        from ._spec import circuit_to_spec

        return circuit_to_spec(self)


class LIFRecord(NamedTuple):
    """Per-bin record of :func:`simulate_lif`: ``spikes (B,)`` postsynaptic spike counts;
    when recorded, ``w (B, n_groups)`` mean inhibitory weight per input group,
    ``i_exc``, ``i_inh (B,)`` mean excitatory / inhibitory currents (in units of
    ``g_leak``·mV: ``g (E − V)``) and ``rates (B, n_groups)`` mean input rates."""

    spikes: Array
    w: Array | None = None
    i_exc: Array | None = None
    i_inh: Array | None = None
    rates: Array | None = None


#: thresholds drawn per afferent per 100 ms bin; a Poisson count above it needs ≥ 400 Hz for a
#: tail probability of 1e-6 (the Fig. 3 inputs stay below ~150 Hz). Beyond it the last
#: threshold is reused.
POOL = 40


class PoissonSources(NamedTuple):
    """Time-rescaling state of independent inhomogeneous Poisson trains: ``budget (n,)`` the
    integrated intensity left before each train's next spike, ``used (n,)`` thresholds
    taken from the current bin's pool."""

    budget: Array
    used: Array


def _poisson_init(key: Array, n: int) -> PoissonSources:
    return PoissonSources(jax.random.exponential(key, (n,)), jnp.zeros(n, jnp.int32))


def _poisson_new_bin(src: PoissonSources, key: Array) -> tuple[PoissonSources, Array]:
    """Start a bin: a fresh ``(POOL, n)`` pool of ``Exp(1)`` thresholds, none used yet."""
    n = src.budget.shape[0]
    return src._replace(used=jnp.zeros(n, jnp.int32)), jax.random.exponential(key, (POOL, n))


def _poisson_step(src: PoissonSources, pool: Array, p: Array) -> tuple[PoissonSources, Array]:
    """One ``dt`` step: every train's budget falls by its intensity ``p = ν dt``; a train spikes
    when its budget crosses zero and then draws a new ``Exp(1)`` threshold from ``pool``
    ``(POOL, n)`` (the overshoot carries over, so spike times follow the continuous process
    up to the grid)."""
    budget = src.budget - p
    spike = budget <= 0.0
    nxt = jnp.take_along_axis(pool, jnp.minimum(src.used, pool.shape[0] - 1)[None, :], axis=0)[0]
    return PoissonSources(jnp.where(spike, budget + nxt, budget), src.used + spike), spike.astype(jnp.float32)


def input_spikes(circuit: LIFNeuron, key: Array, rates: Array, chunk: int = 1000) -> tuple[Array, Array]:
    """Independent inhomogeneous Poisson spike trains for ``rates (T, n_groups)`` (Hz, one row per
    ``dt`` step), generated as in :func:`simulate_lif`: by time rescaling — each afferent of
    group ``g`` spikes when ``∫ ν_g dt`` since its last spike crosses an ``Exp(1)``
    threshold — which draws one random number per *spike* instead of one per afferent per
    step (a Bernoulli draw per step costs ~10× the whole neuron update on a CPU). ``T`` must
    be a multiple of ``chunk`` (the steps sharing one pool of thresholds), or smaller than it.
    Returns ``(T, n_exc)`` and ``(T, n_inh)`` arrays of 0/1."""
    c = circuit
    t = rates.shape[0]
    chunk = min(chunk, t)
    if t % chunk:
        raise ConfigError(f"{t} steps are not a multiple of the chunk ({chunk})")
    group = c.afferent_group
    n = c.n_exc + c.n_inh
    k0, k1 = jax.random.split(key)

    def one_chunk(src, xs):
        r, k = xs
        src, pool = _poisson_new_bin(src, k)
        return jax.lax.scan(lambda s_, p: _poisson_step(s_, pool, p[group] * c.dt), src, r)

    _, spikes = jax.lax.scan(one_chunk, _poisson_init(k0, n),
                             (rates.reshape(t // chunk, chunk, -1), jax.random.split(k1, t // chunk)))
    spikes = spikes.reshape(t, n)
    return spikes[:, : c.n_exc], spikes[:, c.n_exc:]


class RealisationKeys(NamedTuple):
    """How :func:`simulate_lif` splits one realisation's key: group rate signals, excitatory
    weight jitter, initial state, spike trains."""

    rates: Array
    exc_weights: Array
    init: Array
    spikes: Array


def realisation_keys(key: Array) -> RealisationKeys:
    return RealisationKeys(*jax.random.split(key, 4))


def simulate_lif(circuit: LIFNeuron, rule: SpikeTraceRule, key: Array, duration: float, *,
                 protocol: InputProtocol = InputProtocol(), bin_s: float = 0.1, record: bool = False,
                 state: LIFState | None = None) -> tuple[LIFState, LIFRecord]:
    """Run the neuron for ``duration`` seconds on one input realisation drawn from ``key``.

    ``key`` fixes everything random about the realisation — the group rate signals, the
    Poisson spike trains, the excitatory weights' jitter and the initial inhibitory
    weights — so candidates ``vmap``-ed over ``rule`` with one ``key`` see the same inputs
    (common random numbers) and the input is generated once for all of them. Simulated as
    a scan over ``bin_s`` bins, each a scan over ``dt`` steps; presynaptic spikes come from
    time rescaling (:func:`input_spikes`), one random threshold per spike.
    Returns the final state and a :class:`LIFRecord` with one row per bin.
    """
    c = circuit
    steps_per_rate = int(round(protocol.dt_rate / c.dt))
    rates_per_bin = int(round(bin_s / protocol.dt_rate))
    n_bins = int(round(duration / bin_s))
    if not math.isclose(steps_per_rate * c.dt, protocol.dt_rate) or not math.isclose(rates_per_bin * protocol.dt_rate, bin_s):
        raise ConfigError(f"bin {bin_s} s, rate grid {protocol.dt_rate} s and dt {c.dt} s must divide each other")
    if n_bins < 1:
        raise ConfigError(f"duration {duration} s is shorter than one bin ({bin_s} s)")
    k_rates, k_w, k_init, k_spikes = realisation_keys(key)
    rates = protocol.rates(k_rates, n_bins * bin_s).reshape(n_bins, rates_per_bin, c.n_groups)
    w_exc = c.excitatory_weights(k_w)
    state = c.init(k_init) if state is None else state
    return _run_bins(c, rule, state, rates, w_exc, k_spikes, steps_per_rate, record)


def _run_bins(c: LIFNeuron, rule, state, rates, w_exc, k_spikes, steps_per_rate: int, record: bool):
    """The bins of :func:`simulate_lif`: ``rates (n_bins, rates_per_bin, n_groups)``."""
    n_bins = rates.shape[0]
    group = c.afferent_group

    def one_bin(carry, xs):
        st, src = carry
        bin_rates, k = xs  # (rates_per_bin, n_groups)
        src, pool = _poisson_new_bin(src, k)

        def one_step(carry, r):
            s, src = carry
            src, spikes = _poisson_step(src, pool, r[group] * c.dt)
            s, spiked = c.step(s, (SpikeInput(spikes[: c.n_exc], spikes[c.n_exc:]), w_exc), rule)
            cur = (s.g_e * (c.e_exc - s.v), s.g_i * (c.e_inh - s.v)) if record else ()
            return (s, src), (spiked, cur)

        (st, src), (spiked, cur) = jax.lax.scan(one_step, (st, src), jnp.repeat(bin_rates, steps_per_rate, axis=0))
        out = (jnp.sum(spiked),)
        if record:
            w_group = st.w.reshape(c.n_groups, c.n_inh_per_group).mean(axis=1)
            out = out + (w_group, jnp.mean(cur[0]), jnp.mean(cur[1]), jnp.mean(bin_rates, axis=0))
        return (st, src), out

    k_src, k_spikes = jax.random.split(k_spikes)
    keys = jax.random.split(k_spikes, n_bins)
    (state, _), out = jax.lax.scan(one_bin, (state, _poisson_init(k_src, c.n_exc + c.n_inh)), (rates, keys))
    return state, LIFRecord(*out) if record else LIFRecord(out[0])


class LIFInput(eqx.Module):
    """One input realisation for :meth:`LIFNeuron.observe`: group rates
    ``rates (n_bins, rates_per_bin, n_groups)`` (Hz, on the protocol's ``dt_rate`` grid) and
    the ``key`` that draws the spike trains and the excitatory weights' jitter."""

    rates: Array
    key: Array
    steps_per_rate: int = eqx.field(static=True, default=10)


def lif_realisation(circuit: LIFNeuron, key: Array, duration: float, *, protocol: InputProtocol = InputProtocol(),
                    bin_s: float = 0.1) -> LIFInput:
    """The input realisation :func:`simulate_lif` would draw from ``key`` (same rates, spike
    trains and excitatory weights), as a :class:`LIFInput` for :meth:`LIFNeuron.observe`."""
    steps_per_rate = int(round(protocol.dt_rate / circuit.dt))
    rates_per_bin = int(round(bin_s / protocol.dt_rate))
    n_bins = int(round(duration / bin_s))
    k = realisation_keys(key)
    rates = protocol.rates(k.rates, n_bins * bin_s).reshape(n_bins, rates_per_bin, circuit.n_groups)
    return LIFInput(rates, jnp.stack([k.exc_weights, k.spikes]), steps_per_rate)

