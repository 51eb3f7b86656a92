r"""The posterior every uncertainty method works on: a flat coefficient vector, a prior, and a
Problem's per-observation log-likelihood.

For a problem with per-observation log-likelihood :math:`\ell_i(θ)` and a prior
:math:`p(θ)`, the target is the unnormalised log posterior

.. math:: \log p(θ \mid D) = \sum_i \ell_i(θ) + \log p(θ) + \text{const},

over the *free* coefficients :math:`θ ∈ \mathbb{R}^k`: the rule's parameters (``over="rule"``:
every other parameter — latent initial weights — held at the fit) or all parameters
(``over="all"``). Terms a rule switches off (a Taylor rule's ``active`` list) are not free.
Priors, per coefficient: ``"gaussian"`` :math:`N(0, s^2)`, ``"laplace"``
:math:`\tfrac{1}{2s}e^{-|θ|/s}` (the Bayesian counterpart of the L1 penalty), or ``"flat"``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from ..errors import ConfigError
from ..infer import LBFGS, AbstractProblem, coefficient_names
from ..infer import fit as engine_fit

PRIORS = ("gaussian", "laplace", "flat")
OVER = ("rule", "all")


def check_prior(prior: str, scale: float | None) -> None:
    if prior not in PRIORS:
        raise ConfigError(f"prior must be one of {list(PRIORS)}, got {prior!r}")
    if prior != "flat" and (scale is None or not math.isfinite(scale) or scale <= 0):
        raise ConfigError(f"a {prior} prior needs a finite prior scale > 0, got {scale!r}")


def _rules(rule: Any) -> tuple:
    if isinstance(rule, (tuple, list)):
        return tuple(rule)
    return tuple(rule.rules) if hasattr(rule, "rules") and isinstance(rule.rules, tuple) else (rule,)


def _rule_names(problem, params, size: int) -> tuple[list[str], np.ndarray]:
    """Names of the rule's flattened parameters and which of them are free (active)."""
    rule = problem.rule(params) if hasattr(problem, "rule") else None
    names = coefficient_names(rule) if rule is not None else None
    if names is None or len(names) != size:
        return [f"θ{i}" for i in range(size)], np.ones(size, bool)
    masks = [np.ravel(r.mask()) if hasattr(r, "mask") else np.ones(len(r.names), bool) for r in _rules(rule)]
    mask = np.concatenate(masks) if masks else np.ones(size, bool)
    return names, mask if mask.size == size else np.ones(size, bool)


def _flatten(tree: PyTree) -> tuple[Array, tuple]:
    """``(flat vector, spec)``: like ``ravel_pytree``, but the spec (tree structure, shapes,
    dtypes) is a hashable value, not a new closure — so targets of equally shaped problems
    (one per subject) share one compiled program."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    shapes = tuple(tuple(int(d) for d in np.shape(leaf)) for leaf in leaves)
    dtypes = tuple(str(jnp.asarray(leaf).dtype) for leaf in leaves)
    flat = jnp.concatenate([jnp.ravel(jnp.asarray(leaf, jnp.float32)) for leaf in leaves]) if leaves else jnp.zeros((0,))
    return flat, (treedef, shapes, dtypes)


def _unflatten(spec: tuple, flat: Array) -> PyTree:
    treedef, shapes, dtypes = spec
    out, i = [], 0
    for shape, dtype in zip(shapes, dtypes):
        n = int(np.prod(shape, dtype=np.int64))
        out.append(flat[i:i + n].reshape(shape).astype(dtype))
        i += n
    return jax.tree_util.tree_unflatten(treedef, out)


def _leaf_names(tree: PyTree) -> list[str]:
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        label = jax.tree_util.keystr(path).replace("['", "").replace("']", "")
        out += [f"{label}[{i}]" for i in range(int(np.size(leaf)))]
    return out


class PosteriorTarget(AbstractProblem):
    """A Problem over the flat vector of free coefficients ``x (k,)`` whose loss is the negative
    log posterior per observation — what modes are found on (by the engine, with L-BFGS),
    curvature is taken of, and samplers run on. :meth:`embed` maps ``x`` back to the wrapped
    problem's parameters; :attr:`names` label ``x``; :attr:`x0` is the fit's value."""

    problem: AbstractProblem
    rule_flat: Array
    free: Array
    fixed: Any
    x0: Array
    rule_spec: tuple = eqx.field(static=True)
    other_spec: tuple | None = eqx.field(static=True)
    layout: str = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)
    prior: str = eqx.field(static=True, default="flat")
    prior_scale: float | None = eqx.field(static=True, default=None)
    n_obs: int = eqx.field(static=True, default=1)

    @property
    def deterministic(self) -> bool:
        return True

    @property
    def k(self) -> int:
        return len(self.names)

    @property
    def n_rule(self) -> int:
        return int(self.free.shape[0])

    def embed(self, x: Array) -> PyTree:
        """The wrapped problem's parameters with the free coefficients set to ``x``."""
        rule = _unflatten(self.rule_spec, self.rule_flat.at[self.free].set(x[: self.n_rule]))
        if self.layout == "plain":
            return rule
        other = _unflatten(self.other_spec, x[self.n_rule:]) if self.other_spec is not None else self.fixed
        return {**other, "rule": rule}

    def log_prior(self, x: Array) -> Array:
        if self.prior == "gaussian":
            s = self.prior_scale
            return -0.5 * jnp.sum((x / s) ** 2) - x.shape[0] * math.log(s * math.sqrt(2 * math.pi))
        if self.prior == "laplace":
            s = self.prior_scale
            return -jnp.sum(jnp.abs(x)) / s - x.shape[0] * math.log(2 * s)
        return jnp.zeros(())

    def log_likelihood(self, x: Array) -> Array:
        return self.problem.log_likelihood(self.embed(x))

    def log_density(self, x: Array) -> Array:
        """The unnormalised log posterior :math:`\\sum_i \\ell_i + \\log p`."""
        return jnp.sum(self.log_likelihood(x)) + self.log_prior(x)

    def loss(self, params, batch, key):
        return -self.log_density(params) / self.n_obs, {}

    def prior_precision(self) -> np.ndarray:
        """Curvature the prior adds (``(k,)``; the Laplace prior's is 0 away from 0)."""
        return np.full(self.k, 1.0 / self.prior_scale**2 if self.prior == "gaussian" else 0.0)


