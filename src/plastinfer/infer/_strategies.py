r"""How a Problem is fitted: gradient, quasi-Newton, evolution and adversarial strategies.

A strategy is a frozen (hashable) description; the engine passes it to ``jit`` as static
configuration, so fits with equal settings and shapes share one compilation. Each
provides ``init(problem, params, key) -> state`` and a pure
``step(problem, params, state, key) -> (params, state, info)`` with ``info`` a dict of
scalars (``loss``, ``rejected`` and diagnostics) that the engine logs per step.

The divergence policy is the same everywhere: a loss that is non-finite or at least
:data:`DIVERGED`, or an update that would put a non-finite number into the parameters or
the optimizer state, is *rejected* — parameters and state stay as they were — and counted
in ``info["rejected"]``; an evolution strategy scores such a candidate ``DIVERGED``.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from ..errors import ConfigError
from ._problem import DIVERGED, AbstractProblem


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(tree) if eqx.is_inexact_array(a)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _group_finite(tree, n: int) -> jax.Array:
    """``(n,)``: whether every inexact leaf is finite along each leading-axis slice."""
    out = jnp.ones((n,), bool)
    for a in jax.tree_util.tree_leaves(tree):
        if eqx.is_inexact_array(a) and a.ndim >= 1 and a.shape[0] == n:
            out &= jnp.all(jnp.isfinite(a.reshape(n, -1)), axis=1)
    return out


def _where(ok, new, old):
    """``new`` where ``ok`` (scalar, or ``(G,)`` over the leading axis) else ``old``."""
    ok = jnp.asarray(ok)

    def pick(a, b):
        if not eqx.is_array(a):
            return a
        if ok.ndim == 0 or a.ndim == 0 or a.shape[0] != ok.shape[0]:
            return jnp.where(jnp.all(ok), a, b)
        return jnp.where(ok.reshape(ok.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree_util.tree_map(pick, new, old)


def _ok(loss) -> jax.Array:
    return jnp.isfinite(loss) & (loss < DIVERGED)


def _vmapped(opt: optax.GradientTransformation) -> optax.GradientTransformation:
    """``opt`` applied independently to every slice along the leading (group) axis."""

    def init(params):
        return jax.vmap(opt.init)(params)

    def update(updates, state, params=None):
        return jax.vmap(opt.update)(updates, state, params)

    return optax.GradientTransformation(init, update)


def lazy_rows(opt: optax.GradientTransformation) -> optax.GradientTransformation:
    """``opt`` applied row by row (leading axis), leaving rows whose gradient is exactly zero
    — items outside the current mini-batch, e.g. other trajectories' latent initial
    weights — and their optimizer state untouched (a *lazy* optimizer for per-item
    parameters)."""
    inner = _vmapped(opt)

    def init(params):
        return inner.init(params)

    def update(updates, state, params=None):
        new_updates, new_state = inner.update(updates, state, params)
        leaves = [a for a in jax.tree_util.tree_leaves(updates) if eqx.is_array(a)]
        touched = jnp.any(jnp.concatenate([(a != 0).reshape(a.shape[0], -1) for a in leaves], axis=1), axis=1)
        zeros = jax.tree_util.tree_map(lambda a: jnp.zeros_like(a) if eqx.is_array(a) else a, new_updates)
        return _where(touched, new_updates, zeros), _where(touched, new_state, state)

    return optax.GradientTransformation(init, update)


def make_optimizer(name: str | optax.GradientTransformation, learning_rate: float,
                   clip: float | None = None) -> optax.GradientTransformation:
    """``clip_by_global_norm(clip) → optax.<name>(learning_rate)`` (or a given transformation)."""
    if isinstance(name, optax.GradientTransformation):
        base = name
    else:
        if not isinstance(name, str) or name.startswith("_"):
            raise ConfigError(f"fit: optimizer must be an optax optimizer's name (e.g. 'adam'), got {name!r}")
        try:
            base = getattr(optax, name)(learning_rate)
        except Exception as err:  # noqa: BLE001 — any failure means: not an optimizer's name
            raise ConfigError(f"fit: optimizer {name!r} is not an optax optimizer ({type(err).__name__})") from None
        if not isinstance(base, optax.GradientTransformation):
            raise ConfigError(f"fit: optimizer {name!r} is not an optax optimizer (optax.{name} does not build one)")
    return optax.chain(optax.clip_by_global_norm(clip), base) if clip else base


class AbstractStrategy(abc.ABC):
    """How parameters move. See the module docstring for the contract."""

    @abc.abstractmethod
    def init(self, problem: AbstractProblem, params, key: jax.Array):
        ...

    @abc.abstractmethod
    def step(self, problem: AbstractProblem, params, state, key: jax.Array):
        ...

    def candidate(self, params, state):
        """The parameters the engine scores and keeps as "best so far" after a step: the
        iterate itself, unless the strategy keeps a better estimate in its state (e.g.
        :class:`Adversarial`'s average of the generator's iterates)."""
        return params


# ----------------------------------------------------------------------------- gradient
@dataclasses.dataclass(frozen=True)
class Gradient(AbstractStrategy):
    r"""First-order updates with any optax transformation.

    ``optimizer``: an optax optimizer's name (built as ``optax.<name>(learning_rate)``,
    after ``clip_by_global_norm(clip)``) or a ready :class:`optax.GradientTransformation`
    (``learning_rate`` and ``clip`` then unused; a name keeps the strategy hashable by value,
    so fits with equal settings share one compilation). ``item_params``: entries of a dict of
    parameters that hold one row per item (e.g. latent initial weights per trajectory); they
    get their own lazy Adam (``item_learning_rate``, see :func:`lazy_rows`) beside the
    optimizer, without clipping. With ``batch_size`` and a batched problem
    one step is one *epoch*: the items in a fresh random order, one update per
    mini-batch of ``batch_size`` (a ``lax.scan``); otherwise one full-batch update. For a
    grouped problem the optimizer runs independently per group (clipping per group too).
    """

    optimizer: Any = "adam"
    learning_rate: float = 1e-3
    clip: float | None = None
    batch_size: int | None = None
    item_params: tuple[str, ...] = ()
    item_learning_rate: float = 1e-2

    def __post_init__(self):
        if self.learning_rate <= 0 or (self.clip is not None and self.clip < 0):
            raise ConfigError("fit: learning_rate must be positive and clip non-negative")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"fit: batch_size must be ≥ 1, got {self.batch_size}")
        make_optimizer(self.optimizer, self.learning_rate, self.clip)  # fail early on a bad name

    def transformation(self, problem: AbstractProblem) -> optax.GradientTransformation:
        opt = make_optimizer(self.optimizer, self.learning_rate, self.clip)
        if self.item_params:  # per-item parameters (a dict's entries): a lazy Adam of their own
            items = set(self.item_params)
            opt = optax.multi_transform(
                {"main": opt, "item": lazy_rows(optax.adam(self.item_learning_rate))},
                lambda params: {k: "item" if k in items else "main" for k in params})
        return _vmapped(opt) if problem.n_groups else opt

    def init(self, problem, params, key):
        return self.transformation(problem).init(params)

    def _update(self, problem, params, state, idx, key):
        opt = self.transformation(problem)

        def total(p):
            loss, aux = problem.loss(p, idx, key)
            return jnp.sum(jnp.where(jnp.isfinite(loss), loss, 0.0)), (loss, aux)

        (_, (loss, aux)), grad = jax.value_and_grad(total, has_aux=True)(params)
        updates, new_state = opt.update(grad, state, params)
        new_params = optax.apply_updates(params, updates)
        if problem.n_groups:
            g = problem.n_groups
            ok = _ok(loss) & _group_finite(new_params, g) & _group_finite(grad, g)
        else:
            ok = _ok(loss) & _all_finite(new_params) & _all_finite(updates)
        params = _where(ok, new_params, params)
        state = _where(ok, new_state, state)
        loss = jnp.where(_ok(loss), loss, DIVERGED)
        return params, state, loss, (~ok).astype(jnp.int32), aux

    def step(self, problem, params, state, key):
        n = problem.n_items
        if self.batch_size is None or n == 0:
            params, state, loss, bad, aux = self._update(problem, params, state, None, key)
            return params, state, {"loss": loss, "rejected": jnp.sum(bad), **aux}
        bs = min(self.batch_size, n)
        nb = n // bs
        k_perm, k_steps = jax.random.split(key)
        order = jax.random.permutation(k_perm, n)[: nb * bs].reshape(nb, bs)

        def body(carry, xs):
            p, s = carry
            idx, k = xs
            p, s, loss, bad, aux = self._update(problem, p, s, idx, k)
            return (p, s), (loss, bad, aux)

        (params, state), (loss, bad, aux) = jax.lax.scan(body, (params, state), (order, jax.random.split(k_steps, nb)))
        aux = jax.tree_util.tree_map(lambda a: jnp.mean(a, axis=0), aux)
        return params, state, {"loss": jnp.mean(loss, axis=0), "rejected": jnp.sum(bad), **aux}


# ----------------------------------------------------------------------------- quasi-Newton
@dataclasses.dataclass(frozen=True)
class LBFGS(AbstractStrategy):
    """Full-batch L-BFGS (:func:`optax.lbfgs`, zoom line search): one iteration per step, on
    the problem's loss over all items with a fixed key — the problem must be
    deterministic (e.g. known or latent initial weights, not resampled ones). A grouped
    problem that can score one group alone (``group_loss(params_g, g)``) gets one L-BFGS
    per group, ``vmap``-ed, each with its own line search."""

    memory_size: int = 10

    def _check(self, problem):
        if not problem.deterministic:
            raise ConfigError(f"fit: L-BFGS needs a deterministic loss; {type(problem).__name__} draws fresh "
                              "randomness at every step (e.g. resampled initial weights)")
        if problem.n_groups and not hasattr(problem, "group_loss"):
            raise ConfigError(f"fit: L-BFGS on a grouped (per-subject) problem needs {type(problem).__name__}."
                              "group_loss(params_g, g) (one group's loss alone); use Gradient")

    def _opt(self):
        return optax.lbfgs(memory_size=self.memory_size)

    def init(self, problem, params, key):
        self._check(problem)
        if problem.n_groups:
            return jax.vmap(self._opt().init)(params)
        return self._opt().init(params)

    def _one(self, value, params, state):
        v, grad = optax.value_and_grad_from_state(value)(params, state=state)
        updates, new_state = self._opt().update(grad, state, params, value=v, grad=grad, value_fn=value)
        new_params = optax.apply_updates(params, updates)
        no_nan = jnp.all(jnp.stack([~jnp.any(jnp.isnan(a)) for a in jax.tree_util.tree_leaves(new_state)
                                    if eqx.is_inexact_array(a)]))  # its initial value slot holds +inf
        ok = _ok(v) & _all_finite(new_params) & no_nan
        return (_where(ok, new_params, params), _where(ok, new_state, state), jnp.where(_ok(v), v, DIVERGED),
                (~ok).astype(jnp.int32))

    def step(self, problem, params, state, key):
        if problem.n_groups:
            # one L-BFGS per group, side by side: each group's line search sees its own loss only
            def one(p, s, g):
                return self._one(lambda q: problem.group_loss(q, g), p, s)

            params, state, loss, bad = jax.vmap(one)(params, state, jnp.arange(problem.n_groups))
            return params, state, {"loss": loss, "rejected": jnp.sum(bad)}
        fixed = jax.random.PRNGKey(0)
        params, state, loss, bad = self._one(lambda p: problem.loss(p, None, fixed)[0], params, state)
        return params, state, {"loss": loss, "rejected": bad}


# ----------------------------------------------------------------------------- second order
@dataclasses.dataclass(frozen=True)
class LevenbergMarquardt(AbstractStrategy):
    r"""Levenberg–Marquardt for least-squares problems: one damped Gauss–Newton iteration
    per step. The problem provides ``residuals(params, key) -> (m,)`` with its loss equal
    to :math:`\sum_i r_i^2`; with the Jacobian :math:`J = ∂r/∂θ` (forward mode, one column
    per parameter — meant for ≤ a few hundred parameters) the step solves

    .. math:: (J^\top J + λ D)\,δ = −J^\top r, \qquad D = \operatorname{diag}(J^\top J)

    (Marquardt's scaling, floored at ``1e-9 · max D``, so collinear monomials of very
    different sizes are damped alike) with :mod:`lineax` (Cholesky), and accepts
    :math:`θ + δ` when the sum of squares falls. λ follows Nielsen's rule: after an
    accepted step with gain ratio ρ (actual / predicted decrease) λ ← λ·max(⅓, 1 − (2ρ − 1)³);
    after a refused one λ ← λν, ν ← 2ν. The key is fixed (``PRNGKey(0)``): a problem that
    draws randomness (resampled initial weights) is fitted on that one draw — a sample
    average approximation. ``info``: ``loss`` (Σr² before the step), ``damping`` (λ),
    ``accepted``, ``gain`` (ρ); ``rejected`` counts only non-finite trials.
    """

    damping: float = 1e-3
    max_params: int = 2000

    def __post_init__(self):
        if not self.damping > 0 or self.max_params < 1:
            raise ConfigError("fit: Levenberg–Marquardt needs damping > 0 and max_params ≥ 1")

    def init(self, problem, params, key):
        if not hasattr(problem, "residuals"):
            raise ConfigError(f"fit: Levenberg–Marquardt needs a least-squares problem; {type(problem).__name__} "
                              "has no residuals(params, key)")
        if problem.n_groups:
            raise ConfigError("fit: Levenberg–Marquardt runs one fit; grouped (per-subject) problems need LBFGS "
                              "or Gradient")
        n = ravel_pytree(params)[0].size
        if n > self.max_params:
            raise ConfigError(f"fit: Levenberg–Marquardt forms a {n}-column Jacobian (> max_params = "
                              f"{self.max_params}); use LBFGS or Gradient for this many parameters")
        return {"damping": jnp.asarray(self.damping, jnp.float32), "nu": jnp.asarray(2.0, jnp.float32)}

    def step(self, problem, params, state, key):
        import lineax as lx

        flat, unravel = ravel_pytree(params)
        fixed = jax.random.PRNGKey(0)
        res = lambda f: problem.residuals(unravel(f), fixed)  # noqa: E731
        r = res(flat)
        jac = jax.jacfwd(res)(flat)  # (m, n)
        loss = jnp.sum(r**2)
        g = jac.T @ r
        h = jac.T @ jac
        d = jnp.diag(h)
        d = jnp.maximum(d, 1e-9 * jnp.max(d) + 1e-30)
        lam, nu = state["damping"], state["nu"]
        op = lx.MatrixLinearOperator(h + lam * jnp.diag(d), lx.positive_semidefinite_tag)
        delta = lx.linear_solve(op, -g, solver=lx.Cholesky(), throw=False).value
        trial = flat + delta
        new_loss = jnp.sum(res(trial) ** 2)
        predicted = -(2.0 * g @ delta + delta @ h @ delta)
        gain = (loss - new_loss) / jnp.maximum(predicted, 1e-30)
        finite = jnp.isfinite(new_loss) & jnp.all(jnp.isfinite(trial))
        accept = finite & _ok(loss) & (new_loss < loss)
        lam_new = jnp.where(accept, lam * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3), lam * nu)
        nu_new = jnp.where(accept, 2.0, 2.0 * nu)
        lam_new = jnp.clip(lam_new, 1e-12, 1e12)
        params = unravel(jnp.where(accept, trial, flat))
        return params, {"damping": lam_new, "nu": jnp.minimum(nu_new, 1e6)}, {
            "loss": jnp.where(_ok(loss), loss, DIVERGED), "rejected": (~finite).astype(jnp.int32),
            "damping": lam, "accepted": accept.astype(jnp.int32), "gain": jnp.where(accept, gain, 0.0)}


# ----------------------------------------------------------------------------- evolution
def evosax_algorithms() -> dict[str, Any]:
    from evosax.algorithms import algorithms

    return algorithms


#: evosax strategies that estimate a gradient by smoothed finite differences and step along it:
#: they get the strategy's optax ``optimizer`` / ``learning_rate`` and σ = ``sigma_init``. The
#: others (CMA-ES, SNES, xNES, …) keep evosax's own step-size and learning-rate defaults.
GRADIENT_ESTIMATORS = frozenset({"Open_ES", "PGPE"})


@dataclasses.dataclass(frozen=True)
class Evolution(AbstractStrategy):
    """Any evosax strategy by name (``"CMA_ES"``, ``"Open_ES"``, ``"SNES"``, …), its whole
    population scored in one ``vmap`` on a common key (the same data sets and initial
    weights for every candidate). One step is one generation; the parameters are the
    search distribution's mean; ``info``: ``loss`` (best candidate), ``population_mean``,
    ``rejected`` (diverged candidates, scored :data:`DIVERGED`).
    ``population_size`` defaults to CMA-ES's ``4 + ⌊3 ln n⌋``."""

    name: str = "CMA_ES"
    population_size: int | None = None
    sigma_init: float = 0.1
    optimizer: str = "adam"
    learning_rate: float = 1e-2

    def __post_init__(self):
        if self.name not in evosax_algorithms():
            raise ConfigError(f"fit: unknown evolution strategy {self.name!r} (evosax has "
                              f"{', '.join(sorted(evosax_algorithms()))})")
        if self.population_size is not None and self.population_size < 2:
            raise ConfigError("fit: population_size must be ≥ 2")
        if self.sigma_init <= 0 or self.learning_rate <= 0:
            raise ConfigError("fit: sigma_init and learning_rate must be positive")

    def size(self, n: int) -> int:
        return self.population_size or 4 + int(3 * math.log(max(n, 1)))

    def _es(self, flat):
        cls = evosax_algorithms()[self.name]
        accepts = inspect.signature(cls.__init__).parameters
        extra = {}
        if self.name in GRADIENT_ESTIMATORS:
            if "optimizer" in accepts:
                extra["optimizer"] = getattr(optax, self.optimizer)(self.learning_rate)
            if "std_schedule" in accepts:
                extra["std_schedule"] = optax.constant_schedule(self.sigma_init)
        es = cls(population_size=self.size(flat.size), solution=flat, **extra)
        es_params = es.default_params
        if hasattr(es_params, "std_init"):
            es_params = es_params.replace(std_init=self.sigma_init)
        return es, es_params

    def init(self, problem, params, key):
        if problem.n_groups:
            raise ConfigError("fit: evolution strategies run one fit; grouped (per-subject) problems need Gradient")
        flat, _ = ravel_pytree(params)
        es, es_params = self._es(flat)
        return es.init(key, flat, es_params)

    def step(self, problem, params, state, key):
        flat, unravel = ravel_pytree(params)
        es, es_params = self._es(flat)
        k_ask, k_eval, k_tell = jax.random.split(key, 3)
        pop, state = es.ask(k_ask, state, es_params)
        loss = jax.vmap(lambda f: problem.loss(unravel(f), None, k_eval)[0])(pop)
        ok = _ok(loss)
        fitness = jnp.where(ok, loss, DIVERGED)
        state, _ = es.tell(k_tell, pop, fitness, state, es_params)
        return unravel(state.mean), state, {"loss": jnp.min(fitness), "population_mean": jnp.mean(fitness),
                                            "rejected": jnp.sum(~ok).astype(jnp.int32)}


