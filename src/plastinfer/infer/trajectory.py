r"""Trajectory inference: fit a rule by gradients through simulated trajectories.

Mehta et al. (2024), Eq. 4: for each recorded trajectory, simulate the model circuit
with the candidate rule ``g_θ`` on the same stimuli, and minimise

.. math::
    L(θ) = \frac{1}{T\,n}\sum_{t=1}^{T} \lVert o^{(t)} - m^{(t)} \rVert^2 + λ_1 \lVert θ \rVert_1

(mean squared error over time and the ``n`` recorded units, plus an optional L1 penalty
on Taylor coefficients) by backpropagation through time, with gradient clipping and
Adam (or any optax optimizer), over mini-batches of trajectories.

The model's initial weights are unknown in real data. ``init_weights`` chooses what the
fit does about them:

- ``"resample"`` (the paper's protocol): fresh draws from the circuit's initial-weight
  distribution for every mini-batch, independent of the data's;
- ``"latent"``: one initial weight matrix per training trajectory, fitted jointly with
  the rule (each with its own Adam state). Only rows of recorded units are constrained;
- ``"true"``: the data set's ground-truth initial weights (an oracle, for diagnosis).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from .._errors import ConfigError, DatasetError
from ..analysis._metrics import r2_score
from ..circuits import LayerInput, LayerState, PlasticLayer, rollout
from ..data import Dataset
from ..rules import AbstractRule, Taylor, rule_from_spec
from ._result import FitResult

INIT_MODES = ("resample", "latent", "true")
SOLVERS = ("adam", "lbfgs")


@dataclasses.dataclass(frozen=True)
class TrajectoryFitConfig:
    """Static settings of a trajectory fit (defaults: Mehta et al. 2024, A.3).

    ``solver="adam"`` (the paper's): mini-batches of ``batch_size`` trajectories, one
    epoch = one pass. ``solver="lbfgs"``: :func:`optax.lbfgs` with a zoom line search on
    the full-batch loss, one iteration per epoch; it needs a deterministic loss
    (``init_weights`` "latent" or "true") and copes with the ill-conditioned valleys that
    make Adam slow (see ``docs/mehta-fig2.md``).
    """

    epochs: int = 100
    learning_rate: float = 1e-3
    l1: float = 0.0
    clip: float | None = 0.2
    batch_size: int = 1
    init_weights: str = "resample"
    latent_learning_rate: float = 1e-2
    latent_warmup: int = 50
    checkpoint: int | bool | None = True
    solver: str = "adam"
    optimizer: str = "adam"
    seed: int = 0

    def __post_init__(self):
        if self.solver not in SOLVERS:
            raise ConfigError(f"fit: solver must be one of {list(SOLVERS)}, got {self.solver!r}")
        if self.solver == "lbfgs" and self.init_weights == "resample":
            raise ConfigError("fit: solver 'lbfgs' needs a deterministic loss: init_weights 'latent' or 'true'")
        if self.init_weights not in INIT_MODES:
            raise ConfigError(f"fit: init_weights must be one of {list(INIT_MODES)}, got {self.init_weights!r}")
        if self.epochs < 0 or self.batch_size < 1:
            raise ConfigError(f"fit: epochs must be ≥ 0 and batch_size ≥ 1 (got {self.epochs}, {self.batch_size})")
        if self.learning_rate <= 0 or self.l1 < 0 or (self.clip is not None and self.clip < 0):
            raise ConfigError("fit: learning_rate must be positive, l1 and clip non-negative (clip 0: none)")


class _Arrays(NamedTuple):
    x: jax.Array  # (traj, T, [K,] pre)
    obs: jax.Array  # (traj, T, [K,] units)
    w0: jax.Array  # (traj, post, pre) or (0,) when unknown
    r: jax.Array  # (traj, T) or (traj, 0) when absent


def _arrays(data: Dataset) -> _Arrays:
    w0 = data.init_weights if data.init_weights is not None else np.zeros((data.n_trajectories, 0), np.float32)
    r = data.rewards if data.rewards is not None else np.zeros((data.n_trajectories, 0), np.float32)
    return _Arrays(jnp.asarray(data.stimuli), jnp.asarray(data.activity), jnp.asarray(w0), jnp.asarray(r))


def _check_compatible(circuit: PlasticLayer, data: Dataset, what: str) -> None:
    if data.n_in != circuit.n_in:
        raise DatasetError(f"{what}: stimuli have {data.n_in} inputs but the circuit has n_in={circuit.n_in}")
    if data.n_out != circuit.n_out:
        raise DatasetError(f"{what}: data set has n_out={data.n_out} but the circuit has n_out={circuit.n_out}")


def truth_rule(data) -> AbstractRule | None:
    """The ground-truth rule recorded in a simulated data set's header (``data.meta["rule"]``;
    a :class:`Dataset` or a ``ChoiceDataset``), if it has one."""
    spec = data.meta.get("rule")
    if not spec:
        return None
    try:
        return rule_from_spec(spec)
    except (ConfigError, ValueError, TypeError):  # e.g. an MLP truth: no weights in the header
        return None


def _sq_error(circuit, rule, w0, x, r, obs, units, checkpoint):
    inputs = LayerInput(x, r if r.shape[-1] else None)
    _, rec = rollout(circuit, rule, LayerState(w0), inputs, checkpoint=checkpoint)
    return jnp.mean((rec.y[..., units] - obs) ** 2)


def evaluate(
    rule: AbstractRule,
    circuit: PlasticLayer,
    data: Dataset,
    *,
    truth: AbstractRule | None = None,
    key: jax.Array | None = None,
) -> dict[str, float | None]:
    """Held-out metrics of ``rule`` on ``data`` (Mehta et al. 2024, §3.1).

    Model and ground truth start from the data set's initial weights (when it has them;
    otherwise from draws of the circuit's distribution) and see the same stimuli.

    - ``r2_activity``: R² between the recorded activity and the model's activity of the
      same units, per trajectory (samples = time steps, outputs = units), averaged;
    - ``r2_weights``: R² between ground-truth and model weight trajectories ``W(t)``
      (outputs = all synapses), per trajectory, averaged — only with ``truth`` and
      ground-truth initial weights;
    - ``mse_activity``: mean squared error on the recorded units.
    """
    _check_compatible(circuit, data, "evaluate")
    arr = _arrays(data)
    units = jnp.asarray(data.units)
    has_w0 = data.init_weights is not None
    if not has_w0:
        key = jax.random.PRNGKey(0) if key is None else key
        w0 = jax.vmap(circuit.init)(jax.random.split(key, data.n_trajectories)).w
        arr = arr._replace(w0=w0)
    with_weights = truth is not None and has_w0

    out = _evaluate_all(rule, truth if with_weights else None, circuit, arr, units)
    metrics: dict[str, float | None] = {k: float(jnp.mean(v)) for k, v in out.items()}
    metrics.setdefault("r2_weights", None)
    return metrics


@eqx.filter_jit
def _evaluate_all(rule, truth, circuit, a: _Arrays, units):
    def one(args):
        x, obs, w0, r = args
        inputs = LayerInput(x, r if r.shape[-1] else None)
        _, rec = rollout(circuit, rule, LayerState(w0), inputs, record_weights=truth is not None)
        y = rec.y[..., units]
        flat = lambda v: v.reshape(-1, v.shape[-1])  # noqa: E731  (T·K, units)
        out = {"r2_activity": r2_score(flat(obs), flat(y)), "mse_activity": jnp.mean((obs - y) ** 2)}
        if truth is not None:
            _, rec_true = rollout(circuit, truth, LayerState(w0), inputs, record_weights=True)
            out["r2_weights"] = r2_score(rec_true.w, rec.w)
        return out

    return jax.lax.map(one, tuple(a))


def weight_error_over_time(rule, truth, circuit, w0, x, r=None) -> jax.Array:
    """Mean squared difference between truth and model weights at each time step, ``(T,)``."""
    inputs = LayerInput(x, r)
    _, rec_m = rollout(circuit, rule, LayerState(w0), inputs, record_weights=True)
    _, rec_t = rollout(circuit, truth, LayerState(w0), inputs, record_weights=True)
    return jnp.mean((rec_m.w - rec_t.w) ** 2, axis=(-2, -1))


def _rule_vector(rule: AbstractRule) -> np.ndarray:
    if isinstance(rule, Taylor):
        return np.asarray(rule.effective_theta()).ravel()
    return np.asarray(ravel_pytree(eqx.filter(rule, eqx.is_inexact_array))[0])


class _FitState(NamedTuple):
    params: Any  # rule arrays
    opt_state: Any
    latent: jax.Array  # (n_train, post, pre) or (0,)
    latent_opt: Any
    key: jax.Array


def _make_optimizer(cfg: TrajectoryFitConfig) -> optax.GradientTransformation:
    """``apply_if_finite(clip_by_global_norm(clip) → optax.<optimizer>(learning_rate))``."""
    try:
        base = getattr(optax, cfg.optimizer)(cfg.learning_rate)
    except (AttributeError, TypeError) as err:
        raise ConfigError(f"fit: optimizer {cfg.optimizer!r} is not an optax optimizer ({err})") from None
    chain = optax.chain(optax.clip_by_global_norm(cfg.clip), base) if cfg.clip else base
    return optax.apply_if_finite(chain, max_consecutive_errors=1_000_000)


def _batch_loss(p, static, lat_b, k, idx, arr: _Arrays, units, circuit, cfg):
    """Mini-batch loss ``(MSE + λ₁‖θ‖₁, MSE)`` for trajectories ``idx``."""
    rl = eqx.combine(p, static)
    x, obs, r = arr.x[idx], arr.obs[idx], arr.r[idx]
    if cfg.init_weights == "resample":
        w0 = jax.vmap(circuit.init)(jax.random.split(k, idx.shape[0])).w
    elif cfg.init_weights == "latent":
        w0 = lat_b
    else:
        w0 = arr.w0[idx]
    one = lambda w, xx, rr, oo: _sq_error(circuit, rl, w, xx, rr, oo, units, cfg.checkpoint)  # noqa: E731
    if idx.shape[0] == 1:  # the paper's one-trajectory updates: skip vmap (batched dots are slow on CPU)
        mse = one(w0[0], x[0], r[0], obs[0])
    else:
        mse = jnp.mean(jax.vmap(one)(w0, x, r, obs))
    return mse + cfg.l1 * rl.l1(), mse


@eqx.filter_jit
def _adam_epoch(st: _FitState, arr: _Arrays, units, static, circuit, cfg: TrajectoryFitConfig, batch: int):
    """One epoch of mini-batch updates: a single ``lax.scan`` over shuffled batches.

    Module-level and ``filter_jit``-ed on (rule structure, circuit, config, shapes), so
    repeated fits of the same shapes — a grid of noise levels, say — compile once.
    """
    opt = _make_optimizer(cfg)
    latent_opt = optax.adam(cfg.latent_learning_rate)
    n_train = arr.x.shape[0]
    n_batches = n_train // batch
    grad_fn = jax.value_and_grad(_batch_loss, argnums=(0, 2), has_aux=True)

    def train_step(st: _FitState, idx):
        key, k = jax.random.split(st.key)
        lat_b = st.latent[idx] if cfg.init_weights == "latent" else st.latent
        (loss, mse), (g_p, g_lat) = grad_fn(st.params, static, lat_b, k, idx, arr, units, circuit, cfg)
        updates, opt_state = opt.update(g_p, st.opt_state, st.params)
        params = optax.apply_updates(st.params, updates)
        finite = jnp.isfinite(loss)
        latent, latent_state = st.latent, st.latent_opt
        if cfg.init_weights == "latent":
            sub = jax.tree_util.tree_map(lambda s: s[idx], st.latent_opt)
            g_lat = jnp.where(jnp.isfinite(g_lat), g_lat, 0.0)
            upd, sub = jax.vmap(latent_opt.update)(g_lat, sub)
            latent = latent.at[idx].set(jnp.where(finite, lat_b + upd, lat_b))
            latent_state = jax.tree_util.tree_map(lambda s, n: s.at[idx].set(n), st.latent_opt, sub)
        big = jnp.asarray(1e6, jnp.float32)
        loss = jnp.where(finite, loss, big)
        mse = jnp.where(jnp.isfinite(mse), mse, big)
        return _FitState(params, opt_state, latent, latent_state, key), (loss, mse, ~finite)

    key, k = jax.random.split(st.key)
    order = jax.random.permutation(k, n_train)[: n_batches * batch].reshape(n_batches, batch)
    st, (loss, mse, bad) = jax.lax.scan(train_step, st._replace(key=key), order)
    return st, jnp.mean(loss), jnp.mean(mse), jnp.sum(bad)


def _lbfgs_step(loss, p, opt_state):
    """One :func:`optax.lbfgs` iteration (zoom line search) on ``loss`` from ``p``;
    returns ``(p_new, opt_state, loss(p))``."""
    value, grad = optax.value_and_grad_from_state(loss)(p, state=opt_state)
    updates, opt_state = optax.lbfgs().update(grad, opt_state, p, value=value, grad=grad, value_fn=loss)
    return optax.apply_updates(p, updates), opt_state, value


@eqx.filter_jit
def _lbfgs_epoch(st: _FitState, arr: _Arrays, units, static, circuit, cfg: TrajectoryFitConfig):
    """One L-BFGS iteration on the full-batch loss over (rule, latent initial weights)."""
    all_idx = jnp.arange(arr.x.shape[0])

    def full_loss(p):
        return _batch_loss(p[0], static, p[1], None, all_idx, arr, units, circuit, cfg)[0]

    (params, latent), opt_state, value = _lbfgs_step(full_loss, (st.params, st.latent), st.opt_state)
    mse = value - cfg.l1 * eqx.combine(st.params, static).l1()  # the loss less its L1 term, at st.params
    return st._replace(params=params, latent=latent, opt_state=opt_state), value, mse


@eqx.filter_jit
def _latent_warmup_step(latent, opt_state, params, arr: _Arrays, units, static, circuit, cfg):
    """One L-BFGS iteration on the latent initial weights alone, the rule held fixed."""
    all_idx = jnp.arange(arr.x.shape[0])

    def loss(lat):
        return _batch_loss(params, static, lat, None, all_idx, arr, units, circuit, cfg)[1]

    return _lbfgs_step(loss, latent, opt_state)


@eqx.filter_jit
def _weight_error(params, static, truth, circuit, w0, x, r):
    return weight_error_over_time(eqx.combine(params, static), truth, circuit, w0, x, r)


def fit_trajectory(
    rule: AbstractRule,
    circuit: PlasticLayer,
    train: Dataset,
    *,
    config: TrajectoryFitConfig = TrajectoryFitConfig(),
    test: Dataset | None = None,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    resume_state: dict | None = None,
) -> FitResult:
    """Fit ``rule``'s parameters to ``train`` by gradients through whole trajectories.

    ``rule`` is the initial candidate (its family and shape are kept); ``circuit`` the
    model circuit (same sizes as the data's). The optimizer is
    ``clip_by_global_norm(config.clip) → optax.<config.optimizer>(config.learning_rate)``
    (default Adam); non-finite updates (a rule that blows up) are skipped by
    :func:`optax.apply_if_finite`, counted in ``history["diverged"]`` and reported as a
    large finite loss, so parameters never become NaN.

    One epoch is one pass over the training trajectories in shuffled mini-batches of
    ``config.batch_size``; the whole epoch is a single jitted ``lax.scan``, compiled once
    per (rule structure, circuit, config, data shape). After training, metrics on
    ``test`` (held-out trajectories) are computed by :func:`evaluate`.
    """
    _check_compatible(circuit, train, "fit")
    if test is not None:
        _check_compatible(circuit, test, "fit (test set)")
    cfg = config
    if cfg.init_weights == "true" and train.init_weights is None:
        raise DatasetError("fit: init_weights='true' needs a data set with ground-truth 'init_weights'")
    n_train = train.n_trajectories
    batch = min(cfg.batch_size, n_train)
    units = jnp.asarray(train.units)
    arr = _arrays(train)
    truth = truth_rule(train)

    params, static = eqx.partition(rule, eqx.is_inexact_array)
    key = jax.random.PRNGKey(cfg.seed)
    key, k_lat = jax.random.split(key)
    if cfg.init_weights == "latent":
        latent = jax.vmap(circuit.init)(jax.random.split(k_lat, n_train)).w
        latent_state = jax.vmap(optax.adam(cfg.latent_learning_rate).init)(latent) if cfg.solver == "adam" else ()
    else:
        latent = jnp.zeros((0,), jnp.float32)
        latent_state = ()
    if cfg.solver == "adam":
        opt_state = _make_optimizer(cfg).init(params)
    else:
        opt_state = optax.lbfgs().init((params, latent))
    state = _FitState(params, opt_state, latent, latent_state, key)
    start_epoch = 0
    history: dict[str, list] = {"loss": [], "mse": [], "diverged": [], "params": [], "theta": [], "weight_error": []}
    if resume_state is not None:
        state, start_epoch, history = _restore(state, resume_state)

    if cfg.init_weights == "latent" and cfg.latent_warmup > 0 and resume_state is None:
        # stage 1: fit the initial weights with the rule held at its starting value
        lat, lat_state = state.latent, optax.lbfgs().init(state.latent)
        for _ in _progress(range(cfg.latent_warmup), progress, desc="latent w0"):
            new, lat_state, _ = _latent_warmup_step(lat, lat_state, state.params, arr, units, static, circuit, cfg)
            if not bool(jnp.all(jnp.isfinite(new))):
                break
            lat = new
        state = state._replace(latent=lat)
        if cfg.solver == "lbfgs":
            state = state._replace(opt_state=optax.lbfgs().init((state.params, lat)))

    if cfg.solver == "adam":
        def run_epoch(st):
            return _adam_epoch(st, arr, units, static, circuit, cfg, batch)
    else:
        def run_epoch(st):
            new, value, mse = _lbfgs_epoch(st, arr, units, static, circuit, cfg)
            leaves = jax.tree_util.tree_leaves(new.params)
            if not (bool(jnp.isfinite(value)) and all(bool(jnp.all(jnp.isfinite(v))) for v in leaves)):
                return st, jnp.asarray(1e6), jnp.asarray(1e6), jnp.asarray(1)
            return new, value, mse, jnp.asarray(0)

    # weight error over time on one trajectory (Fig. 2B), when the truth is known
    track = truth is not None and train.init_weights is not None
    probe = test if (test is not None and test.init_weights is not None) else train
    if track:
        px, pw0 = jnp.asarray(probe.stimuli[0]), jnp.asarray(probe.init_weights[0])
        pr = None if probe.rewards is None else jnp.asarray(probe.rewards[0])

    def snapshot(p):
        rl = eqx.combine(p, static)
        history["params"].append(_rule_vector(rl))
        if isinstance(rl, Taylor):
            history["theta"].append(np.asarray(rl.effective_theta()).ravel())
        if track:
            history["weight_error"].append(np.asarray(_weight_error(p, static, truth, circuit, pw0, px, pr)))

    if start_epoch == 0:
        snapshot(state.params)
    t0 = time.perf_counter()
    compile_s = 0.0
    bar = _progress(range(start_epoch, cfg.epochs), progress, total=cfg.epochs, initial=start_epoch)
    for epoch in bar:
        t_ep = time.perf_counter()
        state, loss, mse, bad = run_epoch(state)
        loss, mse, bad = float(loss), float(mse), int(bad)
        if epoch == start_epoch:
            compile_s = time.perf_counter() - t_ep  # first epoch: compilation + one epoch
        history["loss"].append(loss)
        history["mse"].append(mse)
        history["diverged"].append(bad)
        snapshot(state.params)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss:.3g}", diverged=int(np.sum(history["diverged"])))
        if callback is not None:
            callback(epoch + 1, {"loss": loss, "mse": mse, "diverged": bad, "state": state})
    elapsed = time.perf_counter() - t0

    n_bad = int(np.sum(history["diverged"])) if history["diverged"] else 0
    if n_bad:
        warnings.warn(
            f"{n_bad} update(s) gave a non-finite loss (the candidate rule diverged); they were skipped "
            "(parameters kept) and recorded as loss 1e6 in history['loss']",
            RuntimeWarning,
            stacklevel=2,
        )
    fitted = eqx.combine(state.params, static)
    n_run = cfg.epochs - start_epoch
    metrics: dict[str, Any] = {
        "final_loss": history["loss"][-1] if history["loss"] else None,
        "epochs": cfg.epochs,
        "train_seconds": elapsed,
        "first_epoch_seconds": compile_s,
        "seconds_per_epoch": (elapsed - compile_s) / (n_run - 1) if n_run > 1 else None,
        "diverged_updates": n_bad,
        "equation": fitted.equation(),
    }
    if test is not None:
        metrics.update({f"test_{k}": v for k, v in evaluate(fitted, circuit, test, truth=truth_rule(test)).items()})
    hist = {k: np.asarray(v, np.float32) for k, v in history.items() if len(v)}
    result = FitResult(
        rule=fitted,
        history=hist,
        metrics=metrics,
        names=fitted.names if isinstance(fitted, Taylor) else None,
        extras={"state": state, "epoch": cfg.epochs},
    )
    if cfg.init_weights == "latent":
        result.extras["latent_init"] = np.asarray(state.latent)
    return result


def _progress(it, enabled: bool, **kw):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    kw.setdefault("desc", "fit")
    kw.setdefault("unit", "epoch")
    return tqdm(it, leave=False, **kw)


# ----------------------------------------------------------------------------- resume
def state_to_arrays(state: _FitState) -> dict[str, np.ndarray]:
    """Flatten a fit state into named arrays (for ``checkpoint.npz``; nothing pickled)."""
    leaves = jax.tree_util.tree_leaves(state)
    return {f"leaf_{i:04d}": np.asarray(v) for i, v in enumerate(leaves)}


def _restore(template: _FitState, saved: dict) -> tuple[_FitState, int, dict]:
    arrays, epoch, history = saved["arrays"], int(saved["epoch"]), saved["history"]
    leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(arrays) != len(leaves):
        raise DatasetError(f"checkpoint holds {len(arrays)} arrays but this fit needs {len(leaves)}: config changed?")
    new = []
    for i, leaf in enumerate(leaves):
        a = arrays[f"leaf_{i:04d}"]
        if np.shape(a) != np.shape(leaf):
            raise DatasetError(f"checkpoint array {i} has shape {np.shape(a)}, expected {np.shape(leaf)}: config changed?")
        new.append(jnp.asarray(a, dtype=jnp.asarray(leaf).dtype))
    hist = {k: [np.asarray(r) for r in v] if np.ndim(v) > 1 else list(np.asarray(v)) for k, v in history.items()}
    for k in ("loss", "mse", "diverged", "params", "theta", "weight_error"):
        hist.setdefault(k, [])
    return jax.tree_util.tree_unflatten(treedef, new), epoch, hist
