"""Spike-trace plasticity rules (Confavreux et al. 2020, §3.3, Eq. 14)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractRule
from ..errors import ConfigError


def _fmt(value: float, precision: int) -> str:
    return f"{value:.{precision}g}"


class SpikeTraceRule(AbstractRule):
    r"""Pair-based spike-timing rule over pre- and postsynaptic spike trains and traces:

    .. math::
        \frac{dw_k}{dt} = α\, S_k(t) + β\, S_{post}(t) + γ\, x_k(t)\, S_{post}(t)
        + κ\, x_{post}(t)\, S_k(t)

    (Confavreux et al. 2020, Eq. 14), with the traces ``dx_k/dt = −x_k/τ_pre + S_k`` and
    ``dx_post/dt = −x_post/τ_post + S_post`` (Eq. 12; a trace jumps by 1 at each spike).
    Each spike therefore moves ``w_k`` by a finite amount: ``α + κ·x_post`` per presynaptic
    spike, ``β + γ·x_k`` per postsynaptic spike (:meth:`on_spikes`).

    Learned arrays: ``alpha``, ``beta``, ``gamma``, ``kappa`` (scalars, stored in units of
    the static ``unit``, default 0.01 weight per spike, so that all six learned numbers are
    of order one for an optimiser; the properties ``a``, ``b``, ``g``, ``k`` and
    :meth:`coefficients` give them in weight units) and ``log_tau_pre``, ``log_tau_post``
    (``τ = exp(log τ)`` in seconds: the time constants stay positive whatever an optimiser
    does to them).

    Called on *rates* like every rule (``x`` = presynaptic rates ``ν_pre``, ``y`` =
    postsynaptic rate ``ν_post``, in Hz), it returns the mean drift for independent
    Poisson trains (Eq. 15):

    .. math::
        \langle dw/dt \rangle = α ν_{pre} + β ν_{post} + (γ τ_{pre} + κ τ_{post})\, ν_{pre} ν_{post}.
    """

    alpha: Array
    beta: Array
    gamma: Array
    kappa: Array
    log_tau_pre: Array
    log_tau_post: Array
    unit: float = eqx.field(static=True, default=0.01)

    @classmethod
    def create(cls, alpha: float = 0.0, beta: float = 0.0, gamma: float = 0.0, kappa: float = 0.0,
               tau_pre: float = 0.02, tau_post: float = 0.02, unit: float = 0.01) -> "SpikeTraceRule":
        """Build a rule from its six parameters in weight units per spike (time constants in
        seconds, > 0)."""
        if tau_pre <= 0 or tau_post <= 0:
            raise ConfigError(f"trace time constants must be positive, got τ_pre={tau_pre}, τ_post={tau_post}")
        if unit <= 0:
            raise ConfigError(f"unit must be positive, got {unit}")
        f = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
        return cls(f(alpha / unit), f(beta / unit), f(gamma / unit), f(kappa / unit), f(jnp.log(tau_pre)),
                   f(jnp.log(tau_post)), unit)

    @classmethod
    def random(cls, key: Array, scale: float = 0.5, tau: float = 0.02, log_tau_std: float = 0.3) -> "SpikeTraceRule":
        """A random starting rule: α, β, γ, κ ~ N(0, scale²) in units of 0.01 weight per spike,
        τ_pre, τ_post log-normal around ``tau`` (σ of log τ = ``log_tau_std``) — the starts of
        the Confavreux et al. Fig. 3 search. ``jax.vmap`` over keys gives a population."""
        k1, k2 = jax.random.split(key)
        c = scale * jax.random.normal(k1, (4,))
        lt = jnp.log(tau) + log_tau_std * jax.random.normal(k2, (2,))
        return cls(c[0], c[1], c[2], c[3], lt[0], lt[1])

    @property
    def a(self) -> Array:
        """α in weight units per spike."""
        return self.unit * self.alpha

    @property
    def b(self) -> Array:
        return self.unit * self.beta

    @property
    def g(self) -> Array:
        return self.unit * self.gamma

    @property
    def k(self) -> Array:
        return self.unit * self.kappa

    @property
    def tau_pre(self) -> Array:
        return jnp.exp(self.log_tau_pre)

    @property
    def tau_post(self) -> Array:
        return jnp.exp(self.log_tau_post)

    def on_spikes(self, s_pre: Array, s_post: Array, x_pre: Array, x_post: Array) -> Array:
        """Weight change in one time step: ``s_pre (pre,)`` and ``s_post ()`` are 0/1 spike
        indicators, ``x_pre (pre,)`` and ``x_post ()`` the traces *before* this step's spikes
        are added (so a spike does not pair with itself)."""
        return (self.a + self.k * x_post) * s_pre + (self.b + self.g * x_pre) * s_post

    def delta(self, x, y, w, r):
        # rates: x (K, pre) = ν_pre, y (K, post) = ν_post → (post, pre), averaged over K
        drift = self.a * x[:, None, :] + self.b * y[:, :, None] + self.hebbian * y[:, :, None] * x[:, None, :]
        return jnp.mean(drift, axis=0)

    def steady_state_rate(self, nu_pre: Array | float) -> Array:
        r"""Postsynaptic rate at which the mean drift vanishes (Eq. 17):
        ``ν_post = −α ν_pre / (β + (γ τ_pre + κ τ_post) ν_pre)``."""
        return -self.a * nu_pre / (self.b + self.hebbian * nu_pre)

    @property
    def hebbian(self) -> Array:
        """``γ τ_pre + κ τ_post``: the Hebbian coefficient of the mean drift (Eq. 15)."""
        return self.g * self.tau_pre + self.k * self.tau_post

    names: tuple[str, ...] = eqx.field(static=True, default=("alpha", "beta", "gamma", "kappa", "tau_pre", "tau_post"))

    has_coefficients = True

    def effective_theta(self) -> Array:
        """``(6,)`` the interpretable parameters ``[α, β, γ, κ, τ_pre, τ_post]`` (weight units per
        spike; seconds), the order of ``names``."""
        return jnp.stack([self.a, self.b, self.g, self.k, self.tau_pre, self.tau_post])

    def coefficients(self) -> dict[str, float]:
        return {"alpha": float(self.a), "beta": float(self.b), "gamma": float(self.g), "kappa": float(self.k), "tau_pre_ms": float(self.tau_pre) * 1e3,
                "tau_post_ms": float(self.tau_post) * 1e3}

    def equation(self, precision: int = 3, threshold: float | None = None) -> str:
        c = self.coefficients()
        return (f"dw/dt = {_fmt(c['alpha'], precision)}·S_pre + {_fmt(c['beta'], precision)}·S_post"
                f" + {_fmt(c['gamma'], precision)}·x_pre·S_post + {_fmt(c['kappa'], precision)}·x_post·S_pre"
                f"  (τ_pre {c['tau_pre_ms']:.1f} ms, τ_post {c['tau_post_ms']:.1f} ms)").replace("+ -", "− ")


def vogels_istdp(eta: float = 1e-2, target_hz: float = 5.0, tau: float = 0.02) -> SpikeTraceRule:
    r"""Vogels et al. (2011) inhibitory STDP as a member of :class:`SpikeTraceRule`:
    ``Δw = η (x_post − α_V)`` at each presynaptic spike and ``Δw = η x_pre`` at each
    postsynaptic spike, ``α_V = 2 ρ₀ τ``, both traces with ``τ = 20 ms``. In Eq. 14 terms:
    ``α = −η α_V``, ``β = 0``, ``γ = κ = η``; its steady state (Eq. 17) is ``ν_post = ρ₀``
    for every presynaptic rate. ``eta`` is in weight units per spike (the weights multiply
    ``ḡ_I``); Vogels et al. give ``ρ₀ = 5 Hz`` and ``τ = 20 ms``.
    """
    return SpikeTraceRule.create(alpha=-eta * 2 * target_hz * tau, beta=0.0, gamma=eta, kappa=eta,
                                 tau_pre=tau, tau_post=tau)
