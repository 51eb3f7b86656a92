r"""Posterior samples: NUTS (BlackJAX) preconditioned by the Laplace fit, and what is read
from samples (intervals, sign probabilities, R-hat and ESS, WAIC and PSIS-LOO).

**Why BlackJAX (not NumPyro).** The target is any Problem's log-likelihood, already a JAX
function of a flat vector; BlackJAX samples a log-density function directly, with no model
language to translate into, and its window adaptation and NUTS kernel are pure functions that
``jit``/``vmap`` like the rest of plastinfer. ArviZ computes the diagnostics.

**Preconditioning.** On the raw coefficients of a rule the posterior is ill-conditioned
(curvature condition number ~10⁴ on the demo) and NUTS crawls. We sample
:math:`u ∈ \mathbb{R}^k` with :math:`θ = \hatθ + L u`, where :math:`\hatθ` is the mode and
:math:`L = V Λ^{-1/2}` from the eigen-decomposition :math:`VΛV^\top` of the posterior's
curvature (likelihood + prior) at the mode: a Gaussian posterior becomes :math:`N(0, I)`.
Window adaptation then tunes a step size and a diagonal mass matrix in :math:`u`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..errors import ConfigError
from ._laplace import Laplace, _grouped_warnings, laplace_of_target
from ._target import PosteriorTarget, find_mode, hessian, make_target


def _arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


@dataclasses.dataclass
class Posterior:
    """Samples of a posterior over named coefficients.

    - ``names`` ``(k,)``; ``samples`` ``(chains, draws, k)``;
    - ``pointwise``: per-observation log-likelihood of (thinned) draws ``(chains, draws', n)``
      for WAIC / PSIS-LOO (an observation: one time step of one trajectory, units summed; one
      trial of a choice session), or ``None``;
    - ``laplace``: the Laplace approximation at the mode (what the sampler was preconditioned
      with, and the curvature behind :meth:`identifiable_directions`), when computed;
    - ``info``: sampler settings and diagnostics (``divergences`` per chain, ``step_size``,
      ``mean_steps`` per draw, ``seconds``, ``prior``, …).
    """

    names: list[str]
    samples: np.ndarray
    method: str = "nuts"
    pointwise: np.ndarray | None = None
    laplace: Laplace | None = None
    info: dict = dataclasses.field(default_factory=dict)

    # ------------------------------------------------------------------ moments
    @property
    def draws(self) -> np.ndarray:
        """All draws, chains concatenated, ``(chains · draws, k)``."""
        return self.samples.reshape(-1, self.samples.shape[-1])

    @property
    def mean(self) -> np.ndarray:
        return self.draws.mean(0)

    @property
    def sd(self) -> np.ndarray:
        return self.draws.std(0, ddof=1)

    @property
    def covariance(self) -> np.ndarray:
        return np.cov(self.draws, rowvar=False).reshape(len(self.names), len(self.names))

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed credible interval of every coefficient."""
        a = (1 - level) / 2
        return np.quantile(self.draws, a, axis=0), np.quantile(self.draws, 1 - a, axis=0)

    def _index(self, name: str) -> int:
        if name not in self.names:
            raise ConfigError(f"unknown coefficient {name!r}; known: {self.names}")
        return self.names.index(name)

    def sign_probability(self, name: str) -> float:
        """``P(θ_name > 0 | data)``: the fraction of draws above 0."""
        return float(np.mean(self.draws[:, self._index(name)] > 0))

    # ------------------------------------------------------------------ diagnostics
    def _dataset(self):
        return _arviz().convert_to_dataset({"θ": self.samples})

    def r_hat(self) -> np.ndarray:
        """Rank-normalised split R-hat per coefficient (ArviZ; ``nan`` with one chain)."""
        if self.samples.shape[0] < 2:
            return np.full(len(self.names), np.nan)
        return np.asarray(_arviz().rhat(self._dataset())["θ"].values)

    def ess(self, kind: str = "bulk") -> np.ndarray:
        """Effective sample size per coefficient (``"bulk"`` or ``"tail"``; ArviZ)."""
        return np.asarray(_arviz().ess(self._dataset(), method=kind)["θ"].values)

    def summary(self):
        """A table (pandas): mean, sd, 2.5 % and 97.5 % quantiles, ``P(>0)``, R-hat, bulk and
        tail ESS per coefficient."""
        import pandas as pd

        lo, hi = self.interval()
        return pd.DataFrame({"mean": self.mean, "sd": self.sd, "2.5%": lo, "97.5%": hi,
                             "P(>0)": np.mean(self.draws > 0, axis=0), "r_hat": self.r_hat(),
                             "ess_bulk": self.ess("bulk"), "ess_tail": self.ess("tail")}, index=self.names)

    def identifiable_directions(self, terms: int = 3) -> list[dict]:
        """The likelihood curvature's eigen-directions at the mode (see
        :meth:`Laplace.identifiable_directions`)."""
        if self.laplace is None:
            raise ConfigError("this posterior was sampled without a Laplace fit; no curvature to report")
        return self.laplace.identifiable_directions(terms)

    # ------------------------------------------------------------------ model comparison
    def _idata(self):
        if self.pointwise is None:
            raise ConfigError("this posterior kept no per-observation log-likelihood (pointwise=0)")
        az = _arviz()
        c, d = self.pointwise.shape[:2]
        thin = max(self.samples.shape[1] // d, 1)
        post = {"θ": self.samples[:, ::thin][:, :d]}
        return az.from_dict(posterior=post, log_likelihood={"obs": self.pointwise})

    def waic(self) -> dict:
        """WAIC (ArviZ): ``elpd``, its standard error ``se``, effective parameters ``p``."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            w = _arviz().waic(self._idata())
        return {"elpd": float(w.elpd_waic), "se": float(w.se), "p": float(w.p_waic),
                "warning": bool(getattr(w, "warning", False)) or any("posterior variance" in str(c.message)
                                                                    for c in caught)}

    def loo(self) -> dict:
        """PSIS-LOO (ArviZ): ``elpd``, ``se``, ``p`` and ``k_max`` / ``n_bad_k`` (Pareto k̂ > 0.7:
        an observation LOO cannot be trusted for). All ``nan`` (with ``n_nonfinite``) when some
        draw's per-observation log-likelihood is not finite."""
        if self.pointwise is None:
            raise ConfigError("this posterior kept no per-observation log-likelihood (pointwise=0)")
        bad = int(np.sum(~np.isfinite(self.pointwise)))
        if bad:  # a draw whose likelihood overflowed: LOO is undefined, say so rather than return a number
            return {"elpd": float("nan"), "se": float("nan"), "p": float("nan"), "k_max": float("nan"),
                    "n_bad_k": -1, "n_nonfinite": bad, "pointwise": np.full(self.pointwise.shape[-1], np.nan)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo = _arviz().loo(self._idata(), pointwise=True)
        k = np.asarray(lo.pareto_k)
        return {"elpd": float(lo.elpd_loo), "se": float(lo.se), "p": float(lo.p_loo),
                "k_max": float(np.max(k)), "n_bad_k": int(np.sum(k > 0.7)), "pointwise": np.asarray(lo.loo_i)}

    # ------------------------------------------------------------------ report
    def warnings(self) -> list[str]:
        """Every reason to distrust a number in :meth:`summary`."""
        lo, hi = self.interval()
        out = _grouped_warnings([], [n for n, a, b in zip(self.names, lo, hi) if a < 0 < b])
        if self.laplace is not None:
            for d in self.laplace.identifiable_directions():
                if not d["determined"]:
                    out.append(f"undetermined direction (only the prior bounds it): {d['direction']}")
        if self.samples.shape[0] > 1:
            rh = self.r_hat()
            if np.nanmax(rh) > 1.01:
                out.append(f"R-hat up to {np.nanmax(rh):.3f} (> 1.01): chains disagree; run longer")
        ess = self.ess("bulk")
        if np.min(ess) < 100 * self.samples.shape[0]:
            out.append(f"bulk ESS down to {np.min(ess):.0f}: fewer than 100 effective draws per chain")
        depth = int(self.info.get("max_depth_draws", 0))
        if depth:
            out.append(f"{depth} draws hit the tree-depth limit: the sampler moved slowly; run longer or raise "
                       "max_doublings")
        div = int(np.sum(self.info.get("divergences", 0)))
        if div:
            out.append(f"{div} divergent transitions: the sampler missed part of the posterior")
        return out

    def report(self) -> str:
        head = f"{self.method}: {self.samples.shape[0]} chains × {self.samples.shape[1]} draws"
        if "seconds" in self.info:
            head += f" in {self.info['seconds']:.1f} s"
        lines = [head]
        if self.laplace is not None:
            lines.append(self.laplace.report())
        lines += [f"WARNING: {w}" for w in self.warnings()]
        return "\n".join(lines)

    def save(self, path) -> Path:
        """``posterior.npz``: samples, names, pointwise log-likelihood, Laplace curvature and
        info (JSON), no pickles."""
        from .._io import atomic_write

        arrays = {"samples": self.samples, "names": np.asarray(self.names, dtype=str),
                  "method": np.asarray(self.method), "info": np.asarray(json.dumps(_jsonable(self.info)))}
        if self.pointwise is not None:
            arrays["pointwise"] = self.pointwise
        if self.laplace is not None:
            arrays["mode"] = self.laplace.mean
            arrays["hessian"] = self.laplace.hessian
        path = Path(path)
        atomic_write(path, lambda fh: np.savez(fh, **arrays))
        return path


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


# ----------------------------------------------------------------------------- NUTS
#: Most free parameters NUTS preconditions with a dense Hessian (k Hessian-vector products, k² floats).
MAX_DENSE = 2000

def _over_chains(fn):
    """``vmap`` on accelerators; on a CPU one chain after the other (``lax.map``): the work is
    compute-bound there, and a vmapped NUTS waits for the longest trajectory of every chain."""
    if jax.default_backend() != "cpu":
        return jax.vmap(fn)
    return lambda *args: jax.lax.map(lambda a: fn(*a), args)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _run_chains(call, *args):
    """``call(*args)``, every leaf of ``args`` with a leading chain axis. On an accelerator one
    program runs every chain (``vmap``); on a CPU each chain is its own call, run in parallel
    threads, one per core: one chain's gradient keeps one core busy (XLA gains nothing from a
    second on these small problems), two chains keep two — twice the draws per second on the
    2-core machine (benchmarks/uncertainty.py)."""
    n = jax.tree_util.tree_leaves(args)[0].shape[0]
    workers = min(n, _cores())
    if jax.default_backend() != "cpu" or workers <= 1:
        return call(*args)

    def one(c):
        return jax.block_until_ready(call(*jax.tree_util.tree_map(lambda a: a[c:c + 1], args)))

    with ThreadPoolExecutor(workers) as pool:
        outs = list(pool.map(one, range(n)))
    return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *outs)


def _pointwise_fn(target: PosteriorTarget):
    """Per-observation log-likelihood of one draw: the first two axes kept (item, time),
    the rest summed."""
    def one(x):
        ll = target.log_likelihood(x)
        ll = ll.reshape(ll.shape[:2] + (-1,)).sum(-1) if ll.ndim > 2 else ll
        return ll.reshape(-1)

    return one


def _whitened(target: PosteriorTarget, x_mode: Array, chol: Array):
    return lambda u: target.log_density(x_mode + chol @ u)


@eqx.filter_jit
def _nuts_warmup(target, x_mode, chol, keys, u, settings):
    """Window adaptation of every chain; compiled once per problem shape and settings (so one
    subject after another reuses it)."""
    import blackjax

    warmup, dense, max_doublings, target_accept = settings
    adapt = blackjax.window_adaptation(blackjax.nuts, _whitened(target, x_mode, chol), initial_step_size=0.5,
                                       is_mass_matrix_diagonal=not dense, max_num_doublings=max_doublings,
                                       target_acceptance_rate=target_accept)

    def one(k, u_):
        (state, p), _ = adapt.run(k, u_, num_steps=warmup)
        return state, p["step_size"], p["inverse_mass_matrix"]
    return _over_chains(one)(keys, u)


@eqx.filter_jit
def _nuts_chunk(target, x_mode, chol, states, step_size, inv_mass, keys, max_doublings):
    """``keys.shape[1]`` NUTS draws of every chain."""
    import blackjax

    logdensity = _whitened(target, x_mode, chol)

    def one(state, s, m, ks):
        kernel = blackjax.nuts(logdensity, step_size=s, inverse_mass_matrix=m, max_num_doublings=max_doublings)

        def body(st, k):
            st, info = kernel.step(k, st)
            return st, (st.position, info.is_divergent, info.num_integration_steps)
        return jax.lax.scan(body, state, ks)
    return _over_chains(one)(states, step_size, inv_mass, keys)


@eqx.filter_jit
def _pointwise_many(target: PosteriorTarget, xs: Array) -> Array:
    """:func:`_pointwise_fn` of every row of ``xs`` ``(draws, k)``, one after the other."""
    return jax.lax.map(_pointwise_fn(target), xs)


def preconditioner(target: PosteriorTarget, x: Array, lap: Laplace | None = None) -> np.ndarray:
    """``L`` with ``θ = x + L u`` whitening the posterior's curvature at ``x`` (``(k, k)``).
    Eigenvalues are floored at the prior's curvature (or 10⁻⁸ of the largest): a flat direction
    gets the prior's scale, not an infinite one."""
    h = hessian(target, x) if lap is None else lap.hessian
    lam, vec = np.linalg.eigh(h)
    prior = 0.0 if target.prior == "flat" else 1.0 / target.prior_scale**2
    floor = max(prior, 1e-8 * max(float(lam[-1]), 1e-12))
    return vec / np.sqrt(np.maximum(lam, floor))


def nuts(problem, params, *, key: Array | None = None, chains: int = 4, warmup: int = 300, draws: int = 1000,
         prior: str = "gaussian", prior_scale: float | None = 10.0, over: str = "rule", refine: int = 50,
         pointwise: int = 1000, chunk: int = 100, progress: bool = True, dense_mass: bool = False,
         max_doublings: int = 8, target_accept: float = 0.8) -> Posterior:
    """NUTS samples of ``problem``'s posterior near ``params`` (a fit's best parameters).

    Steps: the mode (``refine`` L-BFGS iterations from ``params``, never worse); the Laplace
    curvature there; ``chains`` chains started from that Gaussian (overdispersed: twice its
    sd), each with ``warmup`` steps of window adaptation (step size, diagonal mass matrix) in
    the whitened coordinates, then ``draws`` draws (in jitted chunks of ``chunk``, with a
    progress bar). ``prior`` / ``prior_scale``: the prior on every free coefficient (default
    Gaussian, sd 10: weak for rule coefficients of order 1; a flat prior is improper along
    undetermined directions). ``pointwise``: how many draws (thinned, all chains) keep their
    per-observation log-likelihood for WAIC / LOO (0: none). ``dense_mass``: adapt a dense mass
    matrix on top of the Laplace whitening (default: diagonal — the whitening already holds the
    correlations at the mode, and on the demo a dense adaptation costs 4.6× the warmup time
    for the same R-hat; turn it on for posteriors whose correlations change away from the
    mode, e.g. the curved ridges of choice fits); ``max_doublings``: NUTS tree depth limit (2^depth − 1 leapfrog steps per draw;
    draws that hit it are counted in ``info["max_depth_draws"]``); ``target_accept``: the
    adaptation's acceptance target (raise it to 0.95 when divergences are reported).
    """
    if not 0.5 <= target_accept < 1:
        raise ConfigError(f"nuts: target_accept must be in [0.5, 1), got {target_accept!r}")
    for name, v, lo in (("chains", chains, 1), ("warmup", warmup, 10), ("draws", draws, 10), ("chunk", chunk, 1),
                        ("max_doublings", max_doublings, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ConfigError(f"nuts: {name} must be an integer ≥ {lo}, got {v!r}")

    key = jax.random.PRNGKey(0) if key is None else key
    t0 = time.perf_counter()
    target = make_target(problem, params, over=over, prior=prior, prior_scale=prior_scale)
    if target.k > MAX_DENSE:
        raise ConfigError(f"nuts: {target.k} free parameters; the dense Laplace preconditioner is built for at most "
                          f"{MAX_DENSE} (sample the rule's coefficients with over='rule')")
    x_mode = find_mode(target, refine)
    lap = laplace_of_target(target, x_mode)
    chol = jnp.asarray(preconditioner(target, x_mode, lap), jnp.float32)
    x_mode = jnp.asarray(x_mode, jnp.float32)

    dense = bool(dense_mass)
    settings = (warmup, dense, max_doublings, float(target_accept))
    k_init, k_adapt, k_draw = jax.random.split(key, 3)
    u0 = 2.0 * jax.random.normal(k_init, (chains, target.k))

    def run_warmup(keys, u):
        return _nuts_warmup(target, x_mode, chol, keys, u, settings)

    def run_chunk(states, step_size, inv_mass, keys):
        return _nuts_chunk(target, x_mode, chol, states, step_size, inv_mass, keys, max_doublings)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=draws, desc=f"nuts ({chains} chains, warmup {warmup})", leave=False)
    states, step_size, inv_mass = _run_chains(run_warmup, jax.random.split(k_adapt, chains), u0)
    t_warm = time.perf_counter() - t0
    us, div, nsteps = [], [], []
    done = 0
    for c, k in enumerate(jax.random.split(k_draw, -(-draws // chunk))):
        n = min(chunk, draws - done)
        keys = jax.random.split(k, chains * chunk).reshape(chains, chunk, -1)
        states, (u, d, s) = _run_chains(run_chunk, states, step_size, inv_mass, keys)
        us.append(np.asarray(u)[:, :n]); div.append(np.asarray(d)[:, :n]); nsteps.append(np.asarray(s)[:, :n])
        done += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    u = np.concatenate(us, 1)
    samples = np.asarray(x_mode)[None, None] + np.einsum("ij,cdj->cdi", np.asarray(chol), u)
    point = None
    if pointwise:
        thin = max(1, -(-draws * chains // pointwise))
        sub = jnp.asarray(samples[:, ::thin], jnp.float32)
        point = np.asarray(_run_chains(lambda xs: jnp.stack([_pointwise_many(target, x) for x in xs]), sub))
        keep = np.any(point != 0, axis=(0, 1))  # masked trials: identically 0, not observations
        point = point[..., keep]
    info = {"chains": chains, "warmup": warmup, "draws": draws, "prior": prior, "prior_scale": prior_scale,
            "over": over, "divergences": np.concatenate(div, 1).sum(1).tolist(),
            "step_size": np.asarray(step_size).tolist(), "mean_steps": float(np.concatenate(nsteps, 1).mean()),
            "max_depth_draws": int(np.sum(np.concatenate(nsteps, 1) >= 2**max_doublings - 1)),
            "dense_mass": dense, "max_doublings": max_doublings, "target_accept": target_accept,
            "seconds": time.perf_counter() - t0, "warmup_seconds": t_warm, "n_observations": target.n_obs,
            "preconditioner": "Laplace at the mode (likelihood + prior curvature)"}
    return Posterior(list(target.names), samples, "nuts", point, lap, info)


METHODS = ("laplace", "nuts")


def posterior(fit, params=None, *, method: str = "laplace", **options):
    """How much to believe a fit: ``posterior(result)`` for a :class:`~plastinfer.FitResult` of
    :func:`~plastinfer.fit_trajectory` / :func:`~plastinfer.fit_choices` (which keep their
    problem), or ``posterior(problem, params)``.

    ``method``: ``"laplace"`` (:class:`Laplace`: Gaussian at the mode, exact curvature; seconds)
    or ``"nuts"`` (:class:`Posterior`: samples; minutes). ``options`` go to
    :func:`~plastinfer.uncertainty.laplace` or :func:`nuts`. A per-subject fit gives a list,
    one posterior per subject (each subject's data alone)."""
    from ._laplace import laplace

    if method not in METHODS:
        raise ConfigError(f"posterior: method must be one of {list(METHODS)}, got {method!r}")
    problem = fit
    if hasattr(fit, "extras") and hasattr(fit, "rule"):
        if "problem" not in fit.extras:
            raise ConfigError("posterior: this result does not hold its problem (only fit_trajectory and fit_choices "
                              "results do); pass posterior(problem, params)")
        problem, params = fit.extras["problem"], fit.extras["params"] if params is None else params
    if params is None:
        raise ConfigError("posterior: pass the parameters to take the posterior at")
    one = (lambda p, q: laplace(p, q, **options)) if method == "laplace" else (lambda p, q: nuts(p, q, **options))
    if getattr(problem, "n_groups", 0):
        if not hasattr(problem, "subject"):
            raise ConfigError(f"posterior: {type(problem).__name__} cannot be split into subjects")
        return [one(problem.subject(i), jax.tree_util.tree_map(lambda a: a[i], params))
                for i in range(problem.n_groups)]
    return one(problem, params)