# ----------------------------------------------------------------------------- adversarial
class Discriminator(eqx.Module):
    """MLP on a trace ``(T,) → logit`` with spectrally normalised linear layers and
    leaky-ReLU activations. Stateful (the power-iteration vectors): build it with
    :func:`equinox.nn.make_with_state` and call ``d(trace, state) -> (logit, state)``."""

    layers: tuple

    def __init__(self, n_steps: int, key: jax.Array, hidden: tuple[int, ...] = (64, 64)):
        sizes = (n_steps,) + tuple(hidden) + (1,)
        keys = jax.random.split(key, 2 * (len(sizes) - 1))
        self.layers = tuple(
            eqx.nn.SpectralNorm(eqx.nn.Linear(a, b, key=keys[2 * i]), "weight", key=keys[2 * i + 1])
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))

    def __call__(self, x: jax.Array, state: eqx.nn.State) -> tuple[jax.Array, eqx.nn.State]:
        for i, layer in enumerate(self.layers):
            x, state = layer(x, state)
            if i < len(self.layers) - 1:
                x = jax.nn.leaky_relu(x, 0.2)
        return x[0], state


def _logits(d: Discriminator, state, traces):
    return jax.vmap(d, in_axes=(0, None), out_axes=(0, None), axis_name="batch")(traces, state)


