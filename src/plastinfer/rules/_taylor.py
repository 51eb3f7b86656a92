"""Truncated Taylor (Volterra) polynomial rules."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._checks import as_float, as_int
from ..errors import ConfigError
from ._base import VARIABLES, AbstractRule

MAX_ORDER = 10  # highest power of a Taylor rule
MAX_TERMS = 100_000  # coefficients of a Taylor rule

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_NAME_RE = re.compile(r"([xywr])(\d+)")


def _check_variables(variables: Iterable[str]) -> tuple[str, ...]:
    if isinstance(variables, str) or not isinstance(variables, Iterable):
        raise ConfigError(f"variables must be a list of names such as ['x', 'y', 'w'], got {variables!r}")
    variables = tuple(variables)
    unknown = [v for v in variables if v not in VARIABLES]
    if unknown:
        raise ConfigError(f"unknown rule variable(s) {unknown}; choose from {list(VARIABLES)}")
    if len(set(variables)) != len(variables):
        raise ConfigError(f"repeated rule variable in {list(variables)}")
    if not variables:
        raise ConfigError("a Taylor rule needs at least one variable")
    return tuple(v for v in VARIABLES if v in variables)  # canonical order


def term_names(variables: Sequence[str] = ("x", "y", "w"), order: int = 2) -> list[str]:
    """Names of all terms, in the (row-major) order of the coefficient array.

    ``term_names(("x", "y", "w"), 2)`` → ``["x0y0w0", "x0y0w1", …, "x2y2w2"]`` (27 names).
    """
    variables = _check_variables(variables)
    return [
        "".join(f"{v}{p}" for v, p in zip(variables, powers))
        for powers in itertools.product(range(order + 1), repeat=len(variables))
    ]


def _parse_name(name: str, variables: tuple[str, ...], order: int) -> tuple[int, ...]:
    """``"x1y1w0"`` → ``(1, 1, 0)``; variables left out of ``name`` have power 0."""
    found = dict((v, int(p)) for v, p in _NAME_RE.findall(name))
    if "".join(f"{v}{p}" for v, p in _NAME_RE.findall(name)) != name or not found:
        raise ConfigError(f"malformed term name {name!r}: expected e.g. 'x1y1w0'")
    extra = set(found) - set(variables)
    if extra and any(found[v] for v in extra):
        raise ConfigError(f"term {name!r} uses variable(s) {sorted(extra)} the rule does not have ({list(variables)})")
    powers = tuple(found.get(v, 0) for v in variables)
    if max(powers) > order:
        raise ConfigError(f"term {name!r} has a power above the rule's order {order}")
    return powers


def _powers(v: Array, n: int) -> Array:
    """``v⁰, v¹, …, vⁿ⁻¹`` stacked on a new leading axis."""
    return jnp.stack([v**i for i in range(n)])


def _horner(terms: list, w: Array) -> Array:
    """``T_0 + w ⊙ (T_1 + w ⊙ (T_2 + …))`` for the per-power terms ``T_γ`` of a Taylor rule."""
    dw = terms[-1]
    for term in reversed(terms[:-1]):
        dw = term + w * dw
    return dw


def _monomial(variables: tuple[str, ...], powers: tuple[int, ...]) -> str:
    parts = [v if p == 1 else f"{v}{str(p).translate(_SUPERSCRIPT)}" for v, p in zip(variables, powers) if p]
    return "·".join(parts) if parts else "1"


class Taylor(AbstractRule):
    r"""Truncated Taylor series rule (Mehta et al. 2024, Eq. 6; Confavreux et al. 2020).

    .. math::
        g_θ(x_j, y_i, w_{ij}, r) = \sum_{α,β,γ,δ=0}^{n} θ_{αβγδ}\, x_j^α y_i^β w_{ij}^γ r^δ

    over any subset of the variables ``(x, y, w, r)`` (variables left out have power 0)
    up to power ``n = order`` in each: 27 terms for ``(x, y, w)`` and order 2, 81 with
    ``r``. Oja's rule is ``θ_110 = 1, θ_021 = -1``.

    Coefficients are addressed by name (``rule["x1y1w0"]``); ``theta`` has shape
    ``(order + 1,) * len(variables)`` in the canonical variable order ``x, y, w, r``.
    ``active`` (optional, static) restricts the rule to a subset of terms: the others are
    held at zero whatever ``theta`` holds, and get zero gradient.

    Applying the rule never builds a ``(terms × post × pre)`` tensor. It first forms the
    post-side factors ``z_{αγ}(i) = Σ_{β,δ} θ_{αβγδ} y_i^β r^δ`` (shape ``(A, C, K, post)``),
    then for each power γ of ``w`` the ``(post, pre)`` term ``T_γ = Σ_α z_{αγ} ⊗ x^α``
    (a fused sum of rank-one broadcasts for one sample; one ``(post × A·K) @ (A·K × pre)``
    product for ``K`` samples), and combines them by Horner's scheme in ``w``:
    ``Δw = T_0 + w ⊙ (T_1 + w ⊙ T_2)``.
    """

    theta: Array
    variables: tuple[str, ...] = eqx.field(static=True)
    order: int = eqx.field(static=True)
    active: tuple[str, ...] | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        expected = (self.order + 1,) * len(self.variables)
        if tuple(self.theta.shape) != expected:
            raise ConfigError(f"theta has shape {tuple(self.theta.shape)}, expected {expected}")

    # ---------------------------------------------------------------- constructors
    @classmethod
    def zeros(cls, variables: Sequence[str] = ("x", "y", "w"), order: int = 2, active=None) -> "Taylor":
        variables = _check_variables(variables)
        order = as_int(order, "order", "rule", minimum=0)
        if order > MAX_ORDER or (order + 1) ** len(variables) > MAX_TERMS:
            raise ConfigError(f"rule: a Taylor rule of order {order} in {len(variables)} variables has "
                              f"{(order + 1) ** len(variables):,} terms; order ≤ {MAX_ORDER} and ≤ {MAX_TERMS:,} "
                              "terms are supported")
        theta = jnp.zeros((order + 1,) * len(variables), jnp.float32)
        return cls(theta, variables, int(order), cls._canonical_active(active, variables, order))

    @classmethod
    def init(
        cls, key: Array, variables: Sequence[str] = ("x", "y", "w"), order: int = 2, scale: float = 1e-2, active=None
    ) -> "Taylor":
        """Coefficients i.i.d. ``N(0, scale²)`` (the paper: variance 1e-4, i.e. ``scale=1e-2``)."""
        rule = cls.zeros(variables, order, active)
        scale = as_float(scale, "init_scale", "rule", minimum=0.0)
        theta = scale * jax.random.normal(key, rule.theta.shape, jnp.float32)
        return eqx.tree_at(lambda t: t.theta, rule, theta)

    @classmethod
    def from_terms(
        cls, terms: Mapping[str, float], variables: Sequence[str] = ("x", "y", "w"), order: int = 2, active=None
    ) -> "Taylor":
        """A rule with the named coefficients set and every other one zero."""
        rule = cls.zeros(variables, order, active)
        theta = np.zeros(rule.theta.shape, np.float32)
        if not isinstance(terms, Mapping):
            raise ConfigError(f"rule: terms must be a table of coefficients, got {type(terms).__name__}")
        for name, value in terms.items():
            theta[_parse_name(str(name), rule.variables, rule.order)] = as_float(value, f"terms.{name}", "rule")
        return eqx.tree_at(lambda t: t.theta, rule, jnp.asarray(theta))

    @staticmethod
    def _canonical_active(active, variables, order):
        if active is None:
            return None
        names = term_names(variables, order)
        canon = []
        for name in active:
            powers = _parse_name(name, variables, order)
            canon.append("".join(f"{v}{p}" for v, p in zip(variables, powers)))
        return tuple(n for n in names if n in set(canon))

    # ---------------------------------------------------------------- access
    @property
    def names(self) -> list[str]:
        return term_names(self.variables, self.order)

    def mask(self) -> np.ndarray:
        """Boolean array (shape of ``theta``): which terms may be nonzero."""
        if self.active is None:
            return np.ones(self.theta.shape, bool)
        allowed = set(self.active)
        return np.array([n in allowed for n in self.names]).reshape(self.theta.shape)

    has_coefficients = True

    def effective_theta(self) -> Array:
        return self.theta if self.active is None else self.theta * jnp.asarray(self.mask(), self.theta.dtype)

    def coefficients(self) -> dict[str, float]:
        """Every coefficient by name, as Python floats."""
        values = np.asarray(self.effective_theta()).ravel()
        return {n: float(v) for n, v in zip(self.names, values)}

    def __getitem__(self, name: str) -> Array:
        return self.effective_theta()[_parse_name(name, self.variables, self.order)]

    def with_terms(self, terms: Mapping[str, float]) -> "Taylor":
        theta = self.theta
        for name, value in terms.items():
            theta = theta.at[_parse_name(name, self.variables, self.order)].set(value)
        return eqx.tree_at(lambda t: t.theta, self, theta)

    # ---------------------------------------------------------------- math
    def _theta_full(self, dtype) -> Array:
        """θ reshaped to ``(A, B, C, D)``: one axis per variable ``x, y, w, r`` (size 1 if absent)."""
        n = self.order + 1
        full = tuple(n if v in self.variables else 1 for v in VARIABLES)
        return self.effective_theta().reshape(full).astype(dtype)

    def delta(self, x, y, w, r):
        theta = self._theta_full(w.dtype)  # (A, B, C, D)
        a, b, c, d = theta.shape
        k = x.shape[0]
        xp = _powers(x, a)  # (A, K, pre)
        yp = _powers(y, b)  # (B, K, post)
        rp = _powers(r, d)  # (D, K)
        if k == 1:
            # One sample: broadcast-multiply-reduce and rank-one broadcasts only, no dot
            # products. XLA on CPU fuses these (and their gradients) into a few loops: about
            # twice as fast per step inside a scan as the einsum form below
            # (benchmarks/behavior_fit.py). z[α, γ, i] = Σ_{β,δ} θ_{αβγδ} y_i^β r^δ: (A, C, post).
            z = jnp.sum(theta[..., None] * yp[None, :, None, None, 0] * rp[None, None, None, :, 0, None], axis=(1, 3))
            # T_γ = Σ_α z_αγ ⊗ x^α, one reduction
            return _horner([jnp.sum(z[:, g, :, None] * xp[:, 0, None, :], axis=0) for g in range(c)], w)
        # post-side factors z[α, γ, k, i] = Σ_{β,δ} θ_{αβγδ} y_ki^β r_k^δ
        z = jnp.einsum("abcd,bkp,dk->ackp", theta, yp, rp)  # (A, C, K, post)
        # T_γ: one (post × A·K) @ (A·K × pre) product each
        return _horner([jnp.einsum("akp,akq->pq", z[:, g], xp) / k for g in range(c)], w)

    def delta_many(self, x, y, w, r):
        # The same algebra with the circuit axis N written into the contractions. ``vmap``
        # of :meth:`delta` gives the same numbers, but its batched products are laid out
        # badly for XLA on CPU: on the demo (24 trajectories × 50 steps, 20 × 10 layer) the
        # explicit form makes the forward pass about 3× and the gradient 2× faster
        # (benchmarks/uncertainty.py).
        theta = self._theta_full(w.dtype)  # (A, B, C, D)
        a, b, c, d = theta.shape
        k = x.shape[1]
        xp = _powers(x, a)  # (A, N, K, pre)
        yp = _powers(y, b)  # (B, N, K, post)
        if d == 1:
            z = jnp.einsum("abc,bnkp->acnkp", theta[..., 0], yp)  # (A, C, N, K, post)
        else:
            z = jnp.einsum("abcd,bnkp,dnk->acnkp", theta, yp, _powers(r, d))
        if k == 1:
            return _horner([jnp.einsum("anp,anq->npq", z[:, g, :, 0], xp[:, :, 0]) for g in range(c)], w)
        return _horner([jnp.einsum("ankp,ankq->npq", z[:, g], xp) / k for g in range(c)], w)

    def l1(self) -> Array:
        return jnp.sum(jnp.abs(self.effective_theta()))

    def equation(self, precision: int = 2, threshold: float | None = None) -> str:
        threshold = 0.5 * 10.0**-precision if threshold is None else threshold
        coefs = self.coefficients()
        terms = [(v, n) for n, v in coefs.items() if abs(v) >= threshold]
        terms.sort(key=lambda t: (-round(abs(t[0]), precision), sum(_parse_name(t[1], self.variables, self.order)), t[1]))
        if not terms:
            return "Δw = 0"
        out = []
        for i, (value, name) in enumerate(terms):
            powers = _parse_name(name, self.variables, self.order)
            mono = _monomial(self.variables, powers)
            mag = f"{abs(value):.{precision}f}"
            body = mag if mono == "1" else f"{mag}·{mono}"
            sign = ("−" if value < 0 else "") if i == 0 else (" − " if value < 0 else " + ")
            out.append(sign + body)
        return "Δw = " + "".join(out)

    def n_terms(self) -> int:
        return int(math.prod(self.theta.shape))