def make_target(problem: AbstractProblem, params: PyTree, *, over: str = "rule", prior: str = "flat",
                prior_scale: float | None = None) -> PosteriorTarget:
    """The :class:`PosteriorTarget` of ``problem`` at ``params`` (a fit's parameters)."""
    if over not in OVER:
        raise ConfigError(f"over must be one of {list(OVER)}, got {over!r}")
    check_prior(prior, prior_scale)
    if getattr(problem, "n_groups", 0):
        raise ConfigError("posteriors of a grouped (per-subject) problem are taken one subject at a time "
                          "(problem.subject(i)) or with the hierarchical model")
    try:
        ll = problem.log_likelihood(params)
    except NotImplementedError as e:
        raise ConfigError(f"{type(problem).__name__} has no likelihood to take a posterior of: {e}") from None
    if not bool(jnp.all(jnp.isfinite(ll))):
        raise FloatingPointError("the log-likelihood is not finite at the fitted parameters")
    if getattr(problem, "init_weights", None) == "resample":
        warnings.warn("this likelihood conditions on one fixed draw of initial weights (init_weights='resample'); "
                      "fit with init_weights='latent' or 'true' for a posterior of the model you mean", stacklevel=3)
    dict_layout = isinstance(params, dict) and "rule" in params
    rule_part = params["rule"] if dict_layout else params
    rule_flat, rule_spec = _flatten(rule_part)
    rnames, mask = _rule_names(problem, params, int(rule_flat.size))
    free = np.flatnonzero(mask)
    names = [rnames[i] for i in free]
    other_spec, fixed, x_other = None, None, jnp.zeros((0,), rule_flat.dtype)
    if dict_layout:
        others = {k: v for k, v in params.items() if k != "rule"}
        if over == "all" and others:
            x_other, other_spec = _flatten(others)
            names += _leaf_names(others)
        else:
            fixed = others
    x0 = jnp.concatenate([rule_flat[free], x_other]).astype(jnp.float32)
    return PosteriorTarget(problem, rule_flat, jnp.asarray(free, jnp.int32), fixed, x0, rule_spec,
                           other_spec, "dict" if dict_layout else "plain", tuple(names), prior, prior_scale,
                           max(int(np.size(ll)), 1))


def find_mode(target: PosteriorTarget, steps: int = 100, key: Array | None = None) -> Array:
    """The posterior mode near ``target.x0``: ``steps`` L-BFGS iterations by the engine (which
    never returns a point worse than the start). Returns ``x (k,)``."""
    if steps <= 0:
        return target.x0
    key = jax.random.PRNGKey(0) if key is None else key
    res = engine_fit(target, LBFGS(), target.x0, steps=steps, key=key, chunk=min(10, steps), select="train",
                     progress=False, patience=2)
    return jnp.asarray(res.params)


@eqx.filter_jit
def _neg_ll_hessian(target: PosteriorTarget, x: Array) -> Array:
    return jax.hessian(lambda v: -jnp.sum(target.log_likelihood(v)))(x)


@eqx.filter_jit
def pointwise_log_likelihood(target: PosteriorTarget, x: Array) -> Array:
    """``target.log_likelihood(x)``, compiled once per problem shape."""
    return target.log_likelihood(x)


def hessian(target: PosteriorTarget, x: Array, *, prior: bool = True) -> np.ndarray:
    """``∇²(−log p(θ|D))`` at ``x`` (``prior=False``: of the negative log-likelihood only), ``(k, k)``
    in float64, symmetrised."""
    h = np.asarray(_neg_ll_hessian(target, jnp.asarray(x, jnp.float32)), np.float64)
    if not np.all(np.isfinite(h)):
        raise FloatingPointError("the curvature is not finite at these parameters")
    h = 0.5 * (h + h.T)
    return h + np.diag(target.prior_precision()) if prior else h