def _bce(logits, label: float):
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


@dataclasses.dataclass(frozen=True)
class Adversarial(AbstractStrategy):
    r"""Alternating GAN updates (Ramesh et al. 2023, Eq. 7) for a problem that can draw
    recorded samples (``problem.real(key)``) and generate them (``problem.fake(params,
    key)``), both ``(n, T)``: per step ``d_steps`` Adam updates of a spectrally normalised
    MLP discriminator on the binary cross-entropy, then one Adam update of the generator
    on the non-saturating loss ``−log D(g_θ)``; global-norm clipping for both.
    ``info``: ``loss`` (generator), ``d_loss``, ``d_accuracy`` (0.5 = indistinguishable).

    ``average`` ∈ [0, 1): with ``β = average > 0`` the state also holds an exponential moving
    average of the generator's iterates, ``θ̄_t = β θ̄_{t−1} + (1 − β) θ_t`` (``θ̄_0 = θ_0``;
    a rejected step leaves it unchanged), and that average is what the engine scores and
    keeps (:meth:`candidate`) — GAN iterates cycle around an equilibrium that their average
    sits closer to (Yazıcı et al. 2019). Training itself continues from the iterates."""

    d_steps: int = 1
    lr_generator: float = 1e-3
    lr_discriminator: float = 1e-3
    clip: float = 1.0
    hidden: tuple[int, ...] = (64, 64)
    b1: float = 0.5
    seed: int = 0
    average: float = 0.0

    def __post_init__(self):
        if self.d_steps < 1 or self.lr_generator <= 0 or self.lr_discriminator <= 0 or self.clip <= 0:
            raise ConfigError("adversarial: d_steps ≥ 1 and positive learning rates and clip required")
        if not 0.0 <= self.average < 1.0:
            raise ConfigError(f"adversarial: average must be in [0, 1), not {self.average}")

    def candidate(self, params, state):
        return state[4] if self.average > 0 else params

    def _opts(self):
        mk = lambda lr: optax.chain(optax.clip_by_global_norm(self.clip), optax.adam(lr, b1=self.b1))  # noqa: E731
        return mk(self.lr_generator), mk(self.lr_discriminator)

    def discriminator(self, problem, key=None):
        key = jax.random.PRNGKey(self.seed) if key is None else key
        return eqx.nn.make_with_state(Discriminator)(problem.trace_length, key, self.hidden)

    def discriminator_static(self, problem):
        d, _ = eqx.filter_eval_shape(self.discriminator, problem)
        return eqx.partition(d, eqx.is_inexact_array)[1]

    def init(self, problem, params, key):
        disc, d_state = self.discriminator(problem, key)
        d_params = eqx.partition(disc, eqx.is_inexact_array)[0]
        opt_g, opt_d = self._opts()
        state = (opt_g.init(params), d_params, d_state, opt_d.init(d_params))
        return state + (params,) if self.average > 0 else state

    def step(self, problem, params, state, key):
        opt_g, opt_d = self._opts()
        g_state, d_params, d_state, dd_state = state[:4]
        d_static = self.discriminator_static(problem)
        k_d, k_g = jax.random.split(key)

        def d_update(carry, k):
            d_params, d_state, dd_state = carry
            k_real, k_fake = jax.random.split(k)
            real = problem.real(k_real)
            gen = jax.lax.stop_gradient(problem.fake(params, k_fake))

            def loss(dp):
                d = eqx.combine(dp, d_static)
                lr, st = _logits(d, d_state, real)
                lf, st = _logits(d, st, gen)
                acc = 0.5 * (jnp.mean(lr > 0) + jnp.mean(lf < 0))
                return _bce(lr, 1.0) + _bce(lf, 0.0), (st, acc)

            (l_d, (new_d_state, acc)), g = jax.value_and_grad(loss, has_aux=True)(d_params)
            updates, new_dd = opt_d.update(g, dd_state, d_params)
            new_dp = optax.apply_updates(d_params, updates)
            ok = jnp.isfinite(l_d) & _all_finite(new_dp)
            return (_where(ok, new_dp, d_params), _where(ok, new_d_state, d_state),
                    _where(ok, new_dd, dd_state)), (l_d, acc)

        (d_params, d_state, dd_state), (l_d, acc) = jax.lax.scan(
            d_update, (d_params, d_state, dd_state), jax.random.split(k_d, self.d_steps))

        def g_loss(p):
            logits, _ = _logits(eqx.combine(d_params, d_static), d_state, problem.fake(p, k_g))
            return _bce(logits, 1.0)

        l_g, grad = jax.value_and_grad(g_loss)(params)
        updates, new_g = opt_g.update(grad, g_state, params)
        new_params = optax.apply_updates(params, updates)
        ok = _ok(l_g) & _all_finite(new_params) & _all_finite(grad)
        params = _where(ok, new_params, params)
        g_state = _where(ok, new_g, g_state)
        new_state = (g_state, d_params, d_state, dd_state)
        if self.average > 0:
            b = self.average
            mean = jax.tree_util.tree_map(lambda m, p: b * m + (1 - b) * p, state[4], params)
            new_state += (_where(ok, mean, state[4]),)
        return params, new_state, {
            "loss": jnp.where(_ok(l_g), l_g, DIVERGED), "rejected": (~ok).astype(jnp.int32),
            "d_loss": l_d[-1], "d_accuracy": acc[-1]}


STRATEGIES: dict[str, Callable[..., AbstractStrategy]] = {
    "gradient": Gradient, "lbfgs": LBFGS, "lm": LevenbergMarquardt, "evolution": Evolution, "adversarial": Adversarial}
